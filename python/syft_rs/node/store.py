"""SQLite storage of the node (protocol.md §9).

One connection guarded by a lock; every request runs its reads and writes inside one
``BEGIN IMMEDIATE`` … ``COMMIT`` transaction (:meth:`Store.transaction`), so a request is
either fully stored or not at all, and a crash (``kill -9``) never leaves a half-written
checkpoint behind. Blobs are stored inline, configs as JSON text, times as UTC ISO 8601
text with a fixed width so that they compare as strings.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["Cycle", "Process", "Store", "Tx", "format_time", "parse_time", "utcnow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fl_process (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS config (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id INTEGER NOT NULL REFERENCES fl_process(id),
    is_server_config BOOLEAN NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS model (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id INTEGER NOT NULL UNIQUE REFERENCES fl_process(id)
);
CREATE TABLE IF NOT EXISTS model_checkpoint (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id INTEGER NOT NULL REFERENCES model(id),
    number INTEGER NOT NULL,
    alias TEXT NOT NULL DEFAULT '',
    value BLOB NOT NULL,
    UNIQUE (model_id, number)
);
CREATE TABLE IF NOT EXISTS plan (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id INTEGER NOT NULL REFERENCES fl_process(id),
    name TEXT,
    is_avg_plan BOOLEAN NOT NULL,
    value BLOB,
    value_ts BLOB,
    value_tfjs BLOB,
    source BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS protocol (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id INTEGER NOT NULL REFERENCES fl_process(id),
    name TEXT NOT NULL,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cycle (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id INTEGER NOT NULL REFERENCES fl_process(id),
    sequence INTEGER NOT NULL,
    version TEXT NOT NULL,
    start TEXT NOT NULL,
    "end" TEXT,
    is_completed BOOLEAN NOT NULL DEFAULT 0,
    checkpoint_number INTEGER
);
CREATE TABLE IF NOT EXISTS worker (
    id TEXT PRIMARY KEY,
    ping REAL,
    avg_download REAL,
    avg_upload REAL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS worker_cycle (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle_id INTEGER NOT NULL REFERENCES cycle(id),
    worker_id TEXT NOT NULL REFERENCES worker(id),
    request_key TEXT NOT NULL UNIQUE,
    assigned_at TEXT NOT NULL,
    is_completed BOOLEAN NOT NULL DEFAULT 0,
    completed_at TEXT,
    diff BLOB
);
CREATE INDEX IF NOT EXISTS cycle_open ON cycle (process_id, is_completed);
CREATE INDEX IF NOT EXISTS worker_cycle_cycle ON worker_cycle (cycle_id, worker_id);
CREATE INDEX IF NOT EXISTS worker_cycle_worker ON worker_cycle (worker_id);
"""


def utcnow() -> datetime:
    """The current time in UTC (timezone-aware)."""
    return datetime.now(UTC)


def format_time(t: datetime) -> str:
    """Fixed-width UTC ISO 8601 text, so that stored times compare as strings."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    """Inverse of :func:`format_time`."""
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class Process:
    """A hosted FL process with its configs (decoded JSON)."""

    id: int
    name: str
    version: str
    client_config: dict[str, Any]
    server_config: dict[str, Any]
    model_id: int


@dataclass(frozen=True)
class Cycle:
    """One cycle of a process."""

    id: int
    process_id: int
    sequence: int
    start: datetime
    end: datetime | None
    is_completed: bool
    checkpoint_number: int | None


def _cycle(row: sqlite3.Row | None) -> Cycle | None:
    if row is None:
        return None
    return Cycle(
        id=row["id"],
        process_id=row["process_id"],
        sequence=row["sequence"],
        start=parse_time(row["start"]),
        end=None if row["end"] is None else parse_time(row["end"]),
        is_completed=bool(row["is_completed"]),
        checkpoint_number=row["checkpoint_number"],
    )


class Store:
    """The node's SQLite database.

    Args:
        path: Database file; ``":memory:"`` for a private in-memory database; ``None`` for a
            temporary file that is deleted by :meth:`close`.
        synchronous: SQLite ``synchronous`` pragma (``"FULL"`` syncs every commit to disk;
            ``"NORMAL"`` survives process crashes but may lose the last commits on power loss).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, synchronous: str = "FULL"):
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self._temp: Path | None = None
        if path is None:
            fd, name = tempfile.mkstemp(prefix="syft_rs_node_", suffix=".sqlite")
            os.close(fd)
            self._temp = Path(name)
            path = name
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._conn.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # The DDL is idempotent; executescript manages its own transaction.
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection (and delete the temporary database file, if any)."""
        with self._lock:
            self._conn.close()
        if self._temp is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self._temp) + suffix).unlink(missing_ok=True)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Run a block as one transaction, serialized with every other transaction.

        Commits when the block ends normally, rolls back when it raises.
        """
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")


