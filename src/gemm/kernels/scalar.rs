//! The portable kernel: plain Rust on fixed-size accumulator arrays, which the compiler
//! vectorises for the target's baseline instruction set. Always compiled; the reference every
//! SIMD kernel is tested against.

use core::marker::PhantomData;

use crate::element::Element;
use crate::gemm::kernel::{store_element, strip_elementwise, MicroKernel, Strides};

/// Portable `MR × NR` kernel for `T`.
#[derive(Debug)]
pub(crate) struct Scalar<T, const MR: usize, const NR: usize>(PhantomData<T>);

impl<T, const MR: usize, const NR: usize> Clone for Scalar<T, MR, NR> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, const MR: usize, const NR: usize> Copy for Scalar<T, MR, NR> {}

impl<T, const MR: usize, const NR: usize> Scalar<T, MR, NR> {
    /// Always available.
    pub(crate) const fn new() -> Self {
        Self(PhantomData)
    }
}

/// The portable f32 kernel.
pub(crate) type ScalarF32 = Scalar<f32, 4, 8>;
/// The portable f64 kernel.
pub(crate) type ScalarF64 = Scalar<f64, 4, 4>;

macro_rules! scalar_blocks {
    ($t:ty, $mc:expr, $kc:expr, $nc:expr) => {
        impl<const MR: usize, const NR: usize> MicroKernel for Scalar<$t, MR, NR> {
            type T = $t;
            const MR: usize = MR;
            const NR: usize = NR;
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
                // SAFETY: the caller upholds the `MicroKernel::tile` contract, which is exactly
                // what `tile_body` requires of packed panels.
                unsafe {
                    tile_body::<$t, MR, NR>(
                        k,
                        a,
                        b,
                        Strides::packed(MR, NR),
                        c,
                        rs,
                        cs,
                        load_c,
                        bias,
                    )
                }
            }

            #[inline]
            unsafe fn tile_direct(
                self,
                k: usize,
                a: *const $t,
                b: *const $t,
                st: Strides,
                c: *mut $t,
                rs: usize,
                cs: usize,
                load_c: bool,
                bias: *const $t,
            ) {
                // SAFETY: the caller upholds the `MicroKernel::tile_direct` contract, which is
                // exactly what `tile_body` requires.
                unsafe { tile_body::<$t, MR, NR>(k, a, b, st, c, rs, cs, load_c, bias) }
            }

            #[inline]
            unsafe fn strip(
                self,
                rows: usize,
                n: usize,
                k: usize,
                a: *const $t,
                b: *const $t,
                st: Strides,
                c: *mut $t,
                rs: usize,
                cs: usize,
                load_c: bool,
                bias: *const $t,
            ) {
                // SAFETY: the caller upholds the `MicroKernel::strip` contract, which is
                // exactly what `strip_elementwise` requires; each step is the tile's
                // `acc += a * b`.
                unsafe {
                    strip_elementwise(
                        rows,
                        n,
                        k,
                        a,
                        b,
                        st,
                        c,
                        rs,
                        cs,
                        load_c,
                        bias,
                        |x: $t, y: $t, acc: $t| acc + x * y,
                    )
                }
            }
        }
    };
}
scalar_blocks!(f32, 96, 256, 4096);
scalar_blocks!(f64, 96, 256, 4096);

/// The generic body of the portable kernel.
///
/// # Safety
/// As `MicroKernel::tile`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_body<T: Element, const MR: usize, const NR: usize>(
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
    let mut acc = [[T::ZERO; NR]; MR];
    for p in 0..k {
        // SAFETY: p < k, and step p of each operand is readable (tile contract).
        let (ap, bp) = unsafe { (a.add(p * st.a_step), b.add(p * st.b_step)) };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: i < MR, inside this step of the A operand.
            let ai = unsafe { *ap.add(i * st.a_lane) };
            for (j, v) in row.iter_mut().enumerate() {
                // SAFETY: j < NR, inside this step of the B panel.
                *v += ai * unsafe { *bp.add(j) };
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            // SAFETY: (i, j) is inside the tile the caller made valid; the bias is null or
            // holds NR elements.
            unsafe { store_element(v, bias, j, c.add(i * rs + j * cs), load_c) };
        }
    }
}
