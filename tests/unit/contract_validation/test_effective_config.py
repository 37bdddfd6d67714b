"""The configuration overlay and the contract-value variables: precedence, sources, refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from doc_blocks import DOCS

from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.effective_config import (
    OVERRIDE_VARIABLES,
    ValueSource,
    resolve_configuration,
)
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ConfigurationError, ContractError
from omnibase_infra.runtime.service_components import host_components
from omnibase_infra.settings import load_settings, load_tuning_variables

PRODUCTION = EnumEnvironment.PRODUCTION
OVERLAY = """\
postgres_adapter:
  production:
    postgres_pool.max_connections: 40
    circuit_breaker:
      failure_threshold: 8
  staging:
    postgres_pool.max_connections: 30
message_aggregator:
  production:
    batching.batch_size: 1000
"""
BASE_ENV = {
    "POSTGRES_HOST": "db.example",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex_app",
    "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
}


@pytest.fixture(scope="module")
def contracts() -> ContractSet:
    return load_contract_set(validate_core=False)


def _overlay(tmp_path: Path, text: str = OVERLAY) -> Path:
    path = tmp_path / "overlay.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_overlay_values_replace_the_contract_for_their_environment(
    contracts: ContractSet, tmp_path: Path
) -> None:
    path = _overlay(tmp_path)
    effective = resolve_configuration(contracts, PRODUCTION, overlay_file=path)
    resolved = effective.contracts
    assert resolved.node("postgres_adapter").postgres_pool(PRODUCTION).max_connections == 40
    assert resolved.node("postgres_adapter").circuit_breaker(PRODUCTION).failure_threshold == 8
    assert resolved.node("message_aggregator").batching(PRODUCTION).batch_size == 1000
    # the rest of the section, and the other environments, keep the contract's values
    assert resolved.node("postgres_adapter").postgres_pool(PRODUCTION).min_connections == 10
    assert resolved.node("postgres_adapter").postgres_pool("staging").max_connections == 20
    assert contracts.node("postgres_adapter").postgres_pool(PRODUCTION).max_connections == 50


def test_each_value_names_its_source(contracts: ContractSet, tmp_path: Path) -> None:
    path = _overlay(tmp_path)
    effective = resolve_configuration(
        contracts, PRODUCTION, overlay_file=path, variables={"ONEX_BATCH_SIZE": 300}
    )
    assert effective.value("postgres_adapter", "postgres_pool", "max_connections").source == ValueSource(
        "overlay", f"{path}:3"
    )
    assert effective.value("postgres_adapter", "circuit_breaker", "failure_threshold").source == ValueSource(
        "overlay", f"{path}:5"
    )
    contract = effective.value("postgres_adapter", "postgres_pool", "min_connections")
    assert contract.source.kind == "contract"
    assert contract.source.origin.endswith("postgres_adapter/v1_0_0/contract.yaml")
    assert contract.value == 10
    default = effective.value("kafka_adapter", "circuit_breaker", "half_open_max_calls")
    assert (default.value, default.source) == (1, ValueSource("default", ""))
    batch = effective.value("message_aggregator", "batching", "batch_size")
    assert (batch.value, batch.source) == (300, ValueSource("environment variable", "ONEX_BATCH_SIZE"))


def test_a_variable_wins_over_the_overlay_which_wins_over_the_contract(
    contracts: ContractSet, tmp_path: Path
) -> None:
    path = _overlay(tmp_path)
    overlay_only = resolve_configuration(contracts, PRODUCTION, overlay_file=path)
    both = resolve_configuration(
        contracts, PRODUCTION, overlay_file=path, variables={"POSTGRES_MAX_CONNECTIONS": 45}
    )
    assert contracts.node("postgres_adapter").postgres_pool(PRODUCTION).max_connections == 50
    assert overlay_only.contracts.node("postgres_adapter").postgres_pool(PRODUCTION).max_connections == 40
    assert both.contracts.node("postgres_adapter").postgres_pool(PRODUCTION).max_connections == 45


def test_breaker_variables_set_every_breaker(contracts: ContractSet) -> None:
    effective = resolve_configuration(
        contracts,
        PRODUCTION,
        variables={"ONEX_BREAKER_FAILURE_THRESHOLD": 9, "ONEX_BREAKER_RECOVERY_TIMEOUT": 90},
    )
    for node in ("postgres_adapter", "kafka_adapter", "vault_adapter"):
        breaker = effective.contracts.node(node).circuit_breaker(PRODUCTION)
        assert (breaker.failure_threshold, breaker.recovery_timeout) == (9, 90), node


def test_every_variable_targets_a_key_of_the_shipped_contracts(contracts: ContractSet) -> None:
    effective = resolve_configuration(contracts, PRODUCTION)
    keys = {(v.node, v.section, v.key) for v in effective.values}
    for variable, (node, section, key) in OVERRIDE_VARIABLES.items():
        owners = {n for n, s, k in keys if (s, k) == (section, key)}
        assert node in owners or (node == "*" and owners), variable


async def test_the_service_is_built_with_the_effective_values(contracts: ContractSet, tmp_path: Path) -> None:
    path = _overlay(tmp_path)
    settings = load_settings({**BASE_ENV, "ENVIRONMENT": "production"})
    resolved = resolve_configuration(contracts, PRODUCTION, overlay_file=path).contracts
    components = await host_components(settings, resolved)
    assert components.database.config.max_connections == 40
    assert components.postgres_breaker.config.failure_threshold == 8
    assert components.kafka_breaker.config.failure_threshold == 5


@pytest.mark.parametrize(
    ("text", "line", "key_path", "reason"),
    [
        (
            "postgres_adapter:\n  production:\n    postgres_pool.max_connections: 900\n",
            3,
            "postgres_adapter.production.postgres_pool.max_connections",
            "less than or equal to 500 (allowed: 1 to 500)",
        ),
        (
            "kafka_adapter:\n  staging:\n    kafka_consumer:\n      auto_offset_reset: newest\n",
            4,
            "kafka_adapter.staging.kafka_consumer.auto_offset_reset",
            "allowed: earliest, latest",
        ),
        (
            "postgres_adapter:\n  production:\n    postgres_pool.min_connections: 60\n",
            3,
            "postgres_adapter.production.postgres_pool.min_connections",
            "min_connections must not exceed max_connections",
        ),
        (
            "postgres_adapter:\n  production:\n    postgres_pool.max_size: 40\n",
            3,
            "postgres_adapter.production.postgres_pool.max_size",
            "unknown key 'max_size' (allowed: min_connections, max_connections",
        ),
        (
            "postgres_adapter:\n  production:\n    circuit_breaker.max_queue_size: 40\n",
            3,
            "postgres_adapter.production.circuit_breaker.max_queue_size",
            "unknown key 'max_queue_size'",
        ),
        (
            "postgres_adapter:\n  production:\n    batching.batch_size: 40\n",
            3,
            "postgres_adapter.production.batching.batch_size",
            "has no section 'batching'",
        ),
        (
            "postgres_adapter:\n  prod:\n    postgres_pool.max_connections: 40\n",
            2,
            "postgres_adapter.prod",
            "unknown environment (allowed: production, staging, development)",
        ),
        (
            "mysql_adapter:\n  production:\n    pool.size: 4\n",
            1,
            "mysql_adapter",
            "no node contract 'mysql_adapter'",
        ),
    ],
)
def test_a_bad_overlay_names_file_line_key_path_and_reason(
    contracts: ContractSet, tmp_path: Path, text: str, line: int, key_path: str, reason: str
) -> None:
    path = _overlay(tmp_path, text)
    with pytest.raises(ContractError) as raised:
        resolve_configuration(contracts, PRODUCTION, overlay_file=path)
    message = str(raised.value)
    assert f"{path}:{line}: {key_path}: " in message
    assert reason in message


def test_an_overlay_value_of_another_environment_is_checked_too(
    contracts: ContractSet, tmp_path: Path
) -> None:
    path = _overlay(tmp_path, "postgres_adapter:\n  staging:\n    postgres_pool.max_connections: 0\n")
    for environment in EnumEnvironment:
        with pytest.raises(ContractError, match="greater than or equal to 1"):
            resolve_configuration(contracts, environment, overlay_file=path)


def test_a_bad_variable_value_names_the_variable(contracts: ContractSet) -> None:
    with pytest.raises(ConfigurationError) as raised:
        resolve_configuration(contracts, PRODUCTION, variables={"ONEX_BATCH_SIZE": 0})
    assert raised.value.variable == "ONEX_BATCH_SIZE"
    assert "allowed: 1 to 10000" in str(raised.value)


def test_a_missing_overlay_file_is_refused(contracts: ContractSet, tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"missing\.yaml.*cannot read"):
        resolve_configuration(contracts, PRODUCTION, overlay_file=tmp_path / "missing.yaml")


def test_tuning_variables_are_parsed_and_a_malformed_one_is_named() -> None:
    tuning = load_tuning_variables(
        {"ONEX_CONFIG_FILE": "/etc/o.yaml", "ONEX_BATCH_SIZE": "250", "POSTGRES_COMMAND_TIMEOUT": "12.5"}
    )
    assert tuning.config_file == "/etc/o.yaml"
    assert tuning.values == {"ONEX_BATCH_SIZE": 250, "POSTGRES_COMMAND_TIMEOUT": 12.5}
    with pytest.raises(ConfigurationError, match="ONEX_BREAKER_FAILURE_THRESHOLD"):
        load_tuning_variables({"ONEX_BREAKER_FAILURE_THRESHOLD": "many"})


def test_the_documented_overlay_example_is_valid_in_every_environment(
    contracts: ContractSet, tmp_path: Path
) -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- overlay-example -->\n```yaml\n(.*?)```", text, re.S)
    assert block is not None
    path = _overlay(tmp_path, block.group(1))
    for environment in EnumEnvironment:
        effective = resolve_configuration(contracts, environment, overlay_file=path)
        overlaid = [v for v in effective.values if v.source.kind == "overlay"]
        assert overlaid or environment is EnumEnvironment.DEVELOPMENT


def _overlay_schema_errors(text: str) -> list[str]:
    import json

    import yaml
    from jsonschema import Draft202012Validator

    from omnibase_infra.contract_validation.schema_builder import SCHEMA_DIR, SCHEMA_FILES

    schema = json.loads((SCHEMA_DIR / SCHEMA_FILES["overlay"]).read_text(encoding="utf-8"))
    return [e.message for e in Draft202012Validator(schema).iter_errors(yaml.safe_load(text))]


@pytest.mark.parametrize(
    "text",
    [
        "postgres_adapter:\n  production:\n    postgres_pool.max_connections: 900\n",
        "postgres_adapter:\n  production:\n    postgres_pool:\n      max_connections: 0\n",
        "kafka_adapter:\n  staging:\n    kafka_consumer:\n      auto_offset_reset: newest\n",
        "postgres_adapter:\n  production:\n    postgres_pool.max_size: 40\n",
        "postgres_adapter:\n  production:\n    circuit_breaker.max_queue_size: 40\n",
        "postgres_adapter:\n  production:\n    batching.batch_size: 40\n",
        "postgres_adapter:\n  prod:\n    postgres_pool.max_connections: 40\n",
        "mysql_adapter:\n  production:\n    pool.size: 4\n",
    ],
)
def test_the_overlay_schema_rejects_what_the_service_rejects(
    contracts: ContractSet, tmp_path: Path, text: str
) -> None:
    assert _overlay_schema_errors(text)
    with pytest.raises(ContractError):
        resolve_configuration(contracts, PRODUCTION, overlay_file=_overlay(tmp_path, text))


def test_the_overlay_schema_accepts_the_documented_and_deployed_overlays() -> None:
    import yaml

    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- overlay-example -->\n```yaml\n(.*?)```", text, re.S)
    assert block is not None
    assert _overlay_schema_errors(block.group(1)) == []
    configmap = yaml.safe_load((DOCS.parent / "deploy" / "kubernetes" / "overlay-configmap.yaml").read_text())
    assert _overlay_schema_errors(configmap["data"]["overlay.yaml"]) == []
    assert _overlay_schema_errors(OVERLAY) == []
