//! syft-rs-core: the syft-proto codec, the PySyft Plan interpreter and its tensor kernels,
//! batching and federated averaging. Pure Rust: nothing here knows about Python.

pub mod average;
pub mod batch;
pub mod error;
pub mod interp;
pub mod ops;
pub mod plan;
pub mod pool;
pub mod proto;
pub mod state;
pub mod tensor;
pub mod variants;

pub use error::{Error, Result};
pub use tensor::{DType, Tensor};
