//! Strided matrix views: [`MatRef`] reads, [`MatMut`] writes.
//!
//! A view is a pointer, a shape and two strides counted in elements: element `(i, j)` lives at
//! `ptr + i * row_stride + j * col_stride`. Row-major data has strides `(cols, 1)`, column-major
//! data `(1, rows)`. [`MatRef::t`] and [`MatMut::t`] swap the shape and the strides, so a
//! transposed operand costs nothing.

use core::marker::PhantomData;

use crate::error::ShapeError;

/// Elements needed for a `rows × cols` view with the given strides, or `None` on overflow.
/// An empty view needs none.
fn required_len(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1)
        .checked_mul(rs)?
        .checked_add((cols - 1).checked_mul(cs)?)?
        .checked_add(1)
}

/// Checks that a `rows × cols` view with these strides fits in `len` elements.
fn check_fits(
    op: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
) -> Result<(), ShapeError> {
    // Element counts beyond isize::MAX cannot be addressed; treat them as overflow too.
    let required = required_len(rows, cols, rs, cs)
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or(ShapeError::Overflow {
            op,
            rows,
            cols,
            row_stride: rs,
            col_stride: cs,
        })?;
    if required > len {
        return Err(ShapeError::BufferTooShort {
            op,
            rows,
            cols,
            row_stride: rs,
            col_stride: cs,
            required,
            len,
        });
    }
    Ok(())
}

/// True when no two elements of a `rows × cols` view with these strides share an address.
///
/// The test is the usual sufficient one: one stride must step over the whole extent of the
/// other dimension. Interleaved layouts that happen to be injective are rejected too.
pub(crate) fn strides_are_disjoint(rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    if rows == 0 || cols == 0 {
        // No elements, nothing to share.
        return true;
    }
    if rows == 1 || cols == 1 {
        // A single row or column: only its own stride matters.
        return (rows <= 1 || rs != 0) && (cols <= 1 || cs != 0);
    }
    if rs == 0 || cs == 0 {
        return false;
    }
    let (small, small_len, big) = if rs <= cs {
        (rs, rows, cs)
    } else {
        (cs, cols, rs)
    };
    match small.checked_mul(small_len) {
        Some(extent) => big >= extent,
        None => false,
    }
}

/// A read-only `rows × cols` view into a slice of `T`.
///
/// ```
/// use lingrad::MatRef;
/// let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let a = MatRef::new(&data, 2, 3)?; // row-major 2×3
/// assert_eq!(a.get(1, 0), Some(&4.0));
/// let at = a.t(); // 3×2, no copy
/// assert_eq!((at.rows(), at.cols()), (3, 2));
/// assert_eq!(at.get(0, 1), Some(&4.0));
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
pub struct MatRef<'a, T> {
    ptr: *const T,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    _marker: PhantomData<&'a [T]>,
}

impl<T> Clone for MatRef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for MatRef<'_, T> {}

// SAFETY: a `MatRef` is a shared borrow of `T`s; sharing it across threads is sound exactly when
// `&[T]` is, i.e. when `T: Sync`.
unsafe impl<T: Sync> Send for MatRef<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for MatRef<'_, T> {}

impl<T> core::fmt::Debug for MatRef<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MatRef")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("row_stride", &self.rs)
            .field("col_stride", &self.cs)
            .finish()
    }
}

