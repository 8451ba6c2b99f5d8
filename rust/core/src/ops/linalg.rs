//! Linear algebra of both dialects: matmul (NumPy semantics, batched), mm, tfjs matMul with
//! transpose flags, t / transpose. GEMMs read any strides, so transposes cost nothing.

use ndarray::{ArrayD, ArrayView2, ArrayViewD, Ix2, IxDyn};

use crate::error::{Error, Result};
use crate::ops::{
    lit_bool, lit_ints, BuildResult, Call, Dialect, Kernel, Operand, Registry, Tag, ViewStep,
};
use crate::tensor::{
    broadcast_shapes, norm_axis, shape_str, tfjs_upcast, DType, Element, Tensor, TensorView,
};

/// torch `t()` rank rule.
pub fn check_t(ndim: usize) -> Result<()> {
    if ndim > 2 {
        return Err(Error::Shape(format!(
            "t() expects a tensor with <= 2 dimensions, but self is {ndim}D"
        )));
    }
    Ok(())
}

/// torch `t()` as a view.
pub fn torch_t_view(v: TensorView<'_>) -> Result<TensorView<'_>> {
    check_t(v.ndim())?;
    Ok(v.reversed_axes())
}

/// Element types with a GEMM.
pub trait Gemm: crate::ops::num::Num {
    /// `c = a · b` for 2-D views of any strides; `c` is row-major `[m, n]`.
    fn gemm(a: &ArrayView2<'_, Self>, b: &ArrayView2<'_, Self>, c: &mut [Self]);
}

fn strides2<T>(v: &ArrayView2<'_, T>) -> (isize, isize) {
    let s = v.strides();
    // Size-1 dims may carry any stride; give them a harmless one.
    let r = if v.shape()[0] <= 1 {
        v.shape()[1].max(1) as isize
    } else {
        s[0]
    };
    let c = if v.shape()[1] <= 1 { 1 } else { s[1] };
    (r, c)
}

macro_rules! gemm_float {
    ($t:ty, $f:ident) => {
        impl Gemm for $t {
            fn gemm(a: &ArrayView2<'_, Self>, b: &ArrayView2<'_, Self>, c: &mut [Self]) {
                let (m, k) = a.dim();
                let n = b.dim().1;
                if m == 0 || n == 0 {
                    return;
                }
                if k == 0 {
                    c.iter_mut().for_each(|x| *x = 0.0);
                    return;
                }
                let (rsa, csa) = strides2(a);
                let (rsb, csb) = strides2(b);
                // SAFETY: the pointers and strides describe live views of exactly m×k and k×n
                // elements, and `c` holds m×n elements written row-major (strides n, 1).
                unsafe {
                    matrixmultiply::$f(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        rsa,
                        csa,
                        b.as_ptr(),
                        rsb,
                        csb,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
            }
        }
    };
}
gemm_float!(f32, sgemm);
gemm_float!(f64, dgemm);

macro_rules! gemm_int {
    ($t:ty) => {
        impl Gemm for $t {
            fn gemm(a: &ArrayView2<'_, Self>, b: &ArrayView2<'_, Self>, c: &mut [Self]) {
                let (m, k) = a.dim();
                let n = b.dim().1;
                for i in 0..m {
                    for j in 0..n {
                        let mut s: $t = 0;
                        for p in 0..k {
                            s = s.wrapping_add(a[[i, p]].wrapping_mul(b[[p, j]]));
                        }
                        c[i * n + j] = s;
                    }
                }
            }
        }
    };
}
gemm_int!(u8);
gemm_int!(i32);
gemm_int!(i64);

fn mat_error(a: &[usize], b: &[usize]) -> Error {
    let f = |s: &[usize]| {
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x")
    };
    Error::Shape(format!(
        "shapes cannot be multiplied ({} and {})",
        f(a),
        f(b)
    ))
}

/// NumPy `matmul` of two views of the same dtype.
fn matmul_typed<T: Gemm>(a: ArrayViewD<'_, T>, b: ArrayViewD<'_, T>) -> Result<ArrayD<T>> {
    let (an, bn) = (a.ndim(), b.ndim());
    if an == 0 || bn == 0 {
        return Err(Error::Shape(
            "both arguments to matmul need to be at least 1D".into(),
        ));
    }
    // Promote 1-D operands to matrices, remembering which dims to drop.
    let a2 = if an == 1 {
        a.clone().insert_axis(ndarray::Axis(0))
    } else {
        a.clone()
    };
    let b2 = if bn == 1 {
        b.clone().insert_axis(ndarray::Axis(1))
    } else {
        b.clone()
    };
    let (m, k) = (a2.shape()[a2.ndim() - 2], a2.shape()[a2.ndim() - 1]);
    let (k2, n) = (b2.shape()[b2.ndim() - 2], b2.shape()[b2.ndim() - 1]);
    if k != k2 {
        return Err(mat_error(a2.shape(), b2.shape()));
    }
    let mut out_shape;
    let mut out: Vec<T>;
    if a2.ndim() == 2 && b2.ndim() == 2 {
        out = vec_uninit(m * n);
        let av = a2
            .into_dimensionality::<Ix2>()
            .unwrap_or_else(|_| unreachable!());
        let bv = b2
            .into_dimensionality::<Ix2>()
            .unwrap_or_else(|_| unreachable!());
        T::gemm(&av, &bv, &mut out);
        out_shape = vec![m, n];
    } else {
        let batch = broadcast_shapes(&a2.shape()[..a2.ndim() - 2], &b2.shape()[..b2.ndim() - 2])
            .map_err(|_| mat_error(a2.shape(), b2.shape()))?;
        let nb: usize = batch.iter().product();
        let full = |mut s: Vec<usize>, x: usize, y: usize| {
            s.push(x);
            s.push(y);
            s
        };
        let ab = a2
            .broadcast(IxDyn(&full(batch.clone(), m, k)))
            .unwrap_or_else(|| unreachable!());
        let bb = b2
            .broadcast(IxDyn(&full(batch.clone(), k, n)))
            .unwrap_or_else(|| unreachable!());
        let ac = ab
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((nb, m, k))
            .map_err(|e| Error::Execution(e.to_string()))?;
        let bc = bb
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((nb, k, n))
            .map_err(|e| Error::Execution(e.to_string()))?;
        out = vec_uninit(nb * m * n);
        for i in 0..nb {
            let av = ac.index_axis(ndarray::Axis(0), i);
            let bv = bc.index_axis(ndarray::Axis(0), i);
            T::gemm(&av, &bv, &mut out[i * m * n..(i + 1) * m * n]);
        }
        out_shape = full(batch, m, n);
    }
    if bn == 1 {
        out_shape.pop();
    }
    if an == 1 {
        let l = out_shape.len();
        out_shape.remove(l - if bn == 1 { 1 } else { 2 });
    }
    Ok(ArrayD::from_shape_vec(IxDyn(&out_shape), out).unwrap_or_else(|_| unreachable!()))
}

/// A zero-filled buffer (every GEMM writes all of it; zeroing is cheap next to the GEMM).
fn vec_uninit<T: Gemm>(n: usize) -> Vec<T> {
    vec![T::ZERO; n]
}

/// matmul of two operands under the dialect's dtype rule.
pub fn matmul(a: TensorView<'_>, b: TensorView<'_>, dialect: Dialect) -> Result<Tensor> {
    let dt = match dialect {
        Dialect::Torch => {
            if a.dtype() != b.dtype() {
                return Err(Error::DType(format!(
                    "expected both operands to have the same dtype, got {} and {}",
                    a.dtype(),
                    b.dtype()
                )));
            }
            if a.dtype() == DType::Bool {
                return Err(Error::DType(
                    "matmul is not implemented for bool tensors".into(),
                ));
            }
            a.dtype()
        }
        Dialect::Tfjs => match tfjs_upcast(a.dtype(), b.dtype()) {
            DType::Bool => DType::I32,
            d => d,
        },
    };
    let ca = (a.dtype() != dt).then(|| a.cast(dt));
    let cb = (b.dtype() != dt).then(|| b.cast(dt));
    let a = ca.as_ref().map_or_else(|| a.reborrow(), |t| t.view());
    let b = cb.as_ref().map_or_else(|| b.reborrow(), |t| t.view());
    crate::dispatch_num!(dt, T => Ok(T::wrap(matmul_typed::<T>(T::of_view(&a).unwrap_or_else(|| unreachable!()), T::of_view(&b).unwrap_or_else(|| unreachable!()))?)),
        bool => unreachable!())
}

#[derive(Debug)]
struct MatMul {
    dialect: Dialect,
    /// torch `mm`: 2-D operands only.
    only_2d: bool,
    transpose_a: bool,
    transpose_b: bool,
}

impl Kernel for MatMul {
    fn eval(&self, args: Vec<Operand<'_>>) -> Result<Tensor> {
        let a = args[0]
            .as_view()
            .ok_or_else(|| Error::DType("matmul operands must be tensors".into()))?;
        let b = args[1]
            .as_view()
            .ok_or_else(|| Error::DType("matmul operands must be tensors".into()))?;
        if self.only_2d && (a.ndim() != 2 || b.ndim() != 2) {
            return Err(Error::Shape(format!(
                "mm expects 2-D operands, got shapes [{}] and [{}]",
                shape_str(a.shape()),
                shape_str(b.shape())
            )));
        }
        if self.dialect == Dialect::Tfjs && (a.ndim() < 2 || b.ndim() < 2) {
            return Err(Error::Shape(format!(
                "matMul expects tensors of rank >= 2, got ranks {} and {}",
                a.ndim(),
                b.ndim()
            )));
        }
        fn swap_last(v: TensorView<'_>) -> TensorView<'_> {
            let n = v.ndim();
            v.swap_axes(n - 2, n - 1)
        }
        let a = if self.transpose_a { swap_last(a) } else { a };
        let b = if self.transpose_b { swap_last(b) } else { b };
        matmul(a, b, self.dialect)
    }
}

fn build_matmul(only_2d: bool) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static {
    move |c| {
        let (ta, tb) = match c.dialect {
            Dialect::Torch => {
                let b = c.bind(&["self", if only_2d { "mat2" } else { "other" }])?;
                c.operand(&b, "self")?;
                c.operand(&b, if only_2d { "mat2" } else { "other" })?;
                (false, false)
            }
            Dialect::Tfjs => {
                let b = c.bind(&["a", "b", "transposeA?", "transposeB?"])?;
                c.operand(&b, "a")?;
                c.operand(&b, "b")?;
                (
                    lit_bool(&b, "transposeA")?.unwrap_or(false),
                    lit_bool(&b, "transposeB")?.unwrap_or(false),
                )
            }
        };
        Ok(Box::new(MatMul {
            dialect: c.dialect,
            only_2d,
            transpose_a: ta,
            transpose_b: tb,
        }))
    }
}

/// torch `t()` / tfjs `transpose(x)` (reverse axes) / tfjs `transpose(x, perm)` /
/// torch `transpose(dim0, dim1)`, materialized (the loader folds most of them away).
#[derive(Debug)]
enum Transpose {
    TorchT,
    Reverse,
    Perm(Vec<i64>),
    Swap(i64, i64),
}

impl Kernel for Transpose {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        let x = args.pop().unwrap_or_else(|| unreachable!());
        let nd = x.shape().len();
        if let Transpose::TorchT = self {
            check_t(nd)?;
        }
        let perm: Vec<usize> = match self {
            Transpose::TorchT | Transpose::Reverse => (0..nd).rev().collect(),
            Transpose::Perm(p) => {
                let p = p
                    .iter()
                    .map(|a| norm_axis(*a, nd))
                    .collect::<Result<Vec<_>>>()?;
                let mut seen = p.clone();
                seen.sort_unstable();
                if p.len() != nd || seen.iter().enumerate().any(|(i, a)| i != *a) {
                    return Err(Error::Shape(format!(
                        "perm {p:?} is not a permutation of {nd} axes"
                    )));
                }
                p
            }
            Transpose::Swap(a, b) => {
                let (a, b) = (norm_axis(*a, nd)?, norm_axis(*b, nd)?);
                let mut p: Vec<usize> = (0..nd).collect();
                if nd > 0 {
                    p.swap(a, b);
                }
                p
            }
        };
        Ok(match x {
            Operand::Own(t) => crate::map_tensor!(t, a => a.permuted_axes(IxDyn(&perm))),
            other => {
                let v = other.as_view().unwrap_or_else(|| unreachable!());
                crate::map_view!(v, a => a.permuted_axes(IxDyn(&perm))).to_tensor()
            }
        })
    }
}

fn build_t(c: &mut Call<'_>) -> BuildResult {
    let b = c.bind(&["self"])?;
    c.operand(&b, "self")?;
    c.tag = Tag::View(ViewStep::TorchT { action: c.index });
    Ok(Box::new(Transpose::TorchT))
}

fn build_transpose(c: &mut Call<'_>) -> BuildResult {
    match c.dialect {
        Dialect::Torch => {
            let b = c.bind(&["self", "dim0", "dim1"])?;
            c.operand(&b, "self")?;
            let d0 = crate::ops::lit_int(&b, "dim0")?.unwrap_or(0);
            let d1 = crate::ops::lit_int(&b, "dim1")?.unwrap_or(0);
            Ok(Box::new(Transpose::Swap(d0, d1)))
        }
        Dialect::Tfjs => {
            let b = c.bind(&["x", "perm?"])?;
            c.operand(&b, "x")?;
            match lit_ints(&b, "perm")? {
                None => {
                    c.tag = Tag::View(ViewStep::Reverse);
                    Ok(Box::new(Transpose::Reverse))
                }
                Some(p) => Ok(Box::new(Transpose::Perm(p))),
            }
        }
    }
}

pub fn register(r: &mut Registry) {
    r.torch(
        &["matmul", "torch.matmul", "__matmul__"],
        build_matmul(false),
    );
    r.torch(&["mm", "torch.mm"], build_matmul(true));
    r.torch(&["t", "torch.t"], build_t);
    r.torch(&["transpose", "torch.transpose"], build_transpose);
    r.tfjs(&["matMul"], build_matmul(false));
    r.tfjs(&["transpose"], build_transpose);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_shapes_and_strides() {
        let a = Tensor::from_shape_vec(&[2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let b = Tensor::from_shape_vec(&[2, 3], vec![1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0]).unwrap();
        // a · bᵀ through a transposed view.
        let r = matmul(a.view(), b.view().reversed_axes(), Dialect::Torch).unwrap();
        assert_eq!(
            r,
            Tensor::from_shape_vec(&[2, 2], vec![4.0f32, 2.0, 10.0, 5.0]).unwrap()
        );
        let v = Tensor::from_shape_vec(&[3], vec![1.0f32, 1.0, 1.0]).unwrap();
        let r = matmul(a.view(), v.view(), Dialect::Torch).unwrap();
        assert_eq!(r, Tensor::from_shape_vec(&[2], vec![6.0f32, 15.0]).unwrap());
        let r = matmul(v.view(), v.view(), Dialect::Torch).unwrap();
        assert_eq!(r.shape(), &[] as &[usize]);
        let e = matmul(a.view(), a.view(), Dialect::Torch).unwrap_err();
        assert!(matches!(e, Error::Shape(_)));
        let d = Tensor::from_shape_vec(&[3], vec![1.0f64, 1.0, 1.0]).unwrap();
        assert!(matches!(
            matmul(a.view(), d.view(), Dialect::Torch),
            Err(Error::DType(_))
        ));
    }

    #[test]
    fn batched_matmul_broadcasts() {
        let a = Tensor::from_shape_vec(&[2, 1, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let b = Tensor::from_shape_vec(&[2, 1], vec![1.0f32, 1.0]).unwrap();
        let r = matmul(a.view(), b.view(), Dialect::Torch).unwrap();
        assert_eq!(
            r,
            Tensor::from_shape_vec(&[2, 1, 1], vec![3.0f32, 7.0]).unwrap()
        );
    }
}
