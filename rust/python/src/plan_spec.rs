//! `encode_plan`: a Plan described as plain Python data (dicts, lists, numbers, arrays) to
//! protobuf bytes, for plan authoring (`syft_rs.plans`). Extraction only: the structs and
//! their encoding are the core's (`syft_rs_core::proto`).

use std::collections::BTreeMap;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use syft_rs_core::proto::{
    self, arg, computation_action, id, state_tensor, Arg, ArgList, ComputationAction, Id, Kwarg,
    Placeholder, PlaceholderId, Plan, Role, Shape, State, StateTensor,
};
use syft_rs_core::Error;

use crate::errors::to_py;
use crate::state::ParamArray;

fn err(path: &str, detail: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("encode_plan: {path}: {detail}"))
}

fn item<'py>(d: &Bound<'py, PyDict>, key: &str, path: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?
        .ok_or_else(|| err(path, format!("missing key '{key}'")))
}

fn as_dict<'py>(obj: &Bound<'py, PyAny>, path: &str) -> PyResult<Bound<'py, PyDict>> {
    obj.cast::<PyDict>()
        .cloned()
        .map_err(|_| PyTypeError::new_err(format!("encode_plan: {path} must be a dict")))
}

fn seq<'py>(obj: &Bound<'py, PyAny>, path: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        obj.try_iter()?.collect()
    } else {
        Err(PyTypeError::new_err(format!(
            "encode_plan: {path} must be a list"
        )))
    }
}

fn to_id(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Id> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "encode_plan: {path}: an id is an int or a str, not a bool"
        )));
    }
    if obj.is_instance_of::<PyInt>() {
        let v: i64 = obj
            .extract()
            .map_err(|_| err(path, "integer id out of the int64 range"))?;
        return Ok(Id::int(v));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Id {
            id: Some(id::Id::IdStr(s.to_str()?.to_string())),
        });
    }
    Err(PyTypeError::new_err(format!(
        "encode_plan: {path}: an id is an int or a str"
    )))
}

