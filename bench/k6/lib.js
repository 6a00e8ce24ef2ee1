// @ts-check
/**
 * Pure helpers shared by the k6 scenarios: configuration from `-e` variables, URL building and
 * resolution, and tiny regex parsers for HLS playlists and DASH MPDs.
 *
 * Nothing here imports a k6 module or uses a runtime global, so the same file runs under k6
 * and under Node (`node bench/k6/selfcheck.mjs` checks the parsers against a live origin).
 * k6 has no `URL`, no DOM and no npm modules: everything is done with strings and regexes.
 */

/**
 * @typedef {object} Config
 * @property {string} origin      ORIGIN_URL without a trailing slash, e.g. http://127.0.0.1:8080
 * @property {string} mediaPath   MEDIA_PATH as given, e.g. clips/movie.mp4
 * @property {string} duration    DURATION as given (k6 duration string), e.g. 30s
 * @property {number} durationMs  DURATION in milliseconds
 * @property {number} vus         VUS
 * @property {string} masterUrl   {origin}/vod/{encoded media path}/master.m3u8
 * @property {string} mpdUrl      {origin}/vod/{encoded media path}/manifest.mpd
 */

/**
 * @typedef {object} Variant       one EXT-X-STREAM-INF of a multivariant playlist
 * @property {string} url          absolute URL of its media playlist
 * @property {number} bandwidth
 * @property {string} resolution   e.g. 1280x720, '' when absent
 * @property {string} codecs
 * @property {string} audioGroup   AUDIO group id, '' when absent
 */

/**
 * @typedef {object} Rendition     one EXT-X-MEDIA of a multivariant playlist
 * @property {string} type         AUDIO, SUBTITLES, …
 * @property {string} groupId
 * @property {string} name
 * @property {boolean} isDefault
 * @property {string|null} url     absolute URL of its media playlist (null: muxed into the variant)
 */

/**
 * @typedef {object} Master
 * @property {Variant[]} variants
 * @property {Rendition[]} media
 */

/**
 * @typedef {object} Segment
 * @property {string} url          absolute URL
 * @property {number} duration     seconds (EXTINF, or d/timescale in DASH)
 * @property {number} start        seconds from the start of the playlist
 */

/**
 * @typedef {object} MediaPlaylist
 * @property {string|null} init    absolute URL of the EXT-X-MAP init segment
 * @property {Segment[]} segments
 * @property {number} targetDuration
 * @property {boolean} ended       has EXT-X-ENDLIST
 */

/**
 * @typedef {object} DashRepresentation
 * @property {string} id
 * @property {string} contentType  video / audio (from the AdaptationSet, or its mimeType)
 * @property {number} bandwidth
 * @property {string|null} init    absolute URL of the initialization segment
 * @property {Segment[]} segments
 */

/**
 * @typedef {object} Mpd
 * @property {number} duration     mediaPresentationDuration in seconds (NaN when absent)
 * @property {DashRepresentation[]} representations
 */

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/**
 * A k6 duration ("30s", "1m30s", "2h", "500ms", "1.5m") or a bare number of seconds, in
 * milliseconds. Throws on anything else.
 * @param {string} text
 * @returns {number}
 */
export function parseDuration(text) {
  const s = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) {
    throw new Error(`invalid duration "${text}" (expected e.g. 30s, 5m, 1m30s, 500ms)`);
  }
  /** @type {Record<string, number>} */
  const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 };
  let ms = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  /** @type {RegExpExecArray | null} */
  let m;
  // No `??` or `?.` in these scripts: k6 releases before v0.52 (Babel) reject them (see syntax.mjs).
  while ((m = re.exec(s)) !== null) {
    const factor = unit[/** @type {string} */ (m[2])];
    ms += Number(m[1]) * (factor === undefined ? 0 : factor);
  }
  return ms;
}

/**
 * Percent-encodes each segment of a path under the media root; empty segments (leading,
 * trailing or doubled slashes) are dropped. `clips/my movie.mp4` → `clips/my%20movie.mp4`.
 * @param {string} path
 * @returns {string}
 */
export function encodeMediaPath(path) {
  return path
    .split('/')
    .filter((p) => p !== '')
    .map((p) => encodeURIComponent(p))
    .join('/');
}

