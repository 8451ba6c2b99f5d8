//! Any supported message as a plain value tree (for inspection and tests), and decode→encode by name.

use super::execution::*;
use super::messaging::*;
use super::types::*;
use super::{convert, decode, encode, SyftProto};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// A decoded message as plain data: messages are `Dict`s keyed by proto field name (a
/// oneof contributes only its set member), maps are `Dict`s, kwargs a `List` of
/// `[key, value]` pairs in wire order, and tensor values a [`Tensor`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(Vec<(String, Value)>),
    Tensor(Tensor),
}

/// Message kinds accepted by [`describe`] and [`reencode`].
pub const KINDS: &[&str] = &[
    "State",
    "Plan",
    "Protocol",
    "TorchTensor",
    "Id",
    "ObjectMessage",
    "SyftMessage",
    "Role",
];

type R = Result<Value>;

fn dict(items: Vec<(&str, Value)>) -> Value {
    Value::Dict(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn opt<T>(v: &Option<T>, f: impl Fn(&T) -> R) -> R {
    v.as_ref().map_or(Ok(Value::None), f)
}

fn strs(v: &[String]) -> Value {
    Value::List(v.iter().cloned().map(Value::Str).collect())
}

fn list<T>(v: &[T], f: impl Fn(&T) -> R) -> R {
    v.iter().map(f).collect::<Result<Vec<_>>>().map(Value::List)
}

fn ints(v: &[i32]) -> Value {
    Value::List(v.iter().map(|&d| Value::Int(d.into())).collect())
}

fn id(v: &Id) -> R {
    Ok(match &v.id {
        Some(id::Id::IdInt(i)) => Value::Int(*i),
        Some(id::Id::IdStr(s)) => Value::Str(s.clone()),
        None => Value::None,
    })
}

fn placeholder_id(v: &PlaceholderId) -> R {
    Ok(dict(vec![("id", opt(&v.id, id)?)]))
}

/// TorchTensor: the values are converted (and validated) into a tensor under `values`.
fn torch_tensor(t: &TorchTensor, msg: &'static str) -> R {
    let tensor = convert::tensor_from_proto(t, msg)?;
    let data = match &t.contents {
        Some(torch_tensor::Contents::ContentsData(d)) => d,
        _ => unreachable!("tensor_from_proto accepts contents_data only"),
    };
    let contents = dict(vec![
        ("shape", opt(&data.shape, |s| Ok(ints(&s.dims)))?),
        ("dtype", Value::Str(data.dtype.clone())),
        ("is_quantized", Value::Bool(data.is_quantized)),
        ("scale", Value::Float(data.scale.into())),
        ("zero_point", Value::Int(data.zero_point.into())),
        ("values", Value::Tensor(tensor)),
    ]);
    Ok(dict(vec![
        ("id", opt(&t.id, id)?),
        ("contents_data", contents),
        ("chain", opt(&t.chain, |c| torch_tensor(c, msg))?),
        ("grad_chain", opt(&t.grad_chain, |c| torch_tensor(c, msg))?),
        ("tags", strs(&t.tags)),
        ("description", Value::Str(t.description.clone())),
        ("serializer", Value::Int(t.serializer.into())),
    ]))
}

fn parameter(p: &Parameter, msg: &'static str) -> R {
    Ok(dict(vec![
        ("id", opt(&p.id, id)?),
        ("tensor", opt(&p.tensor, |t| torch_tensor(t, msg))?),
        ("requires_grad", Value::Bool(p.requires_grad)),
        ("grad", opt(&p.grad, |t| torch_tensor(t, msg))?),
    ]))
}

fn shape(s: &Shape) -> R {
    Ok(dict(vec![("dims", ints(&s.dims))]))
}

fn pointer(p: &PointerTensor) -> R {
    Ok(dict(vec![
        ("object_id", opt(&p.object_id, id)?),
        ("location_id", opt(&p.location_id, id)?),
        ("object_id_at_location", opt(&p.object_id_at_location, id)?),
        ("shape", opt(&p.shape, shape)?),
        ("point_to_attr", Value::Str(p.point_to_attr.clone())),
        ("garbage_collect_data", Value::Bool(p.garbage_collect_data)),
    ]))
}

fn placeholder(p: &Placeholder, msg: &'static str) -> R {
    let mut items = Vec::new();
    match &p.child {
        Some(placeholder::Child::ChildTensor(t)) => {
            items.push(("child_tensor", torch_tensor(t, msg)?))
        }
        Some(placeholder::Child::ChildParameter(t)) => {
            items.push(("child_parameter", parameter(t, msg)?))
        }
        None => {}
    }
    items.push(("id", opt(&p.id, id)?));
    items.push(("tags", strs(&p.tags)));
    items.push(("description", Value::Str(p.description.clone())));
    items.push(("expected_shape", opt(&p.expected_shape, shape)?));
    Ok(dict(items))
}

fn arg(a: &Arg, msg: &'static str) -> R {
    use arg::Arg as A;
    Ok(match &a.arg {
        None => dict(vec![]),
        Some(A::ArgBool(v)) => dict(vec![("arg_bool", Value::Bool(*v))]),
        Some(A::ArgInt(v)) => dict(vec![("arg_int", Value::Int(*v))]),
        Some(A::ArgFloat(v)) => dict(vec![("arg_float", Value::Float((*v).into()))]),
        Some(A::ArgStr(v)) => dict(vec![("arg_str", Value::Str(v.clone()))]),
        Some(A::ArgShape(v)) => dict(vec![("arg_shape", shape(v)?)]),
        Some(A::ArgTensor(v)) => dict(vec![("arg_tensor", torch_tensor(v, msg)?)]),
        Some(A::ArgTorchParam(v)) => dict(vec![("arg_torch_param", parameter(v, msg)?)]),
        Some(A::ArgPointerTensor(v)) => dict(vec![("arg_pointer_tensor", pointer(v)?)]),
        Some(A::ArgPlaceholder(v)) => dict(vec![("arg_placeholder", placeholder(v, msg)?)]),
        Some(A::ArgPlaceholderId(v)) => dict(vec![("arg_placeholder_id", placeholder_id(v)?)]),
        Some(A::ArgList(v)) => dict(vec![(
            "arg_list",
            dict(vec![("args", list(&v.args, |a| arg(a, msg))?)]),
        )]),
    })
}

fn action(a: &ComputationAction, msg: &'static str) -> R {
    use computation_action::Target as T;
    let mut items = vec![("command", Value::Str(a.command.clone()))];
    match &a.target {
        Some(T::TargetId(v)) => items.push(("target_id", id(v)?)),
        Some(T::TargetPointer(v)) => items.push(("target_pointer", pointer(v)?)),
        Some(T::TargetPlaceholderId(v)) => {
            items.push(("target_placeholder_id", placeholder_id(v)?))
        }
        Some(T::TargetTensor(v)) => items.push(("target_tensor", torch_tensor(v, msg)?)),
        None => {}
    }
    items.push(("args", list(&a.args, |x| arg(x, msg))?));
    items.push((
        "kwargs",
        list(&a.kwargs, |kw| {
            Ok(Value::List(vec![
                Value::Str(kw.key.clone()),
                opt(&kw.value, |x| arg(x, msg))?,
            ]))
        })?,
    ));
    items.push(("return_ids", list(&a.return_ids, id)?));
    items.push((
        "return_placeholder_ids",
        list(&a.return_placeholder_ids, placeholder_id)?,
    ));
    Ok(dict(items))
}

fn state(s: &State, msg: &'static str) -> R {
    let tensors = list(&s.tensors, |st| {
        Ok(match &st.tensor {
            Some(state_tensor::Tensor::TorchTensor(t)) => {
                dict(vec![("torch_tensor", torch_tensor(t, msg)?)])
            }
            Some(state_tensor::Tensor::TorchParam(p)) => {
                dict(vec![("torch_param", parameter(p, msg)?)])
            }
            None => dict(vec![]),
        })
    })?;
    Ok(dict(vec![
        (
            "placeholders",
            list(&s.placeholders, |p| placeholder(p, msg))?,
        ),
        ("tensors", tensors),
    ]))
}

fn role(r: &Role, msg: &'static str) -> R {
    Ok(dict(vec![
        ("id", opt(&r.id, id)?),
        ("actions", list(&r.actions, |a| action(a, msg))?),
        ("state", opt(&r.state, |s| state(s, msg))?),
        (
            "placeholders",
            list(&r.placeholders, |p| placeholder(p, msg))?,
        ),
        ("input_placeholder_ids", list(&r.input_placeholder_ids, id)?),
        (
            "output_placeholder_ids",
            list(&r.output_placeholder_ids, id)?,
        ),
        ("tags", strs(&r.tags)),
        ("description", Value::Str(r.description.clone())),
    ]))
}

fn roles(m: &std::collections::BTreeMap<String, Role>, msg: &'static str) -> R {
    m.iter()
        .map(|(k, r)| Ok((k.clone(), role(r, msg)?)))
        .collect::<Result<Vec<_>>>()
        .map(Value::Dict)
}

fn type_wrapper(w: &NestedTypeWrapper) -> R {
    use nested_type_wrapper::type_container::NestedContainer as C;
    let Some(c) = &w.nested_types else {
        return Ok(dict(vec![("nested_types", Value::None)]));
    };
    let inner = match &c.nested_container {
        None => dict(vec![]),
        Some(C::NestedType(t)) => dict(vec![(
            "nested_type",
            dict(vec![("type_name", Value::Str(t.type_name.clone()))]),
        )]),
        Some(C::NestedTypeList(l)) => dict(vec![(
            "nested_type_list",
            dict(vec![("nested_types", list(&l.nested_types, type_wrapper)?)]),
        )]),
        Some(C::NestedTypeTuple(l)) => dict(vec![(
            "nested_type_tuple",
            dict(vec![("nested_types", list(&l.nested_types, type_wrapper)?)]),
        )]),
        Some(C::NestedTypeDict(m)) => {
            let items = m
                .nested_types
                .iter()
                .map(|(k, v)| Ok((k.clone(), type_wrapper(v)?)))
                .collect::<Result<Vec<_>>>()?;
            dict(vec![(
                "nested_type_dict",
                dict(vec![("nested_types", Value::Dict(items))]),
            )])
        }
    };
    Ok(dict(vec![("nested_types", inner)]))
}

fn plan(p: &Plan) -> R {
    const M: &str = "Plan";
    Ok(dict(vec![
        ("id", opt(&p.id, id)?),
        ("role", opt(&p.role, |r| role(r, M))?),
        ("include_state", Value::Bool(p.include_state)),
        ("name", Value::Str(p.name.clone())),
        ("tags", strs(&p.tags)),
        ("description", Value::Str(p.description.clone())),
        ("torchscript", Value::Bytes(p.torchscript.clone())),
        ("input_types", opt(&p.input_types, type_wrapper)?),
        ("base_framework", Value::Str(p.base_framework.clone())),
        ("roles", roles(&p.roles, M)?),
    ]))
}

fn protocol(p: &Protocol) -> R {
    Ok(dict(vec![
        ("id", opt(&p.id, id)?),
        ("name", Value::Str(p.name.clone())),
        ("roles", roles(&p.roles, "Protocol")?),
        ("tags", strs(&p.tags)),
        ("description", Value::Str(p.description.clone())),
    ]))
}

fn object_message(o: &ObjectMessage, msg: &'static str) -> R {
    Ok(dict(vec![(
        "tensor",
        opt(&o.tensor, |t| torch_tensor(t, msg))?,
    )]))
}

fn command(name: &str, args: &[Arg], msg: &'static str) -> R {
    Ok(dict(vec![
        ("command_name", Value::Str(name.to_string())),
        ("args", list(args, |a| arg(a, msg))?),
    ]))
}

fn syft_message(m: &SyftMessage) -> R {
    use syft_message::Contents as C;
    const M: &str = "SyftMessage";
    let one_id = |name: &'static str, v: &Option<Id>| -> R { Ok(dict(vec![(name, opt(v, id)?)])) };
    Ok(match &m.contents {
        None => dict(vec![]),
        Some(C::ContentsEmptyMsg(_)) => dict(vec![("contents_empty_msg", dict(vec![]))]),
        Some(C::ContentsDeleteMsg(d)) => dict(vec![(
            "contents_delete_msg",
            dict(vec![("object_ids", list(&d.object_ids, id)?)]),
        )]),
        Some(C::ContentsGetShapeMsg(g)) => dict(vec![(
            "contents_get_shape_msg",
            one_id("object_id", &g.object_id)?,
        )]),
        Some(C::ContentsIsNoneMsg(g)) => dict(vec![(
            "contents_is_none_msg",
            one_id("object_id", &g.object_id)?,
        )]),
        Some(C::ContentsObjectMsg(o)) => dict(vec![("contents_object_msg", object_message(o, M)?)]),
        Some(C::ContentsObjectRequestMsg(o)) => dict(vec![(
            "contents_object_request_msg",
            dict(vec![
                ("object_id", opt(&o.object_id, id)?),
                ("reason", Value::Str(o.reason.clone())),
            ]),
        )]),
        Some(C::ContentsTensorCmdMsg(t)) => {
            use tensor_command_message::Action;
            let inner = match &t.action {
                None => dict(vec![]),
                Some(Action::Computation(a)) => dict(vec![("computation", action(a, M)?)]),
                Some(Action::Communication(a)) => dict(vec![("communication", action(a, M)?)]),
            };
            dict(vec![("contents_tensor_cmd_msg", inner)])
        }
        Some(C::ContentsPlanCmdMsg(c)) => dict(vec![(
            "contents_plan_cmd_msg",
            command(&c.command_name, &c.args, M)?,
        )]),
        Some(C::ContentsWorkerCmdMsg(c)) => dict(vec![(
            "contents_worker_cmd_msg",
            command(&c.command_name, &c.args, M)?,
        )]),
        Some(C::ContentsSearchMsg(s)) => dict(vec![(
            "contents_search_msg",
            dict(vec![("query", list(&s.query, id)?)]),
        )]),
    })
}

fn unknown_kind(kind: &str) -> Error {
    Error::InvalidArgument(format!(
        "unknown message kind '{kind}' (expected one of: {})",
        KINDS.join(", ")
    ))
}

/// Decode `data` as the message `kind` (one of [`KINDS`]) into a [`Value`] tree.
pub fn describe(kind: &str, data: &[u8]) -> Result<Value> {
    match kind {
        "State" => state(&decode::<State>(data)?, State::NAME),
        "Plan" => plan(&decode::<Plan>(data)?),
        "Protocol" => protocol(&decode::<Protocol>(data)?),
        "TorchTensor" => torch_tensor(&decode::<TorchTensor>(data)?, TorchTensor::NAME),
        "Id" => id(&decode::<Id>(data)?),
        "ObjectMessage" => object_message(&decode::<ObjectMessage>(data)?, ObjectMessage::NAME),
        "SyftMessage" => syft_message(&decode::<SyftMessage>(data)?),
        "Role" => role(&decode::<Role>(data)?, Role::NAME),
        _ => Err(unknown_kind(kind)),
    }
}

/// Decode `data` as `kind` and encode it again with the project's encoding rules.
pub fn reencode(kind: &str, data: &[u8]) -> Result<Vec<u8>> {
    Ok(match kind {
        "State" => encode(&decode::<State>(data)?),
        "Plan" => encode(&decode::<Plan>(data)?),
        "Protocol" => encode(&decode::<Protocol>(data)?),
        "TorchTensor" => encode(&decode::<TorchTensor>(data)?),
        "Id" => encode(&decode::<Id>(data)?),
        "ObjectMessage" => encode(&decode::<ObjectMessage>(data)?),
        "SyftMessage" => encode(&decode::<SyftMessage>(data)?),
        "Role" => encode(&decode::<Role>(data)?),
        _ => return Err(unknown_kind(kind)),
    })
}
