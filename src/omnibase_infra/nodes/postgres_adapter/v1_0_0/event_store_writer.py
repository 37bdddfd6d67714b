"""Envelopes into ``onex_event_store`` in one bulk statement (``write_events``).

The ``store`` step of the ``event_store`` workflow (postgres_adapter's ``store_event_batch``)
writes each batch with it, as does the node's typed event-store write request (``execute``).

Guarantees:
- one transaction per batch; the workflow commits Kafka offsets (its last step) only
  after it returns;
- idempotent: keyed by ``envelope_id`` with ``ON CONFLICT DO NOTHING``, so a
  redelivered batch adds nothing (exactly-once effect);
- bulk, never a row-at-a-time loop. A batch of ``COPY_THRESHOLD`` rows or more is
  COPied straight into ``onex_event_store``: one statement, the cheapest write
  PostgreSQL has. The rows go as COPY text built in one pass (``copy_text``): the
  decoder keeps the wire's own text for ids, timestamps and payloads
  (``StoredFields``), so nothing is converted per value (asyncpg's binary COPY
  encoded each value of each row in turn, several times the client CPU). The
  primary key refuses a row that is already stored (a redelivery), which fails
  the whole COPY (SQLSTATE 23505) and adds nothing; the batch is then COPied
  into a per-session temporary staging table and moved with one
  ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. A caller that expects
  duplicates (its previous batch had some: it is replaying) passes
  ``expect_duplicates`` and goes to the staging path at once. A smaller batch
  is one ``INSERT ... SELECT FROM unnest(...)`` statement, a single round trip
  (docs/performance.md has the measurements). Only when PostgreSQL rejects
  the batch for a data or constraint error (SQLSTATE class 22/23) are rows
  retried one by one, each in a savepoint, to isolate the poison rows, which are
  returned for the DLQ;
- outage errors propagate unchanged, for the breaker to count.

A large batch may be split (``split_for_connections``) over up to the pool's
``write_connections``, each part written by ``write_events`` in its own transaction on
its own connection, concurrently (``merge_results`` adds their results up). The rows are
keyed and the caller commits offsets only after every part returned, so a part that
committed before another part failed is only a set of duplicates when the batch is
written again. Each part is at least ``ROWS_PER_WRITE_CONNECTION`` rows, so a small
(latency) batch stays one statement on one connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.workflow.dlq_stages import STAGE_STORE
from omnibase_infra.workflow.records import StoredEvent, WriteResult

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from omnibase_infra.workflow.protocols import DbConnection

TABLE = "onex_event_store"
UNIQUE_VIOLATION = "23505"

# The timestamps are RFC 3339 text with an offset (``StoredFields``): the cast reads them
# exactly as COPY does.
INSERT_SQL = """
INSERT INTO onex_event_store
    (envelope_id, topic, "partition", "offset", event_type, correlation_id,
     envelope_timestamp, payload, metadata)
SELECT envelope_id, topic, "partition", "offset", event_type, correlation_id,
       envelope_timestamp::timestamptz, payload, metadata
FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[], $5::text[],
            $6::uuid[], $7::text[], $8::jsonb[], $9::jsonb[])
    AS t(envelope_id, topic, "partition", "offset", event_type, correlation_id,
         envelope_timestamp, payload, metadata)
ON CONFLICT (envelope_id) DO NOTHING
"""

COLUMNS = (
    "envelope_id",
    "topic",
    "partition",
    "offset",
    "event_type",
    "correlation_id",
    "envelope_timestamp",
    "payload",
    "metadata",
)
# From this many rows on, a batch goes through COPY (five round trips, less CPU per row);
# below it, through one ``INSERT ... SELECT FROM unnest(...)`` statement (one round trip).
COPY_THRESHOLD = 100
STAGE_TABLE = "onex_event_store_stage"
# Temporary (one per session, invisible to others, never WAL-logged), emptied at each commit.
CREATE_STAGE_SQL = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE_TABLE} (
    envelope_id uuid, topic text, "partition" integer, "offset" bigint, event_type text,
    correlation_id uuid, envelope_timestamp timestamptz, payload jsonb, metadata jsonb
) ON COMMIT DELETE ROWS
"""
_QUOTED = ", ".join(f'"{c}"' for c in COLUMNS)
MOVE_STAGE_SQL = f"""
INSERT INTO onex_event_store ({_QUOTED})
SELECT {_QUOTED} FROM pg_temp.{STAGE_TABLE}
ON CONFLICT (envelope_id) DO NOTHING
"""


def _columns(rows: list[StoredEvent]) -> tuple[list[object], ...]:
    return (
        [r.envelope_id for r in rows],
        [r.topic for r in rows],
        [r.partition for r in rows],
        [r.offset for r in rows],
        [r.event_type for r in rows],
        [r.correlation_id for r in rows],
        [r.envelope_timestamp for r in rows],
        [r.payload_json for r in rows],
        [r.metadata_json for r in rows],
    )


_NULL = "\\N"


def copy_text(rows: Sequence[StoredEvent]) -> bytes:
    """``rows`` in COPY's text format, in one pass: tab-separated ``COLUMNS``, ``\\N`` for NULL.

    A value holding a backslash, tab, newline or carriage return must be escaped; the rows
    are first joined as they are, and only when the counts show such a character somewhere
    is each row built again with every value escaped.
    """
    text = "".join(
        [
            f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{_NULL if r[4] is None else r[4]}"
            f"\t{_NULL if r[5] is None else r[5]}\t{r[6]}\t{r[7]}\t{r[8]}\n"
            for r in rows
        ]
    )
    count = len(rows)
    nulls = [r[4] for r in rows].count(None) + [r[5] for r in rows].count(None)
    if (
        text.count("\t") == 8 * count
        and text.count("\n") == count
        and text.count("\\") == nulls  # the NULL markers' own, no other
        and text.find("\r") < 0
    ):
        return text.encode("utf-8")
    return "".join([_escaped_line(row) for row in rows]).encode("utf-8")


