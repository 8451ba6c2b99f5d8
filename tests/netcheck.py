"""Leak checks for client tests: open client sockets to a port, live async tasks."""

from __future__ import annotations

import os

import anyio


def _socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def client_sockets_to(port: int) -> int:
    """How many sockets of this process are connected to ``port`` as the client side.

    Reads /proc/net/tcp{,6}: a row whose remote port is ``port`` and whose inode is one of our
    fds is a client socket we still hold (in any TCP state, CLOSE_WAIT included).
    """
    ours = _socket_inodes()
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            remote_port = int(cols[2].rsplit(":", 1)[1], 16)
            if remote_port == port and cols[9] in ours:
                count += 1
    return count


def running_tasks() -> int:
    """Number of live tasks in the current event loop (asyncio or trio)."""
    return len(anyio.get_running_tasks())
