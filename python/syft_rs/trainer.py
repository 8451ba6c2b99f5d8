"""PlanTrainer: the training loop over a downloaded Plan (training.md §4 and §6).

The loop runs in the calling task and yields to the event loop between batches, so other
tasks keep running. A batch's Plan execution (Rust, GIL released) goes to a worker thread
(``plan.execute_async``) unless the previous one took under ``INLINE_STEP_SECONDS``: then it
runs in the calling thread, which spares two thread hand-offs per batch (on a small virtual
machine these cost more than a small model's step) and holds the event loop no longer than
that bound. Works under asyncio and trio.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import numpy as np

from syft_rs.checkpoint import PlanTrainerCheckpoint
from syft_rs.data import DataLoader, LoaderIterator
from syft_rs.events import EventEmitter
from syft_rs.specs import OutputLayout, PlanInputSpec, PlanOutputSpec

if TYPE_CHECKING:
    from syft_rs.model import SyftModel

__all__ = ["PlanInputSpec", "PlanOutputSpec", "PlanTrainer", "PlanTrainerCheckpoint"]


class _StopRequest:
    """The awaitable returned by :meth:`PlanTrainer.stop`; resolves to a checkpoint."""

    # The event emitter does not await this when a handler returns it (it would wait for
    # the very loop that is running the handler).
    _resolves_after_emit = True

    def __init__(self, result: PlanTrainerCheckpoint | None = None) -> None:
        self._result = result
        self._done = result is not None
        self._event: anyio.Event | None = None

    def _resolve(self, checkpoint: PlanTrainerCheckpoint) -> None:
        self._result = checkpoint
        self._done = True
        if self._event is not None:
            self._event.set()

    async def _wait(self) -> PlanTrainerCheckpoint:
        if not self._done:
            # Created lazily: the event belongs to whichever backend awaits it.
            if self._event is None:
                self._event = anyio.Event()
            await self._event.wait()
        assert self._result is not None
        return self._result

    def __await__(self) -> Any:
        return self._wait().__await__()


def _as_event_value(value: Any) -> Any:
    """One-element values become Python floats; anything else a numpy array (§4.4, §8.4)."""
    arr = np.asarray(value)
    if arr.size == 1:
        return float(arr.reshape(()))
    return arr


#: A Plan step that took less than this (seconds) runs the next one in the calling thread.
INLINE_STEP_SECONDS = 0.003


def _leading_dim(batch: Any) -> int | None:
    """Number of samples in a collated batch: the first dimension of its first array."""
    while True:
        if isinstance(batch, np.ndarray):
            return int(batch.shape[0]) if batch.ndim > 0 else None
        if isinstance(batch, list | tuple) and batch:
            batch = batch[0]
        elif isinstance(batch, Mapping) and batch:
            batch = next(iter(batch.values()))
        else:
            return None


class PlanTrainer:
    """Trains a model with a Plan over local data, with progress events, stop and resume.

    Normally made by :meth:`syft_rs.Job.train`. Defaults (training.md §4.1): ``batch_size``
    is the DataLoader's, else the argument, else ``client_config["batch_size"]``; ``epochs``
    the argument, else ``client_config["max_epochs"]``, else 1; ``steps_per_epoch`` the
    argument, else ``client_config["max_updates"]``, else no cap. A ``checkpoint`` is
    applied last (the trainer is then stopped: use :meth:`resume`).

    Args:
        model: The model to start from (``original_model``, never modified).
        plan: A Plan with ``execute_async(*args)``.
        inputs: How trainer values map onto Plan inputs.
        outputs: How Plan outputs map onto loss, metrics and parameters.
        data: A numpy array (tensor mode, with ``target``) or a DataLoader / re-iterable of
            batches with ``__len__`` (loader mode).
        target: Targets in tensor mode (same first dimension as ``data``).
        epochs, batch_size, steps_per_epoch, client_config, checkpoint: See above.
        events: Event name → handler, subscribed in dict order.

    Raises:
        ValueError: inconsistent data, a missing batch size in tensor mode, invalid counts.
        TypeError: specs of the wrong class.
    """

    def __init__(
        self,
        model: SyftModel,
        plan: Any,
        *,
        inputs: Sequence[PlanInputSpec],
        outputs: Sequence[PlanOutputSpec],
        data: Any,
        target: Any = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        steps_per_epoch: int | None = None,
        client_config: Mapping[str, Any] | None = None,
        checkpoint: PlanTrainerCheckpoint | None = None,
        events: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        for spec in inputs:
            if not isinstance(spec, PlanInputSpec):
                raise TypeError(f"inputs must be PlanInputSpec objects, got {spec!r}")
        for ospec in outputs:
            if not isinstance(ospec, PlanOutputSpec):
                raise TypeError(f"outputs must be PlanOutputSpec objects, got {ospec!r}")
        self.plan = plan
        self.plan_inputs = list(inputs)
        self.plan_outputs = list(outputs)
        self.original_model = model
        self.client_config: dict[str, Any] = dict(client_config or {})
        self.data = data
        self.target = target

        self._tensor_mode = isinstance(data, np.ndarray)
        if self._tensor_mode:
            if target is None:
                raise ValueError("tensor mode needs a target array (or pass a DataLoader as data)")
            target_arr = np.asarray(target)
            if data.ndim == 0 or target_arr.ndim == 0 or target_arr.shape[0] != data.shape[0]:
                raise ValueError(
                    f"data and target must share the first dimension, got {data.shape} and {target_arr.shape}"
                )
            self.target = target_arr
        elif not (hasattr(data, "__iter__") and hasattr(data, "__len__")):
            raise TypeError("data must be a numpy array or a DataLoader (re-iterable with __len__)")

        if isinstance(data, DataLoader):
            bs: Any = data.batch_size
        elif batch_size is not None:
            bs = batch_size
        else:
            bs = self.client_config.get("batch_size")
        self.batch_size: int | None = None if bs is None else _positive_int(bs, "batch_size")
        ep = epochs if epochs is not None else self.client_config.get("max_epochs")
        self.epochs: int = 1 if ep is None else _positive_int(ep, "epochs", minimum=0)
        steps = (
            steps_per_epoch
            if steps_per_epoch is not None
            else self.client_config.get("max_updates")
        )
        self.steps_per_epoch: int | None = (
            None if steps is None else _positive_int(steps, "steps_per_epoch", minimum=0)
        )

        # The parameters after the last step; ``current_model`` wraps them when asked.
        self._params: list[Any] = list(model.params)
        self._model: SyftModel | None = model
        self.epoch = 0
        self.batch_idx = 0
        self.stopped = False
        self._running = False
        self._finished = False
        # The previous step was short enough to run the next one in this thread.
        self._inline = False
        self._stop_requests: list[_StopRequest] = []
        # The iteration of the epoch in which training stopped, to continue it on resume.
        self._pending_batches: Iterator[Any] | None = None
        self._pending_epoch: int | None = None

        self._events = EventEmitter()
        for name, handler in (events or {}).items():
            self.on(name, handler)
        if checkpoint is not None:
            self.apply_checkpoint(checkpoint)
        if self.batch_size is None and self._tensor_mode:
            raise ValueError("batch_size is required (argument or client_config['batch_size'])")

    @property
    def current_model(self) -> SyftModel:
        """The model after the last finished step (``original_model`` before the first)."""
        if self._model is None:
            from syft_rs.model import SyftModel

            self._model = SyftModel(self._params)
        return self._model

    @current_model.setter
    def current_model(self, model: SyftModel) -> None:
        self._params = list(model.params)
        self._model = model

    # ---- events ------------------------------------------------------------------------

    def on(self, event: str, handler: Callable[[Any], Any]) -> None:
        """Subscribe to ``start end stop epoch_start epoch_end batch_start batch_end``
        (camelCase names are the same events)."""
        self._events.on(event, handler)

    def off(self, event: str, handler: Callable[[Any], Any]) -> None:
        """Remove that handler's registrations for ``event`` (other handlers stay)."""
        self._events.off(event, handler)

    # ---- control -----------------------------------------------------------------------

    async def start(self, resume: bool = False) -> None:
        """Run the training loop (training.md §4.3) until the end or a stop.

        Args:
            resume: Continue from ``epoch``/``batch_idx``/``current_model`` when stopped.

        Raises:
            RuntimeError: the trainer is already running.
            Exception: errors of input resolution, plan execution or handlers propagate.
        """
        if self._running:
            raise RuntimeError("this PlanTrainer is already running")
        self._running = True
        try:
            await self._run(resume)
        except BaseException:
            # Nobody waiting on stop() should hang because training failed.
            self._resolve_stop_requests()
            raise
        finally:
            self._running = False

    def stop(self) -> _StopRequest:
        """Stop at the loop's next check; the result resolves to a checkpoint (§6.1).

        Callable with or without ``await``. Inside a handler of this trainer, call it
        without ``await``.
        """
        if self._finished:
            return _StopRequest(self.create_checkpoint())
        self.stopped = True
        if not self._running:
            return _StopRequest(self.create_checkpoint())
        request = _StopRequest()
        self._stop_requests.append(request)
        return request

    async def resume(self) -> None:
        """Continue a stopped training; returns at once when not stopped."""
        if self.stopped and not self._running:
            await self.start(resume=True)

    def create_checkpoint(self) -> PlanTrainerCheckpoint:
        """The current position and model as a :class:`PlanTrainerCheckpoint`."""
        return PlanTrainerCheckpoint(
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            batch_size=self.batch_size,
            client_config=self.client_config,
            epoch=self.epoch,
            batch=self.batch_idx,
            current_model=self.current_model,
        )

    def apply_checkpoint(self, checkpoint: PlanTrainerCheckpoint) -> None:
        """Restore totals, position and model from ``checkpoint``; the trainer becomes stopped.

        Raises:
            RuntimeError: the trainer is running.
        """
        if self._running:
            raise RuntimeError("cannot apply a checkpoint while the trainer is running")
        self.epochs = checkpoint.epochs
        self.epoch = checkpoint.epoch
        self.steps_per_epoch = checkpoint.steps_per_epoch
        self.batch_idx = checkpoint.batch
        self.batch_size = checkpoint.batch_size
        self.current_model = checkpoint.current_model
        self.client_config = dict(checkpoint.client_config)
        self.stopped = True
        self._finished = False
        self._pending_batches = None
        self._pending_epoch = None

    # ---- loop --------------------------------------------------------------------------

    async def _run(self, resume: bool) -> None:
        continued: Iterator[Any] | None = None
        if resume and self.stopped:
            self.stopped = False
            start_epoch, start_batch = self.epoch, self.batch_idx
            start_model = self.current_model
            if self._pending_epoch == start_epoch:
                continued = self._pending_batches
        else:
            start_epoch, start_batch = 0, 0
            start_model = self.original_model
        self._pending_batches = None
        self._pending_epoch = None
        self._finished = False
        params = list(start_model.params)
        if start_model is self.original_model:
            # A model of its own (the same read-only arrays), made when first asked for.
            self._params, self._model = params, None
        else:
            self.current_model = start_model
        events = self._events
        layout = OutputLayout(self.plan_outputs)

        await self._events.emit("start", {})
        for epoch in range(start_epoch, self.epochs):
            self.epoch = epoch
            b = start_batch if epoch == start_epoch else 0
            self.batch_idx = b
            await self._events.emit("epoch_start", {"epoch": epoch})
            if self.stopped:
                await self._emit_stop()
                return
            n = self._num_batches()
            batches = continued if continued is not None else self._batches_from(b, n)
            continued = None
            while b < n:
                self.batch_idx = b
                if events.has_handlers("batch_start"):
                    await events.emit("batch_start", {"epoch": epoch, "batch": b})
                if self.stopped:
                    self._pending_batches, self._pending_epoch = batches, epoch
                    await self._emit_stop()
                    return
                try:
                    batch = next(batches)
                except StopIteration:
                    break  # an iterable that yields fewer batches than its len()
                args = self._resolve_inputs(batch, params)
                raw = await self._execute(args)
                loss, metrics, new_params = layout.split(raw)
                params = list(params)  # the previous list may back a model handed out
                for i, value in new_params.items():
                    if i >= len(params):
                        raise ValueError(
                            f"output spec index {i} is out of range: the model has {len(params)} parameters"
                        )
                    params[i] = value
                # Plan outputs are fresh arrays nobody else holds; the model that wraps
                # them (read-only views) is made only when somebody asks for it.
                self._params, self._model = params, None
                if events.has_handlers("batch_end"):
                    await events.emit(
                        "batch_end",
                        {
                            "epoch": epoch,
                            "batch": b,
                            "loss": None if loss is None else _as_event_value(loss),
                            "metrics": {k: _as_event_value(v) for k, v in metrics.items()},
                        },
                    )
                b += 1
                await anyio.lowlevel.checkpoint()
            await self._events.emit("epoch_end", {"epoch": epoch})
        self.epoch = self.epochs
        self.batch_idx = 0
        self._finished = True
        self._resolve_stop_requests()
        await self._events.emit("end", {})

    async def _execute(self, args: list[Any]) -> Any:
        """Run one step: inline when the last one was short (see the module docs)."""
        execute = getattr(self.plan, "execute", None)
        t0 = time.perf_counter()
        if self._inline and execute is not None:
            raw = execute(*args)
        else:
            raw = await self.plan.execute_async(*args)
        self._inline = time.perf_counter() - t0 < INLINE_STEP_SECONDS
        return raw

    async def _emit_stop(self) -> None:
        self._resolve_stop_requests()
        await self._events.emit("stop", {})

    def _resolve_stop_requests(self) -> None:
        if not self._stop_requests:
            return
        checkpoint = self.create_checkpoint()
        requests, self._stop_requests = self._stop_requests, []
        for r in requests:
            r._resolve(checkpoint)

    def _num_batches(self) -> int:
        if self._tensor_mode:
            assert self.batch_size is not None
            n = int(self.data.shape[0]) // self.batch_size
        else:
            n = len(self.data)
        if self.steps_per_epoch is not None:
            n = min(n, self.steps_per_epoch)
        return n

    def _batches_from(self, first: int, n: int) -> Iterator[Any]:
        """A fresh iteration of the data positioned at batch ``first``."""
        if self._tensor_mode:
            return self._tensor_batches(first, n)
        it: Iterator[Any] = iter(self.data)
        if isinstance(it, LoaderIterator):
            it.skip(first)  # indices are drawn, samples are not loaded
        else:
            for _ in range(first):
                if next(it, None) is None:
                    break
        return it

    def _tensor_batches(self, first: int, n: int) -> Iterator[tuple[Any, Any]]:
        bs = self.batch_size
        assert bs is not None
        for b in range(first, n):
            yield self.data[b * bs : (b + 1) * bs], self.target[b * bs : (b + 1) * bs]

    def _resolve_inputs(self, batch: Any, params: list[Any]) -> list[Any]:
        if self._tensor_mode:
            data, target = batch
            size = int(data.shape[0])
        else:
            data, target = batch, None
            size = _leading_dim(batch) or self.batch_size or 0
        arg_data = {
            PlanInputSpec.TYPE_DATA: data,
            PlanInputSpec.TYPE_TARGET: target,
            PlanInputSpec.TYPE_BATCH_SIZE: size,
            PlanInputSpec.TYPE_MODEL_PARAM: params,
            PlanInputSpec.TYPE_CLIENT_CONFIG_PARAM: self.client_config,
        }
        return [spec.resolve(arg_data) for spec in self.plan_inputs]


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # client_config from JSON may carry 64.0
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
