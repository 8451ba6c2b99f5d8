//! syft-proto `execution.v1`: placeholders, actions, State, Role, Plan, Protocol, type wrappers.

use std::collections::BTreeMap;

use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    bool as pbool, bytes as pbytes, message, skip_field, string, DecodeContext, WireType,
};
use prost::DecodeError;

use super::maps::{encode_map, encoded_len_map, merge_map};
use super::messaging::PointerTensor;
use super::types::{Arg, Id, Parameter, Shape, TorchTensor};

/// `syft_proto.execution.v1.PlaceholderId`.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct PlaceholderId {
    #[prost(message, optional, tag = "1")]
    pub id: ::core::option::Option<Id>,
}

/// `syft_proto.execution.v1.Placeholder`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Placeholder {
    #[prost(oneof = "placeholder::Child", tags = "1, 2")]
    pub child: ::core::option::Option<placeholder::Child>,
    #[prost(message, optional, tag = "3")]
    pub id: ::core::option::Option<Id>,
    #[prost(string, repeated, tag = "4")]
    pub tags: ::prost::alloc::vec::Vec<::prost::alloc::string::String>,
    #[prost(string, tag = "5")]
    pub description: ::prost::alloc::string::String,
    #[prost(message, optional, tag = "6")]
    pub expected_shape: ::core::option::Option<Shape>,
}

/// Oneof of [`Placeholder`].
pub mod placeholder {
    use super::*;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Child {
        #[prost(message, tag = "1")]
        ChildTensor(::prost::alloc::boxed::Box<TorchTensor>),
        #[prost(message, tag = "2")]
        ChildParameter(::prost::alloc::boxed::Box<Parameter>),
    }
}

/// One keyword argument of an action: an entry `{1 key, 2 value}` of the proto3 map
/// `kwargs`. Kept as a list so that wire order survives (the TF.js dialect passes kwargs
/// positionally).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Kwarg {
    #[prost(string, tag = "1")]
    pub key: ::prost::alloc::string::String,
    #[prost(message, optional, tag = "2")]
    pub value: ::core::option::Option<Arg>,
}

/// `syft_proto.execution.v1.ComputationAction` (also used for `CommunicationAction` and
/// `StorageAction`, which have the same fields).
///
/// The codec is hand-written: the `target` oneof spans fields 9, 2, 3, 4, and `target_id`
/// (9) must be written after field 8 to keep field-number order.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct ComputationAction {
    /// Field 1.
    pub command: String,
    /// Oneof `target` (fields 9, 2, 3, 4).
    pub target: Option<computation_action::Target>,
    /// Field 5.
    pub args: Vec<Arg>,
    /// Field 6, map entries in wire order; duplicates are kept as they came (see
    /// [`ComputationAction::effective_kwargs`]).
    pub kwargs: Vec<Kwarg>,
    /// Field 7.
    pub return_ids: Vec<Id>,
    /// Field 8.
    pub return_placeholder_ids: Vec<PlaceholderId>,
}

/// `CommunicationAction`: same fields as [`ComputationAction`].
pub type CommunicationAction = ComputationAction;
/// `StorageAction`: same fields as [`ComputationAction`].
pub type StorageAction = ComputationAction;

/// Oneof of [`ComputationAction`].
pub mod computation_action {
    use super::*;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Target {
        #[prost(message, tag = "9")]
        TargetId(Id),
        #[prost(message, tag = "2")]
        TargetPointer(::prost::alloc::boxed::Box<PointerTensor>),
        #[prost(message, tag = "3")]
        TargetPlaceholderId(PlaceholderId),
        #[prost(message, tag = "4")]
        TargetTensor(::prost::alloc::boxed::Box<TorchTensor>),
    }
}

impl ComputationAction {
    /// The keyword arguments as a map reader sees them: each key once, at the position of
    /// its first occurrence, with the value of its last occurrence (proto3 map semantics,
    /// and the order a JavaScript object would keep).
    pub fn effective_kwargs(&self) -> Vec<(&str, Option<&Arg>)> {
        let mut out: Vec<(&str, Option<&Arg>)> = Vec::with_capacity(self.kwargs.len());
        if self.kwargs.len() <= 16 {
            for kw in &self.kwargs {
                match out.iter_mut().find(|(k, _)| *k == kw.key) {
                    Some(slot) => slot.1 = kw.value.as_ref(),
                    None => out.push((&kw.key, kw.value.as_ref())),
                }
            }
        } else {
            // Hostile inputs may carry many entries: stay linear.
            let mut index = std::collections::HashMap::with_capacity(self.kwargs.len());
            for kw in &self.kwargs {
                match index.get(kw.key.as_str()) {
                    Some(&i) => out[i] = (kw.key.as_str(), kw.value.as_ref()),
                    None => {
                        index.insert(kw.key.as_str(), out.len());
                        out.push((&kw.key, kw.value.as_ref()));
                    }
                }
            }
        }
        out
    }

