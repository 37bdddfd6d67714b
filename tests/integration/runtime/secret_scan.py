"""The secret scan: every form of a secret a leak could take, and where each was found.

``needles(secret)`` is the secret, its base64 form and, for a generated secret
(``<prefix>-<random part of 16+ characters>``), each half of its random part, so a
secret cut in two or encoded still counts. ``find_leaks`` reports which secret was
found in which output (by its first characters only).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping


def needles(secret: str) -> list[str]:
    """The secret, its base64 forms, and (for generated secrets) each half of its random part."""
    found = [secret, base64.b64encode(secret.encode()).decode().rstrip("=")]
    random_part = secret.rsplit("-", 1)[-1]
    if len(random_part) >= 16:
        half = len(random_part) // 2
        found += [random_part[:half], random_part[half:]]
    return found


def find_leaks(secrets: Mapping[str, str], outputs: Iterable[tuple[str, str]]) -> list[str]:
    """``"<name> (<first 6 chars>...) in <where>"`` for every needle of every secret in every output."""
    scanned = list(outputs)
    return [
        f"{name} ({needle[:6]}...) in {where}"
        for name, secret in secrets.items()
        for needle in needles(secret)
        for where, text in scanned
        if needle in text
    ]


__all__ = ["find_leaks", "needles"]
