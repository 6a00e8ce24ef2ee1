// jitseg web UI: the library, a player, and the health dashboard. Plain ES module, no build step;
// hls.js is served by the origin itself (/ui/vendor/hls.min.js), nothing comes from the internet.

const view = document.getElementById('view');
const TOKEN_KEY = 'jitseg-admin-token';
const playerChannel = new BroadcastChannel('jitseg-player');
let cleanup = () => {};

/** API calls; an admin token (asked for once when the origin wants one) rides along. */
async function api(path, options = {}) {
  const token = localStorage.getItem(TOKEN_KEY);
  const headers = { ...(options.headers ?? {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 403 && !options.retried) {
    const given = prompt('This origin needs its admin token:');
    if (given) {
      localStorage.setItem(TOKEN_KEY, given);
      return api(path, { ...options, retried: true });
    }
  }
  if (!response.ok) throw new Error(`${path}: ${response.status} ${(await response.text()).slice(0, 200)}`);
  return response;
}

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
};
const seconds = (s) => (s == null ? '—' : `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`);
const bytes = (b) => (b == null ? '—' : b > 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);

// ---------------------------------------------------------------- library

async function libraryView() {
  view.replaceChildren(el('h2', {}, 'Library'), el('p', { class: 'muted' }, 'Loading…'));
  const { items } = await (await api('/api/v1/library')).json();
  const rows = items.map((item) =>
    el('tr', { 'data-path': item.path },
      el('td', {}, ...(item.hash ? [posterOf(item.hash), el('a', { href: `#/play/${item.hash}` }, item.path)] : [item.path])),
      el('td', {}, item.error ? el('span', { class: 'muted' }, item.error) : seconds(item.durationSeconds)),
      el('td', {}, item.width ? `${item.width}×${item.height}` : '—'),
      el('td', {}, item.audio ? item.audio.map((a) => a.name).join(', ') || 'no audio' : '—'),
      el('td', {}, item.totalSegments ? `${item.cachedSegments} / ${item.totalSegments} segments cached` : '—'),
    ));
  view.replaceChildren(
    el('h2', {}, 'Library'),
    el('table', { id: 'library' },
      el('thead', {}, el('tr', {}, ...['File', 'Duration', 'Resolution', 'Audio tracks', 'Cache'].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...rows)),
  );
}

/**
 * The content's poster (made on first request from one keyframe), loaded lazily: only posters on screen are
 * asked for, so a long library does not set off a decode per file. Refused (signed URLs), it asks once for a
 * signed URL; nothing is shown when the origin makes none.
 */
function posterOf(hash) {
  const path = `/api/v1/content/${hash}/poster.jpg`;
  const img = el('img', { class: 'poster', alt: '', loading: 'lazy', width: '160', src: path });
  let signed = false;
  img.addEventListener('error', async () => {
    if (signed) return img.remove();
    signed = true;
    try {
      img.src = (await (await api('/api/v1/sign', { method: 'POST', body: JSON.stringify({ path }) })).json()).url;
    } catch {
      // No signed URL to be had (signing is off, or the token was refused): no poster.
      img.remove();
    }
  });
  return img;
}

// ---------------------------------------------------------------- player

/** A player's path as this origin serves it: signed (by /api/v1/sign, an admin call) when the origin wants signed URLs. */
async function playerPath(path) {
  const probe = await fetch(path, { method: 'HEAD' });
  if (probe.status !== 403) return path;
  return (await (await api('/api/v1/sign', { method: 'POST', body: JSON.stringify({ path }) })).json()).url;
}

async function playerView(hash) {
  const info = await (await api(await playerPath(`/api/v1/content/${hash}/info`))).json();
  const source = await playerPath(`/api/v1/content/${hash}/master.m3u8`);

  const video = el('video', { controls: '', muted: '', autoplay: '', playsinline: '' });
  video.muted = true;
  const renditionPicker = el('select', { id: 'rendition' }, el('option', { value: '-1' }, 'Auto'));
  const audioPicker = el('select', { id: 'audio-track' });
  const subtitlePicker = el('select', { id: 'subtitle-track' }, el('option', { value: '-1' }, 'Off'));
  const status = el('span', { id: 'player-status', class: 'muted' });
  const seekbar = info.thumbnails ? await thumbnailSeekbar(video, info) : el('div');
  view.replaceChildren(
    el('h2', {}, info.path),
    video,
    seekbar,
    el('div', { class: 'controls' }, el('label', {}, 'Rendition ', renditionPicker), el('label', {}, 'Audio ', audioPicker), el('label', {}, 'Subtitles ', subtitlePicker), status),
  );

  const Hls = window.Hls;
  let hls;
  if (Hls && Hls.isSupported()) {
    hls = new Hls();
    hls.loadSource(source);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      hls.levels.forEach((level, i) => renditionPicker.append(el('option', { value: String(i) }, `${level.height}p`)));
      video.play().catch(() => {});
    });
    hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, () => {
      audioPicker.replaceChildren(...hls.audioTracks.map((t, i) => el('option', { value: String(i) }, t.name || t.lang || `track ${i + 1}`)));
      audioPicker.value = String(hls.audioTrack);
    });
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => {
      const tracks = hls.subtitleTracks.map((t, i) => el('option', { value: String(i) }, t.name || t.lang || `track ${i + 1}`));
      subtitlePicker.replaceChildren(el('option', { value: '-1' }, 'Off'), ...tracks);
      subtitlePicker.value = String(hls.subtitleTrack);
    });
    hls.on(Hls.Events.SUBTITLE_TRACK_SWITCH, () => (subtitlePicker.value = String(hls.subtitleTrack)));
    hls.on(Hls.Events.ERROR, (_e, data) => data.fatal && (status.textContent = `error: ${data.details}`));
    renditionPicker.addEventListener('change', () => (hls.currentLevel = Number(renditionPicker.value)));
    audioPicker.addEventListener('change', () => (hls.audioTrack = Number(audioPicker.value)));
    subtitlePicker.addEventListener('change', () => (hls.subtitleTrack = Number(subtitlePicker.value)));
  } else {
    video.src = source; // Safari plays HLS itself
  }
  window.__player = { video, hls };

  const timer = setInterval(() => {
    const b = video.buffered;
    const ahead = b.length ? Math.max(0, b.end(b.length - 1) - video.currentTime) : 0;
    status.textContent = `${seconds(video.currentTime)} · ${ahead.toFixed(1)} s buffered${hls ? ` · ${hls.levels[hls.currentLevel]?.height ?? '?'}p` : ''}`;
    playerChannel.postMessage({ hash, currentTime: video.currentTime, buffered: ahead });
  }, 500);
  cleanup = () => {
    clearInterval(timer);
    hls?.destroy();
    delete window.__player;
  };
}

