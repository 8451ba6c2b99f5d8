//! Bindings for syft_rs_core::state and proto inspection: numpy <-> tensors, State bytes.

use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use syft_rs_core::proto::{self, Value};
use syft_rs_core::state::{self, StateEncoder, TensorView};
use syft_rs_core::Tensor;

use crate::errors::detach;

/// A numpy array of a supported dtype, borrowed read-only for the duration of a call.
pub(crate) enum ParamArray<'py> {
    Bool(PyReadonlyArrayDyn<'py, bool>),
    U8(PyReadonlyArrayDyn<'py, u8>),
    I32(PyReadonlyArrayDyn<'py, i32>),
    I64(PyReadonlyArrayDyn<'py, i64>),
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

impl<'py> ParamArray<'py> {
    /// Borrow `obj` read-only when it is a numpy array of a supported dtype; `None` for
    /// anything else (callers word their own `TypeError`).
    pub(crate) fn borrow(obj: &Bound<'py, PyAny>) -> PyResult<Option<Self>> {
        macro_rules! try_as {
            ($t:ty, $v:ident) => {
                if let Ok(a) = obj.cast::<PyArrayDyn<$t>>() {
                    // Rust views need aligned elements; numpy allows unaligned arrays
                    // (`np.frombuffer` at an odd offset): borrow an aligned copy of those.
                    let a = if is_aligned(a) {
                        a.clone()
                    } else {
                        a.call_method0("copy")?.cast_into::<PyArrayDyn<$t>>()?
                    };
                    let a = a
                        .try_readonly()
                        .map_err(|e| PyTypeError::new_err(e.to_string()))?;
                    return Ok(Some(ParamArray::$v(a)));
                }
            };
        }
        try_as!(f32, F32);
        try_as!(f64, F64);
        try_as!(i32, I32);
        try_as!(i64, I64);
        try_as!(u8, U8);
        try_as!(bool, Bool);
        Ok(None)
    }

    /// Borrow `obj` as an array; `TypeError` for non-arrays and unsupported dtypes.
    pub(crate) fn extract(obj: &Bound<'py, PyAny>, index: usize) -> PyResult<Self> {
        match Self::borrow(obj) {
            Ok(Some(a)) => return Ok(a),
            Ok(None) => {}
            Err(e) => return Err(PyTypeError::new_err(format!("parameter {index}: {e}"))),
        }
        let what = match obj.getattr("dtype") {
            Ok(dtype) => format!("an array of dtype {}", dtype.str()?),
            Err(_) => format!("a {}", obj.get_type().name()?),
        };
        Err(PyTypeError::new_err(format!(
            "parameter {index} is {what}; expected a numpy array of float32, float64, int32, int64, uint8 or bool"
        )))
    }

    pub(crate) fn view(&self) -> TensorView<'_> {
        match self {
            ParamArray::Bool(a) => TensorView::Bool(a.as_array()),
            ParamArray::U8(a) => TensorView::U8(a.as_array()),
            ParamArray::I32(a) => TensorView::I32(a.as_array()),
            ParamArray::I64(a) => TensorView::I64(a.as_array()),
            ParamArray::F32(a) => TensorView::F32(a.as_array()),
            ParamArray::F64(a) => TensorView::F64(a.as_array()),
        }
    }
}

/// Every element of `a` is aligned for its type: the data pointer and every stride.
fn is_aligned<T: numpy::Element>(a: &Bound<'_, PyArrayDyn<T>>) -> bool {
    let align = std::mem::align_of::<T>();
    a.data() as usize % align == 0 && a.strides().iter().all(|s| s.unsigned_abs() % align == 0)
}

/// Borrow every element of a sequence of arrays.
pub(crate) fn extract_params<'py>(params: &Bound<'py, PyAny>) -> PyResult<Vec<ParamArray<'py>>> {
    if params.is_instance_of::<pyo3::types::PyString>() || params.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err("expected a sequence of numpy arrays"));
    }
    params
        .try_iter()?
        .enumerate()
        .map(|(i, item)| ParamArray::extract(&item?, i))
        .collect()
}

/// Hand a tensor to numpy without copying; `readonly` clears the WRITEABLE flag.
pub(crate) fn tensor_into_py<'py>(
    py: Python<'py>,
    t: Tensor,
    readonly: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let arr = match t {
        Tensor::Bool(a) => a.into_pyarray(py).into_any(),
        Tensor::U8(a) => a.into_pyarray(py).into_any(),
        Tensor::I32(a) => a.into_pyarray(py).into_any(),
        Tensor::I64(a) => a.into_pyarray(py).into_any(),
        Tensor::F32(a) => a.into_pyarray(py).into_any(),
        Tensor::F64(a) => a.into_pyarray(py).into_any(),
    };
    if readonly {
        arr.call_method1("setflags", (false,))?;
    }
    Ok(arr)
}

/// Encode the SyftModel layout straight into a new Python `bytes` (GIL released).
pub(crate) fn encode_to_pybytes<'py>(
    py: Python<'py>,
    views: &[TensorView<'_>],
) -> PyResult<Bound<'py, PyBytes>> {
    let encoder = detach(py, || StateEncoder::new(views))?;
    PyBytes::new_with(py, encoder.len(), |mut out: &mut [u8]| {
        detach(py, || {
            encoder.write(&mut out);
            Ok(())
        })
    })
}

