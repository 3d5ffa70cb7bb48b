//! The viewer's state: the view, the archive on screen (its source, head-opened archive, section
//! cache, decode engine), the decoded chunks, and the load generation that stops stale work.

use std::cell::RefCell;
use std::rc::Rc;

use baler_codec::Archive;
use baler_codec::network::gpu::GpuDevice;

use crate::decode::{DecodeSummary, Engine};
use crate::decoded::Decoded;
use crate::scale::Window;
use crate::source::{SectionCache, Source};
use crate::state::ViewState;
use crate::worker::Pool;

/// Archives up to this size are read whole and checked at once; larger ones chunk by chunk.
pub(crate) const WHOLE_UP_TO_BYTES: u64 = 32 << 20;

/// Archives of up to this many original bytes are decoded whole (and their hash checked at
/// once) unless their file is larger than [`WHOLE_UP_TO_BYTES`].
pub(crate) const DECODED_WHOLE_UP_TO: u64 = 128 << 20;

/// Decoded values kept of a large archive (least recently used chunks dropped first): a frame's
/// chunks and their neighbours, with room to go back and forth. (128 MB let a page that had
/// browsed a while pass 400 MB of renderer memory during a download.)
pub(crate) const DECODED_BUDGET: usize = 32 << 20;

/// Compressed chunk sections kept (those fetched for frames), so that a download after
/// browsing fetches them not again. Kept small: they live in the page's memory, which never
/// shrinks (32 MB of them took a browsing page past 400 MB of renderer memory).
pub(crate) const SECTION_BUDGET: usize = 8 << 20;

#[derive(Default)]
pub(crate) enum Gpu {
    #[default]
    NotChecked,
    Available(GpuDevice),
    Unavailable,
}

/// The archive on screen.
pub(crate) struct Loaded {
    pub(crate) name: String,
    pub(crate) source: Rc<Source>,
    pub(crate) archive: Rc<Archive<'static>>,
    pub(crate) sections: SectionCache,
    /// Fetch only what the view needs (else the whole archive was decoded in order).
    pub(crate) lazy: bool,
    /// The content hash has been checked (every chunk decoded in order).
    pub(crate) verified: bool,
    /// Where its chunks are decoded.
    pub(crate) engine: Engine,
    /// Why the GPU was given up, if it failed.
    pub(crate) gpu_note: String,
    pub(crate) summary: DecodeSummary,
    pub(crate) opened_ms: f64,
    pub(crate) first_view_ms: Option<f64>,
}

#[derive(Default)]
pub(crate) struct App {
    pub(crate) view: ViewState,
    pub(crate) loaded: Option<Loaded>,
    /// An online-mode archive waiting for its model.
    pub(crate) waiting: Option<(String, Rc<Source>)>,
    /// Decoder payload of a model file the user supplied (online-mode archives).
    pub(crate) model: Option<Rc<Vec<u8>>>,
    pub(crate) decoded: Option<Decoded>,
    /// Bumped by every load: work still running for an older load stops.
    pub(crate) generation: u32,
    /// Chunk loading for the view, or a whole pass, is running.
    pub(crate) busy: bool,
    /// Download was asked for while chunks for the view were loading.
    pub(crate) download_queued: bool,
    /// When the current load began (performance.now).
    pub(crate) load_started_ms: f64,
    pub(crate) gpu: Gpu,
    /// CSS pixels per value of the heatmap drawn last, and the part of the slice it shows (none
    /// before the first).
    pub(crate) px: f64,
    pub(crate) win: Window,
    /// A drag on the heatmap: where it started (CSS px), the window then, and whether it moved.
    pub(crate) drag: Option<(f64, f64, Window, bool)>,
    /// The decoding workers, started with the page (None where they cannot run).
    pub(crate) pool: Option<Option<Rc<Pool>>>,
    /// The workers are being started.
    pub(crate) pool_starting: bool,
    pub(crate) play_timer: Option<i32>,
}

thread_local! {
    static APP: RefCell<App> = RefCell::new(App::default());
}

pub(crate) fn with_app<R>(f: impl FnOnce(&mut App) -> R) -> R {
    APP.with(|a| f(&mut a.borrow_mut()))
}

pub(crate) fn is_current(generation: u32) -> bool {
    with_app(|a| a.generation == generation)
}

/// The loaded archive and where it decodes, if `generation` is still the current load.
pub(crate) fn current(generation: u32) -> Option<(Rc<Archive<'static>>, Engine)> {
    with_app(|a| {
        let l = a.loaded.as_ref().filter(|_| a.generation == generation)?;
        Some((l.archive.clone(), l.engine.clone()))
    })
}
