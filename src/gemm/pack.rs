//! Packing: copy a block of A or B into the zero-padded micro-panel layout the kernels read
//! (see `kernel.rs`). Transposed and strided operands are absorbed here: the gather follows the
//! operand's strides, choosing the loop order that reads memory contiguously.

use crate::element::Element;
use crate::view::MatRef;

/// Packs the `mc × kc` block `a` into panels of `mr_max` rows at `dst`.
///
/// # Safety
/// `dst` is valid for writes of `mc.div_ceil(mr_max) * mr_max * kc` elements.
#[inline]
pub(crate) unsafe fn pack_a<T: Element>(a: MatRef<'_, T>, dst: *mut T, mr_max: usize) {
    let (mc, kc) = a.shape();
    let (rs, cs) = (a.row_stride(), a.col_stride());
    let src = a.as_ptr();
    let along_rows = cs == 1 || (rs != 1 && cs <= rs);
    for ir in (0..mc).step_by(mr_max) {
        let mr = mr_max.min(mc - ir);
        // SAFETY: panel `ir / mr_max` occupies `ir * kc .. (ir + mr_max) * kc` of the buffer.
        let panel = unsafe { dst.add(ir * kc) };
        let element = |i: usize, p: usize| {
            if i < mr {
                // SAFETY: row `ir + i < mc` and column `p < kc` lie in the validated view.
                unsafe { *src.add((ir + i) * rs + p * cs) }
            } else {
                T::ZERO
            }
        };
        if along_rows {
            // Rows of A are contiguous: walk each row along k.
            for i in 0..mr_max {
                for p in 0..kc {
                    // SAFETY: `p * mr_max + i < kc * mr_max`, inside this panel.
                    unsafe { *panel.add(p * mr_max + i) = element(i, p) };
                }
            }
        } else {
            // Columns are contiguous (a transposed operand such as xᵀ): walk each k step.
            for p in 0..kc {
                for i in 0..mr_max {
                    // SAFETY: as above.
                    unsafe { *panel.add(p * mr_max + i) = element(i, p) };
                }
            }
        }
    }
}

/// Packs the `kc × nc` block `b` into panels of `nr_max` columns at `dst`.
///
/// # Safety
/// `dst` is valid for writes of `kc * nc.div_ceil(nr_max) * nr_max` elements.
#[inline]
pub(crate) unsafe fn pack_b<T: Element>(b: MatRef<'_, T>, dst: *mut T, nr_max: usize) {
    let (kc, nc) = b.shape();
    let (rs, cs) = (b.row_stride(), b.col_stride());
    let src = b.as_ptr();
    let along_rows = cs == 1 || (rs != 1 && cs <= rs);
    for jr in (0..nc).step_by(nr_max) {
        let nr = nr_max.min(nc - jr);
        // SAFETY: panel `jr / nr_max` occupies `jr * kc .. (jr + nr_max) * kc` of the buffer.
        let panel = unsafe { dst.add(jr * kc) };
        let element = |p: usize, j: usize| {
            if j < nr {
                // SAFETY: row `p < kc` and column `jr + j < nc` lie in the validated view.
                unsafe { *src.add(p * rs + (jr + j) * cs) }
            } else {
                T::ZERO
            }
        };
        if along_rows {
            // Rows of B are contiguous: copy each k step's elements.
            for p in 0..kc {
                for j in 0..nr_max {
                    // SAFETY: `p * nr_max + j < kc * nr_max`, inside this panel.
                    unsafe { *panel.add(p * nr_max + j) = element(p, j) };
                }
            }
        } else {
            // Columns of B are contiguous (a transposed operand such as Wᵀ): walk down each.
            for j in 0..nr_max {
                for p in 0..kc {
                    // SAFETY: as above.
                    unsafe { *panel.add(p * nr_max + j) = element(p, j) };
                }
            }
        }
    }
}
