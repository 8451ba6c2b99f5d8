"""Benchmark: decode/encode a 10M-parameter float32 State, syft_rs vs the protobuf package (upb).

Both sides work on the same bytes in the same run: syft_rs decodes straight into numpy
arrays (``_core.decode_state``); the protobuf path parses with syft-proto 0.5.3's schema
(descriptors read from the ``syft-proto`` wheel without importing it) and converts each
``contents_float32`` to a numpy array. Encode: ``_core.encode_state`` vs filling the
messages from numpy and ``SerializeToString``. Peak extra memory is the RSS high-water
mark of a fresh subprocess (``VmHWM``, reset just before the operation; ``getrusage``
elsewhere), so Rust and numpy allocations count.

Run: ``python benches/bench_state.py`` (after ``pip install .[test]``). Writes
``benches/results/bench_state.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syft_rs import __version__, _core

SHAPES = [(2500, 3000), (3000,), (832, 3000), (1000,)]  # 10,000,000 float32 parameters
RESULTS = Path(__file__).resolve().parent / "results" / "bench_state.json"


def make_params(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s, dtype=np.float32) for s in SHAPES]


# ---- the protobuf (upb) side -------------------------------------------------------------


def _serialized_pb(path: Path) -> bytes:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "FileDescriptor":
            for kw in node.keywords:
                if kw.arg == "serialized_pb":
                    return bytes(ast.literal_eval(kw.value))
    raise ValueError(f"no serialized_pb in {path}")


def state_class() -> Any:
    """The ``State`` message class of syft-proto 0.5.3 on the installed protobuf runtime."""
    from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2, message_factory

    spec = importlib.util.find_spec("syft_proto")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("syft-proto==0.5.3 is required: pip install .[test]")
    root = Path(next(iter(spec.submodule_search_locations)))
    files = {}
    for path in sorted(root.rglob("*_pb2.py")):
        fdp = descriptor_pb2.FileDescriptorProto.FromString(_serialized_pb(path))
        files[fdp.name] = fdp
    empty = descriptor_pb2.FileDescriptorProto()
    empty_pb2.DESCRIPTOR.CopyToProto(empty)
    files[empty.name] = empty
    pool = descriptor_pool.DescriptorPool()
    done: set[str] = set()

    def add(name: str) -> None:
        if name not in done:
            for dep in files[name].dependency:
                add(dep)
            pool.Add(files[name])
            done.add(name)

    for name in files:
        add(name)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("syft_proto.execution.v1.State")
    )


def upb_decode(state_cls: Any, data: bytes) -> list[np.ndarray]:
    msg = state_cls.FromString(data)
    out = []
    for st in msg.tensors:
        d = st.torch_tensor.contents_data
        out.append(np.array(d.contents_float32, dtype=np.float32).reshape(tuple(d.shape.dims)))
    return out


def upb_encode(state_cls: Any, params: list[np.ndarray]) -> bytes:
    msg = state_cls()
    for i, p in enumerate(params):
        ph = msg.placeholders.add()
        ph.id.id_int = i
        ph.tags.extend([f"#{i}", f"#state-{i}"])
        ph.expected_shape.dims.extend(p.shape)
        t = msg.tensors.add().torch_tensor
        t.id.id_int = i
        t.serializer = 4
        t.contents_data.shape.dims.extend(p.shape)
        t.contents_data.dtype = "float32"
        t.contents_data.contents_float32.extend(p.ravel())
    return bytes(msg.SerializeToString(deterministic=True))


# ---- timing ------------------------------------------------------------------------------


def timeit(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        del out
    return {"best_s": min(times), "median_s": statistics.median(times)}


# ---- peak extra memory in a fresh process --------------------------------------------------

CHILD = r"""
import gc, resource, sys
import numpy as np
mode, path = sys.argv[1], sys.argv[2]
def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
def peak():
    # VmHWM is this process's own RSS high-water mark (ru_maxrss can carry the parent's
    # value across exec); fall back to getrusage where /proc is absent.
    try:
        return _status("VmHWM:")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
def reset_peak():
    # Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
if mode.startswith("encode"):
    params = [np.load(f"{path}.{i}.npy") for i in range(4)]
else:
    with open(path, "rb") as f:
        data = f.read()
if mode.endswith("upb"):
    sys.path.insert(0, sys.argv[3])
    import bench_state
    cls = bench_state.state_class()
from syft_rs import _core
gc.collect()
reset_peak()
before = peak()
import time
t0 = time.perf_counter()
if mode == "decode":
    out = _core.decode_state(data)
elif mode == "decode_upb":
    out = bench_state.upb_decode(cls, data)
elif mode == "encode":
    out = _core.encode_state(params)
else:
    out = bench_state.upb_encode(cls, params)
