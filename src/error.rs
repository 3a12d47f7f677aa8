//! The crate's one error type.

use core::fmt;

/// A call was rejected because its operands' shapes, lengths or strides do not fit.
///
/// Every variant names the operation (`op`, e.g. `"linear::forward"`) and the shapes
/// involved. When a function returns this error it has written nothing to any output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShapeError {
    /// A view would reach past the end of the slice it was built from.
    BufferTooShort {
        /// The constructor that rejected the view.
        op: &'static str,
        /// Rows of the requested view.
        rows: usize,
        /// Columns of the requested view.
        cols: usize,
        /// Row stride in elements.
        row_stride: usize,
        /// Column stride in elements.
        col_stride: usize,
        /// Elements the view needs.
        required: usize,
        /// Elements the slice has.
        len: usize,
    },
    /// A size computation overflows `usize`.
    Overflow {
        /// The operation that rejected the sizes.
        op: &'static str,
        /// Rows involved.
        rows: usize,
        /// Columns involved.
        cols: usize,
        /// Row stride in elements (the column count for contiguous data).
        row_stride: usize,
        /// Column stride in elements.
        col_stride: usize,
    },
    /// A mutable view's strides would map two elements to the same memory.
    AliasingStrides {
        /// The constructor that rejected the view.
        op: &'static str,
        /// Rows of the requested view.
        rows: usize,
        /// Columns of the requested view.
        cols: usize,
        /// Row stride in elements.
        row_stride: usize,
        /// Column stride in elements.
        col_stride: usize,
    },
    /// An operand's shape disagrees with the others.
    DimMismatch {
        /// The operation that rejected the operands.
        op: &'static str,
        /// The operand whose shape is wrong (e.g. `"y"`).
        operand: &'static str,
        /// The shape (rows, cols) the other operands require.
        expected: (usize, usize),
        /// The shape (rows, cols) it has.
        found: (usize, usize),
    },
    /// A vector operand has the wrong length.
    LenMismatch {
        /// The operation that rejected the operands.
        op: &'static str,
        /// The operand whose length is wrong (e.g. `"bias"`).
        operand: &'static str,
        /// The length the other operands require.
        expected: usize,
        /// The length it has.
        found: usize,
    },
}

impl ShapeError {
    /// The name of the operation that rejected its input.
    pub fn op(&self) -> &'static str {
        match self {
            Self::BufferTooShort { op, .. }
            | Self::Overflow { op, .. }
            | Self::AliasingStrides { op, .. }
            | Self::DimMismatch { op, .. }
            | Self::LenMismatch { op, .. } => op,
        }
    }
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooShort {
                op,
                rows,
                cols,
                row_stride,
                col_stride,
                required,
                len,
            } => write!(
                f,
                "{op}: a {rows}x{cols} view with strides ({row_stride}, {col_stride}) \
                 needs {required} elements but the slice has {len}"
            ),
            Self::Overflow {
                op,
                rows,
                cols,
                row_stride,
                col_stride,
            } => write!(
                f,
                "{op}: the size of a {rows}x{cols} matrix with strides \
                 ({row_stride}, {col_stride}) overflows usize"
            ),
            Self::AliasingStrides {
                op,
                rows,
                cols,
                row_stride,
                col_stride,
            } => write!(
                f,
                "{op}: strides ({row_stride}, {col_stride}) make elements of a {rows}x{cols} \
                 output share memory"
            ),
            Self::DimMismatch {
                op,
                operand,
                expected,
                found,
            } => write!(
                f,
                "{op}: {operand} must be {}x{} but is {}x{}",
                expected.0, expected.1, found.0, found.1
            ),
            Self::LenMismatch {
                op,
                operand,
                expected,
                found,
            } => write!(
                f,
                "{op}: {operand} must have {expected} elements but has {found}"
            ),
        }
    }
}

impl std::error::Error for ShapeError {}