    /// The value of keyword `name` (last occurrence wins), if present.
    pub fn kwarg(&self, name: &str) -> Option<&Arg> {
        self.kwargs
            .iter()
            .rev()
            .find(|kw| kw.key == name)
            .and_then(|kw| kw.value.as_ref())
    }
}

fn push_err<T>(
    r: Result<T, DecodeError>,
    msg: &'static str,
    field: &'static str,
) -> Result<T, DecodeError> {
    r.map_err(|mut e| {
        e.push(msg, field);
        e
    })
}

impl prost::Message for ComputationAction {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        use computation_action::Target;
        if !self.command.is_empty() {
            string::encode(1, &self.command, buf);
        }
        // target_pointer (2), target_placeholder_id (3), target_tensor (4) go here;
        // target_id (9) goes last.
        if let Some(t) = &self.target {
            if !matches!(t, Target::TargetId(_)) {
                t.encode(buf);
            }
        }
        message::encode_repeated(5, &self.args, buf);
        message::encode_repeated(6, &self.kwargs, buf);
        message::encode_repeated(7, &self.return_ids, buf);
        message::encode_repeated(8, &self.return_placeholder_ids, buf);
        if let Some(t @ Target::TargetId(_)) = &self.target {
            t.encode(buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        const M: &str = "ComputationAction";
        match tag {
            1 => push_err(
                string::merge(wire_type, &mut self.command, buf, ctx),
                M,
                "command",
            ),
            2 | 3 | 4 | 9 => push_err(
                computation_action::Target::merge(&mut self.target, tag, wire_type, buf, ctx),
                M,
                "target",
            ),
            5 => push_err(
                message::merge_repeated(wire_type, &mut self.args, buf, ctx),
                M,
                "args",
            ),
            6 => push_err(
                message::merge_repeated(wire_type, &mut self.kwargs, buf, ctx),
                M,
                "kwargs",
            ),
            7 => push_err(
                message::merge_repeated(wire_type, &mut self.return_ids, buf, ctx),
                M,
                "return_ids",
            ),
            8 => push_err(
                message::merge_repeated(wire_type, &mut self.return_placeholder_ids, buf, ctx),
                M,
                "return_placeholder_ids",
            ),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        (if self.command.is_empty() {
            0
        } else {
            string::encoded_len(1, &self.command)
        }) + self.target.as_ref().map_or(0, |t| t.encoded_len())
            + message::encoded_len_repeated(5, &self.args)
            + message::encoded_len_repeated(6, &self.kwargs)
            + message::encoded_len_repeated(7, &self.return_ids)
            + message::encoded_len_repeated(8, &self.return_placeholder_ids)
    }

    fn clear(&mut self) {
        *self = ComputationAction::default();
    }
}

/// `syft_proto.execution.v1.StateTensor`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StateTensor {
    #[prost(oneof = "state_tensor::Tensor", tags = "1, 2")]
    pub tensor: ::core::option::Option<state_tensor::Tensor>,
}

/// Oneof of [`StateTensor`].
pub mod state_tensor {
    use super::*;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Tensor {
        #[prost(message, tag = "1")]
        TorchTensor(TorchTensor),
        #[prost(message, tag = "2")]
        TorchParam(::prost::alloc::boxed::Box<Parameter>),
    }
}

/// `syft_proto.execution.v1.State`: `tensors[i]` pairs with `placeholders[i]`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct State {
    #[prost(message, repeated, tag = "1")]
    pub placeholders: ::prost::alloc::vec::Vec<Placeholder>,
    #[prost(message, repeated, tag = "2")]
    pub tensors: ::prost::alloc::vec::Vec<StateTensor>,
}

/// `syft_proto.execution.v1.Role`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Role {
    #[prost(message, optional, tag = "1")]
    pub id: ::core::option::Option<Id>,
    #[prost(message, repeated, tag = "2")]
    pub actions: ::prost::alloc::vec::Vec<ComputationAction>,
    #[prost(message, optional, tag = "3")]
    pub state: ::core::option::Option<State>,
    #[prost(message, repeated, tag = "4")]
    pub placeholders: ::prost::alloc::vec::Vec<Placeholder>,
    #[prost(message, repeated, tag = "5")]
    pub input_placeholder_ids: ::prost::alloc::vec::Vec<Id>,
    #[prost(message, repeated, tag = "6")]
    pub output_placeholder_ids: ::prost::alloc::vec::Vec<Id>,
    #[prost(string, repeated, tag = "7")]
    pub tags: ::prost::alloc::vec::Vec<::prost::alloc::string::String>,
    #[prost(string, tag = "8")]
    pub description: ::prost::alloc::string::String,
}

