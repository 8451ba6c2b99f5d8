//! Unit tests of the hand-written codecs: field order, maps, packed/unpacked, hostile lengths.

use prost::bytes::Buf;
use prost::Message;

use super::*;

fn tensor_f32(id: i64, dims: Vec<i32>, values: Vec<f32>) -> TorchTensor {
    TorchTensor {
        id: Some(Id::int(id)),
        contents: Some(torch_tensor::Contents::ContentsData(Box::new(TensorData {
            shape: Some(Size { dims }),
            dtype: "float32".into(),
            contents_float32: values,
            ..Default::default()
        }))),
        serializer: 4,
        ..Default::default()
    }
}

#[test]
fn target_id_is_written_after_field_8() {
    let action = ComputationAction {
        command: "add".into(),
        target: Some(computation_action::Target::TargetId(Id::int(5))),
        return_placeholder_ids: vec![PlaceholderId {
            id: Some(Id::int(7)),
        }],
        ..Default::default()
    };
    let bytes = encode(&action);
    // 0a 03 "add" · 42 04 0a 02 08 07 · 4a 02 08 05
    assert_eq!(
        bytes,
        [0x0a, 3, b'a', b'd', b'd', 0x42, 4, 0x0a, 2, 8, 7, 0x4a, 2, 8, 5]
    );
    assert_eq!(decode::<ComputationAction>(&bytes).unwrap(), action);
    assert_eq!(action.encoded_len(), bytes.len());
}

#[test]
fn target_placeholder_id_is_written_after_command() {
    let action = ComputationAction {
        command: "t".into(),
        target: Some(computation_action::Target::TargetPlaceholderId(
            PlaceholderId {
                id: Some(Id::int(1)),
            },
        )),
        ..Default::default()
    };
    assert_eq!(encode(&action), [0x0a, 1, b't', 0x1a, 4, 0x0a, 2, 8, 1]);
}

fn kw(key: &str, v: i64) -> Kwarg {
    Kwarg {
        key: key.into(),
        value: Some(Arg::new(arg::Arg::ArgInt(v))),
    }
}

#[test]
fn kwargs_keep_wire_order_and_last_duplicate_wins() {
    let action = ComputationAction {
        command: "tf.sum".into(),
        kwargs: vec![kw("keepdim", 1), kw("axis", 2), kw("keepdim", 3)],
        ..Default::default()
    };
    let back: ComputationAction = decode(&encode(&action)).unwrap();
    assert_eq!(back.kwargs, action.kwargs, "entries survive in wire order");
    let eff: Vec<_> = back
        .effective_kwargs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.cloned()))
        .collect();
    assert_eq!(
        eff,
        vec![
            ("keepdim".to_string(), Some(Arg::new(arg::Arg::ArgInt(3)))),
            ("axis".to_string(), Some(Arg::new(arg::Arg::ArgInt(2))))
        ]
    );
    assert_eq!(back.kwarg("keepdim"), Some(&Arg::new(arg::Arg::ArgInt(3))));
    // The linear path for many entries gives the same answer as the small one.
    let many = ComputationAction {
        kwargs: (0..100).map(|i| kw(&format!("k{}", i % 40), i)).collect(),
        ..Default::default()
    };
    let eff = many.effective_kwargs();
    assert_eq!(eff.len(), 40);
    assert_eq!(eff[0], ("k0", Some(&Arg::new(arg::Arg::ArgInt(80)))));
}

