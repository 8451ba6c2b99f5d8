"""``syft-rs demo`` end to end, as a user runs it: a subprocess with ``--json`` and ``--plot``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the demo needs the 'demo' extra (scikit-learn)")


def _syft_rs(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syft_rs.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_demo_reaches_accuracy_in_time(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="--plot needs the 'plot' extra")
    plot = tmp_path / "accuracy.png"
    proc = _syft_rs("demo", "--json", "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert set(summary) == {"cycles", "clients", "accuracy", "seconds"}
    assert summary["cycles"] == 5
    assert summary["clients"] == 4
    assert summary["accuracy"] >= 0.85
    assert summary["seconds"] <= 60
    # Per-cycle progress came before the summary, one line per cycle.
    assert sum(line.startswith("cycle ") and "held-out accuracy" in line for line in lines) == 5
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_other_settings(tmp_path: Path) -> None:
    proc = _syft_rs("demo", "--json", "--clients", "2", "--cycles", "2", "--dialect", "tfjs")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["cycles"], summary["clients"]) == (2, 2)
    assert 0.5 < summary["accuracy"] <= 1.0


def test_demo_argument_errors() -> None:
    proc = _syft_rs("demo", "--clients", "0")
    assert proc.returncode == 2
    assert "clients must be ≥ 1" in proc.stderr


def test_demo_plot_without_matplotlib(tmp_path: Path) -> None:
    # A None entry in sys.modules makes `import matplotlib` raise ImportError.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from syft_rs.cli import main\n"
        f"sys.exit(main(['demo', '--plot', {str(tmp_path / 'x.png')!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "pip install 'syft-rs[plot]'" in proc.stderr
    assert not (tmp_path / "x.png").exists()
