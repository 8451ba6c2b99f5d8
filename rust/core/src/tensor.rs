//! Tensor: a dtype-tagged n-dimensional array (f32, f64, i32, i64, u8, bool), its borrowed
//! view, casts, broadcasting and the dtype promotion rules of both plan dialects.

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::error::{Error, Result};

/// Element types the core supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I32,
    I64,
    F32,
    F64,
}

impl DType {
    /// The syft-proto / numpy name of the dtype (`"float32"`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parse a syft-proto dtype string; `None` for dtypes the core does not support.
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "bool" => DType::Bool,
            "uint8" => DType::U8,
            "int32" => DType::I32,
            "int64" => DType::I64,
            "float32" => DType::F32,
            "float64" => DType::F64,
            _ => return None,
        })
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::U8 | DType::I32 | DType::I64)
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 => 1,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// Promotion category: bool (0) < integer (1) < floating (2).
    pub fn category(self) -> u8 {
        match self {
            DType::Bool => 0,
            DType::U8 | DType::I32 | DType::I64 => 1,
            DType::F32 | DType::F64 => 2,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A number literal of a plan action (`arg_int`, `arg_float`, `arg_bool`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    /// The float32 value of an `arg_float`, widened without change.
    Float(f64),
}

impl Scalar {
    /// The dtype a literal takes when it alone decides a result (torch: int64 / float32).
    pub fn default_dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::Int(_) => DType::I64,
            Scalar::Float(_) => DType::F32,
        }
    }

    /// A 0-d tensor of `dtype` holding this value (C-style conversion).
    pub fn to_tensor(self, dtype: DType) -> Tensor {
        macro_rules! mk {
            ($t:ty) => {{
                let v: $t = match self {
                    Scalar::Bool(b) => AsPrim::<$t>::as_(b),
                    Scalar::Int(i) => AsPrim::<$t>::as_(i),
                    Scalar::Float(f) => AsPrim::<$t>::as_(f),
                };
                <$t as Element>::wrap(ArrayD::from_elem(IxDyn(&[]), v))
            }};
        }
        match dtype {
            DType::Bool => mk!(bool),
            DType::U8 => mk!(u8),
            DType::I32 => mk!(i32),
            DType::I64 => mk!(i64),
            DType::F32 => mk!(f32),
            DType::F64 => mk!(f64),
        }
    }
}

/// Where an operand stands in torch's type promotion: dimensioned tensors outrank 0-d
/// tensors, which outrank number literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Literal = 0,
    ZeroDim = 1,
    Dimensioned = 2,
}

/// torch ≥ 1.5 result type of operands given as `(dtype, priority)` (plans.md §6.2): the
/// highest category wins; its dtype is the widest of that category within the
/// highest-priority group holding it; a category reached only by a literal gives the
/// literal's default dtype (int64 / float32).
pub fn torch_result_type(operands: &[(DType, Priority)]) -> DType {
    let cat = operands
        .iter()
        .map(|(d, _)| d.category())
        .max()
        .unwrap_or(2);
    let group = operands
        .iter()
        .filter(|(d, _)| d.category() == cat)
        .map(|(_, p)| *p)
        .max()
        .unwrap_or(Priority::Literal);
    if group == Priority::Literal {
        return match cat {
            0 => DType::Bool,
            1 => DType::I64,
            _ => DType::F32,
        };
    }
    operands
        .iter()
        .filter(|(d, p)| d.category() == cat && *p == group)
        .map(|(d, _)| *d)
        .max()
        .unwrap_or(DType::F32)
}

/// tfjs-core `upcastType` over bool < int32 < float32 (plans.md §6.3).
pub fn tfjs_upcast(a: DType, b: DType) -> DType {
    a.max(b)
}

/// The dtype a value takes on entry into the TF.js dialect: float64 → float32,
/// int64/uint8 → int32 (range-checked by [`Tensor::to_tfjs`]), others unchanged.
pub fn tfjs_entry_dtype(d: DType) -> DType {
    match d {
        DType::F64 | DType::F32 => DType::F32,
        DType::I64 | DType::U8 | DType::I32 => DType::I32,
        DType::Bool => DType::Bool,
    }
}

