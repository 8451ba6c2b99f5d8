//! Reductions of both dialects: sum, mean, prod, max, min (global, over dims, or elementwise
//! with a tensor in torch), argmax, argmin. Float sums accumulate in f64 and round once.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

use crate::dispatch_num;
use crate::error::{Error, Result};
use crate::ops::elementwise::{binary, binary_dtype, BinOp};
use crate::ops::num::Num;
use crate::ops::{lit_bool, lit_ints, BuildResult, Call, Dialect, Kernel, Operand, Registry};
use crate::tensor::{broadcast_shapes, norm_axis, AsPrim, DType, Element, Tensor};

/// Reduction operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Red {
    Sum,
    Mean,
    Prod,
    Max,
    Min,
    ArgMax,
    ArgMin,
}

/// Normalize, sort and deduplicate reduction axes; `None` or an empty list = all axes.
pub fn norm_axes(dims: &Option<Vec<i64>>, ndim: usize) -> Result<Vec<usize>> {
    let mut axes = match dims {
        None => (0..ndim).collect(),
        Some(d) if d.is_empty() => (0..ndim).collect(),
        Some(d) => d
            .iter()
            .map(|a| norm_axis(*a, ndim))
            .collect::<Result<Vec<_>>>()?,
    };
    axes.sort_unstable();
    axes.dedup();
    // A 0-d tensor reduced over "dim 0" reduces nothing.
    axes.retain(|a| *a < ndim);
    Ok(axes)
}

/// Fold `x` over `axes` (sorted): elements enter with `first`, partial results merge with
/// `merge` (both reductions run in the accumulator type `A`).
fn fold_axes<T: Element, A: Clone>(
    x: &ArrayViewD<'_, T>,
    axes: &[usize],
    init: A,
    first: impl Fn(&A, &T) -> A,
    merge: impl Fn(&A, &A) -> A,
) -> ArrayD<A> {
    if axes.len() == x.ndim() {
        // Global reduction in memory order when contiguous.
        let acc = match x.as_slice_memory_order() {
            Some(s) => s.iter().fold(init, |a, v| first(&a, v)),
            None => x.iter().fold(init, |a, v| first(&a, v)),
        };
        return ArrayD::from_elem(IxDyn(&[]), acc);
    }
    if x.ndim() == 2 && axes.len() == 1 {
        if let Some(s) = x.as_slice() {
            // Row-major matrices on plain slices, in the same order as the general path
            // (each output folds its elements in index order), without its per-element
            // iteration over dynamic dimensions.
            let (rows, cols) = (x.shape()[0], x.shape()[1]);
            let acc: Vec<A> = if axes[0] == 0 {
                let mut acc = vec![init; cols];
                for row in s.chunks_exact(cols.max(1)).take(rows) {
                    for (a, v) in acc.iter_mut().zip(row) {
                        *a = first(a, v);
                    }
                }
                acc
            } else {
                s.chunks_exact(cols.max(1))
                    .take(rows)
                    .map(|row| row.iter().fold(init.clone(), |a, v| first(&a, v)))
                    .chain(std::iter::repeat_n(
                        init.clone(),
                        if cols == 0 { rows } else { 0 },
                    ))
                    .collect()
            };
            let n = if axes[0] == 0 { cols } else { rows };
            return ArrayD::from_shape_vec(IxDyn(&[n]), acc).unwrap_or_else(|_| unreachable!());
        }
    }
    let mut it = axes.iter().rev();
    let last = *it.next().unwrap_or_else(|| unreachable!());
    let mut acc = x.fold_axis(Axis(last), init.clone(), |a, v| first(a, v));
    for ax in it {
        acc = acc.fold_axis(Axis(*ax), init.clone(), |a, v| merge(a, v));
    }
    acc
}

/// Put back reduced axes as size-1 dims.
fn keep<A>(mut a: ArrayD<A>, axes: &[usize]) -> ArrayD<A> {
    for ax in axes {
        a.insert_axis_inplace(Axis(*ax));
    }
    a
}

