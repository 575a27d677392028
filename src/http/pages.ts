/**
 * The two pages a person sees: `/` lists the live streams, `/APP/STREAM` plays one with mpegts.js
 * (served from its npm package by this server: nothing is fetched from the internet). The watch page
 * plays over WS-FLV or HTTP-FLV, chases live latency, says so while the stream is offline and starts by
 * itself when it goes live.
 */

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c)

const STYLE = `
:root { color-scheme: dark; --bg: #0f1115; --panel: #181b22; --line: #2a2f3a; --text: #e7e9ee; --dim: #9aa3b2; --accent: #4f9dff; --live: #ff4d4f; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; gap: 12px; padding: 14px 24px; border-bottom: 1px solid var(--line); background: var(--panel); }
header a { color: var(--text); text-decoration: none; font-weight: 600; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; background: var(--line); color: var(--dim); }
.badge.live { background: var(--live); color: white; }
table { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 10px 14px; border-bottom: 1px solid var(--line); }
th { color: var(--dim); font-weight: 500; font-size: 13px; }
td a { color: var(--accent); text-decoration: none; }
.empty { color: var(--dim); padding: 40px; text-align: center; background: var(--panel); border: 1px dashed var(--line); border-radius: 8px; }
.player { position: relative; background: black; border-radius: 8px; overflow: hidden; aspect-ratio: 16 / 9; }
video { width: 100%; height: 100%; display: block; background: black; }
.overlay { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; flex-direction: column; gap: 6px; color: var(--dim); background: rgba(0,0,0,.65); }
.overlay[hidden] { display: none; }
.bar { display: flex; flex-wrap: wrap; align-items: center; gap: 16px; margin-top: 14px; color: var(--dim); font-size: 14px; }
.hint { margin-top: 14px; color: var(--dim); font-size: 14px; line-height: 1.9; }
.bar label { display: flex; gap: 6px; align-items: center; cursor: pointer; }
code { background: var(--panel); border: 1px solid var(--line); padding: 1px 6px; border-radius: 4px; }
`

const layout = (title: string, body: string, script = "") => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><header><a href="/">● effect-rtmp</a><span class="badge">live server</span></header><main>${body}</main>${script}</body></html>`

export const indexPage = () =>
  layout(
    "effect-rtmp — live streams",
    `<h2>Live streams</h2><div id="streams"><div class="empty">Loading…</div></div>
<p class="hint">Publish with <code>ffmpeg -re -i input -c copy -f flv rtmp://HOST:1935/live/NAME</code> or OBS; watch here, or with any player over RTMP, HTTP-FLV (<code>/live/NAME.flv</code>) or LL-HLS (<code>/live/NAME.m3u8</code>).</p>`,
    `<script>
const esc = (t) => String(t).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const path = (s) => "/" + [...s.app.split("/"), s.name].map(encodeURIComponent).join("/");
const uptime = (s) => { const m = Math.floor(s / 60); return m >= 60 ? Math.floor(m / 60) + " h " + (m % 60) + " min" : m + " min " + (s % 60) + " s"; };
async function refresh() {
  try {
    const { streams } = await (await fetch("/api/v1/streams")).json();
    const live = streams.filter((s) => s.live);
    document.getElementById("streams").innerHTML = live.length === 0
      ? '<div class="empty">Nothing is live right now. This page updates by itself.</div>'
      : '<table><tr><th>Stream</th><th>Video</th><th>Audio</th><th>Viewers</th><th>Uptime</th></tr>' + live.map((s) =>
          '<tr><td><span class="badge live">LIVE</span> <a href="' + path(s) + '">' + esc(s.app + "/" + s.name) + '</a></td>' +
          '<td>' + (s.video ? esc(s.video.codec) + (s.video.width ? " " + s.video.width + "×" + s.video.height : "") : "—") + '</td>' +
          '<td>' + (s.audio ? esc(s.audio.codec) : "—") + '</td>' +
          '<td>' + Object.values(s.viewers).reduce((a, b) => a + b, 0) + '</td>' +
          '<td>' + (s.publisher ? uptime(s.publisher.uptimeSeconds) : "") + '</td></tr>').join("") + '</table>';
  } catch { }
}
refresh(); setInterval(refresh, 3000);
</script>`
  )

