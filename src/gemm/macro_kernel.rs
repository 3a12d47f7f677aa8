//! Loops 2 and 1: walk the panels of one A block and one B block, one micro-tile at a time,
//! sending partial edge tiles through a scratch tile.
//!
//! Panels come from the packing buffers or, where packing does not pay, straight from the
//! operands ([`Operand::direct`]); partial panels at the edges are always packed, so a kernel
//! never reads past an operand. The arithmetic of a tile does not depend on where its panels
//! come from. Tiles cut short at the bottom edge go to the kernel's strip routine, which
//! computes only their valid rows; tiles with every row but fewer columns go through a scratch
//! tile.

use crate::gemm::kernel::{store_element, MicroKernel, Strides};

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

/// An operand read in place: panel `x` (a row of A, a column of B) starts at
/// `ptr + x * index`, its lanes are `lane` apart and its k steps `step` apart.
#[derive(Clone, Copy)]
pub(crate) struct Direct<T> {
    pub(crate) ptr: *const T,
    pub(crate) index: usize,
    pub(crate) lane: usize,
    pub(crate) step: usize,
}

/// The panels of one block of A or B: the packing buffer (panel `x` at `packed + x * kc`,
/// holding at least the partial last panel) and, optionally, the operand itself for full panels.
#[derive(Clone, Copy)]
pub(crate) struct Operand<T> {
    pub(crate) packed: *const T,
    pub(crate) direct: Option<Direct<T>>,
}

impl<T> Operand<T> {
    /// Panel `x` (of `width` valid lanes out of `full`): its start, lane and step strides.
    #[inline(always)]
    fn panel(&self, x: usize, width: usize, full: usize, kc: usize) -> (*const T, usize, usize) {
        match &self.direct {
            Some(d) if width == full => (d.ptr.wrapping_add(x * d.index), d.lane, d.step),
            _ => (self.packed.wrapping_add(x * kc), 1, full),
        }
    }
}

/// Computes the `mc × nc` block of C for the panels of `a` (mc rows) and `b` (nc columns) of
/// depth `kc`, restricted to the B panels whose first column lies in `jr_range`.
///
/// # Safety
/// - the packed panels of `a` and `b` that [`Operand::panel`] selects hold `kc` packed steps
///   (every panel when `direct` is `None`, else the partial last one), and direct operands
///   are readable for every full panel;
/// - `c` addresses an `mc × nc` block valid for writes (and reads when `load_c`) that no other
///   thread touches within the columns of `jr_range`; `c.bias` is null or holds `nc` elements;
/// - `jr_range` is a range of multiples of `NR` within `0..nc`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn macro_kernel<K: MicroKernel>(
    kernel: K,
    mc: usize,
    nc: usize,
    kc: usize,
    a: Operand<K::T>,
    b: Operand<K::T>,
    c: CBlock<K::T>,
    jr_range: core::ops::Range<usize>,
) {
    debug_assert!(K::MR * K::NR <= MAX_TILE);
    // loop 2: NR-column panels of B
    for jr in jr_range.step_by(K::NR) {
        let nr = K::NR.min(nc - jr);
        let (b_panel, b_lane, b_step) = b.panel(jr, nr, K::NR, kc);
        debug_assert_eq!(b_lane, 1);
        let bias = if c.bias.is_null() {
            c.bias
        } else {
            // SAFETY: a non-null bias holds `nc` elements and `jr < nc`.
            unsafe { c.bias.add(jr) }
        };
        // loop 1: MR-row panels of A
        for ir in (0..mc).step_by(K::MR) {
            let mr = K::MR.min(mc - ir);
            let (a_panel, a_lane, a_step) = a.panel(ir, mr, K::MR, kc);
            let st = Strides {
                a_lane,
                a_step,
                b_step,
            };
            // SAFETY: (ir, jr) is inside the block.
            let c_tile = unsafe { c.ptr.add(ir * c.rs + jr * c.cs) };
            if mr == K::MR && nr == K::NR {
                if st == Strides::packed(K::MR, K::NR) {
                    // SAFETY: a full tile inside the block; both panels packed for kc steps;
                    // the bias as above.
                    unsafe {
                        kernel.tile(kc, a_panel, b_panel, c_tile, c.rs, c.cs, c.load_c, bias)
                    };
                } else {
                    // SAFETY: a full tile inside the block; each panel packed or readable in
                    // place for kc steps with strides `st` (caller's contract).
                    unsafe {
                        kernel.tile_direct(
                            kc, a_panel, b_panel, st, c_tile, c.rs, c.cs, c.load_c, bias,
                        )
                    };
                }
            } else if mr < K::MR {
                // SAFETY: the mr × nr corner of a partial tile, inside the block; the panels
                // hold at least mr lanes and nr columns for kc steps (partial panels are
                // packed); the bias as above.
                unsafe {
                    kernel.strip(
                        mr, nr, kc, a_panel, b_panel, st, c_tile, c.rs, c.cs, c.load_c, bias,
                    )
                };
            } else {
                // SAFETY: the valid corner of a partial tile, inside the block; panels as
                // above (partial panels are always packed).
                unsafe { edge_tile(kernel, kc, a_panel, b_panel, st, c_tile, c, bias, mr, nr) };
            }
        }
    }
}

/// A partial tile: the kernel writes a full scratch tile, then the valid `mr × nr` corner is
/// merged into C in the kernel contract's order.
///
/// # Safety
/// As `macro_kernel`, for the `mr × nr` tile at `c_tile`, with `bias` null or holding `nr`
/// elements, and the panels readable for `kc` steps with strides `st`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn edge_tile<K: MicroKernel>(
    kernel: K,
    kc: usize,
    a_panel: *const K::T,
    b_panel: *const K::T,
    st: Strides,
    c_tile: *mut K::T,
    c: CBlock<K::T>,
    bias: *const K::T,
    mr: usize,
    nr: usize,
) {
    // Uninitialised: the kernel writes all MR × NR elements (load_c = false) before any read.
    let mut scratch = [core::mem::MaybeUninit::<K::T>::uninit(); MAX_TILE];
    let s = scratch.as_mut_ptr().cast::<K::T>();
    // SAFETY: the scratch tile holds MR * NR ≤ MAX_TILE elements with strides (NR, 1); the
    // panels are the caller's.
    unsafe {
        kernel.tile_direct(
            kc,
            a_panel,
            b_panel,
            st,
            s,
            K::NR,
            1,
            false,
            core::ptr::null(),
        )
    };
    for i in 0..mr {
        for j in 0..nr {
            // SAFETY: written by the kernel above (i < MR, j < NR).
            let acc = unsafe { scratch[i * K::NR + j].assume_init() };
            // SAFETY: (i, j) is inside the valid corner of the tile; the bias is null or holds
            // nr elements.
            unsafe { store_element(acc, bias, j, c_tile.add(i * c.rs + j * c.cs), c.load_c) };
        }
    }
}
