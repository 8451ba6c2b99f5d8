//! Golden tests: every shared vector decodes as its message type; syftproto vectors re-encode byte-identically.

use std::path::PathBuf;

use syft_rs_core::proto::{self, Plan, Protocol, State};

fn vectors() -> Option<PathBuf> {
    let dir = std::env::var_os("SYFT_RS_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} is absent (../shared/vectors is not beside the checkout)",
            dir.display()
        );
        None
    }
}

/// (relative path, message kind) of every vector file.
pub const FILES: &[(&str, &str)] = &[
    ("syftproto/tensor_f32_2x3.pb", "TorchTensor"),
    ("syftproto/state_two_f32_params.pb", "State"),
    ("syftproto/state_two_f32_params_updated.pb", "State"),
    ("syftproto/state_two_f32_params_diff.pb", "State"),
    ("syftproto/state_torch_param.pb", "State"),
    ("syftproto/state_dtypes_edge.pb", "State"),
    ("syftproto/id_int.pb", "Id"),
    ("syftproto/id_str.pb", "Id"),
    ("syftproto/syft_message_object_tensor.pb", "SyftMessage"),
    ("syftproto/plan_with_state.pb", "Plan"),
    ("syftproto/plan_linreg_sgd.pb", "Plan"),
    ("syftjs/mnist_training_plan.Plan.pb", "Plan"),
    ("syftjs/mnist_batch_data.State.pb", "State"),
    ("syftjs/mnist_model_params.State.pb", "State"),
    ("syftjs/mnist_updated_model_params.State.pb", "State"),
    ("syftjs/plan_with_state.Plan.pb", "Plan"),
    (
        "syftjs/object_message_2x3.ObjectMessage.pb",
        "ObjectMessage",
    ),
    ("pygrid/capture/checkpoint_2.pb", "State"),
    ("pygrid/capture/checkpoint_3.pb", "State"),
    ("pygrid/capture/diff1_state.pb", "State"),
    ("pygrid/capture/diff2_state.pb", "State"),
    ("pygrid/capture/diff_from_train_step_state.pb", "State"),
    ("pygrid/capture/plan_list.pb", "Plan"),
    ("pygrid/capture/plan_tfjs.pb", "Plan"),
    ("pygrid/capture/plan_torchscript.pb", "Plan"),
    ("pygrid/capture/train_batch_state.pb", "State"),
    ("pygrid/capture/train_step_updated_params_state.pb", "State"),
    ("pygrid/capture/uploaded_avg_plan.pb", "Plan"),
    ("pygrid/capture/uploaded_model_state.pb", "State"),
    ("pygrid/capture/uploaded_training_plan.pb", "Plan"),
];

#[test]
fn every_vector_decodes_and_round_trips() {
    let Some(dir) = vectors() else { return };
    for (file, kind) in FILES {
        let data = std::fs::read(dir.join(file)).unwrap();
        let once = proto::reencode(kind, &data).unwrap_or_else(|e| panic!("{file}: {e}"));
        let twice = proto::reencode(kind, &once).unwrap();
        assert_eq!(once, twice, "{file}: re-encoding is not stable");
        // Lossless: the value tree of the re-encoded bytes equals the original's.
        let a = proto::describe(kind, &data).unwrap_or_else(|e| panic!("{file}: {e}"));
        let b = proto::describe(kind, &once).unwrap();
        assert_eq!(
            a, b,
            "{file}: decode -> encode -> decode changed the message"
        );
        if file.starts_with("syftproto/") {
            assert_eq!(once, data, "{file}: not byte-identical");
        }
    }
}

#[test]
fn legacy_protocol_fails_with_utf8_error() {
    let Some(dir) = vectors() else { return };
    let data = std::fs::read(dir.join("syftjs/protocol_legacy_schema.Protocol.pb")).unwrap();
    let err = proto::decode::<Protocol>(&data).unwrap_err().to_string();
    assert!(err.starts_with("Failed to decode Protocol: "), "{err}");
    assert!(err.contains("UTF-8"), "{err}");
}

#[test]
fn captured_plans_and_states_byte_identical_where_canonical() {
    // States written by PyGrid/syft.js follow the same rules: they re-encode identically too.
    let Some(dir) = vectors() else { return };
    for (file, kind) in FILES {
        if *kind != "State" {
            continue;
        }
        let data = std::fs::read(dir.join(file)).unwrap();
        let state: State = proto::decode(&data).unwrap();
        assert_eq!(proto::encode(&state), data, "{file}");
    }
    let data = std::fs::read(dir.join("syftjs/mnist_training_plan.Plan.pb")).unwrap();
    let plan: Plan = proto::decode(&data).unwrap();
    assert_eq!(plan.roles.len(), 2);
}