export const watchPage = (app: string, name: string) => {
  const title = `${app}/${name}`
  const source = "/" + [...app.split("/"), name].map(encodeURIComponent).join("/")
  return layout(
    `${title} — effect-rtmp`,
    `<h2>${escapeHtml(title)} <span id="state" class="badge">connecting</span></h2>
<div class="player"><video id="video" muted autoplay playsinline controls></video>
<div id="overlay" class="overlay"><strong id="message">Connecting…</strong><span id="detail"></span></div></div>
<div class="bar">
<label><input type="radio" name="transport" value="ws" checked> WebSocket-FLV</label>
<label><input type="radio" name="transport" value="http"> HTTP-FLV</label>
<label><input type="radio" name="transport" value="hls"> LL-HLS</label>
<span id="stats"></span>
<span>Other players: <code id="flv-url"></code></span>
</div>`,
    `<script src="/assets/mpegts.js"></script>
<script src="/assets/hls.js"></script>
<script>
const source = ${JSON.stringify(source)};
const video = document.getElementById("video");
const overlay = document.getElementById("overlay");
const message = document.getElementById("message");
const detail = document.getElementById("detail");
const state = document.getElementById("state");
document.getElementById("flv-url").textContent = location.origin + source + ".flv";
let player = null;
let retry = null;
window.playerErrors = [];
const show = (text, sub = "") => { overlay.hidden = false; message.textContent = text; detail.textContent = sub; };
const setState = (text, live) => { state.textContent = text; state.className = live ? "badge live" : "badge"; };
const transport = () => document.querySelector('input[name="transport"]:checked').value;
// Default per browser: Safari and iOS (native HLS, MSE absent or limited) get LL-HLS; the others WS-FLV,
// the lowest-latency path where MSE exists. A ?transport= parameter or the switch overrides it.
const requested = new URLSearchParams(location.search).get("transport");
const nativeHls = video.canPlayType("application/vnd.apple.mpegurl") !== "" && /Safari/.test(navigator.userAgent) && !/Chrome|Chromium|Android/.test(navigator.userAgent);
const preferred = requested === "ws" || requested === "http" || requested === "hls" ? requested : nativeHls || !window.MediaSource ? "hls" : "ws";
document.querySelector('input[value="' + preferred + '"]').checked = true;
function stop() { if (player) { player.destroy(); player = null; window.hls = undefined; } }
function scheduleRetry() { clearTimeout(retry); retry = setTimeout(start, 2000); }
async function start() {
  stop();
  try {
    const response = await fetch("/api/v1/streams" + source);
    const info = response.ok ? await response.json() : null;
    if (!info || !info.live) { setState("offline", false); show("This stream is offline", "It will start by itself when it goes live."); return scheduleRetry(); }
  } catch { show("Server unreachable", "Retrying…"); return scheduleRetry(); }
  const query = new URLSearchParams(location.search);
  query.delete("transport");
  if (transport() === "hls") return startHls(query);
  const url = (transport() === "ws" ? location.origin.replace(/^http/, "ws") : location.origin) + source + ".flv" + (query.size > 0 ? "?" + query : "");
  player = mpegts.createPlayer({ type: "flv", isLive: true, url, hasAudio: true, hasVideo: true }, {
    enableWorker: false, lazyLoad: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 1.5, liveBufferLatencyMinRemain: 0.3, enableStashBuffer: false
  });
  player.on(mpegts.Events.ERROR, (type, detailText) => { window.playerErrors.push(type + ": " + detailText); setState("reconnecting", false); show("Stream interrupted", "Reconnecting…"); scheduleRetry(); });
  player.on(mpegts.Events.LOADING_COMPLETE, () => { setState("offline", false); show("The stream ended", "Waiting for it to come back…"); scheduleRetry(); });
  player.on(mpegts.Events.STATISTICS_INFO, (s) => { document.getElementById("stats").textContent = Math.round(s.speed) + " KB/s"; });
  player.attachMediaElement(video);
  player.load();
  video.play().catch(() => {});
}
function startHls(query) {
  const url = source + ".m3u8" + (query.size > 0 ? "?" + query : "");
  if (!window.Hls || !Hls.isSupported()) { video.src = url; video.play().catch(() => {}); return; } // Safari plays LL-HLS natively
  // hls.js's own back-buffer flush is left off (its default): with a finite backBufferLength it flushes once per
  // target duration, at the same point of every segment, and a flush that completes while a part of the segment
  // being loaded is still parsing makes hls.js 1.7 drop that segment as "no media" and stall until the next one
  // (seen once every 3–15 min here, always at the same part). Chromium's MediaSource evicts played media itself
  // when the SourceBuffer reaches its quota, so the buffer stays bounded.
  const hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 });
  window.hls = hls;
  player = { destroy: () => hls.destroy() };
  // The last dozen playlist and part loads (ms since navigation: requested, loaded, appended), kept for a stall's
  // log; the log keeps the last dozen stalls (a page left open for hours must not grow without bound).
  const recent = (list, entry) => { list.push(entry); if (list.length > 12) list.shift(); };
  const loads = [], playlists = [], ms = (t) => Math.round(t);
  hls.on(Hls.Events.LEVEL_LOADED, (_event, data) => recent(playlists, [data.details.endSN + "." + (data.details.partList ? data.details.partList.length : 0), ms(data.stats.loading.start), ms(data.stats.loading.end)]));
  hls.on(Hls.Events.FRAG_BUFFERED, (_event, data) => recent(loads, [data.frag.sn + "." + (data.part ? data.part.index : "-"), ms(data.stats.loading.start), ms(data.stats.loading.end), ms(data.stats.buffering.end)]));
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) {
      // What a stall looked like, for whoever debugs one (the browser test prints it): where playback stood, how
      // much was buffered ahead, how far from the advertised edge, how long since the playlist last advanced, and
      // the loads before it — a late source, a late server and a late player each look different.
      window.playerStalls = (window.playerStalls || 0) + 1;
      const ahead = video.buffered.length > 0 ? video.buffered.end(video.buffered.length - 1) - video.currentTime : 0;
      const details = hls.latestLevelDetails || (hls.levels[hls.currentLevel] || {}).details;
      recent(window.playerStallLog = window.playerStallLog || [], { at: ms(performance.now()), currentTime: video.currentTime, bufferedAhead: ahead, latency: hls.latency, playlistAge: details ? details.age : null, playlists: playlists.slice(), loads: loads.slice() });
    }
    if (!data.fatal) return;
    window.playerErrors.push(data.type + ": " + data.details); setState("reconnecting", false); show("Stream interrupted", "Reconnecting…"); scheduleRetry();
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  video.play().catch(() => {});
}
setInterval(() => { if (window.hls && window.hls.latency) document.getElementById("stats").textContent = "latency " + window.hls.latency.toFixed(2) + " s"; }, 1000);
video.addEventListener("playing", () => {
  overlay.hidden = true; setState("live", true);
  if (window.firstFrameAt === undefined) window.firstFrameAt = performance.now(); // ms since navigation started
});
document.querySelectorAll('input[name="transport"]').forEach((input) => input.addEventListener("change", start));
start();
</script>`
  )
}
