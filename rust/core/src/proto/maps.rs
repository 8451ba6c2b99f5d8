//! Codec of proto3 `map<string, Message>` fields: read last-entry-wins, written sorted by key.

use std::collections::BTreeMap;

use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    encode_key, encode_varint, encoded_len_varint, key_len, message, skip_field, string,
    DecodeContext, WireType,
};
use prost::{DecodeError, Message};

/// One map entry `{1 key, 2 value}` while it is being read.
#[derive(Debug, Default)]
struct Entry<V> {
    key: String,
    value: V,
}

fn entry_len<V: Message>(key: &str, value: &V) -> usize {
    // An empty key is a proto3 default and is not written; the value always is (a present
    // sub-message, even when empty).
    let k = if key.is_empty() {
        0
    } else {
        key_len(1) + encoded_len_varint(key.len() as u64) + key.len()
    };
    k + message::encoded_len(2, value)
}

impl<V: Message + Default> Message for Entry<V> {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.key.is_empty() {
            string::encode(1, &self.key, buf);
        }
        message::encode(2, &self.value, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => string::merge(wire_type, &mut self.key, buf, ctx),
            2 => message::merge(wire_type, &mut self.value, buf, ctx),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        entry_len(&self.key, &self.value)
    }

    fn clear(&mut self) {
        self.key.clear();
        self.value.clear();
    }
}

/// Write every entry of `map` as field `tag`, in key order (BTreeMap iteration order).
pub(crate) fn encode_map<V: Message>(tag: u32, map: &BTreeMap<String, V>, buf: &mut impl BufMut) {
    for (key, value) in map {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(entry_len(key, value) as u64, buf);
        if !key.is_empty() {
            string::encode(1, key, buf);
        }
        message::encode(2, value, buf);
    }
}

/// Encoded length of [`encode_map`]'s output.
pub(crate) fn encoded_len_map<V: Message>(tag: u32, map: &BTreeMap<String, V>) -> usize {
    map.iter()
        .map(|(k, v)| {
            let len = entry_len(k, v);
            key_len(tag) + encoded_len_varint(len as u64) + len
        })
        .sum()
}

/// Read one map entry and insert it; a later entry with the same key replaces the earlier.
pub(crate) fn merge_map<V: Message + Default>(
    wire_type: WireType,
    map: &mut BTreeMap<String, V>,
    buf: &mut impl Buf,
    ctx: DecodeContext,
) -> Result<(), DecodeError> {
    let mut entry = Entry::<V>::default();
    message::merge(wire_type, &mut entry, buf, ctx)?;
    map.insert(entry.key, entry.value);
    Ok(())
}