/// `syft_proto.execution.v1.Plan`. `roles` is a proto3 map: read with last-entry-wins,
/// written sorted by key (hand-written codec for that).
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Plan {
    /// Field 1.
    pub id: Option<Id>,
    /// Field 2: the role of `base_framework`.
    pub role: Option<Role>,
    /// Field 3.
    pub include_state: bool,
    /// Field 4.
    pub name: String,
    /// Field 5.
    pub tags: Vec<String>,
    /// Field 6.
    pub description: String,
    /// Field 7: a TorchScript zip, never interpreted.
    pub torchscript: Vec<u8>,
    /// Field 8.
    pub input_types: Option<NestedTypeWrapper>,
    /// Field 9: `"torch"`, `"tfjs"` or empty.
    pub base_framework: String,
    /// Field 10: framework name → role.
    pub roles: BTreeMap<String, Role>,
}

impl prost::Message for Plan {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(v) = &self.id {
            message::encode(1, v, buf);
        }
        if let Some(v) = &self.role {
            message::encode(2, v, buf);
        }
        if self.include_state {
            pbool::encode(3, &self.include_state, buf);
        }
        if !self.name.is_empty() {
            string::encode(4, &self.name, buf);
        }
        string::encode_repeated(5, &self.tags, buf);
        if !self.description.is_empty() {
            string::encode(6, &self.description, buf);
        }
        if !self.torchscript.is_empty() {
            pbytes::encode(7, &self.torchscript, buf);
        }
        if let Some(v) = &self.input_types {
            message::encode(8, v, buf);
        }
        if !self.base_framework.is_empty() {
            string::encode(9, &self.base_framework, buf);
        }
        encode_map(10, &self.roles, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        const M: &str = "Plan";
        match tag {
            1 => push_err(
                message::merge(wire_type, self.id.get_or_insert_with(Id::default), buf, ctx),
                M,
                "id",
            ),
            2 => push_err(
                message::merge(
                    wire_type,
                    self.role.get_or_insert_with(Role::default),
                    buf,
                    ctx,
                ),
                M,
                "role",
            ),
            3 => push_err(
                pbool::merge(wire_type, &mut self.include_state, buf, ctx),
                M,
                "include_state",
            ),
            4 => push_err(
                string::merge(wire_type, &mut self.name, buf, ctx),
                M,
                "name",
            ),
            5 => push_err(
                string::merge_repeated(wire_type, &mut self.tags, buf, ctx),
                M,
                "tags",
            ),
            6 => push_err(
                string::merge(wire_type, &mut self.description, buf, ctx),
                M,
                "description",
            ),
            7 => push_err(
                pbytes::merge(wire_type, &mut self.torchscript, buf, ctx),
                M,
                "torchscript",
            ),
            8 => push_err(
                message::merge(
                    wire_type,
                    self.input_types
                        .get_or_insert_with(NestedTypeWrapper::default),
                    buf,
                    ctx,
                ),
                M,
                "input_types",
            ),
            9 => push_err(
                string::merge(wire_type, &mut self.base_framework, buf, ctx),
                M,
                "base_framework",
            ),
            10 => push_err(merge_map(wire_type, &mut self.roles, buf, ctx), M, "roles"),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.id.as_ref().map_or(0, |v| message::encoded_len(1, v))
            + self.role.as_ref().map_or(0, |v| message::encoded_len(2, v))
            + if self.include_state {
                pbool::encoded_len(3, &self.include_state)
            } else {
                0
            }
            + if self.name.is_empty() {
                0
            } else {
                string::encoded_len(4, &self.name)
            }
            + string::encoded_len_repeated(5, &self.tags)
            + if self.description.is_empty() {
                0
            } else {
                string::encoded_len(6, &self.description)
            }
            + if self.torchscript.is_empty() {
                0
            } else {
                pbytes::encoded_len(7, &self.torchscript)
            }
            + self
                .input_types
                .as_ref()
                .map_or(0, |v| message::encoded_len(8, v))
            + if self.base_framework.is_empty() {
                0
            } else {
                string::encoded_len(9, &self.base_framework)
            }
            + encoded_len_map(10, &self.roles)
    }

    fn clear(&mut self) {
        *self = Plan::default();
    }
}

/// `syft_proto.execution.v1.Protocol` (`roles` as in [`Plan`]).
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Protocol {
    /// Field 1.
    pub id: Option<Id>,
    /// Field 2.
    pub name: String,
    /// Field 3.
    pub roles: BTreeMap<String, Role>,
    /// Field 4.
    pub tags: Vec<String>,
    /// Field 5.
    pub description: String,
}

impl prost::Message for Protocol {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(v) = &self.id {
            message::encode(1, v, buf);
        }
        if !self.name.is_empty() {
            string::encode(2, &self.name, buf);
        }
        encode_map(3, &self.roles, buf);
        string::encode_repeated(4, &self.tags, buf);
        if !self.description.is_empty() {
            string::encode(5, &self.description, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        const M: &str = "Protocol";
        match tag {
            1 => push_err(
                message::merge(wire_type, self.id.get_or_insert_with(Id::default), buf, ctx),
                M,
                "id",
            ),
            2 => push_err(
                string::merge(wire_type, &mut self.name, buf, ctx),
                M,
                "name",
            ),
            3 => push_err(merge_map(wire_type, &mut self.roles, buf, ctx), M, "roles"),
            4 => push_err(
                string::merge_repeated(wire_type, &mut self.tags, buf, ctx),
                M,
                "tags",
            ),
            5 => push_err(
                string::merge(wire_type, &mut self.description, buf, ctx),
                M,
                "description",
            ),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.id.as_ref().map_or(0, |v| message::encoded_len(1, v))
            + if self.name.is_empty() {
                0
            } else {
                string::encoded_len(2, &self.name)
            }
            + encoded_len_map(3, &self.roles)
            + string::encoded_len_repeated(4, &self.tags)
            + if self.description.is_empty() {
                0
            } else {
                string::encoded_len(5, &self.description)
            }
    }

    fn clear(&mut self) {
        *self = Protocol::default();
    }
}

/// `syft_proto.execution.v1.InputTypeDescriptor`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct InputTypeDescriptor {
    #[prost(string, tag = "1")]
    pub type_name: ::prost::alloc::string::String,
}

/// `syft_proto.execution.v1.NestedTypeWrapper`: the Python types a Plan was built with.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NestedTypeWrapper {
    #[prost(message, optional, tag = "1")]
    pub nested_types: ::core::option::Option<nested_type_wrapper::TypeContainer>,
}

/// Nested messages of [`NestedTypeWrapper`].
pub mod nested_type_wrapper {
    use super::*;

