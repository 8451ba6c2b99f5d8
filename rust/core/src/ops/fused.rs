//! Kernels made by the load-time rewrites of `plan::optimize::fuse`, never by a builder.
//! Each one keeps the kernels it replaces and falls back to them whenever its fast path's
//! run-time conditions (ranks, dtypes, shapes) do not hold, so errors and results outside
//! the fast path are exactly those of the unfused actions.
//!
//! - [`MatMulSum`]: `v(A·B) + v(A·C)` → `v(A·(B + C))` (and `B·A + C·A` → `(B + C)·A`),
//!   where `v` is the same chain of transposes on both sides. This is the one rewrite that
//!   re-associates floating-point sums: PySyft traces a backward pass once per gradient
//!   path, so a weight gradient arrives as two GEMMs over the same activations, and one
//!   GEMM of the summed gradients does the same math with a third fewer multiply-adds. The
//!   vectors' parameter tolerances hold (tests/test_plan_fusion.py, test_plan_vectors.py);
//!   `LoadOptions::reassociate = false` turns it off.
//! - [`SubScaled`]: `a - s·x` with a one-element `s` in one pass instead of two; every
//!   element is rounded exactly as the two actions round it (multiply, then subtract).
//!   When `x` is a `MatMulSum` read only there, the update runs on each piece of the
//!   product as its GEMM finishes it (`linalg::matmul_f32_then`).

use crate::error::Result;
use crate::ops::elementwise::{binary, BinOp};
use crate::ops::linalg::{matmul_f32_then, matmul_layout, swap_last, Epilogue};
use crate::ops::num::Num;
use crate::ops::{Dialect, Kernel, Operand, ViewStep};
use crate::tensor::{DType, Element, Tensor, TensorView};

/// What the load-time rewrites may know about a built kernel (`Kernel::algebra`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algebra {
    /// Nothing the rewrites use.
    Opaque,
    /// The value of operand 0, unchanged (`copy`, `clone`).
    Identity,
    /// `a + b` with no scaling.
    Add,
    /// `a - b` with no scaling, in operand order.
    Sub,
    /// `a · b` elementwise.
    Mul,
    /// A matrix product with the dialect's transpose flags on its two operands.
    MatMul {
        transpose_a: bool,
        transpose_b: bool,
    },
    /// A [`MatMulSum`] (`Kernel::into_product_sum` hands it over).
    ProductSum,
}

/// Name the replaced action `(index, command)` in an error.
fn named(origin: &(usize, String), r: Result<Tensor>) -> Result<Tensor> {
    r.map_err(|e| crate::interp::with_context(e, origin.0, &origin.1))
}

/// Apply a chain of view steps to an owned result.
fn apply_views(mut t: Tensor, views: &[ViewStep]) -> Result<Tensor> {
    for vs in views {
        t = vs.apply_owned(t)?;
    }
    Ok(t)
}

/// `v(A·B) + v(A·C)` evaluated as `v(A·(B + C))` (see the module docs).
#[derive(Debug)]
pub struct MatMulSum {
    pub dialect: Dialect,
    /// The shared factor is the left operand of both products (else the right one).
    pub shared_left: bool,
    /// Transpose flags of the shared operand (equal in both products) and of each other
    /// operand.
    pub t_shared: bool,
    pub t_x: bool,
    pub t_y: bool,
    /// Views applied to each product before the sum (the same steps, maybe other actions).
    pub views_x: Vec<ViewStep>,
    pub views_y: Vec<ViewStep>,
    /// The replaced kernels, for the fallback: the two products and the sum (whose operand
    /// 0 is the x product).
    pub mm_x: Box<dyn Kernel>,
    pub mm_y: Box<dyn Kernel>,
    pub add: Box<dyn Kernel>,
    /// `(action index, command)` of the x product, the y product and the sum, for errors.
    pub origin: [(usize, String); 3],
}

fn pair<'a>(shared_left: bool, s: Operand<'a>, o: Operand<'a>) -> Vec<Operand<'a>> {
    if shared_left {
        vec![s, o]
    } else {
        vec![o, s]
    }
}

/// A second handle on a borrowed operand (literals are copied).
fn again<'a>(o: &'a Operand<'_>) -> Operand<'a> {
    match o {
        Operand::Lit(l) => Operand::Lit(*l),
        other => Operand::View(other.as_view().unwrap_or_else(|| unreachable!())),
    }
}

