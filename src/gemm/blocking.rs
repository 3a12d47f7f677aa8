//! Loops 5–3 of the blocked GEMM: B blocks of `NC` columns (loop 5), depth blocks of `KC`
//! (loop 4, packing B once per block), A blocks of `MC` rows (loop 3, packing A), and the
//! split of that work across threads.
//!
//! Every output element is the same sequence of operations whatever the thread count, the
//! orientation chosen or whether panels were packed: the depth blocking (`KC`, which shapes
//! each element's sum) depends on `k` alone, packing only copies, and threads never share an
//! output element. Results are therefore bitwise identical for any number of threads.

use crate::gemm::kernel::{MicroKernel, Strides};
use crate::gemm::macro_kernel::{macro_kernel, CBlock, Direct, Operand};
use crate::gemm::pack::{pack_a, pack_b, Sums};
use crate::gemm::workspace::{with_buffer, A_BUF, B_BUF, S_BUF};
use crate::gemm::GemmArgs;
use crate::parallel::{for_each_index, Disjoint};
use crate::view::{MatMut, MatRef};
use crate::Accum;

/// Below this many multiply-adds (m·n·k) a call stays on the calling thread: a fork-join would
/// cost more than it saves.
pub(crate) const PAR_THRESHOLD: usize = 128 * 128 * 64;

/// Up to this many rows of C, B is read in place rather than packed: each packed B element
/// would be reused too few times to repay the copy.
const DIRECT_B_MAX_M: usize = 24;

/// Up to this many rows, B is still read in place when it is small enough to stay in cache
/// across the row blocks (at most `DIRECT_SMALL_B_ELEMS` elements).
const DIRECT_SMALL_B_MAX_M: usize = 64;
const DIRECT_SMALL_B_ELEMS: usize = 1 << 20;

/// Whether a `k × n` B multiplied by `m` rows is read in place (if its layout allows).
fn b_in_place(m: usize, k: usize, n: usize) -> bool {
    m <= DIRECT_B_MAX_M
        || (m <= DIRECT_SMALL_B_MAX_M && k.saturating_mul(n) <= DIRECT_SMALL_B_ELEMS)
}

/// Up to this many rows of C (and always below a tile's `MR`), the product is computed in
/// strips over B (see `strips`) rather than in tiles: a strip of 8 rows keeps 8 accumulator
/// chains going and reads B once, where tiles would pack B or waste rows.
const STRIP_MAX_M: usize = 8;

/// Up to this many rows of C, threads split the columns of the whole product (see
/// `gemm_loop`).
const COLUMN_SPLIT_MAX_M: usize = 96;

/// Up to this many columns of C, A is read in place rather than packed.
const DIRECT_A_MAX_N: usize = 64;

/// Splits `len` into the fewest blocks of at most `max`, of equal size rounded up to `align`.
fn balanced_block(len: usize, max: usize, align: usize) -> usize {
    let blocks = len.div_ceil(max).max(1);
    len.div_ceil(blocks)
        .next_multiple_of(align)
        .min(max.max(align))
}

/// `Some(direct)` when panels of `x` (a block of A with `lane = rs, step = cs`, or of B with
/// `lane = cs, step = rs`) may be read in place.
fn direct<T>(x: MatRef<'_, T>, index: usize, lane: usize, step: usize) -> Direct<T> {
    Direct {
        ptr: x.as_ptr(),
        index,
        lane,
        step,
    }
}