/// NumPy broadcasting of two shapes; `Err` carries the standard message.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(broadcast_error(a, b));
        };
    }
    Ok(out)
}

/// `ShapeError` text for shapes that do not broadcast (operands in call order).
pub fn broadcast_error(a: &[usize], b: &[usize]) -> Error {
    Error::Shape(format!(
        "Operands could not be broadcast together with shapes {} and {}.",
        shape_str(a),
        shape_str(b)
    ))
}

/// Normalize a possibly negative axis against `ndim` (`ndim == 0` accepts -1 and 0 like torch).
pub fn norm_axis(axis: i64, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as i64;
    let a = if axis < 0 { axis + n } else { axis };
    if a < 0 || a >= n {
        return Err(Error::Shape(format!(
            "dimension out of range (expected to be in range of [{}, {}], but got {axis})",
            -n,
            n - 1
        )));
    }
    Ok(a as usize)
}

/// A dense array of one of the supported dtypes.
///
/// Arrays are owned `ArrayD`s (usually row-major; kernels accept any strides) so that
/// they hand over to numpy without a copy.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    Bool(ArrayD<bool>),
    U8(ArrayD<u8>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

/// A borrowed tensor: the view of a [`Tensor`], of caller memory (numpy inputs) or of
/// plan state; transposes are free re-stridings of a view.
#[derive(Debug, Clone)]
pub enum TensorView<'a> {
    Bool(ArrayViewD<'a, bool>),
    U8(ArrayViewD<'a, u8>),
    I32(ArrayViewD<'a, i32>),
    I64(ArrayViewD<'a, i64>),
    F32(ArrayViewD<'a, f32>),
    F64(ArrayViewD<'a, f64>),
}

/// Apply `$body` to the inner array of any variant, binding it as `$a`.
#[macro_export]
macro_rules! with_tensor {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::tensor::Tensor::Bool($a) => $body,
            $crate::tensor::Tensor::U8($a) => $body,
            $crate::tensor::Tensor::I32($a) => $body,
            $crate::tensor::Tensor::I64($a) => $body,
            $crate::tensor::Tensor::F32($a) => $body,
            $crate::tensor::Tensor::F64($a) => $body,
        }
    };
}

/// Apply `$body` to the inner view of any [`TensorView`] variant, binding it as `$a`.
#[macro_export]
macro_rules! with_view {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::tensor::TensorView::Bool($a) => $body,
            $crate::tensor::TensorView::U8($a) => $body,
            $crate::tensor::TensorView::I32($a) => $body,
            $crate::tensor::TensorView::I64($a) => $body,
            $crate::tensor::TensorView::F32($a) => $body,
            $crate::tensor::TensorView::F64($a) => $body,
        }
    };
}

/// Rebuild a [`TensorView`] of the same variant from an expression over its inner view.
#[macro_export]
macro_rules! map_view {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::tensor::TensorView::Bool($a) => $crate::tensor::TensorView::Bool($body),
            $crate::tensor::TensorView::U8($a) => $crate::tensor::TensorView::U8($body),
            $crate::tensor::TensorView::I32($a) => $crate::tensor::TensorView::I32($body),
            $crate::tensor::TensorView::I64($a) => $crate::tensor::TensorView::I64($body),
            $crate::tensor::TensorView::F32($a) => $crate::tensor::TensorView::F32($body),
            $crate::tensor::TensorView::F64($a) => $crate::tensor::TensorView::F64($body),
        }
    };
}

/// Rebuild a [`Tensor`] of the same variant from an expression over its inner array.
#[macro_export]
macro_rules! map_tensor {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::tensor::Tensor::Bool($a) => $crate::tensor::Tensor::Bool($body),
            $crate::tensor::Tensor::U8($a) => $crate::tensor::Tensor::U8($body),
            $crate::tensor::Tensor::I32($a) => $crate::tensor::Tensor::I32($body),
            $crate::tensor::Tensor::I64($a) => $crate::tensor::Tensor::I64($body),
            $crate::tensor::Tensor::F32($a) => $crate::tensor::Tensor::F32($body),
            $crate::tensor::Tensor::F64($a) => $crate::tensor::Tensor::F64($body),
        }
    };
}