impl MatMulSum {
    /// The unfused actions (shapes, dtypes or ranks off the fast path).
    fn fallback(&self, shared: Operand<'_>, x: Operand<'_>, y: Operand<'_>) -> Result<Tensor> {
        let rx = self.ctx(
            0,
            self.mm_x
                .eval(pair(self.shared_left, again(&shared), again(&x))),
        )?;
        let rx = apply_views(rx, &self.views_x)?;
        let ry = self.ctx(
            1,
            self.mm_y
                .eval(pair(self.shared_left, again(&shared), again(&y))),
        )?;
        let ry = apply_views(ry, &self.views_y)?;
        self.ctx(2, self.add.eval(vec![Operand::Own(rx), Operand::Own(ry)]))
    }

    /// Name the replaced action `k` in an error.
    fn ctx(&self, k: usize, r: Result<Tensor>) -> Result<Tensor> {
        named(&self.origin[k], r)
    }
}

/// Both operands 2-D of one float dtype and the same shape once flagged.
fn fast_sum(shared: &Operand<'_>, x: &Operand<'_>, y: &Operand<'_>, t_x: bool, t_y: bool) -> bool {
    let (Some(s), Some(xv), Some(yv)) = (shared.as_view(), x.as_view(), y.as_view()) else {
        return false;
    };
    let dt = s.dtype();
    if !matches!(dt, DType::F32 | DType::F64)
        || xv.dtype() != dt
        || yv.dtype() != dt
        || s.ndim() != 2
        || xv.ndim() != 2
        || yv.ndim() != 2
    {
        return false;
    }
    let fx = if t_x { swap_last(xv) } else { xv };
    let fy = if t_y { swap_last(yv) } else { yv };
    fx.shape() == fy.shape()
}

