// End-to-end test of the Baler web viewer in headless Chromium (playwright-core, Debian's chromium).
//
//   node tests/browser/e2e.mjs --dist dist --archives DIR --expect DIR/expect.json \
//        --mode webgpu|cpu [--screenshots DIR] [--timeout-s 240] [--chromium /usr/bin/chromium]
//   node tests/browser/e2e.mjs --serve-only 1 --dist dist --archives DIR   (just the server)
//
// Serves --dist at / and --archives at /archives/ (honouring HTTP Range, counting the bytes sent)
// and again at /norange/archives/ (ignoring Range) from a local HTTP server, opens
// `/#src=/archives/NAME` for every archive named in expect.json ({"NAME": {"hash", "npy_sha256",
// "network"?}}) and checks the viewer's DOM contract: body[data-state] reaches "done", #stat-hash is
// the native content hash, #decode-path names the WebGPU or CPU path, body[data-gpu] matches the
// mode, and the .npy that #download saves has the sha256 of the native `baler-train decompress`.
// Then chunk-by-chunk reading (expect.json's _lazy and _big: bytes fetched for the first frame
// and for a far one, decoded bytes and wasm memory held, the download of a lazily read archive),
// a server without Range, a file from disk, and the error cases (not an archive, truncated,
// HTTP 404). #app must stay visible throughout.
// `--mode webgpu` adds --enable-unsafe-webgpu (SwiftShader without a GPU); `--mode cpu` leaves
// WebGPU off, so the viewer has to take its CPU fallback.
// Prints `ok - NAME` / `not ok - NAME: REASONS` per test, `# ...` info lines, and
// `browser (MODE): N passed, M failed`; exits 1 on any failure.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { chromium } from 'playwright-core';
import { rendererRss } from './rss.mjs';

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const opts = { 'timeout-s': '240', chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) opts[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length) opts[a.slice(2)] = argv[++i];
    else throw new Error(`${a} needs a value`);
  }
  if (opts['serve-only']) return opts; // --serve-only 1: just the server, for looking at the viewer by hand
  for (const k of ['dist', 'archives', 'expect', 'mode']) {
    if (!opts[k]) throw new Error(`--${k} is required`);
  }
  if (!['webgpu', 'cpu'].includes(opts.mode)) throw new Error(`--mode must be webgpu or cpu, not ${opts.mode}`);
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`e2e.mjs: ${e.message}`);
  console.error('usage: node e2e.mjs --dist DIR --archives DIR --expect FILE --mode webgpu|cpu [--screenshots DIR] [--timeout-s S]');
  console.error('       node e2e.mjs --serve-only 1 --dist DIR --archives DIR');
  process.exit(2);
}
const mode = opts.mode;
const timeoutMs = Number(opts['timeout-s']) * 1000;
const distDir = resolve(opts.dist || 'dist');
const archivesDir = resolve(opts.archives || '.');
const expect = opts['serve-only'] ? {} : JSON.parse(readFileSync(opts.expect, 'utf8'));
const shotsDir = opts.screenshots ? resolve(opts.screenshots) : null;
if (shotsDir) mkdirSync(shotsDir, { recursive: true });
// Archives with tiles the decoder network reconstructs: the WebGPU path must be taken for them.
const NETWORK_FALLBACK = new Set(['cfd.baler', 'pattern.baler']);

// ---------------------------------------------------------------- static server

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'application/javascript',
  '.mjs': 'application/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};
const requests = []; // "STATUS PATH", for the failure report

/** The file under `root` that `rel` (URL path, already without its mount prefix) names, or null. */
function resolveUnder(root, rel) {
  let decoded;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  let file = resolve(root, '.' + (decoded.startsWith('/') ? decoded : '/' + decoded));
  if (file !== root && !file.startsWith(root + sep)) return null; // no ../ escapes
  try {
    let st = statSync(file);
    if (st.isDirectory()) {
      file = join(file, 'index.html');
      st = statSync(file);
    }
    return st.isFile() ? { file, size: st.size } : null;
  } catch {
    return null;
  }
}

// `Range: bytes=A-B` (or `A-`) of a file of `size` bytes: [start, end] inclusive, null when the
// header is absent or not one range, 'unsatisfiable' past the end.
function parseRange(header, size) {
  const m = /^bytes=(\d+)-(\d*)$/.exec(header || '');
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start >= size || end < start ? 'unsatisfiable' : { start, end };
}