took = time.perf_counter() - t0
after = peak()
print(after - before, took)
"""


def peak_extra(mode: str, path: str) -> tuple[int, float]:
    """(peak extra bytes, seconds) of one first call of ``mode`` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, path, str(Path(__file__).resolve().parent)],
        check=True,
        capture_output=True,
        text=True,
    )
    extra, took = out.stdout.strip().splitlines()[-1].split()
    return int(extra), float(took)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per case (best is reported)")
    ap.add_argument("--upb-repeat", type=int, default=2, help="timed runs of the slow upb path")
    args = ap.parse_args()

    from google.protobuf import __version__ as pb_version
    from google.protobuf.internal import api_implementation

    params = make_params()
    n = sum(p.size for p in params)
    data = _core.encode_state(params)
    size = len(data)
    cls = state_class()

    # Same bytes, same values on both sides (and the protobuf runtime writes our exact bytes).
    ours, theirs = _core.decode_state(data), upb_decode(cls, data)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(ours, params, strict=True))
    assert upb_encode(cls, params) == data
    del ours, theirs

    res: dict[str, Any] = {
        "payload_bytes": size,
        "parameters": n,
        "tensors": [list(s) for s in SHAPES],
        "dtype": "float32",
    }
    for _ in range(2):  # warm-up (allocator, page cache)
        _core.decode_state(data)
        _core.encode_state(params)
    res["decode"] = {
        "syft_rs": timeit(lambda: _core.decode_state(data), args.repeat),
        "protobuf_upb_numpy": timeit(lambda: upb_decode(cls, data), args.upb_repeat),
    }
    # Float runs aligned in the bytes object are read in place; the others are copied.
    viewed = [a.nbytes for a in _core.decode_state(data) if a.base is data]
    res["decode"]["runs_read_in_place"] = {
        "tensors": len(viewed),
        "of": len(params),
        "bytes_fraction": sum(viewed) / sum(p.nbytes for p in params),
    }
    res["decode_copy"] = {
        "syft_rs": timeit(lambda: _core.decode_state(data, copy=True), args.repeat),
        "protobuf_upb_numpy": res["decode"]["protobuf_upb_numpy"],
    }
    res["encode"] = {
        "syft_rs": timeit(lambda: _core.encode_state(params), args.repeat),
        "protobuf_upb_numpy": timeit(lambda: upb_encode(cls, params), args.upb_repeat),
    }
    for op in ("decode", "decode_copy", "encode"):
        for key in ("syft_rs", "protobuf_upb_numpy"):
            side = res[op][key]
            side["gb_per_s"] = size / side["best_s"] / 1e9
        res[op]["ratio"] = res[op]["protobuf_upb_numpy"]["best_s"] / res[op]["syft_rs"]["best_s"]
        res[op]["ratio_median"] = (
            res[op]["protobuf_upb_numpy"]["median_s"] / res[op]["syft_rs"]["median_s"]
        )

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "state.pb")
        Path(path).write_bytes(data)
        for i, p in enumerate(params):
            np.save(f"{path}.{i}.npy", p)
        cold = {m: peak_extra(m, path) for m in ("decode", "decode_upb", "encode", "encode_upb")}
        res["peak_extra_memory"] = {
            m: {"bytes": b, "x_payload": b / size} for m, (b, _) in cold.items()
        }
        # First call in a fresh process: includes page faults on freshly mapped memory.
        res["cold_first_call"] = {
            m: {"s": t, "gb_per_s": size / t / 1e9} for m, (_, t) in cold.items()
        }
    res["environment"] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "numpy": np.__version__,
        "protobuf": pb_version,
        "protobuf_implementation": api_implementation.Type(),
        "syft_rs": __version__,
    }
    targets = {
        "decode_gb_per_s>=1": res["decode"]["syft_rs"]["gb_per_s"] >= 1.0,
        "decode_ratio>=5": res["decode"]["ratio"] >= 5.0,
        "encode_gb_per_s>=1": res["encode"]["syft_rs"]["gb_per_s"] >= 1.0,
        "decode_peak_extra<=1.5x": res["peak_extra_memory"]["decode"]["x_payload"] <= 1.5,
    }
    res["targets_met"] = targets
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")

    mem = res["peak_extra_memory"]
    print(f"State codec, {n:,} float32 parameters in 4 tensors, payload {size / 1e6:.1f} MB")
    print(
        f"(protobuf {pb_version}, {api_implementation.Type()}; best of {args.repeat} / {args.upb_repeat})\n"
    )
    print("| operation | syft_rs | protobuf (upb) + numpy | ratio | syft_rs peak extra memory |")
    print("|---|---|---|---|---|")
    for op in ("decode", "decode_copy", "encode"):
        r = res[op]
        ours, theirs = r["syft_rs"], r["protobuf_upb_numpy"]
        m = mem["decode" if op == "decode_copy" else op]
        mu = mem[("decode" if op == "decode_copy" else op) + "_upb"]
        print(
            f"| {op} | {ours['best_s'] * 1e3:.1f} ms ({ours['gb_per_s']:.2f} GB/s) "
            f"| {theirs['best_s'] * 1e3:.0f} ms ({theirs['gb_per_s']:.3f} GB/s) "
            f"| {r['ratio']:.1f}x | {m['x_payload']:.2f}x payload "
            f"(upb: {mu['x_payload']:.2f}x) |"
        )
    v = res["decode"]["runs_read_in_place"]
    print(
        f"\ndecode read {v['tensors']} of {v['of']} float runs in place "
        f"({100 * v['bytes_fraction']:.2f}% of the values; the others are unaligned in the bytes)"
    )
    c = res["cold_first_call"]
    print(
        "\nfirst call in a fresh process (page faults included): "
        f"decode {c['decode']['gb_per_s']:.2f} GB/s vs upb {c['decode_upb']['gb_per_s']:.2f} GB/s; "
        f"encode {c['encode']['gb_per_s']:.2f} GB/s vs upb {c['encode_upb']['gb_per_s']:.3f} GB/s"
    )
    print(f"\ntargets: {targets}\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
