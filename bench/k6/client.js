// @ts-check
/**
 * k6-side helpers shared by the scenarios: tagged requests, status checks, the segment latency
 * Trend, and playlist/MPD loading. (The pure parsing lives in lib.js, which also runs in Node.)
 *
 * Every request carries the tags `kind` (manifest | playlist | init | segment), `media`
 * (video | audio, for playlist/init/segment) and a low-cardinality `name`, so thresholds and
 * summaries can target e.g. `http_req_duration{kind:segment}` or `segment_duration_ms{media:audio}`.
 */
import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
import { parseMaster, parseMediaPlaylist, parseMpd, urlName } from './lib.js';

/** @import { Master, MediaPlaylist, Mpd } from './lib.js' */
/** @import { RefinedResponse, RefinedParams } from 'k6/http' */

/** @typedef {'manifest' | 'playlist' | 'init' | 'segment'} Kind */
/** @typedef {'video' | 'audio'} Media */

/**
 * @typedef {object} Req
 * @property {string} url
 * @property {Kind} kind
 * @property {Media} [media]
 */

/**
 * @typedef {object} MediaResult
 * @property {boolean} ok        every response was a 200
 * @property {number} ms         wall time of the whole (parallel) fetch, in milliseconds
 * @property {RefinedResponse<'none'>[]} responses
 */

/** @typedef {{ info(...data: unknown[]): void, warn(...data: unknown[]): void, error(...data: unknown[]): void }} Logger */

/**
 * k6's `console` (printed with the VU's context). @types/k6 does not declare it and the lib has
 * no DOM; typed here rather than in a global .d.ts, which the project's root tsconfig (it
 * includes bench/) would also pick up.
 */
export const log = /** @type {{ console: Logger }} */ (/** @type {unknown} */ (globalThis)).console;

/** Latency of every media segment request (ms; not inits, not playlists), tagged with `media`. */
export const segmentDuration = new Trend('segment_duration_ms', true);

/** Cold segments are encoded on demand; leave plenty of room before k6 gives up on a request. */
const TIMEOUT = '120s';

/**
 * @param {Req} req
 * @returns {{ [name: string]: string }}
 */
function tagsOf(req) {
  /** @type {{ [name: string]: string }} */
  const tags = { kind: req.kind, name: urlName(req.url) };
  if (req.media) tags.media = req.media;
  return tags;
}

/**
 * @param {RefinedResponse<'none'> | RefinedResponse<'text'>} res
 * @param {Req} req
 * @returns {boolean}
 */
function checkStatus(res, req) {
  /** @type {{ [name: string]: (r: typeof res) => boolean }} */
  const sets = {};
  sets[`${req.kind} status is 200`] = (r) => r.status === 200;
  return check(res, sets, tagsOf(req));
}

/**
 * GETs playlists or manifests (as text) in parallel.
 * @param {Req[]} reqs
 * @returns {(string | null)[]}  each body, or null when the status was not 200
 */
export function getTexts(reqs) {
  /** @type {RefinedParams<'text'>[]} */
  const params = reqs.map((r) => ({ tags: tagsOf(r), responseType: 'text', timeout: TIMEOUT }));
  /** @type {RefinedResponse<'text'>[]} */
  const responses =
    reqs.length === 1
      ? [http.get(/** @type {Req} */ (reqs[0]).url, params[0])]
      : http.batch(reqs.map((r, i) => ({ method: 'GET', url: r.url, params: params[i] })));
  return responses.map((res, i) => (checkStatus(res, /** @type {Req} */ (reqs[i])) ? res.body : null));
}

/**
 * GETs init/media segments in parallel, bodies discarded (k6 still reads them off the wire, so
 * the timings include the transfer). Media segment latencies also go to `segment_duration_ms`.
 * @param {Req[]} reqs
 * @returns {MediaResult}
 */
export function getMedia(reqs) {
  /** @type {RefinedParams<'none'>[]} */
  const params = reqs.map((r) => ({ tags: tagsOf(r), responseType: 'none', timeout: TIMEOUT }));
  const t0 = Date.now();
  /** @type {RefinedResponse<'none'>[]} */
  const responses =
    reqs.length === 1
      ? [http.get(/** @type {Req} */ (reqs[0]).url, params[0])]
      : http.batch(reqs.map((r, i) => ({ method: 'GET', url: r.url, params: params[i] })));
  const ms = Date.now() - t0;
  let ok = true;
  responses.forEach((res, i) => {
    const req = /** @type {Req} */ (reqs[i]);
    if (!checkStatus(res, req)) ok = false;
    if (req.kind === 'segment') segmentDuration.add(res.timings.duration, tagsOf(req));
  });
  return { ok, ms, responses };
}

/**
 * Runs a parser and records whether it succeeded as a check (a parse failure fails the
 * `checks` threshold like a bad status does).
 * @template T
 * @param {string} what
 * @param {() => T} parse
 * @returns {T | null}
 */
function parsed(what, parse) {
  /** @type {T | null} */
  let value = null;
  /** @type {string} */
  let error = '';
  try {
    value = parse();
  } catch (e) {
    error = String(e);
  }
  /** @type {{ [name: string]: (v: T | null) => boolean }} */
  const sets = {};
  sets[`${what} parses`] = (v) => v !== null;
  check(value, sets);
  if (error !== '') log.error(`${what}: ${error}`);
  return value;
}

/**
 * GET and parse the multivariant playlist; null (after failed checks) when unusable.
 * @param {string} url
 * @returns {Master | null}
 */
export function loadMaster(url) {
  const body = getTexts([{ url, kind: 'manifest' }])[0];
  if (body === null || body === undefined) return null;
  return parsed('master playlist', () => {
    const m = parseMaster(body, url);
    if (m.variants.length === 0) throw new Error('no variants');
    return m;
  });
}

/**
 * GET and parse media playlists in parallel; null entries for the unusable ones.
 * @param {{ url: string, media: Media }[]} list
 * @returns {(MediaPlaylist | null)[]}
 */
export function loadPlaylists(list) {
  const bodies = getTexts(list.map((p) => ({ url: p.url, kind: 'playlist', media: p.media })));
  return bodies.map((body, i) => {
    if (body === null || body === undefined) return null;
    const url = /** @type {{ url: string }} */ (list[i]).url;
    return parsed('media playlist', () => {
      const pl = parseMediaPlaylist(body, url);
      if (pl.segments.length === 0) throw new Error(`no segments in ${url}`);
      return pl;
    });
  });
}

/**
 * GET and parse the DASH MPD; null when unusable.
 * @param {string} url
 * @returns {Mpd | null}
 */
export function loadMpd(url) {
  const body = getTexts([{ url, kind: 'manifest' }])[0];
  if (body === null || body === undefined) return null;
  return parsed('MPD', () => parseMpd(body, url));
}