/// Runs the loop nest for kernel `K` on validated, non-empty operands (`m, n, k > 0`).
pub(crate) fn gemm_loop<K: MicroKernel>(kernel: K, args: GemmArgs<'_, K::T>) {
    let (m, n) = (args.a.rows(), args.b.cols());
    // A small batch against a transposed B (dx = dy·Wᵀ): solve Cᵀ = Bᵀ·Aᵀ instead, so the
    // large operand is read in place as A and the small one packed as B. The products and
    // their order are unchanged, so are the bits.
    let few_rows = (m < K::MR || m <= STRIP_MAX_M) && args.b_sums.is_none();
    if !few_rows
        && m < n
        && b_in_place(m, args.a.cols(), n)
        && args.b.col_stride() != 1
        && args.bias.is_none()
        && args.b_sums.is_none()
    {
        // (A pre-packed B is not needed: B becomes A and is read in place.)
        let GemmArgs {
            a,
            b,
            c,
            accum,
            par,
            ..
        } = args;
        return gemm_loop(
            kernel,
            GemmArgs {
                a: b.t(),
                b: a.t(),
                c: c.t(),
                accum,
                bias: None,
                b_sums: None,
                b_packed: None,
                par,
            },
        );
    }

    let GemmArgs {
        a,
        b,
        mut c,
        accum,
        bias,
        b_sums,
        b_packed,
        par,
    } = args;
    let k = a.cols();
    // A pre-packed B is used only if it is exactly what this kernel would pack.
    let b_packed = b_packed
        .filter(|p| p.len() == k * n.next_multiple_of(K::NR) && b_sums.is_none())
        .map(<[K::T]>::as_ptr);
    debug_assert!(m > 0 && n > 0 && k > 0);
    let work = m.saturating_mul(n).saturating_mul(k);
    let threads = if work >= PAR_THRESHOLD {
        par.threads()
    } else {
        1
    };

    // Few rows: give each thread its own slice of columns and run the whole nest on it
    // sequentially, with one fork-join per call instead of two per depth block. Each thread
    // packs its own B columns; the small A is packed by each.
    let panels = n.div_ceil(K::NR);
    if threads > 1 && m <= COLUMN_SPLIT_MAX_M && panels >= 2 && (b_packed.is_none() || few_rows) {
        let tasks = threads.min(panels);
        let width = panels.div_ceil(tasks) * K::NR;
        let (rs, cs) = (c.row_stride(), c.col_stride());
        let shared = Disjoint::new((c.as_mut_ptr(), b_sums.map(|(s, a)| (s.as_mut_ptr(), a))));
        for_each_index(threads, tasks, |t| {
            let (c_ptr, sums) = shared.get();
            let j0 = (t * width).min(n);
            let w = width.min(n - j0);
            if w == 0 {
                return;
            }
            // SAFETY: columns j0..j0 + w of the validated C (and of the sums) belong to this
            // task alone; the view keeps C's strides.
            let (c_part, sums_part) = unsafe {
                (
                    MatMut::from_raw_parts(c_ptr.add(j0 * cs), m, w, rs, cs),
                    sums.map(|(p, a)| (core::slice::from_raw_parts_mut(p.add(j0), w), a)),
                )
            };
            gemm_loop(
                kernel,
                GemmArgs {
                    a,
                    b: b.block(0, j0, k, w),
                    c: c_part,
                    accum,
                    bias: bias.map(|bias| &bias[j0..j0 + w]),
                    b_sums: sums_part,
                    b_packed: None,
                    par: crate::Parallelism::Sequential,
                },
            );
        });
        return;
    }

    if few_rows {
        strips(kernel, a, b, c, accum, bias);
        return;
    }

    // Rows of B a multiple of 1 KiB apart fall into a handful of L1 sets, so a micro-panel read
    // in place by several row blocks would keep evicting itself: pack those, unless a single
    // row block reads each panel once anyway.
    let b_row_bytes = b.row_stride() * core::mem::size_of::<K::T>();
    let direct_b = b_in_place(m, k, n)
        && b.col_stride() == 1
        && (m <= K::MR || !b_row_bytes.is_multiple_of(1024))
        && b_sums.is_none()
        && b_packed.is_none();
    let direct_a = n <= DIRECT_A_MAX_N;
    let kc = balanced_block(k, K::KC, 1);
    let nc = balanced_block(n, K::NC, K::NR);
    // With several threads, cut M so that every thread gets an A block of its own.
    let mc = if threads > 1 {
        K::MC.min(m.div_ceil(threads).next_multiple_of(K::MR))
    } else {
        K::MC
    };
    let (rs, cs) = (c.row_stride(), c.col_stride());
    let c_ptr = c.as_mut_ptr();

    // Column sums of B go straight to the caller's slice, or, when they are to be added to it,
    // to a scratch slice first so the sums keep the same bits either way.
    let (sums_out, sums_add): (*mut K::T, Option<&mut [K::T]>) = match b_sums {
        Some((sums, Accum::Overwrite)) => (sums.as_mut_ptr(), None),
        Some((sums, Accum::Add)) => (core::ptr::null_mut(), Some(sums)),
        None => (core::ptr::null_mut(), None),
    };
    let scratch_len = if sums_add.is_some() { n } else { 0 };
    with_buffer::<K::T, _>(&S_BUF, scratch_len, |scratch| {
        let sums_ptr = if sums_add.is_some() {
            scratch
        } else {
            sums_out
        };
        let b_buf_len = if b_packed.is_some() {
            0
        } else {
            kc * nc.next_multiple_of(K::NR)
        };
        with_buffer::<K::T, _>(&B_BUF, b_buf_len, |b_buf| {
            // loop 5: NC-column blocks of B and C
            for jc in (0..n).step_by(nc) {
                let ncur = nc.min(n - jc);
                // loop 4: KC-deep blocks of A and B
                for pc in (0..k).step_by(kc) {
                    let kcur = kc.min(k - pc);
                    let b_block = b.block(pc, jc, kcur, ncur);
                    let panels = ncur.div_ceil(K::NR);
                    // In place, only a partial last panel needs packing.
                    let first_packed = if direct_b { ncur / K::NR } else { 0 };
                    let sums = (!sums_ptr.is_null()).then(|| Sums {
                        // SAFETY: jc < n, inside the n sums.
                        ptr: unsafe { sums_ptr.add(jc) },
                        first: pc == 0,
                    });
                    let to_pack = if b_packed.is_some() {
                        0
                    } else {
                        panels - first_packed
                    };
                    let pack_tasks = if threads > 1 { threads.min(to_pack) } else { 1 };
                    let per_task = to_pack.div_ceil(pack_tasks.max(1));
                    let pack_shared = Disjoint::new((b_buf, sums));
                    for_each_index(threads, pack_tasks, |t| {
                        let (b_buf, sums) = pack_shared.get();
                        let lo = (first_packed + t * per_task).min(panels);
                        let hi = (first_packed + (t + 1) * per_task).min(panels);
                        // SAFETY: the buffer holds kc * round_up(nc, NR) ≥ what this block
                        // packs; each task packs (and sums) its own panels.
                        unsafe { pack_b(b_block, b_buf, K::NR, lo..hi, sums) };
                    });
                    let b_op = Operand {
                        packed: match b_packed {
                            // SAFETY: the pre-packed B holds k * round_up(n, NR) elements
                            // (checked above) in `pack_b_whole`'s layout, where this block
                            // starts at k * jc + pc * round_up(ncur, NR).
                            Some(p) => unsafe { p.add(k * jc + pc * ncur.next_multiple_of(K::NR)) },
                            None => b_buf.cast_const(),
                        },
                        direct: direct_b.then(|| {
                            direct(b_block, b_block.col_stride(), 1, b_block.row_stride())
                        }),
                    };
                    let bias_ptr = match bias {
                        Some(bias) if pc == 0 => bias[jc..].as_ptr(),
                        _ => core::ptr::null(),
                    };
                    let cblock = CBlock {
                        // SAFETY: jc < n, a column of the validated C view.
                        ptr: unsafe { c_ptr.add(jc * cs) },
                        rs,
                        cs,
                        load_c: pc > 0 || accum == Accum::Add,
                        bias: bias_ptr,
                    };
                    let shared = Disjoint::new((cblock, b_op));
                    // Packs (the needed panels of) rows ic..ic+mcur of this depth block of A.
                    let a_operand = |ic: usize, mcur: usize, a_buf: *mut K::T| {
                        let a_block = a.block(ic, pc, mcur, kcur);
                        let first = if direct_a { mcur / K::MR } else { 0 };
                        // SAFETY: the buffer holds mc * kc elements, enough for a padded
                        // mcur × kcur block (mc is a multiple of MR).
                        unsafe { pack_a(a_block, a_buf, K::MR, first..mcur.div_ceil(K::MR)) };
                        Operand {
                            packed: a_buf.cast_const(),
                            direct: direct_a.then(|| {
                                direct(
                                    a_block,
                                    a_block.row_stride(),
                                    a_block.row_stride(),
                                    a_block.col_stride(),
                                )
                            }),
                        }
                    };
                    let n_ic = m.div_ceil(mc);
                    if n_ic >= threads {
                        // loop 3 in parallel: each task packs and computes its own rows of C.
                        for_each_index(threads, n_ic, |blk| {
                            let (cblock, b_op) = shared.get();
                            let ic = blk * mc;
                            let mcur = mc.min(m - ic);
                            with_buffer::<K::T, _>(&A_BUF, mc * kcur, |a_buf| {
                                let a_op = a_operand(ic, mcur, a_buf);
                                // SAFETY: rows ic..ic+mcur of C belong to this task alone; A
                                // and B are packed or readable in place.
                                unsafe {
                                    let cblock = CBlock {
                                        ptr: cblock.ptr.add(ic * rs),
                                        ..cblock
                                    };
                                    macro_kernel(
                                        kernel,
                                        mcur,
                                        ncur,
                                        kcur,
                                        a_op,
                                        b_op,
                                        cblock,
                                        0..ncur,
                                    );
                                }
                            });
                        });
                    } else {
                        // Too few rows to go round: pack A once, split the B panels.
                        for ic in (0..m).step_by(mc) {
                            let mcur = mc.min(m - ic);
                            with_buffer::<K::T, _>(&A_BUF, mc * kcur, |a_buf| {
                                let a_op = Disjoint::new(a_operand(ic, mcur, a_buf));
                                let panels = ncur.div_ceil(K::NR);
                                let tasks = threads.min(panels);
                                let per_task = panels.div_ceil(tasks) * K::NR;
                                for_each_index(threads, tasks, |t| {
                                    let (cblock, b_op) = shared.get();
                                    let jr0 = (t * per_task).min(ncur);
                                    let jr1 = ((t + 1) * per_task).min(ncur);
                                    // SAFETY: A and B are packed or readable in place; the
                                    // columns jr0..jr1 of rows ic..ic+mcur belong to this
                                    // task alone.
                                    unsafe {
                                        let cblock = CBlock {
                                            ptr: cblock.ptr.add(ic * rs),
                                            ..cblock
                                        };
                                        macro_kernel(
                                            kernel,
                                            mcur,
                                            ncur,
                                            kcur,
                                            a_op.get(),
                                            b_op,
                                            cblock,
                                            jr0..jr1,
                                        );
                                    }
                                });
                            });
                        }
                    }
                }
            }
        });
        if let Some(sums) = sums_add {
            for (j, s) in sums.iter_mut().enumerate() {
                // SAFETY: the scratch holds the n sums written above.
                *s += unsafe { *sums_ptr.add(j) };
            }
        }
    });
}

