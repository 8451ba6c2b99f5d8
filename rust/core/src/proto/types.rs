//! syft-proto `types.syft.v1` (Id, Shape, Arg, ArgList) and `types.torch.v1` (Size, TorchTensor, Parameter).

use super::execution::{Placeholder, PlaceholderId};
use super::messaging::PointerTensor;
pub use super::tensor_data::TensorData;

/// `syft_proto.types.syft.v1.Id`: an object id, either an integer or a string.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct Id {
    #[prost(oneof = "id::Id", tags = "1, 2")]
    pub id: ::core::option::Option<id::Id>,
}

/// Oneof of [`Id`].
pub mod id {
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Oneof)]
    pub enum Id {
        #[prost(int64, tag = "1")]
        IdInt(i64),
        #[prost(string, tag = "2")]
        IdStr(::prost::alloc::string::String),
    }
}

impl Id {
    /// `Id{id_int: v}`.
    pub fn int(v: i64) -> Id {
        Id {
            id: Some(id::Id::IdInt(v)),
        }
    }

    /// `Id{id_str: s}`.
    pub fn str(s: impl Into<String>) -> Id {
        Id {
            id: Some(id::Id::IdStr(s.into())),
        }
    }

    /// The id as a lookup key: `id_int` in decimal, `id_str` as is, `""` when unset.
    ///
    /// `Id{id_int: 123}` and `Id{id_str: "123"}` therefore name the same value, as in syft.js.
    pub fn key(&self) -> String {
        match &self.id {
            Some(id::Id::IdInt(v)) => v.to_string(),
            Some(id::Id::IdStr(s)) => s.clone(),
            None => String::new(),
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id::Id::IdInt(v)) => write!(f, "{v}"),
            Some(id::Id::IdStr(s)) => write!(f, "{s:?}"),
            None => f.write_str("<unset>"),
        }
    }
}

/// `syft_proto.types.syft.v1.Shape`.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct Shape {
    #[prost(int32, repeated, tag = "1")]
    pub dims: ::prost::alloc::vec::Vec<i32>,
}

/// `syft_proto.types.torch.v1.Size` (same layout as [`Shape`]).
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct Size {
    #[prost(int32, repeated, tag = "1")]
    pub dims: ::prost::alloc::vec::Vec<i32>,
}

/// `syft_proto.types.syft.v1.Arg`: one action argument.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Arg {
    #[prost(oneof = "arg::Arg", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11")]
    pub arg: ::core::option::Option<arg::Arg>,
}

/// Oneof of [`Arg`]. Large members are boxed so that argument lists stay compact.
pub mod arg {
    use super::*;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Arg {
        #[prost(bool, tag = "1")]
        ArgBool(bool),
        #[prost(int64, tag = "2")]
        ArgInt(i64),
        #[prost(float, tag = "3")]
        ArgFloat(f32),
        #[prost(string, tag = "4")]
        ArgStr(::prost::alloc::string::String),
        #[prost(message, tag = "5")]
        ArgShape(Shape),
        #[prost(message, tag = "6")]
        ArgTensor(::prost::alloc::boxed::Box<TorchTensor>),
        #[prost(message, tag = "7")]
        ArgTorchParam(::prost::alloc::boxed::Box<Parameter>),
        #[prost(message, tag = "8")]
        ArgPointerTensor(::prost::alloc::boxed::Box<PointerTensor>),
        #[prost(message, tag = "9")]
        ArgPlaceholder(::prost::alloc::boxed::Box<Placeholder>),
        #[prost(message, tag = "10")]
        ArgPlaceholderId(PlaceholderId),
        #[prost(message, tag = "11")]
        ArgList(ArgList),
    }
}

impl Arg {
    /// Wrap a oneof member.
    pub fn new(arg: arg::Arg) -> Arg {
        Arg { arg: Some(arg) }
    }
}

/// `syft_proto.types.syft.v1.ArgList`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ArgList {
    #[prost(message, repeated, tag = "1")]
    pub args: ::prost::alloc::vec::Vec<Arg>,
}

/// `syft_proto.types.torch.v1.TorchTensor`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TorchTensor {
    #[prost(message, optional, tag = "1")]
    pub id: ::core::option::Option<Id>,
    #[prost(oneof = "torch_tensor::Contents", tags = "2, 3")]
    pub contents: ::core::option::Option<torch_tensor::Contents>,
    #[prost(message, optional, boxed, tag = "4")]
    pub chain: ::core::option::Option<::prost::alloc::boxed::Box<TorchTensor>>,
    #[prost(message, optional, boxed, tag = "5")]
    pub grad_chain: ::core::option::Option<::prost::alloc::boxed::Box<TorchTensor>>,
    #[prost(string, repeated, tag = "6")]
    pub tags: ::prost::alloc::vec::Vec<::prost::alloc::string::String>,
    #[prost(string, tag = "7")]
    pub description: ::prost::alloc::string::String,
    #[prost(enumeration = "torch_tensor::Serializer", tag = "8")]
    pub serializer: i32,
}

/// Oneof and enum of [`TorchTensor`].
pub mod torch_tensor {
    use super::*;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Contents {
        /// Boxed: `TensorData` holds one vector per dtype.
        #[prost(message, tag = "2")]
        ContentsData(::prost::alloc::boxed::Box<TensorData>),
        #[prost(bytes, tag = "3")]
        ContentsBin(::prost::alloc::vec::Vec<u8>),
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Serializer {
        Unspecified = 0,
        Torch = 1,
        Numpy = 2,
        Tf = 3,
        All = 4,
    }

    impl Serializer {
        /// The proto enum value name (`SERIALIZER_ALL`, …).
        pub fn as_str_name(self) -> &'static str {
            match self {
                Serializer::Unspecified => "SERIALIZER_UNSPECIFIED",
                Serializer::Torch => "SERIALIZER_TORCH",
                Serializer::Numpy => "SERIALIZER_NUMPY",
                Serializer::Tf => "SERIALIZER_TF",
                Serializer::All => "SERIALIZER_ALL",
            }
        }
    }
}

/// `syft_proto.types.torch.v1.Parameter` (syft.js `TorchParameter`).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Parameter {
    #[prost(message, optional, tag = "1")]
    pub id: ::core::option::Option<Id>,
    #[prost(message, optional, tag = "2")]
    pub tensor: ::core::option::Option<TorchTensor>,
    #[prost(bool, tag = "3")]
    pub requires_grad: bool,
    #[prost(message, optional, tag = "4")]
    pub grad: ::core::option::Option<TorchTensor>,
}
