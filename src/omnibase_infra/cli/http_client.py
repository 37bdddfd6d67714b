"""The small HTTP client of the commands that talk to a running service (``health``, ``breaker``).

Standard library only (``urllib``), so the commands stay cheap to start. An HTTP error
status is a normal ``HttpReply``; only "could not talk to the server at all" raises
``ServiceUnreachable``. ``Fetch`` is the seam tests replace.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_HEALTH_PORT = 8080


class ServiceUnreachable(Exception):
    """No HTTP answer: refused, timed out, bad URL, or not HTTP."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class HttpReply:
    status: int
    text: str

    def json(self) -> object:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


Fetch = Callable[[str, str, Mapping[str, str], float], HttpReply]
"""``fetch(method, url, headers, timeout)``."""


def fetch(method: str, url: str, headers: Mapping[str, str], timeout: float) -> HttpReply:
    """One request; the reply whatever its status; ``ServiceUnreachable`` when there is none."""
    if not url.startswith(("http://", "https://")):
        raise ServiceUnreachable(url, "not an http(s) URL")
    data = b"" if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpReply(int(response.status), response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace") if exc.fp is not None else ""
        return HttpReply(int(exc.code), body)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, OSError) and reason.errno:
            text = os.strerror(reason.errno).lower()
        else:
            text = str(reason)
        raise ServiceUnreachable(url, text) from None
    except TimeoutError:
        raise ServiceUnreachable(url, f"no answer within {timeout:g} s") from None
    except (OSError, ValueError) as exc:
        raise ServiceUnreachable(url, type(exc).__name__) from None


def default_service_url(environ: Mapping[str, str] | None = None) -> str:
    """``http://127.0.0.1:<HEALTH_CHECK_PORT>`` (8080 when unset or not a port)."""
    env = os.environ if environ is None else environ
    raw = env.get("HEALTH_CHECK_PORT", "").strip()
    port = int(raw) if raw.isdigit() and 0 < int(raw) < 65536 else DEFAULT_HEALTH_PORT
    return f"http://127.0.0.1:{port}"


def service_url(args_url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The ``--url`` value without a trailing slash, or the default."""
    return (args_url or default_service_url(environ)).rstrip("/")


__all__ = [
    "DEFAULT_HEALTH_PORT",
    "Fetch",
    "HttpReply",
    "ServiceUnreachable",
    "default_service_url",
    "fetch",
    "service_url",
]
