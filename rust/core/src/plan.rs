//! Loaded Plan: role and dialect selection, validation (all unsupported ops in one error,
//! signatures, state, dataflow), ids → dense SSA slots, free-after-last-use lists.
//! Immutable after load and shared freely between threads.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::interp::{self, Input};
use crate::ops::{ArgSrc, Call, Dialect, Kernel, Registry, Src, Tag};
use crate::proto::{self, arg::Arg as A, computation_action::Target, state_tensor, Id};
use crate::tensor::Tensor;

mod optimize;

/// One executable step: a bound kernel, where its operands come from, where its result goes.
#[derive(Debug)]
pub(crate) struct Step {
    /// Index of the action in the role (for error messages).
    pub index: usize,
    pub command: String,
    pub kernel: Box<dyn Kernel>,
    pub tag: Tag,
    pub operands: Vec<Src>,
    /// Per operand: its slot dies here and appears once, so the kernel may take it.
    pub consume: Vec<bool>,
    /// Result slot (`None`: evaluated and dropped).
    pub out: Option<usize>,
    /// Slots whose last use is this step.
    pub free: Vec<usize>,
    /// The kernel names the actions in its errors itself (fused steps).
    pub own_context: bool,
}

/// The executable form of a role.
#[derive(Debug)]
pub(crate) struct Program {
    pub n_slots: usize,
    pub input_slots: Vec<usize>,
    pub state: Vec<(usize, Tensor)>,
    pub consts: Vec<Tensor>,
    pub steps: Vec<Step>,
    pub outputs: Vec<usize>,
}

/// A loaded, validated, immutable PySyft Plan.
#[derive(Debug)]
pub struct Plan {
    msg: proto::Plan,
    name: String,
    dialect: Dialect,
    commands: Vec<String>,
    pub(crate) prog: Program,
}

/// Options of [`Plan::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Fold transposes, eliminate common subexpressions and dead actions, fuse
    /// elementwise updates into one pass (results bit-identical).
    pub optimize: bool,
    /// With `optimize`: evaluate `A·B + A·C` as `A·(B + C)` (`ops::fused::MatMulSum`),
    /// which re-associates floating-point sums.
    pub reassociate: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            optimize: true,
            reassociate: true,
        }
    }
}

impl Plan {
    /// Decode and validate a `Plan` message (plans.md §4). `framework` = `None` runs
    /// `Plan.role` in the dialect of `base_framework`; `"torch"`/`"tfjs"` run that entry
    /// of `Plan.roles`.
    pub fn from_bytes(data: &[u8], framework: Option<&str>) -> Result<Plan> {
        Plan::from_bytes_with(data, framework, LoadOptions::default())
    }

    /// [`Plan::from_bytes`] with explicit load options.
    pub fn from_bytes_with(
        data: &[u8],
        framework: Option<&str>,
        opts: LoadOptions,
    ) -> Result<Plan> {
        Plan::load(proto::decode::<proto::Plan>(data)?, framework, opts)
    }

    /// Validate a decoded Plan message.
    pub fn load(msg: proto::Plan, framework: Option<&str>, opts: LoadOptions) -> Result<Plan> {
        let name = msg.name.clone();
        let (role, dialect) = select_role(&msg, framework)?;
        let commands = role.actions.iter().map(|a| a.command.clone()).collect();
        let mut prog = build(&name, role, dialect)?;
        if opts.optimize {
            optimize::optimize(&mut prog);
            optimize::fuse(&mut prog, dialect, opts.reassociate);
            optimize::layouts(&mut prog);
        }
        optimize::lifetimes(&mut prog);
        Ok(Plan {
            msg,
            name,
            dialect,
            commands,
            prog,
        })
    }

    /// The Plan message re-encoded with the project's rules.
    pub fn to_bytes(&self) -> Vec<u8> {
        proto::encode(&self.msg)
    }

