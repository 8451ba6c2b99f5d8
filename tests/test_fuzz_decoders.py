"""Garbage into every _core decoder raises PlanDecodeError (never a crash, hang or other error)."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

from conftest import vector_path
from syft_rs import SyftModel, _core
from syft_rs.errors import ModelLoadFailedError, PlanDecodeError

KINDS = ["State", "Plan", "Protocol", "TorchTensor", "Id", "ObjectMessage", "SyftMessage", "Role"]
MODEL = _core.encode_state([np.zeros((2, 3), np.float32), np.zeros(3, np.float32)])
AVG = [np.zeros((2, 3), np.float32), np.zeros(3, np.float32)]

DECODERS: dict[str, Callable[[bytes], object]] = {
    "decode_state": _core.decode_state,
    "check_diff(model, x)": lambda b: _core.check_diff(MODEL, b),
    "check_diff(x, model)": lambda b: _core.check_diff(b, MODEL),
    "state_replace_values": lambda b: _core.state_replace_values(b, AVG),
    "apply_diff": lambda b: _core.apply_diff(b, AVG),
    "mean_diffs": lambda b: _core.mean_diffs([MODEL, b]),
    **{f"describe_message[{k}]": (lambda b, k=k: _core.describe_message(k, b)) for k in KINDS},
    **{f"reencode_message[{k}]": (lambda b, k=k: _core.reencode_message(k, b)) for k in KINDS},
}

HOSTILE = {
    "truncated varint": b"\x08\xff\xff",
    "huge length prefix": b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
    "length past end": b"\x12\x10\x0a",
    "wrong wire type": b"\x0d\x00\x00",  # field 1 as fixed32 where a message is expected
    "group wire type": b"\x0b\x0c",
    "field number 0": b"\x00\x00",
    "invalid utf-8 tag": b"\x0a\x04\x22\x02\xff\xfe",  # Placeholder.tags[0]
    "truncated tensors": b"\x12\x02\xff\xfe",
}


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _nested(depth: int) -> bytes:
    """State.placeholders[0].child_tensor.chain.chain... ``depth`` levels deep."""
    data = b""
    for _ in range(depth):
        data = _ld(4, data)  # TorchTensor.chain
    return _ld(1, _ld(1, data))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _garbage(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    base = vector_path("syftproto", "plan_linreg_sgd.pb").read_bytes()
    out = []
    for _ in range(60):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        out.append(bytes(data[: rng.randint(1, len(data))]))
    out += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))) for _ in range(40)]
    return out


@pytest.mark.parametrize("name", list(DECODERS))
def test_hostile_inputs_raise_plan_decode_error(name: str) -> None:
    decode = DECODERS[name]
    for label, data in [*HOSTILE.items(), ("nested 5000", _nested(5000))]:
        try:
            decode(data)
        except PlanDecodeError:
            continue
        except Exception as exc:  # pragma: no cover - the failure report
            pytest.fail(f"{name}({label}) raised {type(exc).__name__}: {exc}")
        # None of these is a valid State; other message kinds may read some of them.
        assert "[" in name and "[State]" not in name, f"{name} accepted {label}"


@pytest.mark.parametrize("name", list(DECODERS))
def test_mutated_vectors_raise_only_plan_decode_error(name: str) -> None:
    decode = DECODERS[name]
    for data in _garbage(hash(name) & 0xFFFF):
        try:
            decode(data)
        except PlanDecodeError:
            pass
        except Exception as exc:
            # Mutations can produce a valid State of another layout: that is a mismatch.
            from syft_rs.errors import DiffMismatchError

            if isinstance(exc, DiffMismatchError) and not name.startswith(("describe", "reencode")):
                continue
            pytest.fail(f"{name} raised {type(exc).__name__}: {exc}")


def test_syftmodel_from_garbage_is_model_load_failed() -> None:
    for data in [*HOSTILE.values(), *_garbage(7)[:20]]:
        with pytest.raises(ModelLoadFailedError) as info:
            SyftModel.from_protobuf(data)
        assert isinstance(info.value.__cause__, PlanDecodeError)
