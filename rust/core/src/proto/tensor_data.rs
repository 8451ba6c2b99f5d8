//! `syft_proto.types.torch.v1.TensorData` with a hand-written codec: packed float32/float64 bulk copies.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    bool as pbool, check_wire_type, decode_varint, encode_key, encode_varint, encoded_len_varint,
    float, int32, int64, key_len, message, sint32, skip_field, string, uint32, DecodeContext,
    WireType,
};
use prost::DecodeError;

use super::types::Size;

/// `syft_proto.types.torch.v1.TensorData`: shape, dtype and the row-major values in the
/// `contents_<dtype>` field.
///
/// The codec is written by hand (not derived) so that the hot fields, packed
/// `contents_float32` and `contents_float64`, decode and encode as one bulk little-endian
/// copy instead of one call per value: a 10M-parameter model is 40 MB of floats.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct TensorData {
    /// Field 1.
    pub shape: Option<Size>,
    /// Field 2.
    pub dtype: String,
    /// Field 3.
    pub is_quantized: bool,
    /// Field 4.
    pub scale: f32,
    /// Field 5.
    pub zero_point: i32,
    /// Field 16 (uint32 on the wire).
    pub contents_uint8: Vec<u32>,
    /// Field 17.
    pub contents_int8: Vec<i32>,
    /// Field 18.
    pub contents_int16: Vec<i32>,
    /// Field 19.
    pub contents_int32: Vec<i32>,
    /// Field 20.
    pub contents_int64: Vec<i64>,
    /// Field 21.
    pub contents_float16: Vec<f32>,
    /// Field 22.
    pub contents_float32: Vec<f32>,
    /// Field 23.
    pub contents_float64: Vec<f64>,
    /// Field 24.
    pub contents_bool: Vec<bool>,
    /// Field 25 (sint32).
    pub contents_qint8: Vec<i32>,
    /// Field 26.
    pub contents_quint8: Vec<u32>,
    /// Field 27 (sint32).
    pub contents_qint32: Vec<i32>,
    /// Field 28.
    pub contents_bfloat16: Vec<f32>,
    /// Not on the wire: a packed `contents_float32` (field 22) or `contents_float64` (23)
    /// run left in place in the decoded buffer, recorded instead of copied while a
    /// [`borrow_window`] is open. Never set by any other decode.
    pub borrowed: Option<BorrowedRun>,
}

/// The values of a packed float field, in place in the buffer being decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BorrowedRun {
    /// 22 (float32) or 23 (float64).
    pub field: u32,
    /// Byte offset of the first value in the decoded buffer (aligned for the type).
    pub offset: usize,
    /// Number of values.
    pub count: usize,
}

thread_local! {
    /// `(address, length)` of the buffer a borrowing decode reads on this thread.
    static WINDOW: std::cell::Cell<Option<(usize, usize)>> = const { std::cell::Cell::new(None) };
}

/// Resets the window when the decode ends, also on unwinding.
struct WindowGuard(Option<(usize, usize)>);

impl Drop for WindowGuard {
    fn drop(&mut self) {
        WINDOW.with(|w| w.set(self.0));
    }
}

/// Run `f` (a decode of `buf` on this thread) with packed float runs of `buf` that are
/// aligned for their type recorded as [`BorrowedRun`]s instead of copied (little-endian
/// targets only; elsewhere every run is copied and converted).
pub fn borrow_window<R>(buf: &[u8], f: impl FnOnce() -> R) -> R {
    let prev = WINDOW.with(|w| w.replace(Some((buf.as_ptr() as usize, buf.len()))));
    let _guard = WindowGuard(prev);
    f()
}

/// The window's bytes `[offset, offset + len)`.
fn window_bytes(offset: usize, len: usize) -> Option<&'static [u8]> {
    let (start, wlen) = WINDOW.with(|w| w.get())?;
    if offset.checked_add(len)? > wlen {
        return None;
    }
    // SAFETY: the window is the live buffer of the decode running on this thread (set by
    // `borrow_window` for the duration of `f`); the slice is used before `f` returns.
    Some(unsafe { std::slice::from_raw_parts((start + offset) as *const u8, len) })
}

impl TensorData {
    fn borrowed_count(&self, field: u32) -> usize {
        self.borrowed
            .filter(|b| b.field == field)
            .map_or(0, |b| b.count)
    }

