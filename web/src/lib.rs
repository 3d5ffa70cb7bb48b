//! baler-web: the browser viewer. Opens `.baler` archives from disk, by drag and drop or from a
//! `#src=<url>` link, decodes them with the same `baler-codec` code as the CLI (the decoder
//! network on WebGPU when present), shows frames, volume slices and table histograms, and
//! downloads the data as `.npy`.

pub mod colormap;
pub mod decoded;
pub mod scale;
pub mod state;

#[cfg(target_arch = "wasm32")]
mod adapter;
#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
pub mod decode;
#[cfg(target_arch = "wasm32")]
mod describe;
#[cfg(target_arch = "wasm32")]
mod display;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
pub mod lent;
#[cfg(target_arch = "wasm32")]
mod loading;
#[cfg(target_arch = "wasm32")]
mod plots;
#[cfg(target_arch = "wasm32")]
mod render;
#[cfg(target_arch = "wasm32")]
mod session;
#[cfg(target_arch = "wasm32")]
pub mod source;
#[cfg(target_arch = "wasm32")]
mod tools;
#[cfg(target_arch = "wasm32")]
pub mod worker;

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start_viewer() {
    // Test binaries run this too, also under Node: only a page starts the viewer.
    let on_page =
        web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("app")).is_some();
    if on_page {
        app::start();
    }
}