class Tx:
    """Queries and writes available inside one transaction."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def _insert(self, sql: str, *args: Any) -> int:
        rowid = self.conn.execute(sql, args).lastrowid
        assert rowid is not None
        return rowid

    # ---- processes ---------------------------------------------------------------------

    def process_exists(self, name: str, version: str) -> bool:
        return (
            self._one("SELECT 1 FROM fl_process WHERE name=? AND version=?", name, version)
            is not None
        )

    def insert_process(
        self, name: str, version: str, client_config: dict[str, Any], server_config: dict[str, Any]
    ) -> tuple[int, int]:
        """Insert a process with its configs and model row; returns ``(process_id, model_id)``."""
        pid = self._insert("INSERT INTO fl_process (name, version) VALUES (?, ?)", name, version)
        for is_server, cfg in ((0, client_config), (1, server_config)):
            self._insert(
                "INSERT INTO config (process_id, is_server_config, config) VALUES (?, ?, ?)",
                pid,
                is_server,
                json.dumps(cfg),
            )
        mid = self._insert("INSERT INTO model (process_id) VALUES (?)", pid)
        return pid, mid

    def _process_from_row(self, row: sqlite3.Row | None) -> Process | None:
        if row is None:
            return None
        configs = {
            bool(r["is_server_config"]): json.loads(r["config"])
            for r in self.conn.execute(
                "SELECT is_server_config, config FROM config WHERE process_id=? ORDER BY id",
                (row["id"],),
            )
        }
        model = self._one("SELECT id FROM model WHERE process_id=?", row["id"])
        assert model is not None
        return Process(
            id=row["id"],
            name=row["name"],
            version=row["version"],
            client_config=configs[False],
            server_config=configs[True],
            model_id=model["id"],
        )

    def find_process(self, name: object, version: object = None) -> Process | None:
        """Newest process with that name (and version, when not ``None``)."""
        if not isinstance(name, str) or (version is not None and not isinstance(version, str)):
            return None
        if version is None:
            row = self._one("SELECT * FROM fl_process WHERE name=? ORDER BY id DESC LIMIT 1", name)
        else:
            row = self._one(
                "SELECT * FROM fl_process WHERE name=? AND version=? ORDER BY id DESC LIMIT 1",
                name,
                version,
            )
        return self._process_from_row(row)

    def process_by_id(self, pid: int) -> Process | None:
        return self._process_from_row(self._one("SELECT * FROM fl_process WHERE id=?", pid))

    def process_of_model(self, model_id: int) -> Process | None:
        row = self._one("SELECT process_id FROM model WHERE id=?", model_id)
        return None if row is None else self.process_by_id(row["process_id"])

    # ---- checkpoints -------------------------------------------------------------------

    def insert_checkpoint(self, model_id: int, number: int, value: bytes) -> None:
        """Store checkpoint ``number`` and move the ``latest`` alias to it."""
        self.conn.execute("UPDATE model_checkpoint SET alias='' WHERE model_id=?", (model_id,))
        self._insert(
            "INSERT INTO model_checkpoint (model_id, number, alias, value) VALUES (?, ?, 'latest', ?)",
            model_id,
            number,
            value,
        )

    def latest_checkpoint(self, model_id: int) -> tuple[int, bytes] | None:
        row = self._one(
            "SELECT number, value FROM model_checkpoint WHERE model_id=? ORDER BY id DESC LIMIT 1",
            model_id,
        )
        return None if row is None else (row["number"], bytes(row["value"]))

    def checkpoint(
        self, model_id: int, *, number: int | None = None, alias: str | None = None
    ) -> bytes | None:
        if number is not None:
            row = self._one(
                "SELECT value FROM model_checkpoint WHERE model_id=? AND number=? ORDER BY id DESC LIMIT 1",
                model_id,
                number,
            )
        else:
            row = self._one(
                "SELECT value FROM model_checkpoint WHERE model_id=? AND alias=? ORDER BY id DESC LIMIT 1",
                model_id,
                alias,
            )
        return None if row is None else bytes(row["value"])

    # ---- plans and protocols -------------------------------------------------------------

    def insert_plan(
        self,
        process_id: int,
        name: str | None,
        *,
        is_avg_plan: bool,
        value: bytes | None,
        value_ts: bytes | None,
        value_tfjs: bytes | None,
        source: bytes,
    ) -> int:
        return self._insert(
            "INSERT INTO plan (process_id, name, is_avg_plan, value, value_ts, value_tfjs, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            process_id,
            name,
            int(is_avg_plan),
            value,
            value_ts,
            value_tfjs,
            source,
        )

    def client_plans(self, process_id: int) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT id, name FROM plan WHERE process_id=? AND is_avg_plan=0 ORDER BY id",
            (process_id,),
        )
        return {r["name"]: r["id"] for r in rows}

    def plan(self, plan_id: int) -> sqlite3.Row | None:
        return self._one("SELECT * FROM plan WHERE id=?", plan_id)

    def avg_plan(self, process_id: int) -> tuple[int, bytes] | None:
        row = self._one(
            "SELECT id, value FROM plan WHERE process_id=? AND is_avg_plan=1 ORDER BY id DESC LIMIT 1",
            process_id,
        )
        return None if row is None else (row["id"], bytes(row["value"]))

    def insert_protocol(self, process_id: int, name: str, value: bytes) -> int:
        return self._insert(
            "INSERT INTO protocol (process_id, name, value) VALUES (?, ?, ?)",
            process_id,
            name,
            value,
        )

    def protocols(self, process_id: int) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT id, name FROM protocol WHERE process_id=? ORDER BY id", (process_id,)
        )
        return {r["name"]: r["id"] for r in rows}

    def protocol(self, protocol_id: int) -> sqlite3.Row | None:
        return self._one("SELECT * FROM protocol WHERE id=?", protocol_id)

    # ---- cycles --------------------------------------------------------------------------

    def insert_cycle(
        self, process_id: int, sequence: int, version: str, start: datetime, end: datetime | None
    ) -> int:
        return self._insert(
            'INSERT INTO cycle (process_id, sequence, version, start, "end") VALUES (?, ?, ?, ?, ?)',
            process_id,
            sequence,
            version,
            format_time(start),
            None if end is None else format_time(end),
        )

    def current_cycle(self, process_id: int) -> Cycle | None:
        """The newest non-completed cycle of the process (at most one exists)."""
        return _cycle(
            self._one(
                "SELECT * FROM cycle WHERE process_id=? AND is_completed=0 ORDER BY id DESC LIMIT 1",
                process_id,
            )
        )

    def last_cycle(self, process_id: int) -> Cycle | None:
        return _cycle(
            self._one("SELECT * FROM cycle WHERE process_id=? ORDER BY id DESC LIMIT 1", process_id)
        )

    def cycle(self, cycle_id: int) -> Cycle | None:
        return _cycle(self._one("SELECT * FROM cycle WHERE id=?", cycle_id))

    def complete_cycle(self, cycle_id: int, checkpoint_number: int | None) -> None:
        self.conn.execute(
            "UPDATE cycle SET is_completed=1, checkpoint_number=? WHERE id=?",
            (checkpoint_number, cycle_id),
        )

    def checkpoint_cycles(self, process_id: int) -> int:
        """Number of completed cycles that produced a checkpoint."""
        row = self._one(
            "SELECT COUNT(*) AS n FROM cycle WHERE process_id=? AND is_completed=1 "
            "AND checkpoint_number IS NOT NULL",
            process_id,
        )
        assert row is not None
        return int(row["n"])

    def expired_open_cycles(self, now: datetime) -> list[int]:
        """Process ids whose current cycle has an ``end`` at or before ``now``."""
        rows = self.conn.execute(
            'SELECT DISTINCT process_id FROM cycle WHERE is_completed=0 AND "end" IS NOT NULL '
            'AND "end" <= ?',
            (format_time(now),),
        )
        return [r["process_id"] for r in rows]

    # ---- workers and assignments ---------------------------------------------------------

    def insert_worker(self, worker_id: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO worker (id, created_at) VALUES (?, ?)", (worker_id, format_time(now))
        )

    def worker_exists(self, worker_id: object) -> bool:
        if not isinstance(worker_id, str):
            return False
        return self._one("SELECT 1 FROM worker WHERE id=?", worker_id) is not None

    def update_worker_speeds(
        self, worker_id: str, ping: float | None, download: float | None, upload: float | None
    ) -> None:
        self.conn.execute(
            "UPDATE worker SET ping=?, avg_download=?, avg_upload=? WHERE id=?",
            (ping, download, upload, worker_id),
        )

    def insert_assignment(
        self, cycle_id: int, worker_id: str, request_key: str, now: datetime
    ) -> None:
        self._insert(
            "INSERT INTO worker_cycle (cycle_id, worker_id, request_key, assigned_at) "
            "VALUES (?, ?, ?, ?)",
            cycle_id,
            worker_id,
            request_key,
            format_time(now),
        )

    def assignment(self, cycle_id: int, worker_id: str) -> sqlite3.Row | None:
        return self._one(
            "SELECT * FROM worker_cycle WHERE cycle_id=? AND worker_id=? ORDER BY id DESC LIMIT 1",
            cycle_id,
            worker_id,
        )

    def assignment_by_key(self, worker_id: str, request_key: str) -> sqlite3.Row | None:
        return self._one(
            "SELECT * FROM worker_cycle WHERE worker_id=? AND request_key=?", worker_id, request_key
        )

    def last_sequence_of_worker(self, process_id: int, worker_id: str) -> int | None:
        row = self._one(
            "SELECT MAX(c.sequence) AS s FROM worker_cycle wc JOIN cycle c ON c.id = wc.cycle_id "
            "WHERE c.process_id=? AND wc.worker_id=?",
            process_id,
            worker_id,
        )
        return None if row is None or row["s"] is None else int(row["s"])

    def count_assigned(self, cycle_id: int) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM worker_cycle WHERE cycle_id=?", cycle_id)
        assert row is not None
        return int(row["n"])

    def count_received(self, cycle_id: int) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM worker_cycle WHERE cycle_id=? AND is_completed=1", cycle_id
        )
        assert row is not None
        return int(row["n"])

    def store_report(self, assignment_id: int, diff: bytes, now: datetime) -> None:
        self.conn.execute(
            "UPDATE worker_cycle SET diff=?, is_completed=1, completed_at=? WHERE id=?",
            (diff, format_time(now), assignment_id),
        )

    def received_diffs(self, cycle_id: int) -> list[bytes]:
        """Diffs of the cycle's completed assignments, in completion order."""
        rows = self.conn.execute(
            "SELECT diff FROM worker_cycle WHERE cycle_id=? AND is_completed=1 "
            "ORDER BY completed_at, id",
            (cycle_id,),
        )
        return [bytes(r["diff"]) for r in rows]


def cycle_end(start: datetime, cycle_length: float | None) -> datetime | None:
    """``start + cycle_length`` seconds, or ``None`` for cycles without an end."""
    return None if cycle_length is None else start + timedelta(seconds=float(cycle_length))
