"""The ``syft-rs worker`` and ``syft-rs demo`` subcommands."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``syft-rs worker`` and ``syft-rs demo``."""
    w = subparsers.add_parser(
        "worker",
        help="join cycles of a hosted process and train on a local .npz dataset",
        description=(
            "Authenticate, request cycles, train the hosted plan on local data and report "
            "diffs, until the node rejects without a timeout (the process is finished)."
        ),
    )
    w.add_argument("--url", default="ws://127.0.0.1:5000", help="node URL (ws:// or http://)")
    w.add_argument("--name", required=True, help="process name")
    w.add_argument("--version", required=True, help="process version")
    w.add_argument("--data", required=True, help=".npz with features (x) and targets (y)")
    w.add_argument("--x-key", default=None, help="features array name in the .npz")
    w.add_argument("--y-key", default=None, help="targets array name in the .npz")
    w.add_argument("--auth-token", default=None, help="JWT for processes that require one")
    w.add_argument("--cycles", type=int, default=None, help="stop after this many cycles")
    w.add_argument("--seed", type=int, default=None, help="shuffling seed")
    w.add_argument(
        "--max-wait",
        type=float,
        default=10.0,
        help="longest wait (s) before asking again after a rejection (default 10)",
    )
    w.add_argument(
        "--dialect", choices=["list", "tfjs"], default="list", help="plan variant to download"
    )
    w.set_defaults(func=run_worker_command)

    d = subparsers.add_parser(
        "demo",
        help="federated learning on scikit-learn's digits: embedded node, several clients",
        description=(
            "Start a node on a free loopback port with a temporary database, host an MLP for "
            "the digits dataset, run several clients over real sockets for several cycles and "
            "show per-cycle held-out accuracy. Needs the 'demo' extra (scikit-learn)."
        ),
    )
    d.add_argument("--clients", type=int, default=4, help="number of clients (default 4)")
    d.add_argument("--cycles", type=int, default=5, help="number of cycles (default 5)")
    d.add_argument("--seed", type=int, default=0, help="data split, init and shuffling seed")
    d.add_argument("--lr", type=float, default=0.3, help="learning rate (default 0.3)")
    d.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
    d.add_argument("--epochs", type=int, default=2, help="local epochs per cycle (default 2)")
    d.add_argument("--hidden", type=int, nargs="+", default=[32], help="hidden layer widths")
    d.add_argument(
        "--activation", choices=["relu", "sigmoid", "tanh"], default="relu", help="activation"
    )
    d.add_argument(
        "--dialect", choices=["list", "tfjs"], default="list", help="plan variant the clients run"
    )
    d.add_argument(
        "--json",
        action="store_true",
        help='end the output with one line {"cycles", "clients", "accuracy", "seconds"}',
    )
    d.add_argument("--plot", metavar="FILE.png", default=None, help="draw accuracy per cycle")
    d.set_defaults(func=run_demo_command)


def run_worker_command(args: argparse.Namespace) -> int:
    """Train until the process is finished; print one line per cycle."""
    import anyio

    from syft_rs.demo.worker import CycleResult, load_npz, run_worker
    from syft_rs.errors import SyftError

    try:
        x, y = load_npz(args.data, args.x_key, args.y_key)
    except (OSError, ValueError) as exc:
        print(f"syft-rs worker: {exc}", file=sys.stderr)
        return 2

    def on_cycle(result: CycleResult) -> None:
        if result.status == "trained":
            acc = "" if result.accuracy is None else f", accuracy {result.accuracy:.4f}"
            print(f"trained {result.batches} batches: loss {result.loss:.4f}{acc}; reported")
        elif result.status == "rejected" and result.timeout is None:
            print("rejected without timeout: the process is finished")
        elif result.status == "rejected":
            print(f"rejected, retry in {result.timeout:.1f} s")
        elif result.status == "cycle_closed":
            print("the cycle completed before the download: asking again")
        else:
            print("accepted with the model already trained: waiting for the next cycle")
        sys.stdout.flush()

    async def main() -> object:
        return await run_worker(
            args.url,
            args.name,
            args.version,
            x,
            y,
            auth_token=args.auth_token,
            cycles=args.cycles,
            seed=args.seed,
            max_wait=args.max_wait,
            receive_operations_as=args.dialect,
            on_cycle=on_cycle,
        )

    try:
        stats = anyio.run(main)
    except (SyftError, ValueError) as exc:
        print(f"syft-rs worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"done: {stats.cycles} cycles, {stats.batches} batches")  # type: ignore[attr-defined]
    return 0


def run_demo_command(args: argparse.Namespace) -> int:
    """Run the demo; ``--json`` prints the summary as the last line."""
    from syft_rs.demo.run import (
        DemoConfig,
        plot_accuracy,
        require_matplotlib,
        run_demo,
        summary_line,
    )

    try:
        if args.plot:
            require_matplotlib()
        config = DemoConfig(
            clients=args.clients,
            cycles=args.cycles,
            hidden=tuple(args.hidden),
            activation=args.activation,
            lr=args.lr,
            batch_size=args.batch_size,
            epochs=args.epochs,
            seed=args.seed,
            dialect=args.dialect,
        )
        result = run_demo(config)
        if args.plot:
            plot_accuracy(result, args.plot)
            print(f"accuracy plot written to {args.plot}")
    except (RuntimeError, ValueError) as exc:
        print(f"syft-rs demo: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(summary_line(result), flush=True)
    return 0
