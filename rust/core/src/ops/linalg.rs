//! Linear algebra of both dialects: matmul (NumPy semantics, batched), mm, tfjs matMul with
//! transpose flags, t / transpose. GEMMs read any strides, so transposes cost nothing.

use std::mem::MaybeUninit;

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

/// The last two axes swapped (tfjs `transposeA`/`transposeB`); `v` has rank >= 2.
pub fn swap_last(v: TensorView<'_>) -> TensorView<'_> {
    let n = v.ndim();
    v.swap_axes(n - 2, n - 1)
}

/// torch `t()` as a view.
pub fn torch_t_view(v: TensorView<'_>) -> Result<TensorView<'_>> {
    check_t(v.ndim())?;
    Ok(v.reversed_axes())
}

/// Element types with a GEMM.
pub trait Gemm: crate::ops::num::Num {
    /// `c = a · b` for 2-D views of any strides; `c` holds `[m, n]` with row stride `rsc`
    /// and column stride `csc` (row-major: `n, 1`; column-major: `1, m`). Every element
    /// of `c` is written and none is read, so `c` may start uninitialized.
    fn gemm(
        a: &ArrayView2<'_, Self>,
        b: &ArrayView2<'_, Self>,
        c: &mut [MaybeUninit<Self>],
        rsc: isize,
        csc: isize,
    );
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

/// GEMM backends; `gemm` unless `SYFT_RS_GEMM=matrixmultiply` (kept for comparison in
/// the benches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Gemm,
    MatrixMultiply,
}

/// The backend chosen for this process.
pub fn backend() -> Backend {
    static B: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();
    *B.get_or_init(|| match std::env::var("SYFT_RS_GEMM").as_deref() {
        Ok("matrixmultiply") => Backend::MatrixMultiply,
        _ => Backend::Gemm,
    })
}

/// Below this many multiply-adds a GEMM runs on the calling thread: waking workers costs
/// more than it saves (`SYFT_RS_GEMM_PAR_MIN` overrides, for the benches).
fn parallel_min_work() -> usize {
    static P: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *P.get_or_init(|| {
        std::env::var("SYFT_RS_GEMM_PAR_MIN")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1 << 20)
    })
}

/// A raw pointer that may cross to a worker thread (the blocks it addresses are disjoint).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: used only for disjoint output blocks and shared read-only inputs of one GEMM,
// all of which outlive the scoped workers.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the whole `SendPtr`).
    fn get(self) -> *mut T {
        self.0
    }
}

/// One GEMM call: `c[m×n] = a[m×k] · b[k×n]` with arbitrary strides.
#[derive(Clone, Copy)]
struct GemmArgs<T> {
    m: usize,
    n: usize,
    k: usize,
    c: SendPtr<T>,
    rsc: isize,
    csc: isize,
    a: SendPtr<T>,
    rsa: isize,
    csa: isize,
    b: SendPtr<T>,
    rsb: isize,
    csb: isize,
}

impl<T: Copy + Send + Sync + 'static> GemmArgs<T> {
    /// Single-threaded `gemm` on this block.
    unsafe fn run(self, zero: T, one: T) {
        gemm::gemm(
            self.m,
            self.n,
            self.k,
            self.c.0,
            self.csc,
            self.rsc,
            false,
            self.a.0,
            self.csa,
            self.rsa,
            self.b.0,
            self.csb,
            self.rsb,
            zero,
            one,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }

    /// Large GEMMs: split the longer output side into one block per worker thread and run
    /// the blocks concurrently, each single-threaded (measured faster on these shapes than
    /// the crate's own threading); small ones run on the calling thread.
    unsafe fn run_split(self, zero: T, one: T) {
        let parts = crate::pool::threads();
        // Few multiply-adds over a large operand (a matrix-vector product: batch 1) are
        // bound by reading that operand, which two cores do faster than one.
        let streams_big_operand = self.k * self.m.max(self.n) >= 1 << 17;
        if parts == 1 || (self.m * self.n * self.k < parallel_min_work() && !streams_big_operand) {
            return self.run(zero, one);
        }
        let along_n = self.n >= self.m;
        let len = if along_n { self.n } else { self.m };
        let chunk = len.div_ceil(parts).max(1);
        let this = self;
        crate::pool::run(len.div_ceil(chunk), &move |i| {
            let lo = i * chunk;
            let hi = (lo + chunk).min(len);
            let mut g = this;
            // SAFETY: the blocks [lo, hi) are disjoint parts of the output and of one
            // operand; the pool returns only when all of them have run.
            unsafe {
                if along_n {
                    g.n = hi - lo;
                    g.c = SendPtr(this.c.0.offset(lo as isize * this.csc));
                    g.b = SendPtr(this.b.0.offset(lo as isize * this.csb));
                } else {
                    g.m = hi - lo;
                    g.c = SendPtr(this.c.0.offset(lo as isize * this.rsc));
                    g.a = SendPtr(this.a.0.offset(lo as isize * this.rsa));
                }
                g.run(zero, one)
            }
        });
    }
}