fn placeholder_id(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<PlaceholderId> {
    Ok(PlaceholderId {
        id: Some(to_id(obj, path)?),
    })
}

fn tensor(obj: &Bound<'_, PyAny>, id: Id, path: &str) -> PyResult<proto::TorchTensor> {
    let array = ParamArray::extract(obj, 0)
        .map_err(|e| PyTypeError::new_err(format!("encode_plan: {path}: {e}")))?;
    proto::tensor_into_proto(array.view().to_tensor(), id).map_err(to_py)
}

fn to_arg(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Arg> {
    use arg::Arg as A;
    let value = if let Ok(d) = obj.cast::<PyDict>() {
        if d.len() != 1 {
            return Err(err(path, "a reference is {'ref': id}"));
        }
        A::ArgPlaceholderId(placeholder_id(&item(d, "ref", path)?, path)?)
    } else if obj.is_instance_of::<PyBool>() {
        A::ArgBool(obj.extract()?)
    } else if obj.is_instance_of::<PyInt>() {
        A::ArgInt(
            obj.extract()
                .map_err(|_| err(path, "integer literal out of the int64 range"))?,
        )
    } else if obj.is_instance_of::<PyFloat>() {
        // The wire field is a 32-bit float, as PySyft writes it.
        A::ArgFloat(obj.extract::<f64>()? as f32)
    } else if let Ok(s) = obj.cast::<PyString>() {
        A::ArgStr(s.to_str()?.to_string())
    } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let args = seq(obj, path)?
            .iter()
            .enumerate()
            .map(|(i, a)| to_arg(a, &format!("{path}[{i}]")))
            .collect::<PyResult<Vec<_>>>()?;
        A::ArgList(ArgList { args })
    } else if obj.hasattr("dtype")? && obj.hasattr("shape")? {
        A::ArgTensor(Box::new(tensor(obj, Id::int(0), path)?))
    } else {
        return Err(PyTypeError::new_err(format!(
            "encode_plan: {path}: unsupported argument of type {}",
            obj.get_type().name()?
        )));
    };
    Ok(Arg::new(value))
}

fn action(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<ComputationAction> {
    let d = as_dict(obj, path)?;
    let command: String = item(&d, "command", path)?
        .extract()
        .map_err(|_| err(path, "'command' must be a str"))?;
    let target = match d.get_item("target")? {
        Some(t) if !t.is_none() => Some(computation_action::Target::TargetPlaceholderId(
            placeholder_id(&t, &format!("{path}.target"))?,
        )),
        _ => None,
    };
    let args = match d.get_item("args")? {
        Some(a) => seq(&a, &format!("{path}.args"))?
            .iter()
            .enumerate()
            .map(|(i, a)| to_arg(a, &format!("{path}.args[{i}]")))
            .collect::<PyResult<Vec<_>>>()?,
        None => Vec::new(),
    };
    let mut kwargs = Vec::new();
    if let Some(kw) = d.get_item("kwargs")? {
        for (i, pair) in seq(&kw, &format!("{path}.kwargs"))?.iter().enumerate() {
            let p = format!("{path}.kwargs[{i}]");
            let (key, value): (String, Bound<'_, PyAny>) = pair
                .extract()
                .map_err(|_| err(&p, "a keyword argument is a (str, value) pair"))?;
            kwargs.push(Kwarg {
                key,
                value: Some(to_arg(&value, &p)?),
            });
        }
    }
    let return_placeholder_ids = match d.get_item("returns")? {
        Some(r) => seq(&r, &format!("{path}.returns"))?
            .iter()
            .map(|x| placeholder_id(x, &format!("{path}.returns")))
            .collect::<PyResult<Vec<_>>>()?,
        None => Vec::new(),
    };
    Ok(ComputationAction {
        command,
        target,
        args,
        kwargs,
        return_ids: Vec::new(),
        return_placeholder_ids,
    })
}

fn shape(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Option<Shape>> {
    if obj.is_none() {
        return Ok(None);
    }
    let dims: Vec<i32> = obj
        .extract()
        .map_err(|_| err(path, "expected_shape is a list of int32 or None"))?;
    Ok(Some(Shape { dims }))
}

fn role(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Role> {
    let d = as_dict(obj, path)?;
    let actions = seq(&item(&d, "actions", path)?, &format!("{path}.actions"))?
        .iter()
        .enumerate()
        .map(|(i, a)| action(a, &format!("{path}.actions[{i}]")))
        .collect::<PyResult<Vec<_>>>()?;
    let mut state = State::default();
    if let Some(entries) = d.get_item("state")? {
        for (i, entry) in seq(&entries, &format!("{path}.state"))?.iter().enumerate() {
            let p = format!("{path}.state[{i}]");
            let (sid, array): (Bound<'_, PyAny>, Bound<'_, PyAny>) = entry
                .extract()
                .map_err(|_| err(&p, "a state entry is an (id, array) pair"))?;
            let id = to_id(&sid, &p)?;
            let t = tensor(&array, id.clone(), &p)?;
            let dims = t
                .contents
                .as_ref()
                .and_then(|c| match c {
                    proto::torch_tensor::Contents::ContentsData(data) => data.shape.clone(),
                    _ => None,
                })
                .map(|s| s.dims)
                .unwrap_or_default();
            // Plan state: the placeholder and its tensor share the id (PySyft's layout).
            state.placeholders.push(Placeholder {
                id: Some(id),
                expected_shape: Some(Shape { dims }),
                ..Default::default()
            });
            state.tensors.push(StateTensor {
                tensor: Some(state_tensor::Tensor::TorchTensor(t)),
            });
        }
    }
    let mut placeholders = Vec::new();
    if let Some(list) = d.get_item("placeholders")? {
        for (i, ph) in seq(&list, &format!("{path}.placeholders"))?
            .iter()
            .enumerate()
        {
            let p = format!("{path}.placeholders[{i}]");
            let pd = as_dict(ph, &p)?;
            let tags: Vec<String> = match pd.get_item("tags")? {
                Some(t) => t.extract().map_err(|_| err(&p, "tags is a list of str"))?,
                None => Vec::new(),
            };
            let expected_shape = match pd.get_item("expected_shape")? {
                Some(s) => shape(&s, &p)?,
                None => None,
            };
            placeholders.push(Placeholder {
                id: Some(to_id(&item(&pd, "id", &p)?, &p)?),
                tags,
                expected_shape,
                ..Default::default()
            });
        }
    }
    let ids = |key: &str| -> PyResult<Vec<Id>> {
        seq(&item(&d, key, path)?, &format!("{path}.{key}"))?
            .iter()
            .map(|x| to_id(x, &format!("{path}.{key}")))
            .collect()
    };
    Ok(Role {
        id: Some(to_id(&item(&d, "id", path)?, &format!("{path}.id"))?),
        actions,
        // PySyft always writes the state, even empty (`1a 00`).
        state: Some(state),
        placeholders,
        input_placeholder_ids: ids("inputs")?,
        output_placeholder_ids: ids("outputs")?,
        tags: Vec::new(),
        description: String::new(),
    })
}

fn plan(spec: &Bound<'_, PyAny>) -> PyResult<Plan> {
    let d = as_dict(spec, "spec")?;
    let text = |key: &str| -> PyResult<String> {
        match d.get_item(key)? {
            Some(v) if !v.is_none() => v
                .extract()
                .map_err(|_| err(&format!("spec.{key}"), "must be a str")),
            _ => Ok(String::new()),
        }
    };
    if let Some(types) = d.get_item("input_types")? {
        if !types.is_none() {
            return Err(err("spec.input_types", "only None is supported"));
        }
    }
    let role_spec = d.get_item("role")?;
    let main_role = match role_spec {
        Some(r) if !r.is_none() => Some(role(&r, "spec.role")?),
        _ => None,
    };
    let mut roles = BTreeMap::new();
    if let Some(r) = d.get_item("roles")? {
        if !r.is_none() {
            for (key, value) in as_dict(&r, "spec.roles")?.iter() {
                let name: String = key
                    .extract()
                    .map_err(|_| err("spec.roles", "role names are str"))?;
                let path = format!("spec.roles['{name}']");
                roles.insert(name, role(&value, &path)?);
            }
        }
    }
    let include_state = match d.get_item("include_state")? {
        Some(v) => v
            .extract()
            .map_err(|_| err("spec.include_state", "must be a bool"))?,
        None => false,
    };
    Ok(Plan {
        id: Some(to_id(&item(&d, "id", "spec")?, "spec.id")?),
        role: main_role,
        include_state,
        name: text("name")?,
        base_framework: text("base_framework")?,
        roles,
        ..Default::default()
    })
}

#[pyfunction]
fn encode_plan<'py>(py: Python<'py>, spec: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let plan = plan(spec)?;
    let bytes = crate::errors::detach(py, || Ok::<_, Error>(proto::encode(&plan)))?;
    Ok(PyBytes::new(py, &bytes))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_plan, m)?)?;
    Ok(())
}
