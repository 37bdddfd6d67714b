"""Terminal output shared by the commands: colour, status marks, JSON, a progress bar.

Colour and the progress bar appear only when the stream is a terminal, and colour never
when ``NO_COLOR`` is set to a non-empty value (https://no-color.org) or ``TERM=dumb``.
Nothing here imports more than the standard library.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Literal, TextIO

Status = Literal["pass", "warn", "fail", "skip"]

_CODES = {"green": "32", "yellow": "33", "red": "31", "dim": "2", "bold": "1"}
_STATUS_STYLE: dict[Status, tuple[str, str]] = {
    "pass": ("ok", "green"),
    "warn": ("warn", "yellow"),
    "fail": ("FAIL", "red"),
    "skip": ("skip", "dim"),
}
# Words in a health body that get a colour.
_WORD_COLOUR = {
    "healthy": "green",
    "closed": "green",
    "degraded": "yellow",
    "half_open": "yellow",
    "unhealthy": "red",
    "open": "red",
    "forced_open": "red",
}


def colour_enabled(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is a terminal and neither NO_COLOR nor TERM=dumb says otherwise."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", ""):
        return False
    if env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Console:
    """Writes lines to ``out`` (errors to ``err``), styling them only when colour is enabled."""

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, colour: bool | None = None
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.colour = colour_enabled(self.out) if colour is None else colour

    def style(self, text: str, colour: str) -> str:
        if not self.colour or colour not in _CODES:
            return text
        return f"\x1b[{_CODES[colour]}m{text}\x1b[0m"

    def word(self, text: str, width: int = 0) -> str:
        """``text`` padded to ``width``, coloured by meaning (healthy green, unhealthy red, ...)."""
        colour = _WORD_COLOUR.get(text)
        padded = text.ljust(width)
        return self.style(text, colour) + padded[len(text) :] if colour else padded

    def mark(self, status: Status) -> str:
        """A fixed-width status mark: ``ok  ``, ``warn``, ``FAIL``, ``skip``."""
        label, colour = _STATUS_STYLE[status]
        return self.style(label.ljust(4), colour)

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def error(self, text: str) -> None:
        """``onex-infra: <text>`` on the error stream."""
        print(f"onex-infra: {text}", file=self.err)

    def json(self, document: object) -> None:
        print(json.dumps(document, indent=2, default=str), file=self.out)


def quiet_library_logs() -> None:
    """Keep the libraries' log records off the terminal: a command reports failures itself.

    Without a handler, Python prints WARNING records to stderr (``logging.lastResort``);
    a ``NullHandler`` on these loggers swallows them instead.
    """
    for name in ("omnibase_infra", "aiokafka", "asyncio"):
        logging.getLogger(name).addHandler(logging.NullHandler())


class Progress:
    """A one-line progress bar on a terminal; nothing otherwise (the caller prints the totals).

    ``advance`` redraws at most once per whole percent so a long replay does not flood
    the terminal; ``close`` ends the line.
    """

    def __init__(self, total: int, label: str, stream: TextIO | None = None, *, width: int = 30) -> None:
        self._stream = stream if stream is not None else sys.stderr
        isatty = getattr(self._stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) and total > 0
        self._total = total
        self._label = label
        self._width = width
        self._done = 0
        self._drawn = -1

    def advance(self, count: int = 1) -> None:
        self._done += count
        if not self.enabled:
            return
        percent = self._done * 100 // self._total
        if percent != self._drawn or self._done == self._total:
            self._drawn = percent
            filled = self._width * self._done // self._total
            bar = "#" * filled + "." * (self._width - filled)
            self._stream.write(f"\r{self._label} [{bar}] {self._done}/{self._total}")
            self._stream.flush()

    def close(self) -> None:
        if self.enabled and self._drawn >= 0:
            self._stream.write("\n")
            self._stream.flush()


__all__ = ["Console", "Progress", "Status", "colour_enabled", "quiet_library_logs"]
