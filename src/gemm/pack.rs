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

/// Copies one panel: `width` valid lanes of `kc` k steps into `panel` (`lanes` per step),
/// reading lane `l` of step `p` at `src + p * step + l * lane_stride`, zero-padding the rest.
///
/// # Safety
/// Every source address named above is readable for `p < kc`, `l < width`; `panel` is
/// writable for `kc * lanes` elements; `width <= lanes`.
#[inline(always)]
unsafe fn pack_panel<T: Element>(
    src: *const T,
    step: usize,
    lane_stride: usize,
    width: usize,
    kc: usize,
    lanes: usize,
    panel: *mut T,
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
}

/// Packs the `mc × kc` block `a` into panels of `mr_max` rows at `dst`.
///
/// # Safety
/// `dst` is valid for writes of `mc.div_ceil(mr_max) * mr_max * kc` elements.
#[inline(always)]
pub(crate) unsafe fn pack_a<T: Element>(a: MatRef<'_, T>, dst: *mut T, mr_max: usize) {
    let (mc, kc) = a.shape();
    let (rs, cs) = (a.row_stride(), a.col_stride());
    for ir in (0..mc).step_by(mr_max) {
        // SAFETY: rows ir.. of the validated view, k steps along `cs`, lanes along `rs`;
        // panel `ir / mr_max` occupies `ir * kc .. (ir + mr_max) * kc` of the buffer.
        unsafe {
            pack_panel(
                a.as_ptr().add(ir * rs),
                cs,
                rs,
                mr_max.min(mc - ir),
                kc,
                mr_max,
                dst.add(ir * kc),
            )
        };
    }
}

/// Packs the `kc × nc` block `b` into panels of `nr_max` columns at `dst`.
///
/// # Safety
/// `dst` is valid for writes of `kc * nc.div_ceil(nr_max) * nr_max` elements.
#[inline(always)]
pub(crate) unsafe fn pack_b<T: Element>(b: MatRef<'_, T>, dst: *mut T, nr_max: usize) {
    let (kc, nc) = b.shape();
    let (rs, cs) = (b.row_stride(), b.col_stride());
    for jr in (0..nc).step_by(nr_max) {
        // SAFETY: columns jr.. of the validated view, k steps along `rs`, lanes along `cs`;
        // panel `jr / nr_max` occupies `jr * kc .. (jr + nr_max) * kc` of the buffer.
        unsafe {
            pack_panel(
                b.as_ptr().add(jr * cs),
                rs,
                cs,
                nr_max.min(nc - jr),
                kc,
                nr_max,
                dst.add(jr * kc),
            )
        };
    }
}