// Archives are served at /archives/ honouring Range (206 + Content-Range), and again at
// /norange/archives/ by a server that ignores Range (always 200, the whole file), as many do.
// Every byte of an archive sent is counted in `servedBytes`.
let servedBytes = 0;
const server = createServer((req, res) => {
  let path = (req.url || '/').split('?')[0].split('#')[0];
  const noRange = path.startsWith('/norange/');
  if (noRange) path = path.slice('/norange'.length);
  const isArchive = path.startsWith('/archives/');
  const found = isArchive ? resolveUnder(archivesDir, path.slice('/archives'.length)) : resolveUnder(distDir, path);
  const log = (status, extra = '') => requests.push(`${status} ${req.method} ${path}${extra}`);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    log(405);
    res.writeHead(405, { 'Content-Type': 'text/plain' }).end('405 method not allowed\n');
    return;
  }
  if (!found) {
    log(404);
    res.writeHead(404, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' }).end('404 not found\n');
    return;
  }
  const type = TYPES[extname(found.file).toLowerCase()] || 'application/octet-stream';
  const range = isArchive && !noRange ? parseRange(req.headers.range, found.size) : null;
  if (range === 'unsatisfiable') {
    log(416, ` ${req.headers.range}`);
    res.writeHead(416, { 'Content-Range': `bytes */${found.size}`, 'Cache-Control': 'no-store' }).end();
    return;
  }
  const { start, end } = range || { start: 0, end: found.size - 1 };
  const length = Math.max(0, end - start + 1);
  log(range ? 206 : 200, range ? ` ${start}-${end}` : '');
  res.writeHead(range ? 206 : 200, {
    'Content-Type': type,
    'Content-Length': length,
    'Cache-Control': 'no-store',
    ...(range ? { 'Content-Range': `bytes ${start}-${end}/${found.size}` } : {}),
    ...(isArchive && !noRange ? { 'Accept-Ranges': 'bytes' } : {}),
  });
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  if (isArchive) servedBytes += length;
  createReadStream(found.file, { start, end }).pipe(res);
});
await new Promise((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;
console.log(`# serving ${distDir} at ${base}/ and ${archivesDir} at ${base}/archives/`);
if (opts['serve-only']) {
  console.log(`# --serve-only: open ${base}/#src=/archives/NAME; Ctrl-C to stop`);
  await new Promise(() => {});
}

// ---------------------------------------------------------------- browser

const downloadsDir = mkdtempSync(join(tmpdir(), 'baler-e2e-'));

const args = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
if (mode === 'webgpu') args.push('--enable-unsafe-webgpu');
let browser;
try {
  browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args });
} catch (e) {
  console.log(`not ok - ${mode}: launch ${opts.chromium}: ${e.message.split('\n')[0]}`);
  console.log(`browser (${mode}): 0 passed, 1 failed`);
  server.close();
  process.exit(1);
}
console.log(`# ${mode}: chromium ${browser.version()}, flags ${args.join(' ')}`);

// Records, from the moment #app is first seen, every time it is missing, hidden or empty.
function blankMonitor() {
  window.__balerBlank = [];
  let seen = false;
  const check = () => {
    const app = document.getElementById('app');
    let ok = false;
    if (app && app.isConnected) {
      const r = app.getBoundingClientRect();
      const visible = app.checkVisibility ? app.checkVisibility({ visibilityProperty: true }) : true;
      ok = visible && r.width > 0 && r.height > 0;
    }
    if (ok) seen = true;
    else if (seen && window.__balerBlank.length < 20) {
      const state = document.body ? document.body.dataset.state : '(no body)';
      window.__balerBlank.push(`${Math.round(performance.now())} ms: #app ${app ? 'hidden or empty' : 'missing'} (state ${state})`);
    }
  };
  setInterval(check, 50);
}

/** What the adapter request gives on a page of this origin (information only). */
async function probeWebGpu() {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    await page.goto(`${base}/archives/__webgpu_probe__`); // a 404 page is still a page of this origin
    return await page.evaluate(async () => {
      if (!('gpu' in navigator)) return 'navigator.gpu absent';
      const a = await navigator.gpu.requestAdapter();
      if (!a) return 'requestAdapter() returned null';
      const i = a.info || {};
      return `adapter ${i.vendor || '?'} / ${i.architecture || '?'} / ${i.description || ''}, fallback ${i.isFallbackAdapter ?? a.isFallbackAdapter}`;
    });
  } catch (e) {
    return `probe failed: ${e.message.split('\n')[0]}`;
  } finally {
    await ctx.close();
  }
}
console.log(`# ${mode}: WebGPU probe: ${await probeWebGpu()}`);

// ---------------------------------------------------------------- tests

let passed = 0;
let failed = 0;

async function text(page, sel) {
  const el = await page.$(sel);
  if (!el) return null;
  return ((await el.textContent()) || '').trim();
}

async function appVisible(page, failures, hint = true) {
  const app = await page.$('#app');
  if (!app) failures.push('#app missing');
  else if (!(await app.isVisible())) failures.push('#app not visible');
  const blanks = await page.evaluate(() => window.__balerBlank || []).catch(() => []);
  if (blanks.length) failures.push(`page went blank: ${blanks.slice(0, 3).join(', ')}`);
  // Not a check of the contract, a hint: author CSS such as `main { display: flex }` beats the
  // `hidden` attribute, and the element shows anyway.
  const shown = await page
    .evaluate(() =>
      [...document.querySelectorAll('[hidden]')]
        .filter((e) => e.checkVisibility && e.checkVisibility())
        .map((e) => (e.id ? `#${e.id}` : e.tagName.toLowerCase())),
    )
    .catch(() => []);
  if (hint && shown.length) console.log(`# warning: elements with the hidden attribute are rendered: ${shown.join(', ')}`);
}

