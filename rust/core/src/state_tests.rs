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
