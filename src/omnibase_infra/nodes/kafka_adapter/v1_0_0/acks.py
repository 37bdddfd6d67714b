"""Waiting for a group of sends: every one settles before the first failure is raised.

No send is left running behind a raised error (a batch is rewound only once all of its
sends have finished, acknowledged or not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence


async def settle[R](tasks: Sequence[Awaitable[R]]) -> list[R]:
    """Wait for every task; then raise the first failure, if any; else their results."""
    if not tasks:
        return []
    results = await asyncio.gather(*tasks, return_exceptions=True)
    settled: list[R] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        settled.append(result)
    return settled


__all__ = ["settle"]
