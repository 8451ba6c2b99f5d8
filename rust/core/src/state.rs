//! State <-> tensors: model parameters, diffs (original − trained) and their serialization.
//!
//! Parameters are written in the SyftModel layout (plans.md §3.3): for `i = 0 … n−1`,
//! `placeholders[i] = {id: i, tags: ["#i", "#state-i"], expected_shape}` and
//! `tensors[i] = {torch_tensor: {id: i, contents_data, serializer: SERIALIZER_ALL}}`.
//! The encoder streams straight from borrowed arrays (no intermediate copy of the values);
//! a unit test checks it against the prost structs byte for byte.

use ndarray::{ArrayD, ArrayViewD, Zip};
use prost::bytes::BufMut;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;

use crate::error::{Error, Result};
use crate::proto::{
    self, state_tensor, torch_tensor, Id, Placeholder, Shape, State, TensorData, TorchTensor,
};
use crate::tensor::Tensor;
pub use crate::tensor::{layout, TensorView};

// ---- decoding ---------------------------------------------------------------------------

/// The tensors of a decoded `State`, in `tensors` order; values are moved, not copied.
/// `torch_param` entries yield their `tensor`. Errors name `message`.
pub fn state_into_tensors(state: State, message: &'static str) -> Result<Vec<Tensor>> {
    each_tensor(state, message, |t| {
        proto::torch_tensor_into_tensor(t, message)
    })
}

/// `convert` over the `TorchTensor` of every entry of `state.tensors`, in order.
fn each_tensor<R>(
    state: State,
    message: &'static str,
    mut convert: impl FnMut(TorchTensor) -> Result<R>,
) -> Result<Vec<R>> {
    state
        .tensors
        .into_iter()
        .enumerate()
        .map(|(i, st)| torch_tensor_of(st, i, message).and_then(&mut convert))
        .collect()
}

fn torch_tensor_of(st: proto::StateTensor, i: usize, message: &'static str) -> Result<TorchTensor> {
    match st.tensor {
        Some(state_tensor::Tensor::TorchTensor(t)) => Ok(t),
        Some(state_tensor::Tensor::TorchParam(p)) => p.tensor.ok_or_else(|| {
            Error::decode(
                message,
                format!(
                    "State.tensors[{i}]: Parameter {} has no tensor",
                    id_label(&p.id)
                ),
            )
        }),
        None => Err(Error::decode(
            message,
            format!("State.tensors[{i}] is empty"),
        )),
    }
}

fn torch_tensor_mut(st: &mut proto::StateTensor, i: usize) -> Result<&mut TorchTensor> {
    match &mut st.tensor {
        Some(state_tensor::Tensor::TorchTensor(t)) => Ok(t),
        Some(state_tensor::Tensor::TorchParam(p)) => {
            let label = id_label(&p.id);
            p.tensor.as_mut().ok_or_else(|| {
                Error::decode(
                    "State",
                    format!("State.tensors[{i}]: Parameter {label} has no tensor"),
                )
            })
        }
        None => Err(Error::decode(
            "State",
            format!("State.tensors[{i}] is empty"),
        )),
    }
}

fn id_label(id: &Option<Id>) -> String {
    id.as_ref()
        .map_or_else(|| "<no id>".to_string(), |i| i.to_string())
}

/// Decode a `State` into its tensors (PlanDecodeError on any failure).
pub fn decode_state(bytes: &[u8]) -> Result<Vec<Tensor>> {
    state_into_tensors(proto::decode::<State>(bytes)?, "State")
}

/// The tensors of a `State` decoded from `bytes`, like [`decode_state`], except that
/// float32/float64 values whose packed run is aligned in `bytes` are not copied: they
/// come back as views of `bytes`. Validation and errors are those of [`decode_state`].
pub fn decode_state_borrowing(bytes: &[u8]) -> Result<Vec<proto::Decoded<'_>>> {
    let state = proto::borrow_window(bytes, || proto::decode::<State>(bytes))?;
    each_tensor(state, "State", |mut t| {
        proto::take_decoded(&mut t, bytes, "State")
    })
}

// ---- encoding (SyftModel layout) ---------------------------------------------------------

fn placeholder(i: usize, shape: &[usize]) -> Result<Placeholder> {
    Ok(Placeholder {
        id: Some(Id::int(i as i64)),
        tags: vec![format!("#{i}"), format!("#state-{i}")],
        expected_shape: Some(Shape {
            dims: proto::size_of(shape)?.dims,
        }),
        ..Default::default()
    })
}

