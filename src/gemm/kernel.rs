//! The micro-kernel contract.
//!
//! A micro-kernel computes one full `MR × NR` tile of C from two packed panels:
//!
//! ```text
//!   C[i, j] ← (load_c ? C[i, j] : 0) + ((Σ_p A[i, p] · B[p, j]) + bias[j])
//!                                               for i < MR, j < NR, p < k
//! ```
//!
//! where `bias` is optional (a null pointer means no bias). The sum is formed first, the bias
//! added to it, and the old value of C added last; every kernel and the scratch-tile path follow
//! this order so that a tile's bits do not depend on whether it was written in place.
//! When `load_c` is false the kernel never reads C (it may hold NaN or be uninitialised in
//! spirit): this is the BLAS β = 0 rule.
//!
//! Packed panels, `k` steps each, zero-padded to full width by the packing routines:
//!
//! ```text
//!   A panel (MR rows)                  B panel (NR columns)
//!   p = 0: a[0,0] a[1,0] … a[MR-1,0]   p = 0: b[0,0] b[0,1] … b[0,NR-1]
//!   p = 1: a[0,1] a[1,1] … a[MR-1,1]   p = 1: b[1,0] b[1,1] … b[1,NR-1]
//!   …                                  …
//! ```
//!
//! Both panels start on 64-byte boundaries when their buffers do; kernels use unaligned loads
//! all the same, so correctness never depends on alignment. C is addressed as
//! `c + i * rs + j * cs` (strides in elements); kernels take a vector path when `cs == 1` and a
//! scalar one otherwise.
//!
//! Edges: `tile` computes full tiles only. A tile cut short at the bottom of C goes to `strip`,
//! which computes any number of rows and columns with the same per-element arithmetic; one cut
//! short only at the right goes through a scratch tile (the kernel writes `MR × NR` with
//! `load_c = false`, no bias) whose valid part is merged in the same order as above.

use crate::element::Element;

/// A register-blocked kernel computing one full `MR × NR` tile, with its block sizes.
///
/// Values of implementing types are tokens: holding one proves the instruction set the kernel
/// needs is present (see `dispatch.rs`).
pub(crate) trait MicroKernel: Copy + Send + Sync + 'static {
    /// Element type.
    type T: Element;
    /// Rows of a tile (the A panel width).
    const MR: usize;
    /// Columns of a tile (the B panel width).
    const NR: usize;
    /// Rows of an A block (loop 3 step), a multiple of `MR`, sized for L2.
    const MC: usize;
    /// Depth of a packed block (loop 4 step), sized so a B micro-panel stays in L1.
    const KC: usize;
    /// Columns of a B block (loop 5 step), a multiple of `NR`, sized for L3.
    const NC: usize;

    /// Computes one full tile as described in the module documentation.
    ///
    /// # Safety
    /// - `a` points to `k * MR` readable elements, `b` to `k * NR`;
    /// - `c + i * rs + j * cs` is valid for reads (when `load_c`) and writes for every
    ///   `i < MR`, `j < NR`, and no other thread accesses those elements meanwhile;
    /// - `bias` is null or points to `NR` readable elements.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        self,
        k: usize,
        a: *const Self::T,
        b: *const Self::T,
        c: *mut Self::T,
        rs: usize,
        cs: usize,
        load_c: bool,
        bias: *const Self::T,
    );

    /// As [`MicroKernel::tile`], reading the operands in place: step `p` of B is the `NR`
    /// contiguous elements at `b + p * st.b_step`, and element `i` of step `p` of A is at
    /// `a + i * st.a_lane + p * st.a_step`. `Strides::packed(MR, NR)` describes packed panels.
    ///
    /// # Safety
    /// As `tile`, with every operand element named above readable.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_direct(
        self,
        k: usize,
        a: *const Self::T,
        b: *const Self::T,
        st: Strides,
        c: *mut Self::T,
        rs: usize,
        cs: usize,
        load_c: bool,
        bias: *const Self::T,
    );

    /// Computes a strip of `rows` rows and `n` columns of C, any `rows` and `n`, with the same
    /// per-element arithmetic as [`MicroKernel::tile`] (so a strip and a tile give the same
    /// bits): element `i` of step `p` of A is at `a + i * st.a_lane + p * st.a_step`, and step
    /// `p` of B is the `n` contiguous elements at `b + p * st.b_step`. Used for the few rows
    /// left under an `MR`-row panel and for products of very few rows, where a full tile would
    /// waste most of its multiply-adds.
    ///
    /// # Safety
    /// - every operand element named above is readable for `i < rows`, `p < k`;
    /// - `c + i * rs + j * cs` is valid for reads (when `load_c`) and writes for every
    ///   `i < rows`, `j < n`, and no other thread accesses those elements meanwhile;
    /// - `bias` is null or points to `n` readable elements.
    #[allow(clippy::too_many_arguments)]
    unsafe fn strip(
        self,
        rows: usize,
        n: usize,
        k: usize,
        a: *const Self::T,
        b: *const Self::T,
        st: Strides,
        c: *mut Self::T,
        rs: usize,
        cs: usize,
        load_c: bool,
        bias: *const Self::T,
    );
}

