//! Value buffers lent between the page and its decoding workers: a chunk's `.npy` bytes travel
//! from a worker in one of these and stay there while the page needs them (the chunk store, a
//! download's write); dropped, the buffer goes back to the pool to carry another chunk. Nothing
//! is copied into the page's wasm memory, which never shrinks, and no buffer per chunk is left
//! to the garbage collector (that garbage, 8 MB a chunk, grew the renderer by hundreds of MB
//! over a GB-sized download).

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

/// Buffers back from use, to be handed to the workers again.
pub type Spare = Rc<RefCell<Vec<js_sys::ArrayBuffer>>>;

/// Spare buffers kept: two per worker of a 2-core machine's pool (a download holds one per
/// worker and one being written); more are left to the collector.
const MAX_SPARE_BUFFERS: usize = 4;

/// A chunk's values in the buffer a worker sent them in.
pub struct Lent {
    pub view: js_sys::Uint8Array,
    spare: Spare,
}

impl Lent {
    pub fn new(view: js_sys::Uint8Array, spare: Spare) -> Self {
        Self { view, spare }
    }

    pub fn len(&self) -> usize {
        self.view.length() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies bytes `range` into `into` (of the same length).
    pub fn read(&self, range: Range<usize>, into: &mut [u8]) {
        self.view.subarray(range.start as u32, range.end as u32).copy_to(into);
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let mut spare = self.spare.borrow_mut();
        if spare.len() < MAX_SPARE_BUFFERS {
            spare.push(self.view.buffer());
        }
    }
}