fn sum_like<T: Element + AsPrim<f64>>(
    x: &ArrayViewD<'_, T>,
    axes: &[usize],
    mean: bool,
) -> ArrayD<f64> {
    let mut s = fold_axes(
        x,
        axes,
        0.0f64,
        |a, v| a + AsPrim::<f64>::as_(*v),
        |a, b| a + b,
    );
    if mean {
        let n: usize = axes.iter().map(|a| x.shape()[*a]).product();
        let n = n as f64;
        s.mapv_inplace(|v| v / n);
    }
    s
}

fn reduce_all<T: Num>(red: Red, x: &ArrayViewD<'_, T>, axes: &[usize]) -> Result<ArrayD<T>> {
    if axes.iter().any(|a| x.shape()[*a] == 0) && matches!(red, Red::Max | Red::Min) {
        return Err(Error::Execution(
            "cannot take the max/min of an empty tensor over a reduced dimension".into(),
        ));
    }
    Ok(match red {
        Red::Sum => fold_axes(x, axes, T::ZERO, |a, v| a.add(*v), |a, b| a.add(*b)),
        Red::Prod => fold_axes(x, axes, T::ONE, |a, v| a.mul(*v), |a, b| a.mul(*b)),
        Red::Max | Red::Min => {
            let pick = if red == Red::Max { T::max_ } else { T::min_ };
            let step = |a: &Option<T>, v: T| Some(a.map_or(v, |a| pick(a, v)));
            let r = fold_axes(
                x,
                axes,
                None,
                |a, v| step(a, *v),
                |a, b| match b {
                    Some(b) => step(a, *b),
                    None => *a,
                },
            );
            r.mapv(|v| v.unwrap_or(T::ZERO))
        }
        _ => unreachable!(),
    })
}

/// Index of the first maximum (or minimum) of a lane; NaN counts as the extreme.
fn arg_best<T: Num>(lane: impl Iterator<Item = T>, max: bool) -> i64 {
    let mut best: Option<T> = None;
    let mut idx = 0i64;
    for (i, v) in lane.enumerate() {
        let better = match best {
            None => true,
            Some(b) if b.is_nan() => false,
            Some(b) => v.is_nan() || if max { v > b } else { v < b },
        };
        if better {
            best = Some(v);
            idx = i as i64;
        }
    }
    idx
}

#[derive(Debug)]
struct Reduce {
    red: Red,
    dialect: Dialect,
    dims: Option<Vec<i64>>,
    keepdim: bool,
}

impl Reduce {
    fn arg(&self, x: Operand<'_>) -> Result<Tensor> {
        let max = self.red == Red::ArgMax;
        let dt = if x.dtype() == DType::Bool {
            DType::U8
        } else {
            x.dtype()
        };
        let x = x.into_dtype(dt);
        let v = x.as_view().unwrap_or_else(|| unreachable!());
        if v.is_empty() {
            return Err(Error::Execution(
                "cannot take the argmax/argmin of an empty tensor".into(),
            ));
        }
        fn go<T: Num>(
            v: ArrayViewD<'_, T>,
            dim: Option<i64>,
            keepdim: bool,
            max: bool,
        ) -> Result<ArrayD<i64>> {
            Ok(match dim {
                None => {
                    let i = arg_best(v.iter().copied(), max);
                    let a = ArrayD::from_elem(IxDyn(&[]), i);
                    if keepdim {
                        keep(a, &(0..v.ndim()).collect::<Vec<_>>())
                    } else {
                        a
                    }
                }
                Some(d) => {
                    let ax = norm_axis(d, v.ndim())?;
                    if v.ndim() == 0 {
                        return Ok(ArrayD::from_elem(IxDyn(&[]), 0));
                    }
                    let a = v.map_axis(Axis(ax), |lane| arg_best(lane.iter().copied(), max));
                    if keepdim {
                        keep(a, &[ax])
                    } else {
                        a
                    }
                }
            })
        }
        let dim = self.dims.as_ref().map(|d| d[0]);
        let idx = dispatch_num!(dt, T => go::<T>(T::of_view(&v).unwrap_or_else(|| unreachable!()), dim, self.keepdim, max)?,
            bool => unreachable!());
        let t = Tensor::I64(idx);
        Ok(if self.dialect == Dialect::Tfjs {
            t.into_dtype(DType::I32)
        } else {
            t
        })
    }
}