/** Cues of a WebVTT thumbnails index: [start, end) and the tile (sheet URL resolved against the index, x, y, w, h). */
function parseThumbnailVtt(text, base) {
  const cues = [];
  const stamp = (s) => s.split(':').reduce((sum, part) => sum * 60 + Number(part), 0);
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const times = /^([\d:.]+)\s+-->\s+([\d:.]+)/.exec(lines[i]);
    const target = times && /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(lines[i + 1] ?? '');
    if (!target) continue;
    const [x, y, w, h] = target.slice(2).map(Number);
    cues.push({ start: stamp(times[1]), end: stamp(times[2]), sheet: new URL(target[1], base).href, x, y, w, h });
  }
  return cues;
}

/** A seek bar under the video: hovering shows the thumbnail of that time (from the WebVTT index), a click seeks there. */
async function thumbnailSeekbar(video, info) {
  const vttUrl = new URL(await playerPath(info.thumbnails.vtt), location.href).href;
  const cues = parseThumbnailVtt(await (await fetch(vttUrl)).text(), vttUrl);
  const played = el('div', { class: 'seek-played' });
  const preview = el('div', { id: 'thumb-preview', class: 'thumb-preview', hidden: '' }, el('span', { class: 'thumb-time' }));
  const bar = el('div', { id: 'seekbar', class: 'seekbar', title: 'seek' }, played, preview);
  const duration = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : info.durationSeconds);
  const sheets = new Map();
  const timeAt = (event) => {
    const box = bar.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * duration();
  };
  bar.addEventListener('mousemove', (event) => {
    const t = timeAt(event);
    const cue = cues.find((c) => t >= c.start && t < c.end) ?? cues[cues.length - 1];
    if (!cue) return;
    // Each sheet is fetched once; the preview says when its picture is in.
    if (!sheets.has(cue.sheet)) {
      const image = new Image();
      sheets.set(cue.sheet, image);
      image.src = cue.sheet;
    }
    const image = sheets.get(cue.sheet);
    const shown = () => {
      if (preview.dataset.sheet === cue.sheet) preview.dataset.loaded = image.naturalWidth > 0 ? '1' : '0';
    };
    Object.assign(preview.style, {
      width: `${cue.w}px`,
      height: `${cue.h}px`,
      backgroundImage: `url("${cue.sheet}")`,
      backgroundPosition: `-${cue.x}px -${cue.y}px`,
      left: `${Math.min(Math.max(0, event.clientX - bar.getBoundingClientRect().left - cue.w / 2), bar.clientWidth - cue.w)}px`,
    });
    Object.assign(preview.dataset, { time: String(t), start: String(cue.start), sheet: cue.sheet, x: String(cue.x), y: String(cue.y), loaded: '0' });
    preview.firstChild.textContent = seconds(t);
    preview.hidden = false;
    if (image.complete) shown();
    else image.addEventListener('load', shown, { once: true });
  });
  bar.addEventListener('mouseleave', () => (preview.hidden = true));
  bar.addEventListener('click', (event) => (video.currentTime = timeAt(event)));
  video.addEventListener('timeupdate', () => (played.style.width = `${(100 * video.currentTime) / duration()}%`));
  window.__thumbnails = { cues };
  return bar;
}

