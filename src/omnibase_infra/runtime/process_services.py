"""The process's components behind the original guide's entry points (``get_connection_manager()``...).

There is one composition root (``service_components.host_components``: the hosted nodes
plus metrics, audit and the health monitor) and one set of components per process.
``InfraService`` installs the set it runs, so inside the service the guide's ``get_*``
functions return exactly the instances the service uses. In any other process (a script, a
pre-deployment check) the first call builds the set as ``onex-infra run`` would
(``load_settings()`` from the environment, the shipped contracts plus
``ONEX_CONTRACTS_PATH``), without starting anything: the caller starts what it uses
(``await get_connection_manager().initialize()``).

The entry points themselves live where the guide imports them from
(``infrastructure.postgres_connection_manager.get_connection_manager``...) and delegate
here; this module is the only one they import, when called.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omnibase_infra.observability.audit import AuditLogger
    from omnibase_infra.observability.tracing_manager import TracingManager
    from omnibase_infra.runtime.service_components import ServiceComponents


class _ProcessServices:
    """The process's component set and tracing; the lock lives with the state it guards."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.components: ServiceComponents | None = None
        self.tracing: TracingManager | None = None


_PROCESS = _ProcessServices()


def install_components(components: ServiceComponents) -> None:
    """Make ``components`` the process's set (what ``InfraService`` does when it is built)."""
    with _PROCESS.lock:
        _PROCESS.components = components


def process_components() -> ServiceComponents:
    """The installed set, else one built from the environment and the contracts (no I/O).

    Raises ``ConfigurationError`` for a bad variable and ``ContractError`` for a bad contract,
    as ``onex-infra run`` would.
    """
    with _PROCESS.lock:
        if _PROCESS.components is None:
            _PROCESS.components = _build_from_environment()
        return _PROCESS.components


def _build_from_environment() -> ServiceComponents:
    from omnibase_infra.contract_validation.loader import load_contract_set
    from omnibase_infra.observability.redaction import register_settings_secrets
    from omnibase_infra.runtime.service_components import host_components
    from omnibase_infra.settings import load_settings

    settings = load_settings()
    register_settings_secrets(settings)
    contracts = load_contract_set(list(settings.extra_contract_paths))
    # Hosting the nodes is async (core's container) but does no I/O: run it on a loop of its
    # own, in a worker thread, so that this works from sync code and inside a running loop.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="onex-host") as worker:
        return worker.submit(asyncio.run, host_components(settings, contracts)).result()


def process_tracing() -> TracingManager:
    """The process's tracing: configured once from the components' settings, installed globally.

    Spans are exported as the ``OTEL_*`` variables say and counted in the components' metrics.
    """
    components = process_components()
    with _PROCESS.lock:
        if _PROCESS.tracing is None:
            from omnibase_infra.observability.tracing import TracingConfiguration, configure_tracing
            from omnibase_infra.observability.tracing_manager import TracingManager

            provider = configure_tracing(
                TracingConfiguration.from_settings(components.settings),
                metrics=components.metrics,
                set_global=True,
            )
            _PROCESS.tracing = TracingManager(provider)
        return _PROCESS.tracing


def shutdown_tracing() -> None:
    """Flush and stop the process's tracing, if configured; the next ``process_tracing()`` starts anew."""
    with _PROCESS.lock:
        tracing, _PROCESS.tracing = _PROCESS.tracing, None
    if tracing is not None:
        tracing.shutdown()


def get_audit_logger() -> AuditLogger:
    """The process's audit logger (``log_event``), writing to ``onex_audit`` through its sink.

    The sink persists in the background once started (``await components.audit_sink.start()``;
    the service starts it).
    """
    return process_components().audit


def reset_process_services() -> None:
    """Forget the process's components and stop its tracing (for tests and embedding code)."""
    shutdown_tracing()
    with _PROCESS.lock:
        _PROCESS.components = None


__all__ = [
    "get_audit_logger",
    "install_components",
    "process_components",
    "process_tracing",
    "reset_process_services",
    "shutdown_tracing",
]
