//! The one generic micro-kernel body shared by every SIMD instruction set.
//!
//! An instruction set is a zero-sized token implementing [`Simd`] for an element type: the
//! handful of vector operations a GEMM tile needs. Holding a token proves the processor has
//! the instruction set, so the token's methods are safe to call inside functions compiled with
//! the matching `#[target_feature]`. Each kernel file wraps [`tile_body`] in one thin
//! `#[target_feature]` entry per shape.

use crate::element::Element;
use crate::gemm::kernel::{store_element, Strides};

/// Vector operations on `T` for one instruction set.
///
/// # Safety
/// Implementors guarantee that the methods are only reachable with a token whose instruction
/// set was detected, and that `load`/`store` touch exactly `LANES` consecutive elements.
pub(crate) unsafe trait Simd<T: Element>: Copy {
    /// A vector of `LANES` elements.
    type V: Copy;
    /// Elements per vector.
    const LANES: usize;
    /// All lanes zero.
    fn zero(self) -> Self::V;
    /// All lanes `x`.
    fn splat(self, x: T) -> Self::V;
    /// Loads `LANES` elements from `p` (no alignment needed).
    ///
    /// # Safety
    /// `p` is valid for reading `LANES` elements.
    unsafe fn load(self, p: *const T) -> Self::V;
    /// Stores `LANES` elements to `p` (no alignment needed).
    ///
    /// # Safety
    /// `p` is valid for writing `LANES` elements.
    unsafe fn store(self, p: *mut T, v: Self::V);
    /// `a · b + c`, fused (one rounding).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
}

/// One full `MR × (NV · LANES)` tile, following the contract in `kernel.rs`.
///
/// Accumulators live in a `[[V; NV]; MR]` array that the compiler keeps in registers: each k
/// step loads `NV` vectors of the B panel, broadcasts `MR` elements of the A panel and issues
/// `MR · NV` fused multiply-adds.
///
/// # Safety
/// As `MicroKernel::tile_direct` with `NR = NV * S::LANES` (`st` = `Strides::packed` for
/// packed panels); must be inlined into a function compiled with the token's instruction set
/// enabled.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile_body<T: Element, S: Simd<T>, const MR: usize, const NV: usize>(
    s: S,
    k: usize,
    a: *const T,
    b: *const T,
    st: Strides,
    c: *mut T,
    rs: usize,
    cs: usize,
    load_c: bool,
    bias: *const T,
) {
    let nr = NV * S::LANES;
    let mut acc = [[s.zero(); NV]; MR];
    let (mut a, mut b) = (a, b);
    for _ in 0..k {
        let mut bv = [s.zero(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: each k step of the B panel holds NR = NV * LANES elements.
            *x = unsafe { s.load(b.add(v * S::LANES)) };
        }
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: each k step of the A panel holds MR elements.
            let ai = s.splat(unsafe { *a.add(i * st.a_lane) });
            for (x, &bx) in row.iter_mut().zip(bv.iter()) {
                *x = s.mul_add(ai, bx, *x);
            }
        }
        // SAFETY: advancing by one k step stays within (or one past) the panels.
        unsafe {
            a = a.add(st.a_step);
            b = b.add(st.b_step);
        }
    }

    if cs == 1 {
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                let mut out = x;
                if !bias.is_null() {
                    // SAFETY: a non-null bias holds NR elements.
                    out = s.add(out, unsafe { s.load(bias.add(v * S::LANES)) });
                }
                // SAFETY: row i, columns v*LANES.. of the tile are contiguous (cs == 1) and
                // valid per the tile contract.
                let cp = unsafe { c.add(i * rs + v * S::LANES) };
                if load_c {
                    // SAFETY: as above; `load_c` permits reading C.
                    out = s.add(unsafe { s.load(cp) }, out);
                }
                // SAFETY: as above.
                unsafe { s.store(cp, out) };
            }
        }
    } else {
        // Strided C (e.g. a transposed output): spill each row and write element by element.
        let mut row_buf = [T::ZERO; 64];
        debug_assert!(nr <= row_buf.len());
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: v * LANES + LANES <= NR <= 64 elements of the row buffer.
                unsafe { s.store(row_buf.as_mut_ptr().add(v * S::LANES), x) };
            }
            for (j, &x) in row_buf[..nr].iter().enumerate() {
                // SAFETY: (i, j) is inside the tile the caller made valid; the bias is null
                // or holds NR elements.
                unsafe { store_element(x, bias, j, c.add(i * rs + j * cs), load_c) };
            }
        }
    }
}

/// Defines a kernel type holding an instruction-set token, its `#[target_feature]` entry
/// point around [`tile_body`], and its `MicroKernel` registration (shape and block sizes).
macro_rules! simd_kernel {
    ($token:ident, $features:literal, $name:ident, $entry:ident, $direct:ident, $t:ty,
     $mr:literal, $nv:literal, $mc:literal, $kc:literal, $nc:literal) => {
        /// SIMD kernel; see the module documentation.
        #[derive(Clone, Copy, Debug)]
        pub(crate) struct $name(pub(crate) $token);

        /// Packed panels: the operand strides are compile-time constants.
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $entry(
            s: $token,
            k: usize,
            a: *const $t,
            b: *const $t,
            c: *mut $t,
            rs: usize,
            cs: usize,
            load_c: bool,
            bias: *const $t,
        ) {
            let st = $crate::gemm::kernel::Strides::packed($mr, $nv * <$token as Simd<$t>>::LANES);
            // SAFETY: forwarded from `MicroKernel::tile`; the token's features are enabled.
            unsafe {
                $crate::gemm::kernels::simd::tile_body::<$t, $token, $mr, $nv>(
                    s, k, a, b, st, c, rs, cs, load_c, bias,
                )
            }
        }

        /// Operands read in place with run-time strides.
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $direct(
            s: $token,
            k: usize,
            a: *const $t,
            b: *const $t,
            st: $crate::gemm::kernel::Strides,
            c: *mut $t,
            rs: usize,
            cs: usize,
            load_c: bool,
            bias: *const $t,
        ) {
            // SAFETY: forwarded from `MicroKernel::tile_direct`; the token's features are
            // enabled.
            unsafe {
                $crate::gemm::kernels::simd::tile_body::<$t, $token, $mr, $nv>(
                    s, k, a, b, st, c, rs, cs, load_c, bias,
                )
            }
        }

        impl $crate::gemm::kernel::MicroKernel for $name {
            type T = $t;
            const MR: usize = $mr;
            const NR: usize = $nv * <$token as Simd<$t>>::LANES;
            const MC: usize = $mc;
            const KC: usize = $kc;
            const NC: usize = $nc;

            #[inline]
            unsafe fn tile(
                self,
                k: usize,
                a: *const $t,
                b: *const $t,
                c: *mut $t,
                rs: usize,
                cs: usize,
                load_c: bool,
                bias: *const $t,
            ) {
                // SAFETY: the token in `self` proves the instruction set; the caller upholds
                // the tile contract.
                unsafe { $entry(self.0, k, a, b, c, rs, cs, load_c, bias) }
            }

            #[inline]
            unsafe fn tile_direct(
                self,
                k: usize,
                a: *const $t,
                b: *const $t,
                st: $crate::gemm::kernel::Strides,
                c: *mut $t,
                rs: usize,
                cs: usize,
                load_c: bool,
                bias: *const $t,
            ) {
                // SAFETY: the token in `self` proves the instruction set; the caller upholds
                // the tile contract.
                unsafe { $direct(self.0, k, a, b, st, c, rs, cs, load_c, bias) }
            }
        }
    };
}
pub(crate) use simd_kernel;
