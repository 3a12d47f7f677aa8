//! Packing: copy a block of A or B into the zero-padded micro-panel layout the kernels read
//! (see `kernel.rs`). Transposed and strided operands are absorbed here: the gather follows the
//! operand's strides.
//!
//! Both packers walk one panel at a time and, within it, one k step at a time, writing the
//! panel sequentially. Along a k step the source is read with the operand's stride across the
//! panel (`cs` for B, `rs` for A); when that stride is 1, as for row-major B or a transposed A,
//! the step is a plain copy.

use crate::element::Element;
use crate::view::MatRef;

/// Widest panel any kernel uses.
const MAX_LANES: usize = 64;

/// Column sums gathered while packing B: `ptr` addresses the sum of the panel's first column.
#[derive(Clone, Copy)]
pub(crate) struct Sums<T> {
    pub(crate) ptr: *mut T,
    /// The first depth block: start the sums from zero rather than from what they hold.
    pub(crate) first: bool,
}

/// Copies one panel: `width` valid lanes of `kc` k steps into `panel` (`lanes` per step),
/// reading lane `l` of step `p` at `src + p * step + l * lane_stride`, zero-padding the rest.
///
/// With `sums`, also adds each valid lane's `kc` values, in order of `p`, to `sums[l]` (after
/// setting it to zero when `sums.first`).
///
/// # Safety
/// Every source address named above is readable for `p < kc`, `l < width`; `panel` is
/// writable for `kc * lanes` elements; `width <= lanes`; `sums.ptr`, if given, is valid for
/// reads and writes of `width` elements no other thread touches.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_panel<T: Element>(
    src: *const T,
    step: usize,
    lane_stride: usize,
    width: usize,
    kc: usize,
    lanes: usize,
    panel: *mut T,
    sums: Option<Sums<T>>,
) {
    if width == lanes && lane_stride == 1 {
        for p in 0..kc {
            // SAFETY: `lanes` contiguous readable elements at step p; the destination step is
            // inside the panel; source and destination never overlap (the panel buffer is
            // the crate's own).
            unsafe {
                core::ptr::copy_nonoverlapping(src.add(p * step), panel.add(p * lanes), lanes)
            };
        }
    } else if width == lanes && step == 1 {
        // Each lane is contiguous along k (a transposed operand such as Wᵀ): read one lane at
        // a time in order and scatter it into the (L1-resident) panel, rather than gathering
        // every step from `lanes` far-apart streams.
        #[cfg(target_arch = "x86_64")]
        let done = core::any::TypeId::of::<T>() == core::any::TypeId::of::<f32>()
            && lanes.is_multiple_of(4);
        #[cfg(not(target_arch = "x86_64"))]
        let done = false;
        #[cfg(target_arch = "x86_64")]
        if done {
            // SAFETY: T is f32 (checked just above), so the casts are the identity; the
            // caller's contract covers the same elements.
            unsafe {
                transpose_panel_f32(
                    src.cast::<f32>(),
                    lane_stride,
                    kc,
                    lanes,
                    panel.cast::<f32>(),
                )
            };
        }
        for l in (0..lanes).filter(|_| !done) {
            for p in 0..kc {
                // SAFETY: lane l < width of step p is readable; the destination is inside the
                // panel.
                unsafe { *panel.add(p * lanes + l) = *src.add(p + l * lane_stride) };
            }
        }
    } else if width == lanes {
        for p in 0..kc {
            for l in 0..lanes {
                // SAFETY: lane l < width of step p is readable; the destination is inside the
                // panel.
                unsafe { *panel.add(p * lanes + l) = *src.add(p * step + l * lane_stride) };
            }
        }
    } else {
        for p in 0..kc {
            for l in 0..lanes {
                let v = if l < width {
                    // SAFETY: as above.
                    unsafe { *src.add(p * step + l * lane_stride) }
                } else {
                    T::ZERO
                };
                // SAFETY: inside the panel.
                unsafe { *panel.add(p * lanes + l) = v };
            }
        }
    }
    if let Some(sums) = sums {
        // Sum the freshly packed (L1-resident) panel step by step; padding lanes add zeros.
        let mut acc = [T::ZERO; MAX_LANES];
        debug_assert!(lanes <= MAX_LANES);
        for (l, a) in acc.iter_mut().enumerate().take(width) {
            if !sums.first {
                // SAFETY: l < width elements of the caller's sums.
                *a = unsafe { *sums.ptr.add(l) };
            }
        }
        for p in 0..kc {
            for (l, a) in acc.iter_mut().enumerate().take(lanes) {
                // SAFETY: inside the panel written above.
                *a += unsafe { *panel.add(p * lanes + l) };
            }
        }
        for (l, &a) in acc.iter().enumerate().take(width) {
            // SAFETY: l < width elements of the caller's sums.
            unsafe { *sums.ptr.add(l) = a };
        }
    }
}