/// A CBLAS `sgemm` with 64-bit integers (ILP64), e.g. the OpenBLAS that numpy ships.
pub type CblasSgemm = unsafe extern "C" fn(
    i32,
    i32,
    i32,
    i64,
    i64,
    i64,
    f32,
    *const f32,
    i64,
    *const f32,
    i64,
    f32,
    *mut f32,
    i64,
);

static EXTERNAL_SGEMM: std::sync::OnceLock<CblasSgemm> = std::sync::OnceLock::new();

/// Route float32 GEMMs with unit-stride operands to an external CBLAS `sgemm` (opt-in; the
/// benches use it to compare against the gemm crate). The first registration wins.
///
/// # Safety
/// `f` must be a thread-safe `cblas_sgemm` taking 64-bit integer arguments.
pub unsafe fn set_external_sgemm(f: CblasSgemm) -> bool {
    EXTERNAL_SGEMM.set(f).is_ok()
}

/// `(transpose, leading dimension)` of a `rows × cols` matrix with strides `(r, c)` in
/// CBLAS row-major terms, if it has a unit stride.
fn cblas_layout(rows: usize, cols: usize, r: isize, c: isize) -> Option<(i32, i64)> {
    const NO_TRANS: i32 = 111;
    const TRANS: i32 = 112;
    if c == 1 && r >= cols.max(1) as isize {
        Some((NO_TRANS, r as i64))
    } else if r == 1 && c >= rows.max(1) as isize {
        Some((TRANS, c as i64))
    } else {
        None
    }
}

/// Run `c = a · b` through the external sgemm when one is registered and the layouts fit.
fn external_sgemm(g: &GemmArgs<f32>) -> bool {
    const ROW_MAJOR: i32 = 101;
    let Some(f) = EXTERNAL_SGEMM.get() else {
        return false;
    };
    // A row-major C is computed directly; a column-major one as Cᵀ = Bᵀ·Aᵀ.
    let (m, n, a, (rsa, csa), b, (rsb, csb), ldc) = if g.csc == 1 {
        (
            g.m,
            g.n,
            g.a.0,
            (g.rsa, g.csa),
            g.b.0,
            (g.rsb, g.csb),
            g.rsc,
        )
    } else if g.rsc == 1 {
        (
            g.n,
            g.m,
            g.b.0,
            (g.csb, g.rsb),
            g.a.0,
            (g.csa, g.rsa),
            g.csc,
        )
    } else {
        return false;
    };
    let (Some((ta, lda)), Some((tb, ldb))) = (
        cblas_layout(m, g.k, rsa, csa),
        cblas_layout(g.k, n, rsb, csb),
    ) else {
        return false;
    };
    // SAFETY: the registered function is a cblas_sgemm (caller's contract); the layouts
    // were checked to describe the live views and the output buffer.
    unsafe {
        f(
            ROW_MAJOR, ta, tb, m as i64, n as i64, g.k as i64, 1.0, a, lda, b, ldb, 0.0, g.c.0,
            ldc as i64,
        );
    }
    true
}

/// Dispatch hook per element type: f32 may go to an external BLAS.
trait External: Sized {
    fn external(_g: &GemmArgs<Self>) -> bool {
        false
    }
}
impl External for f64 {}
impl External for f32 {
    fn external(g: &GemmArgs<f32>) -> bool {
        external_sgemm(g)
    }
}