impl Tensor {
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::Bool(_) => DType::Bool,
            Tensor::U8(_) => DType::U8,
            Tensor::I32(_) => DType::I32,
            Tensor::I64(_) => DType::I64,
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
        }
    }

    pub fn shape(&self) -> &[usize] {
        with_tensor!(self, a => a.shape())
    }

    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements (1 for a 0-d tensor).
    pub fn len(&self) -> usize {
        with_tensor!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape as `"3,3"` (empty for 0-d), the format used in broadcast error messages.
    pub fn shape_str(&self) -> String {
        shape_str(self.shape())
    }

    /// Build a tensor from row-major values, checking that the count matches the shape.
    pub fn from_shape_vec<T: Element>(shape: &[usize], values: Vec<T>) -> Result<Tensor> {
        let expected: usize = shape.iter().product();
        if values.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{} values for shape [{}] ({} expected)",
                values.len(),
                shape_str(shape),
                expected
            )));
        }
        let arr = ArrayD::from_shape_vec(IxDyn(shape), values)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        Ok(T::wrap(arr))
    }

    /// A borrowed view of the whole tensor.
    pub fn view(&self) -> TensorView<'_> {
        match self {
            Tensor::Bool(a) => TensorView::Bool(a.view()),
            Tensor::U8(a) => TensorView::U8(a.view()),
            Tensor::I32(a) => TensorView::I32(a.view()),
            Tensor::I64(a) => TensorView::I64(a.view()),
            Tensor::F32(a) => TensorView::F32(a.view()),
            Tensor::F64(a) => TensorView::F64(a.view()),
        }
    }

    /// Convert to `dtype` (no copy when it already has it).
    pub fn into_dtype(self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            self
        } else {
            self.view().cast(dtype)
        }
    }

    /// The same values in row-major layout (no copy when already row-major).
    pub fn into_standard_layout(self) -> Tensor {
        map_tensor!(self, a => if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() })
    }

    /// Convert on entry into the TF.js dialect (plans.md §6.3).
    pub fn to_tfjs(self) -> Result<Tensor> {
        if let Tensor::I64(a) = &self {
            if let Some(v) = a
                .iter()
                .find(|v| **v < i32::MIN as i64 || **v > i32::MAX as i64)
            {
                return Err(Error::DType(format!(
                    "int64 value {v} is outside the int32 range of the TF.js dialect"
                )));
            }
        }
        let d = tfjs_entry_dtype(self.dtype());
        Ok(self.into_dtype(d))
    }

    /// Element `i` in row-major order as f64 (tests and diagnostics).
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        with_tensor!(self, a => a.iter().nth(i).map(|v| AsPrim::<f64>::as_(*v)))
    }
}

impl<'a> TensorView<'a> {
    pub fn dtype(&self) -> DType {
        match self {
            TensorView::Bool(_) => DType::Bool,
            TensorView::U8(_) => DType::U8,
            TensorView::I32(_) => DType::I32,
            TensorView::I64(_) => DType::I64,
            TensorView::F32(_) => DType::F32,
            TensorView::F64(_) => DType::F64,
        }
    }

    pub fn shape(&self) -> &[usize] {
        with_view!(self, a => a.shape())
    }

    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    pub fn len(&self) -> usize {
        with_view!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `float32[2,3]`: the form used in mismatch messages.
    pub fn layout(&self) -> String {
        layout(self.dtype(), self.shape())
    }

    /// The same view with a shorter lifetime (views are invariant in their lifetime).
    pub fn reborrow(&self) -> TensorView<'_> {
        map_view!(self, a => a.view())
    }

    /// A copy in row-major layout.
    pub fn to_tensor(&self) -> Tensor {
        match self {
            TensorView::Bool(a) => Tensor::Bool(a.as_standard_layout().into_owned()),
            TensorView::U8(a) => Tensor::U8(a.as_standard_layout().into_owned()),
            TensorView::I32(a) => Tensor::I32(a.as_standard_layout().into_owned()),
            TensorView::I64(a) => Tensor::I64(a.as_standard_layout().into_owned()),
            TensorView::F32(a) => Tensor::F32(a.as_standard_layout().into_owned()),
            TensorView::F64(a) => Tensor::F64(a.as_standard_layout().into_owned()),
        }
    }

