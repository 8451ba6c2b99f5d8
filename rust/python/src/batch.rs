//! Bindings for syft_rs_core::batch: `permutation` and `gather_rows`.

use numpy::prelude::*;
use numpy::{IntoPyArray, PyArray1, PyArrayDescrMethods, PyReadonlyArray1, PyUntypedArray};
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

use crate::errors::detach;

/// `numpy.empty` and `numpy.ascontiguousarray`, looked up once.
static NP_EMPTY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static NP_ASCONTIGUOUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn np_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let f = cell.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("numpy")?.getattr(name)?.unbind())
    })?;
    Ok(f.bind(py).clone())
}

/// Deterministic uniform permutation of `0..n-1` for `(seed, epoch)`.
#[pyfunction]
fn permutation(
    py: Python<'_>,
    n: usize,
    seed: u64,
    epoch: u64,
) -> PyResult<Bound<'_, PyArray1<i64>>> {
    let perm = detach(py, || Ok(syft_rs_core::batch::permutation(n, seed, epoch)))?;
    Ok(perm.into_pyarray(py))
}

/// `array[indices]` along axis 0 into a new C-contiguous array, copied row by row in Rust.
#[pyfunction]
fn gather_rows<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyUntypedArray>,
    indices: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyAny>> {
    if array.ndim() == 0 {
        return Err(PyValueError::new_err(
            "gather_rows needs an array with at least one dimension",
        ));
    }
    let dtype = array.dtype();
    if dtype.has_object() {
        return Err(PyTypeError::new_err(
            "gather_rows does not support object arrays",
        ));
    }
    // Rows are copied as bytes, so the source must be one C-contiguous block.
    let src_obj: Bound<'py, PyUntypedArray> = if array.is_c_contiguous() {
        array.clone()
    } else {
        np_attr(py, &NP_ASCONTIGUOUS, "ascontiguousarray")?
            .call1((array,))?
            .cast_into()?
    };
    let shape = src_obj.shape().to_vec();
    let rows = shape[0];
    let row_bytes = shape[1..].iter().product::<usize>() * dtype.itemsize();

    let idx_owned: Vec<i64>;
    let idx: &[i64] = match indices.as_slice() {
        Ok(s) => s,
        Err(_) => {
            idx_owned = indices.as_array().iter().copied().collect();
            &idx_owned
        }
    };

    let mut out_shape = Vec::with_capacity(shape.len());
    out_shape.push(idx.len());
    out_shape.extend_from_slice(&shape[1..]);
    let out: Bound<'py, PyUntypedArray> = np_attr(py, &NP_EMPTY, "empty")?
        .call1((PyTuple::new(py, &out_shape)?, &dtype))?
        .cast_into()?;

    // SAFETY: both arrays are C-contiguous with the sizes computed above; `src_obj` and
    // `out` stay referenced for the whole call, and `out` is fresh, so nothing else
    // writes to it. Addresses cross the GIL release as integers.
    let src_addr = unsafe { (*src_obj.as_array_ptr()).fields.data } as usize;
    let dst_addr = unsafe { (*out.as_array_ptr()).fields.data } as usize;
    let dst_len = idx.len() * row_bytes;
    let res = detach(py, move || {
        let src_len = rows * row_bytes;
        // Empty slices are made without touching the pointers (numpy may hand out any
        // address for a zero-size buffer).
        let src: &[u8] = if src_len == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(src_addr as *const u8, src_len) }
        };
        let dst: &mut [u8] = if dst_len == 0 {
            &mut []
        } else {
            unsafe { std::slice::from_raw_parts_mut(dst_addr as *mut u8, dst_len) }
        };
        Ok(syft_rs_core::batch::gather_rows(
            src, rows, row_bytes, idx, dst,
        ))
    })?;
    res.map_err(|e| PyIndexError::new_err(e.to_string()))?;
    Ok(out.into_any())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(permutation, m)?)?;
    m.add_function(wrap_pyfunction!(gather_rows, m)?)?;
    Ok(())
}