/// How a kernel walks its operands (in elements): see [`MicroKernel::tile_direct`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Strides {
    /// Between the rows of A within a k step.
    pub(crate) a_lane: usize,
    /// Between consecutive k steps of A.
    pub(crate) a_step: usize,
    /// Between consecutive k steps of B.
    pub(crate) b_step: usize,
}

impl Strides {
    /// Packed `mr`-row A and `nr`-column B panels.
    #[inline(always)]
    pub(crate) const fn packed(mr: usize, nr: usize) -> Self {
        Self {
            a_lane: 1,
            a_step: mr,
            b_step: nr,
        }
    }
}

/// Stores one element of a tile in the contract's order: `out = acc + bias[j]` (when `bias`
/// is non-null), then `C = C + out` when `load_c`, else `C = out`.
///
/// # Safety
/// `c` is valid for writes (and reads when `load_c`); `bias` is null or readable at `j`.
#[inline(always)]
pub(crate) unsafe fn store_element<T: crate::Element>(
    acc: T,
    bias: *const T,
    j: usize,
    c: *mut T,
    load_c: bool,
) {
    let mut out = acc;
    if !bias.is_null() {
        // SAFETY: a non-null bias is readable at j (caller's contract).
        out += unsafe { *bias.add(j) };
    }
    if load_c {
        // SAFETY: `load_c` permits reading C (caller's contract).
        out = unsafe { *c } + out;
    }
    // SAFETY: C is writable (caller's contract).
    unsafe { *c = out };
}

/// A strip computed one element at a time (see [`MicroKernel::strip`]): each row in chunks of
/// up to 64 columns whose accumulators advance together, with `mul_add(a, b, acc)` as the
/// step of each chain. The portable kernel's strips, and the last few columns of a SIMD strip.
///
/// # Safety
/// As `MicroKernel::strip`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn strip_elementwise<T: crate::Element>(
    rows: usize,
    n: usize,
    k: usize,
    a: *const T,
    b: *const T,
    st: Strides,
    c: *mut T,
    rs: usize,
    cs: usize,
    load_c: bool,
    bias: *const T,
    mul_add: impl Fn(T, T, T) -> T,
) {
    const W: usize = 64;
    for i in 0..rows {
        for j0 in (0..n).step_by(W) {
            let w = W.min(n - j0);
            let mut acc = [T::ZERO; W];
            for p in 0..k {
                // SAFETY: i < rows, p < k: readable (caller's contract).
                let ai = unsafe { *a.add(i * st.a_lane + p * st.a_step) };
                for (j, v) in acc[..w].iter_mut().enumerate() {
                    // SAFETY: j0 + j < n, p < k: readable (caller's contract).
                    *v = mul_add(ai, unsafe { *b.add(p * st.b_step + j0 + j) }, *v);
                }
            }
            for (j, &v) in acc[..w].iter().enumerate() {
                // SAFETY: (i, j0 + j) is inside the strip; the bias is null or holds n
                // elements.
                unsafe { store_element(v, bias, j0 + j, c.add(i * rs + (j0 + j) * cs), load_c) };
            }
        }
    }
}