    /// The decoded message.
    pub fn message(&self) -> &proto::Plan {
        &self.msg
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn num_inputs(&self) -> usize {
        self.prog.input_slots.len()
    }

    pub fn num_outputs(&self) -> usize {
        self.prog.outputs.len()
    }

    /// Commands of the executed role, in action order.
    pub fn commands(&self) -> &[String] {
        &self.commands
    }

    /// Number of steps left after optimization (diagnostics and benches).
    pub fn num_steps(&self) -> usize {
        self.prog.steps.len()
    }

    /// Run the plan on `inputs` (bound positionally to the input placeholders).
    pub fn execute<'a>(&'a self, inputs: Vec<Input<'a>>) -> Result<Vec<Tensor>> {
        if inputs.len() != self.num_inputs() {
            return Err(Error::NotEnoughArgs {
                plan: self.name.clone(),
                expected: self.num_inputs(),
                got: inputs.len(),
            });
        }
        interp::run(&self.prog, self.dialect, inputs)
    }
}

fn select_role<'m>(
    msg: &'m proto::Plan,
    framework: Option<&str>,
) -> Result<(&'m proto::Role, Dialect)> {
    let dialect_of = |fw: &str| -> Result<Dialect> {
        match fw {
            "torch" | "" => Ok(Dialect::Torch),
            "tfjs" => Ok(Dialect::Tfjs),
            other => Err(Error::UnsupportedOps(format!(
                "Plan '{}' uses unsupported framework '{other}' (supported: torch, tfjs)",
                msg.name
            ))),
        }
    };
    match framework {
        Some(fw) => {
            if fw != "torch" && fw != "tfjs" {
                return Err(Error::InvalidArgument(format!(
                    "framework must be 'torch' or 'tfjs', got '{fw}'"
                )));
            }
            let role = msg.roles.get(fw).ok_or_else(|| {
                Error::decode("Plan", format!("Plan '{}' has no '{fw}' role", msg.name))
            })?;
            Ok((role, dialect_of(fw)?))
        }
        None => {
            let dialect = dialect_of(&msg.base_framework)?;
            match &msg.role {
                Some(r)
                    if !(r.actions.is_empty()
                        && r.output_placeholder_ids.is_empty()
                        && r.input_placeholder_ids.is_empty()) =>
                {
                    Ok((r, dialect))
                }
                other => {
                    let key = if msg.base_framework.is_empty() {
                        "torch"
                    } else {
                        msg.base_framework.as_str()
                    };
                    match msg.roles.get(key).or(other.as_ref()) {
                        Some(r) => Ok((r, dialect)),
                        None => Err(Error::decode(
                            "Plan",
                            format!("Plan '{}' has no role", msg.name),
                        )),
                    }
                }
            }
        }
    }
}

/// Collect every unsupported command and argument kind of a role (plans.md §4 step 2).
fn check_supported(name: &str, role: &proto::Role, dialect: Dialect) -> Result<()> {
    let reg = Registry::global();
    let mut unknown: Vec<&str> = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    fn has_pointer(a: &proto::Arg) -> bool {
        match &a.arg {
            Some(A::ArgPointerTensor(_)) => true,
            Some(A::ArgList(l)) => l.args.iter().any(has_pointer),
            _ => false,
        }
    }
    for (k, act) in role.actions.iter().enumerate() {
        let cmd = act.command.as_str();
        if reg.lookup(dialect, cmd).is_none() {
            if !unknown.contains(&cmd) {
                unknown.push(cmd);
            }
        } else if dialect == Dialect::Torch && act.target.is_none() && !cmd.starts_with("torch.") {
            kinds.push(format!(
                "method call without a target (action #{k} '{cmd}')"
            ));
        }
        if let Some(Target::TargetPointer(_)) = act.target {
            kinds.push(format!("target_pointer (action #{k} '{cmd}')"));
        }
        let pointer_arg = act.args.iter().any(has_pointer)
            || act
                .kwargs
                .iter()
                .any(|kw| kw.value.as_ref().is_some_and(has_pointer));
        if pointer_arg {
            kinds.push(format!("arg_pointer_tensor (action #{k} '{cmd}')"));
        }
    }
    if unknown.is_empty() && kinds.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!("unsupported operations: {}", unknown.join(", ")));
    }
    if !kinds.is_empty() {
        parts.push(format!("unsupported argument kinds: {}", kinds.join(", ")));
    }
    Err(Error::UnsupportedOps(format!(
        "Plan '{name}' ({} dialect) uses {}",
        dialect.name(),
        parts.join("; ")
    )))
}

/// Lowering state: id → current slot.
struct Env {
    ids: HashMap<String, usize>,
    n_slots: usize,
    /// First reference to an undefined id: (id, action index, command).
    missing: Option<String>,
}

