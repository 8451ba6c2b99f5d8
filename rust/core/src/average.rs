//! FedAvg: mean of model diffs and its application to a checkpoint.
//!
//! The plain mean is `(((d1 + d2) + d3) + … + dk) / k`, summed left to right in the
//! parameter dtype (protocol.md §8.2); diffs are decoded one at a time so that memory stays
//! at two models whatever `k` is. The update is `new = old − avg` with the checkpoint's
//! layout kept (protocol.md §7.5).

use ndarray::{ArrayD, Zip};

use crate::error::{Error, Result};
use crate::state::{decode_state, layout, map_state_values, subtract, TensorView};
use crate::tensor::Tensor;

/// Running sum of one tensor: floats in their own dtype, integers exactly (i128) so that
/// the mean of in-range values is in range.
enum Acc {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    Int(ArrayD<i128>, crate::tensor::DType),
}

fn widen<T: Copy + Into<i128>>(a: &ArrayD<T>) -> ArrayD<i128> {
    a.map(|&v| v.into())
}

impl Acc {
    fn start(t: Tensor, diff: usize, index: usize) -> Result<Acc> {
        Ok(match t {
            Tensor::F32(a) => Acc::F32(a),
            Tensor::F64(a) => Acc::F64(a),
            Tensor::I32(a) => Acc::Int(widen(&a), crate::tensor::DType::I32),
            Tensor::I64(a) => Acc::Int(widen(&a), crate::tensor::DType::I64),
            Tensor::U8(a) => Acc::Int(widen(&a), crate::tensor::DType::U8),
            Tensor::Bool(_) => {
                return Err(Error::InvalidArgument(format!(
                    "Diff {diff} tensor {index} is bool: bool tensors cannot be averaged."
                )))
            }
        })
    }

    fn add(&mut self, t: &Tensor) {
        match (self, t) {
            (Acc::F32(s), Tensor::F32(a)) => Zip::from(s).and(a).for_each(|s, &v| *s += v),
            (Acc::F64(s), Tensor::F64(a)) => Zip::from(s).and(a).for_each(|s, &v| *s += v),
            (Acc::Int(s, _), Tensor::I32(a)) => {
                Zip::from(s).and(a).for_each(|s, &v| *s += i128::from(v))
            }
            (Acc::Int(s, _), Tensor::I64(a)) => {
                Zip::from(s).and(a).for_each(|s, &v| *s += i128::from(v))
            }
            (Acc::Int(s, _), Tensor::U8(a)) => {
                Zip::from(s).and(a).for_each(|s, &v| *s += i128::from(v))
            }
            _ => unreachable!("layouts are checked before adding"),
        }
    }

    fn mean(self, k: usize) -> Tensor {
        match self {
            Acc::F32(mut s) => {
                let k = k as f32;
                s.mapv_inplace(|v| v / k);
                Tensor::F32(s)
            }
            Acc::F64(mut s) => {
                let k = k as f64;
                s.mapv_inplace(|v| v / k);
                Tensor::F64(s)
            }
            // Truncating division: |mean| <= max |value|, so the casts cannot overflow.
            Acc::Int(s, dtype) => {
                let k = k as i128;
                match dtype {
                    crate::tensor::DType::I32 => Tensor::I32(s.mapv(|v| (v / k) as i32)),
                    crate::tensor::DType::I64 => Tensor::I64(s.mapv(|v| (v / k) as i64)),
                    _ => Tensor::U8(s.mapv(|v| (v / k) as u8)),
                }
            }
        }
    }
}

