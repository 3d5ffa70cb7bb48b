// Runs a wasm32-wasip1 program under Node's WASI with the current directory and the given
// directories pre-opened: node scripts/wasi-run.mjs PROGRAM.wasm DIR ARGS...
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv, exit } from 'node:process';

const [wasmPath, dir, ...args] = argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: ['decode', ...args], env: {}, preopens: { [dir]: dir } });
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance) ?? 0);
