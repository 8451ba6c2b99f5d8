//! TorchTensor <-> Tensor: dtype/contents-field rules, shape checks, zero-copy moves of decoded values.

use ndarray::{ArrayD, IxDyn};

use super::tensor_data::{BorrowedRun, TensorData};
use super::types::{torch_tensor, Id, Size, TorchTensor};
use crate::error::{Error, Result};
use crate::tensor::{shape_str, DType, Tensor, TensorView};

fn id_label(id: &Option<Id>) -> String {
    match id {
        Some(id) => id.to_string(),
        None => "<no id>".to_string(),
    }
}

/// Dims of a `Size` as `usize`, rejecting negative dims and element-count overflow.
pub fn dims_of(shape: Option<&Size>) -> std::result::Result<Vec<usize>, String> {
    let Some(shape) = shape else {
        return Ok(Vec::new());
    };
    let mut count: usize = 1;
    let mut dims = Vec::with_capacity(shape.dims.len());
    for &d in &shape.dims {
        let d = usize::try_from(d)
            .map_err(|_| format!("negative dimension {d} in shape {:?}", shape.dims))?;
        count = count
            .checked_mul(d)
            .ok_or_else(|| format!("shape {:?} has too many elements", shape.dims))?;
        dims.push(d);
    }
    Ok(dims)
}

/// The single `contents_*` field that `dtype` uses, checking that no other field holds values.
fn check_fields(data: &TensorData, dtype: DType) -> std::result::Result<(), String> {
    let want = match dtype {
        DType::Bool => "contents_bool",
        DType::U8 => "contents_uint8",
        DType::I32 => "contents_int32",
        DType::I64 => "contents_int64",
        DType::F32 => "contents_float32",
        DType::F64 => "contents_float64",
    };
    for (field, _) in data.filled_contents() {
        if field != want {
            return Err(format!(
                "dtype {dtype} expects values in {want}, found values in {field}"
            ));
        }
    }
    Ok(())
}

/// `count` values fill a tensor of shape `dims`.
fn check_count(count: usize, dims: &[usize]) -> std::result::Result<(), String> {
    let expected: usize = dims.iter().product();
    if count != expected {
        return Err(format!(
            "{count} values for shape [{}] ({expected} expected)",
            shape_str(dims)
        ));
    }
    Ok(())
}

fn build<T: crate::tensor::Element>(
    dims: &[usize],
    values: Vec<T>,
) -> std::result::Result<Tensor, String> {
    check_count(values.len(), dims)?;
    ArrayD::from_shape_vec(IxDyn(dims), values)
        .map(T::wrap)
        .map_err(|e| e.to_string())
}

/// A decoded tensor: values moved out of the message, or left in the decoded buffer.
#[derive(Debug)]
pub enum Decoded<'a> {
    Owned(Tensor),
    Borrowed(TensorView<'a>),
}

/// Convert tensor data whose values may be a [`BorrowedRun`] of `base` (the buffer the
/// message was decoded from under `borrow_window`): same checks and errors as
/// [`data_into_tensor`], without copying a borrowed run.
fn data_into_decoded<'a>(
    data: &mut TensorData,
    base: &'a [u8],
) -> std::result::Result<Decoded<'a>, String> {
    let Some(run) = data.borrowed else {
        return data_into_tensor(data).map(Decoded::Owned);
    };
    check_header(data)?;
    let dtype = DType::from_name(&data.dtype).unwrap_or_else(|| unreachable!("checked"));
    check_fields(data, dtype)?;
    let dims = dims_of(data.shape.as_ref())?;
    check_count(run.count, &dims)?;
    fn view<'a, T: crate::tensor::Element>(
        base: &'a [u8],
        run: BorrowedRun,
        dims: &[usize],
    ) -> std::result::Result<ndarray::ArrayViewD<'a, T>, String> {
        let size = std::mem::size_of::<T>();
        let bytes = base
            .get(run.offset..run.offset + run.count * size)
            .ok_or("borrowed run outside the decoded buffer")?;
        if bytes.as_ptr() as usize % std::mem::align_of::<T>() != 0 {
            return Err("borrowed run is not aligned".into());
        }
        // SAFETY: `bytes` is `count · size_of::<T>()` bytes of `base`, aligned for `T`
        // (checked), and T is f32/f64, for which every bit pattern is a value; the
        // values are little-endian (runs are recorded only on little-endian targets).
        let values = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), run.count) };
        ndarray::ArrayViewD::from_shape(IxDyn(dims), values).map_err(|e| e.to_string())
    }
    Ok(Decoded::Borrowed(match (dtype, run.field) {
        (DType::F32, 22) => TensorView::F32(view::<f32>(base, run, &dims)?),
        (DType::F64, 23) => TensorView::F64(view::<f64>(base, run, &dims)?),
        _ => unreachable!("check_fields matched the field to the dtype"),
    }))
}