impl<'a, T> MatRef<'a, T> {
    /// A contiguous row-major `rows × cols` view of `data` (strides `(cols, 1)`).
    ///
    /// # Errors
    /// [`ShapeError::BufferTooShort`] if `data` has fewer than `rows * cols` elements,
    /// [`ShapeError::Overflow`] if that product overflows.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        Self::checked("MatRef::new", data, rows, cols, cols, 1)
    }

    /// A `rows × cols` view of `data` with element `(i, j)` at `i * row_stride + j * col_stride`.
    ///
    /// Strides may be zero (a broadcast view) and need not be ordered.
    ///
    /// ```
    /// use lingrad::MatRef;
    /// let data = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
    /// let col_major = MatRef::strided(&data, 2, 3, 1, 2)?;
    /// assert_eq!(col_major.get(1, 2), Some(&6.0));
    /// # Ok::<(), lingrad::ShapeError>(())
    /// ```
    ///
    /// # Errors
    /// [`ShapeError::BufferTooShort`] if the last element lies past the end of `data`,
    /// [`ShapeError::Overflow`] if its offset overflows.
    pub fn strided(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, ShapeError> {
        Self::checked("MatRef::strided", data, rows, cols, row_stride, col_stride)
    }

    fn checked(
        op: &'static str,
        data: &'a [T],
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    ) -> Result<Self, ShapeError> {
        check_fits(op, data.len(), rows, cols, rs, cs)?;
        Ok(Self {
            ptr: data.as_ptr(),
            rows,
            cols,
            rs,
            cs,
            _marker: PhantomData,
        })
    }

    /// A view over raw memory.
    ///
    /// # Safety
    /// - for every `i < rows`, `j < cols`, `ptr + i * row_stride + j * col_stride` is in bounds
    ///   of one allocation and points to an initialised `T`;
    /// - that memory is not written through any other path for `'a`;
    /// - the largest such offset fits in `isize`.
    pub unsafe fn from_raw_parts(
        ptr: *const T,
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        Self {
            ptr,
            rows,
            cols,
            rs: row_stride,
            cs: col_stride,
            _marker: PhantomData,
        }
    }

    /// Number of rows.
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Distance in elements between vertically adjacent elements.
    #[inline]
    pub fn row_stride(&self) -> usize {
        self.rs
    }
    /// Distance in elements between horizontally adjacent elements.
    #[inline]
    pub fn col_stride(&self) -> usize {
        self.cs
    }
    /// `(rows, cols)`.
    #[inline]
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The transposed `cols × rows` view of the same memory.
    #[inline]
    pub fn t(self) -> Self {
        Self {
            ptr: self.ptr,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            _marker: PhantomData,
        }
    }

    /// Element `(i, j)`, or `None` when out of range.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> Option<&'a T> {
        if i < self.rows && j < self.cols {
            // SAFETY: (i, j) is in range, and the constructor checked that every in-range offset
            // lies inside the borrowed slice.
            Some(unsafe { &*self.ptr.add(i * self.rs + j * self.cs) })
        } else {
            None
        }
    }

    /// Base pointer (element `(0, 0)`).
    #[inline]
    pub(crate) fn as_ptr(&self) -> *const T {
        self.ptr
    }

    /// The `nrows × ncols` block starting at `(i, j)`.
    #[inline]
    pub(crate) fn block(self, i: usize, j: usize, nrows: usize, ncols: usize) -> Self {
        debug_assert!(i + nrows <= self.rows && j + ncols <= self.cols);
        Self {
            // `wrapping_add` keeps an empty block at the end in bounds of the rules.
            ptr: self.ptr.wrapping_add(i * self.rs + j * self.cs),
            rows: nrows,
            cols: ncols,
            rs: self.rs,
            cs: self.cs,
            _marker: PhantomData,
        }
    }
}

/// A mutable `rows × cols` view into a slice of `T`.
///
/// Its constructors reject strides under which two elements would share memory.
///
/// ```
/// use lingrad::MatMut;
/// let mut data = [0.0f32; 6];
/// let mut y = MatMut::new(&mut data, 2, 3)?;
/// *y.get_mut(1, 2).unwrap() = 5.0;
/// assert_eq!(data[5], 5.0);
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
pub struct MatMut<'a, T> {
    ptr: *mut T,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    _marker: PhantomData<&'a mut [T]>,
}

// SAFETY: a `MatMut` is a unique borrow of `T`s; sending it to another thread is sound exactly
// when sending `&mut [T]` is, i.e. when `T: Send`.
unsafe impl<T: Send> Send for MatMut<'_, T> {}
// SAFETY: a shared `&MatMut` only permits reads, like `&[T]`.
unsafe impl<T: Sync> Sync for MatMut<'_, T> {}

