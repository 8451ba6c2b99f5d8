//! Elementwise arithmetic of both dialects: binary ops with broadcasting and dialect dtype
//! promotion (add sub mul div pow maximum minimum, reflected and in-place forms), unary ops
//! (neg abs sign exp log sqrt rsqrt sigmoid tanh relu), clamp, zeros_like / ones_like.

use ndarray::ArrayD;

use crate::dispatch_num;
use crate::error::{Error, Result};
use crate::ops::num::{map_same, zip_same, Float, Num};
use crate::ops::{
    in_place, lit_number, Arr, BuildResult, Call, Dialect, Kernel, Operand, Registry,
};
use crate::tensor::{
    broadcast_shapes, tfjs_upcast, torch_result_type, DType, Element, Scalar, Tensor,
};

/// Binary arithmetic operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

impl BinOp {
    /// `zip_same` with the op's function as a zero-sized function item, so each
    /// (op, dtype) pair compiles to its own inlined, vectorizable loop.
    fn zip<T: Num>(self, a: Arr<'_, T>, b: Arr<'_, T>) -> Result<ndarray::ArrayD<T>> {
        match self {
            BinOp::Add => zip_same(a, b, T::add),
            BinOp::Sub => zip_same(a, b, T::sub),
            BinOp::Mul => zip_same(a, b, T::mul),
            BinOp::Div => zip_same(a, b, T::div),
            BinOp::Pow => zip_same(a, b, T::pow),
            BinOp::Max => zip_same(a, b, T::max_),
            BinOp::Min => zip_same(a, b, T::min_),
        }
    }

    /// The bool ⊕ bool rule (plans.md §6.2): `None` → `DTypeError`.
    fn on_bool(self) -> Option<fn(bool, bool) -> bool> {
        match self {
            BinOp::Add | BinOp::Max => Some(|a, b| a | b),
            BinOp::Mul | BinOp::Min => Some(|a, b| a & b),
            BinOp::Sub | BinOp::Div | BinOp::Pow => None,
        }
    }
}

/// The dtype a binary arithmetic op computes in.
pub fn binary_dtype(dialect: Dialect, op: BinOp, a: &Operand<'_>, b: &Operand<'_>) -> DType {
    let dt = match dialect {
        Dialect::Torch => torch_result_type(&[a.promo(), b.promo()]),
        Dialect::Tfjs => tfjs_upcast(a.dtype(), b.dtype()),
    };
    match (dialect, op) {
        // True division of integers or bools gives float32 in torch.
        (Dialect::Torch, BinOp::Div) if !dt.is_float() => DType::F32,
        (Dialect::Tfjs, BinOp::Div) if dt == DType::Bool => DType::F32,
        _ => dt,
    }
}

/// Evaluate `op(a, b)` with broadcasting in `dt` (operands converted as needed); owned
/// operands of the result's shape and dtype are overwritten instead of allocating.
pub fn binary(op: BinOp, a: Operand<'_>, b: Operand<'_>, dt: DType) -> Result<Tensor> {
    fn go<T: Num>(op: BinOp, a: Operand<'_>, b: Operand<'_>) -> Result<Tensor> {
        if op == BinOp::Pow && T::DTYPE.is_int() {
            let e = b.as_view();
            let neg = match &e {
                Some(v) => T::of_view(v).is_some_and(|v| v.iter().any(|x| x.is_negative())),
                None => matches!(b, Operand::Lit(Scalar::Int(i)) if i < 0),
            };
            if neg {
                return Err(Error::Execution(
                    "Integers to negative integer powers are not allowed.".into(),
                ));
            }
        }
        Ok(T::wrap(op.zip(a.typed::<T>(), b.typed::<T>())?))
    }
    dispatch_num!(dt, T => go::<T>(op, a, b), bool => {
        let f = op.on_bool().ok_or_else(|| Error::DType(format!(
            "{} of two bool tensors is not supported", op_word(op))))?;
        Ok(Tensor::Bool(zip_same(a.typed::<bool>(), b.typed::<bool>(), f)?))
    })
}

fn op_word(op: BinOp) -> &'static str {
    match op {
        BinOp::Sub => "subtraction",
        BinOp::Div => "division",
        BinOp::Pow => "power",
        _ => "this operation",
    }
}

