// Writes a synthetic float32 field T×H×W as .npy (no numpy needed), deterministic:
//   node tests/browser/make-field.mjs OUT.npy [T=400] [H=256] [W=256] [KIND=smooth] [PERIOD=T]   (default: 105 MB)
// PERIOD: frames from PERIOD on repeat the first PERIOD (a GB-sized field in seconds, not minutes).
// KIND smooth: two long travelling waves (wavelengths 48–97 cells) plus 1 % Gaussian noise (the
//   browser benchmark's field).
// KIND sea: a sea state — eight plane waves of short wavelength (3–9 cells: under-resolved for
//   interpolation predictors) in random directions, deep-water dispersion ω ∝ √|k|, plus 0.1 %
//   noise.
import { openSync, writeSync, closeSync } from 'node:fs';

const args = process.argv.slice(2);
const [out, T = 400, H = 256, W = 256] = args.slice(0, 4).map((a, i) => (i === 0 ? a : Number(a)));
const kind = args[4] || 'smooth';
const period = Math.max(1, Math.min(T, Number(args[5] || T)));
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
const waves = [];
for (let i = 0; i < (kind === 'sea' ? 8 : 0); i++) {
  const wavelength = 3 + 6 * uniform();
  const dir = 2 * Math.PI * uniform();
  const k = (2 * Math.PI) / wavelength;
  waves.push({ kx: k * Math.cos(dir), ky: k * Math.sin(dir), w: 0.6 * Math.sqrt(k), a: 0.3 + uniform(), p: 2 * Math.PI * uniform() });
}
const fd = openSync(out, 'w');
writeSync(fd, header);
const frame = new Float32Array(H * W);
const firstFrames = [];
for (let t = 0; t < T; t++) {
  if (t >= period) {
    writeSync(fd, firstFrames[t % period]);
    continue;
  }
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const noise = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
      if (kind === 'sea') {
        let v = 0.001 * noise;
        for (const s of waves) v += s.a * Math.cos(s.kx * x + s.ky * y - s.w * t + s.p);
        frame[y * W + x] = v;
      } else {
        frame[y * W + x] =
          Math.sin((2 * Math.PI * x) / 64 + 0.05 * t) * Math.cos((2 * Math.PI * y) / 48 - 0.03 * t) +
          0.5 * Math.sin((2 * Math.PI * (x + y)) / 97 + 0.02 * t) + 0.01 * noise;
      }
    }
  }
  const bytes = Buffer.from(frame.buffer.slice(0));
  if (period < T) firstFrames.push(bytes);
  writeSync(fd, bytes);
}
closeSync(fd);
console.log(`${out}: float32 ${T}×${H}×${W}, ${(T * H * W * 4 / 1e6).toFixed(1)} MB`);