/**
 * @param {string} origin     e.g. http://127.0.0.1:8080 (a trailing slash is fine)
 * @param {string} mediaPath  path under the media root, not encoded
 * @param {'master.m3u8' | 'manifest.mpd'} entry
 * @returns {string}
 */
export function vodUrl(origin, mediaPath, entry) {
  return `${origin.replace(/\/+$/, '')}/vod/${encodeMediaPath(mediaPath)}/${entry}`;
}

/**
 * The scenario's target from `-e` variables (`__ENV` in k6, `process.env` in Node).
 * @param {{ [name: string]: string | undefined }} env
 * @param {{ duration: string, vus: number }} defaults  per-scenario DURATION and VUS defaults
 * @returns {Config}
 */
export function readConfig(env, defaults) {
  const origin = (env.ORIGIN_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/?#]+$/.test(origin)) {
    throw new Error(`ORIGIN_URL must be scheme://host[:port] with no path, got "${origin}"`);
  }
  const mediaPath = env.MEDIA_PATH || 'demo.mp4';
  if (encodeMediaPath(mediaPath) === '') throw new Error('MEDIA_PATH is empty');
  const duration = env.DURATION || defaults.duration;
  const durationMs = parseDuration(duration);
  const vus = env.VUS ? Number(env.VUS) : defaults.vus;
  if (!Number.isInteger(vus) || vus < 1) throw new Error(`VUS must be a positive integer, got "${env.VUS}"`);
  return {
    origin,
    mediaPath,
    duration,
    durationMs,
    vus,
    masterUrl: vodUrl(origin, mediaPath, 'master.m3u8'),
    mpdUrl: vodUrl(origin, mediaPath, 'manifest.mpd'),
  };
}

/**
 * An optional positive number from the environment (threshold overrides), else the default.
 * @param {{ [name: string]: string | undefined }} env
 * @param {string} name
 * @param {number} fallback
 * @returns {number}
 */
