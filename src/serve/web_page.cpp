// The page `sola serve` answers at GET /: one self-contained HTML file (inline CSS and JavaScript,
// no external resources). It uploads with fetch() to /v1/detect?heatmap=1 and shows, per face, the
// score ("0.8731 FAKE": id="score" on the first face, class "score" on all), the label and the heat
// map; errors go to the element id="error". Server data is inserted as text only (never as HTML).
// A video is sent with progress=1: the streamed progress lines move the bar id="progress" (its
// data-updates counts them), then the page shows the video score (id="score"), the score timeline
// drawn as SVG (id="timeline": a circle per scored frame, a cross per frame without a face, the
// threshold dashed) and the heat map of the highest-scoring frame.
#include "serve/server.h"

namespace sola::serve {

const std::string& web_page() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sola: face forgery detection</title>
<link rel="icon" href="data:,">
<style>
  :root { --fg: #1d2330; --muted: #5f6b7a; --line: #d8dee6; --bg: #f5f7fa; --accent: #2f6fde;
          --fake: #c62828; --real: #2e7d32; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color: var(--fg); background: var(--bg); }
  main { max-width: 920px; margin: 0 auto; padding: 24px 16px 48px; }
  h1 { font-size: 1.5rem; margin: 0 0 4px; }
  .sub { color: var(--muted); margin: 0 0 20px; font-size: 0.9rem; }
  #drop { display: block; border: 2px dashed var(--line); border-radius: 12px; background: #fff;
          padding: 36px 16px; text-align: center; cursor: pointer; transition: border-color .15s, background .15s; }
  #drop:hover, #drop.over { border-color: var(--accent); background: #eef4ff; }
  #drop strong { color: var(--accent); }
  #file { display: block; margin: 12px auto 0; }
  .options { display: flex; gap: 20px; flex-wrap: wrap; align-items: center; margin: 14px 0; color: var(--muted);
             font-size: 0.9rem; }
  .options input[type=number] { width: 5.5em; }
  #status { color: var(--muted); min-height: 1.5em; }
  #error { margin: 12px 0; padding: 10px 14px; border-radius: 8px; background: #fdecea; color: var(--fake);
           border: 1px solid #f5c2c0; white-space: pre-wrap; }
  #error:empty { display: none; }
  .result { margin-top: 16px; }
  .result h2 { font-size: 1.1rem; margin: 0 0 4px; word-break: break-all; }
  .summary { color: var(--muted); margin: 0 0 12px; }
  .note { padding: 10px 14px; border-radius: 8px; background: #fff8e1; border: 1px solid #ffe08a; }
  .faces { display: grid; gap: 16px; }
  .face { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 14px; }
  .face .head { display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
  .score { font: 600 1.6rem/1.2 ui-monospace, "SFMono-Regular", Menlo, monospace; }
  .fake .score, .label.fake { color: var(--fake); }
  .real .score, .label.real { color: var(--real); }
  .label { font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
  .box { color: var(--muted); font-size: 0.85rem; }
  .heatmap { display: block; max-width: 100%; margin-top: 10px; border-radius: 6px; image-rendering: auto; }
  #preview { max-width: 240px; max-height: 240px; border-radius: 8px; margin-top: 12px; display: none; }
  #progress { width: 100%; height: 10px; margin: 6px 0; }
  #progress[hidden] { display: none; }
  .chart { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 8px; margin-bottom: 16px; }
  .chart svg { display: block; width: 100%; height: auto; }
  .chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
  footer { margin-top: 32px; color: var(--muted); font-size: 0.8rem; }
</style>
</head>
<body>
<main>
  <h1>sola: face forgery detection</h1>
  <p class="sub" id="model">Second Order Local Anomaly (CVPR 2022): drop a face photo to score it and see where the model looks.</p>

  <label id="drop" for="file">
    <strong>Drop an image or a video here</strong> or choose a file (PNG, JPEG, BMP, WebP; MP4, MOV, WebM, AVI)
    <input type="file" id="file" name="image"
           accept="image/png,image/jpeg,image/bmp,image/webp,video/mp4,video/quicktime,video/webm,video/x-msvideo,.mp4,.mov,.webm,.avi">
  </label>

  <div class="options">
    <label><input type="checkbox" id="crops"> the image is a face crop (skip face detection)</label>
    <label>threshold <input type="number" id="threshold" min="0" max="1" step="0.01" value="0.5"></label>
  </div>

  <div id="status" role="status"></div>
  <progress id="progress" max="1" value="0" data-updates="0" hidden></progress>
  <div id="error" role="alert"></div>
  <img id="preview" alt="">
  <section id="results"></section>

  <footer>Uploads are processed and not kept (a video is held in a temporary file while it is read).
    Scores are forgery probabilities in [0, 1].</footer>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let maxUpload = 0, maxVideo = 0, maxVideoSeconds = 0;
const SVG = "http://www.w3.org/2000/svg";

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function showError(message) {
  $("error").textContent = message;
  $("status").textContent = "";
}

async function loadHealth() {
  try {
    const res = await fetch("/healthz");
    const h = await res.json();
    const m = h.model || {};
    $("model").textContent = `sola ${h.version}: ${m.arch} ${m.backbone}, input ${m.input_size}x${m.input_size}, ` +
      `grid ${m.grid}x${m.grid}. Uploads up to ${(h.limits.max_upload_bytes / 1048576).toFixed(1)} MiB, ` +
      `${h.limits.max_image_side} pixels a side; videos up to ${(h.limits.max_video_bytes / 1048576).toFixed(0)} MiB ` +
      `and ${h.limits.max_video_seconds} s.`;
    maxUpload = h.limits.max_upload_bytes;
    maxVideo = h.limits.max_video_bytes;
    maxVideoSeconds = h.limits.max_video_seconds;
    $("crops").checked = !!h.crops;
    $("threshold").value = h.threshold;
  } catch (e) {
    showError("The server does not answer /healthz: " + e.message);
  }
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// The score timeline of a video: x = time (s), y = frame score in [0, 1]; lines join consecutive
// frames with a face, circles mark them, crosses on the axis mark frames without a face.
function timelineChart(r) {
  const W = 860, H = 240, L = 44, R = 12, T = 14, B = 34;
  const frames = r.timeline || [];
  const t0 = frames.length ? frames[0].time : 0;
  let t1 = frames.length ? frames[frames.length - 1].time : 1;
  if (!(t1 > t0)) t1 = t0 + 1;
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = (s) => T + (H - T - B) * (1 - s);
  const chart = svg("svg", { id: "timeline", viewBox: `0 0 ${W} ${H}`, role: "img",
                             "aria-label": "forgery score of each sampled frame over time" });
  for (const s of [0, 0.25, 0.5, 0.75, 1]) {
    chart.appendChild(svg("line", { x1: L, x2: W - R, y1: y(s), y2: y(s), stroke: "#e6e9ef" }));
    chart.appendChild(svg("text", { x: L - 6, y: y(s) + 4, "text-anchor": "end" }, s.toFixed(2)));
  }
  for (let i = 0; i <= 5; ++i) {
    const t = t0 + (t1 - t0) * i / 5;
    chart.appendChild(svg("text", { x: x(t), y: H - B + 16, "text-anchor": "middle" }, t.toFixed(1)));
  }
  chart.appendChild(svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, "time (s)"));
  chart.appendChild(svg("line", { x1: L, x2: W - R, y1: y(r.threshold), y2: y(r.threshold), stroke: "#c62828",
                                  "stroke-dasharray": "6 4", class: "threshold" }));
  let run = [];
  const flush = () => {
    if (run.length > 1) chart.appendChild(svg("polyline", { points: run.join(" "), fill: "none", stroke: "#2f6fde",
                                                            "stroke-width": 2 }));
    run = [];
  };
  for (const f of frames) {
    if (f.score === null) {
      flush();
      const cx = x(f.time), cy = y(0);
      const cross = svg("path", { d: `M${cx - 4} ${cy - 4}L${cx + 4} ${cy + 4}M${cx - 4} ${cy + 4}L${cx + 4} ${cy - 4}`,
                                  stroke: "#8a94a3", "stroke-width": 2, class: "no-face" });
      cross.appendChild(svg("title", {}, `${f.time.toFixed(2)} s (frame ${f.frame}): no face found`));
      chart.appendChild(cross);
    } else {
      run.push(`${x(f.time).toFixed(1)},${y(f.score).toFixed(1)}`);
    }
  }
  flush();
  for (const f of frames) {
    if (f.score === null) continue;
    const dot = svg("circle", { cx: x(f.time), cy: y(f.score), r: 3.5, class: "frame",
                                fill: f.score >= r.threshold ? "#c62828" : "#2e7d32" });
    dot.appendChild(svg("title", {}, `${f.time.toFixed(2)} s (frame ${f.frame}): ${f.score.toFixed(4)}`));
    chart.appendChild(dot);
  }
  const box = el("div", "chart");
  box.appendChild(chart);
  return box;
}

function render(name, r) {
  const out = $("results");
  out.replaceChildren();
  const box = el("div", "result");
  box.appendChild(el("h2", "", name));
  const faces = r.faces || [];
  const video = r.kind === "video";
  if (r.status !== "ok") {
    box.appendChild(el("p", "note", r.error || `status: ${r.status}`));
  } else if (video) {
    const a = r.aggregation || {};
    const score = el("p", "score " + r.label, `${Number(r.score).toFixed(4)} ${String(r.label).toUpperCase()}`);
    score.id = "score";
    box.appendChild(score);
    box.appendChild(el("p", "summary",
      `Video score: the mean over ${a.frames_scored} of ${r.frames} sampled frames with a face ` +
      `(max ${Number(a.max).toFixed(4)}, ${(100 * a.share_above_threshold).toFixed(0)}% of frames at or above ` +
      `${r.threshold}; ${r.frames_without_face} without a face), ` +
      `${r.timing ? (r.timing.total_ms / 1000).toFixed(1) : "?"} s. Below: the heat map of the highest-scoring frame.`));
    box.appendChild(timelineChart(r));
  } else {
    box.appendChild(el("p", "summary",
      `${String(r.label).toUpperCase()} (score ${Number(r.score).toFixed(4)}, threshold ${r.threshold}): ` +
      `${faces.length} face${faces.length === 1 ? "" : "s"}, ${r.timing ? r.timing.total_ms.toFixed(0) : "?"} ms`));
  }
  const list = el("div", "faces");
  // A video lists only the faces with a heat map: those of its highest-scoring frame.
  (video ? faces.filter((f) => f.heatmap_png) : faces).forEach((f, i) => {
    const card = el("div", "face " + f.label);
    const head = el("div", "head");
    const score = el("span", "score", `${Number(f.score).toFixed(4)} ${String(f.label).toUpperCase()}`);
    if (i === 0 && !video) score.id = "score";
    head.appendChild(score);
    head.appendChild(el("span", "label " + f.label, f.label));
    if (Array.isArray(f.box))
      head.appendChild(el("span", "box", (video ? `frame ${f.frame}, ` : "") +
                                         `face ${i + 1}: box ${f.box.map((v) => Math.round(v)).join(", ")}`));
    card.appendChild(head);
    if (f.heatmap_png) {
      const img = el("img", "heatmap");
      img.alt = `heat map of face ${i + 1}: the crop, the second-order anomaly map and the Grad-CAM`;
      img.src = "data:image/png;base64," + f.heatmap_png;
      card.appendChild(img);
    }
    list.appendChild(card);
  });
  box.appendChild(list);
  out.appendChild(box);
}

function isVideo(file) {
  return (file.type || "").startsWith("video/") || /\.(mp4|m4v|mov|webm|avi)$/i.test(file.name);
}

function showProgress(done, total) {
  const bar = $("progress");
  bar.hidden = false;
  bar.max = Math.max(1, total);
  bar.value = done;
  bar.dataset.updates = String(Number(bar.dataset.updates) + 1);
}

// A video: streamed JSON lines, progress first and the result last.
async function uploadVideo(file) {
  if (maxVideo && file.size > maxVideo) {
    showError(`${file.name} is ${(file.size / 1048576).toFixed(1)} MiB: the server accepts videos of at most ` +
              `${(maxVideo / 1048576).toFixed(1)} MiB`);
    return;
  }
  $("status").textContent = `Uploading ${file.name} ...`;
  const bar = $("progress");
  bar.dataset.updates = "0";
  bar.removeAttribute("value");  // indeterminate until the first frame is done
  bar.hidden = false;
  const form = new FormData();
  form.append("video", file, file.name);
  const params = new URLSearchParams({ heatmap: "1", progress: "1", crops: $("crops").checked ? "1" : "0",
                                       threshold: $("threshold").value });
  let res;
  try {
    res = await fetch("/v1/detect?" + params.toString(), { method: "POST", body: form });
  } catch (e) {
    bar.hidden = true;
    showError(`Upload of ${file.name} failed: ${e.message}`);
    return;
  }
  if (!res.ok || !res.body) {
    bar.hidden = true;
    let message = "HTTP " + res.status;
    try { message = (await res.json()).error || message; } catch (e) { /* not JSON */ }
    showError(`${file.name}: ${message}`);
    return;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", result = null;
  const handle = (line) => {
    if (!line.trim()) return;
    const j = JSON.parse(line);
    if (j.progress) {
      showProgress(j.progress.frames_done, j.progress.frames_total);
      $("status").textContent = `Analysing ${file.name}: frame ${j.progress.frames_done} of ${j.progress.frames_total}`;
    } else {
      result = j;
    }
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        handle(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    }
    handle(buffer);
  } catch (e) {
    bar.hidden = true;
    showError(`${file.name}: the answer broke off (${e.message})`);
    return;
  }
  bar.hidden = true;
  if (!result) { showError(`${file.name}: the server sent no result`); return; }
  if (result.error) { showError(`${file.name}: ${result.error}`); return; }
  $("status").textContent = "";
  render(file.name, result);
}

async function upload(file) {
  $("error").textContent = "";
  $("results").replaceChildren();
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.onload = () => { preview.style.display = "block"; };
  preview.onerror = () => { preview.style.display = "none"; };
  preview.style.display = "none";
  preview.removeAttribute("src");
  await healthReady;  // limits and option defaults come from the server
  if (isVideo(file)) return uploadVideo(file);
  preview.src = URL.createObjectURL(file);
  if (maxUpload && file.size > maxUpload) {
    showError(`${file.name} is ${(file.size / 1048576).toFixed(1)} MiB: the server accepts at most ` +
              `${(maxUpload / 1048576).toFixed(1)} MiB`);
    return;
  }
  $("status").textContent = `Analysing ${file.name} ...`;
  const form = new FormData();
  form.append("image", file, file.name);
  const params = new URLSearchParams({ heatmap: "1", crops: $("crops").checked ? "1" : "0",
                                       threshold: $("threshold").value });
  let res;
  try {
    res = await fetch("/v1/detect?" + params.toString(), { method: "POST", body: form });
  } catch (e) {
    showError(`Upload of ${file.name} failed: ${e.message}`);
    return;
  }
  let body;
  try {
    body = await res.json();
  } catch (e) {
    showError(`HTTP ${res.status}: the server's answer is not JSON`);
    return;
  }
  if (!res.ok) {
    showError(`${file.name}: ${body.error || "HTTP " + res.status}`);
    return;
  }
  $("status").textContent = "";
  render(file.name, body);
}

$("file").addEventListener("change", (e) => {
  if (e.target.files.length) upload(e.target.files[0]);
});
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => {
  e.preventDefault();
  drop.classList.add("over");
}));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
});
const healthReady = loadHealth();
</script>
</body>
</html>
)HTML";
  return page;
}

}  // namespace sola::serve
