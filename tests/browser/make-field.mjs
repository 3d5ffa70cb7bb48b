// Writes a smooth synthetic float32 field as .npy for the browser benchmark (no numpy needed):
// travelling waves plus 1 % deterministic Gaussian noise, shape T×H×W.
//   node tests/browser/make-field.mjs OUT.npy [T=400] [H=256] [W=256]   (default: 105 MB)
import { openSync, writeSync, closeSync } from 'node:fs';

const [out, T = 400, H = 256, W = 256] = process.argv.slice(2).map((a, i) => (i === 0 ? a : Number(a)));
if (!out) {
  console.error('usage: node make-field.mjs OUT.npy [T H W]');
  process.exit(2);
}
const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${T}, ${H}, ${W}), }`;
const pad = 64 - ((10 + dict.length + 1) % 64);
const header = Buffer.concat([
  Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0]),
  Buffer.from(Uint16Array.of(dict.length + pad + 1).buffer),
  Buffer.from(dict + ' '.repeat(pad % 64) + '\n'),
]);
let seed = 12345n;
function uniform() {
  seed = (seed * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
  return Number(seed >> 11n) / 2 ** 53;
}
const fd = openSync(out, 'w');
writeSync(fd, header);
const frame = new Float32Array(H * W);
for (let t = 0; t < T; t++) {
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const noise = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
      frame[y * W + x] =
        Math.sin((2 * Math.PI * x) / 64 + 0.05 * t) * Math.cos((2 * Math.PI * y) / 48 - 0.03 * t) +
        0.5 * Math.sin((2 * Math.PI * (x + y)) / 97 + 0.02 * t) + 0.01 * noise;
    }
  }
  writeSync(fd, Buffer.from(frame.buffer));
}
closeSync(fd);
console.log(`${out}: float32 ${T}×${H}×${W}, ${(T * H * W * 4 / 1e6).toFixed(1)} MB`);