/// An operand read through its transpose flag (a flagged one is copied into a summable
/// owned tensor; an unflagged owned one keeps its buffer).
fn flagged(o: Operand<'_>, t: bool) -> Operand<'_> {
    if !t {
        return o;
    }
    let v = o.as_view().unwrap_or_else(|| unreachable!());
    Operand::Own(swap_last(v).to_tensor())
}

impl MatMulSum {
    /// The fused product on the fast path (checked by the caller with [`fast_sum`]). With
    /// `epi = Some((shape, f))`, a float32 result of that final shape is produced through
    /// `f` piece by piece ([`matmul_f32_then`]); the flag says whether it was.
    fn product(
        &self,
        shared: Operand<'_>,
        x: Operand<'_>,
        y: Operand<'_>,
        epi: Option<(&[usize], &Epilogue<'_>)>,
    ) -> Result<(Tensor, bool)> {
        let sv = shared.as_view().unwrap_or_else(|| unreachable!());
        let dt = sv.dtype();
        let sum = binary(BinOp::Add, flagged(x, self.t_x), flagged(y, self.t_y), dt)?;
        let s = if self.t_shared { swap_last(sv) } else { sv };
        // Lay the product out so that the views leave it row-major.
        let out_t = self.views_x.len() % 2 == 1;
        let (l, r) = if self.shared_left {
            (s, sum.view())
        } else {
            (sum.view(), s)
        };
        let final_shape = {
            let (m, n) = (l.shape()[0], r.shape()[1]);
            if out_t {
                [n, m]
            } else {
                [m, n]
            }
        };
        if let Some((want, f)) = epi {
            if dt == DType::F32 && want == final_shape && l.shape()[1] == r.shape()[0] {
                let (lv, rv) = (
                    f32::of_view(&l).unwrap_or_else(|| unreachable!()),
                    f32::of_view(&r).unwrap_or_else(|| unreachable!()),
                );
                fn two(v: ndarray::ArrayViewD<'_, f32>) -> ndarray::ArrayView2<'_, f32> {
                    v.into_dimensionality::<ndarray::Ix2>()
                        .unwrap_or_else(|_| unreachable!())
                }
                let prod = self.ctx(
                    0,
                    matmul_f32_then(two(lv), two(rv), out_t, f).map(|a| Tensor::F32(a.into_dyn())),
                )?;
                return Ok((apply_views(prod, &self.views_x)?, true));
            }
        }
        let prod = self.ctx(0, matmul_layout(l, r, self.dialect, out_t))?;
        Ok((apply_views(prod, &self.views_x)?, false))
    }
}

impl Kernel for MatMulSum {
    fn algebra(&self) -> Algebra {
        Algebra::ProductSum
    }

    fn into_product_sum(self: Box<Self>) -> Option<MatMulSum> {
        Some(*self)
    }

    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let y = args.pop().unwrap_or_else(|| unreachable!());
        let x = args.pop().unwrap_or_else(|| unreachable!());
        let shared = args.pop().unwrap_or_else(|| unreachable!());
        if !fast_sum(&shared, &x, &y, self.t_x, self.t_y) {
            return self.fallback(shared, x, y);
        }
        Ok(self.product(shared, x, y, None)?.0)
    }
}

/// `a - m0·m1` where one factor has one element and the other `a`'s shape, in one pass;
/// operands `[a, m0, m1]` in the order the two actions read them.
#[derive(Debug)]
pub struct SubScaled {
    pub mul: Box<dyn Kernel>,
    pub sub: Box<dyn Kernel>,
    /// `(action index, command)` of the multiply and of the subtraction, for errors.
    pub origin: [(usize, String); 2],
    /// The multiply's factor at this position (0 or 1) is a fused product computed here:
    /// operands `[a, other factor, shared, x, y]`, and the update runs on each piece of
    /// the product as its GEMM finishes it.
    pub product: Option<(usize, MatMulSum)>,
}

/// One element of `a - s·x` from `x`'s element `p` and `a`'s `q`: the multiply rounded,
/// then the subtraction (as the two actions round them).
#[inline(always)]
fn sub_scaled_elem<T: Num>(s: T) -> impl Fn(T, T) -> T {
    move |p, q| q.sub(s.mul(p))
}

fn sub_scaled<T: Num>(a: &ndarray::ArrayViewD<'_, T>, s: T, x: Operand<'_>) -> Tensor {
    let f = sub_scaled_elem(s);
    // Write into x's buffer when it is owned and laid out like a.
    let x = match x {
        Operand::Own(t) => {
            let mut xa = T::unwrap(t).unwrap_or_else(|_| unreachable!());
            if xa.strides() == a.strides() {
                if let (Some(xs), Some(av)) =
                    (xa.as_slice_memory_order_mut(), a.as_slice_memory_order())
                {
                    crate::ops::num::update_with(xs, av, f);
                    return T::wrap(xa);
                }
            }
            return T::wrap(ndarray::Zip::from(&xa).and(a).map_collect(|p, q| f(*p, *q)));
        }
        other => other,
    };
    let xv = x.as_view().unwrap_or_else(|| unreachable!());
    let xv = T::of_view(&xv).unwrap_or_else(|| unreachable!());
    T::wrap(ndarray::Zip::from(&xv).and(a).map_collect(|p, q| f(*p, *q)))
}

/// The one element of a one-element view of `T`.
fn only<T: Element>(v: &TensorView<'_>) -> T {
    T::of_view(v)
        .and_then(|a| a.iter().next().copied())
        .unwrap_or_else(|| unreachable!())
}

impl SubScaled {
    fn fallback<'a>(&self, a: Operand<'a>, m0: Operand<'a>, m1: Operand<'a>) -> Result<Tensor> {
        let m = named(&self.origin[0], self.mul.eval(vec![m0, m1]))?;
        named(&self.origin[1], self.sub.eval(vec![a, Operand::Own(m)]))
    }
}

/// `(dtype, shape)` of a tensor operand whose dtype is float32 or float64.
fn float_of<'o>(o: &'o Operand<'_>) -> Option<(DType, &'o [usize])> {
    match o {
        Operand::Lit(_) => None,
        _ => Some((o.dtype(), o.shape())).filter(|(d, _)| matches!(d, DType::F32 | DType::F64)),
    }
}