/// Plain mean of serialized diff States (all must share the first diff's layout).
pub fn mean_diffs<B: AsRef<[u8]>>(diffs: &[B]) -> Result<Vec<Tensor>> {
    let Some(first) = diffs.first() else {
        return Err(Error::InvalidArgument(
            "mean_diffs needs at least one diff".to_string(),
        ));
    };
    let first = decode_state(first.as_ref())?;
    let shapes: Vec<_> = first
        .iter()
        .map(|t| (t.dtype(), t.shape().to_vec()))
        .collect();
    let mut acc = first
        .into_iter()
        .enumerate()
        .map(|(i, t)| Acc::start(t, 0, i))
        .collect::<Result<Vec<_>>>()?;
    for (j, bytes) in diffs.iter().enumerate().skip(1) {
        let d = decode_state(bytes.as_ref())?;
        if d.len() != shapes.len() {
            return Err(Error::Mismatch(format!(
                "Diff {j} has {} tensors, diff 0 has {}.",
                d.len(),
                shapes.len()
            )));
        }
        for (i, (t, (dtype, shape))) in d.iter().zip(&shapes).enumerate() {
            if t.dtype() != *dtype || t.shape() != shape.as_slice() {
                return Err(Error::Mismatch(format!(
                    "Diff {j} tensor {i} is {}, diff 0 tensor is {}.",
                    layout(t.dtype(), t.shape()),
                    layout(*dtype, shape)
                )));
            }
        }
        for (a, t) in acc.iter_mut().zip(&d) {
            a.add(t);
        }
    }
    Ok(acc.into_iter().map(|a| a.mean(diffs.len())).collect())
}

/// `new = old − avg` per tensor, re-encoded with the checkpoint's layout.
pub fn apply_diff(checkpoint: &[u8], avg: &[TensorView<'_>]) -> Result<Vec<u8>> {
    map_state_values(checkpoint, avg.len(), |i, old| {
        let a = &avg[i];
        if a.dtype() != old.dtype() || a.shape() != old.shape() {
            return Err(Error::Mismatch(format!(
                "Checkpoint tensor {i} is {}, average tensor is {}.",
                layout(old.dtype(), old.shape()),
                a.layout()
            )));
        }
        subtract(&Tensor::view(&old), a, i)
    })
}

#[cfg(test)]
mod tests {
    use ndarray::arr1;

    use super::*;
    use crate::state::encode_state;

    fn state(ts: &[Tensor]) -> Vec<u8> {
        encode_state(&ts.iter().map(Tensor::view).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn mean_is_left_to_right_sum_over_k() {
        let d = |v: f32, i: i64| {
            state(&[
                Tensor::F32(arr1(&[v, 2.0 * v]).into_dyn()),
                Tensor::I64(arr1(&[i]).into_dyn()),
            ])
        };
        let m = mean_diffs(&[d(0.1, 1), d(0.2, 2), d(0.4, 4)]).unwrap();
        let expect = ((0.1f32 + 0.2f32) + 0.4f32) / 3.0;
        assert_eq!(
            m[0],
            Tensor::F32(arr1(&[expect, ((0.2f32 + 0.4f32) + 0.8f32) / 3.0]).into_dyn())
        );
        assert_eq!(m[1], Tensor::I64(arr1(&[2i64]).into_dyn()));
        assert!(matches!(
            mean_diffs::<Vec<u8>>(&[]),
            Err(Error::InvalidArgument(_))
        ));
        let other = state(&[Tensor::F32(arr1(&[1.0f32]).into_dyn())]);
        assert_eq!(
            mean_diffs(&[d(0.1, 1), other]).unwrap_err().to_string(),
            "Diff 1 has 1 tensors, diff 0 has 2."
        );
    }

    #[test]
    fn apply_diff_subtracts_and_keeps_layout() {
        let old = [Tensor::F32(arr1(&[1.0f32, 2.0]).into_dyn())];
        let avg = [Tensor::F32(arr1(&[0.25f32, -1.0]).into_dyn())];
        let out = apply_diff(&state(&old), &[Tensor::view(&avg[0])]).unwrap();
        assert_eq!(out, state(&[Tensor::F32(arr1(&[0.75f32, 3.0]).into_dyn())]));
        let wrong = Tensor::F32(arr1(&[1.0f32]).into_dyn());
        let e = apply_diff(&state(&old), &[Tensor::view(&wrong)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Checkpoint tensor 0 is float32[2], average tensor is float32[1]."
        );
    }
}
