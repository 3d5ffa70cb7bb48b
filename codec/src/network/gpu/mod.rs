//! The decoder network on a GPU through wgpu: native (Vulkan, Metal, DX12) and WebGPU in the
//! browser run the same WGSL kernels (`dense.wgsl`, and `igdn.wgsl` for inverse GDN), which perform
//! exactly the integer operations of [`IntDecoder::predict_acc`], so GPU and CPU decodes give
//! identical bits. Only the integer part runs here; the exact power-of-two scaling to f64 stays on
//! the CPU ([`IntDecoder::outputs`]).

pub use wgpu;
use wgpu::util::DeviceExt;

use crate::error::{CodecError, Result};
use crate::network::int_decoder::{IntDecoder, clamp_activation};

const SHADER: &str = include_str!("dense.wgsl");
const IGDN_SHADER: &str = include_str!("igdn.wgsl");
const WORKGROUP: u32 = 64;
/// Largest activation buffer one dispatch batch uses; tiles beyond it go in further batches, so
/// a chunk of any size fits every device's storage-buffer limit (WebGPU's default is 128 MiB).
const BATCH_BYTES: usize = 32 << 20;

/// Which adapter ran, for the user.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    /// A software rasterizer (SwiftShader, lavapipe) rather than a GPU.
    pub fallback: bool,
}

struct GpuLayer {
    weights: wgpu::Buffer,
    bias: wgpu::Buffer,
    shifts: wgpu::Buffer,
    n_in: u32,
    n_out: u32,
    /// The inverse GDN that follows this (hidden) layer instead of LeakyReLU.
    norm: Option<GpuNorm>,
}

struct GpuNorm {
    beta: wgpu::Buffer,
    gamma: wgpu::Buffer,
    shifts: wgpu::Buffer,
    channels: u32,
    positions: u32,
}

/// An opened GPU device with the compiled kernels. Open one per adapter and keep it: WebGPU lets
/// an adapter create a single device.
#[derive(Clone)]
pub struct GpuDevice {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::ComputePipeline,
    norm_pipeline: wgpu::ComputePipeline,
    pub adapter: AdapterSummary,
}

/// A decoder network uploaded to a GPU device.
pub struct GpuDecoder {
    gpu: GpuDevice,
    layers: Vec<GpuLayer>,
    latent_dim: usize,
    leaky_num: i32,
    widest: usize,
}

fn gpu_err(what: &str, e: impl std::fmt::Display) -> CodecError {
    CodecError::Backend(format!("{what}: {e}"))
}

fn le_bytes_i32(v: impl IntoIterator<Item = i32>) -> Vec<u8> {
    v.into_iter().flat_map(i32::to_le_bytes).collect()
}

/// The first adapter wgpu offers (WebGPU in a browser; Vulkan/Metal/DX12 natively), or an error
/// saying there is none.
/// The APIs tried are WebGPU in a browser and Vulkan, Metal or DX12 natively (not OpenGL, whose
/// probing is noisy and slow); `WGPU_BACKEND` (e.g. `vulkan`, `gl`) overrides them, as in other
/// wgpu programs.
pub async fn request_adapter() -> Result<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
    let instance = wgpu::Instance::new(desc);
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| CodecError::Backend(e.to_string()))
}

impl GpuDevice {
    /// Opens a device on `adapter` and compiles the kernels.
    pub async fn new(adapter: &wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            fallback: info.device_type == wgpu::DeviceType::Cpu,
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("baler decoder"),
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| gpu_err("cannot open the GPU device", e))?;
        let compile = |label: &str, source: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let pipeline = compile("dense.wgsl", SHADER);
        let norm_pipeline = compile("igdn.wgsl", IGDN_SHADER);
        Ok(Self { device, queue, pipeline, norm_pipeline, adapter: summary })
    }
}

