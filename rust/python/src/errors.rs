//! Error mapping (core `Error` -> `syft_rs.errors` classes) and the one helper that releases the GIL.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use syft_rs_core::Error;

pyo3::import_exception!(syft_rs.errors, PlanDecodeError);
pyo3::import_exception!(syft_rs.errors, UnsupportedOpError);
pyo3::import_exception!(syft_rs.errors, PlanValidationError);
pyo3::import_exception!(syft_rs.errors, MissingVariableError);
pyo3::import_exception!(syft_rs.errors, NotEnoughArgsError);
pyo3::import_exception!(syft_rs.errors, ShapeError);
pyo3::import_exception!(syft_rs.errors, DTypeError);
pyo3::import_exception!(syft_rs.errors, PlanExecutionError);
pyo3::import_exception!(syft_rs.errors, DiffMismatchError);

/// Convert a core error into the matching Python exception.
pub fn to_py(err: Error) -> PyErr {
    let msg = err.to_string();
    match err {
        Error::Decode { .. } | Error::DecodeText(_) => PlanDecodeError::new_err(msg),
        Error::UnsupportedOps(_) => UnsupportedOpError::new_err(msg),
        Error::Validation { .. } | Error::PlanValidation(_) => PlanValidationError::new_err(msg),
        Error::MissingVariable(_) => MissingVariableError::new_err(msg),
        Error::NotEnoughArgs { .. } => NotEnoughArgsError::new_err(msg),
        Error::Shape(_) => ShapeError::new_err(msg),
        Error::DType(_) => DTypeError::new_err(msg),
        Error::Execution(_) => PlanExecutionError::new_err(msg),
        Error::Mismatch(_) => DiffMismatchError::new_err(msg),
        Error::InvalidArgument(_) => PyValueError::new_err(msg),
    }
}

/// Run `f` with the GIL released and map its error. This is the only place the extension
/// releases the GIL; a panic inside `f` is caught and reported as `PlanExecutionError`
/// instead of unwinding into Python.
pub fn detach<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, Error> + Send,
{
    let out = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    match out {
        Ok(r) => r.map_err(to_py),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(PlanExecutionError::new_err(format!(
                "internal error (please report): {detail}"
            )))
        }
    }
}
