//! `--device cpu|gpu|auto`: where training and the decoder network run. GPUs through wgpu (Vulkan,
//! Metal, DX12 — any vendor): burn's wgpu backend trains, the codec's WGSL kernel runs the decoder
//! network in the same integer arithmetic as the CPU, so GPU and CPU decodes are bit-identical.

use anyhow::Result;
use baler_codec::NetworkRunner;
use burn::prelude::Device;

/// What the user asked for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The CPU (default; repeatable training).
    #[default]
    Cpu,
    /// A GPU; an error if there is none.
    Gpu,
    /// A GPU when an adapter exists, else the CPU (with a note).
    Auto,
}

/// The device that will run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Compute {
    #[default]
    Cpu,
    /// A GPU adapter (name and graphics API, for the user).
    Gpu { adapter: String },
}

impl Compute {
    pub fn is_gpu(&self) -> bool {
        matches!(self, Compute::Gpu { .. })
    }

    /// For messages and JSON: `cpu` or `gpu (NAME, API)`.
    pub fn describe(&self) -> String {
        match self {
            Compute::Cpu => "cpu".into(),
            Compute::Gpu { adapter } => format!("gpu ({adapter})"),
        }
    }
}

/// Resolves `choice`; unless `quiet`, says on stderr which GPU was picked, or why `auto` fell
/// back to the CPU.
pub fn resolve(choice: DeviceChoice, quiet: bool) -> Result<Compute> {
    let compute = resolve_quietly(choice, quiet)?;
    if let (Compute::Gpu { .. }, false) = (&compute, quiet) {
        eprintln!("device: {}", compute.describe());
    }
    Ok(compute)
}

fn resolve_quietly(choice: DeviceChoice, quiet: bool) -> Result<Compute> {
    match choice {
        DeviceChoice::Cpu => Ok(Compute::Cpu),
        DeviceChoice::Gpu => {
            probe().map_err(|why| anyhow::anyhow!("--device gpu: {why}; use --device cpu or --device auto"))
        }
        DeviceChoice::Auto => Ok(probe().unwrap_or_else(|why| {
            if !quiet {
                eprintln!("note: {why}; using the CPU");
            }
            Compute::Cpu
        })),
    }
}

/// The process's GPU adapter, found once (the probe and the decoder share it).
#[cfg(feature = "gpu")]
fn adapter() -> Result<&'static baler_codec::network::gpu::wgpu::Adapter, String> {
    static ADAPTER: std::sync::OnceLock<Result<baler_codec::network::gpu::wgpu::Adapter, String>> =
        std::sync::OnceLock::new();
    ADAPTER
        .get_or_init(|| {
            pollster::block_on(baler_codec::network::gpu::request_adapter()).map_err(|e| match e {
                baler_codec::CodecError::Backend(why) => why,
                e => e.to_string(),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(feature = "gpu")]
fn probe() -> Result<Compute, String> {
    let adapter = adapter().map_err(|e| {
        format!(
            "no GPU adapter found ({e}); install a GPU driver with Vulkan/Metal/DX12 support (without a GPU, \
             Mesa's software Vulkan driver: apt install mesa-vulkan-drivers)"
        )
    })?;
    let info = adapter.get_info();
    let kind =
        if info.device_type == baler_codec::network::gpu::wgpu::DeviceType::Cpu { ", software" } else { "" };
    Ok(Compute::Gpu { adapter: format!("{}, {:?}{kind}", info.name, info.backend) })
}

#[cfg(not(feature = "gpu"))]
fn probe() -> Result<Compute, String> {
    Err("this baler-train was built without GPU support (build with `--features gpu`)".into())
}

/// Where an archive's decoder network runs: None = the CPU (the archive's own integer decoder);
/// on a GPU, the codec's WGSL kernel with the model uploaded.
pub fn network_on(
    compute: &Compute,
    dec: Option<&baler_codec::network::IntDecoder>,
) -> Result<Option<Box<dyn NetworkRunner>>> {
    match (compute, dec) {
        (Compute::Gpu { .. }, Some(dec)) => gpu_network(dec),
        _ => Ok(None),
    }
}

/// The device is opened (and the kernel compiled) once per process; each model is uploaded to it.
#[cfg(feature = "gpu")]
fn gpu_network(dec: &baler_codec::network::IntDecoder) -> Result<Option<Box<dyn NetworkRunner>>> {
    use baler_codec::network::gpu::{GpuDecoder, GpuDevice};
    static DEVICE: std::sync::OnceLock<Result<GpuDevice, String>> = std::sync::OnceLock::new();
    let device = DEVICE
        .get_or_init(|| {
            let adapter = adapter()?;
            pollster::block_on(GpuDevice::new(adapter)).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("GPU: {e}"))?;
    Ok(Some(Box::new(GpuDecoder::new(device, dec))))
}

#[cfg(not(feature = "gpu"))]
fn gpu_network(_: &baler_codec::network::IntDecoder) -> Result<Option<Box<dyn NetworkRunner>>> {
    anyhow::bail!("this baler-train was built without GPU support (build with `--features gpu`)")
}

/// The burn device for training: flex on the CPU, the wgpu runtime (initialised once) on a GPU.
pub fn training_device(compute: &Compute) -> anyhow::Result<Device> {
    match compute {
        Compute::Cpu => Ok(Device::flex().autodiff()),
        Compute::Gpu { .. } => Ok(burn_gpu()?.autodiff()),
    }
}

/// burn's wgpu device (initialised once per process), for training and the encoder on a GPU.
#[cfg(feature = "gpu")]
pub fn burn_gpu() -> anyhow::Result<Device> {
    static DEVICE: std::sync::OnceLock<Result<Device, String>> = std::sync::OnceLock::new();
    // The platform's own API: letting the runtime probe OpenGL too prints EGL errors on headless
    // Linux machines.
    use burn::tensor::wgpu::WgpuBackend;
    let api = if cfg!(target_os = "macos") {
        WgpuBackend::Metal
    } else if cfg!(target_os = "windows") {
        WgpuBackend::Dx12
    } else {
        WgpuBackend::Vulkan
    };
    DEVICE
        .get_or_init(|| Device::wgpu_options().graphics_api(api).init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot start burn's wgpu backend: {e}"))
}

#[cfg(not(feature = "gpu"))]
pub fn burn_gpu() -> anyhow::Result<Device> {
    anyhow::bail!("this baler-train was built without GPU support (build with `--features gpu`)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_needs_no_adapter_and_auto_always_resolves() {
        assert_eq!(resolve(DeviceChoice::Cpu, true).unwrap(), Compute::Cpu);
        assert!(resolve(DeviceChoice::Auto, true).is_ok());
        assert_eq!(Compute::Cpu.describe(), "cpu");
    }

    #[cfg(not(feature = "gpu"))]
    #[test]
    fn gpu_without_the_feature_says_how_to_get_it() {
        let e = resolve(DeviceChoice::Gpu, true).unwrap_err().to_string();
        assert!(e.contains("--features gpu") && e.contains("--device cpu"), "{e}");
    }
}