impl Kernel for Reduce {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let x = args.pop().unwrap_or_else(|| unreachable!());
        if matches!(self.red, Red::ArgMax | Red::ArgMin) {
            return self.arg(x);
        }
        let in_dt = x.dtype();
        let axes = norm_axes(&self.dims, x.shape().len())?;
        let tf = self.dialect == Dialect::Tfjs;
        // dtype the reduction runs in, and the result dtype.
        let (work, out) = match self.red {
            Red::Sum | Red::Prod if !in_dt.is_float() => {
                if tf {
                    (DType::I32, DType::I32)
                } else {
                    (DType::I64, DType::I64)
                }
            }
            Red::Mean if !in_dt.is_float() => {
                if tf {
                    (DType::F32, DType::F32)
                } else {
                    return Err(Error::DType(format!(
                        "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {in_dt}"
                    )));
                }
            }
            Red::Max | Red::Min if in_dt == DType::Bool && tf => (DType::I32, DType::I32),
            _ => (in_dt, in_dt),
        };
        let x = x.into_dtype(work);
        let v = x.as_view().unwrap_or_else(|| unreachable!());
        let r = match (self.red, work) {
            (Red::Sum | Red::Mean, DType::F32 | DType::F64) => {
                let mean = self.red == Red::Mean;
                let s = dispatch_num!(work, T => sum_like::<T>(&T::of_view(&v).unwrap_or_else(|| unreachable!()), &axes, mean),
                    bool => unreachable!());
                Tensor::F64(s).into_dtype(out)
            }
            (Red::Max | Red::Min, DType::Bool) => {
                let b = bool::of_view(&v).unwrap_or_else(|| unreachable!());
                let u = b.mapv(u8::from);
                if axes.iter().any(|a| u.shape()[*a] == 0) {
                    return Err(Error::Execution(
                        "cannot take the max/min of an empty tensor".into(),
                    ));
                }
                Tensor::U8(reduce_all(self.red, &u.view(), &axes)?).into_dtype(DType::Bool)
            }
            _ => {
                dispatch_num!(work, T => T::wrap(reduce_all(self.red, &T::of_view(&v).unwrap_or_else(|| unreachable!()), &axes)?),
                bool => unreachable!())
            }
        };
        Ok(if self.keepdim {
            crate::map_tensor!(r, a => keep(a, &axes))
        } else {
            r
        })
    }
}

/// torch `max(other)` / `min(other)`: elementwise, promoted.
#[derive(Debug)]
struct Elementwise(BinOp);

impl Kernel for Elementwise {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let b = args.pop().unwrap_or_else(|| unreachable!());
        let a = args.pop().unwrap_or_else(|| unreachable!());
        broadcast_shapes(a.shape(), b.shape())?;
        let dt = binary_dtype(Dialect::Torch, self.0, &a, &b);
        binary(self.0, a, b, dt)
    }
}

fn reduction(red: Red) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static {
    move |c| {
        let tf = c.dialect == Dialect::Tfjs;
        let arg = matches!(red, Red::ArgMax | Red::ArgMin);
        let sig: &[&'static str] = match (tf, arg) {
            (true, true) => &["x", "axis?"],
            (true, false) => &["x", "axis?", "keepDims?"],
            (false, _) => &["self", "dim?", "keepdim?"],
        };
        let b = c.bind(sig)?;
        let x = sig[0];
        let dim_name = sig[1].trim_end_matches('?');
        // torch max(other) / min(other): the "dim" slot holds a tensor.
        if !tf && matches!(red, Red::Max | Red::Min) && Call::is_value(&b, "dim") {
            if b.has("keepdim") {
                return Err("max/min with a tensor 'other' takes no 'keepdim'".into());
            }
            c.operand(&b, "self")?;
            c.operand(&b, "dim")?;
            return Ok(Box::new(Elementwise(if red == Red::Max {
                BinOp::Max
            } else {
                BinOp::Min
            })));
        }
        c.operand(&b, x)?;
        let mut dims = lit_ints(&b, dim_name)?;
        if tf && arg && dims.is_none() {
            dims = Some(vec![0]);
        }
        if arg && dims.as_ref().is_some_and(|d| d.len() != 1) {
            return Err(format!("argument '{dim_name}' must be a single int"));
        }
        let keepdim = if sig.len() > 2 {
            lit_bool(&b, sig[2].trim_end_matches('?'))?.unwrap_or(false)
        } else {
            false
        };
        Ok(Box::new(Reduce {
            red,
            dialect: c.dialect,
            dims,
            keepdim,
        }))
    }
}