    /// A row-major copy converted to `dtype` (C-style: float → int truncates, → bool is `!= 0`).
    pub fn cast(&self, dtype: DType) -> Tensor {
        fn go<S: Element + AsPrim<D>, D: Element>(a: &ArrayViewD<'_, S>) -> Tensor {
            D::wrap(a.map(|v| v.as_()))
        }
        macro_rules! to {
            ($s:ty, $a:expr) => {
                match dtype {
                    DType::Bool => go::<$s, bool>($a),
                    DType::U8 => go::<$s, u8>($a),
                    DType::I32 => go::<$s, i32>($a),
                    DType::I64 => go::<$s, i64>($a),
                    DType::F32 => go::<$s, f32>($a),
                    DType::F64 => go::<$s, f64>($a),
                }
            };
        }
        match self {
            TensorView::Bool(a) => to!(bool, a),
            TensorView::U8(a) => to!(u8, a),
            TensorView::I32(a) => to!(i32, a),
            TensorView::I64(a) => to!(i64, a),
            TensorView::F32(a) => to!(f32, a),
            TensorView::F64(a) => to!(f64, a),
        }
    }

    /// The view with its axes reversed (a free re-striding).
    pub fn reversed_axes(self) -> TensorView<'a> {
        map_view!(self, a => a.reversed_axes())
    }

    /// The view with axes `i` and `j` swapped.
    pub fn swap_axes(self, i: usize, j: usize) -> TensorView<'a> {
        map_view!(self, a => { let mut a = a; a.swap_axes(i, j); a })
    }
}

/// `dtype[d0,d1,…]`, the layout form of mismatch messages.
pub fn layout(dtype: DType, shape: &[usize]) -> String {
    format!("{dtype}[{}]", shape_str(shape))
}

