// @ts-check
/**
 * Viewers who keep jumping to random positions: mostly cold segments, encoded on demand.
 *
 *   k6 run -e ORIGIN_URL=http://127.0.0.1:8080 -e MEDIA_PATH=demo.mp4 -e DURATION=1m -e VUS=4 bench/k6/seek.js
 *
 * Each VU is one viewer: on its first iteration it GETs the master playlist and the audio
 * rendition's playlist. Each iteration is one jump: a random variant (its playlist and init
 * fetched the first time this viewer uses it), a random segment index, then that segment and
 * the next one in order, each together with the audio segments that play alongside it; then
 * a pause of 0.5–2 s.
 *
 * Thresholds are for a cold origin (every jump may trigger encodes): see README.md.
 */
import { sleep } from 'k6';
import { getMedia, loadMaster, loadPlaylists } from './client.js';
import { audioFor, audioIndexesFor, envNumber, pick, readConfig, SYSTEM_TAGS } from './lib.js';

/** @import { Options } from 'k6/options' */
/** @import { Master, MediaPlaylist, Segment, Variant } from './lib.js' */
/** @import { Req } from './client.js' */

const cfg = readConfig(__ENV, { duration: '1m', vus: 4 });

/** @type {Options} */
export const options = {
  scenarios: {
    seek: {
      executor: 'constant-vus',
      vus: cfg.vus,
      duration: cfg.duration,
      gracefulStop: '1m',
    },
  },
  systemTags: SYSTEM_TAGS,
  thresholds: {
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
    // Cold: a jump usually lands on segments nobody has requested yet.
    segment_duration_ms: [`p(95)<${envNumber(__ENV, 'SEGMENT_P95_MS', 8000)}`],
  },
};

// Per-VU state: this viewer's view of the title, loaded once.
/** @type {Master | null} */
let master = null;
/** @type {MediaPlaylist | null} */
let audio = null;
/** @type {Map<string, MediaPlaylist>} media playlists by URL, each with its init already fetched */
const videos = new Map();

/** @returns {boolean} */
function loadTitle() {
  const m = loadMaster(cfg.masterUrl);
  if (!m) return false;
  const rendition = audioFor(m, /** @type {Variant} */ (m.variants[0]));
  if (rendition && rendition.url) {
    const [pl] = loadPlaylists([{ url: rendition.url, media: 'audio' }]);
    if (!pl) return false;
    if (pl.init && !getMedia([{ url: pl.init, kind: 'init', media: 'audio' }]).ok) return false;
    audio = pl;
  }
  master = m;
  return true;
}

/**
 * @param {string} url
 * @returns {MediaPlaylist | null}
 */
function videoPlaylist(url) {
  const known = videos.get(url);
  if (known) return known;
  const [pl] = loadPlaylists([{ url, media: 'video' }]);
  if (!pl) return null;
  if (pl.init && !getMedia([{ url: pl.init, kind: 'init', media: 'video' }]).ok) return null;
  videos.set(url, pl);
  return pl;
}

export default function () {
  if (!master && !loadTitle()) {
    sleep(1);
    return;
  }
  const variant = pick(/** @type {Master} */ (master).variants);
  const video = videoPlaylist(variant.url);
  if (!video) {
    sleep(1);
    return;
  }

  const n = video.segments.length;
  const at = Math.floor(Math.random() * Math.max(1, n - 1)); // `at + 1` exists when n ≥ 2
  let audioDone = -1; // audio segments up to this index were fetched with the previous video segment
  for (let i = at; i <= at + 1 && i < n; i++) {
    const s = /** @type {Segment} */ (video.segments[i]);
    /** @type {Req[]} */
    const reqs = [{ url: s.url, kind: 'segment', media: 'video' }];
    if (audio) {
      for (const j of audioIndexesFor(audio.segments, s.start, s.start + s.duration)) {
        if (j <= audioDone) continue;
        reqs.push({ url: /** @type {Segment} */ (audio.segments[j]).url, kind: 'segment', media: 'audio' });
        audioDone = j;
      }
    }
    getMedia(reqs);
  }
  sleep(0.5 + Math.random() * 1.5);
}
