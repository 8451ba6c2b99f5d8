"""PlanTrainerCheckpoint: the resumable state of a PlanTrainer, in syft.js's JSON layout.

See training.md §6.3–6.4. ``to_json``/``from_json`` use exactly the syft.js keys;
``save``/``load`` write that JSON to disk atomically so training resumes after a restart.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syft_rs.model import SyftModel

__all__ = ["PlanTrainerCheckpoint"]

_REQUIRED = ("epochs", "batchSize", "epoch", "batch", "currentModelBase64")


class PlanTrainerCheckpoint:
    """Where a PlanTrainer stands: totals, position to continue from, and the current model.

    Attributes:
        epochs: Total number of epochs.
        steps_per_epoch: Cap of batches per epoch, or ``None``.
        batch_size: Nominal batch size.
        client_config: The client config the trainer used.
        epoch: Epoch to continue from.
        batch: Batch index to continue from, within ``epoch`` (a batch that has not run).
        current_model: Parameters at that position.
    """

    def __init__(
        self,
        *,
        epochs: int,
        steps_per_epoch: int | None,
        batch_size: int | None,
        client_config: dict[str, Any] | None,
        epoch: int,
        batch: int,
        current_model: SyftModel,
    ) -> None:
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.client_config = dict(client_config or {})
        self.epoch = epoch
        self.batch = batch
        self.current_model = current_model

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as a JSON-ready dict with the syft.js keys."""
        return {
            "epochs": self.epochs,
            "stepsPerEpoch": self.steps_per_epoch,
            "batchSize": self.batch_size,
            "clientConfig": self.client_config,
            "epoch": self.epoch,
            "batch": self.batch,
            "currentModelBase64": base64.b64encode(self.current_model.to_protobuf()).decode(
                "ascii"
            ),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any] | str | bytes) -> PlanTrainerCheckpoint:
        """Build a checkpoint from :meth:`to_json` output or syft.js ``toJSON()`` output.

        Args:
            obj: A dict, or a JSON string / bytes holding one.

        Raises:
            ValueError: invalid JSON, a missing required key, a value of the wrong type, or
                invalid base64.
            ModelLoadFailedError: ``currentModelBase64`` is not a ``State``.
        """
        from syft_rs.model import SyftModel

        if isinstance(obj, str | bytes | bytearray):
            try:
                obj = json.loads(obj)
            except json.JSONDecodeError as exc:
                raise ValueError(f"checkpoint is not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"checkpoint must be a JSON object, not {type(obj).__name__}")
        missing = [k for k in _REQUIRED if k not in obj]
        if missing:
            raise ValueError(f"checkpoint is missing {', '.join(repr(k) for k in missing)}")
        epochs = _int(obj, "epochs")
        epoch = _int(obj, "epoch")
        batch = _int(obj, "batch")
        batch_size = None if obj["batchSize"] is None else _int(obj, "batchSize", minimum=1)
        steps = obj.get("stepsPerEpoch")
        steps_per_epoch = None if steps is None else _int(obj, "stepsPerEpoch")
        client_config = obj.get("clientConfig") or {}
        if not isinstance(client_config, dict):
            raise ValueError("checkpoint 'clientConfig' must be an object")
        encoded = obj["currentModelBase64"]
        if not isinstance(encoded, str):
            raise ValueError("checkpoint 'currentModelBase64' must be a string")
        try:
            state = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"checkpoint 'currentModelBase64' is not valid base64: {exc}") from exc
        return cls(
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            batch_size=batch_size,
            client_config=client_config,
            epoch=epoch,
            batch=batch,
            current_model=SyftModel.from_protobuf(state),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON to ``path`` atomically (temp file, fsync, rename).

        A crash leaves either the previous file or the new one, never a torn file.
        """
        target = Path(path)
        data = json.dumps(self.to_json(), separators=(",", ":")).encode("utf-8")
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or "."
        )
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # Make the rename itself durable.
        try:
            dir_fd = os.open(target.parent or ".", os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PlanTrainerCheckpoint:
        """Read a checkpoint written by :meth:`save` (or any syft.js checkpoint JSON file)."""
        return cls.from_json(Path(path).read_bytes())

    def __repr__(self) -> str:
        return (
            f"PlanTrainerCheckpoint(epochs={self.epochs}, steps_per_epoch={self.steps_per_epoch}, "
            f"batch_size={self.batch_size}, epoch={self.epoch}, batch={self.batch})"
        )


def _int(obj: dict[str, Any], key: str, minimum: int = 0) -> int:
    value = obj[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON from JavaScript may carry 2.0 for 2
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"checkpoint {key!r} must be an integer, not {value!r}")
    if value < minimum:
        raise ValueError(f"checkpoint {key!r} must be >= {minimum}, got {value}")
    return value
