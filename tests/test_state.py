"""The State functions of syft_rs._core: decode/encode, diffs, checkpoints, node-side checks."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import vector_path
from syft_rs import _core
from syft_rs.errors import DiffMismatchError, PlanDecodeError

F32 = np.float32


def _state(name: str, *parts: str) -> bytes:
    return vector_path(*parts, name).read_bytes()


def test_decode_state_dtypes_edge() -> None:
    ts = _core.decode_state(_state("state_dtypes_edge.pb", "syftproto"))
    assert [(t.dtype.name, t.shape) for t in ts] == [
        ("int64", (3,)),
        ("float64", (2,)),
        ("float32", ()),
        ("float32", (0,)),
        ("bool", (2,)),
    ]
    np.testing.assert_array_equal(ts[0], [-1099511627776, 0, 7])
    np.testing.assert_array_equal(ts[1], [0.1, -1e300])
    assert ts[2] == F32(42.5)
    np.testing.assert_array_equal(ts[4], [True, False])


def test_decoded_arrays_are_read_only_and_never_copied_twice() -> None:
    data = _state("state_two_f32_params.pb", "syftproto")
    ts = _core.decode_state(data)
    for t in ts:
        assert not t.flags.writeable
        assert t.flags.c_contiguous and t.flags.aligned
        # Rust memory the values were moved into, or the input bytes themselves.
        assert type(t.base).__name__ == "PySliceContainer" or t.base is data
    with pytest.raises(ValueError, match="read-only"):
        ts[0][0, 0] = 1.0


def _vector_states() -> list[bytes]:
    out = []
    for d in ("syftproto", "syftjs", "pygrid/capture"):
        for f in sorted(vector_path(*d.split("/")).glob("*.pb")):
            data = f.read_bytes()
            try:
                _core.decode_state(data)
            except ValueError:
                continue
            out.append(data)
    return out


def test_zero_copy_decode_views_aligned_float_runs_of_the_bytes() -> None:
    states = _vector_states()
    assert len(states) >= 10
    viewed = 0
    for data in states:
        ours = _core.decode_state(data)
        # A bytearray goes through the copying decode: same dtypes, shapes and values.
        copied = _core.decode_state(bytearray(data))
        assert len(ours) == len(copied)
        for a, b in zip(ours, copied, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
            assert type(b.base).__name__ == "PySliceContainer"
            if a.base is data:
                viewed += 1
                assert a.dtype in (np.float32, np.float64) and a.flags.aligned
                assert not a.flags.writeable
    # About one float run in four is aligned in its bytes object by chance.
    assert viewed > 0


def test_views_keep_their_bytes_alive() -> None:
    import gc

    for data in _vector_states():
        arrays = _core.decode_state(bytes(data))
        if any(isinstance(a.base, bytes) for a in arrays):
            break
    else:  # pragma: no cover - the vectors hold aligned runs
        pytest.fail("no vector decodes to a view")
    want = [np.array(a) for a in arrays]
    del data
    gc.collect()
    _ = [bytes(1000) for _ in range(1000)]  # reuse freed memory if it was freed
    for a, w in zip(arrays, want, strict=True):
        np.testing.assert_array_equal(a, w)


def test_unaligned_arrays_are_borrowed_through_an_aligned_copy() -> None:
    """numpy allows unaligned arrays (np.frombuffer at an odd offset); every Rust entry
    point that borrows arrays copies those first."""
    from plan_builder import run_one

    raw = np.arange(12, dtype=np.float32).tobytes()
    a = np.frombuffer(b"\0" + raw, np.float32, offset=1).reshape(3, 4)
    assert not a.flags.aligned
    np.testing.assert_array_equal(_core.decode_state(_core.encode_state([a]))[0], a)
    b = np.frombuffer(b"\0" + (raw * 2)[:48], np.float32, offset=1).reshape(3, 4)
    diff = _core.decode_state(_core.serialized_diff([a], [b]))[0]
    np.testing.assert_array_equal(diff, a - b)
    (s,) = run_one("add", [a, b])
    np.testing.assert_array_equal(s, a + b)


def test_torch_param_yields_its_tensor() -> None:
    (t,) = _core.decode_state(_state("state_torch_param.pb", "syftproto"))
    np.testing.assert_array_equal(t, np.array([[1, -2], [0.5, 0]], F32))


def test_encode_state_exact_bytes() -> None:
    # SyftModel layout (plans.md §3.3) for one float32 tensor [1, 2, 3], field by field.
    expected = bytes.fromhex(
        "0a17"  # State.placeholders[0], 23 bytes
        "1a020800"  # id = Id{id_int: 0}
        "22022330"  # tags[0] = "#0"
        "22082373746174652d30"  # tags[1] = "#state-0"
        "32030a0103"  # expected_shape = Shape{dims: [3]}
        "1227"  # State.tensors[0], 39 bytes
        "0a25"  # StateTensor.torch_tensor, 37 bytes
        "0a020800"  # id = Id{id_int: 0}
        "121d"  # contents_data, 29 bytes
        "0a030a0103"  # shape = Size{dims: [3]}
        "1207666c6f61743332"  # dtype = "float32"
        "b2010c0000803f0000004000004040"  # contents_float32 packed [1, 2, 3]
        "4004"  # serializer = SERIALIZER_ALL
    )
    assert _core.encode_state([np.array([1, 2, 3], F32)]) == expected


def test_encode_state_round_trip_all_dtypes() -> None:
    params = [
        np.array([[1.5, -2.0]], F32),
        np.array([1e-300, -0.0], np.float64),
        np.array([-(2**31), 2**31 - 1], np.int32),
        np.array([-(2**63), 2**63 - 1], np.int64),
        np.array([0, 255], np.uint8),
        np.array([[True], [False]]),
        np.array(3, np.int64),
        np.zeros((3, 0, 2), F32),
    ]
    back = _core.decode_state(_core.encode_state(params))
    for a, b in zip(params, back, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert np.signbit(back[1][1])


def test_encode_state_accepts_non_contiguous_arrays() -> None:
    a = np.arange(12, dtype=F32).reshape(3, 4)
    views = [a.T, a[:, ::2], a[::-1]]
    back = _core.decode_state(_core.encode_state(views))
    for v, b in zip(views, back, strict=True):
        np.testing.assert_array_equal(v, b)


@pytest.mark.parametrize(
    "bad",
    [np.array([1 + 2j]), np.array([1], np.float16), np.array(["a"]), [1.0, 2.0], 3.0],
    ids=["complex", "float16", "str", "list", "float"],
)
def test_encode_state_rejects_unsupported_with_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="parameter 0"):
        _core.encode_state([bad])


def test_encode_state_rejects_non_sequences() -> None:
    with pytest.raises(TypeError):
        _core.encode_state(np.zeros(3, F32))  # a bare array is not a list of arrays
    with pytest.raises(TypeError):
        _core.encode_state(b"abc")


def test_serialized_diff_matches_vector() -> None:
    orig = _core.decode_state(_state("state_two_f32_params.pb", "syftproto"))
    upd = _core.decode_state(_state("state_two_f32_params_updated.pb", "syftproto"))
    want = _core.decode_state(_state("state_two_f32_params_diff.pb", "syftproto"))
    got = _core.decode_state(_core.serialized_diff(orig, upd))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_serialized_diff_matches_pygrid_capture() -> None:
    cap = ("pygrid", "capture")
    orig = _core.decode_state(_state("uploaded_model_state.pb", *cap))
    upd = _core.decode_state(_state("train_step_updated_params_state.pb", *cap))
    want = _core.decode_state(_state("diff_from_train_step_state.pb", *cap))
    for g, w in zip(_core.decode_state(_core.serialized_diff(orig, upd)), want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_serialized_diff_mismatches() -> None:
    a = [np.zeros((2, 3), F32), np.zeros(3, F32)]
    with pytest.raises(
        DiffMismatchError, match=r"^Model has 2 parameters, updated parameters has 1\.$"
    ):
        _core.serialized_diff(a, a[:1])
    with pytest.raises(
        DiffMismatchError,
        match=r"^Parameter 1 is float32\[3\], updated parameter is float64\[3\]\.$",
    ):
        _core.serialized_diff(a, [a[0], np.zeros(3)])
    with pytest.raises(
        DiffMismatchError,
        match=r"^Parameter 0 is float32\[2,3\], updated parameter is float32\[3,2\]\.$",
    ):
        _core.serialized_diff(a, [np.zeros((3, 2), F32), a[1]])
    with pytest.raises(ValueError, match="bool tensors cannot be subtracted"):
        _core.serialized_diff([np.array([True])], [np.array([False])])


def test_state_replace_values_keeps_ids_tags_and_layout() -> None:
    cap = ("pygrid", "capture")
    ckpt = _state("uploaded_model_state.pb", *cap)
    new = _core.decode_state(_state("train_step_updated_params_state.pb", *cap))
    out = _core.state_replace_values(ckpt, new)
    assert len(out) == len(ckpt)
    for a, b in zip(_core.decode_state(out), new, strict=True):
        np.testing.assert_array_equal(a, b)
    before = _core.describe_message("State", ckpt)
    after = _core.describe_message("State", out)
    assert before["placeholders"] == after["placeholders"]
    assert [t["torch_tensor"]["id"] for t in before["tensors"]] == [
        t["torch_tensor"]["id"] for t in after["tensors"]
    ]
    with pytest.raises(DiffMismatchError, match=r"^State has 4 tensors, got 3 parameters\.$"):
        _core.state_replace_values(ckpt, new[:3])
    with pytest.raises(
        DiffMismatchError,
        match=r"^State tensor 1 is float32\[392\], parameter is float64\[392\]\.$",
    ):
        _core.state_replace_values(ckpt, [new[0], new[1].astype(np.float64), *new[2:]])
    with pytest.raises(PlanDecodeError, match=r"^Failed to decode State: "):
        _core.state_replace_values(b"\x0a\xff", new)


def test_check_diff_node_messages() -> None:
    cap = ("pygrid", "capture")
    model = _state("uploaded_model_state.pb", *cap)
    _core.check_diff(model, _state("diff_from_train_step_state.pb", *cap))
    with pytest.raises(PlanDecodeError, match=r"^Diff is not a valid State: "):
        _core.check_diff(model, b"garbage")
    small = _core.encode_state([np.zeros((392, 784), F32)])
    with pytest.raises(DiffMismatchError, match=r"^Diff has 1 tensors, model has 4\.$"):
        _core.check_diff(model, small)
    wrong = _core.encode_state(
        [np.zeros((392, 784), F32), np.zeros(392, F32), np.zeros((392, 10), F32), np.zeros(10, F32)]
    )
    with pytest.raises(
        DiffMismatchError,
        match=r"^Diff tensor 2 is float32\[392,10\], model tensor is float32\[10,392\]\.$",
    ):
        _core.check_diff(model, wrong)


@pytest.mark.parametrize(
    ("dtype", "field", "detail"),
    [
        ("float16", "contents_float16", "dtype 'float16' is not supported"),
        ("qint8", "contents_qint8", "dtype 'qint8' is not supported"),
    ],
)
def test_unsupported_dtypes_are_decode_errors(dtype: str, field: str, detail: str) -> None:
    tag = {"contents_float16": 21, "contents_qint8": 25}[field]
    data = _tensor_state(dtype.encode(), tag, b"\x00\x00\x80\x3f" if tag == 21 else b"\x02")
    with pytest.raises(PlanDecodeError, match=rf"^Failed to decode State: TorchTensor 7: {detail}"):
        _core.decode_state(data)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _tensor_state(dtype: bytes, tag: int, packed: bytes, dims: bytes = b"\x01") -> bytes:
    data = _ld(1, _ld(1, dims)) + _ld(2, dtype) + _ld(tag, packed)
    tensor = _ld(1, b"\x08\x07") + _ld(2, data) + b"\x40\x04"
    return _ld(2, _ld(1, tensor))


def test_contents_bin_names_the_serializer() -> None:
    tensor = _ld(1, b"\x08\x07") + _ld(3, b"PK\x03\x04torch") + b"\x40\x01"
    data = _ld(2, _ld(1, tensor))
    with pytest.raises(
        PlanDecodeError,
        match=r"^Failed to decode State: TorchTensor 7: contents_bin \(serializer 1 SERIALIZER_TORCH\) is not supported",
    ):
        _core.decode_state(data)


def test_count_mismatch_wrong_field_quantized() -> None:
    f32 = np.array([1, 2], F32).tobytes()
    with pytest.raises(
        PlanDecodeError, match=r"TorchTensor 7: 2 values for shape \[3\] \(3 expected\)"
    ):
        _core.decode_state(_tensor_state(b"float32", 22, f32, dims=b"\x03"))
    with pytest.raises(
        PlanDecodeError,
        match="dtype float32 expects values in contents_float32, found values in contents_float64",
    ):
        _core.decode_state(_tensor_state(b"float32", 23, np.array([1.0]).tobytes()))
    data = _ld(1, _ld(1, b"\x01")) + _ld(2, b"float32") + b"\x18\x01" + _ld(22, f32[:4])
    tensor = _ld(1, b"\x08\x07") + _ld(2, data) + b"\x40\x04"
    with pytest.raises(PlanDecodeError, match="quantized tensors are not supported"):
        _core.decode_state(_ld(2, _ld(1, tensor)))
    with pytest.raises(PlanDecodeError, match="uint8 value 256 is out of range"):
        _core.decode_state(_tensor_state(b"uint8", 16, _varint(256)))
    # A valid hand-built tensor decodes (the helpers above are right).
    (ok,) = _core.decode_state(_tensor_state(b"float32", 22, f32, dims=b"\x02"))
    np.testing.assert_array_equal(ok, [1, 2])
