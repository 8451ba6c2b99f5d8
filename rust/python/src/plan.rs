//! Bindings for syft_rs_core::plan: `_core.Plan` (load, re-encode, execute with the GIL released).

use std::sync::Arc;

use numpy::{PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyType};
use syft_rs_core::interp::Input;
use syft_rs_core::ops::Dialect;
use syft_rs_core::plan::Plan;
use syft_rs_core::tensor::{Element, Scalar, Tensor};

use crate::errors::detach;
use crate::state::{tensor_into_py, ParamArray};

/// A loaded, validated, immutable PySyft Plan; safe to share between threads.
#[pyclass(name = "Plan", module = "syft_rs._core", frozen)]
pub struct PyPlan {
    inner: Arc<Plan>,
}

/// A numpy input borrowed (read-locked) for the duration of a run, or a scalar made a tensor.
enum Held<'py> {
    Array(ParamArray<'py>),
    Own(Option<Tensor>),
}

fn scalar_tensor<T: Element>(v: T) -> Tensor {
    T::wrap(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), v))
}

fn hold<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    i: usize,
    dialect: Dialect,
) -> PyResult<Held<'py>> {
    // Arrays first: they are what a training loop passes on every step.
    if let Some(a) = ParamArray::borrow(obj).map_err(|e| prefix_type_error(i, e))? {
        return Ok(Held::Array(a));
    }
    // numpy scalars become 0-d arrays of their dtype (np.float64 is also a Python float).
    static NUMPY_GENERIC: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    if obj.is_instance(NUMPY_GENERIC.import(py, "numpy", "generic")?)? {
        let arr = py.import("numpy")?.call_method1("asarray", (obj,))?;
        if let Some(a) = ParamArray::borrow(&arr).map_err(|e| prefix_type_error(i, e))? {
            return Ok(Held::Array(a));
        }
        return Err(unsupported(i, &arr));
    }
    // Python scalars (bool before int: bool is an int subclass).
    if obj.is_exact_instance_of::<PyBool>() {
        return Ok(Held::Own(Some(scalar_tensor(obj.extract::<bool>()?))));
    }
    if obj.is_instance_of::<PyInt>() {
        let t = match dialect {
            Dialect::Torch => {
                let v: i64 = obj.extract().map_err(|_| {
                    PyOverflowError::new_err(format!("input #{i}: int does not fit in int64"))
                })?;
                Scalar::Int(v).to_tensor(syft_rs_core::DType::I64)
            }
            Dialect::Tfjs => scalar_tensor(obj.extract::<f64>()? as f32),
        };
        return Ok(Held::Own(Some(t)));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Held::Own(Some(scalar_tensor(obj.extract::<f64>()? as f32))));
    }
    Err(unsupported(i, obj))
}

fn unsupported(i: usize, obj: &Bound<'_, PyAny>) -> PyErr {
    let message = match obj.cast::<PyUntypedArray>() {
        Ok(arr) => arr.dtype().str().map(|d| {
            format!(
                "unsupported dtype {d} (supported: float32, float64, int32, int64, uint8, bool)"
            )
        }),
        Err(_) => obj.get_type().name().map(|n| {
            format!("expected a numpy array, a numpy scalar, bool, int or float, got {n}")
        }),
    };
    match message {
        Ok(m) => PyTypeError::new_err(format!("input #{i}: {m}")),
        Err(e) => e,
    }
}

fn prefix_type_error(i: usize, e: PyErr) -> PyErr {
    PyTypeError::new_err(format!("input #{i}: {e}"))
}

#[pymethods]
impl PyPlan {
    /// Decode and validate a Plan (`framework`: None, "torch" or "tfjs").
    #[staticmethod]
    #[pyo3(signature = (data, framework = None, *, reassociate = true))]
    fn from_bytes(
        py: Python<'_>,
        data: &[u8],
        framework: Option<&str>,
        reassociate: bool,
    ) -> PyResult<Self> {
        let opts = syft_rs_core::plan::LoadOptions {
            optimize: true,
            reassociate,
        };
        let plan = detach(py, || Plan::from_bytes_with(data, framework, opts))?;
        Ok(PyPlan {
            inner: Arc::new(plan),
        })
    }

    /// The Plan message, re-encoded.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let inner = self.inner.clone();
        let bytes = detach(py, move || Ok(inner.to_bytes()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    #[getter]
    fn dialect(&self) -> &'static str {
        self.inner.dialect().name()
    }

    #[getter]
    fn num_inputs(&self) -> usize {
        self.inner.num_inputs()
    }

    #[getter]
    fn num_outputs(&self) -> usize {
        self.inner.num_outputs()
    }

    #[getter]
    fn commands(&self) -> Vec<String> {
        self.inner.commands().to_vec()
    }

    /// Number of steps that run after load-time optimization.
    #[getter]
    fn num_steps(&self) -> usize {
        self.inner.num_steps()
    }

    /// Run the plan with the GIL released; numpy inputs are read in place.
    fn execute(&self, py: Python<'_>, inputs: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<Py<PyAny>>> {
        let dialect = self.inner.dialect();
        let mut held: Vec<Held<'_>> = inputs
            .iter()
            .enumerate()
            .map(|(i, o)| hold(py, o, i, dialect))
            .collect::<PyResult<_>>()?;
        let args: Vec<Input<'_>> = held
            .iter_mut()
            .map(|h| match h {
                Held::Array(a) => Input::View(a.view()),
                Held::Own(t) => Input::Own(t.take().unwrap_or_else(|| unreachable!())),
            })
            .collect();
        let plan = &*self.inner;
        let out = detach(py, move || plan.execute(args))?;
        out.into_iter()
            .map(|t| Ok(tensor_into_py(py, t, false)?.unbind()))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "Plan(name={:?}, dialect={:?}, inputs={}, outputs={}, actions={})",
            self.inner.name(),
            self.inner.dialect().name(),
            self.inner.num_inputs(),
            self.inner.num_outputs(),
            self.inner.commands().len()
        )
    }
}

/// Route float32 GEMMs to an external ILP64 `cblas_sgemm` at `address` (opt-in, used by
/// the benches to compare against numpy's OpenBLAS). Returns False if one was already set.
///
/// The caller vouches for the address: it must be a `cblas_sgemm` with 64-bit integers
/// (for numpy ≥ 2 wheels: `scipy_cblas_sgemm64_` of the bundled scipy-openblas).
#[pyfunction]
fn _set_external_sgemm(address: usize) -> PyResult<bool> {
    if address == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "null function address",
        ));
    }
    // SAFETY: the documented contract of this private function; the pointer is only called
    // with the CBLAS argument list.
    let f: syft_rs_core::ops::linalg::CblasSgemm = unsafe { std::mem::transmute(address) };
    Ok(unsafe { syft_rs_core::ops::linalg::set_external_sgemm(f) })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPlan>()?;
    m.add_function(wrap_pyfunction!(_set_external_sgemm, m)?)?;
    Ok(())
}