pub fn register(r: &mut Registry) {
    r.torch(&["sum", "torch.sum"], reduction(Red::Sum));
    r.torch(&["mean", "torch.mean"], reduction(Red::Mean));
    r.torch(&["prod", "torch.prod"], reduction(Red::Prod));
    r.torch(
        &["max", "torch.max", "amax", "torch.amax"],
        reduction(Red::Max),
    );
    r.torch(
        &["min", "torch.min", "amin", "torch.amin"],
        reduction(Red::Min),
    );
    r.torch(&["argmax", "torch.argmax"], reduction(Red::ArgMax));
    r.torch(&["argmin", "torch.argmin"], reduction(Red::ArgMin));
    r.tfjs(&["sum"], reduction(Red::Sum));
    r.tfjs(&["mean"], reduction(Red::Mean));
    r.tfjs(&["prod"], reduction(Red::Prod));
    r.tfjs(&["max"], reduction(Red::Max));
    r.tfjs(&["min"], reduction(Red::Min));
    r.tfjs(&["argMax"], reduction(Red::ArgMax));
    r.tfjs(&["argMin"], reduction(Red::ArgMin));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(red: Red, dims: Option<Vec<i64>>, keepdim: bool) -> Reduce {
        Reduce {
            red,
            dialect: Dialect::Torch,
            dims,
            keepdim,
        }
    }

    #[test]
    fn sums() {
        let x = Tensor::from_shape_vec(&[2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let r = red(Red::Sum, Some(vec![1]), true)
            .eval(vec![Operand::View(x.view())])
            .unwrap();
        assert_eq!(
            r,
            Tensor::from_shape_vec(&[2, 1], vec![6.0f32, 15.0]).unwrap()
        );
        let r = red(Red::Sum, Some(vec![0]), false)
            .eval(vec![Operand::View(x.view())])
            .unwrap();
        assert_eq!(
            r,
            Tensor::from_shape_vec(&[3], vec![5.0f32, 7.0, 9.0]).unwrap()
        );
        let r = red(Red::Sum, None, false)
            .eval(vec![Operand::View(x.view())])
            .unwrap();
        assert_eq!(r, Tensor::from_shape_vec(&[], vec![21.0f32]).unwrap());
        let b = Tensor::from_shape_vec(&[3], vec![true, false, true]).unwrap();
        let r = red(Red::Sum, None, false)
            .eval(vec![Operand::View(b.view())])
            .unwrap();
        assert_eq!(r, Tensor::from_shape_vec(&[], vec![2i64]).unwrap());
    }

    #[test]
    fn argmax_and_max() {
        let x = Tensor::from_shape_vec(&[2, 3], vec![1.0f32, 7.0, 7.0, 9.0, 5.0, 6.0]).unwrap();
        let r = red(Red::ArgMax, Some(vec![1]), false)
            .eval(vec![Operand::View(x.view())])
            .unwrap();
        assert_eq!(r, Tensor::from_shape_vec(&[2], vec![1i64, 0]).unwrap());
        let r = red(Red::Max, None, false)
            .eval(vec![Operand::View(x.view())])
            .unwrap();
        assert_eq!(r, Tensor::from_shape_vec(&[], vec![9.0f32]).unwrap());
        let r = red(Red::ArgMax, None, false)
            .eval(vec![Operand::View(x.view())])
            .unwrap();
        assert_eq!(r, Tensor::from_shape_vec(&[], vec![3i64]).unwrap());
        let i = Tensor::from_shape_vec(&[2], vec![1i64, 2]).unwrap();
        assert!(matches!(
            red(Red::Mean, None, false).eval(vec![Operand::View(i.view())]),
            Err(Error::DType(_))
        ));
    }
}