/** Opens `#src=PATH` and waits for a terminal state; returns {state, ms}. */
async function openArchive(page, src, timeout = timeoutMs) {
  const t0 = Date.now();
  await page.goto(`${base}/#src=${src}`, { waitUntil: 'load', timeout: 60_000 });
  await page.waitForFunction(
    () => document.body && ['done', 'error'].includes(document.body.dataset.state),
    null,
    { timeout, polling: 200 },
  );
  return { state: await page.evaluate(() => document.body.dataset.state), ms: Date.now() - t0 };
}

async function runTest(name, shot, body) {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  await ctx.addInitScript(blankMonitor);
  // Main-thread tasks over 50 ms (printed, not asserted: this machine is shared).
  await ctx.addInitScript(() => {
    window.__longTasks = [];
    try {
      new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__longTasks.push(Math.round(e.duration))))
        .observe({ type: 'longtask', buffered: true });
    } catch {}
  });
  const page = await ctx.newPage();
  const log = [];
  page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.stack || e.message}`));
  page.on('crash', () => log.push('[crash] the page crashed'));
  page.on('requestfailed', (r) => log.push(`[requestfailed] ${r.url()}: ${r.failure()?.errorText}`));
  const firstRequest = requests.length;
  const failures = [];
  try {
    await body(page, failures);
  } catch (e) {
    const state = await page.evaluate(() => document.body?.dataset.state).catch(() => '?');
    failures.push(`${e.message.split('\n')[0]} (data-state ${JSON.stringify(state)})`);
  }
  if (shotsDir) {
    await page
      .screenshot({ path: join(shotsDir, `${mode}-${shot}.png`), fullPage: true, timeout: 30_000 })
      .catch((e) => console.log(`# screenshot ${mode}-${shot}.png failed: ${e.message.split('\n')[0]}`));
  }
  await ctx.close().catch(() => {});
  if (failures.length === 0) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`not ok - ${name}: ${failures.join('; ')}`);
    const errors = log.filter((l) => /^\[(console\.error|pageerror|crash|requestfailed)/.test(l));
    console.log(`#   page console (${log.length} messages, ${errors.length} errors), last 60:`);
    for (const l of log.slice(-60)) console.log(`#     ${l.replace(/\n/g, '\n#       ')}`);
    console.log(`#   requests: ${requests.slice(firstRequest).join(', ') || '(none)'}`);
  }
}

for (const [name, exp] of Object.entries(expect).filter(([k]) => !k.startsWith('_'))) {
  const network = exp.network ?? NETWORK_FALLBACK.has(name);
  await runTest(`${mode} ${name}: decode, hash, path, download`, name, async (page, failures) => {
    const served0 = servedBytes;
    const { state, ms } = await openArchive(page, `/archives/${encodeURIComponent(name)}`);
    await appVisible(page, failures);
    if (state !== 'done') {
      failures.push(`data-state "${state}", #error "${await text(page, '#error')}"`);
      return;
    }
    // A small archive is read whole through Range requests: every byte once, counted by the page
    // and by the server.
    const fetchedBytes = await page.evaluate(() => document.body.dataset.fetched);
    const size = statSync(join(archivesDir, name)).size;
    if (fetchedBytes !== String(size)) failures.push(`data-fetched "${fetchedBytes}" != the archive's ${size} bytes`);
    if (servedBytes - served0 !== size) failures.push(`the server sent ${servedBytes - served0} bytes of a ${size}-byte archive`);

    const hash = await text(page, '#stat-hash');
    if (hash === null) failures.push('#stat-hash missing');
    else if (hash !== exp.hash) failures.push(`#stat-hash "${hash}" != native "${exp.hash}"`);

    const path = await text(page, '#decode-path');
    if (path === null) failures.push('#decode-path missing');
    else if (mode === 'cpu' && !path.startsWith('CPU')) failures.push(`#decode-path "${path}" does not start with "CPU"`);
    else if (mode === 'webgpu' && network && !path.startsWith('WebGPU'))
      failures.push(`#decode-path "${path}" does not start with "WebGPU" (archive has network tiles)`);

    // Decoding runs in workers; a decoder network on WebGPU runs on the page, between the
    // workers' two halves of its chunks.
    const engine = await page.evaluate(() => document.body.dataset.engine);
    if (!/^workers:\d+$/.test(engine || '')) failures.push(`data-engine "${engine}"`);
    if (mode === 'webgpu' && network && !/the rest in \d+ workers/.test(path || '')) failures.push(`#decode-path "${path}": the workers did not decode the rest`);

    const gpu = await page.evaluate(() => document.body.dataset.gpu);
    const wantGpu = mode === 'webgpu' ? 'available' : 'unavailable';
    if (gpu !== wantGpu) failures.push(`data-gpu "${gpu}" != "${wantGpu}"`);

    // Layout: no empty loading band once done; a table shows no min/max/mean mixed over columns.
    const shown = (sel) => page.$eval(sel, (e) => e.getClientRects().length > 0);
    if (await shown('#loading')) failures.push('#loading still takes space after decoding');
    const isTable = (await page.evaluate(() => document.body.dataset.kind)) === 'table';
    if ((await shown('#stat-min')) === isTable) failures.push(`#stat-min shown ${!isTable ? 'not ' : ''}for a ${isTable ? 'table' : 'field'}`);

    const first = await text(page, '#first-frame-ms');
    const decode = await text(page, '#decode-ms');
    const mbps = await text(page, '#decode-mbps');
    console.log(
      `# ${mode} ${name}: path "${path}", first frame "${first}" ms, decode "${decode}" ms, "${mbps}" MB/s; ` +
        `page load to done ${(ms / 1000).toFixed(1)} s`,
    );

    const button = await page.$('#download');
    if (!button) {
      failures.push('#download missing');
      return;
    }
    const { download, saved } = await saveDownload(page, '#download', `${mode}-${name}.npy`, 60_000);
    const sha = sha256(saved);
    console.log(`# ${mode} ${name}: download "${download.suggestedFilename()}", ${statSync(saved).size} bytes, sha256 ${sha}`);
    if (sha !== exp.npy_sha256) failures.push(`download sha256 ${sha} != native .npy ${exp.npy_sha256}`);
    await appVisible(page, failures, false); // the page must survive the download too
  });
}

