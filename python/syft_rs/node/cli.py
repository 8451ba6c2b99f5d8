"""The ``syft-rs node`` subcommand."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``syft-rs node``."""
    p = subparsers.add_parser(
        "node",
        help="run a PyGrid-compatible model-centric node",
        description="Serve the model-centric FL protocol (WS at /, HTTP under /model-centric/).",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default 5000; 0 = any free)")
    p.add_argument(
        "--db", default=None, help="SQLite file (default: a temporary file deleted on exit)"
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=128.0,
        help="largest request body / WS message in MiB (default 128)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for pool_selection=random")
    p.add_argument(
        "--synchronous",
        default="FULL",
        choices=["NORMAL", "FULL"],
        help="SQLite synchronous mode (default FULL: acknowledged writes are on disk)",
    )
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    from syft_rs.node.server import Node, serve

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    node = Node(
        args.db,
        max_body_bytes=int(args.max_body_mb * (1 << 20)),
        seed=args.seed,
        synchronous=args.synchronous,
    )

    def listening(url: str) -> None:
        print(f"syft-rs node listening on {url} (db: {node.db_path})", flush=True)

    try:
        asyncio.run(serve(node, args.host, args.port, on_listening=listening))
    except OSError as exc:
        print(f"syft-rs node: {exc}", file=sys.stderr)
        return 1
    finally:
        node.close()
    return 0
