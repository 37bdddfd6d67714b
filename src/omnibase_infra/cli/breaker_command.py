"""``onex-infra breaker reset NAME [--url URL] [--json] [--timeout S]``: close a circuit breaker.

POSTs to the running service's ``/admin/breakers/{NAME}/reset`` with
``Authorization: Bearer $ONEX_ADMIN_TOKEN`` (or the content of ``ONEX_ADMIN_TOKEN_FILE``),
the token the service was started with. Exit codes: 0 reset; 1 refused (401 wrong
token, 404 unknown breaker or admin endpoint disabled) or unreachable; 3 no token
configured here. The token is never printed.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from omnibase_infra.cli.console import Console
from omnibase_infra.cli.health_command import read_health
from omnibase_infra.cli.http_client import Fetch, HttpReply, ServiceUnreachable, fetch, service_url

RESET_PATH = "/admin/breakers/{name}/reset"


class TokenMissing(Exception):
    """No usable ONEX_ADMIN_TOKEN / ONEX_ADMIN_TOKEN_FILE."""


def admin_token(environ: Mapping[str, str]) -> str:
    """The token, as the service reads it (``_FILE`` first, trailing newline dropped)."""
    path = environ.get("ONEX_ADMIN_TOKEN_FILE", "").strip()
    if path:
        try:
            token = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise TokenMissing(f"ONEX_ADMIN_TOKEN_FILE: cannot read {path}: {exc.strerror}") from None
        if not token:
            raise TokenMissing(f"ONEX_ADMIN_TOKEN_FILE: {path} is empty")
        return token
    token = environ.get("ONEX_ADMIN_TOKEN", "")
    if not token:
        raise TokenMissing(
            "ONEX_ADMIN_TOKEN is not set: export the admin token the service was started with "
            "(or ONEX_ADMIN_TOKEN_FILE naming a file that holds it)"
        )
    return token


def _error_of(reply: HttpReply) -> str:
    body = reply.json()
    if isinstance(body, Mapping) and isinstance(body.get("error"), str):
        return str(body["error"])
    return ""


def _known_breakers(url: str, timeout: float, fetcher: Fetch) -> list[str]:
    """Breaker names from /health/detailed, best effort (empty when it cannot be read)."""
    try:
        _, _, body = read_health(url, timeout, fetcher)
    except ServiceUnreachable:
        return []
    breakers = body.get("circuit_breaker_metrics") if body is not None else None
    if not isinstance(breakers, list):
        return []
    return [str(b["name"]) for b in breakers if isinstance(b, Mapping) and "name" in b]


def explain(reply: HttpReply, name: str, url: str, known: list[str]) -> str:
    """A one-line explanation of a refused reset."""
    error = _error_of(reply)
    if reply.status == 401:
        return (
            "the service refused the token (HTTP 401): ONEX_ADMIN_TOKEN here differs from the "
            "token the service was started with"
        )
    if reply.status == 404 and error == "unknown breaker":
        names = ", ".join(known) if known else "unknown"
        return f"the service has no breaker named {name!r} (breakers: {names})"
    if reply.status == 404:
        return (
            f"{url} has no admin endpoint (HTTP 404): the service enables "
            "POST /admin/breakers/{name}/reset only when it is started with ONEX_ADMIN_TOKEN set"
        )
    return f"reset failed: HTTP {reply.status}" + (f" ({error})" if error else "")


def run_reset(
    args: argparse.Namespace, fetcher: Fetch = fetch, environ: Mapping[str, str] | None = None
) -> int:
    """POST the reset; see the module docstring for exit codes."""
    console = Console()
    env = os.environ if environ is None else environ
    url = service_url(args.url, env)
    name: str = args.name
    try:
        token = admin_token(env)
    except TokenMissing as exc:
        if args.json:
            console.json({"reset": False, "breaker": name, "error": str(exc)})
        console.error(f"configuration error: {exc}")
        return 3
    endpoint = url + RESET_PATH.format(name=quote(name, safe=""))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        reply = fetcher("POST", endpoint, headers, float(args.timeout))
    except ServiceUnreachable as exc:
        if args.json:
            console.json({"reset": False, "breaker": name, "error": exc.reason, "url": url})
        console.error(f"{exc}; is `onex-infra run` serving HEALTH_CHECK_PORT there? (--url)")
        return 1
    body = reply.json()
    if reply.status == 200 and isinstance(body, Mapping):
        state = body.get("state", "?")
        if args.json:
            console.json({"reset": True, "breaker": name, "state": state})
        else:
            console.line(f"breaker {name!r} reset: now {console.word(str(state))}")
        return 0
    known = _known_breakers(url, float(args.timeout), fetcher) if reply.status == 404 else []
    message = explain(reply, name, url, known)
    if args.json:
        console.json({"reset": False, "breaker": name, "http_status": reply.status, "error": message})
    console.error(message)
    return 1


__all__ = ["RESET_PATH", "TokenMissing", "admin_token", "explain", "run_reset"]