#[derive(Debug)]
struct Arith {
    op: BinOp,
    dialect: Dialect,
    /// `self ⊕ alpha·other` (torch `add`/`sub`).
    alpha: Option<Scalar>,
    /// Reflected form: the kernel computes `other ⊕ self`.
    swap: bool,
}

impl Kernel for Arith {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let b = args.pop().unwrap_or_else(|| unreachable!());
        let a = args.pop().unwrap_or_else(|| unreachable!());
        // Shapes are checked in call order so the message names the target first.
        broadcast_shapes(a.shape(), b.shape())?;
        let (a, mut b) = if self.swap { (b, a) } else { (a, b) };
        let dt = binary_dtype(self.dialect, self.op, &a, &b);
        if let Some(alpha) = self.alpha {
            if alpha != Scalar::Int(1) {
                if !dt.is_float() && matches!(alpha, Scalar::Float(_)) {
                    return Err(Error::DType(
                        "for integral input tensors, argument alpha must not be a floating point number".into(),
                    ));
                }
                b = Operand::Own(binary(BinOp::Mul, b, Operand::Lit(alpha), dt)?);
            }
        }
        binary(self.op, a, b, dt)
    }

    fn algebra(&self) -> crate::ops::fused::Algebra {
        use crate::ops::fused::Algebra;
        if !matches!(self.alpha, None | Some(Scalar::Int(1))) {
            return Algebra::Opaque;
        }
        match (self.op, self.swap) {
            (BinOp::Add, _) => Algebra::Add,
            (BinOp::Mul, _) => Algebra::Mul,
            (BinOp::Sub, false) => Algebra::Sub,
            _ => Algebra::Opaque,
        }
    }
}

fn arith(
    op: BinOp,
    swap: bool,
    with_alpha: bool,
) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static {
    move |c| {
        let sig: &[&'static str] = match (c.dialect, with_alpha) {
            (Dialect::Tfjs, _) => &["a", "b"],
            (Dialect::Torch, true) => &["self", "other", "alpha?"],
            (Dialect::Torch, false) => &["self", "other"],
        };
        let b = c.bind(sig)?;
        c.operand(&b, sig[0])?;
        c.operand(&b, sig[1])?;
        let alpha = if with_alpha && c.dialect == Dialect::Torch {
            lit_number(&b, "alpha")?
        } else {
            None
        };
        Ok(Box::new(Arith {
            op,
            dialect: c.dialect,
            alpha,
            swap,
        }))
    }
}

/// Unary elementwise operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Abs,
    Sign,
    Relu,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Sigmoid,
    Tanh,
}

impl UnOp {
    /// Ops whose result is floating point whatever the input.
    fn is_float_op(self) -> bool {
        !matches!(self, UnOp::Neg | UnOp::Abs | UnOp::Sign | UnOp::Relu)
    }

    fn map_num<T: Num>(self, x: Arr<'_, T>) -> ndarray::ArrayD<T> {
        match self {
            UnOp::Neg => map_same(x, T::neg),
            UnOp::Abs => map_same(x, T::abs),
            UnOp::Sign => map_same(x, T::sign),
            _ => map_same(x, |v: T| v.max_(T::ZERO)),
        }
    }

    fn map_float<T: Float>(self, x: Arr<'_, T>) -> ndarray::ArrayD<T> {
        match self {
            UnOp::Exp => map_same(x, T::exp),
            UnOp::Log => map_same(x, T::ln),
            UnOp::Sqrt => map_same(x, T::sqrt),
            UnOp::Rsqrt => map_same(x, |v: T| T::ONE.div(v.sqrt())),
            UnOp::Sigmoid => map_same(x, |v: T| T::ONE.div(T::ONE.add(v.neg().exp()))),
            UnOp::Tanh => map_same(x, T::tanh),
            other => other.map_num(x),
        }
    }
}

