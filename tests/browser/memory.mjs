// Renderer memory of the viewer on a GB-sized archive, as a user's browser has it: headless
// Chromium driven over a bare DevTools pipe that enables no Network domain. (Playwright enables
// it on every page and worker, and DevTools then keeps a copy of every response body, up to
// ~200 MB, in the renderer: e2e.mjs's figures for a slice across frames and the download carry
// that copy.)
//
//   node tests/browser/memory.mjs --dist dist --archives DIR --archive NAME --hash HEX \
//        [--limit-mb 400] [--chromium /usr/bin/chromium] [--timeout-s 600]
//
// Opens /#src=/archives/NAME from e2e.mjs's server (HTTP Range), then, sampling the largest
// renderer process's RSS (the page and its workers) every 100 ms: the first frame, the last
// frame, a slice across every frame (row 100), and the whole .npy download (decoded in order,
// written to the private file system, the content hash checked against --hash). Prints the
// peaks; exits 1 when a peak exceeds --limit-mb or a step fails.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rendererRss } from './rss.mjs';

const opts = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) opts[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['dist', 'archives', 'archive', 'hash']) {
  if (!opts[k]) {
    console.error('usage: node memory.mjs --dist DIR --archives DIR --archive NAME --hash HEX [--limit-mb 400]');
    process.exit(2);
  }
}
const limit = Number(opts['limit-mb'] || 400) * 1e6;
const timeoutMs = Number(opts['timeout-s'] || 600) * 1000;
const children = [];
const profile = mkdtempSync(join(tmpdir(), 'baler-memory-'));
async function quit(code) {
  // Chromium closed through DevTools ends its helper processes too; then the profile can go.
  const ended = (c) => c.exitCode !== null || c.signalCode !== null;
  if (typeof send === 'function' && chrome && !ended(chrome)) {
    send('Browser.close').catch(() => {});
    await new Promise((ok) => { chrome.once('exit', ok); setTimeout(ok, 5000).unref(); });
  }
  children.filter((c) => !ended(c)).forEach((c) => c.kill('SIGKILL'));
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  } catch (e) {
    console.log(`# memory: the profile ${profile} could not be removed: ${e.message}`);
  }
  process.exit(code);
}
const deadline = setTimeout(() => {
  console.log(`not ok - memory: not done within ${timeoutMs / 1000} s`);
  void quit(1);
}, timeoutMs);
deadline.unref();

// e2e.mjs's own server (Range, byte counts), started on a free port.
const server = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'e2e.mjs'), '--serve-only', '1', '--dist', opts.dist, '--archives', opts.archives], { stdio: ['ignore', 'pipe', 'inherit'] });
children.push(server);
const base = await new Promise((ok, fail) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
    if (m) ok(m[1]);
  });
  server.on('exit', () => fail(new Error('the server ended')));
});

// Chromium with DevTools on fds 3 (commands) and 4 (replies), messages ending in NUL.
var chrome = spawn(opts.chromium || '/usr/bin/chromium', [
  '--headless', '--no-sandbox', '--disable-gpu', '--remote-debugging-pipe', `--user-data-dir=${profile}`,
  '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', 'about:blank',
], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
children.push(chrome);
let nextId = 0;
const waiting = new Map();
let pending = '';
chrome.stdio[4].on('data', (d) => {
  pending += d.toString('utf8');
  let end;
  while ((end = pending.indexOf('\0')) >= 0) {
    const m = JSON.parse(pending.slice(0, end));
    pending = pending.slice(end + 1);
    if (m.id && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    }
  }
});
function send(method, params = {}, sessionId = undefined) { // eslint-disable-line no-inner-declarations
  return new Promise((ok, fail) => {
    const id = ++nextId;
    waiting.set(id, (m) => (m.error ? fail(new Error(`${method}: ${m.error.message}`)) : ok(m.result)));
    chrome.stdio[3].write(JSON.stringify({ id, method, params, sessionId }) + '\0');
  });
}
const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
// The .npy is built in the private file system and the download offered; saving it to disk is
// the browser process's work, not the renderer's: refused here.
await send('Browser.setDownloadBehavior', { behavior: 'deny' });
async function evaluate(expression) {
  const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId);
  if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
  return r.result.value;
}
async function until(expression) {
  for (;;) {
    if (await evaluate(expression)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

let peak = 0;
setInterval(() => { peak = Math.max(peak, rendererRss()); }, 100).unref();
const failures = [];
const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
/** Runs `step`, then records the renderer's peak RSS during it. */
async function measured(name, step) {
  peak = rendererRss();
  const t0 = Date.now();
  await step();
  peak = Math.max(peak, rendererRss());
  const wasm = Number(await evaluate('document.body.dataset.wasmMemory || 0'));
  console.log(`# memory: ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s, renderer peak ${mb(peak)} RSS (page wasm ${mb(wasm)})`);
  if (!(peak > 0 && peak <= limit)) failures.push(`${name}: renderer peak ${peak} bytes (0: not measurable), over ${mb(limit)}`);
}
const settled = `document.body.dataset.state !== 'decoding' && !/fetching/.test(document.getElementById('frame-label').textContent)`;
const frame = (f) => evaluate(`(() => { const e = document.getElementById('frame'); e.value = '${f}'; e.dispatchEvent(new Event('input')); })()`);
const axis = (a) => evaluate(`(() => { const e = document.getElementById('axis'); e.value = '${a}'; e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change')); })()`);

try {
  await measured('open, first frame', async () => {
    await send('Page.navigate', { url: `${base}/#src=/archives/${opts.archive}` }, sessionId);
    await until(`!!document.body && ['done', 'error'].includes(document.body.dataset.state)`);
    const state = await evaluate('document.body.dataset.state');
    if (state !== 'done') throw new Error(`data-state ${state}: ${await evaluate("document.getElementById('error').textContent")}`);
  });
  await measured('frames across the archive, to the last', async () => {
    const last = Number(await evaluate(`document.getElementById('frame').max`));
    for (let k = 1; k <= 16; k++) {
      await frame(Math.round((last * k) / 16));
      await new Promise((r) => setTimeout(r, 200));
      await until(settled);
    }
  });
  await measured('row 100 across every frame', async () => {
    await axis(1);
    await frame(100);
    await new Promise((r) => setTimeout(r, 300));
    await until(settled);
    const label = await evaluate(`document.getElementById('frame-label').textContent`);
    if (label !== 'row 101 of 256') failures.push(`the slice across frames: #frame-label "${label}"`);
  });
  await axis(0);
  await frame(0);
  await new Promise((r) => setTimeout(r, 300));
  await until(settled);
  await measured('download .npy', async () => {
    await evaluate(`document.getElementById('download').click()`);
    await new Promise((r) => setTimeout(r, 300));
    await until(`['done', 'error'].includes(document.body.dataset.state) && !/not checked/.test(document.getElementById('stat-hash').textContent)`);
    const hash = await evaluate(`document.getElementById('stat-hash').textContent`);
    if (hash !== opts.hash) failures.push(`after the download #stat-hash "${hash}" != ${opts.hash}: ${await evaluate("document.getElementById('error').textContent")}`);
  });
} catch (e) {
  failures.push(String(e.message || e));
}
clearTimeout(deadline);
if (failures.length) {
  console.log(`not ok - memory ${opts.archive}: ${failures.join('; ')}`);
  await quit(1);
}
console.log(`ok - memory ${opts.archive}: renderer within ${mb(limit)} RSS while browsing, slicing and downloading`);
await quit(0);
