//! Op registry (name → builder) of both dialects, the load-time call binder that matches
//! an action's arguments to an op signature, and the run-time operand type of kernels.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::error::Result;
use crate::tensor::{DType, Element, Priority, Scalar, Tensor, TensorView};

pub mod cast;
pub mod compare;
pub mod elementwise;
pub mod fused;
pub mod linalg;
pub mod nn;
pub mod num;
pub mod reduce;
pub mod shape;

/// The two plan dialects (plans.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Torch,
    Tfjs,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Torch => "torch",
            Dialect::Tfjs => "tfjs",
        }
    }

    /// dtype of integer results (argmax, sum of bool): int64 in torch, int32 in tfjs.
    pub fn index_dtype(self) -> DType {
        match self {
            Dialect::Torch => DType::I64,
            Dialect::Tfjs => DType::I32,
        }
    }
}

/// A view transform applied when a value is read (transposes folded into their consumers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewStep {
    /// torch `t()`: 2-D transpose, 0-D/1-D unchanged, more dims → `ShapeError`. Carries
    /// the index of the folded action for the error message.
    TorchT { action: usize },
    /// Reverse all axes (tfjs `transpose(x)` without `perm`).
    Reverse,
}

impl ViewStep {
    /// Apply the step to a view (free: only strides change).
    pub fn apply<'a>(self, v: TensorView<'a>) -> Result<TensorView<'a>> {
        match self {
            ViewStep::TorchT { .. } => linalg::torch_t_view(v),
            ViewStep::Reverse => Ok(v.reversed_axes()),
        }
    }

    /// Apply the step to an owned value (free as well).
    pub fn apply_owned(self, t: Tensor) -> Result<Tensor> {
        match self {
            ViewStep::TorchT { .. } => {
                linalg::check_t(t.ndim())?;
                Ok(crate::map_tensor!(t, a => a.reversed_axes()))
            }
            ViewStep::Reverse => Ok(crate::map_tensor!(t, a => a.reversed_axes())),
        }
    }
}

/// Where a tensor operand comes from at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Src {
    /// A slot of the run state, read through zero or more view steps.
    Slot { slot: usize, view: Vec<ViewStep> },
    /// A constant of the plan (`arg_tensor`, tfjs number literals).
    Const(usize),
    /// A torch number literal (weak scalar).
    Lit(Scalar),
}

/// A load-time argument: a reference to a value or a literal of the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgSrc {
    Value(Src),
    Int(i64),
    Float(f32),
    Bool(bool),
    Str(String),
    List(Vec<ArgSrc>),
}

impl ArgSrc {
    /// Wire name of the argument kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ArgSrc::Value(_) => "tensor",
            ArgSrc::Int(_) => "arg_int",
            ArgSrc::Float(_) => "arg_float",
            ArgSrc::Bool(_) => "arg_bool",
            ArgSrc::Str(_) => "arg_str",
            ArgSrc::List(_) => "arg_list",
        }
    }
}

/// A kernel input at run time.
#[derive(Debug)]
pub enum Operand<'a> {
    /// A value whose last use is this action: its buffer may be reused for the result.
    Own(Tensor),
    /// A borrowed value (input, state, constant, or a slot still used later).
    View(TensorView<'a>),
    /// A torch number literal.
    Lit(Scalar),
}

impl<'a> Operand<'a> {
    /// dtype and promotion priority (plans.md §6.2).
    pub fn promo(&self) -> (DType, Priority) {
        let pri = |nd: usize| {
            if nd == 0 {
                Priority::ZeroDim
            } else {
                Priority::Dimensioned
            }
        };
        match self {
            Operand::Own(t) => (t.dtype(), pri(t.ndim())),
            Operand::View(v) => (v.dtype(), pri(v.ndim())),
            Operand::Lit(s) => (s.default_dtype(), Priority::Literal),
        }
    }

