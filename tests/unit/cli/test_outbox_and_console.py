"""``outbox status`` rendering, colour rules, and the demo producer's pure parts."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

import pytest

from omnibase_infra.cli.console import Console, colour_enabled
from omnibase_infra.cli.outbox_command import DeadLetterRow, OutboxStatus, age, render
from omnibase_infra.demo.producer import describe_reply, next_command, sample_events


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    assert colour_enabled(Tty(), {}) is True
    assert colour_enabled(io.StringIO(), {}) is False
    assert colour_enabled(Tty(), {"NO_COLOR": "1"}) is False
    assert colour_enabled(Tty(), {"NO_COLOR": ""}) is True  # no-color.org: only a non-empty value counts
    assert colour_enabled(Tty(), {"TERM": "dumb"}) is False


def test_console_word_pads_before_colouring() -> None:
    assert Console(io.StringIO(), colour=False).word("open", 6) == "open  "
    assert Console(io.StringIO(), colour=True).word("open", 6) == "\x1b[31mopen\x1b[0m  "


@pytest.mark.parametrize(
    ("seconds", "text"), [(12.34, "12.3s"), (252, "4m 12s"), (7500, "2h 5m"), (3 * 86400 + 4 * 3600, "3d 4h")]
)
def test_age(seconds: float, text: str) -> None:
    assert age(seconds) == text


def test_render_outbox_status_with_dead_letters() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    status = OutboxStatus(
        "public",
        {"pending": 2, "published": 40, "dead_letter": 1},
        252.0,
        [DeadLetterRow(17, "onex.evt.a.b.v1", 5, "MessageSizeTooLargeError", created)],
    )
    out = io.StringIO()
    render(Console(out, colour=False), status)
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        "outbox in schema 'public'",
        "  pending             2   oldest 4m 12s old",
        "  published          40",
        "  dead_letter         1",
    ]
    assert "  id 17  onex.evt.a.b.v1  attempts 5  since 2026-01-02T03:04:05+00:00" in lines
    assert "      last_error: MessageSizeTooLargeError" in lines
    assert "2 pending rows wait behind a dead_letter row of their key" not in lines
    assert lines[-1] == "fix the cause, then: onex-infra outbox requeue ID [ID...]"
    document = status.as_json()
    assert document["counts"] == {"pending": 2, "published": 40, "dead_letter": 1}
    assert json.dumps(document)  # serialisable


def test_render_counts_the_rows_held_behind_a_dead_letter_row() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    status = OutboxStatus(
        "public",
        {"pending": 2, "dead_letter": 1},
        1.0,
        [DeadLetterRow(17, "onex.evt.a.b.v1", 1, "outbox: MalformedHeaders: ...", created)],
        held_behind_dead_letter=2,
    )
    out = io.StringIO()
    render(Console(out, colour=False), status)
    assert "2 pending rows wait behind a dead_letter row of their key" in out.getvalue().splitlines()
    assert status.as_json()["held_behind_dead_letter"] == 2


def test_demo_orders_share_a_correlation_id() -> None:
    events = sample_events()
    first = [next(events) for _ in range(3)]
    assert [e.event_type for _, e in first] == ["demo.order.created", "demo.order.paid", "demo.order.shipped"]
    assert len({e.correlation_id for _, e in first}) == 1
    assert {key for key, _ in first} == {"order-00001"}
    assert next(events)[1].correlation_id != first[0][1].correlation_id


def test_demo_command_cycle_uses_exposed_operations() -> None:
    correlation = uuid.uuid4()
    operations = [next_command(turn, "onex.evt.a.b.v1", correlation)[0] for turn in range(4)]
    assert operations == [
        "count_events_by_type",
        "list_events_by_correlation",
        "enqueue_outbox_event",
        "count_outbox_by_status",
    ]
    _, parameters = next_command(2, "onex.evt.a.b.v1", correlation)
    assert parameters["topic"] == "onex.evt.a.b.v1"
    assert json.loads(str(parameters["payload"]))["event_type"] == "demo.outbox.note"


def test_demo_reply_lines() -> None:
    counts = {
        "operation": "count_events_by_type",
        "status": "completed",
        "rows": [{"event_type": "demo.order.paid", "events": 3}],
    }
    assert describe_reply(counts) == "count_events_by_type: demo.order.paid=3"
    failed = {"operation": "x", "status": "failed", "error": {"kind": "unknown_operation", "message": "no"}}
    assert describe_reply(failed) == "x: FAILED unknown_operation: no"
