"""Hosting an FL process on a node: the owner's ``model-centric/host-training`` request.

:func:`host_training` uploads a model ``State``, client plans and an optional averaging plan
(hex-encoded, protocol.md §5.1) with the client and server configs over the node's
WebSocket. :func:`host_mlp` builds all of it for an :class:`~syft_rs.plans.MLP` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from syft_rs.errors import GridError
from syft_rs.grid.messages import unwrap
from syft_rs.grid.urls import parse_grid_url
from syft_rs.grid.ws import WebSocketConnection
from syft_rs.plans.averaging import averaging_plan
from syft_rs.plans.mlp import MLP

__all__ = ["default_server_config", "host_mlp", "host_training", "ws_url"]

HOST_TRAINING = "model-centric/host-training"


def ws_url(url: str) -> str:
    """The node's WebSocket URL for ``url`` given as ``ws(s)://`` or ``http(s)://``.

    The owner names the node explicitly, so plain ``ws://``/``http://`` are accepted here.

    Raises:
        ValueError: another scheme or no host.
    """
    return parse_grid_url(url, allow_insecure=True).ws_url.rstrip("/")


def _hex(data: bytes, what: str) -> str:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, got {type(data).__name__}")
    return bytes(data).hex()


async def host_training(
    url: str,
    *,
    model: bytes,
    plans: Mapping[str, bytes],
    client_config: Mapping[str, Any],
    server_config: Mapping[str, Any],
    averaging_plan: bytes | None = None,
    protocols: Mapping[str, bytes] | None = None,
    reply_timeout: float = 120.0,
) -> dict[str, Any]:
    """Send ``model-centric/host-training`` to the node at ``url`` and return its answer.

    Args:
        url: the node (``ws://host:port``, ``http://host:port``, or the ``s`` variants).
        model: initial model ``State`` bytes (becomes checkpoint 1).
        plans: client plans by name (``"training_plan"`` by convention), ``Plan`` bytes.
        client_config: passed to workers; must hold string ``name`` and ``version``.
        server_config: cycle settings; must hold ``cycle_length`` (protocol.md §6.2).
        averaging_plan: iterative averaging ``Plan`` bytes, or ``None`` for the plain mean.
        protocols: optional ``Protocol`` bytes by name (stored verbatim).
        reply_timeout: seconds to wait for the answer.

    Returns:
        The answer's ``data`` (``{"status": "success"}``).

    Raises:
        GridError: the node refused (its message), did not answer in time, or is unreachable.
        ValueError: a bad URL or config.
    """
    if not plans:
        raise ValueError("at least one client plan is required")
    if not isinstance(client_config.get("name"), str) or not isinstance(
        client_config.get("version"), str
    ):
        raise ValueError("client_config must contain string 'name' and 'version'")
    if "cycle_length" not in server_config:
        raise ValueError("server_config must contain 'cycle_length'")
    data: dict[str, Any] = {
        "model": _hex(model, "model"),
        "plans": {name: _hex(p, f"plan {name!r}") for name, p in plans.items()},
        "protocols": {name: _hex(p, f"protocol {name!r}") for name, p in (protocols or {}).items()},
        "averaging_plan": "" if averaging_plan is None else _hex(averaging_plan, "averaging plan"),
        "client_config": dict(client_config),
        "server_config": dict(server_config),
    }
    target = ws_url(url)
    async with httpx.AsyncClient(timeout=reply_timeout) as client:
        connection = WebSocketConnection(client, target, reply_timeout)
        try:
            reply = await connection.request(HOST_TRAINING, data)
        except GridError as exc:  # unreachable, dropped, or no answer within reply_timeout
            raise GridError(f"host-training at {target}: {exc}", raw=exc.raw) from exc
        finally:
            await connection.aclose()
    payload = unwrap(reply)
    if payload.get("status") != "success":
        raise GridError(f"host-training: unexpected answer {reply!r}")
    return dict(payload)


def default_server_config(**overrides: Any) -> dict[str, Any]:
    """A server config for quick runs: cycles of up to an hour, averaging after 1 report,
    unlimited cycles, iterative averaging plan; ``overrides`` replace or add keys."""
    config: dict[str, Any] = {
        "cycle_length": 3600,
        "num_cycles": 0,
        "max_diffs": 1,
        "iterative_plan": True,
    }
    config.update(overrides)
    return config


async def host_mlp(
    url: str,
    mlp: MLP,
    *,
    name: str,
    version: str,
    batch_size: int = 64,
    lr: float = 0.005,
    max_updates: int | None = 100,
    max_epochs: int | None = None,
    server_config: Mapping[str, Any] | None = None,
    client_config: Mapping[str, Any] | None = None,
    seed: int | None = 1,
    use_averaging_plan: bool = True,
    gradient: str = "reference",
    model: bytes | None = None,
) -> dict[str, Any]:
    """Build an MLP's model, training plan and averaging plan and host them at ``url``.

    The client config carries ``name``, ``version``, ``batch_size``, ``lr`` and, when set,
    ``max_updates`` and ``max_epochs`` (plus ``client_config`` extras). The averaging plan is
    hosted with ``iterative_plan: true``; ``use_averaging_plan=False`` leaves the node to its
    plain mean. ``model`` hosts given ``State`` bytes (e.g. pretrained parameters) instead
    of a fresh ``seed``-ed initialisation; their tensor shapes must be the MLP's. Returns the
    node's answer (see :func:`host_training`).

    Raises:
        ValueError: ``model`` does not fit the MLP; GridError: see :func:`host_training`.
    """
    if model is None:
        model = mlp.init_state(seed)
    else:
        from syft_rs import _core

        shapes = [tuple(p.shape) for p in _core.decode_state(model)]
        if shapes != mlp.param_shapes:
            raise ValueError(
                f"the model State has shapes {shapes}, the MLP needs {mlp.param_shapes}"
            )
    config: dict[str, Any] = {"name": name, "version": version, "batch_size": batch_size, "lr": lr}
    if max_updates is not None:
        config["max_updates"] = max_updates
    if max_epochs is not None:
        config["max_epochs"] = max_epochs
    config.update(client_config or {})
    server = default_server_config(**(server_config or {}))
    if not use_averaging_plan:
        server.pop("iterative_plan", None)
    return await host_training(
        url,
        model=model,
        plans={"training_plan": mlp.training_plan(gradient=gradient)},
        averaging_plan=averaging_plan(mlp.param_shapes) if use_averaging_plan else None,
        client_config=config,
        server_config=server,
    )
