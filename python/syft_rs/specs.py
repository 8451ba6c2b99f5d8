"""Plan input and output specs: how PlanTrainer maps its state onto Plan arguments and back.

See training.md §5. The type constants keep their syft.js string values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PlanInputSpec", "PlanOutputSpec"]


class PlanInputSpec:
    """Describes one Plan input: which trainer value is passed at that position.

    Args:
        type: One of the ``TYPE_*`` constants.
        name: Key to pick (client config parameter name, metric name); documents model params.
        index: Position to pick (an element of a collated batch, a model parameter). Wins over
            ``name`` when both are given.
        value: The literal passed for ``TYPE_VALUE``.

    Raises:
        ValueError: an unknown ``type``, or ``TYPE_CLIENT_CONFIG_PARAM`` without ``name``.
    """

    TYPE_DATA = "data"
    TYPE_TARGET = "target"
    TYPE_BATCH_SIZE = "batchSize"
    TYPE_CLIENT_CONFIG_PARAM = "clientConfigParam"
    TYPE_VALUE = "value"
    TYPE_MODEL_PARAM = "modelParam"

    _TYPES = frozenset(
        {
            TYPE_DATA,
            TYPE_TARGET,
            TYPE_BATCH_SIZE,
            TYPE_CLIENT_CONFIG_PARAM,
            TYPE_VALUE,
            TYPE_MODEL_PARAM,
        }
    )

    def __init__(
        self, type: str, name: str | None = None, index: int | None = None, value: Any = None
    ) -> None:
        if type not in self._TYPES:
            raise ValueError(
                f"unknown PlanInputSpec type {type!r}; expected one of {sorted(self._TYPES)}"
            )
        if type == self.TYPE_CLIENT_CONFIG_PARAM and name is None and index is None:
            raise ValueError("PlanInputSpec(TYPE_CLIENT_CONFIG_PARAM) needs a name")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise TypeError(f"PlanInputSpec index must be an int, not {index!r}")
        self.type = type
        self.name = name
        self.index = index
        self.value = value

    def resolve(self, arg_data: Mapping[str, Any]) -> Any:
        """The argument for this spec, first match wins: value, index, name, the whole entry.

        Raises:
            ValueError: the trainer has no value for this spec (e.g. a missing client
                config key, a target in loader mode, an index out of range).
        """
        if self.type == self.TYPE_VALUE:
            return self.value
        if self.type not in arg_data or arg_data[self.type] is None:
            raise ValueError(f"no {self.type!r} value is available for {self!r}")
        entry = arg_data[self.type]
        try:
            if self.index is not None:
                return entry[self.index]
            if self.name is not None:
                return entry[self.name]
        except (IndexError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot resolve {self!r}: {exc!r}") from exc
        return entry

    def __repr__(self) -> str:
        parts = [repr(self.type)]
        if self.name is not None:
            parts.append(f"name={self.name!r}")
        if self.index is not None:
            parts.append(f"index={self.index}")
        if self.type == self.TYPE_VALUE:
            parts.append(f"value={self.value!r}")
        return f"PlanInputSpec({', '.join(parts)})"


class PlanOutputSpec:
    """Describes one Plan output: where the trainer puts the value at that position.

    Args:
        type: One of the ``TYPE_*`` constants.
        name: Metric name (required for ``TYPE_METRIC``).
        index: Model parameter position (required for ``TYPE_MODEL_PARAM``).

    Raises:
        ValueError: an unknown ``type``, a metric without ``name`` or a model parameter
            without ``index``.
    """

    TYPE_LOSS = "loss"
    TYPE_METRIC = "metric"
    TYPE_MODEL_PARAM = "modelParam"

    _TYPES = frozenset({TYPE_LOSS, TYPE_METRIC, TYPE_MODEL_PARAM})

    def __init__(self, type: str, name: str | None = None, index: int | None = None) -> None:
        if type not in self._TYPES:
            raise ValueError(
                f"unknown PlanOutputSpec type {type!r}; expected one of {sorted(self._TYPES)}"
            )
        if type == self.TYPE_METRIC and name is None:
            raise ValueError("PlanOutputSpec(TYPE_METRIC) needs a name")
        if type == self.TYPE_MODEL_PARAM and index is None:
            raise ValueError("PlanOutputSpec(TYPE_MODEL_PARAM) needs an index")
        if index is not None and (
            isinstance(index, bool) or not isinstance(index, int) or index < 0
        ):
            raise ValueError(f"PlanOutputSpec index must be an int >= 0, not {index!r}")
        self.type = type
        self.name = name
        self.index = index

    def __repr__(self) -> str:
        parts = [repr(self.type)]
        if self.name is not None:
            parts.append(f"name={self.name!r}")
        if self.index is not None:
            parts.append(f"index={self.index}")
        return f"PlanOutputSpec({', '.join(parts)})"


class OutputLayout:
    """Where the loss, each metric and each model parameter sit in a plan's outputs.

    Worked out once from the specs (output ``i`` goes to spec ``i``; later specs of the same
    loss, metric name or parameter index win), then applied to every step's outputs.
    """

    __slots__ = ("count", "loss", "metrics", "params")

    def __init__(self, specs: Sequence[PlanOutputSpec]) -> None:
        self.count = len(specs)
        self.loss: int | None = None
        metrics: dict[str, int] = {}
        params: dict[int, int] = {}
        for pos, spec in enumerate(specs):
            if spec.type == PlanOutputSpec.TYPE_LOSS:
                self.loss = pos
            elif spec.type == PlanOutputSpec.TYPE_METRIC:
                metrics[str(spec.name)] = pos
            else:
                params[int(spec.index)] = pos  # type: ignore[arg-type]
        self.metrics = tuple(metrics.items())
        self.params = tuple(params.items())

    def split(self, raw: Sequence[Any]) -> tuple[Any, dict[str, Any], dict[int, Any]]:
        """``(loss, metrics, {param index: value})`` of one step's outputs.

        Raises:
            ValueError: fewer outputs than specs.
        """
        if len(raw) < self.count:
            raise ValueError(
                f"the plan returned {len(raw)} outputs but {self.count} output specs are given"
            )
        loss = None if self.loss is None else raw[self.loss]
        return (
            loss,
            {name: raw[pos] for name, pos in self.metrics},
            {index: raw[pos] for index, pos in self.params},
        )
