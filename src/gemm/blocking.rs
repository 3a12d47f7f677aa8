//! Loops 5–3 of the blocked GEMM: B blocks of `NC` columns (loop 5), depth blocks of `KC`
//! (loop 4, packing B once per block), A blocks of `MC` rows (loop 3, packing A), and the
//! split of that work across threads.
//!
//! Threads never share an output element, and the block sizes that shape each element's sum
//! (`KC` and the kernel) do not depend on the thread count, so results are bitwise identical
//! for any number of threads.

use crate::gemm::kernel::MicroKernel;
use crate::gemm::macro_kernel::{macro_kernel, CBlock};
use crate::gemm::pack::{pack_a, pack_b, Sums};
use crate::gemm::workspace::{with_buffer, A_BUF, B_BUF, S_BUF};
use crate::gemm::GemmArgs;
use crate::parallel::{for_each_index, Disjoint};
use crate::Accum;

/// Below this many multiply-adds (m·n·k) a call stays on the calling thread: a fork-join would
/// cost more than it saves.
pub(crate) const PAR_THRESHOLD: usize = 128 * 128 * 64;

/// Splits `len` into the fewest blocks of at most `max`, of equal size rounded up to `align`.
fn balanced_block(len: usize, max: usize, align: usize) -> usize {
    let blocks = len.div_ceil(max).max(1);
    len.div_ceil(blocks)
        .next_multiple_of(align)
        .min(max.max(align))
}

/// Runs the loop nest for kernel `K` on validated, non-empty operands (`m, n, k > 0`).
pub(crate) fn gemm_loop<K: MicroKernel>(kernel: K, args: GemmArgs<'_, K::T>) {
    let GemmArgs {
        a,
        b,
        mut c,
        accum,
        bias,
        b_sums,
        par,
    } = args;
    let (m, k) = a.shape();
    let n = b.cols();
    debug_assert!(m > 0 && n > 0 && k > 0);
    let work = m.saturating_mul(n).saturating_mul(k);
    let threads = if work >= PAR_THRESHOLD {
        par.threads()
    } else {
        1
    };

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
        with_buffer::<K::T, _>(&B_BUF, kc * nc.next_multiple_of(K::NR), |b_buf| {
            // loop 5: NC-column blocks of B and C
            for jc in (0..n).step_by(nc) {
                let ncur = nc.min(n - jc);
                // loop 4: KC-deep blocks of A and B
                for pc in (0..k).step_by(kc) {
                    let kcur = kc.min(k - pc);
                    let sums = (!sums_ptr.is_null()).then(|| Sums {
                        // SAFETY: jc < n, inside the n sums.
                        ptr: unsafe { sums_ptr.add(jc) },
                        first: pc == 0,
                    });
                    let b_block = b.block(pc, jc, kcur, ncur);
                    let panels = ncur.div_ceil(K::NR);
                    let pack_tasks = if threads > 1 { threads.min(panels) } else { 1 };
                    let per_task = panels.div_ceil(pack_tasks);
                    let pack_shared = Disjoint::new((b_buf, sums));
                    for_each_index(threads, pack_tasks, |t| {
                        let (b_buf, sums) = pack_shared.get();
                        let range = (t * per_task).min(panels)..((t + 1) * per_task).min(panels);
                        // SAFETY: the buffer holds kc * round_up(nc, NR) ≥ what this block packs;
                        // each task packs (and sums) its own panels.
                        unsafe { pack_b(b_block, b_buf, K::NR, range, sums) };
                    });
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
                    let shared = Disjoint::new((cblock, b_buf.cast_const()));
                    let n_ic = m.div_ceil(mc);
                    if n_ic >= threads {
                        // loop 3 in parallel: each task packs and computes its own rows of C.
                        for_each_index(threads, n_ic, |blk| {
                            let (cblock, b_buf) = shared.get();
                            let ic = blk * mc;
                            let mcur = mc.min(m - ic);
                            with_buffer::<K::T, _>(&A_BUF, mc * kcur, |a_buf| {
                                // SAFETY: the buffer holds mc * kc elements, enough for a padded
                                // mcur × kcur block (mc is a multiple of MR); rows ic..ic+mcur of C
                                // belong to this task alone; B was packed above.
                                unsafe {
                                    pack_a(a.block(ic, pc, mcur, kcur), a_buf, K::MR);
                                    let cblock = CBlock {
                                        ptr: cblock.ptr.add(ic * rs),
                                        ..cblock
                                    };
                                    macro_kernel(
                                        kernel,
                                        mcur,
                                        ncur,
                                        kcur,
                                        a_buf,
                                        b_buf,
                                        cblock,
                                        0..ncur,
                                    );
                                }
                            });
                        });
                    } else {
                        // Too few rows to go round: pack A once, split the B panels between tasks.
                        for ic in (0..m).step_by(mc) {
                            let mcur = mc.min(m - ic);
                            with_buffer::<K::T, _>(&A_BUF, mc * kcur, |a_buf| {
                                // SAFETY: as in the parallel branch.
                                unsafe { pack_a(a.block(ic, pc, mcur, kcur), a_buf, K::MR) };
                                let panels = ncur.div_ceil(K::NR);
                                let tasks = threads.min(panels);
                                let per_task = panels.div_ceil(tasks) * K::NR;
                                let a_shared = Disjoint::new(a_buf.cast_const());
                                for_each_index(threads, tasks, |t| {
                                    let (cblock, b_buf) = shared.get();
                                    let jr0 = (t * per_task).min(ncur);
                                    let jr1 = ((t + 1) * per_task).min(ncur);
                                    // SAFETY: A and B are packed; the columns jr0..jr1 of rows
                                    // ic..ic+mcur belong to this task alone.
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
                                            a_shared.get(),
                                            b_buf,
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