/// Length of the packed `contents_<dtype>` field of `v` (0 when empty) and its payload length.
fn contents_len(v: &TensorView<'_>) -> (u32, usize) {
    fn varints<T: Copy>(a: &ArrayViewD<'_, T>, f: impl Fn(T) -> u64) -> usize {
        a.iter().map(|&x| encoded_len_varint(f(x))).sum()
    }
    match v {
        TensorView::F32(a) => (22, a.len() * 4),
        TensorView::F64(a) => (23, a.len() * 8),
        TensorView::I32(a) => (19, varints(a, |x| x as i64 as u64)),
        TensorView::I64(a) => (20, varints(a, |x| x as u64)),
        TensorView::U8(a) => (16, varints(a, u64::from)),
        TensorView::Bool(a) => (24, a.len()),
    }
}

fn field_len(tag: u32, payload: usize) -> usize {
    if payload == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(payload as u64) + payload
    }
}

/// The `TensorData` without its values (shape and dtype), whose encoding prefixes them.
fn data_head(v: &TensorView<'_>) -> Result<TensorData> {
    Ok(TensorData {
        shape: Some(proto::size_of(v.shape())?),
        dtype: v.dtype().name().to_string(),
        ..Default::default()
    })
}

/// Lengths of one tensor: (TensorData head, contents tag, contents payload, TensorData, TorchTensor).
struct TensorLens {
    head: TensorData,
    tag: u32,
    payload: usize,
    data_len: usize,
    torch_len: usize,
    id: Id,
}

fn tensor_lens(i: usize, v: &TensorView<'_>) -> Result<TensorLens> {
    let head = data_head(v)?;
    let (tag, payload) = contents_len(v);
    let data_len = head.encoded_len() + field_len(tag, payload);
    let id = Id::int(i as i64);
    let torch_len = prost::encoding::message::encoded_len(1, &id)
        + key_len(2)
        + encoded_len_varint(data_len as u64)
        + data_len
        + key_len(8)
        + 1;
    Ok(TensorLens {
        head,
        tag,
        payload,
        data_len,
        torch_len,
        id,
    })
}

fn put_contents(v: &TensorView<'_>, tag: u32, payload: usize, buf: &mut impl BufMut) {
    if payload == 0 {
        return;
    }
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(payload as u64, buf);
    match v {
        TensorView::F32(a) => match a.as_slice() {
            Some(s) => put_f32s(s, buf),
            None => a.iter().for_each(|&x| buf.put_f32_le(x)),
        },
        TensorView::F64(a) => match a.as_slice() {
            Some(s) => put_f64s(s, buf),
            None => a.iter().for_each(|&x| buf.put_f64_le(x)),
        },
        TensorView::I32(a) => a.iter().for_each(|&x| encode_varint(x as i64 as u64, buf)),
        TensorView::I64(a) => a.iter().for_each(|&x| encode_varint(x as u64, buf)),
        TensorView::U8(a) => a.iter().for_each(|&x| encode_varint(u64::from(x), buf)),
        TensorView::Bool(a) => a.iter().for_each(|&x| buf.put_u8(u8::from(x))),
    }
}

#[cfg(target_endian = "little")]
fn put_f32s(s: &[f32], buf: &mut impl BufMut) {
    // SAFETY: f32 has no padding and u8 has alignment 1: the slice's memory is a valid
    // `[u8]` of `size_of_val(s)` bytes, already little-endian on this target.
    buf.put_slice(unsafe {
        std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s))
    });
}

#[cfg(target_endian = "little")]
fn put_f64s(s: &[f64], buf: &mut impl BufMut) {
    // SAFETY: as in `put_f32s`.
    buf.put_slice(unsafe {
        std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s))
    });
}

#[cfg(not(target_endian = "little"))]
fn put_f32s(s: &[f32], buf: &mut impl BufMut) {
    s.iter().for_each(|&x| buf.put_f32_le(x));
}

#[cfg(not(target_endian = "little"))]
fn put_f64s(s: &[f64], buf: &mut impl BufMut) {
    s.iter().for_each(|&x| buf.put_f64_le(x));
}

/// A State in the SyftModel layout, ready to be written.
pub struct StateEncoder<'v, 'a> {
    params: &'v [TensorView<'a>],
    placeholders: Vec<Placeholder>,
    lens: Vec<TensorLens>,
    len: usize,
}

