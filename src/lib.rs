//! # lingrad
//!
//! SIMD-optimised CPU kernels for the linear (fully connected) layer of a neural network:
//! forward and backward passes built on a blocked, cache-tiled GEMM.
//!
//! Everything is row-major by convention: `x` is `batch × in` (M×K), `W` is `in × out` (K×N),
//! `b` has N elements.
//!
//! | routine | computes | shapes |
//! |---|---|---|
//! | [`linear::forward`] | `y = x·W + b` | y: M×N |
//! | [`linear::grad_bias`] | `db = Σ_rows dy` | db: N |
//! | [`linear::grad_weight`] | `dW = xᵀ·dy` (and `db` in the same pass) | dW: K×N |
//! | [`linear::grad_input`] | `dx = dy·Wᵀ` | dx: M×K |
//! | [`linear::backward`] | any subset of the three | |
//! | [`matmul`] | `c = a·b` on any views | |
//!
//! Matrices are passed as strided views, [`MatRef`] and [`MatMut`], whose constructors check
//! lengths and strides; a transposed operand is a free [`MatRef::t`], so a framework that keeps
//! W as `out × in` passes `w.t()`. Gradients are written or added into existing buffers
//! ([`Accum`]), and [`Parallelism`] says whether a call may use the current rayon pool.
//! Results are bitwise identical with any number of threads.
//!
//! Every public function validates all shapes before it writes anything: bad input is a
//! [`ShapeError`] naming the operation and the shapes, and leaves every output untouched.
//!
//! ```
//! use lingrad::{linear, Accum, MatMut, MatRef, Parallelism};
//!
//! // batch 2, in 3, out 2
//! let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
//! let w = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
//! let b = [0.5f32, -0.5];
//! let mut y = [0.0f32; 4];
//! linear::forward(
//!     MatRef::new(&x, 2, 3)?,
//!     MatRef::new(&w, 3, 2)?,
//!     Some(&b),
//!     MatMut::new(&mut y, 2, 2)?,
//!     Parallelism::Current,
//! )?;
//! assert_eq!(y, [4.5, 4.5, 10.5, 10.5]);
//!
//! // Backward from dy = 1: db is the column sums, dW = xᵀ·dy, dx = dy·Wᵀ.
//! let dy = [1.0f32; 4];
//! let mut db = [0.0f32; 2];
//! let mut dw = [0.0f32; 6];
//! let mut dx = [0.0f32; 6];
//! let grads = linear::Grads::new()
//!     .dx(MatMut::new(&mut dx, 2, 3)?, Accum::Overwrite)
//!     .dw(MatMut::new(&mut dw, 3, 2)?, Accum::Overwrite)
//!     .db(&mut db, Accum::Overwrite);
//! linear::backward(
//!     MatRef::new(&x, 2, 3)?,
//!     MatRef::new(&w, 3, 2)?,
//!     MatRef::new(&dy, 2, 2)?,
//!     grads,
//!     Parallelism::Sequential,
//! )?;
//! assert_eq!(db, [2.0, 2.0]);
//! assert_eq!(dw, [5.0, 5.0, 7.0, 7.0, 9.0, 9.0]);
//! assert_eq!(dx, [1.0, 1.0, 2.0, 1.0, 1.0, 2.0]);
//! # Ok::<(), lingrad::ShapeError>(())
//! ```
//!
//! ## Engines
//!
//! The GEMM engine is chosen once per process ([`isa`]): the crate's own kernels where it has
//! them, else [`matrixmultiply`](https://docs.rs/matrixmultiply). The environment variable
//! `LINGRAD_ISA` can lower the choice (never raise it), so every engine can be tested on one
//! machine.
//!
//! ## Features
//!
//! - `rayon` (default): [`Parallelism::Current`] runs on the caller's current rayon pool.
//!   Without it every call is sequential.
//!
//! MSRV: Rust 1.89.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]
#![doc(test(attr(deny(warnings))))]

mod element;
mod error;
mod gemm;
pub mod layer;
pub mod linear;
mod parallel;
mod rng;
mod view;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use element::Element;
pub use error::ShapeError;
pub use gemm::dispatch::{detected_isa, isa, Isa};
pub use layer::{Linear, Param};
pub use parallel::Parallelism;
pub use view::{MatMut, MatRef};

/// Whether a routine overwrites its output or adds into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Accum {
    /// `out = result`. The output is never read, so it may hold anything, NaN included.
    Overwrite,
    /// `out += result`, e.g. to accumulate gradients over several micro-batches.
    Add,
}

/// General matrix product `c = a·b` (or `c += a·b`) on any views.
///
/// Shapes: `a` is `m × k`, `b` is `k × n`, `c` is `m × n`. Any of the three may be strided or
/// transposed views. `k = 0` gives `c = 0` (or leaves `c` as it is with [`Accum::Add`]).
///
/// ```
/// use lingrad::{matmul, Accum, MatMut, MatRef, Parallelism};
/// let a = [1.0f64, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let mut c = [1.0f64; 4];
/// // c += a·aᵀ
/// matmul(
///     MatRef::new(&a, 2, 2)?,
///     MatRef::new(&a, 2, 2)?.t(),
///     MatMut::new(&mut c, 2, 2)?,
///     Accum::Add,
///     Parallelism::Current,
/// )?;
/// assert_eq!(c, [6.0, 12.0, 12.0, 26.0]);
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
///
/// # Errors
/// [`ShapeError::DimMismatch`] if `b.rows() != a.cols()` or `c` is not `a.rows() × b.cols()`;
/// `c` is then left untouched.
pub fn matmul<T: Element>(
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: MatMut<'_, T>,
    accum: Accum,
    par: Parallelism,
) -> Result<(), ShapeError> {
    const OP: &str = "matmul";
    linear::check_shape(OP, "b", (a.cols(), b.cols()), b.shape())?;
    linear::check_shape(OP, "c", (a.rows(), b.cols()), c.shape())?;
    gemm::gemm(gemm::GemmArgs {
        a,
        b,
        c,
        accum,
        bias: None,
        b_sums: None,
        b_packed: None,
        par,
    });
    Ok(())
}