impl Env {
    fn fresh(&mut self) -> usize {
        self.n_slots += 1;
        self.n_slots - 1
    }

    fn lookup(&mut self, id: &Id, index: usize, command: &str) -> Src {
        match self.ids.get(&id.key()) {
            Some(s) => Src::Slot {
                slot: *s,
                view: Vec::new(),
            },
            None => {
                if self.missing.is_none() {
                    self.missing = Some(format!(
                        "Missing variable {} in action #{index} '{command}'",
                        id.key()
                    ));
                }
                Src::Slot {
                    slot: usize::MAX,
                    view: Vec::new(),
                }
            }
        }
    }
}

fn tensor_const(t: &proto::TorchTensor, dialect: Dialect, consts: &mut Vec<Tensor>) -> Result<Src> {
    let mut v = proto::tensor_from_proto(t, "Plan")?;
    if dialect == Dialect::Tfjs {
        v = v.to_tfjs()?;
    }
    consts.push(v);
    Ok(Src::Const(consts.len() - 1))
}

fn lower_arg(
    a: &proto::Arg,
    env: &mut Env,
    dialect: Dialect,
    consts: &mut Vec<Tensor>,
    index: usize,
    command: &str,
) -> Result<ArgSrc> {
    let invalid = |d: &str| Error::Validation {
        index,
        command: command.to_string(),
        detail: d.to_string(),
    };
    Ok(match &a.arg {
        None => return Err(invalid("argument without a value")),
        Some(A::ArgBool(b)) => ArgSrc::Bool(*b),
        Some(A::ArgInt(i)) => ArgSrc::Int(*i),
        Some(A::ArgFloat(f)) => ArgSrc::Float(*f),
        Some(A::ArgStr(s)) => ArgSrc::Str(s.clone()),
        Some(A::ArgShape(s)) => {
            ArgSrc::List(s.dims.iter().map(|d| ArgSrc::Int(i64::from(*d))).collect())
        }
        Some(A::ArgTensor(t)) => ArgSrc::Value(tensor_const(t, dialect, consts)?),
        Some(A::ArgTorchParam(p)) => match &p.tensor {
            Some(t) => ArgSrc::Value(tensor_const(t, dialect, consts)?),
            None => return Err(invalid("arg_torch_param without a tensor")),
        },
        Some(A::ArgPointerTensor(_)) => unreachable!("rejected by check_supported"),
        Some(A::ArgPlaceholder(p)) => match &p.id {
            Some(id) => ArgSrc::Value(env.lookup(id, index, command)),
            None => return Err(invalid("arg_placeholder without an id")),
        },
        Some(A::ArgPlaceholderId(p)) => match &p.id {
            Some(id) => ArgSrc::Value(env.lookup(id, index, command)),
            None => return Err(invalid("arg_placeholder_id without an id")),
        },
        Some(A::ArgList(l)) => ArgSrc::List(
            l.args
                .iter()
                .map(|x| lower_arg(x, env, dialect, consts, index, command))
                .collect::<Result<Vec<_>>>()?,
        ),
    })
}

