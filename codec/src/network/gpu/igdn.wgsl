// Inverse GDN after a hidden dense layer, mirroring IntGdn::apply (codec/src/model.rs) operation
// for operation: per tile, over the channels-first layer output x[c·P + p],
// s = β_c + Σ_k γ_ck · ((x_k,p · x_k,p) >> 15) in i32 (validated: 0 ≤ s < 2^31), r = ⌊√s⌋ exactly,
// y = clamp(round_shift(x_c,p · r, shift_c), -32768, 32767). One invocation per (tile, c, p).

struct Params {
    n_tiles: u32,
    channels: u32,
    positions: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> beta: array<i32>;
@group(0) @binding(2) var<storage, read> gamma: array<i32>;
@group(0) @binding(3) var<storage, read> shifts: array<u32>;
@group(0) @binding(4) var<storage, read> layer_in: array<i32>;
@group(0) @binding(5) var<storage, read_write> layer_out: array<i32>;

// Exact floor square root of s < 2^31: an f32 estimate, corrected in integers. The estimate is
// capped at ⌊√(2^31 − 1)⌋ = 46340, so (x + 1)² never overflows u32 whatever sqrt returns.
fn isqrt(s: u32) -> u32 {
    var x: u32 = min(u32(sqrt(f32(s))), 46340u);
    while (x * x > s) {
        x = x - 1u;
    }
    while ((x + 1u) * (x + 1u) <= s) {
        x = x + 1u;
    }
    return x;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let width = params.channels * params.positions;
    if (idx >= params.n_tiles * width) {
        return;
    }
    let t0 = idx - idx % width;
    let c = (idx % width) / params.positions;
    let p = idx % params.positions;
    var s: i32 = beta[c];
    let g0 = c * params.channels;
    for (var k: u32 = 0u; k < params.channels; k = k + 1u) {
        let v = layer_in[t0 + k * params.positions + p];
        s = s + gamma[g0 + k] * ((v * v) >> 15u);
    }
    let r = i32(isqrt(u32(s)));
    let sh = shifts[c];
    var y: i32 = layer_in[idx] * r;
    if (sh > 0u) {
        y = (y + (1i << (sh - 1u))) >> sh;
    }
    layer_out[idx] = clamp(y, -32768i, 32767i);
}