impl GpuDecoder {
    /// Uploads `dec` (validated) to `gpu`.
    pub fn new(gpu: &GpuDevice, dec: &IntDecoder) -> Self {
        let device = &gpu.device;
        let storage = wgpu::BufferUsages::STORAGE;
        let init = |label: &str, contents: &[u8], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
        };
        let layers = dec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| GpuLayer {
                weights: init("weights", &le_bytes_i32(l.weights.iter().map(|&w| w as i32)), storage),
                bias: init("bias", &le_bytes_i32(l.bias.iter().copied()), storage),
                shifts: init("shifts", &le_bytes_i32(l.shifts.iter().map(|&s| s as i32)), storage),
                n_in: l.in_dim,
                n_out: l.out_dim,
                norm: dec.norm(i).map(|g| GpuNorm {
                    beta: init("gdn beta", &le_bytes_i32(g.beta.iter().copied()), storage),
                    gamma: init("gdn gamma", &le_bytes_i32(g.gamma.iter().map(|&v| v as i32)), storage),
                    shifts: init("gdn shifts", &le_bytes_i32(g.shifts.iter().map(|&s| s as i32)), storage),
                    channels: g.channels,
                    positions: l.out_dim / g.channels,
                }),
            })
            .collect();
        let widest = dec.layers.iter().map(|l| l.out_dim as usize).max().unwrap_or(0).max(dec.latent_dim());
        Self { gpu: gpu.clone(), layers, latent_dim: dec.latent_dim(), leaky_num: dec.leaky_num, widest }
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.gpu.adapter
    }

    /// The last layer's accumulators for `n` tiles' latents: the same integers as
    /// [`IntDecoder::predict_acc`].
    pub async fn predict_acc(&self, latents: &[i32], n: usize) -> Result<Vec<i32>> {
        if latents.len() != n * self.latent_dim {
            return Err(CodecError::Backend("latent buffer size".into()));
        }
        let out_dim = self.layers.last().map_or(0, |l| l.n_out as usize);
        let batch = (BATCH_BYTES / (self.widest * 4)).max(1);
        let mut out = Vec::with_capacity(n * out_dim);
        for first in (0..n).step_by(batch) {
            let count = batch.min(n - first);
            let part = &latents[first * self.latent_dim..(first + count) * self.latent_dim];
            out.extend(self.run_batch(part, count).await?);
        }
        Ok(out)
    }

    async fn run_batch(&self, latents: &[i32], n: usize) -> Result<Vec<i32>> {
        let size = (n * self.widest * 4).max(4) as u64;
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let mut input = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("activations a"),
            size,
            usage,
            mapped_at_creation: false,
        });
        let mut output = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("activations b"),
            size,
            usage,
            mapped_at_creation: false,
        });
        self.gpu.queue.write_buffer(&input, 0, &le_bytes_i32(latents.iter().map(|&l| clamp_activation(l))));
        let last = self.layers.len() - 1;
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        for (i, layer) in self.layers.iter().enumerate() {
            let normed = layer.norm.is_some() as u32;
            let params =
                [n as u32, layer.n_in, layer.n_out, (i == last) as u32, self.leaky_num as u32, normed, 0, 0];
            let buffers = [&layer.weights, &layer.bias, &layer.shifts, &input, &output];
            let count = n as u64 * layer.n_out as u64;
            self.dispatch(&mut encoder, &self.gpu.pipeline, &params, buffers, count);
            std::mem::swap(&mut input, &mut output);
            if let Some(g) = &layer.norm {
                // `input` holds the layer's output now: normalize it into `output`, then swap again.
                let params = [n as u32, g.channels, g.positions, 0];
                let buffers = [&g.beta, &g.gamma, &g.shifts, &input, &output];
                self.dispatch(&mut encoder, &self.gpu.norm_pipeline, &params, buffers, count);
                std::mem::swap(&mut input, &mut output);
            }
        }
        let out_bytes = (n * self.layers[last].n_out as usize * 4) as u64;
        let readback = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: out_bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        // After the last swap, `input` holds the last layer's output.
        encoder.copy_buffer_to_buffer(&input, 0, &readback, 0, out_bytes);
        self.gpu.queue.submit([encoder.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        readback.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.gpu.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| gpu_err("GPU wait", e))?;
        rx.await
            .map_err(|_| CodecError::Backend("the GPU dropped the readback".into()))?
            .map_err(|e| gpu_err("reading the GPU result", e))?;
        let view = readback.get_mapped_range(..).map_err(|e| gpu_err("reading the GPU result", e))?;
        let acc = view
            .chunks_exact(4)
            .take(out_bytes as usize / 4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        drop(view);
        readback.unmap();
        Ok(acc)
    }

    /// Records one kernel dispatch of `count` invocations: binding 0 is a uniform holding
    /// `params`, bindings 1–5 are `buffers`.
    fn dispatch(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        params: &[u32],
        buffers: [&wgpu::Buffer; 5],
        count: u64,
    ) {
        // A uniform buffer per dispatch, not per layer: chunks decoded on several threads share
        // this decoder, and a shared one could be rewritten before a dispatch reads it.
        let params = self.gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: &le_bytes_i32(params.iter().map(|&p| p as i32)),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut entries = vec![entry(0, &params)];
        entries.extend((1..).zip(buffers).map(|(b, buf)| entry(b, buf)));
        let bind = self.gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        // At most 65535 workgroups along x; the kernels fold y back into one index.
        let groups = count.div_ceil(WORKGROUP as u64);
        let x = groups.min(65535) as u32;
        let y = groups.div_ceil(x.max(1) as u64) as u32;
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(x.max(1), y.max(1), 1);
    }
}

/// Native decoders block on the GPU (wgpu's poll waits for the work), so chunks decoded on
/// several threads can share one device.
#[cfg(not(target_arch = "wasm32"))]
impl crate::network::NetworkRunner for GpuDecoder {
    fn predict_acc(&self, latents: &[i32], n: usize) -> Result<Vec<i32>> {
        pollster::block_on(GpuDecoder::predict_acc(self, latents, n))
    }
}

fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry { binding, resource: buffer.as_entire_binding() }
}