fn tensors_into_list<'py>(
    py: Python<'py>,
    ts: Vec<Tensor>,
    readonly: bool,
) -> PyResult<Bound<'py, PyList>> {
    let items = ts
        .into_iter()
        .map(|t| tensor_into_py(py, t, readonly))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Decode a State into read-only numpy arrays. From a `bytes` object (unless `copy`),
/// float32/float64 values whose packed run is aligned in it are not copied: the array
/// views the `bytes` (which it keeps alive); other values are moved out of the decoded
/// message.
#[pyfunction]
#[pyo3(signature = (data, *, copy = false))]
fn decode_state<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    copy: bool,
) -> PyResult<Bound<'py, PyList>> {
    let owned: Vec<u8>;
    let raw: &[u8] = match data.cast::<PyBytes>() {
        Ok(bytes) if !copy => return decode_state_in_place(py, bytes),
        Ok(bytes) => bytes.as_bytes(),
        Err(_) => {
            owned = data.extract()?;
            &owned
        }
    };
    let tensors = detach(py, || state::decode_state(raw))?;
    tensors_into_list(py, tensors, true)
}

/// [`decode_state`] of a `bytes` object, with aligned float runs left in place.
fn decode_state_in_place<'py>(
    py: Python<'py>,
    bytes: &Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, PyList>> {
    /// A read-only array over `a`, a view of `bytes`' buffer.
    fn viewing<'py, T: numpy::Element>(
        a: &ndarray::ArrayViewD<'_, T>,
        bytes: &Bound<'py, PyBytes>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // SAFETY: `a` views `bytes`' immutable buffer, and the array holds a reference to
        // `bytes` as its base for as long as it lives.
        let arr = unsafe { PyArrayDyn::borrow_from_array(a, bytes.clone().into_any()) }.into_any();
        arr.call_method1("setflags", (false,))?;
        Ok(arr)
    }
    let raw = bytes.as_bytes();
    let decoded = detach(py, || state::decode_state_borrowing(raw))?;
    let items = decoded
        .into_iter()
        .map(|d| match d {
            proto::Decoded::Owned(t) => tensor_into_py(py, t, true),
            proto::Decoded::Borrowed(TensorView::F32(a)) => viewing(&a, bytes),
            proto::Decoded::Borrowed(TensorView::F64(a)) => viewing(&a, bytes),
            proto::Decoded::Borrowed(_) => unreachable!("only float runs are borrowed"),
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

#[pyfunction]
fn encode_state<'py>(py: Python<'py>, params: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let arrays = extract_params(params)?;
    let views: Vec<_> = arrays.iter().map(ParamArray::view).collect();
    encode_to_pybytes(py, &views)
}

#[pyfunction]
fn serialized_diff<'py>(
    py: Python<'py>,
    original: &Bound<'py, PyAny>,
    updated: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let a = extract_params(original)?;
    let b = extract_params(updated)?;
    let (va, vb): (Vec<_>, Vec<_>) = (
        a.iter().map(ParamArray::view).collect(),
        b.iter().map(ParamArray::view).collect(),
    );
    let diff = detach(py, || state::diff(&va, &vb))?;
    let views: Vec<_> = diff.iter().map(Tensor::view).collect();
    encode_to_pybytes(py, &views)
}

#[pyfunction]
fn state_replace_values<'py>(
    py: Python<'py>,
    state: &[u8],
    params: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let arrays = extract_params(params)?;
    let views: Vec<_> = arrays.iter().map(ParamArray::view).collect();
    let out = detach(py, || state::state_replace_values(state, &views))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn check_diff(py: Python<'_>, model: &[u8], diff: &[u8]) -> PyResult<()> {
    detach(py, || state::check_diff(model, diff))
}

fn value_into_py<'py>(py: Python<'py>, v: Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::None => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
        Value::Bytes(b) => PyBytes::new(py, &b).into_any(),
        Value::List(items) => {
            let items = items
                .into_iter()
                .map(|x| value_into_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Dict(items) => {
            let d = PyDict::new(py);
            for (k, x) in items {
                d.set_item(k, value_into_py(py, x)?)?;
            }
            d.into_any()
        }
        Value::Tensor(t) => tensor_into_py(py, t, false)?,
    })
}

#[pyfunction]
fn describe_message<'py>(py: Python<'py>, kind: &str, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let value = detach(py, || proto::describe(kind, data))?;
    value_into_py(py, value)
}

#[pyfunction]
fn reencode_message<'py>(
    py: Python<'py>,
    kind: &str,
    data: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let out = detach(py, || proto::reencode(kind, data))?;
    Ok(PyBytes::new(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_state, m)?)?;
    m.add_function(wrap_pyfunction!(encode_state, m)?)?;
    m.add_function(wrap_pyfunction!(serialized_diff, m)?)?;
    m.add_function(wrap_pyfunction!(state_replace_values, m)?)?;
    m.add_function(wrap_pyfunction!(check_diff, m)?)?;
    m.add_function(wrap_pyfunction!(describe_message, m)?)?;
    m.add_function(wrap_pyfunction!(reencode_message, m)?)?;
    Ok(())
}
