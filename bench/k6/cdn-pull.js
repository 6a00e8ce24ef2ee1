// @ts-check
/**
 * A CDN filling its cache from a cold origin: every init and media segment of every rendition
 * (video and audio) fetched exactly once, many at a time.
 *
 *   k6 run -e ORIGIN_URL=http://127.0.0.1:8080 -e MEDIA_PATH=demo.mp4 -e DURATION=10m -e VUS=8 bench/k6/cdn-pull.js
 *
 * setup() GETs the master playlist, every media playlist and the DASH MPD once, checks that
 * HLS and DASH reference the same objects, and returns the list of all their URLs (inits
 * first, then segments in timeline order, renditions interleaved). The `per-vu-iterations`
 * executor runs one iteration per VU; VU k fetches the list entries k, k + VUS, k + 2·VUS, …,
 * one request at a time, so each URL is fetched once overall with VUS requests in flight.
 * (A shared-iterations executor cannot be sized to the list: options are fixed before
 * setup() runs.) DURATION caps the pull: entries not started by then are counted in
 * `cdn_pull_skipped`, which fails its threshold.
 *
 * Thresholds are for a cold origin: see README.md.
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import { getMedia, loadMaster, loadMpd, loadPlaylists, log } from './client.js';
import { envNumber, readConfig, SYSTEM_TAGS } from './lib.js';

/** @import { Options } from 'k6/options' */
/** @import { Req } from './client.js' */

const cfg = readConfig(__ENV, { duration: '10m', vus: 8 });

/** List entries not fetched because DURATION ran out. */
const skipped = new Counter('cdn_pull_skipped');

/** @type {Options} */
export const options = {
  scenarios: {
    cdn_pull: {
      executor: 'per-vu-iterations',
      vus: cfg.vus,
      iterations: 1,
      maxDuration: cfg.duration,
      gracefulStop: '2m', // lets the requests in flight at DURATION finish
    },
  },
  setupTimeout: '5m',
  systemTags: SYSTEM_TAGS,
  thresholds: {
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
    // Cold, VUS requests in flight: the origin encodes encoder.workers at a time and queues the rest.
    segment_duration_ms: [`p(95)<${envNumber(__ENV, 'SEGMENT_P95_MS', 15000)}`],
    cdn_pull_skipped: ['count==0'],
  },
};

/**
 * @typedef {object} Pull
 * @property {Req[]} list  every init and segment, each once
 */

/** @returns {Pull} */
export function setup() {
  const master = loadMaster(cfg.masterUrl);
  if (!master) throw new Error(`cannot load ${cfg.masterUrl}`);

  /** @type {{ url: string, media: 'video' | 'audio' }[]} */
  const playlists = master.variants.map((v) => ({ url: v.url, media: /** @type {const} */ ('video') }));
  for (const m of master.media) {
    if (m.type === 'AUDIO' && m.url && !playlists.some((p) => p.url === m.url)) {
      playlists.push({ url: m.url, media: 'audio' });
    }
  }
  const parsed = loadPlaylists(playlists);

  /** @type {Req[]} */
  const inits = [];
  /** @type {{ req: Req, start: number, order: number }[]} */
  const segments = [];
  parsed.forEach((pl, order) => {
    const media = /** @type {{ media: 'video' | 'audio' }} */ (playlists[order]).media;
    if (!pl) throw new Error(`cannot load ${/** @type {{ url: string }} */ (playlists[order]).url}`);
    if (pl.init) inits.push({ url: pl.init, kind: 'init', media });
    for (const s of pl.segments) segments.push({ req: { url: s.url, kind: 'segment', media }, start: s.start, order });
  });
  segments.sort((a, b) => a.start - b.start || a.order - b.order);
  /** @type {Req[]} */
  const list = inits.concat(segments.map((s) => s.req));

  // A CDN in front of both protocols pulls what either references; for this origin the two
  // must be the same CMAF objects.
  const hls = new Set(list.map((r) => r.url));
  const mpd = loadMpd(cfg.mpdUrl);
  if (mpd) {
    /** @type {Set<string>} */
    const dash = new Set();
    for (const rep of mpd.representations) {
      const media = rep.contentType === 'audio' ? 'audio' : 'video';
      if (rep.init) {
        dash.add(rep.init);
        if (!hls.has(rep.init)) list.push({ url: rep.init, kind: 'init', media });
      }
      for (const s of rep.segments) {
        dash.add(s.url);
        if (!hls.has(s.url)) list.push({ url: s.url, kind: 'segment', media });
      }
    }
    check(null, {
      'DASH and HLS reference the same inits and segments': () =>
        dash.size === hls.size && Array.from(hls).every((u) => dash.has(u)),
    });
  }

  const segs = list.filter((r) => r.kind === 'segment').length;
  log.info(
    `cdn-pull: ${list.length} objects (${list.length - segs} inits, ${segs} segments) from ${playlists.length} renditions, ${cfg.vus} at a time`,
  );
  return { list };
}

/** @param {Pull} data */
export default function (data) {
  const deadline = exec.scenario.startTime + cfg.durationMs;
  const vu = exec.vu.idInTest - 1; // 0-based; the only scenario, so VUs are 1..VUS
  skipped.add(0); // so the threshold always has a sample
  for (let k = vu; k < data.list.length; k += cfg.vus) {
    if (Date.now() >= deadline) {
      skipped.add(Math.ceil((data.list.length - k) / cfg.vus));
      return;
    }
    const { responses } = getMedia([/** @type {Req} */ (data.list[k])]);
    const res = responses[0];
    if (res && res.status === 200) {
      check(res, {
        'CDN may cache it forever (immutable)': (r) => /\bimmutable\b/.test(r.headers['Cache-Control'] || ''),
      });
    }
  }
}
