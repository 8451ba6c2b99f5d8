//! Bindings for syft_rs_core::variants: the get-plan variants of an uploaded Plan.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use syft_rs_core::variants;

use crate::errors::detach;

#[pyfunction]
fn plan_variants<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    let v = detach(py, || variants::plan_variants(data))?;
    let out = PyDict::new(py);
    for (key, value) in [
        ("list", v.list),
        ("tfjs", v.tfjs),
        ("torchscript", v.torchscript),
    ] {
        match value {
            Some(bytes) => out.set_item(key, PyBytes::new(py, &bytes))?,
            None => out.set_item(key, py.None())?,
        }
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(plan_variants, m)?)?;
    Ok(())
}