    /// `(field name, value count)` of every non-empty `contents_*` field, in field order.
    pub fn filled_contents(&self) -> Vec<(&'static str, usize)> {
        let all = [
            ("contents_uint8", self.contents_uint8.len()),
            ("contents_int8", self.contents_int8.len()),
            ("contents_int16", self.contents_int16.len()),
            ("contents_int32", self.contents_int32.len()),
            ("contents_int64", self.contents_int64.len()),
            ("contents_float16", self.contents_float16.len()),
            (
                "contents_float32",
                self.contents_float32.len() + self.borrowed_count(22),
            ),
            (
                "contents_float64",
                self.contents_float64.len() + self.borrowed_count(23),
            ),
            ("contents_bool", self.contents_bool.len()),
            ("contents_qint8", self.contents_qint8.len()),
            ("contents_quint8", self.contents_quint8.len()),
            ("contents_qint32", self.contents_qint32.len()),
            ("contents_bfloat16", self.contents_bfloat16.len()),
        ];
        all.into_iter().filter(|(_, n)| *n > 0).collect()
    }
}

/// A decode error with our own description.
// prost marks `DecodeError::new` deprecated (meant to be internal) but offers no other
// constructor for a custom description; the crate version is pinned in the workspace.
#[allow(deprecated)]
fn decode_error(description: impl Into<std::borrow::Cow<'static, str>>) -> DecodeError {
    DecodeError::new(description)
}

/// Little-endian fixed-width values that can be bulk-copied out of a packed field.
trait Fixed: Copy {
    const SIZE: usize;
    const WIRE: WireType;
    fn from_le(b: &[u8]) -> Self;
    fn get(buf: &mut impl Buf) -> Self;
    #[cfg_attr(target_endian = "little", allow(dead_code))]
    fn put(self, buf: &mut impl BufMut);
}

