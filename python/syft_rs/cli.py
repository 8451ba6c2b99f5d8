"""The ``syft-rs`` command.

Each area module exposes ``add_parser(subparsers)``, which registers its subcommand and sets
``func`` (``args -> exit code``) as its default; adding a command is one line in
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

#: Modules that register a subcommand, in help order.
COMMANDS = ("syft_rs.node.cli", "syft_rs.plans.cli", "syft_rs.demo.cli")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="syft-rs", description="Federated learning with PySyft Plans on a Rust core."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``syft-rs``; returns the exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