/** Clicks `selector` and saves the download it starts as `file` in the downloads folder. */
async function saveDownload(page, selector, file, timeout) {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout }),
    page.click(selector, { timeout: 10_000 }),
  ]);
  const saved = join(downloadsDir, file);
  await download.saveAs(saved);
  return { download, saved };
}

/** The sha256 of a file, hex. */
function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Waits until data-state is one of `states`; returns it. */
async function waitState(page, states) {
  await page.waitForFunction((s) => document.body && s.includes(document.body.dataset.state), states, {
    timeout: timeoutMs,
    polling: 200,
  });
  return page.evaluate(() => document.body.dataset.state);
}

const online = expect._online;
if (online) {
  await runTest(`${mode} online mode: asks for the model, decodes with a file or a #model= link`, 'online', async (page, failures) => {
    await page.goto(`${base}/#src=/archives/${online.archive}`, { waitUntil: 'load' });
    let state = await waitState(page, ['need-model', 'done', 'error']);
    const needed = await text(page, '#model-needed');
    if (state !== 'need-model') failures.push(`without its model: data-state "${state}", expected "need-model"`);
    if (needed !== online.model_hash) failures.push(`#model-needed "${needed}" != "${online.model_hash}"`);
    // Wrong files are refused with the reason, and the panel stays for the right one.
    for (const [wrong, reason] of [[online.archive, /is not a model file/], ['other.bmodel', /different model \(hash [0-9a-f]{64}\)/]]) {
      await page.setInputFiles('#model-file', join(archivesDir, wrong));
      await page.waitForFunction((r) => new RegExp(r).test(document.getElementById('error').textContent), reason.source, { timeout: 30000 })
        .catch(() => {});
      state = await waitState(page, ['need-model', 'done', 'error']);
      const error = await text(page, '#error');
      const panel = await page.$eval('#model-panel', (e) => !e.hidden);
      if (state !== 'need-model' || !reason.test(error || '') || !panel) {
        failures.push(`with ${wrong} as the model: state "${state}", #error "${error}", panel shown ${panel}`);
      }
    }
    await page.setInputFiles('#model-file', join(archivesDir, online.model));
    state = await waitState(page, ['done', 'error']);
    const hash = await text(page, '#stat-hash');
    if (state !== 'done' || hash !== online.hash) failures.push(`with the model file: state "${state}", hash "${hash}", #error "${await text(page, '#error')}"`);

    // A link carries the model and the view: frame and colormap come back from the hash.
    await page.goto('about:blank');
    await page.goto(`${base}/#src=/archives/${online.archive}&model=/archives/${online.model}&frame=30&cmap=coolwarm`, { waitUntil: 'load' });
    state = await waitState(page, ['done', 'error', 'need-model']);
    const label = await text(page, '#frame-label');
    const cmap = await page.$eval('#cmap', (e) => e.value);
    if (state !== 'done' || (await text(page, '#stat-hash')) !== online.hash) failures.push(`#model= link: state "${state}"`);
    if (!/31 of 60/.test(label || '')) failures.push(`#frame-label "${label}" should show frame 31 of 60`);
    if (cmap !== 'coolwarm') failures.push(`#cmap "${cmap}" should be coolwarm from the link`);
    // Moving the slider writes the view back into the link.
    await page.$eval('#frame', (e) => { e.value = '5'; e.dispatchEvent(new Event('input')); });
    const hashNow = await page.evaluate(() => location.hash);
    if (!hashNow.includes('frame=5') || !hashNow.includes('cmap=coolwarm')) failures.push(`location.hash "${hashNow}" does not keep the view`);
    await appVisible(page, failures);
  });
}

/** The frame slider moved to `frame`, then waits until the view is complete again. */
async function goToFrame(page, frame) {
  await page.$eval('#frame', (e, f) => { e.value = String(f); e.dispatchEvent(new Event('input')); }, frame);
  await page.waitForFunction(() => document.body.dataset.state !== 'decoding' && !/fetching/.test(document.getElementById('frame-label').textContent), null, { timeout: timeoutMs, polling: 100 });
}

const fetchedNow = (page) => page.evaluate(() => Number(document.body.dataset.fetched));