    pub fn dtype(&self) -> DType {
        self.promo().0
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Operand::Own(t) => t.shape(),
            Operand::View(v) => v.shape(),
            Operand::Lit(_) => &[],
        }
    }

    /// Convert into an owned tensor-or-view of `dtype` (literals become 0-d tensors).
    pub fn into_dtype(self, dtype: DType) -> Operand<'a> {
        match self {
            Operand::Own(t) => Operand::Own(t.into_dtype(dtype)),
            Operand::View(v) if v.dtype() == dtype => Operand::View(v),
            Operand::View(v) => Operand::Own(v.cast(dtype)),
            Operand::Lit(s) => Operand::Own(s.to_tensor(dtype)),
        }
    }

    /// The typed array of an operand already converted to `T`'s dtype.
    pub fn typed<T: Element>(self) -> Arr<'a, T> {
        match self.into_dtype(T::DTYPE) {
            Operand::Own(t) => Arr::Own(T::unwrap(t).unwrap_or_else(|_| unreachable!())),
            Operand::View(v) => Arr::View(T::of_view(&v).unwrap_or_else(|| unreachable!())),
            Operand::Lit(_) => unreachable!(),
        }
    }

    /// An owned tensor (copies a view).
    pub fn into_tensor(self) -> Tensor {
        match self {
            Operand::Own(t) => t,
            Operand::View(v) => v.to_tensor(),
            Operand::Lit(s) => s.to_tensor(s.default_dtype()),
        }
    }

    /// A view of the operand's value (`None` for literals).
    pub fn as_view(&self) -> Option<TensorView<'_>> {
        match self {
            Operand::Own(t) => Some(t.view()),
            Operand::View(v) => Some(v.reborrow()),
            Operand::Lit(_) => None,
        }
    }
}

/// A typed kernel input: owned (reusable) or borrowed.
pub enum Arr<'a, T> {
    Own(ndarray::ArrayD<T>),
    View(ndarray::ArrayViewD<'a, T>),
}

impl<T> Arr<'_, T> {
    pub fn view(&self) -> ndarray::ArrayViewD<'_, T> {
        match self {
            Arr::Own(a) => a.view(),
            Arr::View(v) => v.view(),
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Arr::Own(a) => a.shape(),
            Arr::View(v) => v.shape(),
        }
    }
}

/// A kernel with its literal parameters bound at load time.
pub trait Kernel: Send + Sync + std::fmt::Debug {
    /// Evaluate on the operands the builder declared, in declaration order. Errors carry
    /// the detail only; the interpreter adds the command and action index.
    fn eval(&self, args: Vec<Operand<'_>>) -> Result<Tensor>;

    /// Asked at load time when every consumer reads the result transposed: a kernel that
    /// can lay its result out column-major (so the transposed read is row-major) does so
    /// and returns true. Values are unchanged; only the memory layout differs.
    fn prefer_transposed_output(&mut self) -> bool {
        false
    }

    /// What the load-time rewrites may know about this kernel.
    fn algebra(&self) -> fused::Algebra {
        fused::Algebra::Opaque
    }

    /// The kernel as a [`fused::MatMulSum`] (only for kernels whose algebra is
    /// `ProductSum`; others are dropped and give `None`).
    fn into_product_sum(self: Box<Self>) -> Option<fused::MatMulSum> {
        None
    }
}

/// What the optimizer may know about a built op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Plain,
    /// A pure re-striding of operand 0 that may be folded into its consumers.
    View(ViewStep),
}

/// An action being bound to an op at load time.
pub struct Call<'p> {
    pub dialect: Dialect,
    /// The command as written (`add`, `torch.argmax`, `tf.layers.reshape`).
    pub command: &'p str,
    /// Positional arguments; in torch `self` (the target or argument 0) comes first.
    pub args: Vec<ArgSrc>,
    /// Keyword arguments in wire order (already appended to `args` in tfjs).
    pub kwargs: Vec<(String, ArgSrc)>,
    /// Operands declared by the builder, in the order the kernel receives them.
    pub operands: Vec<Src>,
    /// Plan constants; tfjs number literals are added here.
    pub consts: &'p mut Vec<Tensor>,
    /// Set by in-place builders: the target id is rebound to the result.
    pub in_place: bool,
    pub tag: Tag,
    /// Index of the action, for constants' provenance.
    pub index: usize,
}

/// Arguments bound to the names of a signature.
pub struct Bound {
    names: Vec<&'static str>,
    vals: Vec<Option<ArgSrc>>,
}

