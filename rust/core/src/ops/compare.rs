//! Comparisons of both dialects (eq ne gt ge lt le; tfjs equal notEqual greater …): computed
//! in the promoted dtype with broadcasting, result bool.

use ndarray::{ArrayD, ArrayViewD};

use crate::dispatch_num;
use crate::error::Result;
use crate::ops::num::zip_map;
use crate::ops::{BuildResult, Call, Dialect, Kernel, Operand, Registry};
use crate::tensor::{tfjs_upcast, torch_result_type, Element, Tensor};

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    /// One monomorphized loop per (comparison, dtype).
    #[allow(clippy::float_cmp)]
    fn zip<T: Element>(self, a: &ArrayViewD<'_, T>, b: &ArrayViewD<'_, T>) -> Result<ArrayD<bool>> {
        match self {
            Cmp::Eq => zip_map(a, b, |x, y| x == y),
            Cmp::Ne => zip_map(a, b, |x, y| x != y),
            Cmp::Gt => zip_map(a, b, |x, y| x > y),
            Cmp::Ge => zip_map(a, b, |x, y| x >= y),
            Cmp::Lt => zip_map(a, b, |x, y| x < y),
            Cmp::Le => zip_map(a, b, |x, y| x <= y),
        }
    }
}

#[derive(Debug)]
struct Compare {
    cmp: Cmp,
    dialect: Dialect,
}

impl Kernel for Compare {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let b = args.pop().unwrap_or_else(|| unreachable!());
        let a = args.pop().unwrap_or_else(|| unreachable!());
        let dt = match self.dialect {
            Dialect::Torch => torch_result_type(&[a.promo(), b.promo()]),
            Dialect::Tfjs => tfjs_upcast(a.dtype(), b.dtype()),
        };
        fn go<T: Element>(cmp: Cmp, a: Operand<'_>, b: Operand<'_>) -> Result<Tensor> {
            let (a, b) = (a.typed::<T>(), b.typed::<T>());
            Ok(Tensor::Bool(cmp.zip(&a.view(), &b.view())?))
        }
        dispatch_num!(dt, T => go::<T>(self.cmp, a, b), bool => go::<bool>(self.cmp, a, b))
    }
}

fn cmp(c: Cmp) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static {
    move |call| {
        let sig: &[&'static str] = match call.dialect {
            Dialect::Torch => &["self", "other"],
            Dialect::Tfjs => &["a", "b"],
        };
        let b = call.bind(sig)?;
        call.operand(&b, sig[0])?;
        call.operand(&b, sig[1])?;
        Ok(Box::new(Compare {
            cmp: c,
            dialect: call.dialect,
        }))
    }
}

pub fn register(r: &mut Registry) {
    r.torch(&["eq", "torch.eq", "__eq__"], cmp(Cmp::Eq));
    r.torch(
        &["ne", "torch.ne", "__ne__", "not_equal", "torch.not_equal"],
        cmp(Cmp::Ne),
    );
    r.torch(
        &["gt", "torch.gt", "__gt__", "greater", "torch.greater"],
        cmp(Cmp::Gt),
    );
    r.torch(
        &[
            "ge",
            "torch.ge",
            "__ge__",
            "greater_equal",
            "torch.greater_equal",
        ],
        cmp(Cmp::Ge),
    );
    r.torch(
        &["lt", "torch.lt", "__lt__", "less", "torch.less"],
        cmp(Cmp::Lt),
    );
    r.torch(
        &["le", "torch.le", "__le__", "less_equal", "torch.less_equal"],
        cmp(Cmp::Le),
    );
    r.tfjs(&["equal"], cmp(Cmp::Eq));
    r.tfjs(&["notEqual"], cmp(Cmp::Ne));
    r.tfjs(&["greater"], cmp(Cmp::Gt));
    r.tfjs(&["greaterEqual"], cmp(Cmp::Ge));
    r.tfjs(&["less"], cmp(Cmp::Lt));
    r.tfjs(&["lessEqual"], cmp(Cmp::Le));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{DType, Scalar};

    #[test]
    fn compares_in_promoted_dtype() {
        let a = Tensor::from_shape_vec(&[3], vec![1i64, 2, 3]).unwrap();
        let k = Compare {
            cmp: Cmp::Gt,
            dialect: Dialect::Torch,
        };
        let r = k
            .eval(vec![
                Operand::View(a.view()),
                Operand::Lit(Scalar::Float(1.5)),
            ])
            .unwrap();
        assert_eq!(
            r,
            Tensor::from_shape_vec(&[3], vec![false, true, true]).unwrap()
        );
        assert_eq!(r.dtype(), DType::Bool);
    }
}