// A chunked archive opened with #lazy=1: only the chunks of the frame shown are fetched; a frame
// far away fetches only its own; the download decodes it all, in order, and checks the hash.
const lazy = expect._lazy;
if (lazy) {
  await runTest(`${mode} lazy ${lazy.archive}: fetches only the frame's chunks, downloads all`, 'lazy', async (page, failures) => {
    const size = statSync(join(archivesDir, lazy.archive)).size;
    const { state } = await openArchive(page, `/archives/${lazy.archive}&lazy=1`);
    if (state !== 'done') {
      failures.push(`data-state "${state}", #error "${await text(page, '#error')}"`);
      return;
    }
    const first = await fetchedNow(page);
    const hashBefore = await text(page, '#stat-hash');
    console.log(`# ${mode} lazy: first frame after ${first} of ${size} bytes; #stat-hash "${hashBefore}"`);
    if (!(first < size / 2)) failures.push(`fetched ${first} of ${size} bytes for the first frame (a chunk and a neighbour of ${lazy.chunks})`);
    if (!/not checked/.test(hashBefore || '')) failures.push(`#stat-hash "${hashBefore}" claims a check before every chunk was decoded`);
    await goToFrame(page, lazy.frames - 1);
    const label = await text(page, '#frame-label');
    const last = await fetchedNow(page);
    // Its axes are named (`compress --axes time,lat,lon`): the labels use the names.
    if (label !== `time ${lazy.frames} of ${lazy.frames}`) failures.push(`#frame-label "${label}"`);
    const names = await page.evaluate(() => [
      document.getElementById('x-name').textContent,
      document.getElementById('y-name').textContent,
      document.querySelector('#axis option[value="2"]').textContent,
    ]);
    if (names.join('|') !== 'lon|lat|axis 2 (lon)') failures.push(`axis names ${JSON.stringify(names)}`);
    if (!(last > first && last - first < size / 2)) failures.push(`the last frame fetched ${last - first} more bytes of ${size}`);
    const { saved } = await saveDownload(page, '#download', `${mode}-lazy.npy`, 120_000);
    const sha = sha256(saved);
    if (sha !== lazy.npy_sha256) failures.push(`download sha256 ${sha} != native .npy ${lazy.npy_sha256}`);
    await waitState(page, ['done', 'error']);
    const hash = await text(page, '#stat-hash');
    if (hash !== lazy.hash) failures.push(`after the download #stat-hash "${hash}" != native "${lazy.hash}"`);
    const total = await fetchedNow(page);
    console.log(`# ${mode} lazy: last frame +${last - first} bytes; download: ${total} bytes fetched in all`);
    if (total > size) failures.push(`fetched ${total} bytes of a ${size}-byte archive: some part twice`);
    await appVisible(page, failures);
  });
}

