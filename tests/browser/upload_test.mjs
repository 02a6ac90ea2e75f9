// Headless-Chromium test of the `sola serve` page: load it, choose an image in the file input,
// wait for the first face's score (#score) and check that it reads "<number in [0,1]> FAKE|REAL".
// For a video (.mp4 .mov .webm .avi) it also checks that progress was shown (#progress got updates),
// that the timeline chart (svg#timeline) has a circle per scored frame, and prints the counts of
// scored frames and of frames marked as without a face.
//
//   node upload_test.mjs URL FILE         (or SOLA_SERVE_URL / SOLA_TEST_IMAGE in the environment)
//   CHROMIUM=/path/to/chrome overrides /usr/bin/chromium.
// Exit code 0: the score was shown; 1: it was not (the page's error text is printed); 2: usage.
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const url = process.argv[2] || process.env.SOLA_SERVE_URL;
const image = process.argv[3] || process.env.SOLA_TEST_IMAGE;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const timeoutMs = Number(process.env.SOLA_BROWSER_TIMEOUT_MS || 60000);

if (!url || !image) {
  console.error("usage: node upload_test.mjs URL IMAGE");
  process.exit(2);
}
for (const [what, file] of [["image", image], ["chromium", executablePath]]) {
  if (!existsSync(file)) {
    console.error(`${what} not found: ${file}`);
    process.exit(2);
  }
}

const profile = mkdtempSync(join(tmpdir(), "sola-chromium-"));
let browser;
let code = 1;
try {
  // A persistent context is the only way to give Chromium its own --user-data-dir here.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
    timeout: timeoutMs,
  });
  const page = browser.pages()[0] || (await browser.newPage());
  page.setDefaultTimeout(timeoutMs);
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") console.error(`console: ${m.text()}`); });

  const response = await page.goto(url, { waitUntil: "load" });
  if (!response || !response.ok()) throw new Error(`GET ${url}: HTTP ${response ? response.status() : "no response"}`);
  await page.setInputFiles("#file", image);
  // Either the score or an error appears.
  await page.waitForFunction(
    () => document.getElementById("score") || document.getElementById("error").textContent.trim() !== "",
  );
  const error = (await page.textContent("#error")).trim();
  if (error) throw new Error(`the page shows an error: ${error}`);

  const text = (await page.textContent("#score")).trim();
  const all = await page.$$eval(".score", (els) => els.map((e) => e.textContent.trim()));
  const heatmaps = await page.$$eval("img.heatmap", (imgs) => imgs.map((i) => i.complete && i.naturalWidth > 0));
  console.log(`score: ${text}`);
  console.log(`faces: ${all.length}, heat maps shown: ${heatmaps.filter(Boolean).length}`);
  const match = /^([0-9]*\.?[0-9]+)\s+(FAKE|REAL)$/.exec(text);
  const score = match ? Number(match[1]) : NaN;
  if (!(score >= 0 && score <= 1)) throw new Error(`#score is "${text}", expected "<number in [0, 1]> FAKE|REAL"`);
  if (heatmaps.length === 0 || !heatmaps.every(Boolean)) throw new Error("the heat map images did not load");
  if (/\.(mp4|mov|webm|avi)$/i.test(image)) {
    const updates = Number(await page.getAttribute("#progress", "data-updates"));
    const points = await page.$$eval("svg#timeline circle.frame", (c) => c.length);
    const gaps = await page.$$eval("svg#timeline .no-face", (c) => c.length);
    console.log(`progress updates: ${updates}, timeline points: ${points}, no-face marks: ${gaps}`);
    if (!(updates > 0)) throw new Error("no progress was shown while the video was processed");
    if (!(points > 0)) throw new Error("the timeline chart has no points");
  }
  code = 0;
} catch (e) {
  console.error(`FAILED: ${e.message}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