impl Fixed for f32 {
    const SIZE: usize = 4;
    const WIRE: WireType = WireType::ThirtyTwoBit;
    #[inline(always)]
    fn from_le(b: &[u8]) -> Self {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn get(buf: &mut impl Buf) -> Self {
        buf.get_f32_le()
    }
    fn put(self, buf: &mut impl BufMut) {
        buf.put_f32_le(self)
    }
}

impl Fixed for f64 {
    const SIZE: usize = 8;
    const WIRE: WireType = WireType::SixtyFourBit;
    #[inline(always)]
    fn from_le(b: &[u8]) -> Self {
        f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
    fn get(buf: &mut impl Buf) -> Self {
        buf.get_f64_le()
    }
    fn put(self, buf: &mut impl BufMut) {
        buf.put_f64_le(self)
    }
}

/// Copy a recorded run back into `values` (a second run of the same field follows it).
fn materialize<T: Fixed>(
    borrowed: &mut Option<BorrowedRun>,
    field: u32,
    values: &mut Vec<T>,
) -> Result<(), DecodeError> {
    if let Some(run) = borrowed.filter(|b| b.field == field) {
        let bytes = window_bytes(run.offset, run.count * T::SIZE)
            .ok_or_else(|| decode_error("borrowed run outside the decoded buffer"))?;
        let mut head: Vec<T> = Vec::with_capacity(run.count + values.len());
        head.extend(bytes.chunks_exact(T::SIZE).map(T::from_le));
        head.append(values);
        *values = head;
        *borrowed = None;
    }
    Ok(())
}

/// Merge a packed or unpacked repeated fixed-width field, copying packed runs in bulk, or
/// recording an aligned packed run in place while a [`borrow_window`] is open (only for
/// the first run of the field, and only one field per message).
fn merge_fixed_borrowing<T: Fixed>(
    field: u32,
    wire_type: WireType,
    values: &mut Vec<T>,
    borrowed: &mut Option<BorrowedRun>,
    buf: &mut impl Buf,
) -> Result<(), DecodeError> {
    if cfg!(target_endian = "little")
        && wire_type == WireType::LengthDelimited
        && values.is_empty()
        && borrowed.is_none()
    {
        if let Some((start, wlen)) = WINDOW.with(|w| w.get()) {
            let mut peek = buf.chunk();
            let before = peek.len();
            if let Ok(len) = decode_varint(&mut peek) {
                let head = before - peek.len();
                let addr = peek.as_ptr() as usize;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len <= peek.len()
                    && len % T::SIZE == 0
                    && len > 0
                    && addr % std::mem::align_of::<T>() == 0
                    && addr >= start
                    && addr + len <= start + wlen
                {
                    *borrowed = Some(BorrowedRun {
                        field,
                        offset: addr - start,
                        count: len / T::SIZE,
                    });
                    buf.advance(head + len);
                    return Ok(());
                }
            }
        }
    }
    materialize(borrowed, field, values)?;
    merge_fixed(wire_type, values, buf)
}

/// Merge a packed or unpacked repeated fixed-width field, copying packed runs in bulk.
fn merge_fixed<T: Fixed>(
    wire_type: WireType,
    values: &mut Vec<T>,
    buf: &mut impl Buf,
) -> Result<(), DecodeError> {
    if wire_type == T::WIRE {
        if buf.remaining() < T::SIZE {
            return Err(decode_error("buffer underflow"));
        }
        values.push(T::get(buf));
        return Ok(());
    }
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let len = decode_varint(buf)?;
    if len > buf.remaining() as u64 {
        return Err(decode_error("buffer underflow"));
    }
    let mut left = len as usize;
    if left % T::SIZE != 0 {
        return Err(decode_error(format!(
            "packed field of {left} bytes is not a multiple of {}",
            T::SIZE
        )));
    }
    // Exact reservation: the decoded vector becomes the numpy buffer, so no slack.
    values.reserve_exact(left / T::SIZE);
    while left > 0 {
        let chunk = buf.chunk();
        let take = chunk.len().min(left) / T::SIZE * T::SIZE;
        if take == 0 {
            // A value straddles two chunks of a non-contiguous buffer.
            values.push(T::get(buf));
            left -= T::SIZE;
            continue;
        }
        values.extend(chunk[..take].chunks_exact(T::SIZE).map(T::from_le));
        buf.advance(take);
        left -= take;
    }
    Ok(())
}

/// The raw little-endian bytes of a float slice (no copy on little-endian targets).
#[cfg(target_endian = "little")]
fn le_bytes<T: Fixed>(values: &[T]) -> &[u8] {
    // SAFETY: `T` is f32 or f64: plain old data without padding, and u8 has alignment 1,
    // so the slice's memory is a valid `[u8]` of `len * SIZE` bytes for the same lifetime.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}

/// Encode a packed fixed-width field as one slice write.
fn encode_fixed<T: Fixed>(tag: u32, values: &[T], buf: &mut impl BufMut) {
    if values.is_empty() {
        return;
    }
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint((values.len() * T::SIZE) as u64, buf);
    #[cfg(target_endian = "little")]
    buf.put_slice(le_bytes(values));
    #[cfg(not(target_endian = "little"))]
    for v in values {
        v.put(buf);
    }
}

fn encoded_len_fixed<T: Fixed>(tag: u32, values: &[T]) -> usize {
    if values.is_empty() {
        return 0;
    }
    let len = values.len() * T::SIZE;
    key_len(tag) + encoded_len_varint(len as u64) + len
}

impl prost::Message for TensorData {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(shape) = &self.shape {
            message::encode(1, shape, buf);
        }
        if !self.dtype.is_empty() {
            string::encode(2, &self.dtype, buf);
        }
        if self.is_quantized {
            pbool::encode(3, &self.is_quantized, buf);
        }
        if self.scale != 0.0 {
            float::encode(4, &self.scale, buf);
        }
        if self.zero_point != 0 {
            int32::encode(5, &self.zero_point, buf);
        }
        uint32::encode_packed(16, &self.contents_uint8, buf);
        int32::encode_packed(17, &self.contents_int8, buf);
        int32::encode_packed(18, &self.contents_int16, buf);
        int32::encode_packed(19, &self.contents_int32, buf);
        int64::encode_packed(20, &self.contents_int64, buf);
        encode_fixed(21, &self.contents_float16, buf);
        encode_fixed(22, &self.contents_float32, buf);
        encode_fixed(23, &self.contents_float64, buf);
        pbool::encode_packed(24, &self.contents_bool, buf);
        sint32::encode_packed(25, &self.contents_qint8, buf);
        uint32::encode_packed(26, &self.contents_quint8, buf);
        sint32::encode_packed(27, &self.contents_qint32, buf);
        encode_fixed(28, &self.contents_bfloat16, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let (field, r) = match tag {
            1 => (
                "shape",
                message::merge(
                    wire_type,
                    self.shape.get_or_insert_with(Size::default),
                    buf,
                    ctx,
                ),
            ),
            2 => ("dtype", string::merge(wire_type, &mut self.dtype, buf, ctx)),
            3 => (
                "is_quantized",
                pbool::merge(wire_type, &mut self.is_quantized, buf, ctx),
            ),
            4 => ("scale", float::merge(wire_type, &mut self.scale, buf, ctx)),
            5 => (
                "zero_point",
                int32::merge(wire_type, &mut self.zero_point, buf, ctx),
            ),
            16 => (
                "contents_uint8",
                uint32::merge_repeated(wire_type, &mut self.contents_uint8, buf, ctx),
            ),
            17 => (
                "contents_int8",
                int32::merge_repeated(wire_type, &mut self.contents_int8, buf, ctx),
            ),
            18 => (
                "contents_int16",
                int32::merge_repeated(wire_type, &mut self.contents_int16, buf, ctx),
            ),
            19 => (
                "contents_int32",
                int32::merge_repeated(wire_type, &mut self.contents_int32, buf, ctx),
            ),
            20 => (
                "contents_int64",
                int64::merge_repeated(wire_type, &mut self.contents_int64, buf, ctx),
            ),
            21 => (
                "contents_float16",
                merge_fixed(wire_type, &mut self.contents_float16, buf),
            ),
            22 => (
                "contents_float32",
                merge_fixed_borrowing(
                    22,
                    wire_type,
                    &mut self.contents_float32,
                    &mut self.borrowed,
                    buf,
                ),
            ),
            23 => (
                "contents_float64",
                merge_fixed_borrowing(
                    23,
                    wire_type,
                    &mut self.contents_float64,
                    &mut self.borrowed,
                    buf,
                ),
            ),
            24 => (
                "contents_bool",
                pbool::merge_repeated(wire_type, &mut self.contents_bool, buf, ctx),
            ),
            25 => (
                "contents_qint8",
                sint32::merge_repeated(wire_type, &mut self.contents_qint8, buf, ctx),
            ),
            26 => (
                "contents_quint8",
                uint32::merge_repeated(wire_type, &mut self.contents_quint8, buf, ctx),
            ),
            27 => (
                "contents_qint32",
                sint32::merge_repeated(wire_type, &mut self.contents_qint32, buf, ctx),
            ),
            28 => (
                "contents_bfloat16",
                merge_fixed(wire_type, &mut self.contents_bfloat16, buf),
            ),
            _ => return skip_field(wire_type, tag, buf, ctx),
        };
        r.map_err(|mut e| {
            e.push("TensorData", field);
            e
        })
    }

    fn encoded_len(&self) -> usize {
        self.shape
            .as_ref()
            .map_or(0, |s| message::encoded_len(1, s))
            + if self.dtype.is_empty() {
                0
            } else {
                string::encoded_len(2, &self.dtype)
            }
            + if self.is_quantized {
                pbool::encoded_len(3, &self.is_quantized)
            } else {
                0
            }
            + if self.scale != 0.0 {
                float::encoded_len(4, &self.scale)
            } else {
                0
            }
            + if self.zero_point != 0 {
                int32::encoded_len(5, &self.zero_point)
            } else {
                0
            }
            + uint32::encoded_len_packed(16, &self.contents_uint8)
            + int32::encoded_len_packed(17, &self.contents_int8)
            + int32::encoded_len_packed(18, &self.contents_int16)
            + int32::encoded_len_packed(19, &self.contents_int32)
            + int64::encoded_len_packed(20, &self.contents_int64)
            + encoded_len_fixed(21, &self.contents_float16)
            + encoded_len_fixed(22, &self.contents_float32)
            + encoded_len_fixed(23, &self.contents_float64)
            + pbool::encoded_len_packed(24, &self.contents_bool)
            + sint32::encoded_len_packed(25, &self.contents_qint8)
            + uint32::encoded_len_packed(26, &self.contents_quint8)
            + sint32::encoded_len_packed(27, &self.contents_qint32)
            + encoded_len_fixed(28, &self.contents_bfloat16)
    }

    fn clear(&mut self) {
        *self = TensorData::default();
    }
}