// A GB-sized original, too large to read whole: opened from its head; the first frame, a far
// frame, and the memory held stay small.
const big = expect._big;
if (big) {
  await runTest(`${mode} large ${big.archive}: first frame from a few % of the bytes, far frame, memory`, 'large', async (page, failures) => {
    const size = statSync(join(archivesDir, big.archive)).size;
    const served0 = servedBytes;
    const { state, ms } = await openArchive(page, `/archives/${big.archive}`);
    if (state !== 'done') {
      failures.push(`data-state "${state}", #error "${await text(page, '#error')}"`);
      return;
    }
    const first = await fetchedNow(page);
    const firstView = await page.evaluate(() => document.body.dataset.firstViewMs);
    console.log(`# ${mode} large: ${big.original_bytes} original bytes in a ${size}-byte archive; first frame ${firstView} ms after the page started, ${first} bytes fetched (${(100 * first / size).toFixed(2)} %); page load to done ${ms} ms`);
    if (!(first < 0.05 * size)) failures.push(`fetched ${first} bytes (${(100 * first / size).toFixed(1)} %) before the first frame`);
    if (servedBytes - served0 !== first) failures.push(`the server sent ${servedBytes - served0} bytes, the page counted ${first}`);
    await goToFrame(page, big.frames - 1);
    const label = await text(page, '#frame-label');
    const far = (await fetchedNow(page)) - first;
    const longTasks = await page.evaluate(() => window.__longTasks);
    const engine = await page.evaluate(() => document.body.dataset.engine);
    console.log(`# ${mode} large: the last frame fetched ${far} bytes more; decoded by ${engine}; main-thread tasks over 50 ms: [${longTasks.join(', ')}]`);
    if (!/^workers:/.test(engine || '')) failures.push(`data-engine "${engine}": not decoded in workers`);
    if (label !== `frame ${big.frames} of ${big.frames}`) failures.push(`#frame-label "${label}"`);
    if (!(far > 0 && far < 0.05 * size)) failures.push(`the last frame fetched ${far} bytes`);
    const held = Number(await page.evaluate(() => document.body.dataset.held));
    if (!(held > 0 && held <= 32 * 2 ** 20)) failures.push(`${held} bytes of decoded values held (budget 32 MiB)`);
    const heap = await page.evaluate(() => performance.memory ? performance.memory.usedJSHeapSize : 0);
    const wasm = Number(await page.evaluate(() => document.body.dataset.wasmMemory));
    console.log(`# ${mode} large: ${held} bytes of decoded values held; wasm memory ${wasm} bytes, JS heap ${heap} bytes; largest renderer process ${(rendererRss() / 1e6).toFixed(0)} MB RSS`);
    if (!(wasm > 0 && wasm + heap <= 400e6)) failures.push(`wasm memory ${wasm} + JS heap ${heap} bytes, over 400 MB`);
    const rss = rendererRss();
    if (!(rss > 0 && rss <= 400e6)) failures.push(`the renderer process holds ${rss} bytes while browsing (0: not measurable), over 400 MB`);
    const hash = await text(page, '#stat-hash');
    if (!/not checked/.test(hash || '')) failures.push(`#stat-hash "${hash}"`);

    // A slice across all 4000 frames (row 100): every chunk passes through, the slice is
    // assembled, and the decoded values held stay within the budget.
    const t1 = Date.now();
    await page.selectOption('#axis', '1');
    await goToFrame(page, 100);
    const across = { label: await text(page, '#frame-label'), held: Number(await page.evaluate(() => document.body.dataset.held)), wasm: Number(await page.evaluate(() => document.body.dataset.wasmMemory)), size: await page.$eval('#heatmap', (e) => `${e.width}x${e.height}`), nodata: await text(page, '#frame-nodata') };
    // Renderer figures here include DevTools' copy of every response (Playwright enables the
    // Network domain); tests/browser/memory.mjs measures without it and asserts them.
    console.log(`# ${mode} large: row 100 across 4000 frames in ${((Date.now() - t1) / 1000).toFixed(1)} s: ${JSON.stringify(across)}; renderer ${(rendererRss() / 1e6).toFixed(0)} MB RSS (with DevTools' copies of the responses)`);
    if (across.label !== 'row 101 of 256' || across.size !== '256x4000' || across.nodata) failures.push(`the slice across frames: ${JSON.stringify(across)}`);
    if (!(across.held <= 32 * 2 ** 20 && across.wasm <= 300e6)) failures.push(`holding ${across.held} bytes of values, wasm memory ${across.wasm}, for the slice across frames`);

    // The whole .npy (1 GB): decoded in order, the hash checked, the file built in parts; the
    // page's own memory (wasm + JS heap) sampled meanwhile.
    let peak = 0;
    let rendererPeak = 0;
    const sampler = setInterval(async () => {
      const m = await page.evaluate(() => Number(document.body.dataset.wasmMemory || 0) + (performance.memory ? performance.memory.usedJSHeapSize : 0)).catch(() => 0);
      peak = Math.max(peak, m);
      rendererPeak = Math.max(rendererPeak, rendererRss());
    }, 250);
    const t0 = Date.now();
    const { saved } = await saveDownload(page, '#download', `${mode}-large.npy`, 600_000);
    clearInterval(sampler);
    const bytes = statSync(saved).size;
    const head = Buffer.alloc(10);
    const fd = openSync(saved, 'r');
    readSync(fd, head, 0, 10, 0);
    closeSync(fd);
    const headerLen = 10 + head.readUInt16LE(8);
    rmSync(saved, { force: true });
    const checked = await text(page, '#stat-hash');
    console.log(`# ${mode} large: download ${bytes} bytes in ${((Date.now() - t0) / 1000).toFixed(1)} s; page memory (wasm + JS heap) peaked at ${(peak / 1e6).toFixed(0)} MB, the largest renderer process (workers included) at ${(rendererPeak / 1e6).toFixed(0)} MB RSS (with DevTools' copies of the responses); #stat-hash "${checked}"`);
    if (bytes !== headerLen + big.original_bytes) failures.push(`the .npy has ${bytes} bytes, not ${headerLen} + ${big.original_bytes}`);
    if (checked !== big.hash) failures.push(`after the download #stat-hash "${checked}" != native "${big.hash}"`);
    if (!(peak > 0 && peak <= 400e6)) failures.push(`page memory peaked at ${peak} bytes during the download`);
    await appVisible(page, failures);
  });
}

// A server that ignores Range: the viewer reads the whole archive and says so.
const plain = Object.keys(expect).find((k) => !k.startsWith('_'));
if (plain) {
  await runTest(`${mode} ${plain} from a server without Range`, 'norange', async (page, failures) => {
    const size = statSync(join(archivesDir, plain)).size;
    const { state } = await openArchive(page, `/norange/archives/${plain}`);
    const fetchedText = await text(page, '#stat-fetched');
    if (state !== 'done') failures.push(`data-state "${state}", #error "${await text(page, '#error')}"`);
    if ((await text(page, '#stat-hash')) !== expect[plain].hash) failures.push('content hash differs');
    if (!/ignores Range/.test(fetchedText || '')) failures.push(`#stat-fetched "${fetchedText}" does not say the server ignores Range`);
    if ((await fetchedNow(page)) !== size) failures.push(`fetched ${await fetchedNow(page)} of ${size} bytes`);
  });
}