macro_rules! gemm_float {
    ($t:ty, $mm:ident) => {
        impl Gemm for $t {
            fn gemm(
                a: &ArrayView2<'_, Self>,
                b: &ArrayView2<'_, Self>,
                c: &mut [MaybeUninit<Self>],
                rsc: isize,
                csc: isize,
            ) {
                let (m, k) = a.dim();
                let n = b.dim().1;
                debug_assert!(c.len() >= m * n);
                if m == 0 || n == 0 {
                    return;
                }
                if k == 0 {
                    c.iter_mut().for_each(|x| *x = MaybeUninit::new(0.0));
                    return;
                }
                if k == 1 {
                    // An outer product: one rounded product per element (what the GEMM
                    // computes too), written in the output's memory order.
                    outer(a, b, c, rsc, csc);
                    return;
                }
                let (rsa, csa) = strides2(a);
                let (rsb, csb) = strides2(b);
                match backend() {
                    Backend::Gemm => {
                        let g = GemmArgs {
                            m,
                            n,
                            k,
                            c: SendPtr(c.as_mut_ptr().cast::<Self>()),
                            rsc,
                            csc,
                            a: SendPtr(a.as_ptr() as *mut Self),
                            rsa,
                            csa,
                            b: SendPtr(b.as_ptr() as *mut Self),
                            rsb,
                            csb,
                        };
                        if <Self as External>::external(&g) {
                            return;
                        }
                        // SAFETY: pointers and strides describe live views of m×k and k×n
                        // elements and a buffer of m×n elements at strides (rsc, csc).
                        unsafe { g.run_split(0.0, 1.0) }
                    }
                    // SAFETY: as above.
                    Backend::MatrixMultiply => unsafe {
                        matrixmultiply::$mm(
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
                            c.as_mut_ptr().cast::<Self>(),
                            rsc,
                            csc,
                        );
                    },
                }
            }
        }
    };
}
/// `c[i, j] = a[i, 0] · b[0, j]` (k = 1) at strides `(rsc, csc)`.
fn outer<T: crate::ops::num::Num>(
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    c: &mut [MaybeUninit<T>],
    rsc: isize,
    csc: isize,
) {
    let av: Vec<T> = a.column(0).iter().copied().collect();
    let bv: Vec<T> = b.row(0).iter().copied().collect();
    let (m, n) = (av.len(), bv.len());
    if csc == 1 && rsc >= n as isize {
        for (i, &x) in av.iter().enumerate() {
            let row = &mut c[i * rsc as usize..i * rsc as usize + n];
            for (o, &y) in row.iter_mut().zip(&bv) {
                *o = MaybeUninit::new(x.mul(y));
            }
        }
    } else if rsc == 1 && csc >= m as isize {
        for (j, &y) in bv.iter().enumerate() {
            let col = &mut c[j * csc as usize..j * csc as usize + m];
            for (o, &x) in col.iter_mut().zip(&av) {
                *o = MaybeUninit::new(x.mul(y));
            }
        }
    } else {
        for (i, &x) in av.iter().enumerate() {
            for (j, &y) in bv.iter().enumerate() {
                c[(i as isize * rsc + j as isize * csc) as usize] = MaybeUninit::new(x.mul(y));
            }
        }
    }
}

gemm_float!(f32, sgemm);
gemm_float!(f64, dgemm);

