//! syft-proto `messaging.v1` (ObjectMessage, SyftMessage and its members) and `generic.pointers.v1.PointerTensor`.

use super::execution::{CommunicationAction, ComputationAction};
use super::types::{Arg, Id, Shape, TorchTensor};

/// `syft_proto.generic.pointers.v1.PointerTensor` (decoded, never executed).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PointerTensor {
    #[prost(message, optional, tag = "1")]
    pub object_id: ::core::option::Option<Id>,
    #[prost(message, optional, tag = "2")]
    pub location_id: ::core::option::Option<Id>,
    #[prost(message, optional, tag = "3")]
    pub object_id_at_location: ::core::option::Option<Id>,
    #[prost(message, optional, tag = "4")]
    pub shape: ::core::option::Option<Shape>,
    #[prost(string, tag = "5")]
    pub point_to_attr: ::prost::alloc::string::String,
    #[prost(bool, tag = "6")]
    pub garbage_collect_data: bool,
}

/// `google.protobuf.Empty`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, ::prost::Message)]
pub struct Empty {}

/// `syft_proto.messaging.v1.ObjectMessage`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ObjectMessage {
    #[prost(message, optional, tag = "1")]
    pub tensor: ::core::option::Option<TorchTensor>,
}

/// `syft_proto.messaging.v1.ForceObjectDeleteMessage` (v0.5.x: repeated ids).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ForceObjectDeleteMessage {
    #[prost(message, repeated, tag = "1")]
    pub object_ids: ::prost::alloc::vec::Vec<Id>,
}

/// `syft_proto.messaging.v1.GetShapeMessage`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GetShapeMessage {
    #[prost(message, optional, tag = "1")]
    pub object_id: ::core::option::Option<Id>,
}

/// `syft_proto.messaging.v1.IsNoneMessage`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct IsNoneMessage {
    #[prost(message, optional, tag = "1")]
    pub object_id: ::core::option::Option<Id>,
}

/// `syft_proto.messaging.v1.ObjectRequestMessage`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ObjectRequestMessage {
    #[prost(message, optional, tag = "1")]
    pub object_id: ::core::option::Option<Id>,
    #[prost(string, tag = "2")]
    pub reason: ::prost::alloc::string::String,
}

/// `syft_proto.messaging.v1.TensorCommandMessage`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TensorCommandMessage {
    #[prost(oneof = "tensor_command_message::Action", tags = "1, 2")]
    pub action: ::core::option::Option<tensor_command_message::Action>,
}

/// Oneof of [`TensorCommandMessage`].
pub mod tensor_command_message {
    use super::*;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Action {
        #[prost(message, tag = "1")]
        Computation(::prost::alloc::boxed::Box<ComputationAction>),
        #[prost(message, tag = "2")]
        Communication(::prost::alloc::boxed::Box<CommunicationAction>),
    }
}

/// `syft_proto.messaging.v1.PlanCommandMessage`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PlanCommandMessage {
    #[prost(string, tag = "1")]
    pub command_name: ::prost::alloc::string::String,
    #[prost(message, repeated, tag = "2")]
    pub args: ::prost::alloc::vec::Vec<Arg>,
}

/// `syft_proto.messaging.v1.WorkerCommandMessage` (same fields as [`PlanCommandMessage`]).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct WorkerCommandMessage {
    #[prost(string, tag = "1")]
    pub command_name: ::prost::alloc::string::String,
    #[prost(message, repeated, tag = "2")]
    pub args: ::prost::alloc::vec::Vec<Arg>,
}

/// `syft_proto.messaging.v1.SearchMessage`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SearchMessage {
    #[prost(message, repeated, tag = "1")]
    pub query: ::prost::alloc::vec::Vec<Id>,
}

/// `syft_proto.messaging.v1.SyftMessage` (not used on the model-centric wire).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SyftMessage {
    #[prost(
        oneof = "syft_message::Contents",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    )]
    pub contents: ::core::option::Option<syft_message::Contents>,
}

/// Oneof of [`SyftMessage`].
pub mod syft_message {
    use super::*;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Contents {
        #[prost(message, tag = "1")]
        ContentsEmptyMsg(Empty),
        #[prost(message, tag = "2")]
        ContentsDeleteMsg(ForceObjectDeleteMessage),
        #[prost(message, tag = "3")]
        ContentsGetShapeMsg(GetShapeMessage),
        #[prost(message, tag = "4")]
        ContentsIsNoneMsg(IsNoneMessage),
        #[prost(message, tag = "5")]
        ContentsObjectMsg(::prost::alloc::boxed::Box<ObjectMessage>),
        #[prost(message, tag = "6")]
        ContentsObjectRequestMsg(ObjectRequestMessage),
        #[prost(message, tag = "7")]
        ContentsTensorCmdMsg(TensorCommandMessage),
        #[prost(message, tag = "8")]
        ContentsPlanCmdMsg(PlanCommandMessage),
        #[prost(message, tag = "9")]
        ContentsWorkerCmdMsg(WorkerCommandMessage),
        #[prost(message, tag = "10")]
        ContentsSearchMsg(SearchMessage),
    }
}