#[test]
fn roles_are_written_sorted_and_read_last_wins() {
    let mut plan = Plan {
        name: "p".into(),
        ..Default::default()
    };
    plan.roles.insert(
        "torch".into(),
        Role {
            tags: vec!["t".into()],
            ..Default::default()
        },
    );
    plan.roles.insert("tfjs".into(), Role::default());
    let bytes = encode(&plan);
    let tfjs = bytes.windows(4).position(|w| w == b"tfjs").unwrap();
    let torch = bytes.windows(5).position(|w| w == b"torch").unwrap();
    assert!(tfjs < torch);
    // An empty Role value is still written (`12 00`).
    assert!(bytes
        .windows(8)
        .any(|w| w == [0x52, 8, 0x0a, 4, b't', b'f', b'j', b's']));
    assert_eq!(plan.encoded_len(), bytes.len());
    // Unsorted input with a duplicate key: last entry wins, output sorted.
    let mut wire = Vec::new();
    for (k, tag) in [("torch", "a"), ("tfjs", "b"), ("torch", "c")] {
        let role = Role {
            tags: vec![tag.into()],
            ..Default::default()
        };
        let mut entry = Vec::new();
        prost::encoding::string::encode(1, &k.to_string(), &mut entry);
        prost::encoding::message::encode(2, &role, &mut entry);
        prost::encoding::bytes::encode(10, &entry, &mut wire);
    }
    let back: Plan = decode(&wire).unwrap();
    assert_eq!(back.roles.len(), 2);
    assert_eq!(back.roles["torch"].tags, ["c"]);
    let keys: Vec<_> = back.roles.keys().collect();
    assert_eq!(keys, ["tfjs", "torch"]);
}

#[test]
fn packed_and_unpacked_scalars_decode_alike() {
    // Size{dims: [2, 3]} unpacked: 08 02 08 03; packed: 0a 02 02 03.
    assert_eq!(decode::<Size>(&[0x08, 2, 0x08, 3]).unwrap().dims, [2, 3]);
    assert_eq!(decode::<Size>(&[0x0a, 2, 2, 3]).unwrap().dims, [2, 3]);
    // contents_float32 (22) unpacked: b5 01 <f32> twice, then a packed run.
    let mut wire = vec![0xb5, 0x01];
    wire.extend(1.5f32.to_le_bytes());
    wire.extend([0xb5, 0x01]);
    wire.extend((-2.0f32).to_le_bytes());
    wire.extend([0xb2, 0x01, 4]);
    wire.extend(8.0f32.to_le_bytes());
    let data: TensorData = decode(&wire).unwrap();
    assert_eq!(data.contents_float32, [1.5, -2.0, 8.0]);
    // contents_float64 (23) unpacked: b9 01 <f64>.
    let mut wire = vec![0xb9, 0x01];
    wire.extend(0.1f64.to_le_bytes());
    assert_eq!(decode::<TensorData>(&wire).unwrap().contents_float64, [0.1]);
    // bool (24) unpacked: c0 01 01 c0 01 00.
    assert_eq!(
        decode::<TensorData>(&[0xc0, 1, 1, 0xc0, 1, 0])
            .unwrap()
            .contents_bool,
        [true, false]
    );
}

#[test]
fn packed_floats_decode_from_a_fragmented_buffer() {
    let t = tensor_f32(1, vec![5], vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    let bytes = encode(&t);
    // Split at every position: values straddling the chunk boundary must survive.
    for cut in 0..bytes.len() {
        let buf = (&bytes[..cut]).chain(&bytes[cut..]);
        assert_eq!(TorchTensor::decode(buf).unwrap(), t, "cut at {cut}");
    }
}

#[test]
fn hostile_lengths_fail_fast() {
    // contents_float32 claiming 2^62 bytes.
    let mut wire = vec![0xb2, 0x01];
    let mut huge = Vec::new();
    prost::encoding::encode_varint(1 << 62, &mut huge);
    wire.extend(&huge);
    wire.extend([0; 8]);
    assert!(decode::<TensorData>(&wire).is_err());
    // Packed float length not a multiple of 4.
    assert!(decode::<TensorData>(&[0xb2, 0x01, 3, 0, 0, 0]).is_err());
    // Wrong wire type for a float field (varint).
    assert!(decode::<TensorData>(&[0xb0, 0x01, 5]).is_err());
    // 10 000 nested TorchTensor.chain: recursion limit, not a stack overflow.
    let mut nested: Vec<u8> = Vec::new();
    for _ in 0..10_000 {
        let mut outer = Vec::new();
        prost::encoding::bytes::encode(4, &nested, &mut outer);
        nested = outer;
    }
    let err = decode::<TorchTensor>(&nested).unwrap_err().to_string();
    assert!(err.contains("recursion"), "{err}");
}

#[test]
fn invalid_utf8_is_a_decode_error() {
    let err = decode::<Plan>(&[0x22, 2, 0xff, 0xfe])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("Failed to decode Plan: Plan.name"), "{err}");
}

