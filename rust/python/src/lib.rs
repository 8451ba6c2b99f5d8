//! The `syft_rs._core` extension module: one binding file per core module.

use pyo3::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod average;
mod batch;
mod errors;
mod plan;
mod plan_spec;
mod state;
mod variants;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    state::register(m)?;
    plan::register(m)?;
    batch::register(m)?;
    average::register(m)?;
    plan_spec::register(m)?;
    variants::register(m)?;
    Ok(())
}
