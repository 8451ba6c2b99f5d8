"""Validation of ``host-training`` requests and ``server_config`` (protocol.md §5.1, §6.2).

Everything is checked before anything is stored, so hosting is atomic: a request either
passes every check here or the node answers the first error and changes nothing.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from syft_rs import _core
from syft_rs.node.auth import validate_pub_key
from syft_rs.node.errors import RequestError

__all__ = ["HostRequest", "parse_host_request", "validate_server_config"]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _must(key: str, what: str) -> RequestError:
    return RequestError(f"server_config['{key}'] must be {what}")


def validate_server_config(cfg: object) -> dict[str, Any]:
    """Check the keys of §6.2 the node interprets; other keys are kept verbatim.

    Raises:
        RequestError: the first offending key, as ``server_config['<key>'] must be <type>``.
    """
    if not isinstance(cfg, dict):
        raise RequestError("server_config must be an object")
    if "cycle_length" not in cfg:
        raise RequestError("server_config must contain 'cycle_length'")
    length = cfg["cycle_length"]
    if length is not None and not (_is_number(length) and length > 0):
        raise _must("cycle_length", "a number > 0 or null")
    if "num_cycles" in cfg and cfg["num_cycles"] is not None:
        if not (_is_int(cfg["num_cycles"]) and cfg["num_cycles"] >= 0):
            raise _must("num_cycles", "an integer ≥ 0")
    for key in ("max_diffs", "min_diffs", "min_workers", "max_workers"):
        if key in cfg and cfg[key] is not None and not (_is_int(cfg[key]) and cfg[key] >= 1):
            raise _must(key, "an integer ≥ 1 or null")
    key = "do_not_reuse_workers_until_cycle"
    if key in cfg and cfg[key] is not None and not (_is_int(cfg[key]) and cfg[key] >= 0):
        raise _must(key, "an integer ≥ 0 or null")
    if "iterative_plan" in cfg and not isinstance(cfg["iterative_plan"], bool):
        raise _must("iterative_plan", "a boolean")
    for key in ("minimum_upload_speed", "minimum_download_speed"):
        if key in cfg and cfg[key] is not None and not (_is_number(cfg[key]) and cfg[key] >= 0):
            raise _must(key, "a number ≥ 0 or null")
    if "pool_selection" in cfg and cfg["pool_selection"] not in (None, "iterate", "random"):
        raise _must("pool_selection", "'iterate' or 'random'")
    auth = cfg.get("authentication")
    if auth is not None:
        if not isinstance(auth, dict):
            raise _must("authentication", "an object")
        for key in ("secret", "pub_key", "endpoint"):
            if auth.get(key) is not None and not isinstance(auth[key], str):
                raise RequestError(f"server_config['authentication']['{key}'] must be a string")
        if auth.get("pub_key"):
            try:
                validate_pub_key(auth["pub_key"])
            except ValueError as exc:
                raise RequestError(
                    f"server_config['authentication']['pub_key'] must be a PEM RSA public key: {exc}"
                ) from None
        endpoint = auth.get("endpoint")
        if endpoint and not endpoint.lower().startswith(("http://", "https://")):
            raise RequestError("server_config['authentication']['endpoint'] must be an http(s) URL")
    return cfg


@dataclass
class PlanVariants:
    """A client plan as uploaded and the three variants served by get-plan (§5.6)."""

    source: bytes
    list: bytes | None
    tfjs: bytes | None
    torchscript: bytes | None


@dataclass
class HostRequest:
    """A validated host-training request."""

    name: str
    version: str
    client_config: dict[str, Any]
    server_config: dict[str, Any]
    model: bytes
    plans: dict[str, PlanVariants] = field(default_factory=dict)
    protocols: dict[str, bytes] = field(default_factory=dict)
    averaging_plan: bytes | None = None


def _unhex(value: object, key: str) -> bytes:
    if not isinstance(value, str):
        raise RequestError(f"Invalid hex in '{key}'")
    try:
        return binascii.unhexlify(value.strip())
    except (binascii.Error, ValueError):
        raise RequestError(f"Invalid hex in '{key}'") from None


def _hex_map(data: Mapping[str, Any], key: str, *, required: bool) -> dict[str, bytes]:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or (required and not value):
        raise RequestError(f"'{key}' must be a non-empty object mapping names to hex")
    return {str(name): _unhex(v, f"{key}.{name}") for name, v in value.items()}


def check_averaging_plan(plan: _core.Plan, n: int, iterative: bool) -> None:
    """Check the arity of an averaging plan against a model of ``n`` tensors (§8.3)."""
    k, m = plan.num_inputs, plan.num_outputs
    ok = m == n and (k == 2 * n + 1 if iterative else (k > 0 and k % n == 0))
    if not ok:
        raise RequestError(
            f"Averaging plan expects {k} inputs and {m} outputs, model has {n} tensors"
        )


def parse_host_request(data: Mapping[str, Any]) -> HostRequest:
    """Validate a host-training ``data`` object (everything but the duplicate check).

    Raises:
        RequestError: with the §5.1 message of the first failed check.
    """
    client_config = data.get("client_config")
    if not isinstance(client_config, dict) or not (
        isinstance(client_config.get("name"), str) and isinstance(client_config.get("version"), str)
    ):
        raise RequestError("client_config must contain string 'name' and 'version'")
    server_config = validate_server_config(data.get("server_config"))
    if "model" not in data:
        raise RequestError("'model' is required")
    model = _unhex(data["model"], "model")
    plans = _hex_map(data, "plans", required=True)
    protocols = _hex_map(data, "protocols", required=False)
    avg_raw = data.get("averaging_plan")
    averaging_plan = None if avg_raw in (None, "") else _unhex(avg_raw, "averaging_plan")

    try:
        tensors = _core.decode_state(model)
    except (ValueError, TypeError) as exc:
        raise RequestError(f"Model is not a valid State: {exc}") from None
    if not tensors:
        raise RequestError("Model is not a valid State: it has no tensors")

    request = HostRequest(
        name=client_config["name"],
        version=client_config["version"],
        client_config=client_config,
        server_config=server_config,
        model=model,
        protocols=protocols,
        averaging_plan=averaging_plan,
    )
    for name, source in plans.items():
        try:
            variants = _core.plan_variants(source)
        except (ValueError, TypeError):
            raise RequestError("Plan is not valid") from None
        if all(variants.get(v) is None for v in ("list", "tfjs", "torchscript")):
            raise RequestError("Failed to translate a Plan")
        request.plans[name] = PlanVariants(
            source=source,
            list=variants.get("list"),
            tfjs=variants.get("tfjs"),
            torchscript=variants.get("torchscript"),
        )
    if averaging_plan is not None:
        try:
            plan = _core.Plan.from_bytes(averaging_plan)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise RequestError(f"Averaging plan is not valid: {exc}") from None
        check_averaging_plan(plan, len(tensors), bool(server_config.get("iterative_plan", False)))
    return request
