"""The ``syft-rs host`` subcommand: host an MLP training process on a node."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

__all__ = ["add_parser"]


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``syft-rs host``."""
    p = subparsers.add_parser(
        "host",
        help="host an MLP model, training plan and averaging plan on a node",
        description=(
            "Build an MLP (model State, training Plan with torch and tfjs roles, iterative "
            "averaging Plan) and upload it with its client and server config to a node "
            "(WS model-centric/host-training)."
        ),
    )
    p.add_argument("--url", default="ws://127.0.0.1:5000", help="node URL (ws:// or http://)")
    p.add_argument("--name", required=True, help="process name (client_config.name)")
    p.add_argument("--version", required=True, help="process version (client_config.version)")
    p.add_argument(
        "--model",
        default="mlp:784-392-10:relu:softmax_ce",
        help="MLP spec 'mlp:IN-HIDDEN…-OUT[:relu|sigmoid|tanh][:softmax_ce|mse]' "
        "(default: the reference MNIST model)",
    )
    p.add_argument("--seed", type=int, default=1, help="initialisation seed (default 1)")
    p.add_argument(
        "--init-state",
        metavar="FILE",
        default=None,
        help="host this model State (protobuf file) instead of a seeded initialisation",
    )
    p.add_argument("--batch-size", type=int, default=64, help="client_config.batch_size")
    p.add_argument("--lr", type=float, default=0.005, help="client_config.lr")
    p.add_argument("--max-updates", type=int, default=100, help="client_config.max_updates")
    p.add_argument("--max-epochs", type=int, default=None, help="client_config.max_epochs")
    p.add_argument("--cycle-length", type=float, default=3600, help="seconds per cycle")
    p.add_argument("--num-cycles", type=int, default=5, help="cycles to run (0 = unlimited)")
    p.add_argument("--max-diffs", type=int, default=1, help="reports that complete a cycle")
    p.add_argument("--min-workers", type=int, default=None, help="server_config.min_workers")
    p.add_argument("--max-workers", type=int, default=None, help="server_config.max_workers")
    p.add_argument(
        "--plain-mean",
        action="store_true",
        help="host no averaging plan: the node averages with its plain mean",
    )
    p.add_argument(
        "--gradient",
        choices=["reference", "fused"],
        default="reference",
        help="backward pass layout: PySyft's (reference) or fused (fewer operations)",
    )
    p.add_argument(
        "--client-config", type=_json_object, default={}, help="extra client_config keys (JSON)"
    )
    p.add_argument(
        "--server-config", type=_json_object, default={}, help="extra server_config keys (JSON)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build and upload; print the node's answer. Exit code 1 if the node refuses."""
    import anyio

    from syft_rs.errors import GridError
    from syft_rs.plans import parse_mlp
    from syft_rs.plans.host import host_mlp

    try:
        mlp = parse_mlp(args.model)
    except ValueError as exc:
        print(f"syft-rs host: {exc}", file=sys.stderr)
        return 2
    server: dict[str, Any] = {
        "cycle_length": args.cycle_length,
        "num_cycles": args.num_cycles,
        "max_diffs": args.max_diffs,
    }
    if args.min_workers is not None:
        server["min_workers"] = args.min_workers
    if args.max_workers is not None:
        server["max_workers"] = args.max_workers
    server.update(args.server_config)
    model = None
    if args.init_state is not None:
        try:
            with open(args.init_state, "rb") as f:
                model = f.read()
        except OSError as exc:
            print(f"syft-rs host: {exc}", file=sys.stderr)
            return 2

    async def main() -> dict[str, Any]:
        return await host_mlp(
            args.url,
            mlp,
            name=args.name,
            version=args.version,
            batch_size=args.batch_size,
            lr=args.lr,
            max_updates=args.max_updates,
            max_epochs=args.max_epochs,
            server_config=server,
            client_config=args.client_config,
            seed=args.seed,
            use_averaging_plan=not args.plain_mean,
            gradient=args.gradient,
            model=model,
        )

    try:
        answer = anyio.run(main)
    except (GridError, ValueError) as exc:  # PlanDecodeError is a ValueError
        print(f"syft-rs host: {exc}", file=sys.stderr)
        return 1
    print(
        f"hosted {args.name!r} {args.version!r}: MLP {'-'.join(map(str, mlp.sizes))} "
        f"({', '.join(mlp.hidden_activations) or 'linear'}, {mlp.loss}), "
        f"{sum(math.prod(s) for s in mlp.param_shapes)} parameters -> "
        f"{json.dumps(answer)}"
    )
    return 0
