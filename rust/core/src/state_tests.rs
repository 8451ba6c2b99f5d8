//! Unit tests of state.rs: the streaming encoder against the prost structs, diffs, checkpoints.

use ndarray::{arr0, arr1, arr2, ArrayD, IxDyn};

use super::*;
use crate::proto::{self, StateTensor};

fn views(ts: &[Tensor]) -> Vec<TensorView<'_>> {
    ts.iter().map(Tensor::view).collect()
}

fn sample() -> Vec<Tensor> {
    vec![
        Tensor::F32(arr2(&[[0.5f32, -1.25, 2.0], [3.75, -0.125, 1024.0]]).into_dyn()),
        Tensor::F64(arr1(&[0.1f64, -1e300]).into_dyn()),
        Tensor::I32(arr1(&[-1i32, 0, i32::MAX]).into_dyn()),
        Tensor::I64(arr1(&[-1_099_511_627_776i64, 0, 7]).into_dyn()),
        Tensor::U8(arr1(&[0u8, 255, 7]).into_dyn()),
        Tensor::Bool(arr1(&[true, false]).into_dyn()),
        Tensor::F32(arr0(42.5f32).into_dyn()),
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[0]), vec![]).unwrap()),
        Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[2, 0, 3]), vec![]).unwrap()),
    ]
}

/// The SyftModel layout built with the prost structs (the reference for the streaming encoder).
fn reference(ts: &[Tensor]) -> Vec<u8> {
    let mut state = State::default();
    for (i, t) in ts.iter().enumerate() {
        state.placeholders.push(Placeholder {
            id: Some(Id::int(i as i64)),
            tags: vec![format!("#{i}"), format!("#state-{i}")],
            expected_shape: Some(Shape {
                dims: t.shape().iter().map(|&d| d as i32).collect(),
            }),
            ..Default::default()
        });
        state.tensors.push(StateTensor {
            tensor: Some(state_tensor::Tensor::TorchTensor(
                proto::tensor_to_proto(t, Id::int(i as i64)).unwrap(),
            )),
        });
    }
    proto::encode(&state)
}

#[test]
fn streaming_encoder_matches_prost_and_round_trips() {
    let ts = sample();
    let bytes = encode_state(&views(&ts)).unwrap();
    assert_eq!(bytes, reference(&ts));
    assert_eq!(StateEncoder::new(&views(&ts)).unwrap().len(), bytes.len());
    assert_eq!(decode_state(&bytes).unwrap(), ts);
    assert_eq!(encode_state(&[]).unwrap(), Vec::<u8>::new());
}

#[test]
fn non_contiguous_views_encode_in_logical_order() {
    let a = arr2(&[[1.0f32, 2.0], [3.0, 4.0]]);
    let t = a.t();
    let v = [TensorView::F32(t.into_dyn())];
    let back = decode_state(&encode_state(&v).unwrap()).unwrap();
    assert_eq!(
        back[0],
        Tensor::F32(arr2(&[[1.0f32, 3.0], [2.0, 4.0]]).into_dyn())
    );
}

#[test]
fn diff_is_original_minus_updated_and_checks_layout() {
    let a = vec![
        Tensor::F32(arr1(&[1.0f32, 2.0]).into_dyn()),
        Tensor::U8(arr1(&[1u8, 0]).into_dyn()),
    ];
    let b = vec![
        Tensor::F32(arr1(&[0.5f32, 4.0]).into_dyn()),
        Tensor::U8(arr1(&[2u8, 0]).into_dyn()),
    ];
    let d = decode_state(&serialized_diff(&views(&a), &views(&b)).unwrap()).unwrap();
    assert_eq!(d[0], Tensor::F32(arr1(&[0.5f32, -2.0]).into_dyn()));
    assert_eq!(
        d[1],
        Tensor::U8(arr1(&[255u8, 0]).into_dyn()),
        "uint8 wraps as numpy does"
    );

    let e = diff(&views(&a), &views(&a[..1])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Model has 2 parameters, updated parameters has 1."
    );
    let c = vec![a[0].clone(), Tensor::U8(arr2(&[[1u8]]).into_dyn())];
    let e = diff(&views(&a), &views(&c)).unwrap_err();
    assert!(matches!(e, Error::Mismatch(_)));
    assert_eq!(
        e.to_string(),
        "Parameter 1 is uint8[2], updated parameter is uint8[1,1]."
    );
}