/// Columns of B copied at a time by [`strips`] when B's rows are not contiguous.
const STRIP_COPY_WIDTH: usize = 64;

/// `C (=|+=) A·B + bias` for an A of few rows (`STRIP_MAX_M`, or fewer than `MR`): strips of
/// all the rows, one per depth block and column chunk. A tile would spend most of its
/// multiply-adds on padding rows, and packing B into panels would cost as much as the
/// product. A row-major B is streamed in place (one chunk of all the columns); any other B
/// (such as Wᵀ) is copied `STRIP_COPY_WIDTH` columns at a time into a cache-resident
/// row-major block, each chunk through every depth block before the next, so the rows of Wᵀ's
/// storage are read in one sweep. The depth blocks are those of the tiled path, and so are
/// the bits.
fn strips<K: MicroKernel>(
    kernel: K,
    a: MatRef<'_, K::T>,
    b: MatRef<'_, K::T>,
    mut c: MatMut<'_, K::T>,
    accum: Accum,
    bias: Option<&[K::T]>,
) {
    let (m, k) = a.shape();
    let n = b.cols();
    debug_assert!(c.shape() == (m, n));
    let kc = balanced_block(k, K::KC, 1);
    let (rs, cs) = (c.row_stride(), c.col_stride());
    let c_ptr = c.as_mut_ptr();
    let in_place = b.col_stride() == 1;
    let buf_len = if in_place { 0 } else { kc * STRIP_COPY_WIDTH };
    let width = if in_place { n } else { STRIP_COPY_WIDTH };
    with_buffer::<K::T, _>(&B_BUF, buf_len, |buf| {
        for j0 in (0..n).step_by(width) {
            let w = width.min(n - j0);
            for pc in (0..k).step_by(kc) {
                let kcur = kc.min(k - pc);
                let a_block = a.block(0, pc, m, kcur);
                let b_block = b.block(pc, j0, kcur, w);
                let (b_ptr, b_step) = if in_place {
                    (b_block.as_ptr(), b_block.row_stride())
                } else {
                    // SAFETY: the buffer holds kc * STRIP_COPY_WIDTH elements, one panel of
                    // STRIP_COPY_WIDTH columns and kcur ≤ kc steps.
                    unsafe { pack_b(b_block, buf, STRIP_COPY_WIDTH, 0..1, None) };
                    (buf.cast_const(), STRIP_COPY_WIDTH)
                };
                let st = Strides {
                    a_lane: a_block.row_stride(),
                    a_step: a_block.col_stride(),
                    b_step,
                };
                let bias_ptr = match bias {
                    Some(bias) if pc == 0 => bias[j0..].as_ptr(),
                    _ => core::ptr::null(),
                };
                // SAFETY: A's m × kcur block is readable with the strides in `st`, and so are
                // kcur steps of w contiguous B elements (in place with column stride 1, or
                // the copy); columns j0..j0 + w of C, a validated m × n view this call owns;
                // the bias, when present, holds n - j0 ≥ w elements from j0.
                unsafe {
                    kernel.strip(
                        m,
                        w,
                        kcur,
                        a_block.as_ptr(),
                        b_ptr,
                        st,
                        c_ptr.add(j0 * cs),
                        rs,
                        cs,
                        pc > 0 || accum == Accum::Add,
                        bias_ptr,
                    )
                };
            }
        }
    });
}