fn build(name: &str, role: &proto::Role, dialect: Dialect) -> Result<Program> {
    check_supported(name, role, dialect)?;
    let reg = Registry::global();
    let mut env = Env {
        ids: HashMap::new(),
        n_slots: 0,
        missing: None,
    };
    let mut input_slots = Vec::with_capacity(role.input_placeholder_ids.len());
    for id in &role.input_placeholder_ids {
        let s = env.fresh();
        env.ids.insert(id.key(), s);
        input_slots.push(s);
    }
    // State (plans.md §4 step 4): tensors pair positionally with placeholders.
    let mut state = Vec::new();
    let mut state_error = None;
    if let Some(st) = &role.state {
        if !st.tensors.is_empty() {
            if st.tensors.len() != st.placeholders.len() {
                state_error = Some(Error::PlanValidation(format!(
                    "Plan '{name}': state has {} tensors but {} placeholders",
                    st.tensors.len(),
                    st.placeholders.len()
                )));
            } else {
                for (ph, t) in st.placeholders.iter().zip(&st.tensors) {
                    let tensor = match &t.tensor {
                        Some(state_tensor::Tensor::TorchTensor(tt)) => {
                            proto::tensor_from_proto(tt, "Plan")?
                        }
                        Some(state_tensor::Tensor::TorchParam(p)) => match &p.tensor {
                            Some(tt) => proto::tensor_from_proto(tt, "Plan")?,
                            None => {
                                return Err(Error::decode(
                                    "Plan",
                                    "state Parameter without a tensor",
                                ))
                            }
                        },
                        None => return Err(Error::decode("Plan", "empty StateTensor")),
                    };
                    let tensor = if dialect == Dialect::Tfjs {
                        tensor.to_tfjs()?
                    } else {
                        tensor
                    };
                    let s = env.fresh();
                    if let Some(id) = &ph.id {
                        env.ids.insert(id.key(), s);
                    }
                    state.push((s, tensor));
                }
            }
        }
    }
    let mut consts = Vec::new();
    let mut steps = Vec::with_capacity(role.actions.len());
    for (index, act) in role.actions.iter().enumerate() {
        let command = act.command.as_str();
        let builder = reg
            .lookup(dialect, command)
            .unwrap_or_else(|| unreachable!("checked"));
        let mut args = Vec::with_capacity(act.args.len() + 1);
        let target_id = match &act.target {
            Some(Target::TargetId(id)) => Some(id.clone()),
            Some(Target::TargetPlaceholderId(p)) => p.id.clone(),
            _ => None,
        };
        match &act.target {
            Some(Target::TargetId(_)) | Some(Target::TargetPlaceholderId(_)) => {
                let id = target_id.clone().ok_or_else(|| Error::Validation {
                    index,
                    command: command.into(),
                    detail: "target placeholder without an id".into(),
                })?;
                args.push(ArgSrc::Value(env.lookup(&id, index, command)));
            }
            Some(Target::TargetTensor(t)) => {
                args.push(ArgSrc::Value(tensor_const(t, dialect, &mut consts)?))
            }
            Some(Target::TargetPointer(_)) => unreachable!("rejected by check_supported"),
            None => {}
        }
        for a in &act.args {
            args.push(lower_arg(
                a,
                &mut env,
                dialect,
                &mut consts,
                index,
                command,
            )?);
        }
        let mut kwargs = Vec::with_capacity(act.kwargs.len());
        for (k, v) in act.effective_kwargs() {
            let v = v.ok_or_else(|| Error::Validation {
                index,
                command: command.into(),
                detail: format!("keyword argument '{k}' without a value"),
            })?;
            kwargs.push((
                k.to_string(),
                lower_arg(v, &mut env, dialect, &mut consts, index, command)?,
            ));
        }
        let mut call = Call {
            dialect,
            command,
            args,
            kwargs,
            operands: Vec::new(),
            consts: &mut consts,
            in_place: false,
            tag: Tag::Plain,
            index,
        };
        let kernel = builder(&mut call).map_err(|detail| Error::Validation {
            index,
            command: command.into(),
            detail,
        })?;
        let (operands, in_place, tag) = (call.operands, call.in_place, call.tag);
        let ret = act
            .return_ids
            .first()
            .cloned()
            .or_else(|| {
                act.return_placeholder_ids
                    .first()
                    .and_then(|p| p.id.clone())
            })
            .or_else(|| if in_place { target_id.clone() } else { None });
        let out = ret.map(|id| {
            let s = env.fresh();
            env.ids.insert(id.key(), s);
            // A torch in-place op also rebinds its target (plans.md §5 step 4).
            if in_place {
                if let Some(t) = &target_id {
                    env.ids.insert(t.key(), s);
                }
            }
            s
        });
        steps.push(Step {
            index,
            command: command.to_string(),
            kernel,
            tag,
            operands,
            consume: Vec::new(),
            out,
            free: Vec::new(),
            own_context: false,
        });
    }
    if let Some(e) = state_error {
        return Err(e);
    }
    if let Some(m) = env.missing {
        return Err(Error::MissingVariable(m));
    }
    let mut outputs = Vec::with_capacity(role.output_placeholder_ids.len());
    for (j, id) in role.output_placeholder_ids.iter().enumerate() {
        match env.ids.get(&id.key()) {
            Some(s) => outputs.push(*s),
            None => {
                return Err(Error::MissingVariable(format!(
                    "Missing variable {} for output #{j}",
                    id.key()
                )))
            }
        }
    }
    Ok(Program {
        n_slots: env.n_slots,
        input_slots,
        state,
        consts,
        steps,
        outputs,
    })
}
