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

/// `f` over every element; in place when the input is owned and contiguous.
pub fn map_same<T: Element>(a: Arr<'_, T>, f: impl Fn(T) -> T) -> ArrayD<T> {
    match a {
        Arr::Own(mut a) if a.as_slice_memory_order().is_some() => {
            if let Some(s) = a.as_slice_memory_order_mut() {
                for x in s {
                    *x = f(*x);
                }
            }
            a
        }
        other => map_to(&other.view(), f),
    }
}

/// `f` over every element into a new array (same memory order when contiguous).
pub fn map_to<T: Element, O: Element>(a: &ArrayViewD<'_, T>, f: impl Fn(T) -> O) -> ArrayD<O> {
    if let Some(s) = a.as_slice() {
        let v: Vec<O> = s.iter().map(|x| f(*x)).collect();
        return ArrayD::from_shape_vec(IxDyn(a.shape()), v).unwrap_or_else(|_| unreachable!());
    }
    a.map(|x| f(*x))
}

/// Update `x` in place with `g(x, o)`, `o` broadcast to `x`'s shape.
fn update<T: Element>(x: &mut ArrayD<T>, o: &ArrayViewD<'_, T>, g: impl Fn(T, T) -> T) {
    let same_layout = o.shape() == x.shape() && o.strides() == x.strides();
    let scalar = o.len() == 1;
    if let Some(xs) = x.as_slice_memory_order_mut() {
        if same_layout {
            if let Some(os) = o.as_slice_memory_order() {
                update_with(xs, os, g);
                return;
            }
        }
        if scalar {
            let q = *o.iter().next().unwrap_or_else(|| unreachable!());
            for p in xs.iter_mut() {
                *p = g(*p, q);
            }
            return;
        }
    }
    let ob = o.broadcast(x.raw_dim()).unwrap_or_else(|| unreachable!());
    Zip::from(x).and(&ob).for_each(|p, q| *p = g(*p, *q));
}

/// `f(a, b)` with NumPy broadcasting; reuses the buffer of an owned operand that already
/// has the result shape and a contiguous layout.
pub fn zip_same<T: Element>(
    a: Arr<'_, T>,
    b: Arr<'_, T>,
    f: impl Fn(T, T) -> T,
) -> Result<ArrayD<T>> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let fits = |x: &ArrayD<T>| x.shape() == shape.as_slice() && x.as_slice_memory_order().is_some();
    match (a, b) {
        (Arr::Own(mut x), b) if fits(&x) => {
            update(&mut x, &b.view(), &f);
            Ok(x)
        }
        (a, Arr::Own(mut y)) if fits(&y) => {
            update(&mut y, &a.view(), |q, p| f(p, q));
            Ok(y)
        }
        (a, b) => Ok(zip_views(&a.view(), &b.view(), &shape, f)),
    }
}

/// `f(a, b)` into a new array of the broadcast shape `shape` (column-major when both
/// operands are, row-major otherwise).
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
    if a.ndim() > 1 && a.shape() == shape && b.shape() == shape && a.strides() == b.strides() {
        // Both column-major (transposed views): work on the row-major transposes.
        let (at, bt) = (a.view().reversed_axes(), b.view().reversed_axes());
        if let (Some(x), Some(y)) = (at.as_slice(), bt.as_slice()) {
            let v: Vec<O> = x.iter().zip(y).map(|(p, q)| f(*p, *q)).collect();
            let rs: Vec<usize> = shape.iter().rev().copied().collect();
            return ArrayD::from_shape_vec(IxDyn(&rs), v)
                .unwrap_or_else(|_| unreachable!())
                .reversed_axes();
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

/// `xs[i] = f(xs[i], ys[i])`. Kept on the calling thread: splitting a memory-bound pass
/// over two cores measured slower here (90 µs → 160–200 µs for 307K float32), since the
/// second core mostly waits on the same memory and on the lines the first core wrote.
pub fn update_with<T: Element>(xs: &mut [T], ys: &[T], f: impl Fn(T, T) -> T) {
    debug_assert_eq!(xs.len(), ys.len());
    for (p, q) in xs.iter_mut().zip(ys) {
        *p = f(*p, *q);
    }
}
