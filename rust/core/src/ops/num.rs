//! Numeric element traits and the broadcasting map/zip engine every elementwise kernel uses
//! (fast paths for equal shapes and scalars; reuse of an owned operand's buffer).

use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};

use crate::error::Result;
use crate::ops::Arr;
use crate::tensor::{broadcast_shapes, Element};

/// Arithmetic on the numeric element types. Integers wrap on overflow (as torch);
/// integer division floors (only the tfjs dialect divides integers) and gives 0 for a zero
/// divisor instead of trapping.
pub trait Num: Element + Default {
    const ZERO: Self;
    const ONE: Self;
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn div(self, b: Self) -> Self;
    fn pow(self, b: Self) -> Self;
    /// Maximum; NaN wins (torch `maximum`).
    fn max_(self, b: Self) -> Self;
    /// Minimum; NaN wins.
    fn min_(self, b: Self) -> Self;
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    fn sign(self) -> Self;
    fn is_nan(self) -> bool;
    fn is_negative(self) -> bool;
}

macro_rules! num_int {
    ($t:ty) => {
        impl Num for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                self.wrapping_add(b)
            }
            #[inline(always)]
            fn sub(self, b: Self) -> Self {
                self.wrapping_sub(b)
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                self.wrapping_mul(b)
            }
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                if b == 0 {
                    0
                } else {
                    let q = self.wrapping_div(b);
                    #[allow(unused_comparisons)]
                    let neg = (self < 0) != (b < 0);
                    if neg && q.wrapping_mul(b) != self {
                        q.wrapping_sub(1)
                    } else {
                        q
                    }
                }
            }
            #[inline(always)]
            fn pow(self, b: Self) -> Self {
                #[allow(unused_comparisons)]
                if b < 0 {
                    0
                } else {
                    self.wrapping_pow(b as u32)
                }
            }
            #[inline(always)]
            fn max_(self, b: Self) -> Self {
                if self >= b {
                    self
                } else {
                    b
                }
            }
            #[inline(always)]
            fn min_(self, b: Self) -> Self {
                if self <= b {
                    self
                } else {
                    b
                }
            }
            #[inline(always)]
            fn neg(self) -> Self {
                (0 as $t).wrapping_sub(self)
            }
            #[inline(always)]
            #[allow(unused_comparisons)]
            fn abs(self) -> Self {
                if self < 0 {
                    self.neg()
                } else {
                    self
                }
            }
            #[inline(always)]
            #[allow(unused_comparisons)]
            fn sign(self) -> Self {
                if self > 0 {
                    1
                } else if self < 0 {
                    (0 as $t).wrapping_sub(1)
                } else {
                    0
                }
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                false
            }
            #[inline(always)]
            #[allow(unused_comparisons)]
            fn is_negative(self) -> bool {
                self < 0
            }
        }
    };
}
num_int!(u8);
num_int!(i32);
num_int!(i64);

macro_rules! num_float {
    ($t:ty) => {
        impl Num for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                self + b
            }
            #[inline(always)]
            fn sub(self, b: Self) -> Self {
                self - b
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                self * b
            }
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                self / b
            }
            #[inline(always)]
            fn pow(self, b: Self) -> Self {
                self.powf(b)
            }
            #[inline(always)]
            fn max_(self, b: Self) -> Self {
                if self.is_nan() || self >= b {
                    self
                } else {
                    b
                }
            }
            #[inline(always)]
            fn min_(self, b: Self) -> Self {
                if self.is_nan() || self <= b {
                    self
                } else {
                    b
                }
            }
            #[inline(always)]
            fn neg(self) -> Self {
                -self
            }
            #[inline(always)]
            fn abs(self) -> Self {
                self.abs()
            }
            #[inline(always)]
            fn sign(self) -> Self {
                if self > 0.0 {
                    1.0
                } else if self < 0.0 {
                    -1.0
                } else {
                    self
                }
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                self.is_nan()
            }
            #[inline(always)]
            fn is_negative(self) -> bool {
                self < 0.0
            }
        }
    };
}
num_float!(f32);
num_float!(f64);

/// Transcendental functions of the float element types.
pub trait Float: Num {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
}

macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    };
}
float!(f32);
float!(f64);

/// `f` over every element; in place when the input is owned and row-major.
pub fn map_same<T: Element>(a: Arr<'_, T>, f: impl Fn(T) -> T) -> ArrayD<T> {
    match a {
        Arr::Own(mut a) if a.is_standard_layout() => {
            if let Some(s) = a.as_slice_mut() {
                for x in s {
                    *x = f(*x);
                }
            }
            a
        }
        other => map_to(&other.view(), f),
    }
}

