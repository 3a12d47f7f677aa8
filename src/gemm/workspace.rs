//! Packing buffers reused across calls, one pair per thread.
//!
//! A buffer is taken out of its thread-local slot for the duration of a call and put back
//! afterwards, so a nested call on the same thread (rayon may run another job while a thread
//! waits) finds the slot empty and allocates its own instead of aliasing a buffer in use.

use core::cell::Cell;
use std::thread::LocalKey;

/// 64-byte aligned storage unit.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Chunk([u8; 64]);

thread_local! {
    /// Packed A blocks (each thread packs its own).
    pub(crate) static A_BUF: Cell<Vec<Chunk>> = const { Cell::new(Vec::new()) };
    /// Packed B panels (packed by the thread that runs loop 4 and shared).
    pub(crate) static B_BUF: Cell<Vec<Chunk>> = const { Cell::new(Vec::new()) };
    /// Column sums of B that are to be added to the caller's (see `GemmArgs::b_sums`).
    pub(crate) static S_BUF: Cell<Vec<Chunk>> = const { Cell::new(Vec::new()) };
    /// Partial products of a product split along its depth.
    pub(crate) static P_BUF: Cell<Vec<Chunk>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with a 64-byte aligned buffer of at least `elems` elements of `T`.
///
/// The buffer's content is unspecified; packing overwrites what it uses.
pub(crate) fn with_buffer<T: Copy, R>(
    slot: &'static LocalKey<Cell<Vec<Chunk>>>,
    elems: usize,
    f: impl FnOnce(*mut T) -> R,
) -> R {
    let chunks = (elems * core::mem::size_of::<T>()).div_ceil(64).max(1);
    let mut buf = slot.with(Cell::take);
    if buf.len() < chunks {
        buf = vec![Chunk([0; 64]); chunks];
    }
    let out = f(buf.as_mut_ptr().cast::<T>());
    slot.with(|s| {
        let other = s.take();
        // Keep the larger of this buffer and one a nested call may have stored meanwhile.
        s.set(if other.len() > buf.len() { other } else { buf });
    });
    out
}
