// @ts-check
/**
 * Virtual viewers watching one title from the start at real-time pace.
 *
 *   k6 run -e ORIGIN_URL=http://127.0.0.1:8080 -e MEDIA_PATH=demo.mp4 -e DURATION=30s -e VUS=20 bench/k6/playback.js
 *
 * Each iteration is one viewing session: GET /vod/{MEDIA_PATH}/master.m3u8, pick a variant at
 * random, GET its media playlist and the audio rendition's (in parallel), GET both init segments
 * (EXT-X-MAP), then each video segment together with the audio segments that play alongside
 * it, sleeping the segment's EXTINF minus the time the fetch took. 30 % of sessions switch to
 * another variant halfway: they fetch its playlist and init and continue at the same position.
 * A session ends at the end of the title or when DURATION is up, whichever comes first.
 *
 * Thresholds assume a warm origin (segments already encoded): see README.md.
 */
import { sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import { getMedia, loadMaster, loadPlaylists } from './client.js';
import { audioFor, audioUntil, envNumber, indexAtTime, pick, readConfig, SYSTEM_TAGS } from './lib.js';

/** @import { Options } from 'k6/options' */
/** @import { MediaPlaylist, Variant } from './lib.js' */
/** @import { Req } from './client.js' */

const cfg = readConfig(__ENV, { duration: '1m', vus: 20 });

/** Share of sessions that switch rendition halfway. */
const SWITCH_SHARE = 0.3;

/** A media segment took longer to arrive than it plays for: a real player's buffer drains. */
const stalls = new Rate('playback_stalls');
/** From the master playlist request to the first video+audio segment received. */
const startup = new Trend('playback_startup_ms', true);
const switches = new Counter('rendition_switches');

/** @type {Options} */
export const options = {
  scenarios: {
    playback: {
      executor: 'constant-vus',
      vus: cfg.vus,
      duration: cfg.duration,
      gracefulStop: '30s',
    },
  },
  systemTags: SYSTEM_TAGS,
  thresholds: {
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
    // Warm: segments come from the origin's memory/disk cache.
    segment_duration_ms: [`p(95)<${envNumber(__ENV, 'SEGMENT_P95_MS', 500)}`],
    'http_req_duration{kind:manifest}': ['p(95)<500'],
    'http_req_duration{kind:playlist}': ['p(95)<500'],
    playback_stalls: ['rate<0.01'],
  },
};

/**
 * @param {MediaPlaylist} pl
 * @param {number} i
 */
function seg(pl, i) {
  const s = pl.segments[i];
  if (!s) throw new Error(`segment index ${i} out of range`);
  return s;
}

export default function () {
  const deadline = exec.scenario.startTime + cfg.durationMs;
  // Viewers do not all press play in the same second.
  if (exec.vu.iterationInScenario === 0) sleep(Math.random() * 2);

  const t0 = Date.now();
  const master = loadMaster(cfg.masterUrl);
  if (!master) {
    sleep(1); // back off before the next session
    return;
  }

  /** @type {Variant} */
  let variant = pick(master.variants);
  const audioRendition = audioFor(master, variant);
  const audioUrl = audioRendition ? audioRendition.url : null;

  /** @type {{ url: string, media: 'video' | 'audio' }[]} */
  const wanted = [{ url: variant.url, media: 'video' }];
  if (audioUrl) wanted.push({ url: audioUrl, media: 'audio' });
  const [videoPl, audioPl] = loadPlaylists(wanted);
  if (!videoPl || (audioUrl && !audioPl)) {
    sleep(1); // back off before the next session
    return;
  }
  /** @type {MediaPlaylist} */
  let video = videoPl;
  const audio = audioPl || null;

  /** @type {Req[]} */
  const inits = [];
  if (video.init) inits.push({ url: video.init, kind: 'init', media: 'video' });
  if (audio && audio.init) inits.push({ url: audio.init, kind: 'init', media: 'audio' });
  if (inits.length > 0 && !getMedia(inits).ok) {
    sleep(1); // back off before the next session
    return;
  }

  const switchAt =
    master.variants.length > 1 && Math.random() < SWITCH_SHARE ? Math.floor(video.segments.length / 2) : -1;
  let nextAudio = 0;
  let first = true;

  for (let i = 0; i < video.segments.length; i++) {
    if (Date.now() >= deadline) return;

    if (i === switchAt) {
      // Switch to another variant at the same position; if its playlist or init fails (already
      // counted by the checks), keep playing the current one, as a player would.
      const position = seg(video, i).start;
      const current = variant;
      const other = pick(master.variants.filter((v) => v !== current));
      const [pl] = loadPlaylists([{ url: other.url, media: 'video' }]);
      if (pl && (!pl.init || getMedia([{ url: pl.init, kind: 'init', media: 'video' }]).ok)) {
        switches.add(1);
        variant = other;
        video = pl;
        i = indexAtTime(video.segments, position);
      }
    }

    const s = seg(video, i);
    /** @type {Req[]} */
    const reqs = [{ url: s.url, kind: 'segment', media: 'video' }];
    if (audio) {
      const until = audioUntil(audio.segments, nextAudio, s.start + s.duration, i === video.segments.length - 1);
      for (; nextAudio < until; nextAudio++) {
        reqs.push({ url: seg(audio, nextAudio).url, kind: 'segment', media: 'audio' });
      }
    }

    const { ms } = getMedia(reqs);
    if (first) startup.add(Date.now() - t0);
    else stalls.add(ms > s.duration * 1000);
    first = false;

    const wait = Math.min(s.duration - ms / 1000, (deadline - Date.now()) / 1000);
    if (wait > 0) sleep(wait);
  }
}