/// Evaluate a unary op with the dialect's dtype rules (plans.md §6.2, §6.3).
pub fn unary(op: UnOp, dialect: Dialect, x: Operand<'_>) -> Result<Tensor> {
    let dt = x.dtype();
    let dt = if op.is_float_op() {
        if dialect == Dialect::Torch && dt.is_float() {
            dt
        } else {
            DType::F32
        }
    } else if dt == DType::Bool {
        match (dialect, op) {
            (Dialect::Torch, UnOp::Neg | UnOp::Relu) => {
                return Err(Error::DType(
                    format!("{op:?} is not supported for bool tensors").to_lowercase(),
                ))
            }
            (Dialect::Torch, _) => return Ok(x.into_tensor()),
            (Dialect::Tfjs, _) => DType::I32,
        }
    } else {
        dt
    };
    let x = x.into_dtype(dt);
    Ok(match dt {
        DType::F32 => Tensor::F32(op.map_float(x.typed::<f32>())),
        DType::F64 => Tensor::F64(op.map_float(x.typed::<f64>())),
        DType::U8 => Tensor::U8(op.map_num(x.typed::<u8>())),
        DType::I32 => Tensor::I32(op.map_num(x.typed::<i32>())),
        DType::I64 => Tensor::I64(op.map_num(x.typed::<i64>())),
        DType::Bool => unreachable!(),
    })
}

#[derive(Debug)]
struct Unary {
    op: UnOp,
    dialect: Dialect,
}

impl Kernel for Unary {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        unary(
            self.op,
            self.dialect,
            args.pop().unwrap_or_else(|| unreachable!()),
        )
    }
}

fn un(op: UnOp) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static {
    move |c| {
        let name = if c.dialect == Dialect::Torch {
            "self"
        } else {
            "x"
        };
        let b = c.bind(&[name])?;
        c.operand(&b, name)?;
        Ok(Box::new(Unary {
            op,
            dialect: c.dialect,
        }))
    }
}

/// torch `clamp(min=None, max=None)`: `min(max(x, min), max)` in the promoted dtype.
#[derive(Debug)]
struct Clamp {
    has_min: bool,
    has_max: bool,
}

impl Kernel for Clamp {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let hi = if self.has_max { args.pop() } else { None };
        let lo = if self.has_min { args.pop() } else { None };
        let x = args.pop().unwrap_or_else(|| unreachable!());
        let mut promo = vec![x.promo()];
        promo.extend(lo.iter().chain(hi.iter()).map(|o| o.promo()));
        let dt = torch_result_type(&promo);
        let mut x = x;
        if let Some(lo) = lo {
            x = Operand::Own(binary(BinOp::Max, x, lo, dt)?);
        }
        if let Some(hi) = hi {
            x = Operand::Own(binary(BinOp::Min, x, hi, dt)?);
        }
        Ok(x.into_dtype(dt).into_tensor())
    }
}

fn build_clamp(c: &mut Call<'_>) -> BuildResult {
    let b = c.bind(&["self", "min?", "max?"])?;
    let (has_min, has_max) = (b.has("min"), b.has("max"));
    if !has_min && !has_max {
        return Err("at least one of 'min' or 'max' must not be None".into());
    }
    c.operand(&b, "self")?;
    if has_min {
        c.operand(&b, "min")?;
    }
    if has_max {
        c.operand(&b, "max")?;
    }
    Ok(Box::new(Clamp { has_min, has_max }))
}

/// `zeros_like` / `ones_like`: same shape and dtype, filled.
#[derive(Debug)]
struct Fill {
    one: bool,
}

impl Kernel for Fill {
    fn eval(&self, args: Vec<Operand<'_>>) -> Result<Tensor> {
        let x = &args[0];
        let shape = ndarray::IxDyn(x.shape());
        fn full<T: Element>(shape: ndarray::IxDyn, v: T) -> Tensor {
            T::wrap(ArrayD::from_elem(shape, v))
        }
        Ok(
            dispatch_num!(x.dtype(), T => full::<T>(shape, if self.one { T::ONE } else { T::ZERO }),
            bool => full(shape, self.one)),
        )
    }
}

fn fill(one: bool) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static {
    move |c| {
        let name = if c.dialect == Dialect::Torch {
            "self"
        } else {
            "x"
        };
        let b = c.bind(&[name])?;
        c.operand(&b, name)?;
        Ok(Box::new(Fill { one }))
    }
}

