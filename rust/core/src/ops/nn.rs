//! Neural-network ops: softmax, log_softmax (numerically stable along a dim) and linear.

use ndarray::{ArrayD, Axis};

use crate::error::{Error, Result};
use crate::ops::num::Float;
use crate::ops::{lit_int, BuildResult, Call, Dialect, Kernel, Operand, Registry};
use crate::tensor::{norm_axis, DType, Element, Tensor};

fn softmax_typed<T: Float>(x: &ndarray::ArrayViewD<'_, T>, ax: usize, log: bool) -> ArrayD<T> {
    let mut out = x.as_standard_layout().into_owned();
    if out.ndim() == 0 {
        out.mapv_inplace(|_| if log { T::ZERO } else { T::ONE });
        return out;
    }
    for mut lane in out.lanes_mut(Axis(ax)) {
        let m = lane
            .iter()
            .fold(T::from_f64(f64::NEG_INFINITY), |a, v| a.max_(*v));
        let m = if m.to_f64().is_infinite() { T::ZERO } else { m };
        let s: f64 = lane.iter().map(|v| v.sub(m).exp().to_f64()).sum();
        if log {
            let ls = T::from_f64(s.ln());
            lane.mapv_inplace(|v| v.sub(m).sub(ls));
        } else {
            let s = T::from_f64(s);
            lane.mapv_inplace(|v| v.sub(m).exp().div(s));
        }
    }
    out
}

#[derive(Debug)]
struct Softmax {
    dim: i64,
    log: bool,
    dialect: Dialect,
}

impl Kernel for Softmax {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let x = args.pop().unwrap_or_else(|| unreachable!());
        let dt = if self.dialect == Dialect::Torch && x.dtype() == DType::F64 {
            DType::F64
        } else {
            DType::F32
        };
        let x = x.into_dtype(dt);
        let v = x
            .as_view()
            .ok_or_else(|| Error::DType("softmax expects a tensor".into()))?;
        let ax = norm_axis(self.dim, v.ndim())?;
        Ok(match dt {
            DType::F64 => Tensor::F64(softmax_typed(
                &f64::of_view(&v).unwrap_or_else(|| unreachable!()),
                ax,
                self.log,
            )),
            _ => Tensor::F32(softmax_typed(
                &f32::of_view(&v).unwrap_or_else(|| unreachable!()),
                ax,
                self.log,
            )),
        })
    }
}

fn softmax(log: bool) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static {
    move |c| {
        let (x, d, sig): (&str, &str, &[&'static str]) = match c.dialect {
            Dialect::Torch => ("self", "dim", &["self", "dim"]),
            Dialect::Tfjs => ("logits", "dim", &["logits", "dim?"]),
        };
        let b = c.bind(sig)?;
        c.operand(&b, x)?;
        let dim = lit_int(&b, d)?.unwrap_or(-1);
        Ok(Box::new(Softmax {
            dim,
            log,
            dialect: c.dialect,
        }))
    }
}

/// `F.linear(input, weight, bias=None)` = `input · weightᵀ + bias`.
#[derive(Debug)]
struct Linear {
    bias: bool,
}

impl Kernel for Linear {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let bias = if self.bias { args.pop() } else { None };
        let w = args.pop().unwrap_or_else(|| unreachable!());
        let x = args.pop().unwrap_or_else(|| unreachable!());
        let wv = w
            .as_view()
            .ok_or_else(|| Error::DType("linear expects a weight tensor".into()))?;
        if wv.ndim() > 2 {
            return Err(Error::Shape(format!(
                "linear weight must be 1-D or 2-D, got {}-D",
                wv.ndim()
            )));
        }
        let xv = x
            .as_view()
            .ok_or_else(|| Error::DType("linear expects an input tensor".into()))?;
        let y = crate::ops::linalg::matmul(xv, wv.reversed_axes(), Dialect::Torch)?;
        match bias {
            None => Ok(y),
            Some(b) => {
                let y = Operand::Own(y);
                crate::tensor::broadcast_shapes(y.shape(), b.shape())?;
                let dt = crate::ops::elementwise::binary_dtype(
                    Dialect::Torch,
                    crate::ops::elementwise::BinOp::Add,
                    &y,
                    &b,
                );
                crate::ops::elementwise::binary(crate::ops::elementwise::BinOp::Add, y, b, dt)
            }
        }
    }
}

fn build_linear(c: &mut Call<'_>) -> BuildResult {
    let b = c.bind(&["input", "weight", "bias?"])?;
    c.operand(&b, "input")?;
    c.operand(&b, "weight")?;
    let bias = b.has("bias");
    if bias {
        c.operand(&b, "bias")?;
    }
    Ok(Box::new(Linear { bias }))
}

pub fn register(r: &mut Registry) {
    r.torch(
        &["softmax", "torch.softmax", "torch.nn.functional.softmax"],
        softmax(false),
    );
    r.torch(
        &[
            "log_softmax",
            "torch.log_softmax",
            "torch.nn.functional.log_softmax",
        ],
        softmax(true),
    );
    r.torch(&["torch.nn.functional.linear"], build_linear);
    r.tfjs(&["softmax"], softmax(false));
    r.tfjs(&["logSoftmax"], softmax(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one() {
        let x =
            Tensor::from_shape_vec(&[2, 3], vec![1.0f32, 2.0, 3.0, 1000.0, 0.0, -1000.0]).unwrap();
        let k = Softmax {
            dim: 1,
            log: false,
            dialect: Dialect::Torch,
        };
        let r = k.eval(vec![Operand::View(x.view())]).unwrap();
        for row in 0..2 {
            let s: f64 = (0..3).map(|j| r.get_f64(row * 3 + j).unwrap()).sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
        let k = Softmax {
            dim: -1,
            log: true,
            dialect: Dialect::Torch,
        };
        let r = k.eval(vec![Operand::View(x.view())]).unwrap();
        assert!((r.get_f64(3).unwrap()).abs() < 1e-6);
    }
}
