//! The WebGPU adapter: looked for once, its answer in the header and `body[data-gpu]`.

use baler_codec::network::gpu::{GpuDevice, request_adapter};

use crate::dom::{self, set_text};
use crate::session::*;

/// Checks once for a WebGPU adapter and opens its device (an adapter gives only one); records
/// the answer in `body[data-gpu]`.
pub(crate) async fn detect_gpu() -> Option<GpuDevice> {
    if let Some(known) = with_app(|a| match &a.gpu {
        Gpu::Available(d) => Some(Some(d.clone())),
        Gpu::Unavailable => Some(None),
        Gpu::NotChecked => None,
    }) {
        return known;
    }
    let navigator = web_sys::window().map(|w| w.navigator());
    let has_api = navigator
        .as_ref()
        .and_then(|n| js_sys::Reflect::get(n, &"gpu".into()).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null());
    let mut failure = None;
    let adapter = if has_api { request_adapter().await.ok() } else { None };
    let device = match &adapter {
        Some(ad) => match GpuDevice::new(ad).await {
            Ok(d) => Some(d),
            Err(e) => {
                failure = Some(e.to_string());
                None
            }
        },
        None => None,
    };
    // Another call may have finished first: keep the first answer.
    let device = with_app(|a| {
        if let Gpu::NotChecked = a.gpu {
            a.gpu = match &device {
                Some(d) => Gpu::Available(d.clone()),
                None => Gpu::Unavailable,
            };
        }
        match &a.gpu {
            Gpu::Available(d) => Some(d.clone()),
            _ => None,
        }
    });
    let status = match (&device, adapter) {
        (Some(_), Some(ad)) => {
            let info = ad.get_info();
            let kind = match info.device_type {
                wgpu::DeviceType::Cpu => "software adapter (runs on the CPU)",
                wgpu::DeviceType::IntegratedGpu => "integrated GPU",
                wgpu::DeviceType::DiscreteGpu => "discrete GPU",
                wgpu::DeviceType::VirtualGpu => "virtual GPU",
                wgpu::DeviceType::Other => "adapter",
            };
            // Browsers usually hide the adapter's name.
            if info.name.is_empty() {
                format!("WebGPU: {kind}")
            } else {
                format!("WebGPU: {}, {kind}", info.name)
            }
        }
        (_, _) if failure.is_some() => format!("WebGPU: {}; the CPU decodes", failure.unwrap_or_default()),
        _ if has_api => "WebGPU: no adapter; the CPU decodes".into(),
        _ => "WebGPU: not in this browser; the CPU decodes".into(),
    };
    set_text("gpu-status", &status);
    dom::set_body_data("gpu", if device.is_some() { "available" } else { "unavailable" });
    device
}