COPY_MESSAGE_BYTES = 1 << 20
"""Bytes per CopyData message: PostgreSQL refuses a single message over 1 GB."""


async def _once(data: bytes) -> AsyncIterator[bytes]:
    """``data`` as COPY's source (asyncpg would take bare bytes for a file name), in
    messages of ``COPY_MESSAGE_BYTES`` at most (a production batch is one message)."""
    if len(data) <= COPY_MESSAGE_BYTES:
        yield data
        return
    for start in range(0, len(data), COPY_MESSAGE_BYTES):
        yield data[start : start + COPY_MESSAGE_BYTES]


def _escaped_line(row: StoredEvent) -> str:
    return "\t".join([_escaped(value) for value in row[:9]]) + "\n"


def _escaped(value: object) -> str:
    if value is None:
        return _NULL
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


ROWS_PER_WRITE_CONNECTION = 1000
"""The fewest rows a part of a split batch holds (docs/performance.md has the measurements)."""


def split_for_connections(rows: list[StoredEvent], connections: int) -> list[list[StoredEvent]]:
    """``rows`` in at most ``connections`` contiguous parts of nearly equal size, each of at
    least ``ROWS_PER_WRITE_CONNECTION`` rows; one part (``rows`` itself) when too few."""
    parts = max(1, min(connections, len(rows) // ROWS_PER_WRITE_CONNECTION))
    if parts == 1:
        return [rows]
    size, longer = divmod(len(rows), parts)  # the first ``longer`` parts take one row more
    bounds = [i * size + min(i, longer) for i in range(parts + 1)]
    return [rows[bounds[i] : bounds[i + 1]] for i in range(parts)]


def merge_results(results: Sequence[WriteResult]) -> WriteResult:
    """The parts' results of one split batch, added up (rejected rows in part order)."""
    if len(results) == 1:
        return results[0]
    return WriteResult(
        sum(r.inserted for r in results),
        sum(r.duplicates for r in results),
        tuple(rejected for r in results for rejected in r.rejected),
    )


def _inserted_count(status: str) -> int:
    # asyncpg returns the command tag, e.g. "INSERT 0 42".
    return int(status.rsplit(" ", 1)[-1])


def poison_from_database_error(exc: BaseException) -> PoisonRecordError | None:
    """A ``PoisonRecordError`` for SQLSTATE class 22 (data) or 23 (constraint), else ``None``."""
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in ("22", "23"):
        detail = f"{type(exc).__name__}: {exc}"[:300]
        return PoisonRecordError(STAGE_STORE, f"SQLSTATE {sqlstate}", detail)
    return None


async def write_events(
    conn: DbConnection, rows: list[StoredEvent], *, expect_duplicates: bool = False
) -> WriteResult:
    """Write ``rows`` in one transaction; see the module docstring for the guarantees.

    ``expect_duplicates`` skips the direct COPY (which a single stored row would fail):
    pass it while replaying, i.e. when the previous ``WriteResult`` had ``duplicates``.
    """
    if not rows:
        return WriteResult(0, 0, ())
    try:
        if len(rows) < COPY_THRESHOLD:
            # One statement is one transaction: a single round trip (what latency needs).
            status = await conn.execute(INSERT_SQL, *_columns(rows))
        else:
            data = copy_text(rows)
            if not expect_duplicates and await _copy_unless_stored(conn, data):
                return WriteResult(len(rows), 0, ())
            async with conn.transaction():
                await conn.execute(CREATE_STAGE_SQL)
                await conn.copy_to_table(
                    STAGE_TABLE, source=_once(data), columns=COLUMNS, schema_name="pg_temp"
                )
                status = await conn.execute(MOVE_STAGE_SQL)
        inserted = _inserted_count(status)
        return WriteResult(inserted, len(rows) - inserted, ())
    except Exception as exc:
        if poison_from_database_error(exc) is None:
            raise
    return await _write_isolating_poison(conn, rows)


async def _copy_unless_stored(conn: DbConnection, data: bytes) -> bool:
    """COPY ``data`` (``copy_text``) into the table; False (nothing written) when a row is
    already stored."""
    try:
        await conn.copy_to_table(TABLE, source=_once(data), columns=COLUMNS)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == UNIQUE_VIOLATION:
            return False
        raise
    return True


async def _write_isolating_poison(conn: DbConnection, rows: list[StoredEvent]) -> WriteResult:
    inserted = 0
    rejected: list[tuple[StoredEvent, PoisonRecordError]] = []
    async with conn.transaction():
        for row in rows:
            try:
                async with conn.transaction():
                    status = await conn.execute(INSERT_SQL, *_columns([row]))
                inserted += _inserted_count(status)
            except Exception as exc:
                poison = poison_from_database_error(exc)
                if poison is None:
                    raise
                rejected.append((row, poison))
    return WriteResult(inserted, len(rows) - inserted - len(rejected), tuple(rejected))


__all__ = [
    "COLUMNS",
    "ROWS_PER_WRITE_CONNECTION",
    "STAGE_STORE",
    "copy_text",
    "merge_results",
    "poison_from_database_error",
    "split_for_connections",
    "write_events",
]