/// The transposing copy of [`pack_panel`] for f32 with SSE (part of the x86-64 baseline):
/// 4 × 4 blocks of (lanes, steps) are loaded as 4 rows, transposed in registers and stored as 4
/// steps.
///
/// # Safety
/// Lane `l < lanes` is readable at `src + l * lane_stride + p` for `p < kc`; `panel` is
/// writable for `kc * lanes` elements; `lanes` is a multiple of 4.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_panel_f32(
    src: *const f32,
    lane_stride: usize,
    kc: usize,
    lanes: usize,
    panel: *mut f32,
) {
    use core::arch::x86_64::*;
    let full = kc - kc % 4;
    for l0 in (0..lanes).step_by(4) {
        // SAFETY: rows l0..l0 + 4 are lanes of this panel, read at steps p0..p0 + 4 < kc;
        // each store writes steps p0..p0 + 4, lanes l0..l0 + 4, inside the panel. SSE is
        // part of the x86-64 baseline.
        unsafe {
            let row = |i: usize| src.add((l0 + i) * lane_stride);
            for p0 in (0..full).step_by(4) {
                let r0 = _mm_loadu_ps(row(0).add(p0));
                let r1 = _mm_loadu_ps(row(1).add(p0));
                let r2 = _mm_loadu_ps(row(2).add(p0));
                let r3 = _mm_loadu_ps(row(3).add(p0));
                let t0 = _mm_unpacklo_ps(r0, r1);
                let t1 = _mm_unpacklo_ps(r2, r3);
                let t2 = _mm_unpackhi_ps(r0, r1);
                let t3 = _mm_unpackhi_ps(r2, r3);
                let out = |q: usize| panel.add((p0 + q) * lanes + l0);
                _mm_storeu_ps(out(0), _mm_movelh_ps(t0, t1));
                _mm_storeu_ps(out(1), _mm_movehl_ps(t1, t0));
                _mm_storeu_ps(out(2), _mm_movelh_ps(t2, t3));
                _mm_storeu_ps(out(3), _mm_movehl_ps(t3, t2));
            }
            for p in full..kc {
                for i in 0..4 {
                    *panel.add(p * lanes + l0 + i) = *row(i).add(p);
                }
            }
        }
    }
}

/// Packs panels `panels` (indices of `mr_max`-row panels) of the `mc × kc` block `a` at
/// `dst`, which holds the whole packed block.
///
/// # Safety
/// `dst` is valid for writes of `mc.div_ceil(mr_max) * mr_max * kc` elements.
#[inline(always)]
pub(crate) unsafe fn pack_a<T: Element>(
    a: MatRef<'_, T>,
    dst: *mut T,
    mr_max: usize,
    panels: core::ops::Range<usize>,
) {
    // The rows of A are the columns of Aᵀ: its panels are exactly pack_b's on the transpose.
    // SAFETY: the same buffer size and panels, stated for the transposed block.
    unsafe { pack_b(a.t(), dst, mr_max, panels, None) }
}

/// Packs panels `panels` (indices of `nr_max`-column panels) of the `kc × nc` block `b` at
/// `dst`, which holds the whole packed block. With `sums`, also accumulates each packed
/// column's sum (`sums.ptr` addresses column 0 of the block).
///
/// # Safety
/// `dst` is valid for writes of `kc * nc.div_ceil(nr_max) * nr_max` elements; `sums.ptr`, if
/// given, is valid for `nc` elements; no other thread touches the panels of `panels` or their
/// sums.
#[inline(always)]
pub(crate) unsafe fn pack_b<T: Element>(
    b: MatRef<'_, T>,
    dst: *mut T,
    nr_max: usize,
    panels: core::ops::Range<usize>,
    sums: Option<Sums<T>>,
) {
    let (kc, nc) = b.shape();
    let (rs, cs) = (b.row_stride(), b.col_stride());
    for jr in panels.map(|panel| panel * nr_max) {
        // SAFETY: columns jr.. of the validated view, k steps along `rs`, lanes along `cs`;
        // panel `jr / nr_max` occupies `jr * kc .. (jr + nr_max) * kc` of the buffer; the sums
        // of columns jr.. are inside the caller's `nc`.
        unsafe {
            pack_panel(
                b.as_ptr().add(jr * cs),
                rs,
                cs,
                nr_max.min(nc - jr),
                kc,
                nr_max,
                dst.add(jr * kc),
                sums.map(|s| Sums {
                    ptr: s.ptr.add(jr),
                    ..s
                }),
            )
        };
    }
}