// ---------------------------------------------------------------- dashboard

/** A card with a number and a line chart of its last 60 values. */
function chartCard(id, title, format) {
  const value = el('div', { class: 'value', id }, '—');
  const canvas = el('canvas', { width: '300', height: '60' });
  const points = [];
  return {
    node: el('div', { class: 'card' }, el('div', {}, title), value, canvas),
    push(v) {
      if (v == null || Number.isNaN(v)) return;
      value.textContent = format(v);
      value.dataset.raw = String(v);
      points.push(v);
      if (points.length > 60) points.shift();
      const g = canvas.getContext('2d');
      g.clearRect(0, 0, canvas.width, canvas.height);
      const max = Math.max(...points, 1e-9);
      g.beginPath();
      points.forEach((p, i) => g[i ? 'lineTo' : 'moveTo']((i / 59) * canvas.width, canvas.height - (p / max) * (canvas.height - 4) - 2));
      g.strokeStyle = '#3a7';
      g.stroke();
    },
  };
}

/** Server-Sent Events through fetch (EventSource cannot send the admin token). */
async function readEvents(onEvent, signal) {
  const response = await api('/api/v1/events', { signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data) onEvent(JSON.parse(data));
    }
  }
}

async function dashboardView() {
  const cards = {
    encodeRate: chartCard('encode-rate', 'Encode rate (× real time)', (v) => `${v.toFixed(2)}×`),
    segmentsReady: chartCard('segments-ready', 'Segments ready (since opened)', (v) => String(v)),
    buffer: chartCard('player-buffer', 'Player buffer', (v) => `${v.toFixed(1)} s`),
    cache: chartCard('cache-bytes', 'Cache', bytes),
    hitRatio: chartCard('hit-ratio', 'Cache hit ratio', (v) => `${(v * 100).toFixed(1)} %`),
    cpu: chartCard('cpu', 'CPU (origin process)', (v) => `${v.toFixed(0)} %`),
    memory: chartCard('memory', 'Memory (RSS)', bytes),
  };
  const alerts = el('ul', { class: 'alerts', id: 'alerts' });
  const events = el('div', { id: 'events' });
  view.replaceChildren(el('h2', {}, 'Health'), el('div', { class: 'grid' }, ...Object.values(cards).map((c) => c.node)), el('h3', {}, 'Alerts'), alerts, el('h3', {}, 'Events'), events);

  let segmentsReady = 0;
  cards.segmentsReady.push(0);
  const controller = new AbortController();
  readEvents((event) => {
    if (event.type === 'SegmentReady') cards.segmentsReady.push(++segmentsReady);
    if (event.type === 'ProgressUpdate') return;
    events.prepend(el('div', {}, `${event.at.slice(11, 19)} ${event.type} ${event.kind ?? ''} ${event.rendition ?? ''} ${event.segment ?? ''}`));
    while (events.childNodes.length > 100) events.lastChild.remove();
  }, controller.signal).catch(() => {});
  const onPlayer = (message) => cards.buffer.push(message.data.buffered);
  playerChannel.addEventListener('message', onPlayer);

  let last;
  const poll = async () => {
    const health = await (await api('/api/v1/health')).json();
    cards.encodeRate.push(health.encodeRate ?? 0);
    cards.cache.push(health.cache.bytes);
    cards.hitRatio.push(health.cacheHitRatio ?? 0);
    cards.memory.push(health.process.rssBytes);
    const now = performance.now();
    if (last) cards.cpu.push((100 * (health.process.cpuSeconds - last.cpu)) / ((now - last.at) / 1000));
    last = { cpu: health.process.cpuSeconds, at: now };
    alerts.replaceChildren(...(health.alerts.length ? health.alerts.map((a) => el('li', {}, a)) : [el('li', { class: 'muted' }, 'none')]));
  };
  await poll();
  const timer = setInterval(() => poll().catch(() => {}), 1000);
  cleanup = () => {
    clearInterval(timer);
    controller.abort();
    playerChannel.removeEventListener('message', onPlayer);
  };
}

// ---------------------------------------------------------------- routing

async function route() {
  cleanup();
  cleanup = () => {};
  const [, page, arg] = location.hash.split('/');
  try {
    if (page === 'play' && arg) await playerView(arg);
    else if (page === 'dashboard') await dashboardView();
    else await libraryView();
  } catch (err) {
    view.replaceChildren(el('p', { class: 'alerts' }, String(err.message ?? err)));
  }
  document.getElementById('token-state').textContent = localStorage.getItem(TOKEN_KEY) ? 'admin token set' : '';
}

addEventListener('hashchange', route);
route();
