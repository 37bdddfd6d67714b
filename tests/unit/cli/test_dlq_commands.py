"""DLQ selection, record decoding, replay planning and sending, with a fake sender."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from omnibase_infra.cli.console import Console, Progress
from omnibase_infra.cli.dlq_command import render_list, render_replay
from omnibase_infra.cli.dlq_records import (
    DlqRead,
    DlqRecord,
    SelectionError,
    parse_offsets,
    resolve_dlq_topic,
)
from omnibase_infra.cli.dlq_replay import plan_replay, send_replays
from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.workflow.records import VALUE_DROPPED_HEADER, DeadLetter, SourceRecord

SOURCE = "onex.evt.shop.orders.v1"
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def dead_letter(
    offset: int, *, stage: str = "decode", source: str = SOURCE, partition: int = 0, key: bytes | None = b"k"
) -> DlqRecord:
    """A DLQ record exactly as the service writes it (``DeadLetter.headers``)."""
    original = SourceRecord(
        source, 2, 100 + offset, key, b"v%d" % offset, [("traceparent", b"00-1"), ("x", b"y")]
    )
    letter = DeadLetter(original, stage, "JSONDecodeError", f"bad json {offset}", 3, WHEN)
    return DlqRecord.of(partition, offset, 1_700_000_000_000, key, original.value, letter.headers())


def test_resolve_dlq_topic() -> None:
    assert resolve_dlq_topic(SOURCE) == f"{SOURCE}.dlq"
    assert resolve_dlq_topic(f"{SOURCE}.dlq") == f"{SOURCE}.dlq"


def test_record_context_and_replay_headers() -> None:
    record = dead_letter(1)
    assert record.original_topic == SOURCE
    assert record.original_coordinates == f"{SOURCE}/2@101"
    assert record.stage == "decode"
    assert record.replay_headers() == [("traceparent", b"00-1"), ("x", b"y"), ("onex.dlq.attempts", b"3")]
    assert record.dropped_value_bytes is None
    document = record.as_json()
    assert document["error_class"] == "JSONDecodeError"
    assert document["attempts"] == 3
    assert document["failed_at"] == WHEN.isoformat()
    assert document["headers"] == ["traceparent", "x"]


def test_binary_keys_are_base64_in_json() -> None:
    assert dead_letter(1, key=b"\xff\x00").as_json()["key"] == "base64:/wA="


def test_offset_selection_binds_bare_ranges_to_the_only_partition() -> None:
    selection = parse_offsets("3, 5-9")
    assert selection.bound([0], 0) == {0: [(3, 3), (5, 9)]}
    with pytest.raises(SelectionError, match="need --partition"):
        selection.bound([0, 1, 2], None)
    assert parse_offsets("1:4,2:0-1").bound([0, 1, 2], None) == {1: [(4, 4)], 2: [(0, 1)]}
    with pytest.raises(SelectionError, match="no partition 7"):
        parse_offsets("7:1").bound([0, 1], None)


@pytest.mark.parametrize("text", ["", "a", "1-", "-3", "4-2", "1:x", "1:2:3"])
def test_bad_offsets_are_usage_errors(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_offsets(text)


def test_plan_refuses_unknown_origin_and_dlq_targets_and_filters_by_stage() -> None:
    foreign = DlqRecord.of(0, 9, 0, None, b"x", [])
    records = [
        dead_letter(0),
        dead_letter(1, stage="validate"),
        dead_letter(2, source=f"{SOURCE}.dlq"),
        foreign,
    ]
    decisions = plan_replay(records)
    assert [(d.outcome, d.target) for d in decisions] == [
        ("replay", SOURCE),
        ("replay", SOURCE),
        ("refused", f"{SOURCE}.dlq"),
        ("refused", None),
    ]
    assert "refusing to replay onto a DLQ" in decisions[2].reason
    staged = plan_replay(records, stage="validate")
    assert [d.outcome for d in staged] == ["filtered", "replay", "filtered", "filtered"]


class FakeSender:
    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []
        self.fail_at = fail_at

    async def enqueue(
        self, topic: str, value: bytes, key: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.fail_at is not None and len(self.sent) == self.fail_at:
            future.set_exception(RuntimeError("broker said no"))
        else:
            future.set_result((0, len(self.sent)))
        self.sent.append((topic, value, key, list(headers)))
        return future


async def test_send_replays_in_order_with_original_content() -> None:
    sender = FakeSender()
    acks: list[int] = []
    decisions = plan_replay([dead_letter(i) for i in range(3)])
    result = await send_replays(decisions, sender, timeout_seconds=1, on_ack=lambda: acks.append(1))
    assert (result.replayed, result.failed, result.not_attempted) == (3, 0, 0)
    assert [value for _, value, _, _ in sender.sent] == [b"v0", b"v1", b"v2"]
    topic, _, key, headers = sender.sent[0]
    assert (topic, key, headers) == (
        SOURCE,
        b"k",
        [("traceparent", b"00-1"), ("x", b"y"), ("onex.dlq.attempts", b"3")],
    )
    assert len(acks) == 3


def dropped(offset: int, size: int) -> DlqRecord:
    """A DLQ record whose value the writer dropped (the copy was too large), as it writes it."""
    original = SourceRecord(SOURCE, 2, 100 + offset, b"k", b"x" * size, [])
    letter = DeadLetter(original, "decode", "UnicodeDecodeError", "not UTF-8", 1, WHEN)
    headers = [*letter.headers(), (VALUE_DROPPED_HEADER, str(size).encode())]
    return DlqRecord.of(0, offset, 0, b"k", b"", headers)


async def test_records_whose_value_was_dropped_are_refused_with_their_coordinates_and_the_rest_replayed() -> (
    None
):
    decisions = plan_replay([dead_letter(0), dropped(1, 2_000_000), dead_letter(2)])

    assert [d.outcome for d in decisions] == ["replay", "refused", "replay"]
    refused = decisions[1]
    assert refused.record.dropped_value_bytes == 2_000_000
    assert f"{SOURCE}/2@101" in refused.reason
    assert "2000000 bytes" in refused.reason and "dropped" in refused.reason
    assert refused.record.as_json()["value_dropped_bytes"] == 2_000_000
    sender = FakeSender()
    result = await send_replays(decisions, sender, timeout_seconds=1)
    assert (result.replayed, result.failed, result.not_attempted) == (2, 0, 0)
    assert [value for _, value, _, _ in sender.sent] == [b"v0", b"v2"]
    out = io.StringIO()
    render_replay(Console(out, err=io.StringIO(), colour=False), f"{SOURCE}.dlq", decisions, result, [])
    assert "FAIL  refused 0:1: its value (2000000 bytes) was dropped" in out.getvalue()
    assert "replayed 2, skipped 1 (0 filtered by --stage, 1 refused)" in out.getvalue()


async def test_a_replayed_record_that_fails_again_counts_its_attempts_on() -> None:
    sender = FakeSender()
    await send_replays(plan_replay([dead_letter(0)]), sender, timeout_seconds=1)
    topic, value, key, headers = sender.sent[0]
    error = PoisonRecordError("decode", "JSONDecodeError", "bad json")

    again = DeadLetter.from_error(SourceRecord(topic, 0, 7, key, value, headers), error, WHEN)

    assert again.attempts == 4  # 3 before the replay, 1 now
    context = DlqRecord.of(0, 0, 0, key, value, again.headers()).as_json()
    assert (context["attempts"], context["original_offset"]) == (4, 7)


async def test_send_replays_stops_after_a_failure() -> None:
    sender = FakeSender(fail_at=1)
    decisions = plan_replay([dead_letter(i) for i in range(5)])
    result = await send_replays(decisions, sender, timeout_seconds=1)
    assert result.failed == 1 and result.failed_at is not None and result.failed_at.offset == 1
    assert "broker said no" in result.first_error
    assert (result.replayed, result.not_attempted) == (1, 3)
    assert [value for _, value, _, _ in sender.sent] == [b"v0", b"v1"]


def test_render_list_table() -> None:
    out = io.StringIO()
    read = DlqRead(f"{SOURCE}.dlq", [0], [dead_letter(0), dead_letter(1, stage="validate")], 5)
    render_list(Console(out, colour=False), read)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"{SOURCE}.dlq: 5 record(s) in 1 partition, showing 2"
    assert lines[1].split() == ["PART", "OFFSET", "ORIGINAL", "STAGE", "FAILED_AT", "ERROR"]
    assert lines[2].split()[:5] == ["0", "0", f"{SOURCE}/2@100", "decode", WHEN.isoformat()]
    assert lines[2].endswith("JSONDecodeError: bad json 0")
    assert lines[-1] == "... 3 more (--limit to show more)"


def test_render_replay_dry_run_and_summary() -> None:
    decisions = plan_replay([dead_letter(0), dead_letter(1, source=f"{SOURCE}.dlq")])
    out = io.StringIO()
    render_replay(Console(out, err=io.StringIO(), colour=False), f"{SOURCE}.dlq", decisions, None, ["0:7"])
    assert out.getvalue().splitlines() == [
        f"would replay 0:0 -> {SOURCE} (2 bytes)",
        f"FAIL  refused 0:1: original topic {SOURCE}.dlq is a DLQ topic: refusing to replay onto a DLQ",
        f"FAIL  no record at 0:7 in {SOURCE}.dlq",
        f"dry run: would replay 1, skipped 1 (0 filtered by --stage, 1 refused) from {SOURCE}.dlq",
    ]


def test_progress_draws_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain, tty = io.StringIO(), Tty()
    for stream in (plain, tty):
        progress = Progress(4, "replaying", stream, width=4)
        for _ in range(4):
            progress.advance()
        progress.close()
    assert plain.getvalue() == ""
    assert tty.getvalue().endswith("\rreplaying [####] 4/4\n")