/// Packs all of `b` (`k × n`) in the layout [`gemm_loop`] reads: the block at depth `pc` of
/// the `NC`-column block at `jc` starts at `k * jc + pc * round_up(ncur, NR)`.
pub(crate) fn pack_b_whole<K: MicroKernel>(b: MatRef<'_, K::T>, out: &mut Vec<K::T>) {
    let (k, n) = b.shape();
    out.clear();
    out.resize(
        k * n.next_multiple_of(K::NR),
        <K::T as crate::Element>::ZERO,
    );
    if k == 0 || n == 0 {
        return;
    }
    let kc = balanced_block(k, K::KC, 1);
    let nc = balanced_block(n, K::NC, K::NR);
    for jc in (0..n).step_by(nc) {
        let ncur = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let kcur = kc.min(k - pc);
            let start = k * jc + pc * ncur.next_multiple_of(K::NR);
            // SAFETY: this block needs kcur * round_up(ncur, NR) elements from `start`, which
            // ends at k * jc + (pc + kcur) * round_up(ncur, NR) ≤ k * round_up(n, NR).
            unsafe {
                pack_b(
                    b.block(pc, jc, kcur, ncur),
                    out.as_mut_ptr().add(start),
                    K::NR,
                    0..ncur.div_ceil(K::NR),
                    None,
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::kernels::scalar::ScalarF64;
    use crate::view::MatMut;
    use crate::Parallelism;

    /// The loop nest reads a pre-packed B when given one: pack W, then pass a different B
    /// view alongside it; the product must be the packed one's.
    #[test]
    fn pre_packed_b_is_used() {
        let (m, k, n) = (40, 300, 37);
        let a: Vec<f64> = (0..m * k).map(|i| (i % 7) as f64 - 3.0).collect();
        let w: Vec<f64> = (0..k * n).map(|i| (i % 5) as f64 - 2.0).collect();
        let other = vec![0.0f64; k * n];
        let mut packed = Vec::new();
        pack_b_whole::<ScalarF64>(MatRef::new(&w, k, n).unwrap(), &mut packed);
        let mut c = vec![0.0f64; m * n];
        gemm_loop(
            ScalarF64::new(),
            GemmArgs {
                a: MatRef::new(&a, m, k).unwrap(),
                b: MatRef::new(&other, k, n).unwrap(),
                c: MatMut::new(&mut c, m, n).unwrap(),
                accum: Accum::Overwrite,
                bias: None,
                b_sums: None,
                b_packed: Some(&packed),
                par: Parallelism::Sequential,
            },
        );
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|p| a[i * k + p] * w[p * n + j]).sum();
                assert_eq!(c[i * n + j], want, "({i}, {j})");
            }
        }
    }
}