#[test]
fn replace_values_keeps_layout() {
    let ts = sample();
    let original = encode_state(&views(&ts)).unwrap();
    let mut changed = ts.clone();
    changed[0] = Tensor::F32(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]).into_dyn());
    let out = state_replace_values(&original, &views(&changed)).unwrap();
    assert_eq!(out, encode_state(&views(&changed)).unwrap());
    assert_eq!(out.len(), original.len());

    let e = state_replace_values(&original, &views(&ts[..2])).unwrap_err();
    assert_eq!(e.to_string(), "State has 9 tensors, got 2 parameters.");
    let mut wrong = ts.clone();
    wrong[1] = Tensor::F32(arr1(&[1.0f32, 2.0]).into_dyn());
    let e = state_replace_values(&original, &views(&wrong)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "State tensor 1 is float64[2], parameter is float32[2]."
    );
}

#[test]
fn check_diff_messages() {
    let model = encode_state(&views(&sample()[..2])).unwrap();
    assert!(check_diff(&model, &model).is_ok());
    let e = check_diff(&model, b"\xff").unwrap_err();
    assert!(matches!(e, Error::DecodeText(_)));
    assert!(
        e.to_string().starts_with("Diff is not a valid State: "),
        "{e}"
    );
    let short = encode_state(&views(&sample()[..1])).unwrap();
    assert_eq!(
        check_diff(&model, &short).unwrap_err().to_string(),
        "Diff has 1 tensors, model has 2."
    );
    let other = vec![
        sample()[0].clone(),
        Tensor::F64(arr1(&[1.0f64, 2.0, 3.0]).into_dyn()),
    ];
    let other = encode_state(&views(&other)).unwrap();
    assert_eq!(
        check_diff(&model, &other).unwrap_err().to_string(),
        "Diff tensor 1 is float64[3], model tensor is float64[2]."
    );
}

mod borrowing {
    use crate::proto::Decoded;
    use crate::state;
    use crate::tensor::Tensor;

    fn ld(field: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_key(field, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(body.len() as u64, &mut out);
        out.extend_from_slice(body);
        out
    }

    fn packed(values: &[f32]) -> Vec<u8> {
        ld(
            22,
            &values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>(),
        )
    }

    /// A State of one float32 TensorData of shape [n] whose values are the given runs.
    fn state_bytes(n: i32, runs: &[&[f32]]) -> Vec<u8> {
        let mut data = ld(1, &{
            let mut dims = Vec::new();
            prost::encoding::int32::encode_packed(1, &[n], &mut dims);
            dims
        });
        data.extend(ld(2, b"float32"));
        for r in runs {
            data.extend(packed(r));
        }
        let torch = ld(2, &data); // TorchTensor.contents_data
        let st = ld(1, &torch); // StateTensor.torch_tensor
        ld(2, &st) // State.tensors
    }

    /// Decode `msg` placed at each of 8 offsets in a buffer, so that its float run is
    /// aligned at some of them and not at others.
    fn at_offsets(msg: &[u8], check: impl Fn(Vec<Decoded<'_>>) -> bool) -> usize {
        let mut borrowed = 0;
        for off in 0..8 {
            let mut buf = vec![0u8; off];
            buf.extend_from_slice(msg);
            let got = state::decode_state_borrowing(&buf[off..]).unwrap();
            if got.iter().any(|d| matches!(d, Decoded::Borrowed(_))) {
                borrowed += 1;
            }
            assert!(check(got));
        }
        borrowed
    }

    fn values(d: &Decoded<'_>) -> Vec<f32> {
        match d {
            Decoded::Owned(Tensor::F32(a)) => a.iter().copied().collect(),
            Decoded::Borrowed(crate::tensor::TensorView::F32(a)) => a.iter().copied().collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn aligned_runs_are_views_and_agree_with_the_copy() {
        let msg = state_bytes(4, &[&[1.0, 2.0, 3.0, 4.0]]);
        let n = at_offsets(&msg, |got| values(&got[0]) == [1.0, 2.0, 3.0, 4.0]);
        // Exactly the offsets that align the run (one in four) borrow it.
        assert_eq!(n, 2);
    }

    #[test]
    fn a_second_run_of_the_field_is_appended_to_a_borrowed_first() {
        let msg = state_bytes(4, &[&[1.0, 2.0], &[3.0, 4.0]]);
        let n = at_offsets(&msg, |got| values(&got[0]) == [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(n, 0);
    }

    #[test]
    fn borrowed_runs_get_the_copying_decode_errors() {
        let msg = state_bytes(3, &[&[1.0, 2.0]]);
        for off in 0..4 {
            let mut buf = vec![0u8; off];
            buf.extend_from_slice(&msg);
            let a = state::decode_state(&buf[off..]).unwrap_err().to_string();
            let b = state::decode_state_borrowing(&buf[off..])
                .unwrap_err()
                .to_string();
            assert_eq!(a, b);
            assert!(a.contains("2 values for shape [3] (3 expected)"), "{a}");
        }
    }
}
