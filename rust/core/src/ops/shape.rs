//! Shape ops of both dialects: reshape/view, flatten, squeeze, unsqueeze/expandDims, expand,
//! cat/concat, stack, and copies (copy, clone, detach).

use ndarray::{Axis, IxDyn};

use crate::error::{Error, Result};
use crate::ops::{
    lit_int, lit_ints, ArgSrc, BuildResult, Call, Dialect, Kernel, Operand, Registry,
};
use crate::tensor::{norm_axis, shape_str, Element, Tensor};

/// Resolve a requested shape with at most one `-1` against `numel` elements.
pub fn infer_shape(req: &[i64], numel: usize) -> Result<Vec<usize>> {
    let bad = || {
        Error::Shape(format!(
            "shape '[{}]' is invalid for input of size {numel}",
            req.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let mut infer = None;
    let mut known = 1usize;
    for (i, d) in req.iter().enumerate() {
        match *d {
            -1 if infer.is_none() => infer = Some(i),
            d if d >= 0 => known = known.checked_mul(d as usize).ok_or_else(bad)?,
            _ => return Err(bad()),
        }
    }
    let mut out: Vec<usize> = req.iter().map(|d| (*d).max(0) as usize).collect();
    match infer {
        Some(i) => {
            if known == 0 || numel % known != 0 {
                return Err(bad());
            }
            out[i] = numel / known;
        }
        None if known != numel => return Err(bad()),
        None => {}
    }
    Ok(out)
}

/// The values of `x` laid out row-major in `shape` (no copy for an owned row-major value).
pub fn reshaped(x: Operand<'_>, shape: &[usize]) -> Result<Tensor> {
    let t = match x {
        Operand::Own(t) => t.into_standard_layout(),
        other => other
            .as_view()
            .unwrap_or_else(|| unreachable!())
            .to_tensor(),
    };
    Ok(
        crate::map_tensor!(t, a => a.into_shape_with_order(IxDyn(shape)).map_err(|e| Error::Shape(e.to_string()))?),
    )
}

#[derive(Debug)]
enum ShapeOp {
    Reshape(Vec<i64>),
    Flatten(i64, i64),
    /// `None` = every size-1 dim.
    Squeeze(Option<Vec<i64>>),
    Unsqueeze(i64),
    Expand(Vec<i64>),
    Copy,
}

impl Kernel for ShapeOp {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let x = args.pop().unwrap_or_else(|| unreachable!());
        if let Operand::Lit(_) = x {
            return Err(Error::DType("expected a tensor, got a number".into()));
        }
        let shape = x.shape().to_vec();
        let nd = shape.len();
        let numel: usize = shape.iter().product();
        match self {
            ShapeOp::Copy => Ok(x.into_tensor()),
            ShapeOp::Reshape(req) => reshaped(x, &infer_shape(req, numel)?),
            ShapeOp::Flatten(s, e) => {
                if nd == 0 {
                    return reshaped(x, &[1]);
                }
                let (s, e) = (norm_axis(*s, nd)?, norm_axis(*e, nd)?);
                if s > e {
                    return Err(Error::Shape(
                        "flatten() has invalid args: start_dim cannot come after end_dim".into(),
                    ));
                }
                let mut out: Vec<usize> = shape[..s].to_vec();
                out.push(shape[s..=e].iter().product());
                out.extend_from_slice(&shape[e + 1..]);
                reshaped(x, &out)
            }
            ShapeOp::Squeeze(dims) => {
                let drop: Vec<usize> = match dims {
                    None => (0..nd).filter(|i| shape[*i] == 1).collect(),
                    Some(d) => {
                        let axes = d
                            .iter()
                            .map(|a| norm_axis(*a, nd))
                            .collect::<Result<Vec<_>>>()?;
                        axes.into_iter()
                            .filter(|a| *a < nd && shape[*a] == 1)
                            .collect()
                    }
                };
                let out: Vec<usize> = (0..nd)
                    .filter(|i| !drop.contains(i))
                    .map(|i| shape[i])
                    .collect();
                reshaped(x, &out)
            }
            ShapeOp::Unsqueeze(d) => {
                let ax = norm_axis(*d, nd + 1)?;
                let mut out = shape.clone();
                out.insert(ax, 1);
                reshaped(x, &out)
            }
            ShapeOp::Expand(sizes) => {
                if sizes.len() < nd {
                    return Err(Error::Shape(format!(
                        "the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({nd})",
                        sizes.len()
                    )));
                }
                let off = sizes.len() - nd;
                let mut target = Vec::with_capacity(sizes.len());
                for (i, s) in sizes.iter().enumerate() {
                    let cur = if i >= off { Some(shape[i - off]) } else { None };
                    let t = match (*s, cur) {
                        (-1, Some(c)) => c,
                        (s, Some(c)) if s >= 0 && (c == 1 || c as i64 == s) => s as usize,
                        (s, None) if s >= 0 => s as usize,
                        _ => {
                            return Err(Error::Shape(format!(
                                "the expanded size {s} must match the existing size at dimension {i} of [{}]",
                                shape_str(&shape)
                            )))
                        }
                    };
                    target.push(t);
                }
                let v = x.as_view().unwrap_or_else(|| unreachable!());
                fn bc<T: Element>(
                    a: &ndarray::ArrayViewD<'_, T>,
                    target: &[usize],
                ) -> Result<Tensor> {
                    let b = a
                        .broadcast(IxDyn(target))
                        .ok_or_else(|| Error::Shape("expand: shapes do not broadcast".into()))?;
                    Ok(T::wrap(b.as_standard_layout().into_owned()))
                }
                crate::with_view!(&v, a => bc(a, &target))
            }
        }
    }

    fn algebra(&self) -> crate::ops::fused::Algebra {
        match self {
            ShapeOp::Copy => crate::ops::fused::Algebra::Identity,
            _ => crate::ops::fused::Algebra::Opaque,
        }
    }
}

/// cat / concat (`stack = false`) and stack along `dim`.
#[derive(Debug)]
struct Join {
    dim: i64,
    stack: bool,
}

impl Kernel for Join {
    fn eval(&self, args: Vec<Operand<'_>>) -> Result<Tensor> {
        let dt = args[0].dtype();
        if args.iter().any(|a| a.dtype() != dt) {
            return Err(Error::DType(
                "cat/stack expects tensors of one dtype".into(),
            ));
        }
        let views: Vec<_> = args
            .iter()
            .map(|a| a.as_view().unwrap_or_else(|| unreachable!()))
            .collect();
        let nd = views[0].ndim();
        if self.stack && views.iter().any(|v| v.shape() != views[0].shape()) {
            return Err(Error::Shape(
                "stack expects each tensor to be equal size".into(),
            ));
        }
        let ax = norm_axis(self.dim, if self.stack { nd + 1 } else { nd })?;
        fn go<T: Element>(
            views: &[crate::tensor::TensorView<'_>],
            ax: usize,
            stack: bool,
        ) -> Result<Tensor> {
            let vs: Vec<_> = views
                .iter()
                .map(|v| T::of_view(v).unwrap_or_else(|| unreachable!()))
                .collect();
            let r = if stack {
                ndarray::stack(Axis(ax), &vs)
            } else {
                ndarray::concatenate(Axis(ax), &vs)
            };
            Ok(T::wrap(r.map_err(|e| {
                Error::Shape(format!("cat/stack: incompatible shapes ({e})"))
            })?))
        }
        crate::dispatch_num!(dt, T => go::<T>(&views, ax, self.stack), bool => go::<bool>(&views, ax, self.stack))
    }
}

/// A shape given as varargs ints, one list, or an `arg_shape`.
fn shape_arg(b: &crate::ops::Bound, name: &str) -> std::result::Result<Vec<i64>, String> {
    match b.get(name) {
        Some(ArgSrc::List(items)) if items.len() == 1 && matches!(items[0], ArgSrc::List(_)) => {
            match &items[0] {
                ArgSrc::List(inner) => inner
                    .iter()
                    .map(|a| match a {
                        ArgSrc::Int(i) => Ok(*i),
                        o => Err(format!(
                            "argument '{name}' must hold ints, got {}",
                            o.kind()
                        )),
                    })
                    .collect(),
                _ => unreachable!(),
            }
        }
        _ => Ok(lit_ints(b, name)?.unwrap_or_default()),
    }
}

fn build_reshape(c: &mut Call<'_>) -> BuildResult {
    let (x, sig): (&str, &[&'static str]) = match c.dialect {
        Dialect::Torch => ("self", &["self", "*shape"]),
        Dialect::Tfjs => ("x", &["x", "shape"]),
    };
    let b = c.bind(sig)?;
    c.operand(&b, x)?;
    let s = shape_arg(&b, "shape")?;
    if s.iter().filter(|d| **d == -1).count() > 1 {
        return Err("only one dimension can be inferred".into());
    }
    Ok(Box::new(ShapeOp::Reshape(s)))
}

fn build_flatten(c: &mut Call<'_>) -> BuildResult {
    let b = c.bind(&["self", "start_dim?", "end_dim?"])?;
    c.operand(&b, "self")?;
    Ok(Box::new(ShapeOp::Flatten(
        lit_int(&b, "start_dim")?.unwrap_or(0),
        lit_int(&b, "end_dim")?.unwrap_or(-1),
    )))
}

fn build_squeeze(c: &mut Call<'_>) -> BuildResult {
    let (x, d) = if c.dialect == Dialect::Torch {
        ("self", "dim")
    } else {
        ("x", "axis")
    };
    let b = c.bind(&[
        x,
        if c.dialect == Dialect::Torch {
            "dim?"
        } else {
            "axis?"
        },
    ])?;
    c.operand(&b, x)?;
    Ok(Box::new(ShapeOp::Squeeze(lit_ints(&b, d)?)))
}

fn build_unsqueeze(c: &mut Call<'_>) -> BuildResult {
    let (x, d, sig): (&str, &str, &[&'static str]) = match c.dialect {
        Dialect::Torch => ("self", "dim", &["self", "dim"]),
        Dialect::Tfjs => ("x", "axis", &["x", "axis?"]),
    };
    let b = c.bind(sig)?;
    c.operand(&b, x)?;
    Ok(Box::new(ShapeOp::Unsqueeze(lit_int(&b, d)?.unwrap_or(0))))
}

fn build_expand(c: &mut Call<'_>) -> BuildResult {
    let b = c.bind(&["self", "*size"])?;
    c.operand(&b, "self")?;
    Ok(Box::new(ShapeOp::Expand(shape_arg(&b, "size")?)))
}

fn build_copy(c: &mut Call<'_>) -> BuildResult {
    let x = if c.dialect == Dialect::Torch {
        "self"
    } else {
        "x"
    };
    let b = c.bind(&[x])?;
    c.operand(&b, x)?;
    Ok(Box::new(ShapeOp::Copy))
}

fn join(stack: bool) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static {
    move |c| {
        let (t, d, sig): (&str, &str, &[&'static str]) = match c.dialect {
            Dialect::Torch => ("tensors", "dim", &["tensors", "dim?"]),
            Dialect::Tfjs => ("tensors", "axis", &["tensors", "axis?"]),
        };
        let b = c.bind(sig)?;
        c.operand_list(&b, t)?;
        Ok(Box::new(Join {
            dim: lit_int(&b, d)?.unwrap_or(0),
            stack,
        }))
    }
}

pub fn register(r: &mut Registry) {
    r.torch(&["reshape", "torch.reshape", "view"], build_reshape);
    r.torch(&["flatten", "torch.flatten"], build_flatten);
    r.torch(&["squeeze", "torch.squeeze"], build_squeeze);
    r.torch(&["unsqueeze", "torch.unsqueeze"], build_unsqueeze);
    r.torch(&["expand"], build_expand);
    r.torch(
        &[
            "copy",
            "clone",
            "torch.clone",
            "detach",
            "torch.detach",
            "contiguous",
        ],
        build_copy,
    );
    r.torch(&["torch.cat", "torch.concat"], join(false));
    r.torch(&["torch.stack"], join(true));
    r.tfjs(&["reshape"], build_reshape);
    r.tfjs(&["squeeze"], build_squeeze);
    r.tfjs(&["expandDims"], build_unsqueeze);
    r.tfjs(&["clone"], build_copy);
    r.tfjs(&["concat"], join(false));
    r.tfjs(&["stack"], join(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infer() {
        assert_eq!(infer_shape(&[-1, 1], 6).unwrap(), vec![6, 1]);
        assert_eq!(infer_shape(&[2, 3], 6).unwrap(), vec![2, 3]);
        assert!(infer_shape(&[4, -1], 6).is_err());
        assert_eq!(infer_shape(&[], 1).unwrap(), Vec::<usize>::new());
        assert!(infer_shape(&[0, -1], 0).is_err());
    }

    #[test]
    fn squeeze_unsqueeze_expand() {
        let x = Tensor::from_shape_vec(&[1, 3, 1], vec![1i32, 2, 3]).unwrap();
        let r = ShapeOp::Squeeze(None)
            .eval(vec![Operand::View(x.view())])
            .unwrap();
        assert_eq!(r.shape(), &[3]);
        let r = ShapeOp::Unsqueeze(-1).eval(vec![Operand::Own(r)]).unwrap();
        assert_eq!(r.shape(), &[3, 1]);
        let r = ShapeOp::Expand(vec![2, -1, 4])
            .eval(vec![Operand::Own(r)])
            .unwrap();
        assert_eq!(r.shape(), &[2, 3, 4]);
    }
}
