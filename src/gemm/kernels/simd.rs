//! The one generic micro-kernel body shared by every SIMD instruction set.
//!
//! An instruction set is a zero-sized token implementing [`Simd`] for an element type: the
//! handful of vector operations a GEMM tile needs. Holding a token proves the processor has
//! the instruction set, so the token's methods are safe to call inside functions compiled with
//! the matching `#[target_feature]`. Each kernel file wraps [`tile_body`] in one thin
//! `#[target_feature]` entry per shape.

use crate::element::Element;
use crate::gemm::kernel::{store_element, strip_elementwise, Strides};

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
    /// Vector registers of the instruction set.
    const REGS: usize;
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

/// Widest tile (`NV · LANES`) that [`tile_body`] takes.
const MAX_WIDTH: usize = 128;

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
        let mut row_buf = [T::ZERO; MAX_WIDTH];
        debug_assert!(nr <= row_buf.len());
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: v * LANES + LANES <= NR <= MAX_WIDTH elements of the row buffer.
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

/// Vectors per row of a strip of `rows` rows: enough independent accumulator chains (8) to
/// hide the latency of the fused multiply-adds, within the register file (one row needs only
/// its accumulators, the B vectors being used once each) and [`MAX_WIDTH`].
pub(crate) const fn strip_nv(rows: usize, regs: usize, lanes: usize) -> usize {
    let chains = 8usize.div_ceil(rows);
    let fit = if rows == 1 {
        regs / 2
    } else {
        (regs - 1) / (rows + 1)
    };
    let cap = MAX_WIDTH / lanes;
    let nv = if chains < fit { chains } else { fit };
    let nv = if nv < cap { nv } else { cap };
    if nv == 0 {
        1
    } else {
        nv
    }
}

/// `R` rows by `n` columns of C, both operands read in place with strides `st` (see
/// `MicroKernel::strip`): `NV`-vector tiles across the row, then pairs and single vectors,
/// then fewer than `LANES` columns one element at a time. Every element is the same chain of fused
/// multiply-adds as in [`tile_body`], so the bits do not depend on which part computed it.
///
/// # Safety
/// As `MicroKernel::strip` with `rows == R`; must be inlined into a function compiled with
/// the token's instruction set enabled.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn strip_body<T: Element, S: Simd<T>, const R: usize, const NV: usize>(
    s: S,
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
) {
    let bias_at = |j: usize| {
        if bias.is_null() {
            bias
        } else {
            bias.wrapping_add(j)
        }
    };
    let mut j = 0;
    // Tiles of `$nv` vectors across the row while they fit (and `$when` holds).
    macro_rules! tiles {
        ($nv:tt, $when:expr) => {
            while $when && j + $nv * S::LANES <= n {
                // SAFETY: columns j..j + $nv·LANES of the strip are in range for C, B and the
                // bias.
                unsafe {
                    tile_body::<T, S, R, $nv>(
                        s,
                        k,
                        a,
                        b.add(j),
                        st,
                        c.add(j * cs),
                        rs,
                        cs,
                        load_c,
                        bias_at(j),
                    )
                };
                j += $nv * S::LANES;
            }
        };
    }
    tiles!(NV, true);
    // Narrower remainders keep two vectors per row (twice the chains) where they can.
    tiles!(2, NV > 2);
    tiles!(1, true);
    let tail = n - j;
    if tail == 0 {
        return;
    }
    // Fewer than LANES columns: one element at a time, with the same fused steps.
    // SAFETY: columns j..n of the strip, as the caller's contract allows.
    unsafe {
        strip_elementwise(
            R,
            tail,
            k,
            a,
            b.add(j),
            st,
            c.add(j * cs),
            rs,
            cs,
            load_c,
            bias_at(j),
            |x: T, y: T, acc: T| x.fused_mul_add(y, acc),
        )
    };
}

/// The `match` on a strip's row count inside a kernel's strip entry: one arm per count listed,
/// each a [`strip_body`] instance with its own vector width ([`strip_nv`]), and `$rest` for
/// any other count (0 does nothing).
macro_rules! strip_rows {
    ($rows:expr, $args:tt, $t:ty, $token:ty, $regs:expr, $lanes:expr,
     [$($r:literal)*], $rest:block) => {
        match $rows {
            0 => {}
            $($r => $crate::gemm::kernels::simd::strip_body::<
                $t,
                $token,
                $r,
                { $crate::gemm::kernels::simd::strip_nv($r, $regs, $lanes) },
            >$args,)*
            _ => $rest,
        }
    };
}
pub(crate) use strip_rows;

/// Defines a kernel type holding an instruction-set token, its `#[target_feature]` entry
/// point around [`tile_body`], and its `MicroKernel` registration (shape and block sizes).
macro_rules! simd_kernel {
    ($token:ident, $features:literal, $name:ident, $entry:ident, $direct:ident, $strip:ident,
     $t:ty, $mr:literal, $nv:literal, $mc:literal, $kc:literal, $nc:literal) => {
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

        /// A strip of `rows` rows, operands read in place.
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $strip(
            s: $token,
            rows: usize,
            n: usize,
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
            const LANES: usize = <$token as Simd<$t>>::LANES;
            const REGS: usize = <$token as Simd<$t>>::REGS;
            // SAFETY: forwarded from `MicroKernel::strip`; the token's features are enabled.
            // Beyond 11 rows, the first 11 and then the rest, each a strip of its own.
            unsafe {
                $crate::gemm::kernels::simd::strip_rows!(
                    rows,
                    (s, n, k, a, b, st, c, rs, cs, load_c, bias),
                    $t,
                    $token,
                    REGS,
                    LANES,
                    [1 2 3 4 5 6 7 8 9 10 11],
                    {
                        $strip(s, 11, n, k, a, b, st, c, rs, cs, load_c, bias);
                        let (a, c) = (a.add(11 * st.a_lane), c.add(11 * rs));
                        $strip(s, rows - 11, n, k, a, b, st, c, rs, cs, load_c, bias);
                    }
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

            #[inline]
            unsafe fn strip(
                self,
                rows: usize,
                n: usize,
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
                // the strip contract.
                unsafe { $strip(self.0, rows, n, k, a, b, st, c, rs, cs, load_c, bias) }
            }
        }
    };
}
pub(crate) use simd_kernel;
