//! The internal GEMM engine: `C ← A·B (+ bias) (+ C)` on views that the public entry points
//! have already validated. Nothing below this module checks shapes except by `debug_assert!`.

pub(crate) mod blocking;
pub(crate) mod dispatch;
mod fallback;
pub(crate) mod kernel;
pub(crate) mod kernels;
pub(crate) mod macro_kernel;
pub(crate) mod pack;
pub(crate) mod workspace;

use crate::element::Element;
use crate::parallel::{for_each_index, Disjoint};
use crate::view::{MatMut, MatRef};
use crate::{Accum, Parallelism};

/// (Public only within the private `gemm` module, so the sealed `Element` can name it.)
///
/// One validated GEMM: `c (m × n) ← a (m × k) · b (k × n) + bias`, added into `c` when
/// `accum` is [`Accum::Add`].
pub struct GemmArgs<'a, T> {
    pub(crate) a: MatRef<'a, T>,
    pub(crate) b: MatRef<'a, T>,
    pub(crate) c: MatMut<'a, T>,
    pub(crate) accum: Accum,
    /// `n` elements added to every row of the product, or `None`.
    pub(crate) bias: Option<&'a [T]>,
    /// With `Some((sums, accum))`, also `sums[j] (=|+=) Σ_p b[p, j]`, summed in order of `p`
    /// while B is packed (`n` elements): the bias gradient fused into `dW = xᵀ·dy`.
    pub(crate) b_sums: Option<(&'a mut [T], Accum)>,
    /// `b` already packed by this engine's [`PackFn`] (see `linear::PackedWeights`); the loop
    /// nest then reads its panels instead of packing. Ignored if its length does not fit.
    pub(crate) b_packed: Option<&'a [T]>,
    pub(crate) par: Parallelism,
}