macro_rules! gemm_int {
    ($t:ty) => {
        impl Gemm for $t {
            fn gemm(
                a: &ArrayView2<'_, Self>,
                b: &ArrayView2<'_, Self>,
                c: &mut [MaybeUninit<Self>],
                rsc: isize,
                csc: isize,
            ) {
                let (m, k) = a.dim();
                let n = b.dim().1;
                for i in 0..m {
                    for j in 0..n {
                        let mut s: $t = 0;
                        for p in 0..k {
                            s = s.wrapping_add(a[[i, p]].wrapping_mul(b[[p, j]]));
                        }
                        c[(i as isize * rsc + j as isize * csc) as usize] = MaybeUninit::new(s);
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

/// NumPy `matmul` of two views of the same dtype. `out_t`: write a 2-D result
/// column-major (its transpose is then row-major for the consumers that read it so).
fn matmul_typed<T: Gemm>(
    a: ArrayViewD<'_, T>,
    b: ArrayViewD<'_, T>,
    out_t: bool,
) -> Result<ArrayD<T>> {
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
    let out: Vec<T>;
    if a2.ndim() == 2 && b2.ndim() == 2 {
        let av = a2
            .into_dimensionality::<Ix2>()
            .unwrap_or_else(|_| unreachable!());
        let bv = b2
            .into_dimensionality::<Ix2>()
            .unwrap_or_else(|_| unreachable!());
        if out_t && an == 2 && bn == 2 {
            let out = gemm_output(m * n, |c| T::gemm(&av, &bv, c, 1, m as isize));
            let t = ArrayD::from_shape_vec(IxDyn(&[n, m]), out).unwrap_or_else(|_| unreachable!());
            return Ok(t.reversed_axes());
        }
        out = gemm_output(m * n, |c| T::gemm(&av, &bv, c, n as isize, 1));
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
        out = gemm_output(nb * m * n, |c| {
            for i in 0..nb {
                let av = ac.index_axis(ndarray::Axis(0), i);
                let bv = bc.index_axis(ndarray::Axis(0), i);
                T::gemm(&av, &bv, &mut c[i * m * n..(i + 1) * m * n], n as isize, 1);
            }
        });
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

/// A buffer of `len` elements filled by `fill`, which must write every one of them (GEMMs
/// do): skipping the zero fill saves a full pass over each result.
fn gemm_output<T: Gemm>(len: usize, fill: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut out = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` initialized all `len` elements (the `Gemm` contract).
    unsafe { out.set_len(len) };
    out
}

/// A pass over a finished piece of a product: `(offset in memory order, elements)`.
pub type Epilogue<'e> = dyn Fn(usize, &mut [f32]) + Sync + 'e;

/// Output bytes per piece of [`matmul_f32_then`]: small enough that a piece is still in
/// the core's cache when its epilogue runs.
const PIECE_BYTES: usize = 96 * 1024;

/// `a · b` (2-D float32) laid out row-major, or column-major when `out_t`, computed in
/// contiguous pieces of its memory order spread over the worker threads; `epi` runs on
/// each piece right after its GEMM, while the piece is hot in cache. Values are those of
/// [`matmul_layout`] (each piece is the same GEMM on a block of rows or columns).
pub fn matmul_f32_then(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    out_t: bool,
    epi: &Epilogue<'_>,
) -> Result<ndarray::Array2<f32>> {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    if k != k2 {
        return Err(mat_error(a.shape(), b.shape()));
    }
    // The major dimension of the output's memory order is split into pieces.
    let (major, minor) = if out_t { (n, m) } else { (m, n) };
    let total = m * n;
    // Longer products (large k) get larger pieces: the GEMM on a narrow block loses more
    // than the cache saves. Blocks are whole multiples of 16 rows/columns (kernel tiles).
    let piece_bytes = PIECE_BYTES * (k / 64).max(1);
    let pieces = (total * 4)
        .div_ceil(piece_bytes)
        .max(crate::pool::threads())
        .min(major.max(1));
    let per = major
        .div_ceil(pieces.max(1))
        .next_multiple_of(16)
        .min(major)
        .max(1);
    let parts = major.div_ceil(per);
    let mut out: Vec<f32> = Vec::with_capacity(total);
    let base = SendPtr(out.spare_capacity_mut().as_mut_ptr().cast::<f32>());
    crate::pool::run(parts, &|i| {
        let lo = i * per;
        let hi = (lo + per).min(major);
        let len = (hi - lo) * minor;
        // SAFETY: pieces cover disjoint ranges [lo·minor, hi·minor) of the buffer.
        let piece = unsafe {
            std::slice::from_raw_parts_mut(
                base.get().add(lo * minor).cast::<MaybeUninit<f32>>(),
                len,
            )
        };
        if out_t {
            let bs = b.slice(ndarray::s![.., lo..hi]);
            f32::gemm(&a, &bs, piece, 1, m as isize);
        } else {
            let as_ = a.slice(ndarray::s![lo..hi, ..]);
            f32::gemm(&as_, &b, piece, n as isize, 1);
        }
        // SAFETY: the GEMM wrote every element of the piece.
        let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(lo * minor), len) };
        epi(lo * minor, piece);
    });
    // SAFETY: the pieces initialized all `total` elements.
    unsafe { out.set_len(total) };
    Ok(if out_t {
        ndarray::Array2::from_shape_vec((n, m), out)
            .unwrap_or_else(|_| unreachable!())
            .reversed_axes()
    } else {
        ndarray::Array2::from_shape_vec((m, n), out).unwrap_or_else(|_| unreachable!())
    })
}

/// matmul of two operands under the dialect's dtype rule.
pub fn matmul(a: TensorView<'_>, b: TensorView<'_>, dialect: Dialect) -> Result<Tensor> {
    matmul_layout(a, b, dialect, false)
}

/// [`matmul`], writing a 2-D result column-major when `out_t`.
pub fn matmul_layout(
    a: TensorView<'_>,
    b: TensorView<'_>,
    dialect: Dialect,
    out_t: bool,
) -> Result<Tensor> {
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
    crate::dispatch_num!(dt, T => Ok(T::wrap(matmul_typed::<T>(T::of_view(&a).unwrap_or_else(|| unreachable!()), T::of_view(&b).unwrap_or_else(|| unreachable!()), out_t)?)),
        bool => unreachable!())
}

#[derive(Debug)]
struct MatMul {
    dialect: Dialect,
    /// Result read only through a transpose: write it column-major.
    out_t: bool,
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
        let a = if self.transpose_a { swap_last(a) } else { a };
        let b = if self.transpose_b { swap_last(b) } else { b };
        matmul_layout(a, b, self.dialect, self.out_t)
    }

    fn prefer_transposed_output(&mut self) -> bool {
        self.out_t = true;
        true
    }

    fn algebra(&self) -> crate::ops::fused::Algebra {
        crate::ops::fused::Algebra::MatMul {
            transpose_a: self.transpose_a,
            transpose_b: self.transpose_b,
        }
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
            out_t: false,
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
