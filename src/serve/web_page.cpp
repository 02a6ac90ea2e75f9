// The page `sola serve` answers at GET /: one self-contained HTML file (inline CSS and JavaScript,
// no external resources). It uploads with fetch() to /v1/detect?heatmap=1 and shows, per face, the
// score ("0.8731 FAKE": id="score" on the first face, class "score" on all), the label and the heat
// map; errors go to the element id="error". Server data is inserted as text only (never as HTML).
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
  footer { margin-top: 32px; color: var(--muted); font-size: 0.8rem; }
</style>
</head>
<body>
<main>
  <h1>sola: face forgery detection</h1>
  <p class="sub" id="model">Second Order Local Anomaly (CVPR 2022): drop a face photo to score it and see where the model looks.</p>

  <label id="drop" for="file">
    <strong>Drop an image here</strong> or choose a file (PNG, JPEG, BMP or WebP)
    <input type="file" id="file" name="image" accept="image/png,image/jpeg,image/bmp,image/webp">
  </label>

  <div class="options">
    <label><input type="checkbox" id="crops"> the image is a face crop (skip face detection)</label>
    <label>threshold <input type="number" id="threshold" min="0" max="1" step="0.01" value="0.5"></label>
  </div>

  <div id="status" role="status"></div>
  <div id="error" role="alert"></div>
  <img id="preview" alt="">
  <section id="results"></section>

  <footer>Images are processed in memory and not stored. Scores are forgery probabilities in [0, 1].</footer>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let maxUpload = 0;

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
      `${h.limits.max_image_side} pixels a side.`;
    maxUpload = h.limits.max_upload_bytes;
    $("crops").checked = !!h.crops;
    $("threshold").value = h.threshold;
  } catch (e) {
    showError("The server does not answer /healthz: " + e.message);
  }
}

function render(name, r) {
  const out = $("results");
  out.replaceChildren();
  const box = el("div", "result");
  box.appendChild(el("h2", "", name));
  const faces = r.faces || [];
  if (r.status !== "ok") {
    box.appendChild(el("p", "note", r.error || `status: ${r.status}`));
  } else {
    box.appendChild(el("p", "summary",
      `${String(r.label).toUpperCase()} (score ${Number(r.score).toFixed(4)}, threshold ${r.threshold}): ` +
      `${faces.length} face${faces.length === 1 ? "" : "s"}, ${r.timing ? r.timing.total_ms.toFixed(0) : "?"} ms`));
  }
  const list = el("div", "faces");
  faces.forEach((f, i) => {
    const card = el("div", "face " + f.label);
    const head = el("div", "head");
    const score = el("span", "score", `${Number(f.score).toFixed(4)} ${String(f.label).toUpperCase()}`);
    if (i === 0) score.id = "score";
    head.appendChild(score);
    head.appendChild(el("span", "label " + f.label, f.label));
    if (Array.isArray(f.box))
      head.appendChild(el("span", "box", `face ${i + 1}: box ${f.box.map((v) => Math.round(v)).join(", ")}`));
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

async function upload(file) {
  $("error").textContent = "";
  $("results").replaceChildren();
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.onload = () => { preview.style.display = "block"; };
  preview.onerror = () => { preview.style.display = "none"; };
  preview.style.display = "none";
  preview.src = URL.createObjectURL(file);
  await healthReady;  // limits and option defaults come from the server
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