pub fn register(r: &mut Registry) {
    use BinOp::*;
    // torch binary arithmetic, reflected forms, in-place forms.
    r.torch(
        &["add", "torch.add", "__add__", "__radd__"],
        arith(Add, false, true),
    );
    r.torch(&["add_", "__iadd__"], in_place(arith(Add, false, true)));
    r.torch(
        &["sub", "torch.sub", "__sub__", "subtract", "torch.subtract"],
        arith(Sub, false, true),
    );
    r.torch(&["sub_", "__isub__"], in_place(arith(Sub, false, true)));
    r.torch(&["__rsub__", "torch.rsub"], arith(Sub, true, false));
    r.torch(
        &[
            "mul",
            "torch.mul",
            "__mul__",
            "__rmul__",
            "multiply",
            "torch.multiply",
        ],
        arith(Mul, false, false),
    );
    r.torch(&["mul_", "__imul__"], in_place(arith(Mul, false, false)));
    r.torch(
        &[
            "div",
            "torch.div",
            "true_divide",
            "torch.true_divide",
            "__truediv__",
            "divide",
            "torch.divide",
        ],
        arith(Div, false, false),
    );
    r.torch(
        &["div_", "__itruediv__", "true_divide_"],
        in_place(arith(Div, false, false)),
    );
    r.torch(&["__rtruediv__"], arith(Div, true, false));
    r.torch(&["pow", "torch.pow", "__pow__"], arith(Pow, false, false));
    r.torch(&["pow_", "__ipow__"], in_place(arith(Pow, false, false)));
    r.torch(&["__rpow__"], arith(Pow, true, false));
    r.torch(&["maximum", "torch.maximum"], arith(Max, false, false));
    r.torch(&["minimum", "torch.minimum"], arith(Min, false, false));
    // tfjs binary arithmetic.
    r.tfjs(&["add"], arith(Add, false, false));
    r.tfjs(&["sub"], arith(Sub, false, false));
    r.tfjs(&["mul"], arith(Mul, false, false));
    r.tfjs(&["div"], arith(Div, false, false));
    r.tfjs(&["pow"], arith(Pow, false, false));
    r.tfjs(&["maximum"], arith(Max, false, false));
    r.tfjs(&["minimum"], arith(Min, false, false));

    // Unary ops: one line per op and dialect form.
    r.torch(&["neg", "torch.neg", "__neg__", "negative"], un(UnOp::Neg));
    r.torch(&["neg_"], in_place(un(UnOp::Neg)));
    r.torch(&["abs", "torch.abs", "__abs__"], un(UnOp::Abs));
    r.torch(&["abs_"], in_place(un(UnOp::Abs)));
    r.torch(&["sign", "torch.sign"], un(UnOp::Sign));
    r.torch(&["sign_"], in_place(un(UnOp::Sign)));
    r.torch(
        &["relu", "torch.relu", "torch.nn.functional.relu"],
        un(UnOp::Relu),
    );
    r.torch(
        &["relu_", "torch.relu_", "torch.nn.functional.relu_"],
        in_place(un(UnOp::Relu)),
    );
    r.torch(&["exp", "torch.exp"], un(UnOp::Exp));
    r.torch(&["exp_"], in_place(un(UnOp::Exp)));
    r.torch(&["log", "torch.log"], un(UnOp::Log));
    r.torch(&["log_"], in_place(un(UnOp::Log)));
    r.torch(&["sqrt", "torch.sqrt"], un(UnOp::Sqrt));
    r.torch(&["sqrt_"], in_place(un(UnOp::Sqrt)));
    r.torch(&["rsqrt", "torch.rsqrt"], un(UnOp::Rsqrt));
    r.torch(&["rsqrt_"], in_place(un(UnOp::Rsqrt)));
    r.torch(
        &["sigmoid", "torch.sigmoid", "torch.nn.functional.sigmoid"],
        un(UnOp::Sigmoid),
    );
    r.torch(&["sigmoid_"], in_place(un(UnOp::Sigmoid)));
    r.torch(
        &["tanh", "torch.tanh", "torch.nn.functional.tanh"],
        un(UnOp::Tanh),
    );
    r.torch(&["tanh_"], in_place(un(UnOp::Tanh)));
    r.tfjs(&["neg"], un(UnOp::Neg));
    r.tfjs(&["abs"], un(UnOp::Abs));
    r.tfjs(&["sign"], un(UnOp::Sign));
    r.tfjs(&["relu"], un(UnOp::Relu));
    r.tfjs(&["exp"], un(UnOp::Exp));
    r.tfjs(&["log"], un(UnOp::Log));
    r.tfjs(&["sqrt"], un(UnOp::Sqrt));
    r.tfjs(&["rsqrt"], un(UnOp::Rsqrt));
    r.tfjs(&["sigmoid"], un(UnOp::Sigmoid));
    r.tfjs(&["tanh"], un(UnOp::Tanh));

    r.torch(&["clamp", "torch.clamp", "clip", "torch.clip"], build_clamp);
    r.torch(&["clamp_", "clip_"], in_place(build_clamp));
    r.torch(&["zeros_like", "torch.zeros_like"], fill(false));
    r.torch(&["ones_like", "torch.ones_like"], fill(true));
    r.tfjs(&["zerosLike"], fill(false));
    r.tfjs(&["onesLike"], fill(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::TensorView;

    fn t32(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_shape_vec(shape, v.to_vec()).unwrap()
    }

    #[test]
    fn add_broadcasts_and_promotes() {
        let a = t32(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = Tensor::from_shape_vec(&[], vec![2i64]).unwrap();
        let k = Arith {
            op: BinOp::Div,
            dialect: Dialect::Torch,
            alpha: None,
            swap: false,
        };
        let r = k
            .eval(vec![Operand::View(a.view()), Operand::View(b.view())])
            .unwrap();
        assert_eq!(r, t32(&[2, 2], &[0.5, 1.0, 1.5, 2.0]));
        let r = k
            .eval(vec![Operand::Own(a.clone()), Operand::Lit(Scalar::Int(2))])
            .unwrap();
        assert_eq!(r.dtype(), DType::F32);
        let bad = t32(&[2], &[1.0, 2.0]);
        let c = t32(&[3, 3], &[0.0; 9]);
        let e = k
            .eval(vec![Operand::View(c.view()), Operand::View(bad.view())])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Operands could not be broadcast together with shapes 3,3 and 2."
        );
    }

    #[test]
    fn reflected_and_bool_rules() {
        let a = t32(&[2], &[2.0, 4.0]);
        let k = Arith {
            op: BinOp::Div,
            dialect: Dialect::Torch,
            alpha: None,
            swap: true,
        };
        let r = k
            .eval(vec![Operand::View(a.view()), Operand::Lit(Scalar::Int(1))])
            .unwrap();
        assert_eq!(r, t32(&[2], &[0.5, 0.25]));
        let t = Tensor::from_shape_vec(&[2], vec![true, false]).unwrap();
        let sub = Arith {
            op: BinOp::Sub,
            dialect: Dialect::Torch,
            alpha: None,
            swap: false,
        };
        assert!(matches!(
            sub.eval(vec![Operand::View(t.view()), Operand::View(t.view())]),
            Err(Error::DType(_))
        ));
        let tfdiv = Arith {
            op: BinOp::Div,
            dialect: Dialect::Tfjs,
            alpha: None,
            swap: false,
        };
        let i = Tensor::from_shape_vec(&[2], vec![-7i32, 7]).unwrap();
        let d = Tensor::from_shape_vec(&[], vec![2i32]).unwrap();
        let r = tfdiv
            .eval(vec![Operand::View(i.view()), Operand::View(d.view())])
            .unwrap();
        assert_eq!(r, Tensor::from_shape_vec(&[2], vec![-4i32, 3]).unwrap());
    }

    #[test]
    fn unary_dtypes() {
        let i = Tensor::from_shape_vec(&[2], vec![0i64, 1]).unwrap();
        let r = unary(UnOp::Exp, Dialect::Torch, Operand::View(i.view())).unwrap();
        assert_eq!(r.dtype(), DType::F32);
        let b = Tensor::from_shape_vec(&[1], vec![true]).unwrap();
        assert!(unary(UnOp::Neg, Dialect::Torch, Operand::View(b.view())).is_err());
        let r = unary(UnOp::Relu, Dialect::Tfjs, Operand::View(b.view())).unwrap();
        assert_eq!(r.dtype(), DType::I32);
        let v: TensorView<'_> = i.view();
        assert_eq!(
            unary(UnOp::Neg, Dialect::Torch, Operand::View(v))
                .unwrap()
                .dtype(),
            DType::I64
        );
    }
}
