//! The one error type of syft-rs-core, grouped by phase: decode, load, execute, data.

use thiserror::Error;

/// Result alias used across the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the core can report. Each variant maps to one Python class in
/// `syft_rs.errors` (see `rust/python/src/errors.rs`).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    // ---- decode ----------------------------------------------------------------------
    /// Bytes that are not a valid encoding of `message` → `PlanDecodeError`.
    #[error("Failed to decode {message}: {detail}")]
    Decode {
        message: &'static str,
        detail: String,
    },
    /// Bytes that do not decode, with a caller-specific complete message (e.g. the node's
    /// `Diff is not a valid State: …`) → `PlanDecodeError`.
    #[error("{0}")]
    DecodeText(String),

    // ---- load ------------------------------------------------------------------------
    /// Unknown commands / unsupported argument kinds, all at once → `UnsupportedOpError`.
    #[error("{0}")]
    UnsupportedOps(String),
    /// Bad signature, literal kind or state layout → `PlanValidationError`.
    #[error("Action #{index} '{command}': {detail}")]
    Validation {
        index: usize,
        command: String,
        detail: String,
    },
    /// A plan-level validation failure not tied to one action → `PlanValidationError`.
    #[error("{0}")]
    PlanValidation(String),
    /// Reference to an undefined id → `MissingVariableError`.
    #[error("{0}")]
    MissingVariable(String),

    // ---- execute ---------------------------------------------------------------------
    /// Wrong number of inputs → `NotEnoughArgsError`.
    #[error("Plan '{plan}' expects {expected} inputs, got {got}")]
    NotEnoughArgs {
        plan: String,
        expected: usize,
        got: usize,
    },
    /// Shape failure → `ShapeError`. `detail` is the complete message.
    #[error("{0}")]
    Shape(String),
    /// Dtype failure → `DTypeError`.
    #[error("{0}")]
    DType(String),
    /// Any other kernel failure → `PlanExecutionError`.
    #[error("{0}")]
    Execution(String),

    // ---- data ------------------------------------------------------------------------
    /// Parameter lists that do not match (diffs, checkpoints) → `DiffMismatchError`.
    #[error("{0}")]
    Mismatch(String),
    /// A caller-supplied value that is invalid for reasons other than the above → `ValueError`.
    #[error("{0}")]
    InvalidArgument(String),
}

impl Error {
    /// Shorthand for a decode error.
    pub fn decode(message: &'static str, detail: impl Into<String>) -> Self {
        Error::Decode {
            message,
            detail: detail.into(),
        }
    }
}
