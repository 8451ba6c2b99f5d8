//! prost structs for the syft-proto 0.5.3 messages (derive only, no build script) and conversions.
//!
//! Structs are split by proto package (`types`, `execution`, `messaging`) and re-exported
//! flat; prost's oneof enums live in the snake_case submodules (`arg::Arg`,
//! `torch_tensor::Contents`, …). A few messages have hand-written codecs where derive would
//! not give the wire format the project needs: [`TensorData`] (bulk float copies),
//! [`ComputationAction`] (oneof `target` spans fields 2–4 and 9; kwargs kept in wire order),
//! [`Plan`], [`Protocol`] and `TypeMap` (maps written sorted by key).
//!
//! Encoding rules (plans.md §3.3): fields in field-number order, map entries sorted by key,
//! repeated scalars packed, proto3 defaults omitted, oneof members and present
//! sub-messages always written. Decoding accepts packed and unpacked repeated scalars,
//! validates UTF-8 and bounds recursion (prost's limit of 100 nested messages).

mod convert;
mod describe;
mod execution;
mod maps;
mod messaging;
mod tensor_data;
mod types;

pub use convert::{
    dims_of, size_of, take_decoded, take_tensor, tensor_data_of, tensor_from_proto,
    tensor_into_proto, tensor_to_proto, torch_tensor_into_tensor, Decoded,
};
pub use describe::{describe, reencode, Value, KINDS};
pub use execution::{
    computation_action, nested_type_wrapper, placeholder, state_tensor, CommunicationAction,
    ComputationAction, InputTypeDescriptor, Kwarg, NestedTypeWrapper, Placeholder, PlaceholderId,
    Plan, Protocol, Role, State, StateTensor, StorageAction,
};
pub use messaging::{
    syft_message, tensor_command_message, Empty, ForceObjectDeleteMessage, GetShapeMessage,
    IsNoneMessage, ObjectMessage, ObjectRequestMessage, PlanCommandMessage, PointerTensor,
    SearchMessage, SyftMessage, TensorCommandMessage, WorkerCommandMessage,
};
pub use tensor_data::{borrow_window, BorrowedRun, TensorData};
pub use types::{arg, id, torch_tensor, Arg, ArgList, Id, Parameter, Shape, Size, TorchTensor};

use crate::error::{Error, Result};

/// A top-level message this crate decodes by name.
pub trait SyftProto: prost::Message + Default {
    /// The short message name used in error messages (`Failed to decode <NAME>: …`).
    const NAME: &'static str;
}

macro_rules! syft_proto {
    ($($t:ident),* $(,)?) => {
        $(impl SyftProto for $t {
            const NAME: &'static str = stringify!($t);
        })*
    };
}
syft_proto!(
    Id,
    Shape,
    Size,
    Arg,
    ArgList,
    TensorData,
    TorchTensor,
    Parameter,
    PlaceholderId,
    Placeholder,
    ComputationAction,
    StateTensor,
    State,
    Role,
    Plan,
    Protocol,
    NestedTypeWrapper,
    PointerTensor,
    ObjectMessage,
    SyftMessage,
);

/// prost's error text without its generic prefix (`TensorData.dtype: invalid string value…`).
pub fn decode_detail(err: &prost::DecodeError) -> String {
    let text = err.to_string();
    text.strip_prefix("failed to decode Protobuf message: ")
        .map(str::to_string)
        .unwrap_or(text)
}

/// Decode `bytes` as `M`; failures are [`Error::Decode`] naming `M`.
pub fn decode<M: SyftProto>(bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|e| Error::decode(M::NAME, decode_detail(&e)))
}

/// Encode `msg` with the project's rules (see the module docs).
pub fn encode<M: prost::Message>(msg: &M) -> Vec<u8> {
    msg.encode_to_vec()
}

#[cfg(test)]
mod tests;
