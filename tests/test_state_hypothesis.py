"""Property tests of the State codec and diffs against numpy (random shapes and dtypes)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from syft_rs import SyftModel, _core

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_]
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


@st.composite
def arrays(draw: st.DrawFn, dtypes: list[type] = DTYPES) -> np.ndarray:
    dtype = draw(st.sampled_from(dtypes))
    return draw(hnp.arrays(dtype, shapes))


@settings(max_examples=150, deadline=None)
@given(st.lists(arrays(), max_size=6))
def test_encode_decode_round_trip(params: list[np.ndarray]) -> None:
    data = _core.encode_state(params)
    back = _core.decode_state(data)
    assert len(back) == len(params)
    for a, b in zip(params, back, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)  # NaN == NaN here
        if a.dtype.kind == "f":
            assert np.array_equal(np.signbit(a), np.signbit(b))
    assert _core.reencode_message("State", data) == data
    assert SyftModel(params).to_protobuf() == data


@st.composite
def pairs(draw: st.DrawFn, dtypes: list[type] = DTYPES[:5]) -> tuple[np.ndarray, np.ndarray]:
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes)
    return draw(hnp.arrays(dtype, shape)), draw(hnp.arrays(dtype, shape))


@settings(max_examples=150, deadline=None)
@given(st.lists(pairs(), max_size=5))
def test_diff_is_numpy_subtraction(ps: list[tuple[np.ndarray, np.ndarray]]) -> None:
    original = [a for a, _ in ps]
    trained = [b for _, b in ps]
    diff = _core.decode_state(SyftModel(original).create_serialized_diff(trained))
    with np.errstate(all="ignore"):
        want = [np.subtract(a, b, dtype=a.dtype) for a, b in ps]
    for d, w in zip(diff, want, strict=True):
        assert d.dtype == w.dtype and d.shape == w.shape
        np.testing.assert_array_equal(d, w)


@settings(max_examples=80, deadline=None)
@given(pairs([np.float32, np.float64]), st.integers(1, 5))
def test_mean_then_apply_matches_numpy(pair: tuple[np.ndarray, np.ndarray], k: int) -> None:
    a, b = pair
    diffs = [_core.encode_state([a])] * k
    (avg,) = _core.mean_diffs(diffs)
    with np.errstate(all="ignore"):
        acc = a.copy()
        for _ in range(k - 1):
            acc = np.add(acc, a, dtype=a.dtype)
        want = np.divide(acc, a.dtype.type(k), dtype=a.dtype)
        np.testing.assert_array_equal(avg, want)
        new = _core.decode_state(_core.apply_diff(_core.encode_state([b]), [avg]))[0]
        np.testing.assert_array_equal(new, np.subtract(b, avg, dtype=a.dtype))
