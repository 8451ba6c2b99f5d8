"""Datasets, samplers and the DataLoader (training.md §7).

:class:`TensorDataset` batches are gathered by the Rust core (one ``memcpy`` per row into a
fresh contiguous array, GIL released); other datasets go through ``__getitem__`` and are
collated with numpy. Shuffling draws permutations from the Rust core, deterministic for a
given ``seed`` and pass number.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from syft_rs import _core

__all__ = [
    "BatchSampler",
    "DataLoader",
    "Dataset",
    "RandomSampler",
    "SequentialSampler",
    "TensorDataset",
    "collate",
]

IndexArray = npt.NDArray[np.int64]


# ---- datasets ---------------------------------------------------------------------------


class Dataset:
    """Abstract dataset: subclasses define ``__getitem__(index)`` and ``__len__()``.

    The syft.js spelling is accepted too: a ``get_item(index)`` method and a ``length``
    property. A subclass that defines neither way of reading samples, or no length, cannot
    be instantiated (``TypeError``).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Dataset:
        has_item = cls.__getitem__ is not Dataset.__getitem__ or hasattr(cls, "get_item")
        has_len = cls.__len__ is not Dataset.__len__ or hasattr(cls, "length")
        if not (has_item and has_len):
            missing = [
                what
                for what, ok in (
                    ("__getitem__ (or get_item)", has_item),
                    ("__len__ (or length)", has_len),
                )
                if not ok
            ]
            raise TypeError(f"{cls.__name__} must define {' and '.join(missing)}")
        return super().__new__(cls)

    def __getitem__(self, index: int) -> Any:
        return self.get_item(index)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return int(self.length)  # type: ignore[attr-defined]


class TensorDataset(Dataset):
    """Numpy arrays sharing their first dimension; sample ``i`` is ``tuple(a[i] for a in arrays)``.

    Batches are gathered in Rust into new C-contiguous arrays, without a Python loop per
    sample. The arrays are kept as given when already C-contiguous (no copy).

    Raises:
        ValueError: no arrays, a 0-d array, or first dimensions that differ.
        TypeError: an object-dtype array.
    """

    def __init__(self, *arrays: npt.ArrayLike) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        converted = []
        for k, a in enumerate(arrays):
            arr = np.asarray(a)
            if arr.ndim == 0:
                raise ValueError(f"TensorDataset array {k} is 0-d; arrays need a first dimension")
            if arr.dtype.hasobject:
                raise TypeError(f"TensorDataset array {k} has object dtype")
            converted.append(np.ascontiguousarray(arr))
        n = converted[0].shape[0]
        for k, arr in enumerate(converted):
            if arr.shape[0] != n:
                raise ValueError(
                    f"TensorDataset arrays must share the first dimension: array 0 has {n}, "
                    f"array {k} has {arr.shape[0]}"
                )
        self.arrays: tuple[np.ndarray, ...] = tuple(converted)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(a[index] for a in self.arrays)

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def gather(self, indices: IndexArray) -> tuple[np.ndarray, ...]:
        """The batch of samples ``indices``: one new contiguous array per dataset array."""
        return _core.gather_rows_many(self.arrays, indices)


# ---- samplers -------------------------------------------------------------------------


class _PermutationSource(Protocol):
    def permutation(self, n: int) -> Any: ...


class SeededStream:
    """A stream of permutations from the Rust core: pass ``k`` uses ``(seed, k)``."""

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        # The core takes an unsigned 64-bit seed; negative and huge seeds wrap.
        self.seed = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
        self.passes = 0

    def permutation(self, n: int) -> IndexArray:
        perm = _core.permutation(n, self.seed, self.passes)
        self.passes += 1
        return perm


