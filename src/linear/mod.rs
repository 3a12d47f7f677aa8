//! The linear layer's routines: forward, the three gradients, and all of them at once.
//!
//! Shapes throughout: `x` is `batch × in_features`, `w` is `in_features × out_features`,
//! `bias` and `db` have `out_features` elements, `y` and `dy` are `batch × out_features`.
//! Each gradient has exactly its variable's shape: `dx` like `x`, `dw` like `w`, `db` like
//! `bias`.
//!
//! Every routine checks every shape first and returns a [`ShapeError`] before writing
//! anything; the computation below that point cannot fail.

mod backward;
mod forward;
mod packed;

pub use backward::{backward, grad_bias, grad_input, grad_weight, Grads};
pub use forward::{forward, forward_accum};
pub use packed::{forward_packed, grad_input_packed, PackedWeights};

use crate::error::ShapeError;

/// `Err(DimMismatch)` unless `found == expected`.
pub(crate) fn check_shape(
    op: &'static str,
    operand: &'static str,
    expected: (usize, usize),
    found: (usize, usize),
) -> Result<(), ShapeError> {
    if found == expected {
        Ok(())
    } else {
        Err(ShapeError::DimMismatch {
            op,
            operand,
            expected,
            found,
        })
    }
}

/// `Err(LenMismatch)` unless `found == expected`.
pub(crate) fn check_len(
    op: &'static str,
    operand: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), ShapeError> {
    if found == expected {
        Ok(())
    } else {
        Err(ShapeError::LenMismatch {
            op,
            operand,
            expected,
            found,
        })
    }
}
