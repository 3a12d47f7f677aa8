//! Loops 2 and 1: walk the packed panels of one A block and one B block, one micro-tile at a
//! time, sending partial edge tiles through a scratch tile.

use crate::element::Element;
use crate::gemm::kernel::MicroKernel;

/// Largest `MR * NR` of any registered kernel.
pub(crate) const MAX_TILE: usize = 512;

/// Where loops 2–1 write: C at the block's origin, its strides, and the epilogue.
#[derive(Clone, Copy)]
pub(crate) struct CBlock<T> {
    /// Element `(ic, jc)` of C.
    pub(crate) ptr: *mut T,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
    /// Add to C (true) or overwrite it.
    pub(crate) load_c: bool,
    /// Bias for column `jc` onwards, or null.
    pub(crate) bias: *const T,
}

/// Computes the `mc × nc` block of C for packed `a` (mc rows) and `b` (nc columns) of depth
/// `kc`, restricted to the B panels whose first column lies in `jr_range`.
///
/// # Safety
/// - `a` holds `mc.div_ceil(MR)` packed panels of depth `kc`, `b` holds `nc.div_ceil(NR)`;
/// - `c` addresses an `mc × nc` block valid for writes (and reads when `load_c`) that no other
///   thread touches within the columns of `jr_range`; `c.bias` is null or holds `nc` elements;
/// - `jr_range` is a range of multiples of `NR` within `0..nc`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn macro_kernel<K: MicroKernel>(
    kernel: K,
    mc: usize,
    nc: usize,
    kc: usize,
    a: *const K::T,
    b: *const K::T,
    c: CBlock<K::T>,
    jr_range: core::ops::Range<usize>,
) {
    debug_assert!(K::MR * K::NR <= MAX_TILE);
    // loop 2: NR-column panels of B
    for jr in jr_range.step_by(K::NR) {
        let nr = K::NR.min(nc - jr);
        // SAFETY: panel `jr / NR` of B starts at `jr * kc`.
        let b_panel = unsafe { b.add(jr * kc) };
        let bias = if c.bias.is_null() {
            c.bias
        } else {
            // SAFETY: a non-null bias holds `nc` elements and `jr < nc`.
            unsafe { c.bias.add(jr) }
        };
        // loop 1: MR-row panels of A
        for ir in (0..mc).step_by(K::MR) {
            let mr = K::MR.min(mc - ir);
            // SAFETY: panel `ir / MR` of A starts at `ir * kc`; (ir, jr) is inside the block.
            let (a_panel, c_tile) = unsafe { (a.add(ir * kc), c.ptr.add(ir * c.rs + jr * c.cs)) };
            if mr == K::MR && nr == K::NR {
                // SAFETY: a full tile inside the block; panels and bias as established above.
                unsafe { kernel.tile(kc, a_panel, b_panel, c_tile, c.rs, c.cs, c.load_c, bias) };
            } else {
                // SAFETY: the valid `mr × nr` corner of this tile is inside the block.
                unsafe { edge_tile(kernel, kc, a_panel, b_panel, c_tile, c, bias, mr, nr) };
            }
        }
    }
}

/// A partial tile: the kernel writes a full scratch tile, then the valid `mr × nr` corner is
/// merged into C in the kernel contract's order.
///
/// # Safety
/// As `macro_kernel`, for the `mr × nr` tile at `c_tile`, with `bias` null or holding `nr`
/// elements.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn edge_tile<K: MicroKernel>(
    kernel: K,
    kc: usize,
    a_panel: *const K::T,
    b_panel: *const K::T,
    c_tile: *mut K::T,
    c: CBlock<K::T>,
    bias: *const K::T,
    mr: usize,
    nr: usize,
) {
    let mut scratch = [<K::T as Element>::ZERO; MAX_TILE];
    let s = scratch.as_mut_ptr();
    // SAFETY: the scratch tile holds MR * NR ≤ MAX_TILE elements with strides (NR, 1); the
    // panels are the caller's.
    unsafe { kernel.tile(kc, a_panel, b_panel, s, K::NR, 1, false, core::ptr::null()) };
    for i in 0..mr {
        for j in 0..nr {
            let mut out = scratch[i * K::NR + j];
            if !bias.is_null() {
                // SAFETY: j < nr and a non-null bias holds nr elements.
                out += unsafe { *bias.add(j) };
            }
            // SAFETY: (i, j) is inside the valid corner of the tile.
            let cij = unsafe { c_tile.add(i * c.rs + j * c.cs) };
            if c.load_c {
                // SAFETY: as above; `load_c` permits reading C.
                out = unsafe { *cij } + out;
            }
            // SAFETY: as above.
            unsafe { *cij = out };
        }
    }
}
