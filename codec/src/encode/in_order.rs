//! Chunks encoded and checked on the thread pool and handed on in order, a bounded number in
//! work at once: a task per chunk, started as soon as a core is free (no barrier between
//! batches, where a batch waited for its slowest chunk), the next chunk's rows read while the
//! pool works. One thread is one core: read, encode, check, hand on, one chunk after the other.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use super::chunk::EncodedChunk;
use super::{Checker, Plan};
use crate::data::Dataset;
use crate::error::{CodecError, Result};
use crate::layout::ChunkDims;

/// Encodes and checks `chunks` (without a model), handing each with its checked values' bytes to
/// `take` in order. `read(chunk)` gives the dataset the chunk is encoded from, which holds the
/// input's rows from lattice row `first_row(chunk)` on; at most `in_flight` chunks are in work
/// at once (and as many more finished, waiting for an earlier one). The error returned is the
/// first in chunk order, whether reading, encoding, checking or `take` failed.
pub(super) fn encode_in_order<S: Borrow<Dataset> + Send>(
    (plan, checker): (&Plan<'_>, &Checker),
    chunks: &[ChunkDims],
    in_flight: usize,
    mut read: impl FnMut(&ChunkDims) -> Result<S>,
    first_row: impl Fn(&ChunkDims) -> usize + Sync,
    mut take: impl FnMut(EncodedChunk, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let encode = |s: &S, c: &ChunkDims| plan.encode_checked_one(checker, s.borrow(), first_row(c), c);
    // On a worker of the pool (a caller that compresses inside a parallel loop) the loop below
    // would block a worker on the channel: there too, one chunk after the other.
    if super::batch_size() < 2 || rayon::current_thread_index().is_some() {
        for c in chunks {
            let s = read(c)?;
            // On the pool's thread (where the loop runs already on a worker): a chunk's parallel
            // loops, called from outside, would each hand their work to the pool and wait for it
            // (two wake-ups each; the caller stood idle for 13 % of a 105 MB field's time).
            let (encoded, bytes) = rayon::scope(move |_| encode(&s, c))?;
            take(encoded, bytes)?;
        }
        return Ok(());
    }
    let in_flight = in_flight.max(1);
    rayon::in_place_scope(|scope| {
        let (sender, finished) = std::sync::mpsc::channel();
        // The first failure in chunk order: (chunk, error).
        let mut failure: Option<(usize, CodecError)> = None;
        let mut ahead: Option<S> = None;
        let mut waiting = BTreeMap::new();
        let (mut started, mut handed, mut working) = (0, 0, 0);
        let encode = &encode;
        loop {
            // Start chunks while cores are free (and earlier chunks not too far behind).
            while failure.is_none()
                && working < in_flight
                && started < chunks.len()
                && started < handed + 2 * in_flight
            {
                let c = &chunks[started];
                let s = match ahead.take().map_or_else(|| read(c), Ok) {
                    Ok(s) => s,
                    Err(e) => {
                        keep_first(&mut failure, started, e);
                        break;
                    }
                };
                let (k, sender) = (started, sender.clone());
                scope.spawn(move |_| {
                    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encode(&s, c)));
                    drop(s);
                    // The receiver outlives the scope's tasks. A panic is reported first (the
                    // loop would otherwise wait for this chunk forever), then goes on to the
                    // scope, which raises it once the loop has ended.
                    match done {
                        Ok(done) => drop(sender.send((k, done))),
                        Err(panic) => {
                            let failed = CodecError::Verification(format!("chunk {k}: the encoder panicked"));
                            drop(sender.send((k, Err(failed))));
                            std::panic::resume_unwind(panic);
                        }
                    }
                });
                started += 1;
                working += 1;
            }
            // The next chunk's rows, read while the pool works.
            if failure.is_none() && ahead.is_none() && started < chunks.len() {
                match read(&chunks[started]) {
                    Ok(s) => ahead = Some(s),
                    Err(e) => keep_first(&mut failure, started, e),
                }
            }
            if working == 0 {
                break;
            }
            let (k, done) = finished.recv().expect("each task sends before it ends");
            working -= 1;
            match done {
                Ok(done) => {
                    waiting.insert(k, done);
                }
                Err(e) => keep_first(&mut failure, k, e),
            }
            while failure.is_none()
                && let Some((encoded, bytes)) = waiting.remove(&handed)
            {
                if let Err(e) = take(encoded, bytes) {
                    keep_first(&mut failure, handed, e);
                }
                handed += 1;
            }
        }
        match failure {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    })
}

/// Keeps the failure of the earliest chunk.
fn keep_first(failure: &mut Option<(usize, CodecError)>, chunk: usize, e: CodecError) {
    if failure.as_ref().is_none_or(|(at, _)| chunk < *at) {
        *failure = Some((chunk, e));
    }
}