impl<'v, 'a> StateEncoder<'v, 'a> {
    /// Plan the encoding of `params` (computes every length once).
    pub fn new(params: &'v [TensorView<'a>]) -> Result<Self> {
        let placeholders = params
            .iter()
            .enumerate()
            .map(|(i, v)| placeholder(i, v.shape()))
            .collect::<Result<Vec<_>>>()?;
        let lens = params
            .iter()
            .enumerate()
            .map(|(i, v)| tensor_lens(i, v))
            .collect::<Result<Vec<_>>>()?;
        let len = prost::encoding::message::encoded_len_repeated(1, &placeholders)
            + lens
                .iter()
                .map(|l| {
                    let st = key_len(1) + encoded_len_varint(l.torch_len as u64) + l.torch_len;
                    key_len(2) + encoded_len_varint(st as u64) + st
                })
                .sum::<usize>();
        Ok(StateEncoder {
            params,
            placeholders,
            lens,
            len,
        })
    }

    /// The exact number of bytes [`StateEncoder::write`] produces.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Write the State into `buf` (which must have room for [`StateEncoder::len`] bytes).
    pub fn write(&self, buf: &mut impl BufMut) {
        prost::encoding::message::encode_repeated(1, &self.placeholders, buf);
        for (v, l) in self.params.iter().zip(&self.lens) {
            let st = key_len(1) + encoded_len_varint(l.torch_len as u64) + l.torch_len;
            encode_key(2, WireType::LengthDelimited, buf); // State.tensors
            encode_varint(st as u64, buf);
            encode_key(1, WireType::LengthDelimited, buf); // StateTensor.torch_tensor
            encode_varint(l.torch_len as u64, buf);
            prost::encoding::message::encode(1, &l.id, buf); // TorchTensor.id
            encode_key(2, WireType::LengthDelimited, buf); // TorchTensor.contents_data
            encode_varint(l.data_len as u64, buf);
            l.head.encode_raw(buf);
            put_contents(v, l.tag, l.payload, buf);
            encode_key(8, WireType::Varint, buf); // serializer = SERIALIZER_ALL
            encode_varint(torch_tensor::Serializer::All as u64, buf);
        }
    }

    /// The State as a new byte vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        self.write(&mut out);
        debug_assert_eq!(out.len(), self.len);
        out
    }
}