/** Value `index` (row-major) of a little-endian .npy file of f4 or f8. */
function npyValue(path, index) {
  const b = readFileSync(path);
  const headerLen = b.readUInt16LE(8);
  const descr = /'descr': '<f([48])'/.exec(b.toString('latin1', 10, 10 + headerLen));
  if (!descr) throw new Error(`${path}: not a float .npy`);
  const at = 10 + headerLen + index * Number(descr[1]);
  return descr[1] === '8' ? b.readDoubleLE(at) : b.readFloatLE(at);
}

// The field tools: colormaps, ticks, the value under the cursor (against the native .npy),
// a picked point's profile and time series, log scale, percentile range, playback speed, PNG.
const fieldName = Object.keys(expect).find((k) => !k.startsWith('_') && k.startsWith('cfd'));
if (fieldName) {
  await runTest(`${mode} tools on ${fieldName}`, 'tools', async (page, failures) => {
    const { state } = await openArchive(page, `/archives/${fieldName}&frame=3`);
    if (state !== 'done') {
      failures.push(`data-state "${state}"`);
      return;
    }
    const count = (sel) => page.$$eval(sel, (e) => e.length);
    if ((await count('#cb-ticks span')) !== 5) failures.push(`${await count('#cb-ticks span')} colour bar ticks, not 5`);
    const xTicks = await page.$$eval('#x-ticks span', (e) => e.map((s) => s.textContent));
    if (xTicks[0] !== '0' || xTicks.length < 3) failures.push(`x ticks ${JSON.stringify(xTicks)}`);
    await page.selectOption('#cmap', 'magma');
    if (!(await page.evaluate(() => location.hash)).includes('cmap=magma')) failures.push('cmap=magma not in the link');

    // The cell under the cursor: frame 3, row 10, column 20 of a 60×50×50 field.
    const box = await page.$eval('#heatmap', (c) => { const r = c.getBoundingClientRect(); return { x: r.x + c.clientLeft, y: r.y + c.clientTop, px: c.clientWidth / c.width }; });
    const [r, c] = [10, 20];
    await page.mouse.move(box.x + (c + 0.5) * box.px, box.y + (r + 0.5) * box.px);
    const cell = await page.$eval('#cursor', (e) => e.dataset.cell);
    const shown = Number(await page.$eval('#cursor', (e) => e.dataset.value));
    const want = npyValue(expect[fieldName].npy, (3 * 50 + r) * 50 + c);
    console.log(`# ${mode} tools: cursor "${await text(page, '#cursor')}", native ${want}`);
    if (cell !== `${r},${c}` || shown !== want) failures.push(`cursor cell ${cell} value ${shown}, native (${r},${c}) ${want}`);

    await page.mouse.click(box.x + (c + 0.5) * box.px, box.y + (r + 0.5) * box.px);
    const data = (sel, k) => page.$eval(sel, (e, k) => e.dataset[k], k);
    const profile = [await data('#profile', 'length'), await data('#profile', 'points')];
    const series = [await data('#series', 'length'), await data('#series', 'points')];
    if (profile.join() !== '50,50' || series.join() !== '60,60') failures.push(`profile ${profile}, series ${series} (want 50,50 and 60,60)`);
    if (!(await page.evaluate(() => location.hash)).includes(`point=${r},${c}`)) failures.push('the picked point is not in the link');

    await page.check('#log');
    await page.click('#range-pct');
    const hash = await page.evaluate(() => location.hash);
    if (!hash.includes('log=1') || !/range=[-0-9.e]+,[-0-9.e]+/.test(hash)) failures.push(`log / percentile range not in the link: ${hash}`);

    await page.selectOption('#fps', '30');
    await page.click('#play');
    await page.waitForTimeout(700);
    await page.click('#play');
    const frame = await page.$eval('#frame', (e) => Number(e.value));
    if (!(frame > 3 + 5)) failures.push(`after 0.7 s at 30 fps the frame is ${frame}`);
    if (!(await page.evaluate(() => location.hash)).includes('fps=30')) failures.push('fps=30 not in the link');

    const { download: png, saved } = await saveDownload(page, '#png', `${mode}-slice.png`, 30_000);
    const b = readFileSync(saved);
    const [w, h] = [b.readUInt32BE(16), b.readUInt32BE(20)];
    if (b.toString('latin1', 1, 4) !== 'PNG' || w !== 50 || h !== 50) failures.push(`PNG ${png.suggestedFilename()}: ${w}×${h}`);

    // Zoom twice around the picked point, read a cell of the zoomed view, pan by dragging, reset.
    await page.click('#zoom-in');
    await page.click('#zoom-in');
    const zoomed = await page.evaluate(() => /zoom=(\d+),(\d+),(\d+),(\d+)/.exec(location.hash)?.slice(1).map(Number));
    const canvasSize = () => page.$eval('#heatmap', (e) => [e.width, e.height]);
    const [zw, zh] = await canvasSize();
    if (!zoomed || zw !== zoomed[3] || zh !== zoomed[2] || !(zw < 20)) failures.push(`zoomed to ${zoomed} with a ${zw}×${zh} canvas`);
    if (zoomed) {
      const zbox = await page.$eval('#heatmap', (c) => { const r = c.getBoundingClientRect(); return { x: r.x + c.clientLeft, y: r.y + c.clientTop, px: c.clientWidth / c.width }; });
      await page.mouse.move(zbox.x + 1.5 * zbox.px, zbox.y + 0.5 * zbox.px);
      const zcell = await page.$eval('#cursor', (e) => e.dataset.cell);
      if (zcell !== `${zoomed[0]},${zoomed[1] + 1}`) failures.push(`zoomed cursor cell ${zcell}, want ${zoomed[0]},${zoomed[1] + 1}`);
      const ticks = await page.$$eval('#x-ticks span', (e) => e.map((s) => Number(s.textContent)));
      if (!(ticks.length > 0 && ticks[0] >= zoomed[1] && ticks.at(-1) < zoomed[1] + zoomed[3])) failures.push(`zoomed x ticks ${ticks}`);
      // Drag the image 2 cells left: the window moves 2 columns right (where there is room).
      await page.mouse.move(zbox.x + 5.5 * zbox.px, zbox.y + 5.5 * zbox.px);
      await page.mouse.down();
      await page.mouse.move(zbox.x + 3.5 * zbox.px, zbox.y + 5.5 * zbox.px, { steps: 4 });
      await page.mouse.up();
      const panned = await page.evaluate(() => /zoom=(\d+),(\d+),/.exec(location.hash)?.slice(1).map(Number));
      const wantC0 = Math.min(zoomed[1] + 2, 50 - zoomed[3]);
      if (!panned || panned[0] !== zoomed[0] || panned[1] !== wantC0) failures.push(`after the drag the window starts at ${panned}, want ${zoomed[0]},${wantC0}`);
    }
    await page.click('#zoom-reset');
    if ((await canvasSize()).join() !== '50,50' || (await page.evaluate(() => location.hash)).includes('zoom=')) failures.push('zoom reset did not show the whole slice');
    await appVisible(page, failures);
  });
}