#[test]
fn id_zero_is_written_and_keys_match_across_arms() {
    assert_eq!(encode(&Id::int(0)), [0x08, 0x00]);
    assert_eq!(Id::int(123).key(), Id::str("123").key());
}

#[test]
fn tensor_conversion_rules() {
    let ok = tensor_f32(9, vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let t = torch_tensor_into_tensor(ok.clone(), "State").unwrap();
    assert_eq!(t.shape(), [2, 2]);
    assert_eq!(tensor_to_proto(&t, Id::int(9)).unwrap(), ok);

    let bad_count = tensor_f32(9, vec![2, 3], vec![1.0]);
    let e = torch_tensor_into_tensor(bad_count, "State")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "Failed to decode State: TorchTensor 9: 1 values for shape [2,3] (6 expected)"
    );

    let bin = TorchTensor {
        id: Some(Id::int(3)),
        contents: Some(torch_tensor::Contents::ContentsBin(vec![1, 2])),
        serializer: 1,
        ..Default::default()
    };
    let e = tensor_from_proto(&bin, "State").unwrap_err().to_string();
    assert!(
        e.contains("contents_bin (serializer 1 SERIALIZER_TORCH) is not supported"),
        "{e}"
    );

    let mut wrong_field = tensor_f32(4, vec![1], vec![]);
    if let Some(torch_tensor::Contents::ContentsData(d)) = &mut wrong_field.contents {
        d.contents_int64 = vec![1];
    }
    let e = tensor_from_proto(&wrong_field, "State")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "dtype float32 expects values in contents_float32, found values in contents_int64"
        ),
        "{e}"
    );

    let mut f16 = tensor_f32(5, vec![1], vec![]);
    if let Some(torch_tensor::Contents::ContentsData(d)) = &mut f16.contents {
        d.dtype = "float16".into();
        d.contents_float16 = vec![1.0];
    }
    let e = tensor_from_proto(&f16, "State").unwrap_err().to_string();
    assert!(e.contains("dtype 'float16' is not supported"), "{e}");

    let mut quant = tensor_f32(6, vec![1], vec![1.0]);
    if let Some(torch_tensor::Contents::ContentsData(d)) = &mut quant.contents {
        d.is_quantized = true;
    }
    assert!(tensor_from_proto(&quant, "State")
        .unwrap_err()
        .to_string()
        .contains("quantized"));

    let neg = tensor_f32(7, vec![-1], vec![]);
    assert!(tensor_from_proto(&neg, "State")
        .unwrap_err()
        .to_string()
        .contains("negative dimension"));

    let overflow = tensor_f32(8, vec![i32::MAX, i32::MAX, i32::MAX], vec![]);
    assert!(tensor_from_proto(&overflow, "State")
        .unwrap_err()
        .to_string()
        .contains("too many elements"));

    // Absent shape = 0-d with one value.
    let mut scalar = tensor_f32(10, vec![], vec![42.5]);
    if let Some(torch_tensor::Contents::ContentsData(d)) = &mut scalar.contents {
        d.shape = None;
    }
    assert_eq!(
        tensor_from_proto(&scalar, "State").unwrap().shape(),
        [] as [usize; 0]
    );
}
