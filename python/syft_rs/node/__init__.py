"""A PyGrid-compatible model-centric FL node (protocol.md).

Serve it from the command line (``syft-rs node --port 5000 --db node.sqlite``) or embed it:

- :func:`start_node` serves on a background thread and returns a :class:`RunningNode`
  (``.url``, ``.ws_url``, ``.stop()``; also a context manager)::

      with start_node() as running:        # free loopback port, temporary database
          print(running.url)               # http://127.0.0.1:43817

- ``async with serve_node() as running:`` serves inside the current anyio event loop
  (asyncio or trio) for the body of the block.
- :class:`Node` is the ASGI application itself, for any ASGI server; :func:`serve` runs it
  with hypercorn until SIGINT/SIGTERM or a shutdown trigger.
"""

from __future__ import annotations

from syft_rs.node.server import Node, RunningNode, serve, serve_node, start_node

__all__ = ["Node", "RunningNode", "serve", "serve_node", "start_node"]