// The table tools: bins, log counts, a scatter of two columns.
const tableName = Object.keys(expect).find((k) => !k.startsWith('_') && k.startsWith('hzz'));
if (tableName) {
  await runTest(`${mode} tools on ${tableName}`, 'table-tools', async (page, failures) => {
    const { state } = await openArchive(page, `/archives/${tableName}`);
    if (state !== 'done') {
      failures.push(`data-state "${state}"`);
      return;
    }
    await page.fill('#bins', '20');
    await page.dispatchEvent('#bins', 'change');
    const bins = await page.$$eval('.column-card canvas', (e) => e.map((c) => c.dataset.bins));
    if (bins.length === 0 || bins.some((b) => b !== '20')) failures.push(`histogram bins ${JSON.stringify(bins)}`);
    await page.check('#logy');
    await page.selectOption('#scatter-x', '0');
    await page.selectOption('#scatter-y', '1');
    const points = Number(await page.$eval('#scatter', (e) => e.dataset.points));
    const totals = await page.$$eval('.column-card canvas', (e) => e.map((c) => Number(c.dataset.total)));
    const hash = await page.evaluate(() => location.hash);
    console.log(`# ${mode} table tools: scatter of ${points} rows; histogram totals ${totals.join(', ')}; ${hash}`);
    if (!(points > 0 && points <= Math.max(...totals))) failures.push(`scatter shows ${points} points`);
    if (!hash.includes('bins=20') || !hash.includes('logy=1') || !hash.includes('scatter=0,1')) failures.push(`link ${hash}`);
    await appVisible(page, failures);
  });
}

// A file from disk is read in parts too (Blob.slice), and checked the same.
if (plain) {
  await runTest(`${mode} ${plain} from disk`, 'disk', async (page, failures) => {
    await page.goto(`${base}/`, { waitUntil: 'load' });
    await page.setInputFiles('#file-input', join(archivesDir, plain));
    const state = await waitState(page, ['done', 'error']);
    const hash = await text(page, '#stat-hash');
    if (state !== 'done' || hash !== expect[plain].hash) failures.push(`state "${state}", #stat-hash "${hash}", #error "${await text(page, '#error')}"`);
    const how = await text(page, '#stat-fetched');
    if (!/local file/.test(how || '')) failures.push(`#stat-fetched "${how}"`);
    await appVisible(page, failures);
  });
}

const errorCases = [
  ['not-an-archive.baler', (e) => e.includes('not a .baler archive'), 'contains "not a .baler archive"'],
  ['truncated.baler', (e) => e.length > 0, 'is non-empty'],
  ['missing.baler', (e) => e.includes('404'), 'contains "404"'],
];
for (const [file, ok, want] of errorCases) {
  await runTest(`${mode} error: ${file}`, file, async (page, failures) => {
    const { state } = await openArchive(page, `/archives/${file}`, Math.min(timeoutMs, 120_000));
    await appVisible(page, failures);
    const err = await text(page, '#error');
    if (state !== 'error') failures.push(`data-state "${state}", expected "error"`);
    if (err === null) failures.push('#error missing');
    else if (!ok(err)) failures.push(`#error "${err}" — expected it ${want}`);
    else console.log(`# ${mode} ${file}: #error "${err}"`);
  });
}

await browser.close();
server.close();
rmSync(downloadsDir, { recursive: true, force: true });
console.log(`browser (${mode}): ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
