"""What a scenario reports: counts, checks and the recovery time of every fault."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FaultTiming:
    """One injected fault: when it started and ended (wall clock) and how fast work resumed.

    ``first_row_s``: from the fault's end to the first event-store row written after it;
    ``stall_s``: the longest time without any event-store write between the fault's start
    and the first row written after its end;
    ``caught_up_s``: from the fault's end until every envelope acknowledged by the broker
    before the end was in the event store; ``ready_s``: until ``/ready`` answered 200 again
    (service restarts only).
    """

    kind: str
    started_at: float
    ended_at: float
    first_row_s: float | None = None
    stall_s: float | None = None
    caught_up_s: float | None = None
    ready_s: float | None = None
    detail: str = ""

    @property
    def duration_s(self) -> float:
        return self.ended_at - self.started_at


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ScenarioResult:
    name: str
    title: str
    events: int = 0
    faults: list[FaultTiming] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    misplaced: int = 0
    phantom: int = 0
    broker_lost: int = 0
    log_duplicates: int = 0
    resends: int = 0
    drain_s: float | None = None
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    @property
    def passed(self) -> bool:
        counts_clean = not (
            self.lost or self.duplicated or self.misplaced or self.phantom or self.broker_lost
        )
        return self.error is None and counts_clean and all(c.ok for c in self.checks)

    def recovery(self, attribute: str) -> tuple[float, float] | None:
        """(median, max) of ``attribute`` over the faults that have it."""
        values = [getattr(f, attribute) for f in self.faults if getattr(f, attribute) is not None]
        if not values:
            return None
        return statistics.median(values), max(values)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        for fault, raw in zip(self.faults, data["faults"], strict=True):
            raw["duration_s"] = fault.duration_s
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioResult:
        """The inverse of ``to_json``: the committed report renders the same tables again."""
        fields = {k: v for k, v in data.items() if k != "passed"}
        fields["faults"] = [
            FaultTiming(**{k: v for k, v in raw.items() if k != "duration_s"}) for raw in data["faults"]
        ]
        fields["checks"] = [Check(**raw) for raw in data["checks"]]
        return cls(**fields)


__all__ = ["Check", "FaultTiming", "ScenarioResult"]