/// Format dims as `"3,3"`.
pub fn shape_str(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// C-style numeric conversion between the supported element types.
pub trait AsPrim<T> {
    fn as_(self) -> T;
}

macro_rules! as_prim_num {
    ($($s:ty),*) => {$(
        impl AsPrim<u8> for $s { #[inline(always)] fn as_(self) -> u8 { self as u8 } }
        impl AsPrim<i32> for $s { #[inline(always)] fn as_(self) -> i32 { self as i32 } }
        impl AsPrim<i64> for $s { #[inline(always)] fn as_(self) -> i64 { self as i64 } }
        impl AsPrim<f32> for $s { #[inline(always)] fn as_(self) -> f32 { self as f32 } }
        impl AsPrim<f64> for $s { #[inline(always)] fn as_(self) -> f64 { self as f64 } }
        impl AsPrim<bool> for $s {
            #[inline(always)]
            #[allow(clippy::float_cmp)]
            fn as_(self) -> bool { self != (0 as $s) }
        }
    )*};
}
as_prim_num!(u8, i32, i64, f32, f64);

macro_rules! as_prim_bool {
    ($($d:ty),*) => {$(
        impl AsPrim<$d> for bool { #[inline(always)] fn as_(self) -> $d { self as u8 as $d } }
    )*};
}
as_prim_bool!(u8, i32, i64, f32, f64);
impl AsPrim<bool> for bool {
    #[inline(always)]
    fn as_(self) -> bool {
        self
    }
}

/// Rust element types that map onto a [`Tensor`] variant.
pub trait Element:
    Copy
    + Send
    + Sync
    + PartialEq
    + PartialOrd
    + std::fmt::Debug
    + 'static
    + AsPrim<bool>
    + AsPrim<u8>
    + AsPrim<i32>
    + AsPrim<i64>
    + AsPrim<f32>
    + AsPrim<f64>
{
    const DTYPE: DType;
    fn wrap(a: ArrayD<Self>) -> Tensor;
    fn view(t: &Tensor) -> Option<&ArrayD<Self>>;
    /// The inner view of a [`TensorView`] of this dtype.
    fn of_view<'a>(t: &TensorView<'a>) -> Option<ArrayViewD<'a, Self>>;
    /// Wrap a view.
    fn wrap_view(a: ArrayViewD<'_, Self>) -> TensorView<'_>;
    /// Take the inner array of an owned tensor of this dtype.
    fn unwrap(t: Tensor) -> std::result::Result<ArrayD<Self>, Tensor>;
}

macro_rules! element {
    ($t:ty, $v:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$v;
            fn wrap(a: ArrayD<Self>) -> Tensor {
                Tensor::$v(a)
            }
            fn view(t: &Tensor) -> Option<&ArrayD<Self>> {
                match t {
                    Tensor::$v(a) => Some(a),
                    _ => None,
                }
            }
            fn of_view<'a>(t: &TensorView<'a>) -> Option<ArrayViewD<'a, Self>> {
                match t {
                    TensorView::$v(a) => Some(a.clone()),
                    _ => None,
                }
            }
            fn wrap_view(a: ArrayViewD<'_, Self>) -> TensorView<'_> {
                TensorView::$v(a)
            }
            fn unwrap(t: Tensor) -> std::result::Result<ArrayD<Self>, Tensor> {
                match t {
                    Tensor::$v(a) => Ok(a),
                    other => Err(other),
                }
            }
        }
    };
}
element!(bool, Bool);
element!(u8, U8);
element!(i32, I32);
element!(i64, I64);
element!(f32, F32);
element!(f64, F64);

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;
    use Priority::*;

    #[test]
    fn torch_promotion_examples_of_the_spec() {
        assert_eq!(
            torch_result_type(&[(F32, Dimensioned), (I64, ZeroDim)]),
            F32
        );
        assert_eq!(
            torch_result_type(&[(I64, Dimensioned), (F32, Literal)]),
            F32
        );
        assert_eq!(
            torch_result_type(&[(I32, Dimensioned), (I64, Dimensioned)]),
            I64
        );
        assert_eq!(
            torch_result_type(&[(F32, Dimensioned), (F64, ZeroDim)]),
            F32
        );
        assert_eq!(
            torch_result_type(&[(I64, Dimensioned), (F64, ZeroDim)]),
            F64
        );
        assert_eq!(
            torch_result_type(&[(Bool, Dimensioned), (F32, Dimensioned)]),
            F32
        );
        assert_eq!(
            torch_result_type(&[(U8, Dimensioned), (I32, Dimensioned)]),
            I32
        );
        assert_eq!(torch_result_type(&[(F32, ZeroDim), (I64, ZeroDim)]), F32);
        assert_eq!(
            torch_result_type(&[(Bool, Dimensioned), (I64, Literal)]),
            I64
        );
        assert_eq!(
            torch_result_type(&[(I32, Dimensioned), (I64, Literal)]),
            I32
        );
        assert_eq!(
            torch_result_type(&[(Bool, Dimensioned), (Bool, Literal)]),
            Bool
        );
    }

    #[test]
    fn tfjs_upcast_and_entry() {
        assert_eq!(tfjs_upcast(I32, F32), F32);
        assert_eq!(tfjs_upcast(Bool, I32), I32);
        assert_eq!(tfjs_entry_dtype(F64), F32);
        assert_eq!(tfjs_entry_dtype(I64), I32);
        let big = Tensor::from_shape_vec(&[1], vec![1i64 << 40]).unwrap();
        assert!(matches!(big.to_tfjs(), Err(Error::DType(_))));
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[], &[2, 2]).unwrap(), vec![2, 2]);
        assert_eq!(broadcast_shapes(&[0, 3], &[1]).unwrap(), vec![0, 3]);
        let e = broadcast_shapes(&[3, 3], &[2]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Operands could not be broadcast together with shapes 3,3 and 2."
        );
        let e = broadcast_shapes(&[], &[]).unwrap();
        assert!(e.is_empty());
    }

    #[test]
    fn casts_follow_c_rules() {
        let t = Tensor::from_shape_vec(&[4], vec![-1.7f32, 0.0, 2.9, 0.5]).unwrap();
        assert_eq!(
            t.view().cast(I64),
            Tensor::from_shape_vec(&[4], vec![-1i64, 0, 2, 0]).unwrap()
        );
        assert_eq!(
            t.view().cast(Bool),
            Tensor::from_shape_vec(&[4], vec![true, false, true, true]).unwrap()
        );
        assert_eq!(Scalar::Int(3).to_tensor(F32).shape(), &[] as &[usize]);
    }
}