/// Serialize parameters in the SyftModel layout.
pub fn encode_state(params: &[TensorView<'_>]) -> Result<Vec<u8>> {
    Ok(StateEncoder::new(params)?.to_vec())
}

// ---- diffs ---------------------------------------------------------------------------------

/// Check that two parameter lists have the same count, dtypes and shapes.
fn check_same(original: &[TensorView<'_>], updated: &[TensorView<'_>]) -> Result<()> {
    if original.len() != updated.len() {
        return Err(Error::Mismatch(format!(
            "Model has {} parameters, updated parameters has {}.",
            original.len(),
            updated.len()
        )));
    }
    for (i, (a, b)) in original.iter().zip(updated).enumerate() {
        if a.dtype() != b.dtype() || a.shape() != b.shape() {
            return Err(Error::Mismatch(format!(
                "Parameter {i} is {}, updated parameter is {}.",
                a.layout(),
                b.layout()
            )));
        }
    }
    Ok(())
}

fn zip_map<T: Copy>(
    a: &ArrayViewD<'_, T>,
    b: &ArrayViewD<'_, T>,
    f: impl Fn(T, T) -> T,
) -> ArrayD<T> {
    Zip::from(a).and(b).map_collect(|&x, &y| f(x, y))
}

/// Elementwise `a − b` in the dtype of the operands (integers wrap like numpy).
pub fn subtract(a: &TensorView<'_>, b: &TensorView<'_>, index: usize) -> Result<Tensor> {
    Ok(match (a, b) {
        (TensorView::F32(x), TensorView::F32(y)) => Tensor::F32(zip_map(x, y, |p, q| p - q)),
        (TensorView::F64(x), TensorView::F64(y)) => Tensor::F64(zip_map(x, y, |p, q| p - q)),
        (TensorView::I32(x), TensorView::I32(y)) => Tensor::I32(zip_map(x, y, i32::wrapping_sub)),
        (TensorView::I64(x), TensorView::I64(y)) => Tensor::I64(zip_map(x, y, i64::wrapping_sub)),
        (TensorView::U8(x), TensorView::U8(y)) => Tensor::U8(zip_map(x, y, u8::wrapping_sub)),
        (TensorView::Bool(_), TensorView::Bool(_)) => {
            return Err(Error::InvalidArgument(format!(
                "Parameter {index} is bool: bool tensors cannot be subtracted."
            )))
        }
        _ => {
            return Err(Error::Mismatch(format!(
                "Parameter {index} is {}, updated parameter is {}.",
                a.layout(),
                b.layout()
            )))
        }
    })
}

/// `original[i] − updated[i]` for every parameter, in the parameter dtype.
pub fn diff(original: &[TensorView<'_>], updated: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
    check_same(original, updated)?;
    original
        .iter()
        .zip(updated)
        .enumerate()
        .map(|(i, (a, b))| subtract(a, b, i))
        .collect()
}

/// The diff `original − updated`, serialized like [`encode_state`].
pub fn serialized_diff(original: &[TensorView<'_>], updated: &[TensorView<'_>]) -> Result<Vec<u8>> {
    let d = diff(original, updated)?;
    let views: Vec<_> = d.iter().map(Tensor::view).collect();
    encode_state(&views)
}

// ---- checkpoints -----------------------------------------------------------------------------

/// Write `t`'s values into `data`'s contents field for its dtype (shape and dtype unchanged).
fn set_values(data: &mut TensorData, t: Tensor) -> Result<()> {
    let id = proto::Id::int(0);
    let fresh = proto::tensor_into_proto(t, id)?;
    let Some(torch_tensor::Contents::ContentsData(new)) = fresh.contents else {
        unreachable!()
    };
    data.contents_uint8 = new.contents_uint8;
    data.contents_int32 = new.contents_int32;
    data.contents_int64 = new.contents_int64;
    data.contents_float32 = new.contents_float32;
    data.contents_float64 = new.contents_float64;
    data.contents_bool = new.contents_bool;
    Ok(())
}

/// Decode `state`, replace each tensor's values by `f(i, old)`, and re-encode with the same
/// placeholders, ids, tags, shapes and dtypes. `f` must keep dtype and shape.
pub fn map_state_values(
    state: &[u8],
    n: usize,
    mut f: impl FnMut(usize, Tensor) -> Result<Tensor>,
) -> Result<Vec<u8>> {
    let mut msg = proto::decode::<State>(state)?;
    if msg.tensors.len() != n {
        return Err(Error::Mismatch(format!(
            "State has {} tensors, got {n} parameters.",
            msg.tensors.len()
        )));
    }
    for (i, st) in msg.tensors.iter_mut().enumerate() {
        let t = torch_tensor_mut(st, i)?;
        let old = proto::take_tensor(t, "State")?;
        let (dtype, shape) = (old.dtype(), old.shape().to_vec());
        let new = f(i, old)?;
        if new.dtype() != dtype || new.shape() != shape.as_slice() {
            return Err(Error::Mismatch(format!(
                "State tensor {i} is {}, parameter is {}.",
                layout(dtype, &shape),
                layout(new.dtype(), new.shape())
            )));
        }
        let Some(torch_tensor::Contents::ContentsData(data)) = &mut t.contents else {
            unreachable!()
        };
        set_values(data, new)?;
    }
    Ok(proto::encode(&msg))
}

/// Re-encode `state` with each tensor's values replaced by `params[i]` (checkpoint `n + 1`).
pub fn state_replace_values(state: &[u8], params: &[TensorView<'_>]) -> Result<Vec<u8>> {
    map_state_values(state, params.len(), |i, old| {
        let p = &params[i];
        if p.dtype() != old.dtype() || p.shape() != old.shape() {
            return Err(Error::Mismatch(format!(
                "State tensor {i} is {}, parameter is {}.",
                layout(old.dtype(), old.shape()),
                p.layout()
            )));
        }
        Ok(p.to_tensor())
    })
}

/// Validate a reported diff against a model State (node answers of protocol.md §5.8).
pub fn check_diff(model: &[u8], diff: &[u8]) -> Result<()> {
    let model = decode_state(model)?;
    let diff = decode_state(diff).map_err(|e| match e {
        Error::Decode { detail, .. } => {
            Error::DecodeText(format!("Diff is not a valid State: {detail}"))
        }
        other => other,
    })?;
    if diff.len() != model.len() {
        return Err(Error::Mismatch(format!(
            "Diff has {} tensors, model has {}.",
            diff.len(),
            model.len()
        )));
    }
    for (i, (d, m)) in diff.iter().zip(&model).enumerate() {
        if d.dtype() != m.dtype() || d.shape() != m.shape() {
            return Err(Error::Mismatch(format!(
                "Diff tensor {i} is {}, model tensor is {}.",
                layout(d.dtype(), d.shape()),
                layout(m.dtype(), m.shape())
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
