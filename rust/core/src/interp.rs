//! Per-run interpreter state: the slot vector and the run loop over a loaded Plan.

use crate::error::{Error, Result};
use crate::ops::{Dialect, Operand, Src};
use crate::plan::{Program, Step};
use crate::tensor::{Tensor, TensorView};

/// A value bound to an input: borrowed caller memory or an owned tensor.
#[derive(Debug)]
pub enum Input<'a> {
    View(TensorView<'a>),
    Own(Tensor),
}

impl From<Tensor> for Input<'_> {
    fn from(t: Tensor) -> Self {
        Input::Own(t)
    }
}

/// Add the command and action index to a kernel error.
fn context(e: Error, step: &Step) -> Error {
    with_context(e, step.index, &step.command)
}

/// Add a command and its action index to a kernel error (fused kernels name the action
/// each error comes from themselves).
pub(crate) fn with_context(e: Error, index: usize, command: &str) -> Error {
    let wrap = |m: String| {
        if m.starts_with("Operands could not be broadcast") {
            format!("{m} (action #{index} '{command}')")
        } else {
            format!("{command}: {m} (action #{index})")
        }
    };
    match e {
        Error::Shape(m) => Error::Shape(wrap(m)),
        Error::DType(m) => Error::DType(wrap(m)),
        Error::Execution(m) => Error::Execution(wrap(m)),
        other => other,
    }
}

fn internal(step: &Step) -> Error {
    Error::Execution(format!(
        "{}: internal error: operand not bound (action #{})",
        step.command, step.index
    ))
}

/// Per-action timing on stderr when `SYFT_RS_PROFILE` is set (diagnostics only).
fn profiling() -> bool {
    static P: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *P.get_or_init(|| std::env::var_os("SYFT_RS_PROFILE").is_some())
}

/// Execute a program. Slots hold owned results or borrowed inputs/state; a value is
/// dropped (or handed to its last consumer) right after its last use.
pub(crate) fn run<'a>(
    prog: &'a Program,
    dialect: Dialect,
    inputs: Vec<Input<'a>>,
) -> Result<Vec<Tensor>> {
    let mut own: Vec<Option<Tensor>> = (0..prog.n_slots).map(|_| None).collect();
    let mut views: Vec<Option<TensorView<'a>>> = (0..prog.n_slots).map(|_| None).collect();
    for (&slot, inp) in prog.input_slots.iter().zip(inputs) {
        match (inp, dialect) {
            (Input::View(v), Dialect::Tfjs)
                if crate::tensor::tfjs_entry_dtype(v.dtype()) != v.dtype() =>
            {
                own[slot] = Some(v.to_tensor().to_tfjs()?)
            }
            (Input::View(v), _) => views[slot] = Some(v),
            (Input::Own(t), Dialect::Tfjs) => own[slot] = Some(t.to_tfjs()?),
            (Input::Own(t), Dialect::Torch) => own[slot] = Some(t),
        }
    }
    for (slot, t) in &prog.state {
        views[*slot] = Some(t.view());
    }
    let profile = profiling();
    let mut taken: Vec<Option<Tensor>> = Vec::new();
    let mut taken_views: Vec<Option<TensorView<'a>>> = Vec::new();
    for step in &prog.steps {
        taken.clear();
        taken_views.clear();
        for (src, &consume) in step.operands.iter().zip(&step.consume) {
            let (mut t, mut v) = (None, None);
            if consume {
                if let Src::Slot { slot, .. } = src {
                    t = own[*slot].take();
                    v = views[*slot].take();
                }
            }
            taken.push(t);
            taken_views.push(v);
        }
        let mut args: Vec<Operand<'_>> = Vec::with_capacity(step.operands.len());
        for (k, src) in step.operands.iter().enumerate() {
            let op = match src {
                Src::Lit(s) => Operand::Lit(*s),
                Src::Const(i) => Operand::View(prog.consts[*i].view()),
                Src::Slot { slot, view } => {
                    if let Some(mut t) = taken[k].take() {
                        for vs in view {
                            t = vs.apply_owned(t).map_err(|e| context(e, step))?;
                        }
                        Operand::Own(t)
                    } else {
                        let mut v = match (&taken_views[k], &own[*slot], &views[*slot]) {
                            (Some(v), _, _) => v.reborrow(),
                            (None, Some(t), _) => t.view(),
                            (None, None, Some(v)) => v.reborrow(),
                            _ => return Err(internal(step)),
                        };
                        for vs in view {
                            v = vs.apply(v).map_err(|e| context(e, step))?;
                        }
                        Operand::View(v)
                    }
                }
            };
            args.push(op);
        }
        let t0 = profile.then(std::time::Instant::now);
        let r = match step.kernel.eval(args) {
            Ok(r) => r,
            Err(e) if step.own_context => return Err(e),
            Err(e) => return Err(context(e, step)),
        };
        if let Some(t0) = t0 {
            eprintln!(
                "syft_rs profile: action #{:>3} {:<24} {:>9.1} us -> [{}] consume {:?}",
                step.index,
                step.command,
                t0.elapsed().as_secs_f64() * 1e6,
                r.shape_str(),
                step.consume
            );
        }
        for &s in &step.free {
            own[s] = None;
            views[s] = None;
        }
        if let Some(o) = step.out {
            views[o] = None;
            own[o] = Some(r);
        }
    }
    let mut out = Vec::with_capacity(prog.outputs.len());
    for (j, &slot) in prog.outputs.iter().enumerate() {
        let last = !prog.outputs[j + 1..].contains(&slot);
        let t = match (&mut own[slot], &views[slot]) {
            (o @ Some(_), _) if last => o.take().unwrap_or_else(|| unreachable!()),
            (Some(t), _) => t.clone(),
            (None, Some(v)) => v.to_tensor(),
            (None, None) => {
                return Err(Error::Execution(format!(
                    "output #{j} is not bound (internal error)"
                )))
            }
        };
        out.push(t.into_standard_layout());
    }
    Ok(out)
}