/// `f` over every element into a new row-major array.
pub fn map_to<T: Element, O: Element>(a: &ArrayViewD<'_, T>, f: impl Fn(T) -> O) -> ArrayD<O> {
    if let Some(s) = a.as_slice() {
        let v: Vec<O> = s.iter().map(|x| f(*x)).collect();
        return ArrayD::from_shape_vec(IxDyn(a.shape()), v).unwrap_or_else(|_| unreachable!());
    }
    let v: Vec<O> = a.iter().map(|x| f(*x)).collect();
    ArrayD::from_shape_vec(IxDyn(a.shape()), v).unwrap_or_else(|_| unreachable!())
}

/// `f(a, b)` with NumPy broadcasting; reuses the buffer of an owned operand that already
/// has the result shape and row-major layout.
pub fn zip_same<T: Element>(
    a: Arr<'_, T>,
    b: Arr<'_, T>,
    f: impl Fn(T, T) -> T,
) -> Result<ArrayD<T>> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    match (a, b) {
        (Arr::Own(mut x), b) if x.shape() == shape.as_slice() && x.is_standard_layout() => {
            let bv = b.view();
            if let (Some(xs), Some(bs)) = (x.as_slice_mut(), bv.as_slice()) {
                if bs.len() == xs.len() {
                    for (p, q) in xs.iter_mut().zip(bs) {
                        *p = f(*p, *q);
                    }
                    return Ok(x);
                }
                if bs.len() == 1 {
                    let q = bs[0];
                    for p in xs.iter_mut() {
                        *p = f(*p, q);
                    }
                    return Ok(x);
                }
            }
            let bb = bv
                .broadcast(IxDyn(&shape))
                .unwrap_or_else(|| unreachable!());
            Zip::from(&mut x).and(&bb).for_each(|p, q| *p = f(*p, *q));
            Ok(x)
        }
        (a, Arr::Own(mut y)) if y.shape() == shape.as_slice() && y.is_standard_layout() => {
            let av = a.view();
            if let (Some(ys), Some(as_)) = (y.as_slice_mut(), av.as_slice()) {
                if as_.len() == ys.len() {
                    for (q, p) in ys.iter_mut().zip(as_) {
                        *q = f(*p, *q);
                    }
                    return Ok(y);
                }
                if as_.len() == 1 {
                    let p = as_[0];
                    for q in ys.iter_mut() {
                        *q = f(p, *q);
                    }
                    return Ok(y);
                }
            }
            let ab = av
                .broadcast(IxDyn(&shape))
                .unwrap_or_else(|| unreachable!());
            Zip::from(&mut y).and(&ab).for_each(|q, p| *q = f(*p, *q));
            Ok(y)
        }
        (a, b) => Ok(zip_views(&a.view(), &b.view(), &shape, f)),
    }
}

/// `f(a, b)` into a new row-major array of the broadcast shape `shape`.
pub fn zip_views<T: Element, U: Element, O: Element>(
    a: &ArrayViewD<'_, T>,
    b: &ArrayViewD<'_, U>,
    shape: &[usize],
    f: impl Fn(T, U) -> O,
) -> ArrayD<O> {
    let n: usize = shape.iter().product();
    let out =
        |v: Vec<O>| ArrayD::from_shape_vec(IxDyn(shape), v).unwrap_or_else(|_| unreachable!());
    if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) {
        if x.len() == n && y.len() == n {
            return out(x.iter().zip(y).map(|(p, q)| f(*p, *q)).collect());
        }
        if x.len() == n && y.len() == 1 {
            let q = y[0];
            return out(x.iter().map(|p| f(*p, q)).collect());
        }
        if y.len() == n && x.len() == 1 {
            let p = x[0];
            return out(y.iter().map(|q| f(p, *q)).collect());
        }
    }
    let ab = a.broadcast(IxDyn(shape)).unwrap_or_else(|| unreachable!());
    let bb = b.broadcast(IxDyn(shape)).unwrap_or_else(|| unreachable!());
    Zip::from(&ab).and(&bb).map_collect(|p, q| f(*p, *q))
}

/// `f(a, b)` with broadcasting into a new array of another element type (comparisons).
pub fn zip_map<T: Element, O: Element>(
    a: &ArrayViewD<'_, T>,
    b: &ArrayViewD<'_, T>,
    f: impl Fn(T, T) -> O,
) -> Result<ArrayD<O>> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    Ok(zip_views(a, b, &shape, f))
}
