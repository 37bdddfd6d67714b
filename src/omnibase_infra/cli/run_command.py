"""``onex-infra run``: validate the environment and contracts, then run the service until SIGTERM.

The contracts run with the configuration overlay (``--config FILE`` or ``ONEX_CONFIG_FILE``)
and the contract-value variables applied (``contract_validation.effective_config``).

Exit codes: 0 after SIGTERM or SIGINT; 1 when one of the service's tasks crashed
(the log names it) or a server stayed unreachable for ``ONEX_STARTUP_TIMEOUT``;
3 for a configuration error (a variable, a contract, the schema version).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from omnibase_infra.errors import ConfigurationError, ContractError, InfraError
from omnibase_infra.runtime.service_tasks import EXIT_CONFIGURATION_ERROR, EXIT_FAILED


def run_service(args: argparse.Namespace) -> int:
    from omnibase_infra.runtime import startup_gc

    # The imports and builds below make long-lived objects only: no collector passes over
    # them until the service has started (it freezes them and restores the thresholds).
    startup_gc.relax()
    try:
        return _validate_and_run(args)
    finally:
        startup_gc.restore()  # a refusal, or the service's return: the thresholds as they were


def _validate_and_run(args: argparse.Namespace) -> int:
    from omnibase_infra.contract_validation.effective_config import resolve_configuration
    from omnibase_infra.contract_validation.loader import load_contract_set
    from omnibase_infra.environment import resolve_environment
    from omnibase_infra.observability.logging import configure_logging
    from omnibase_infra.observability.redaction import register_settings_secrets
    from omnibase_infra.settings import load_settings, load_tuning_variables

    try:
        settings = load_settings()
        register_settings_secrets(settings)
        configure_logging(settings.log_level)
        for warning in resolve_environment().warnings:
            logging.getLogger("omnibase_infra.runtime").warning("%s", warning)
        tuning = load_tuning_variables()
        contracts = resolve_configuration(
            load_contract_set([*settings.extra_contract_paths, *args.contracts]),
            settings.environment,
            overlay_file=args.config or tuning.config_file,
            variables=tuning.values,
        ).contracts
    except (ConfigurationError, ContractError) as exc:
        print(f"onex-infra: refusing to start: {exc}", file=sys.stderr)
        return EXIT_CONFIGURATION_ERROR

    from omnibase_infra.runtime.service import InfraService

    try:
        return asyncio.run(InfraService(settings, contracts).run())
    except ConfigurationError as exc:
        logging.getLogger("omnibase_infra.runtime").error("refusing to start: %s", exc)
        return EXIT_CONFIGURATION_ERROR
    except InfraError as exc:
        logging.getLogger("omnibase_infra.runtime").error("service failed: %s", exc)
        return EXIT_FAILED
