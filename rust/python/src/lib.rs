//! The `syft_rs._core` extension module: one binding file per core module.

use pyo3::prelude::*;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn mallopt(param: i32, value: i32) -> i32;
}

/// glibc returns large blocks to the OS (munmap, heap trim) as soon as they are released,
/// so every plan step would fault its tensor buffers in afresh (measured: 1.6 ms instead of
/// 0.23 ms per MNIST step at batch 1). Keep blocks up to 32 MiB on the heap and trim only
/// above 64 MiB of free top: released buffers are then reused. glibc's own dynamic
/// threshold does the same for one block at a time; a plan has several live at once.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; M_TRIM_THRESHOLD = -1,
    // M_MMAP_THRESHOLD = -3 in glibc's malloc.h.
    unsafe {
        mallopt(-1, 64 << 20);
        mallopt(-3, 32 << 20);
    }
}

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
    tune_allocator();
    state::register(m)?;
    plan::register(m)?;
    batch::register(m)?;
    average::register(m)?;
    plan_spec::register(m)?;
    variants::register(m)?;
    Ok(())
}
