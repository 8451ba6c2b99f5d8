//! Bindings for syft_rs_core::batch: `permutation`, `gather_rows` and `gather_rows_many`.

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

/// A fresh output array and the addresses one row gather needs (they cross the GIL release
/// as integers).
struct Gather<'py> {
    /// Keeps the source (or its C-contiguous copy) alive while `src_addr` is read.
    _src: Bound<'py, PyUntypedArray>,
    out: Bound<'py, PyUntypedArray>,
    src_addr: usize,
    dst_addr: usize,
    rows: usize,
    row_bytes: usize,
}

/// Check `array`, make it one C-contiguous block and allocate `out` for `n` rows.
fn prepare<'py>(py: Python<'py>, array: &Bound<'py, PyAny>, n: usize) -> PyResult<Gather<'py>> {
    let array = array
        .cast::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err("gather_rows needs numpy arrays"))?;
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
    let src: Bound<'py, PyUntypedArray> = if array.is_c_contiguous() {
        array.clone()
    } else {
        np_attr(py, &NP_ASCONTIGUOUS, "ascontiguousarray")?
            .call1((array,))?
            .cast_into()?
    };
    let shape = src.shape().to_vec();
    let mut out_shape = Vec::with_capacity(shape.len());
    out_shape.push(n);
    out_shape.extend_from_slice(&shape[1..]);
    let out: Bound<'py, PyUntypedArray> = np_attr(py, &NP_EMPTY, "empty")?
        .call1((PyTuple::new(py, &out_shape)?, &dtype))?
        .cast_into()?;
    // SAFETY: reading the data pointers of two live arrays.
    let src_addr = unsafe { (*src.as_array_ptr()).fields.data } as usize;
    let dst_addr = unsafe { (*out.as_array_ptr()).fields.data } as usize;
    Ok(Gather {
        rows: shape[0],
        row_bytes: shape[1..].iter().product::<usize>() * dtype.itemsize(),
        _src: src,
        out,
        src_addr,
        dst_addr,
    })
}

/// Copy the rows of every prepared gather with the GIL released.
fn copy_rows(py: Python<'_>, jobs: &[Gather<'_>], idx: &[i64]) -> PyResult<()> {
    let plan: Vec<(usize, usize, usize, usize)> = jobs
        .iter()
        .map(|g| (g.src_addr, g.dst_addr, g.rows, g.row_bytes))
        .collect();
    let res = detach(py, move || {
        for (src_addr, dst_addr, rows, row_bytes) in plan {
            let (src_len, dst_len) = (rows * row_bytes, idx.len() * row_bytes);
            // SAFETY: each source is a C-contiguous block of `rows` rows and each output a
            // fresh one of `idx.len()` rows, both kept alive by `jobs` for the whole call;
            // nothing else writes to the outputs. Empty slices are made without touching
            // the pointers (numpy may hand out any address for a zero-size buffer).
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
            if let Err(e) = syft_rs_core::batch::gather_rows(src, rows, row_bytes, idx, dst) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    })?;
    res.map_err(|e| PyIndexError::new_err(e.to_string()))
}

fn index_slice<'a>(indices: &'a PyReadonlyArray1<'_, i64>, owned: &'a mut Vec<i64>) -> &'a [i64] {
    match indices.as_slice() {
        Ok(s) => s,
        Err(_) => {
            *owned = indices.as_array().iter().copied().collect();
            owned
        }
    }
}

/// `array[indices]` along axis 0 into a new C-contiguous array, copied row by row in Rust.
#[pyfunction]
fn gather_rows<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    indices: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut owned = Vec::new();
    let idx = index_slice(&indices, &mut owned);
    let job = prepare(py, array, idx.len())?;
    copy_rows(py, std::slice::from_ref(&job), idx)?;
    Ok(job.out.into_any())
}

/// `tuple(gather_rows(a, indices) for a in arrays)` in one call: one GIL release for all.
#[pyfunction]
fn gather_rows_many<'py>(
    py: Python<'py>,
    arrays: Vec<Bound<'py, PyAny>>,
    indices: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut owned = Vec::new();
    let idx = index_slice(&indices, &mut owned);
    let jobs = arrays
        .iter()
        .map(|a| prepare(py, a, idx.len()))
        .collect::<PyResult<Vec<_>>>()?;
    copy_rows(py, &jobs, idx)?;
    PyTuple::new(py, jobs.into_iter().map(|g| g.out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(permutation, m)?)?;
    m.add_function(wrap_pyfunction!(gather_rows, m)?)?;
    m.add_function(wrap_pyfunction!(gather_rows_many, m)?)?;
    Ok(())
}