impl<T> core::fmt::Debug for MatMut<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MatMut")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("row_stride", &self.rs)
            .field("col_stride", &self.cs)
            .finish()
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A contiguous row-major `rows × cols` view of `data` (strides `(cols, 1)`).
    ///
    /// # Errors
    /// [`ShapeError::BufferTooShort`] if `data` has fewer than `rows * cols` elements,
    /// [`ShapeError::Overflow`] if that product overflows.
    pub fn new(data: &'a mut [T], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        Self::checked("MatMut::new", data, rows, cols, cols, 1)
    }

    /// A `rows × cols` view of `data` with element `(i, j)` at `i * row_stride + j * col_stride`.
    ///
    /// ```
    /// use lingrad::{MatMut, ShapeError};
    /// let mut data = [0.0f32; 8];
    /// // Every other element of a 2×4 buffer: a 2×2 view.
    /// assert!(MatMut::strided(&mut data, 2, 2, 4, 2).is_ok());
    /// // A zero column stride would make the two columns one element.
    /// let err = MatMut::strided(&mut data, 2, 2, 4, 0).unwrap_err();
    /// assert!(matches!(err, ShapeError::AliasingStrides { .. }));
    /// ```
    ///
    /// # Errors
    /// [`ShapeError::AliasingStrides`] if two elements would share memory (neither stride
    /// spans the other dimension's whole extent), [`ShapeError::BufferTooShort`] if the last
    /// element lies past the end of `data`, [`ShapeError::Overflow`] if its offset overflows.
    pub fn strided(
        data: &'a mut [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, ShapeError> {
        Self::checked("MatMut::strided", data, rows, cols, row_stride, col_stride)
    }

    fn checked(
        op: &'static str,
        data: &'a mut [T],
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    ) -> Result<Self, ShapeError> {
        check_fits(op, data.len(), rows, cols, rs, cs)?;
        if !strides_are_disjoint(rows, cols, rs, cs) {
            return Err(ShapeError::AliasingStrides {
                op,
                rows,
                cols,
                row_stride: rs,
                col_stride: cs,
            });
        }
        Ok(Self {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
            rs,
            cs,
            _marker: PhantomData,
        })
    }

    /// A mutable view over raw memory.
    ///
    /// # Safety
    /// - for every `i < rows`, `j < cols`, `ptr + i * row_stride + j * col_stride` is in bounds
    ///   of one allocation and points to an initialised `T`;
    /// - no two in-range `(i, j)` map to the same address;
    /// - that memory is not read or written through any other path for `'a`;
    /// - the largest such offset fits in `isize`.
    pub unsafe fn from_raw_parts(
        ptr: *mut T,
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        Self {
            ptr,
            rows,
            cols,
            rs: row_stride,
            cs: col_stride,
            _marker: PhantomData,
        }
    }

    /// Number of rows.
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Distance in elements between vertically adjacent elements.
    #[inline]
    pub fn row_stride(&self) -> usize {
        self.rs
    }
    /// Distance in elements between horizontally adjacent elements.
    #[inline]
    pub fn col_stride(&self) -> usize {
        self.cs
    }
    /// `(rows, cols)`.
    #[inline]
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The transposed `cols × rows` view of the same memory.
    #[inline]
    pub fn t(self) -> Self {
        Self {
            ptr: self.ptr,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            _marker: PhantomData,
        }
    }

    /// A read-only view of the same elements, borrowed from this one.
    #[inline]
    pub fn as_ref(&self) -> MatRef<'_, T> {
        // SAFETY: the elements were validated at construction and stay borrowed through
        // `&self`, so nothing writes them while the returned view lives.
        unsafe { MatRef::from_raw_parts(self.ptr, self.rows, self.cols, self.rs, self.cs) }
    }

    /// A shorter-lived mutable view of the same elements, so this one can be used again later.
    #[inline]
    pub fn reborrow(&mut self) -> MatMut<'_, T> {
        MatMut {
            ptr: self.ptr,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
            _marker: PhantomData,
        }
    }

    /// Element `(i, j)`, or `None` when out of range.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> Option<&T> {
        if i < self.rows && j < self.cols {
            // SAFETY: (i, j) is in range and the constructor checked every in-range offset.
            Some(unsafe { &*self.ptr.add(i * self.rs + j * self.cs) })
        } else {
            None
        }
    }

    /// Mutable element `(i, j)`, or `None` when out of range.
    #[inline]
    pub fn get_mut(&mut self, i: usize, j: usize) -> Option<&mut T> {
        if i < self.rows && j < self.cols {
            // SAFETY: (i, j) is in range and the constructor checked every in-range offset;
            // `&mut self` makes the returned borrow unique.
            Some(unsafe { &mut *self.ptr.add(i * self.rs + j * self.cs) })
        } else {
            None
        }
    }

    /// Base pointer (element `(0, 0)`).
    #[inline]
    pub(crate) fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr
    }

    /// Applies `f` to every element, row by row.
    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(usize, usize, &mut T)) {
        for i in 0..self.rows {
            for j in 0..self.cols {
                // SAFETY: (i, j) is in range and the constructor checked every in-range offset.
                f(i, j, unsafe {
                    &mut *self.ptr.add(i * self.rs + j * self.cs)
                });
            }
        }
    }
}