export function envNumber(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------

/**
 * Removes `.` and `..` segments from an absolute path (RFC 3986 §5.2.4, simplified).
 * @param {string} path  starts with '/'
 * @returns {string}
 */
function removeDotSegments(path) {
  /** @type {string[]} */
  const out = [];
  const parts = path.split('/');
  for (let i = 0; i < parts.length; i++) {
    const p = /** @type {string} */ (parts[i]);
    const last = i === parts.length - 1;
    if (p === '.') {
      if (last) out.push('');
    } else if (p === '..') {
      if (out.length > 1) out.pop();
      if (last) out.push('');
    } else {
      out.push(p);
    }
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : `/${joined}`;
}

/**
 * Resolves a URI from a playlist or MPD against the URL of the document that contains it:
 * absolute (`https://…`), scheme-relative (`//host/…`), root-relative (`/api/…`, as in the
 * origin's multivariant playlist) or relative (`segment_1.m4s`, as in its media playlists).
 * @param {string} base  absolute http(s) URL
 * @param {string} ref
 * @returns {string}
 */
export function resolveUrl(base, ref) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) return ref;
  const m = /^([a-z][a-z0-9+.-]*:)\/\/([^/?#]*)([^?#]*)/i.exec(base);
  if (!m) throw new Error(`not an absolute URL: ${base}`);
  const scheme = /** @type {string} */ (m[1]);
  const origin = `${scheme}//${m[2]}`;
  if (ref.startsWith('//')) return scheme + ref;
  const split = /^([^?#]*)(.*)$/.exec(ref);
  const refPath = split ? /** @type {string} */ (split[1]) : ref;
  const refRest = split ? /** @type {string} */ (split[2]) : '';
  if (refPath === '') return origin + (m[3] || '/') + refRest; // "?query" or "#frag" only
  if (refPath.startsWith('/')) return origin + removeDotSegments(refPath) + refRest;
  const basePath = m[3] || '/';
  const dir = basePath.slice(0, basePath.lastIndexOf('/') + 1);
  return origin + removeDotSegments(dir + refPath) + refRest;
}

/**
 * A low-cardinality request name for k6's `name` tag, so that thousands of segment URLs are
 * reported as a few series: the 64-hex content hash becomes `{hash}` and the number in the
 * file name becomes `{n}`. `…/content/9757…/video/720p-31f3/segment_12.m4s` →
 * `…/content/{hash}/video/720p-31f3/segment_{n}.m4s`.
 * @param {string} url
 * @returns {string}
 */
export function urlName(url) {
  return url
    .replace(/\?.*$/, '')
    .replace(/\/[0-9a-f]{64}(?=\/)/gi, '/{hash}')
    .replace(/\d+(?=\.[a-z0-9]+$)/i, '{n}');
}

// ---------------------------------------------------------------------------------------------
// HLS
// ---------------------------------------------------------------------------------------------

/**
 * An HLS attribute list (`BANDWIDTH=1,CODECS="a,b",URI="x"`) as a map, quotes removed.
 * @param {string} text
 * @returns {Record<string, string>}
 */
export function parseAttributes(text) {
  /** @type {Record<string, string>} */
  const attrs = {};
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;
  /** @type {RegExpExecArray | null} */
  let m;
  while ((m = re.exec(text)) !== null) {
    const v = /** @type {string} */ (m[2]);
    attrs[/** @type {string} */ (m[1])] = v.startsWith('"') ? v.slice(1, -1) : v;
  }
  return attrs;
}

/**
 * @param {string} text
 * @returns {string[]}  trimmed, non-empty lines
 */
function lines(text) {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/**
 * Parses a multivariant (master) playlist. URIs are resolved against `url`.
 * @param {string} text
 * @param {string} url  where the playlist was fetched from
 * @returns {Master}
 */
export function parseMaster(text, url) {
  const ls = lines(text);
  if (ls[0] !== '#EXTM3U') throw new Error('not an HLS playlist (no #EXTM3U)');
  /** @type {Variant[]} */
  const variants = [];
  /** @type {Rendition[]} */
  const media = [];
  for (let i = 0; i < ls.length; i++) {
    const l = /** @type {string} */ (ls[i]);
    if (l.startsWith('#EXT-X-STREAM-INF:')) {
      const a = parseAttributes(l.slice('#EXT-X-STREAM-INF:'.length));
      let j = i + 1;
      while (j < ls.length && /** @type {string} */ (ls[j]).startsWith('#')) j++;
      const uri = ls[j];
      if (uri === undefined) throw new Error(`EXT-X-STREAM-INF without a URI: ${l}`);
      variants.push({
        url: resolveUrl(url, uri),
        bandwidth: Number(a.BANDWIDTH || 0),
        resolution: a.RESOLUTION || '',
        codecs: a.CODECS || '',
        audioGroup: a.AUDIO || '',
      });
      i = j;
    } else if (l.startsWith('#EXT-X-MEDIA:')) {
      const a = parseAttributes(l.slice('#EXT-X-MEDIA:'.length));
      media.push({
        type: a.TYPE || '',
        groupId: a['GROUP-ID'] || '',
        name: a.NAME || '',
        isDefault: a.DEFAULT === 'YES',
        url: a.URI ? resolveUrl(url, a.URI) : null,
      });
    }
  }
  return { variants, media };
}

/**
 * The audio rendition a player would pick for a variant: the DEFAULT=YES rendition of the
 * variant's AUDIO group, else the group's first; null when the variant has no separate audio.
 * @param {Master} master
 * @param {Variant} variant
 * @returns {Rendition | null}
 */
export function audioFor(master, variant) {
  if (variant.audioGroup === '') return null;
  const group = master.media.filter(
    (m) => m.type === 'AUDIO' && m.groupId === variant.audioGroup && m.url !== null,
  );
  return group.find((m) => m.isDefault) || group[0] || null;
}

/**
 * Parses a media playlist. URIs (segments, EXT-X-MAP) are resolved against `url`.
 * @param {string} text
 * @param {string} url  where the playlist was fetched from
 * @returns {MediaPlaylist}
 */
export function parseMediaPlaylist(text, url) {
  const ls = lines(text);
  if (ls[0] !== '#EXTM3U') throw new Error('not an HLS playlist (no #EXTM3U)');
  /** @type {string | null} */
  let init = null;
  /** @type {Segment[]} */
  const segments = [];
  let targetDuration = 0;
  let ended = false;
  let start = 0;
  /** @type {number | null} */
  let extinf = null;
  for (const l of ls) {
    if (l.startsWith('#EXT-X-MAP:')) {
      const uri = parseAttributes(l.slice('#EXT-X-MAP:'.length)).URI;
      if (uri !== undefined && init === null) init = resolveUrl(url, uri);
    } else if (l.startsWith('#EXTINF:')) {
      extinf = Number(l.slice('#EXTINF:'.length).split(',')[0]);
      if (!Number.isFinite(extinf)) throw new Error(`bad EXTINF: ${l}`);
    } else if (l.startsWith('#EXT-X-TARGETDURATION:')) {
      targetDuration = Number(l.slice('#EXT-X-TARGETDURATION:'.length));
    } else if (l === '#EXT-X-ENDLIST') {
      ended = true;
    } else if (!l.startsWith('#')) {
      if (extinf === null) throw new Error(`segment URI without EXTINF: ${l}`);
      segments.push({ url: resolveUrl(url, l), duration: extinf, start });
      start += extinf;
      extinf = null;
    }
  }
  return { init, segments, targetDuration, ended };
}

/**
 * Index of the segment that contains time `t` (seconds), clamped to the playlist; used to
 * continue "from the same position" after a rendition switch and to line audio up with video.
 * @param {Segment[]} segments
 * @param {number} t
 * @returns {number}
 */
export function indexAtTime(segments, t) {
  for (let i = 0; i < segments.length; i++) {
    const s = /** @type {Segment} */ (segments[i]);
    if (t < s.start + s.duration - 1e-6) return i;
  }
  return Math.max(0, segments.length - 1);
}

/**
 * Index of the first segment that starts at or after time `t` (seconds; 1 ms tolerance),
 * searching from `from`; `segments.length` when none does. Audio segments to fetch with a
 * video segment that ends at `t` are the ones before this index.
 * @param {Segment[]} segments
 * @param {number} t
 * @param {number} [from]
 * @returns {number}
 */
export function firstStartingAt(segments, t, from = 0) {
  for (let i = Math.max(0, from); i < segments.length; i++) {
    if (/** @type {Segment} */ (segments[i]).start >= t - 0.001) return i;
  }
  return segments.length;
}

/**
 * Sequential playback: given that audio segments before `next` were already fetched, the
 * exclusive end index of the audio segments to fetch with the video segment ending at `end`:
 * those that start before `end` (all the rest with the last video segment; at least the
 * first one with the first video segment, so playback can start).
 * @param {Segment[]} audio
 * @param {number} next
 * @param {number} end
 * @param {boolean} lastVideo
 * @returns {number}
 */
export function audioUntil(audio, next, end, lastVideo) {
  if (lastVideo) return audio.length;
  const until = firstStartingAt(audio, end, next);
  return Math.min(audio.length, Math.max(until, next, 1));
}

/**
 * Indexes of the audio segments that play alongside the video span [start, end): the one
 * playing at `start`, through the last one that starts before `end` (at least one).
 * @param {Segment[]} audio
 * @param {number} start
 * @param {number} end
 * @returns {number[]}
 */
export function audioIndexesFor(audio, start, end) {
  if (audio.length === 0) return [];
  const from = indexAtTime(audio, start);
  const to = Math.max(from + 1, firstStartingAt(audio, end, from));
  /** @type {number[]} */
  const out = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// DASH
// ---------------------------------------------------------------------------------------------

/**
 * XML attributes of one start tag, entities decoded.
 * @param {string} text  the part of a start tag after its name
 * @returns {Record<string, string>}
 */
export function parseXmlAttributes(text) {
  /** @type {Record<string, string>} */
  const attrs = {};
  const re = /([\w:.-]+)\s*=\s*("([^"]*)"|'([^']*)')/g;
  /** @type {RegExpExecArray | null} */
  let m;
  while ((m = re.exec(text)) !== null) {
    const v = m[3] !== undefined ? m[3] : m[4] || '';
    attrs[/** @type {string} */ (m[1])] = v
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
  }
  return attrs;
}

/**
 * An ISO 8601 duration as used by MPDs (`PT30.030S`, `PT1H2M3S`, `P1DT2H`) in seconds.
 * @param {string} text
 * @returns {number}  NaN when it does not parse
 */
export function parseIsoDuration(text) {
  const m = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
    text.trim(),
  );
  if (!m) return NaN;
  return Number(m[1] || 0) * 86400 + Number(m[2] || 0) * 3600 + Number(m[3] || 0) * 60 + Number(m[4] || 0);
}

/**
 * Fills a SegmentTemplate (`$RepresentationID$`, `$Number$`, `$Number%05d$`, `$Time$`,
 * `$Bandwidth$`, `$$`).
 * @param {string} template
 * @param {{ id: string, number: number, time: number, bandwidth: number }} v
 * @returns {string}
 */
export function fillTemplate(template, v) {
  return template.replace(/\$(RepresentationID|Number|Time|Bandwidth|)(?:%0(\d+)d)?\$/g, (_all, name, width) => {
    /** @type {string} */
    let s;
    if (name === '') return '$';
    if (name === 'RepresentationID') return v.id;
    if (name === 'Number') s = String(v.number);
    else if (name === 'Time') s = String(v.time);
    else s = String(v.bandwidth);
    const w = width ? Number(width) : 0;
    while (s.length < w) s = `0${s}`;
    return s;
  });
}

/**
 * Parses a static, single-period MPD that addresses segments with a SegmentTemplate (with a
 * SegmentTimeline, or a fixed `duration`) on the AdaptationSet or the Representation, as the
 * origin writes them. BaseURLs at MPD, Period and AdaptationSet level are applied. Not a
 * general DASH parser: no SegmentList/SegmentBase, no multi-period, no negative `r`.
 * @param {string} text
 * @param {string} url  where the MPD was fetched from
 * @returns {Mpd}
 */
export function parseMpd(text, url) {
  const mpdTag = /<MPD\b([^>]*)>/.exec(text);
  if (!mpdTag) throw new Error('not an MPD (no <MPD>)');
  const mpdAttrs = parseXmlAttributes(/** @type {string} */ (mpdTag[1]));
  const duration = mpdAttrs.mediaPresentationDuration
    ? parseIsoDuration(mpdAttrs.mediaPresentationDuration)
    : NaN;

  // BaseURL of the MPD / Period: those outside any AdaptationSet, in document order.
  let base = url;
  const outside = text.replace(/<AdaptationSet\b[\s\S]*?<\/AdaptationSet>/g, '');
  const baseRe = /<BaseURL>([^<]*)<\/BaseURL>/g;
  /** @type {RegExpExecArray | null} */
  let bm;
  while ((bm = baseRe.exec(outside)) !== null) base = resolveUrl(base, /** @type {string} */ (bm[1]).trim());

  /** @type {DashRepresentation[]} */
  const representations = [];
  const asRe = /<AdaptationSet\b([^>]*)>([\s\S]*?)<\/AdaptationSet>/g;
  /** @type {RegExpExecArray | null} */
  let am;
  while ((am = asRe.exec(text)) !== null) {
    const asAttrs = parseXmlAttributes(/** @type {string} */ (am[1]));
    const body = /** @type {string} */ (am[2]);
    // BaseURL and SegmentTemplate of the AdaptationSet itself: look outside its Representations.
    const asOnly = body.replace(/<Representation\b(?:[^>]*\/>|[^>]*>[\s\S]*?<\/Representation>)/g, '');
    let asBase = base;
    const asBaseUrl = /<BaseURL>([^<]*)<\/BaseURL>/.exec(asOnly);
    if (asBaseUrl) asBase = resolveUrl(base, /** @type {string} */ (asBaseUrl[1]).trim());
    const contentType =
      asAttrs.contentType || (asAttrs.mimeType ? asAttrs.mimeType.split('/')[0] || '' : '');
    const asTemplate = findTemplate(asOnly);

    const repRe = /<Representation\b([^>]*?)(\/>|>([\s\S]*?)<\/Representation>)/g;
    /** @type {RegExpExecArray | null} */
    let rm;
    while ((rm = repRe.exec(body)) !== null) {
      const rAttrs = parseXmlAttributes(/** @type {string} */ (rm[1]));
      const rBody = rm[3] || '';
      const template = findTemplate(rBody) || asTemplate;
      const id = rAttrs.id || '';
      const bandwidth = Number(rAttrs.bandwidth || 0);
      const rType =
        contentType || (rAttrs.mimeType ? rAttrs.mimeType.split('/')[0] || '' : '');
      if (!template) {
        representations.push({ id, contentType: rType, bandwidth, init: null, segments: [] });
        continue;
      }
      const segs = expandTemplate(template, duration);
      representations.push({
        id,
        contentType: rType,
        bandwidth,
        init: template.attrs.initialization
          ? resolveUrl(asBase, fillTemplate(template.attrs.initialization, { id, number: 0, time: 0, bandwidth }))
          : null,
        segments: segs.map((s) => ({
          url: resolveUrl(asBase, fillTemplate(template.attrs.media || '', { id, number: s.number, time: s.time, bandwidth })),
          duration: s.duration,
          start: s.start,
        })),
      });
    }
  }
  return { duration, representations };
}

/**
 * @typedef {object} Template
 * @property {Record<string, string>} attrs
 * @property {{ t: number | null, d: number, r: number }[]} timeline  empty without a SegmentTimeline
 */

/**
 * The first SegmentTemplate in `xml`, with its SegmentTimeline entries.
 * @param {string} xml
 * @returns {Template | null}
 */
function findTemplate(xml) {
  const m = /<SegmentTemplate\b([^>]*?)(\/>|>([\s\S]*?)<\/SegmentTemplate>)/.exec(xml);
  if (!m) return null;
  const attrs = parseXmlAttributes(/** @type {string} */ (m[1]));
  /** @type {Template['timeline']} */
  const timeline = [];
  const sRe = /<S\b([^>]*?)\/?>/g;
  /** @type {RegExpExecArray | null} */
  let sm;
  const inner = m[3] || '';
  while ((sm = sRe.exec(inner)) !== null) {
    const a = parseXmlAttributes(/** @type {string} */ (sm[1]));
    timeline.push({ t: a.t !== undefined ? Number(a.t) : null, d: Number(a.d), r: Number(a.r || 0) });
  }
  return { attrs, timeline };
}

/**
 * Segment numbers, media times and durations (seconds) of a SegmentTemplate.
 * @param {Template} template
 * @param {number} mpdDuration  seconds, for a `duration`-based template
 * @returns {{ number: number, time: number, duration: number, start: number }[]}
 */
function expandTemplate(template, mpdDuration) {
  const timescale = Number(template.attrs.timescale || 1);
  const startNumber = Number(template.attrs.startNumber || 1);
  const pto = Number(template.attrs.presentationTimeOffset || 0);
  /** @type {{ number: number, time: number, duration: number, start: number }[]} */
  const out = [];
  if (template.timeline.length > 0) {
    let t = 0;
    let n = startNumber;
    for (const s of template.timeline) {
      if (s.t !== null) t = s.t;
      if (s.r < 0) throw new Error('SegmentTimeline with negative r is not supported');
      for (let k = 0; k <= s.r; k++) {
        out.push({ number: n, time: t, duration: s.d / timescale, start: (t - pto) / timescale });
        n++;
        t += s.d;
      }
    }
    return out;
  }
  const d = Number(template.attrs.duration || 0);
  if (d > 0 && Number.isFinite(mpdDuration)) {
    const count = Math.ceil(mpdDuration / (d / timescale) - 1e-9);
    for (let k = 0; k < count; k++) {
      const startSec = (k * d) / timescale;
      out.push({
        number: startNumber + k,
        time: k * d,
        duration: Math.min(d / timescale, mpdDuration - startSec),
        start: startSec,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Misc
// ---------------------------------------------------------------------------------------------

/**
 * k6's default system tags minus `url`: every segment has its own URL, and the `name` tag
 * (see urlName) already identifies the request, so dropping `url` keeps the number of time
 * series small on long titles.
 */
export const SYSTEM_TAGS = [
  'proto',
  'subproto',
  'status',
  'method',
  'name',
  'group',
  'check',
  'error',
  'error_code',
  'tls_version',
  'scenario',
  'service',
  'expected_response',
];

/**
 * A uniformly random element.
 * @template T
 * @param {T[]} items  non-empty
 * @param {() => number} [random]
 * @returns {T}
 */
export function pick(items, random = Math.random) {
  if (items.length === 0) throw new Error('pick from an empty list');
  return /** @type {T} */ (items[Math.floor(random() * items.length)]);
}