impl SubScaled {
    /// `a - m0·m1` (one pass when one factor is a scale, else the two actions).
    fn update<'a>(&self, a: Operand<'a>, m0: Operand<'a>, m1: Operand<'a>) -> Result<Tensor> {
        let (s, x) = if scale_of(&a, &m0, &m1) {
            (m0, m1)
        } else if scale_of(&a, &m1, &m0) {
            (m1, m0)
        } else {
            return self.fallback(a, m0, m1);
        };
        let av = a.as_view().unwrap_or_else(|| unreachable!());
        let s = s.into_dtype(av.dtype());
        let sv = s.as_view().unwrap_or_else(|| unreachable!());
        Ok(match av.dtype() {
            DType::F32 => sub_scaled::<f32>(
                &f32::of_view(&av).unwrap_or_else(|| unreachable!()),
                only(&sv),
                x,
            ),
            DType::F64 => sub_scaled::<f64>(
                &f64::of_view(&av).unwrap_or_else(|| unreachable!()),
                only(&sv),
                x,
            ),
            _ => unreachable!(),
        })
    }
}

/// `s` is a scale of `x` for `a - s·x`: `x` of `a`'s float dtype and shape, `s` a
/// one-element tensor of that dtype or a number literal (torch computes it in the
/// tensor's float dtype).
fn scale_of(a: &Operand<'_>, s: &Operand<'_>, x: &Operand<'_>) -> bool {
    let (Some((da, sa)), Some((dx, sx))) = (float_of(a), float_of(x)) else {
        return false;
    };
    if da != dx || sa != sx {
        return false;
    }
    is_scale(s, da, sa.len())
}

/// `s` scales a tensor of dtype `dt` and rank `ndim` without changing its dtype or shape:
/// a number literal (torch computes it in the tensor's float dtype), or a one-element
/// tensor of `dt` of at most that rank.
fn is_scale(s: &Operand<'_>, dt: DType, ndim: usize) -> bool {
    match s {
        Operand::Lit(l) => !matches!(l, crate::tensor::Scalar::Bool(_)),
        _ => s.dtype() == dt && s.shape().iter().product::<usize>() == 1 && s.shape().len() <= ndim,
    }
}

/// The float32 scale of `a - s·P` when `a` is row-major float32 and `s` a scale for it.
fn f32_scale(a: &Operand<'_>, s: &Operand<'_>) -> Option<f32> {
    let av = a.as_view()?;
    if av.dtype() != DType::F32 || f32::of_view(&av)?.as_slice().is_none() {
        return None;
    }
    if !is_scale(s, DType::F32, av.ndim()) {
        return None;
    }
    match s {
        Operand::Lit(l) => Some(only::<f32>(&l.to_tensor(DType::F32).view())),
        _ => Some(only::<f32>(&s.as_view()?)),
    }
}

impl Kernel for SubScaled {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let Some((pos, product)) = &self.product else {
            let m1 = args.pop().unwrap_or_else(|| unreachable!());
            let m0 = args.pop().unwrap_or_else(|| unreachable!());
            let a = args.pop().unwrap_or_else(|| unreachable!());
            return self.update(a, m0, m1);
        };
        let y = args.pop().unwrap_or_else(|| unreachable!());
        let x = args.pop().unwrap_or_else(|| unreachable!());
        let shared = args.pop().unwrap_or_else(|| unreachable!());
        let other = args.pop().unwrap_or_else(|| unreachable!());
        let a = args.pop().unwrap_or_else(|| unreachable!());
        let p = if fast_sum(&shared, &x, &y, product.t_x, product.t_y) {
            match f32_scale(&a, &other) {
                Some(s) => {
                    let av = a.as_view().unwrap_or_else(|| unreachable!());
                    let w = f32::of_view(&av).unwrap_or_else(|| unreachable!());
                    let w = w.as_slice().unwrap_or_else(|| unreachable!());
                    let epi = |off: usize, piece: &mut [f32]| {
                        let n = piece.len();
                        crate::ops::num::update_with(piece, &w[off..off + n], sub_scaled_elem(s));
                    };
                    let (t, applied) = product.product(shared, x, y, Some((av.shape(), &epi)))?;
                    if applied {
                        return Ok(t);
                    }
                    t
                }
                None => product.product(shared, x, y, None)?.0,
            }
        } else {
            product.fallback(shared, x, y)?
        };
        let (m0, m1) = if *pos == 0 {
            (Operand::Own(p), other)
        } else {
            (other, Operand::Own(p))
        };
        self.update(a, m0, m1)
    }
}
