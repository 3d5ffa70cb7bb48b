// One dense layer of the integer decoder network (see codec/src/model.rs, which this mirrors
// operation for operation): acc = bias + Σ w·x in i32 (exact: the model is validated so that no
// sum can overflow), then for hidden layers a rounding right shift, a clamp to int16 and the
// integer LeakyReLU (skipped when an inverse GDN, `igdn.wgsl`, follows the layer); the last layer
// returns the raw accumulators. One invocation per (tile, output) pair.

struct Params {
    n_tiles: u32,
    n_in: u32,
    n_out: u32,
    is_last: u32,
    leaky_num: i32,
    // 1 when an inverse GDN follows this layer: no LeakyReLU (IntDecoder::activation).
    normed: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<i32>;
@group(0) @binding(2) var<storage, read> bias: array<i32>;
@group(0) @binding(3) var<storage, read> shifts: array<u32>;
@group(0) @binding(4) var<storage, read> layer_in: array<i32>;
@group(0) @binding(5) var<storage, read_write> layer_out: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= params.n_tiles * params.n_out) {
        return;
    }
    let t = idx / params.n_out;
    let j = idx % params.n_out;
    var acc: i32 = bias[j];
    let w0 = j * params.n_in;
    let x0 = t * params.n_in;
    for (var k: u32 = 0u; k < params.n_in; k = k + 1u) {
        acc = acc + weights[w0 + k] * layer_in[x0 + k];
    }
    if (params.is_last == 1u) {
        layer_out[idx] = acc;
        return;
    }
    let s = shifts[j];
    var y: i32 = acc;
    if (s > 0u) {
        y = (acc + (1i << (s - 1u))) >> s;
    }
    y = clamp(y, -32768i, 32767i);
    if (y < 0i && params.normed == 0u) {
        y = (y * params.leaky_num) >> 12u;
    }
    layer_out[idx] = y;
}