    /// `NestedTypeWrapper.TypeList`.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct TypeList {
        #[prost(message, repeated, tag = "1")]
        pub nested_types: ::prost::alloc::vec::Vec<NestedTypeWrapper>,
    }

    /// `NestedTypeWrapper.TypeTuple`.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct TypeTuple {
        #[prost(message, repeated, tag = "1")]
        pub nested_types: ::prost::alloc::vec::Vec<NestedTypeWrapper>,
    }

    /// `NestedTypeWrapper.TypeMap` (a proto3 map, written sorted by key).
    #[derive(Clone, PartialEq, Debug, Default)]
    pub struct TypeMap {
        /// Field 1.
        pub nested_types: BTreeMap<String, NestedTypeWrapper>,
    }

    impl prost::Message for TypeMap {
        fn encode_raw(&self, buf: &mut impl BufMut) {
            encode_map(1, &self.nested_types, buf);
        }

        fn merge_field(
            &mut self,
            tag: u32,
            wire_type: WireType,
            buf: &mut impl Buf,
            ctx: DecodeContext,
        ) -> Result<(), DecodeError> {
            match tag {
                1 => push_err(
                    merge_map(wire_type, &mut self.nested_types, buf, ctx),
                    "TypeMap",
                    "nested_types",
                ),
                _ => skip_field(wire_type, tag, buf, ctx),
            }
        }

        fn encoded_len(&self) -> usize {
            encoded_len_map(1, &self.nested_types)
        }

        fn clear(&mut self) {
            self.nested_types.clear();
        }
    }

    /// `NestedTypeWrapper.TypeContainer`.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct TypeContainer {
        #[prost(oneof = "type_container::NestedContainer", tags = "1, 2, 3, 4")]
        pub nested_container: ::core::option::Option<type_container::NestedContainer>,
    }

    /// Oneof of [`TypeContainer`].
    pub mod type_container {
        use super::*;

        #[derive(Clone, PartialEq, ::prost::Oneof)]
        pub enum NestedContainer {
            #[prost(message, tag = "1")]
            NestedType(InputTypeDescriptor),
            #[prost(message, tag = "2")]
            NestedTypeList(TypeList),
            #[prost(message, tag = "3")]
            NestedTypeTuple(TypeTuple),
            #[prost(message, tag = "4")]
            NestedTypeDict(TypeMap),
        }
    }
}
