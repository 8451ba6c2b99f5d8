//! Bindings for syft_rs_core::average.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use syft_rs_core::average;

use crate::errors::detach;
use crate::state::{extract_params, tensor_into_py, ParamArray};

#[pyfunction]
fn mean_diffs<'py>(py: Python<'py>, diffs: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let items = diffs.try_iter()?.collect::<PyResult<Vec<_>>>()?;
    let bytes = items
        .iter()
        .map(|b| b.cast::<PyBytes>().map(|b| b.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let mean = detach(py, || average::mean_diffs(&bytes))?;
    let arrays = mean
        .into_iter()
        .map(|t| tensor_into_py(py, t, false))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, arrays)
}

#[pyfunction]
fn apply_diff<'py>(
    py: Python<'py>,
    checkpoint: &[u8],
    avg: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let arrays = extract_params(avg)?;
    let views: Vec<_> = arrays.iter().map(ParamArray::view).collect();
    let out = detach(py, || average::apply_diff(checkpoint, &views))?;
    Ok(PyBytes::new(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mean_diffs, m)?)?;
    m.add_function(wrap_pyfunction!(apply_diff, m)?)?;
    Ok(())
}