/// Quantization flag and dtype name of tensor data.
fn check_header(data: &TensorData) -> std::result::Result<(), String> {
    if data.is_quantized {
        return Err("quantized tensors are not supported".to_string());
    }
    DType::from_name(&data.dtype).ok_or_else(|| {
        format!(
            "dtype '{}' is not supported (supported: float32, float64, int32, int64, uint8, bool)",
            data.dtype
        )
    })?;
    Ok(())
}

/// Convert tensor data, taking the value vector out of `data` (no copy of the values).
fn data_into_tensor(data: &mut TensorData) -> std::result::Result<Tensor, String> {
    if data.borrowed.is_some() {
        return Err("internal error: borrowed values outside a borrowing decode".into());
    }
    check_header(data)?;
    let dtype = DType::from_name(&data.dtype).unwrap_or_else(|| unreachable!("checked"));
    check_fields(data, dtype)?;
    let dims = dims_of(data.shape.as_ref())?;
    match dtype {
        DType::F32 => build(&dims, std::mem::take(&mut data.contents_float32)),
        DType::F64 => build(&dims, std::mem::take(&mut data.contents_float64)),
        DType::I32 => build(&dims, std::mem::take(&mut data.contents_int32)),
        DType::I64 => build(&dims, std::mem::take(&mut data.contents_int64)),
        DType::Bool => build(&dims, std::mem::take(&mut data.contents_bool)),
        DType::U8 => {
            let raw = std::mem::take(&mut data.contents_uint8);
            let mut values = Vec::with_capacity(raw.len());
            for v in raw {
                values
                    .push(u8::try_from(v).map_err(|_| format!("uint8 value {v} is out of range"))?);
            }
            build(&dims, values)
        }
    }
}

fn contents_error(t: &TorchTensor) -> Option<String> {
    match &t.contents {
        Some(torch_tensor::Contents::ContentsData(_)) => None,
        Some(torch_tensor::Contents::ContentsBin(_)) => {
            let ser = torch_tensor::Serializer::try_from(t.serializer)
                .map(|s| s.as_str_name().to_string())
                .unwrap_or_else(|_| "unknown".to_string());
            Some(format!(
                "TorchTensor {}: contents_bin (serializer {} {ser}) is not supported; \
                 only contents_data tensors (SERIALIZER_ALL) can be read",
                id_label(&t.id),
                t.serializer
            ))
        }
        None => Some(format!("TorchTensor {}: no contents_data", id_label(&t.id))),
    }
}

/// Convert an owned `TorchTensor` into a [`Tensor`], moving its values (zero copy).
///
/// `message` names the enclosing message for the error (`Failed to decode <message>: …`).
pub fn torch_tensor_into_tensor(mut t: TorchTensor, message: &'static str) -> Result<Tensor> {
    take_tensor(&mut t, message)
}

/// Move the values of `t` out into a [`Tensor`], leaving id, shape, dtype and the other
/// fields in place (used to rewrite a State's values without copying them twice).
pub fn take_tensor(t: &mut TorchTensor, message: &'static str) -> Result<Tensor> {
    if let Some(e) = contents_error(t) {
        return Err(Error::decode(message, e));
    }
    let label = id_label(&t.id);
    match &mut t.contents {
        Some(torch_tensor::Contents::ContentsData(data)) => data_into_tensor(data)
            .map_err(|e| Error::decode(message, format!("TorchTensor {label}: {e}"))),
        _ => unreachable!("checked by contents_error"),
    }
}