class SequentialSampler:
    """Yields ``0, 1, …, n−1``."""

    def __init__(self, n: int) -> None:
        self.n = _check_count(n, "n")

    def indices(self) -> IndexArray:
        """The order of one pass as an int64 array."""
        return np.arange(self.n, dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


class RandomSampler:
    """Yields a new uniform permutation of ``0 … n−1`` every time it is iterated.

    Args:
        n: Number of samples.
        rng: Where permutations come from: an object with ``permutation(n)`` (a
            ``numpy.random.Generator`` or a seeded core stream); ``None`` seeds a core
            stream from OS entropy.
    """

    def __init__(self, n: int, rng: _PermutationSource | None = None) -> None:
        self.n = _check_count(n, "n")
        self.rng: _PermutationSource = (
            rng if rng is not None else SeededStream(int.from_bytes(os.urandom(8), "little"))
        )

    def indices(self) -> IndexArray:
        """A fresh permutation as an int64 array (advances the random stream)."""
        perm = np.asarray(self.rng.permutation(self.n), dtype=np.int64)
        if perm.shape != (self.n,):
            raise ValueError(f"rng.permutation({self.n}) returned shape {perm.shape}")
        return perm

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.n


class BatchSampler:
    """Groups a sampler's indices into consecutive batches (int64 arrays).

    The last partial group is kept unless ``drop_last``.
    """

    def __init__(
        self, sampler: SequentialSampler | RandomSampler, batch_size: int, drop_last: bool
    ) -> None:
        self.sampler = sampler
        self.batch_size = _check_count(batch_size, "batch_size", minimum=1)
        self.drop_last = bool(drop_last)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[IndexArray]:
        order = self.sampler.indices()
        bs = self.batch_size
        for b in range(len(self)):
            yield order[b * bs : (b + 1) * bs]


def _check_count(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


# ---- collation --------------------------------------------------------------------------


def collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch (training.md §7.3).

    Arrays and numbers are stacked along a new first axis; tuples, lists and dicts are
    collated per position / key into the same container type.

    Raises:
        ValueError: samples whose shapes or structures differ.
        TypeError: a sample of an unsupported type.
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    first = samples[0]
    if isinstance(first, dict):
        keys = list(first)
        for s in samples:
            if not isinstance(s, dict) or list(s) != keys:
                raise ValueError("cannot collate samples: dict samples with different keys")
        return {k: collate([s[k] for s in samples]) for k in keys}
    if isinstance(first, tuple | list):
        kind = type(first)
        for s in samples:
            if not isinstance(s, tuple | list) or len(s) != len(first):
                raise ValueError("cannot collate samples: sequences of different lengths or kinds")
        columns = [collate([s[i] for s in samples]) for i in range(len(first))]
        return kind(columns) if kind in (tuple, list) else kind(*columns)
    if isinstance(first, np.ndarray | np.generic | int | float | bool | complex):
        for s in samples:
            if not isinstance(s, np.ndarray | np.generic | int | float | bool | complex):
                raise ValueError(
                    f"cannot collate samples: {type(first).__name__} mixed with {type(s).__name__}"
                )
        try:
            return np.stack([np.asarray(s) for s in samples], axis=0)
        except ValueError as exc:
            raise ValueError(f"cannot collate samples: {exc}") from None
    raise TypeError(f"cannot collate samples of type {type(first).__name__}")


# ---- loader -----------------------------------------------------------------------------


class DataLoader:
    """Batches over a dataset, optionally shuffled, re-iterable (one pass per ``iter()``).

    Args:
        dataset: A :class:`Dataset` (or any object with ``__getitem__`` and ``__len__``).
        batch_size: Samples per batch.
        shuffle: Draw a new permutation for every pass.
        drop_last: Skip the last batch when it is shorter than ``batch_size``.
        seed: Seed of the Rust permutation stream (deterministic per seed and pass).
        generator: A ``numpy.random.Generator``; each pass uses ``generator.permutation(n)``.

    Raises:
        ValueError: ``batch_size < 1``, or both ``seed`` and ``generator`` given.
        TypeError: a dataset without ``__getitem__``/``__len__``.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
    ) -> None:
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError("DataLoader needs a dataset with __getitem__ and __len__")
        if seed is not None and generator is not None:
            raise ValueError("give either seed or generator, not both")
        self.dataset = dataset
        self.batch_size = _check_count(batch_size, "batch_size", minimum=1)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        n = len(dataset)
        sampler: SequentialSampler | RandomSampler
        if self.shuffle:
            rng: _PermutationSource | None
            rng = (
                generator
                if generator is not None
                else (SeededStream(seed) if seed is not None else None)
            )
            sampler = RandomSampler(n, rng)
        else:
            sampler = SequentialSampler(n)
        self.sampler = sampler
        self.batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        # The Rust gather applies only to a TensorDataset whose sample access is the stock one.
        self._fast = (
            isinstance(dataset, TensorDataset)
            and type(dataset).__getitem__ is TensorDataset.__getitem__
        )

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> LoaderIterator:
        return LoaderIterator(self)

    def fetch(self, indices: IndexArray) -> Any:
        """Load and collate the samples ``indices`` into one batch."""
        if self._fast:
            return self.dataset.gather(indices)
        return collate([self.dataset[int(i)] for i in indices])


class LoaderIterator:
    """One pass of a :class:`DataLoader`; :meth:`skip` moves past batches without loading them."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        sampler = loader.batch_sampler
        # The pass's order is drawn once, here; batches are consecutive slices of it.
        self._order = sampler.sampler.indices()
        self._size = sampler.batch_size
        self._count = len(sampler)
        self._next = 0
        self._arrays = loader.dataset.arrays if loader._fast else None

    def __iter__(self) -> LoaderIterator:
        return self

    def __next__(self) -> Any:
        b = self._next
        if b >= self._count:
            raise StopIteration
        self._next = b + 1
        indices = self._order[b * self._size : (b + 1) * self._size]
        if self._arrays is not None:
            return _core.gather_rows_many(self._arrays, indices)
        return self._loader.fetch(indices)

    def __len__(self) -> int:
        return self._count - self._next

    def skip(self, count: int) -> int:
        """Move past the next ``count`` batches without fetching their samples.

        Returns:
            How many batches were skipped (fewer when the pass ends first).
        """
        skipped = max(0, min(count, self._count - self._next))
        self._next += skipped
        return skipped