/// Packs a whole `k × n` B ahead of time in the layout the engine's loop nest reads
/// (`out` is cleared and refilled).
pub type PackFn<T> = fn(MatRef<'_, T>, &mut Vec<T>);

/// `out[j] (=|+=) Σ_i b[i, j]` for a `rows × n` view, rows summed in order from row 0.
///
/// The fused path in the packing of B produces the same bits.
pub(crate) fn column_sums<T: Element>(b: MatRef<'_, T>, out: &mut [T], accum: Accum) {
    /// Columns summed at a time: one stack block of partial sums.
    const BLOCK: usize = 64;
    let (rows, n) = b.shape();
    debug_assert_eq!(out.len(), n);
    for (j0, out_block) in (0..n).step_by(BLOCK).zip(out.chunks_mut(BLOCK)) {
        let mut acc = [T::ZERO; BLOCK];
        let acc = &mut acc[..out_block.len()];
        for i in 0..rows {
            for (j, a) in acc.iter_mut().enumerate() {
                // (i, j0 + j) is in range: i < rows, j0 + j < n.
                *a += *b.get(i, j0 + j).expect("in range");
            }
        }
        for (o, &a) in out_block.iter_mut().zip(acc.iter()) {
            *o = match accum {
                Accum::Overwrite => a,
                Accum::Add => *o + a,
            };
        }
    }
}

/// A GEMM engine compiled for one element type and instruction set.
pub type GemmFn<T> = fn(GemmArgs<'_, T>);

/// Packs all of `b` for [`GemmArgs::b_packed`] on the engine chosen for this machine (leaves
/// `out` empty where the engine does its own packing).
pub(crate) fn pack_whole<T: Element>(b: MatRef<'_, T>, out: &mut Vec<T>) {
    match <T as crate::element::Sealed>::pack_fn(dispatch::isa()) {
        Some(pack) => pack(b, out),
        None => out.clear(),
    }
}

/// Runs a validated GEMM on the engine chosen for this machine.
///
/// Callers guarantee `a.rows() == c.rows()`, `a.cols() == b.rows()`, `b.cols() == c.cols()`
/// and `bias.len() == c.cols()`.
pub(crate) fn gemm<T: Element>(mut args: GemmArgs<'_, T>) {
    let (m, k) = args.a.shape();
    let n = args.b.cols();
    let isa = dispatch::isa();
    if isa == dispatch::Isa::Fallback {
        args.b_packed = None;
    }
    let split = isa != dispatch::Isa::Fallback && splits_depth(m, n, k);
    if m == 0 || k == 0 || split || isa == dispatch::Isa::Fallback {
        // No packing of B will see every element: sum the columns in a pass of their own.
        if let Some((sums, accum)) = args.b_sums.take() {
            column_sums(args.b, sums, accum);
        }
    }
    debug_assert_eq!(args.c.shape(), (m, n));
    debug_assert_eq!(args.b.rows(), k);
    debug_assert!(args.bias.is_none_or(|b| b.len() == n));
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: C = bias (+ C).
        let GemmArgs {
            mut c, accum, bias, ..
        } = args;
        c.for_each_mut(|_, j, v| {
            let add = bias.map_or(T::ZERO, |b| b[j]);
            *v = if accum == Accum::Add { *v + add } else { add };
        });
        return;
    }
    let engine = <T as crate::element::Sealed>::gemm_fn(isa);
    if split {
        depth_split(engine, args);
    } else {
        engine(args);
    }
}

/// Rows of the depth (batch) dimension per chunk when a product is split along it.
const DEPTH_CHUNK: usize = 1024;

/// Outputs up to this many elements are too few to feed threads by splitting C.
const DEPTH_SPLIT_MAX_MN: usize = 64 * 64;

/// Whether a product is split along its depth: a small output (e.g. `dW` of a narrow layer)
/// over a long reduction (a large batch). The decision depends on the shape alone, never on
/// the thread count, so the result's bits do not either.
fn splits_depth(m: usize, n: usize, k: usize) -> bool {
    m.saturating_mul(n) <= DEPTH_SPLIT_MAX_MN && k >= 4 * DEPTH_CHUNK
}

/// Computes `C = Σ_q A_q·B_q (+ bias) (+ C)` over fixed chunks `q` of the depth, the partial
/// products in parallel and their sum in chunk order.
fn depth_split<T: Element>(engine: GemmFn<T>, args: GemmArgs<'_, T>) {
    let GemmArgs {
        a,
        b,
        mut c,
        accum,
        bias,
        par,
        ..
    } = args;
    let (m, k) = a.shape();
    let n = b.cols();
    let chunks = k.div_ceil(DEPTH_CHUNK);
    let mn = m * n;
    workspace::with_buffer::<T, _>(&workspace::P_BUF, chunks * mn, |partials| {
        let shared = Disjoint::new(partials);
        for_each_index(par.threads(), chunks, |q| {
            let p0 = q * DEPTH_CHUNK;
            let len = DEPTH_CHUNK.min(k - p0);
            // SAFETY: chunk q owns elements q*mn .. (q+1)*mn of the buffer (chunks * mn
            // elements), laid out as a contiguous m × n matrix that only this task touches.
            let out = unsafe { MatMut::from_raw_parts(shared.get().add(q * mn), m, n, n, 1) };
            engine(GemmArgs {
                a: a.block(0, p0, m, len),
                b: b.block(p0, 0, len, n),
                c: out,
                accum: Accum::Overwrite,
                bias: None,
                b_sums: None,
                b_packed: None,
                par: Parallelism::Sequential,
            });
        });
        let partials = shared.get();
        c.for_each_mut(|i, j, v| {
            // SAFETY: every chunk wrote its m × n partial product above.
            let mut out = unsafe { *partials.add(i * n + j) };
            for q in 1..chunks {
                // SAFETY: as above.
                out += unsafe { *partials.add(q * mn + i * n + j) };
            }
            if let Some(bias) = bias {
                out += bias[j];
            }
            *v = if accum == Accum::Add { *v + out } else { out };
        });
    });
}