impl Bound {
    fn pos(&self, name: &str) -> usize {
        let name = name.trim_start_matches('*').trim_end_matches('?');
        self.names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("signature has no parameter {name}"))
    }

    /// The argument bound to `name`, if given.
    pub fn get(&self, name: &str) -> Option<&ArgSrc> {
        self.vals[self.pos(name)].as_ref()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Result of building an op: the kernel, or a validation detail.
pub type BuildResult = std::result::Result<Box<dyn Kernel>, String>;

/// Builds a kernel from an action.
pub type Builder = std::sync::Arc<dyn Fn(&mut Call<'_>) -> BuildResult + Send + Sync>;

impl<'p> Call<'p> {
    /// Bind arguments to a signature. Parameter syntax: `name` required, `name?`
    /// optional, `*name` varargs (collects the remaining positionals into a list).
    pub fn bind(&self, sig: &[&'static str]) -> std::result::Result<Bound, String> {
        let mut names = Vec::with_capacity(sig.len());
        let mut required = Vec::with_capacity(sig.len());
        let mut varargs = None;
        for (i, s) in sig.iter().enumerate() {
            if let Some(n) = s.strip_prefix('*') {
                names.push(n);
                required.push(false);
                varargs = Some(i);
            } else if let Some(n) = s.strip_suffix('?') {
                names.push(n);
                required.push(false);
            } else {
                names.push(*s);
                required.push(true);
            }
        }
        let mut vals: Vec<Option<ArgSrc>> = vec![None; names.len()];
        let mut positional = self.args.clone();
        if self.dialect == Dialect::Tfjs {
            positional.extend(self.kwargs.iter().map(|(_, v)| v.clone()));
        }
        let shown = |n: usize| n.saturating_sub(usize::from(self.dialect == Dialect::Torch));
        let mut it = positional.into_iter();
        for (i, val) in vals.iter_mut().enumerate() {
            if Some(i) == varargs {
                let rest: Vec<ArgSrc> = it.by_ref().collect();
                if !rest.is_empty() {
                    *val = Some(ArgSrc::List(rest));
                }
                break;
            }
            match it.next() {
                Some(v) => *val = Some(v),
                None => break,
            }
        }
        let extra = it.count();
        if extra > 0 {
            return Err(format!(
                "takes at most {} positional arguments, got {}",
                shown(names.len()),
                shown(names.len() + extra)
            ));
        }
        if self.dialect == Dialect::Torch {
            for (k, v) in &self.kwargs {
                let Some(i) = names.iter().position(|n| n == k).filter(|i| *i != 0) else {
                    return Err(format!("unexpected keyword argument '{k}'"));
                };
                if vals[i].is_some() {
                    return Err(format!("got multiple values for argument '{k}'"));
                }
                vals[i] = Some(v.clone());
            }
        }
        for (i, req) in required.iter().enumerate() {
            if *req && vals[i].is_none() {
                return Err(format!("missing required argument '{}'", names[i]));
            }
        }
        Ok(Bound { names, vals })
    }

    /// Declare a tensor operand (a reference, a constant, or a number literal).
    pub fn operand(&mut self, b: &Bound, name: &str) -> std::result::Result<(), String> {
        let arg = b
            .get(name)
            .ok_or_else(|| format!("missing required argument '{name}'"))?;
        let src = self.tensor_src(arg, name)?;
        self.operands.push(src);
        Ok(())
    }

    /// Declare a tensor operand from an argument value.
    pub fn tensor_src(&mut self, arg: &ArgSrc, name: &str) -> std::result::Result<Src, String> {
        let lit = match arg {
            ArgSrc::Value(s) => return Ok(s.clone()),
            ArgSrc::Int(i) => Scalar::Int(*i),
            ArgSrc::Float(f) => Scalar::Float(f64::from(*f)),
            ArgSrc::Bool(b) => Scalar::Bool(*b),
            other => {
                return Err(format!(
                    "argument '{name}' must be a tensor or a number, got {}",
                    other.kind()
                ))
            }
        };
        Ok(match self.dialect {
            Dialect::Torch => Src::Lit(lit),
            Dialect::Tfjs => {
                // A JS number is a float32 scalar tensor; a JS bool a bool one.
                let dt = if matches!(lit, Scalar::Bool(_)) {
                    DType::Bool
                } else {
                    DType::F32
                };
                self.consts.push(lit.to_tensor(dt));
                Src::Const(self.consts.len() - 1)
            }
        })
    }

    /// Declare every element of a list argument as an operand (`torch.cat([a, b])`).
    pub fn operand_list(&mut self, b: &Bound, name: &str) -> std::result::Result<usize, String> {
        let items = match b.get(name) {
            Some(ArgSrc::List(items)) => items.clone(),
            Some(other) => {
                return Err(format!(
                    "argument '{name}' must be a list of tensors, got {}",
                    other.kind()
                ))
            }
            None => return Err(format!("missing required argument '{name}'")),
        };
        if items.is_empty() {
            return Err(format!(
                "argument '{name}' must be a non-empty list of tensors"
            ));
        }
        for it in &items {
            let s = self.tensor_src(it, name)?;
            self.operands.push(s);
        }
        Ok(items.len())
    }

    /// True when the argument is a reference to a value (not a literal).
    pub fn is_value(b: &Bound, name: &str) -> bool {
        matches!(b.get(name), Some(ArgSrc::Value(_)))
    }
}

/// Literal parameter accessors (validation errors name the argument and its kind).
pub fn lit_int(b: &Bound, name: &str) -> std::result::Result<Option<i64>, String> {
    match b.get(name) {
        None => Ok(None),
        Some(ArgSrc::Int(i)) => Ok(Some(*i)),
        Some(ArgSrc::List(l)) if l.len() == 1 && matches!(l[0], ArgSrc::Int(_)) => match l[0] {
            ArgSrc::Int(i) => Ok(Some(i)),
            _ => unreachable!(),
        },
        Some(other) => Err(format!(
            "argument '{name}' must be an int, got {}",
            other.kind()
        )),
    }
}

pub fn lit_bool(b: &Bound, name: &str) -> std::result::Result<Option<bool>, String> {
    match b.get(name) {
        None => Ok(None),
        Some(ArgSrc::Bool(v)) => Ok(Some(*v)),
        Some(other) => Err(format!(
            "argument '{name}' must be a bool, got {}",
            other.kind()
        )),
    }
}

pub fn lit_str(b: &Bound, name: &str) -> std::result::Result<Option<String>, String> {
    match b.get(name) {
        None => Ok(None),
        Some(ArgSrc::Str(v)) => Ok(Some(v.clone())),
        Some(other) => Err(format!(
            "argument '{name}' must be a string, got {}",
            other.kind()
        )),
    }
}

/// An int or a list of ints (`dim`, `axis`, `perm`, shapes).
pub fn lit_ints(b: &Bound, name: &str) -> std::result::Result<Option<Vec<i64>>, String> {
    match b.get(name) {
        None => Ok(None),
        Some(ArgSrc::Int(i)) => Ok(Some(vec![*i])),
        Some(ArgSrc::List(l)) => l
            .iter()
            .map(|a| match a {
                ArgSrc::Int(i) => Ok(*i),
                ArgSrc::List(inner) if inner.len() == 1 => match inner[0] {
                    ArgSrc::Int(i) => Ok(i),
                    _ => Err(format!(
                        "argument '{name}' must be an int or a list of ints"
                    )),
                },
                other => Err(format!(
                    "argument '{name}' must be an int or a list of ints, got a list holding {}",
                    other.kind()
                )),
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(format!(
            "argument '{name}' must be an int or a list of ints, got {}",
            other.kind()
        )),
    }
}

/// A number literal (`alpha`, clamp bounds given as numbers).
pub fn lit_number(b: &Bound, name: &str) -> std::result::Result<Option<Scalar>, String> {
    match b.get(name) {
        None => Ok(None),
        Some(ArgSrc::Int(i)) => Ok(Some(Scalar::Int(*i))),
        Some(ArgSrc::Float(f)) => Ok(Some(Scalar::Float(f64::from(*f)))),
        Some(ArgSrc::Bool(v)) => Ok(Some(Scalar::Bool(*v))),
        Some(other) => Err(format!(
            "argument '{name}' must be a number, got {}",
            other.kind()
        )),
    }
}

/// Name → builder tables of both dialects.
#[derive(Default)]
pub struct Registry {
    torch: HashMap<&'static str, Builder>,
    tfjs: HashMap<&'static str, Builder>,
}

impl Registry {
    /// The process-wide registry, filled once.
    pub fn global() -> &'static Registry {
        static REG: OnceLock<Registry> = OnceLock::new();
        REG.get_or_init(|| {
            let mut r = Registry::default();
            register_all(&mut r);
            r
        })
    }

    /// Register torch names (exact command strings) for one builder.
    pub fn torch<F>(&mut self, names: &[&'static str], b: F)
    where
        F: Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static,
    {
        let b: Builder = std::sync::Arc::new(b);
        for n in names {
            let prev = self.torch.insert(n, b.clone());
            debug_assert!(prev.is_none(), "torch op {n} registered twice");
        }
    }

    /// Register tfjs op names (the last dotted component of the command).
    pub fn tfjs<F>(&mut self, names: &[&'static str], b: F)
    where
        F: Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static,
    {
        let b: Builder = std::sync::Arc::new(b);
        for n in names {
            let prev = self.tfjs.insert(n, b.clone());
            debug_assert!(prev.is_none(), "tfjs op {n} registered twice");
        }
    }

    /// Resolve a command in a dialect.
    pub fn lookup(&self, dialect: Dialect, command: &str) -> Option<Builder> {
        match dialect {
            Dialect::Torch => self.torch.get(command).cloned(),
            Dialect::Tfjs => {
                let last = command.rsplit('.').next().unwrap_or(command);
                self.tfjs.get(last).cloned()
            }
        }
    }

    /// Every registered name of a dialect (sorted), for documentation and tests.
    pub fn names(&self, dialect: Dialect) -> Vec<&'static str> {
        let mut v: Vec<_> = match dialect {
            Dialect::Torch => self.torch.keys().copied().collect(),
            Dialect::Tfjs => self.tfjs.keys().copied().collect(),
        };
        v.sort_unstable();
        v
    }
}

/// Fill a registry with every op family.
pub fn register_all(r: &mut Registry) {
    elementwise::register(r);
    compare::register(r);
    reduce::register(r);
    linalg::register(r);
    shape::register(r);
    nn::register(r);
    cast::register(r);
}

/// The torch in-place form (`add_`, `__iadd__`) of a builder: same math, the result is
/// cast back to the target's dtype and must keep the target's shape (plans.md §6.2).
pub fn in_place<F>(b: F) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static
where
    F: Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static,
{
    move |c| {
        let k = b(c)?;
        c.in_place = true;
        Ok(Box::new(InPlace(k)))
    }
}

#[derive(Debug)]
struct InPlace(Box<dyn Kernel>);

impl Kernel for InPlace {
    fn eval(&self, args: Vec<Operand<'_>>) -> Result<Tensor> {
        let target_dtype = args[0].dtype();
        let target_shape = args[0].shape().to_vec();
        let r = self.0.eval(args)?;
        if r.shape() != target_shape.as_slice() {
            return Err(crate::Error::Shape(format!(
                "output with shape [{}] doesn't match the broadcast shape [{}]",
                crate::tensor::shape_str(&target_shape),
                r.shape_str()
            )));
        }
        if r.dtype().category() > target_dtype.category() {
            return Err(crate::Error::DType(format!(
                "result type {} can't be cast to the desired output type {}",
                r.dtype(),
                target_dtype
            )));
        }
        Ok(r.into_dtype(target_dtype))
    }

    fn algebra(&self) -> fused::Algebra {
        // The fused kernels' fast paths keep the target's shape and dtype.
        self.0.algebra()
    }
}

/// Dispatch a generic expression over the numeric dtypes, binding `$t` to the element type.
/// Bool must be handled by the caller before.
#[macro_export]
macro_rules! dispatch_num {
    ($dt:expr, $t:ident => $body:expr, bool => $b:expr) => {
        match $dt {
            $crate::tensor::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::tensor::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::tensor::DType::I64 => {
                type $t = i64;
                $body
            }
            $crate::tensor::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::tensor::DType::F64 => {
                type $t = f64;
                $body
            }
            $crate::tensor::DType::Bool => $b,
        }
    };
}
