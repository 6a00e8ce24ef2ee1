// Checks the pure helpers of lib.js under Node, without k6: a few fixed cases, then the live
// playlists and MPD of a running origin (only manifests are fetched: nothing gets encoded).
//
//   node bench/k6/selfcheck.mjs http://127.0.0.1:8080 demo.mp4
//
// Exits 0 and prints a summary when everything holds; throws (exit 1) on the first mismatch.
import assert from 'node:assert/strict';
import {
  audioIndexesFor,
  audioFor,
  audioUntil,
  encodeMediaPath,
  fillTemplate,
  indexAtTime,
  parseDuration,
  parseIsoDuration,
  parseMaster,
  parseMediaPlaylist,
  parseMpd,
  readConfig,
  resolveUrl,
  urlName,
} from './lib.js';
import { K6_SCRIPTS, K6_TARGET, newerSyntax } from './syntax.mjs';

// --- the scripts load on older k6 (no syntax newer than ES2017) -------------------------------
for (const script of K6_SCRIPTS) {
  const newer = newerSyntax(new URL(script, import.meta.url).pathname);
  assert.deepEqual(newer, [], `${script} uses syntax newer than ${K6_TARGET}`);
}

// --- fixed cases -----------------------------------------------------------------------------
assert.equal(parseDuration('30s'), 30000);
assert.equal(parseDuration('1m30s'), 90000);
assert.equal(parseDuration('1.5h'), 5400000);
assert.equal(parseDuration('250ms'), 250);
assert.equal(parseDuration('45'), 45000);
assert.throws(() => parseDuration('30 sec'));
assert.equal(encodeMediaPath('/clips//my movie #1.mp4'), 'clips/my%20movie%20%231.mp4');
assert.equal(
  readConfig({ ORIGIN_URL: 'http://h:1/', MEDIA_PATH: 'a b/c.mp4' }, { duration: '1m', vus: 3 }).masterUrl,
  'http://h:1/vod/a%20b/c.mp4/master.m3u8',
);
assert.throws(() => readConfig({ VUS: '0' }, { duration: '1m', vus: 3 }));
const b = 'http://h:1/api/v1/content/x/video/720p/playlist.m3u8?t=1';
assert.equal(resolveUrl(b, 'segment_1.m4s'), 'http://h:1/api/v1/content/x/video/720p/segment_1.m4s');
assert.equal(resolveUrl(b, '../../audio/a/init.mp4'), 'http://h:1/api/v1/content/x/audio/a/init.mp4');
assert.equal(resolveUrl(b, './s.m4s?x=1'), 'http://h:1/api/v1/content/x/video/720p/s.m4s?x=1');
assert.equal(resolveUrl(b, '/api/v1/y.m3u8'), 'http://h:1/api/v1/y.m3u8');
assert.equal(resolveUrl(b, '//cdn.example/z'), 'http://cdn.example/z');
assert.equal(resolveUrl(b, 'https://o/p'), 'https://o/p');
assert.equal(resolveUrl('http://h:1', 'a'), 'http://h:1/a');
assert.equal(urlName(`http://h/api/v1/content/${'ab'.repeat(32)}/video/720p-1f/segment_12.m4s`), 'http://h/api/v1/content/{hash}/video/720p-1f/segment_{n}.m4s');
assert.equal(parseIsoDuration('PT1H2M3.5S'), 3723.5);
assert.equal(fillTemplate('$RepresentationID$/s_$Number%05d$_$Time$.m4s$$', { id: 'v', number: 7, time: 90, bandwidth: 1 }), 'v/s_00007_90.m4s$');
{
  const mpd = parseMpd(
    `<MPD mediaPresentationDuration="PT10S"><BaseURL>http://c/x/</BaseURL><Period>
     <AdaptationSet mimeType="audio/mp4"><BaseURL>a/</BaseURL>
       <Representation id="r1" bandwidth="5"><SegmentTemplate timescale="1000" duration="4000" media="$RepresentationID$-$Number$.m4s" initialization="i.mp4"/></Representation>
     </AdaptationSet></Period></MPD>`,
    'http://ignored/m.mpd',
  );
  const r = mpd.representations[0];
  assert.equal(r?.contentType, 'audio');
  assert.equal(r?.init, 'http://c/x/a/i.mp4');
  assert.deepEqual(r?.segments.map((s) => [s.url, s.duration]), [
    ['http://c/x/a/r1-1.m4s', 4],
    ['http://c/x/a/r1-2.m4s', 4],
    ['http://c/x/a/r1-3.m4s', 2],
  ]);
}

