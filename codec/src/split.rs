//! Whether a chunk's own parallel loops (its candidates, coders, blocks) split their work over
//! the pool: not while every thread of the pool encodes a chunk of its own. A split-off half
//! stolen by a thread that is busy with its own chunk makes the chunk that split wait for it,
//! with nothing left to steal: on two threads the 105 MB fields stood one core idle for about a
//! fifth of their time. Splitting or not, a loop gives the same result (folds merge in order).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    /// The count of chunks in work that the chunk on this thread belongs to.
    static CHUNKS_IN_WORK: RefCell<Option<Arc<AtomicUsize>>> = const { RefCell::new(None) };
}

/// The least number of items a parallel loop hands to one task (`with_min_len`): all of them,
/// so it does not split, while every thread of the pool is working on a chunk; 1 otherwise.
pub(crate) fn min_len() -> usize {
    let busy = CHUNKS_IN_WORK.with(|c| c.borrow().as_ref().map(|n| n.load(Ordering::Relaxed)));
    match busy {
        Some(busy) if busy >= rayon::current_num_threads() => usize::MAX,
        _ => 1,
    }
}

/// Runs `work`, one of `in_work` chunks being encoded at once, with this thread's loops told how
/// many that is; counts it out when done (or unwinding).
pub(crate) fn as_one_of<R>(in_work: &Arc<AtomicUsize>, work: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<AtomicUsize>>, Arc<AtomicUsize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CHUNKS_IN_WORK.with(|c| *c.borrow_mut() = self.0.take());
            self.1.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let before = CHUNKS_IN_WORK.with(|c| c.borrow_mut().replace(in_work.clone()));
    let _restore = Restore(before, in_work.clone());
    work()
}
