// Browser decode benchmark: opens each archive in the viewer (headless Chromium) with WebGPU and
// without, and prints time to first frame, decode time and MB/s of original data as the page
// reports them (performance.now() around the codec's chunk loop).
//   node tests/browser/bench.mjs --dist dist ARCHIVE...
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const distAt = args.indexOf('--dist');
const dist = resolve(distAt >= 0 ? args[distAt + 1] : 'dist');
const archives = args.filter((_, i) => i !== distAt && i !== distAt + 1).map((a) => resolve(a));
const types = { '.html': 'text/html', '.js': 'application/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };
const server = createServer((req, res) => {
  const path = decodeURIComponent(req.url.split(/[?#]/)[0]);
  const byName = archives.find((a) => `/archives/${basename(a)}` === path);
  const file = byName ?? join(dist, path === '/' ? 'index.html' : path.replace(/\.\./g, ''));
  if (!existsSync(file)) return res.writeHead(404).end();
  res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' }).end(readFileSync(file));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;
console.log('| archive | path | first frame ms | decode ms | MB/s |');
console.log('|---|---|---|---|---|');
for (const mode of ['cpu', 'webgpu']) {
  const flags = ['--no-sandbox', '--disable-gpu', ...(mode === 'webgpu' ? ['--enable-unsafe-webgpu'] : [])];
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: flags });
  for (const a of archives) {
    const page = await browser.newPage();
    await page.goto(`${base}/#src=/archives/${basename(a)}`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 600_000 });
    const r = await page.evaluate(() => Object.fromEntries(
      ['decode-path', 'first-frame-ms', 'decode-ms', 'decode-mbps', 'error'].map((id) => [id, document.getElementById(id).textContent.trim()])));
    const path = r.error || r['decode-path'];
    console.log(`| ${basename(a)} (${mode}) | ${path} | ${r['first-frame-ms']} | ${r['decode-ms']} | ${r['decode-mbps']} |`);
    await page.close();
  }
  await browser.close();
}
server.close();