// --- a live origin ---------------------------------------------------------------------------
const [origin = 'http://127.0.0.1:8080', mediaPath = 'demo.mp4'] = process.argv.slice(2);
const cfg = readConfig({ ORIGIN_URL: origin, MEDIA_PATH: mediaPath }, { duration: '1m', vus: 1 });

/** @param {string} url */
async function text(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return res.text();
}

const master = parseMaster(await text(cfg.masterUrl), cfg.masterUrl);
assert.ok(master.variants.length > 0, 'master has variants');
const contentRe = new RegExp(`^${origin.replace(/\/+$/, '')}/api/v1/content/[0-9a-f]{64}/(video|audio)/[^/]+/playlist\\.m3u8$`);
/** @type {Map<string, import('./lib.js').MediaPlaylist>} */
const playlists = new Map();
for (const v of master.variants) {
  assert.match(v.url, contentRe);
  assert.ok(v.bandwidth > 0 && v.codecs !== '', `variant attributes: ${JSON.stringify(v)}`);
  const audio = audioFor(master, v);
  assert.ok(audio && audio.url, `variant ${v.url} has an audio rendition`);
  for (const url of [v.url, audio.url]) {
    if (playlists.has(url)) continue;
    const pl = parseMediaPlaylist(await text(url), url);
    const dir = url.slice(0, url.lastIndexOf('/') + 1);
    assert.equal(pl.init, `${dir}init.mp4`);
    assert.ok(pl.ended && pl.segments.length > 0 && pl.targetDuration > 0);
    pl.segments.forEach((s, i) => {
      assert.equal(s.url, `${dir}segment_${i + 1}.m4s`);
      assert.ok(s.duration > 0 && s.duration <= pl.targetDuration + 0.5);
      assert.equal(indexAtTime(pl.segments, s.start + s.duration / 2), i);
    });
    playlists.set(url, pl);
  }
}

const mpd = parseMpd(await text(cfg.mpdUrl), cfg.mpdUrl);
assert.equal(mpd.representations.length, playlists.size, 'one DASH representation per HLS rendition');
for (const rep of mpd.representations) {
  const pl = [...playlists.values()].find((p) => p.init === rep.init);
  assert.ok(pl, `DASH init ${rep.init} is an HLS EXT-X-MAP`);
  assert.deepEqual(rep.segments.map((s) => s.url), pl.segments.map((s) => s.url), `${rep.id}: same segment URLs`);
  rep.segments.forEach((s, i) => {
    const h = /** @type {import('./lib.js').Segment} */ (pl.segments[i]);
    assert.ok(Math.abs(s.duration - h.duration) < 1e-3 && Math.abs(s.start - h.start) < 2e-3, `${rep.id} #${i + 1} timing`);
  });
  const total = pl.segments.reduce((a, s) => a + s.duration, 0);
  assert.ok(Math.abs(total - mpd.duration) < 0.1, `${rep.id}: ${total}s vs MPD ${mpd.duration}s`);
}

// Audio alongside video: sequential playback (playback.js) and single jumps (seek.js).
for (const v of master.variants) {
  const video = /** @type {import('./lib.js').MediaPlaylist} */ (playlists.get(v.url));
  const audio = /** @type {import('./lib.js').MediaPlaylist} */ (playlists.get(/** @type {string} */ (audioFor(master, v)?.url)));
  let next = 0;
  /** @type {number[]} */
  const fetched = [];
  video.segments.forEach((s, i) => {
    const until = audioUntil(audio.segments, next, s.start + s.duration, i === video.segments.length - 1);
    for (; next < until; next++) {
      fetched.push(next);
      assert.ok(audio.segments[next].start < s.start + s.duration, 'no audio fetched ahead of its video');
    }
    const jump = audioIndexesFor(audio.segments, s.start, s.start + s.duration);
    assert.ok(jump.length > 0);
    const first = audio.segments[jump[0]];
    const last = audio.segments[jump[jump.length - 1]];
    assert.ok(first.start <= s.start + 1e-3 && last.start + last.duration >= s.start + s.duration - 0.05, `jump to #${i + 1} covers its audio`);
  });
  assert.deepEqual(fetched, audio.segments.map((_, j) => j), 'playback fetches every audio segment once, in order');
}

const segments = [...playlists.values()].reduce((a, p) => a + p.segments.length, 0);
console.log(
  `selfcheck ok: ${master.variants.length} variants + ${playlists.size - master.variants.length} audio, ` +
    `${segments} segments, ${mpd.duration}s; HLS and DASH agree (${cfg.masterUrl})`,
);