/// [`take_tensor`] for a message decoded from `base` under
/// [`borrow_window`](super::tensor_data::borrow_window): recorded runs become views of
/// `base`.
pub fn take_decoded<'a>(
    t: &mut TorchTensor,
    base: &'a [u8],
    message: &'static str,
) -> Result<Decoded<'a>> {
    if let Some(e) = contents_error(t) {
        return Err(Error::decode(message, e));
    }
    let label = id_label(&t.id);
    match &mut t.contents {
        Some(torch_tensor::Contents::ContentsData(data)) => data_into_decoded(data, base)
            .map_err(|e| Error::decode(message, format!("TorchTensor {label}: {e}"))),
        _ => unreachable!("checked by contents_error"),
    }
}

/// Convert a borrowed `TorchTensor` into a [`Tensor`] (copies the values).
pub fn tensor_from_proto(t: &TorchTensor, message: &'static str) -> Result<Tensor> {
    if let Some(e) = contents_error(t) {
        return Err(Error::decode(message, e));
    }
    let label = id_label(&t.id);
    match &t.contents {
        Some(torch_tensor::Contents::ContentsData(data)) => {
            let mut data = TensorData::clone(data);
            data_into_tensor(&mut data)
                .map_err(|e| Error::decode(message, format!("TorchTensor {label}: {e}")))
        }
        _ => unreachable!("checked by contents_error"),
    }
}

/// `TensorData{shape, dtype, contents_<dtype>}` for `t` (copies the values).
pub fn tensor_data_of(t: &Tensor) -> Result<TensorData> {
    let mut data = TensorData {
        shape: Some(size_of(t.shape())?),
        dtype: t.dtype().name().to_string(),
        ..Default::default()
    };
    match t {
        Tensor::F32(a) => data.contents_float32 = a.iter().copied().collect(),
        Tensor::F64(a) => data.contents_float64 = a.iter().copied().collect(),
        Tensor::I32(a) => data.contents_int32 = a.iter().copied().collect(),
        Tensor::I64(a) => data.contents_int64 = a.iter().copied().collect(),
        Tensor::Bool(a) => data.contents_bool = a.iter().copied().collect(),
        Tensor::U8(a) => data.contents_uint8 = a.iter().map(|&v| u32::from(v)).collect(),
    }
    Ok(data)
}

/// Dims as a `Size`, rejecting dims that do not fit in int32.
pub fn size_of(shape: &[usize]) -> Result<Size> {
    let dims = shape
        .iter()
        .map(|&d| {
            i32::try_from(d)
                .map_err(|_| Error::InvalidArgument(format!("dimension {d} does not fit in int32")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Size { dims })
}

fn wrap(id: Id, data: TensorData) -> TorchTensor {
    TorchTensor {
        id: Some(id),
        contents: Some(torch_tensor::Contents::ContentsData(Box::new(data))),
        serializer: torch_tensor::Serializer::All as i32,
        ..Default::default()
    }
}

/// `TorchTensor{id, contents_data, serializer: SERIALIZER_ALL}` for a borrowed tensor.
pub fn tensor_to_proto(t: &Tensor, id: Id) -> Result<TorchTensor> {
    Ok(wrap(id, tensor_data_of(t)?))
}

/// As [`tensor_to_proto`], moving the values of a standard-layout tensor instead of copying.
pub fn tensor_into_proto(t: Tensor, id: Id) -> Result<TorchTensor> {
    let shape = size_of(t.shape())?;
    let mut data = TensorData {
        shape: Some(shape),
        dtype: t.dtype().name().to_string(),
        ..Default::default()
    };
    fn raw<T: Clone>(a: ArrayD<T>) -> Vec<T> {
        if !a.is_standard_layout() {
            return a.iter().cloned().collect();
        }
        // Standard layout: the elements are `v[offset..offset + len]` of the owned buffer.
        let len = a.len();
        let (mut v, offset) = a.into_raw_vec_and_offset();
        let offset = offset.unwrap_or(0);
        v.truncate(offset + len);
        v.drain(..offset);
        v
    }
    match t {
        Tensor::F32(a) => data.contents_float32 = raw(a),
        Tensor::F64(a) => data.contents_float64 = raw(a),
        Tensor::I32(a) => data.contents_int32 = raw(a),
        Tensor::I64(a) => data.contents_int64 = raw(a),
        Tensor::Bool(a) => data.contents_bool = raw(a),
        Tensor::U8(a) => data.contents_uint8 = a.iter().map(|&v| u32::from(v)).collect(),
    }
    Ok(wrap(id, data))
}
