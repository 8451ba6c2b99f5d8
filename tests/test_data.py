"""Dataset, samplers, DataLoader and the Rust batching behind TensorDataset (training.md §7, §9)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_rs import DataLoader, Dataset, TensorDataset, _core
from syft_rs.data import BatchSampler, RandomSampler, SequentialSampler, collate


class Scalars(Dataset):
    def __init__(self, n: int = 10) -> None:
        self.items = [np.float32(i) for i in range(n)]

    def __getitem__(self, i: int) -> np.float32:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)


class JsStyle(Dataset):
    """syft.js-shaped dataset: get_item and a length property."""

    def get_item(self, i: int) -> tuple[np.ndarray, int]:
        return np.full(2, i, np.float32), i % 2

    @property
    def length(self) -> int:
        return 5


def batches(loader: DataLoader) -> list[list[float]]:
    return [np.asarray(b).tolist() for b in loader]


def test_syftjs_dataloader_cases(vectors) -> None:
    expected = json.loads((vectors / "syftjs" / "expected.json").read_text())["dataloader_tests"]
    ds = Scalars()
    loader = DataLoader(ds, batch_size=4, shuffle=False)
    assert len(loader) == 3
    assert batches(loader) == expected["batchSize4_shuffle_false_dropLast_false"]
    loader = DataLoader(ds, batch_size=4, shuffle=False, drop_last=True)
    assert len(loader) == 2
    assert batches(loader) == expected["batchSize4_dropLast_true"]
    loader = DataLoader(ds, batch_size=5, shuffle=False, drop_last=True)
    assert batches(loader) == expected["batchSize5_dropLast_true"]
    shuffled = batches(DataLoader(ds, batch_size=4, shuffle=True, seed=3))
    flat = [x for b in shuffled for x in b]
    assert sorted(flat) == list(range(10))
    assert flat != list(range(10))


def test_defaults_as_syftjs() -> None:
    loader = DataLoader(Scalars())
    assert (loader.batch_size, loader.shuffle, loader.drop_last) == (1, True, False)
    assert len(loader) == 10


def test_seeded_loader_new_order_each_pass_and_reproducible() -> None:
    ds = TensorDataset(np.arange(20, dtype=np.int64))
    a = DataLoader(ds, batch_size=20, shuffle=True, seed=7)
    b = DataLoader(ds, batch_size=20, shuffle=True, seed=7)
    orders_a = [next(iter(a))[0].tolist() for _ in range(3)]
    orders_b = [next(iter(b))[0].tolist() for _ in range(3)]
    assert orders_a == orders_b
    assert len({tuple(o) for o in orders_a}) == 3
    for o in orders_a:
        assert sorted(o) == list(range(20))


def test_generator_source() -> None:
    ds = TensorDataset(np.arange(10))
    g1 = DataLoader(ds, batch_size=10, generator=np.random.default_rng(5))
    expected = np.random.default_rng(5).permutation(10)
    assert next(iter(g1))[0].tolist() == expected.tolist()
    with pytest.raises(ValueError):
        DataLoader(ds, seed=1, generator=np.random.default_rng(1))


def test_tensor_dataset_batches_are_contiguous_copies() -> None:
    x = np.arange(60, dtype=np.float32).reshape(10, 6)
    y = np.arange(10, dtype=np.int64)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=False)
    out = list(loader)
    assert [len(b[1]) for b in out] == [4, 4, 2]
    bx, by = out[0]
    assert bx.flags.c_contiguous and bx.dtype == np.float32
    np.testing.assert_array_equal(bx, x[:4])
    np.testing.assert_array_equal(by, y[:4])
    assert not np.shares_memory(bx, x)


def test_tensor_dataset_validation() -> None:
    with pytest.raises(ValueError):
        TensorDataset()
    with pytest.raises(ValueError, match="first dimension"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError):
        TensorDataset(np.float32(1))
    with pytest.raises(TypeError):
        TensorDataset(np.array([object()], dtype=object))
    ds = TensorDataset(np.zeros((3, 2)), np.ones(3))
    assert len(ds) == 3
    assert isinstance(ds[1], tuple) and ds[1][1] == 1.0


def test_generic_dataset_collation() -> None:
    loader = DataLoader(JsStyle(), batch_size=2, shuffle=False)
    x, y = next(iter(loader))
    assert x.shape == (2, 2) and y.dtype == np.int64
    assert isinstance(next(iter(loader)), tuple)


def test_dataset_without_methods_is_a_type_error() -> None:
    class Empty(Dataset):
        pass

    with pytest.raises(TypeError):
        Empty()
    with pytest.raises(TypeError):
        Dataset()


def test_collate_structures() -> None:
    assert collate([1, 2]).dtype == np.int64
    assert collate([1.0, 2.0]).dtype == np.float64
    out = collate([[np.zeros(2), 1], [np.ones(2), 2]])
    assert isinstance(out, list) and out[0].shape == (2, 2)
    d = collate([{"a": 1, "b": np.zeros(3)}, {"a": 2, "b": np.ones(3)}])
    assert d["a"].tolist() == [1, 2] and d["b"].shape == (2, 3)
    with pytest.raises(ValueError):
        collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError):
        collate([(1, 2), (1,)])
    with pytest.raises(ValueError):
        collate([{"a": 1}, {"b": 1}])
    with pytest.raises(TypeError):
        collate(["a", "b"])


def test_samplers() -> None:
    assert list(SequentialSampler(3)) == [0, 1, 2]
    rs = RandomSampler(5, np.random.default_rng(0))
    assert sorted(rs) == [0, 1, 2, 3, 4] and len(rs) == 5
    bs = BatchSampler(SequentialSampler(10), 4, drop_last=False)
    assert [b.tolist() for b in bs] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(bs) == 3
    assert len(BatchSampler(SequentialSampler(10), 4, drop_last=True)) == 2
    with pytest.raises(ValueError):
        DataLoader(Scalars(), batch_size=0)
    with pytest.raises(TypeError):
        DataLoader(Scalars(), batch_size=2.5)  # type: ignore[arg-type]


def test_skip_draws_indices_without_loading() -> None:
    loaded: list[int] = []

    class Counting(Dataset):
        def __getitem__(self, i: int) -> int:
            loaded.append(i)
            return i

        def __len__(self) -> int:
            return 8

    it = iter(DataLoader(Counting(), batch_size=2, shuffle=False))
    assert it.skip(2) == 2
    assert loaded == []
    assert next(it).tolist() == [4, 5]
    assert it.skip(5) == 1


def test_gather_rows_errors() -> None:
    x = np.arange(6).reshape(3, 2)
    with pytest.raises(IndexError):
        _core.gather_rows(x, np.array([3], dtype=np.int64))
    with pytest.raises(IndexError):
        _core.gather_rows(x, np.array([-1], dtype=np.int64))
    with pytest.raises(ValueError):
        _core.gather_rows(np.array(1.0), np.array([0], dtype=np.int64))
    with pytest.raises(TypeError):
        _core.gather_rows(np.float32(1), np.array([0], dtype=np.int64))  # not an ndarray
    with pytest.raises(TypeError):
        _core.gather_rows(np.array([object()]), np.array([0], dtype=np.int64))


def test_gather_rows_many_matches_fancy_indexing() -> None:
    rng = np.random.default_rng(1)
    arrays = [
        rng.random((9, 4, 3)).astype(np.float32),
        np.asfortranarray(rng.integers(0, 5, (9, 2))),  # copied to C order first
        rng.random(9) > 0.5,
    ]
    idx = np.array([8, 0, 3, 3], dtype=np.int64)
    got = _core.gather_rows_many(arrays, idx)
    assert isinstance(got, tuple) and len(got) == 3
    for g, a in zip(got, arrays, strict=True):
        np.testing.assert_array_equal(g, a[idx])
        assert g.dtype == a.dtype and g.flags.c_contiguous
    assert _core.gather_rows_many([], idx) == ()
    with pytest.raises(IndexError):
        _core.gather_rows_many(arrays, np.array([9], dtype=np.int64))
    with pytest.raises(TypeError):
        _core.gather_rows_many([arrays[0], [1, 2]], idx)


def test_permutation_deterministic() -> None:
    p = _core.permutation(100, 1, 0)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(100))
    assert _core.permutation(100, 1, 0).tolist() == p.tolist()
    assert _core.permutation(100, 1, 1).tolist() != p.tolist()
    assert _core.permutation(0, 1, 0).shape == (0,)


DTYPES = [
    np.float32,
    np.float64,
    np.int8,
    np.int32,
    np.int64,
    np.uint8,
    np.bool_,
    np.complex64,
    np.float16,
]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 30),
    tail=st.lists(st.integers(0, 4), max_size=3),
    dtype=st.sampled_from(DTYPES),
    data=st.data(),
    transpose=st.booleans(),
)
def test_gather_rows_matches_numpy(rows, tail, dtype, data, transpose) -> None:
    shape = (rows, *tail)
    x = (np.arange(int(np.prod(shape))) % 7).astype(dtype).reshape(shape)
    if transpose and x.ndim >= 2:
        x = np.swapaxes(x, 0, 1).copy()
        x = np.swapaxes(x, 0, 1)  # same values, not C-contiguous
    idx = np.array(data.draw(st.lists(st.integers(0, x.shape[0] - 1), max_size=40)), dtype=np.int64)
    out = _core.gather_rows(x, idx)
    ref = x[idx]
    assert out.dtype == ref.dtype and out.shape == ref.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, ref)
