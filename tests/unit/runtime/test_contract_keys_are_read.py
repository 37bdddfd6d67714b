"""Every ``environment_config`` key of every shipped contract changes what the service builds.

The test walks every leaf of every shipped node contract's ``environment_config``, in each
environment. For each leaf it builds the service (``InfraService``: the composition root,
the consumer and its loop, plus the credential store's provider) from the contracts with
that one value perturbed, and compares what the built objects hand to their libraries and
loops (``fingerprint``: asyncpg's ``create_pool`` arguments, aiokafka's producer and
consumer arguments, the breakers' thresholds, the event queue, the relay, the consumer
loop, the shutdown grace, the credential store's breaker) with the unperturbed build. A
key whose perturbation changes nothing is dead: nothing reads it.

The perturbed value bypasses the contract models' validation (``model_copy(update=...)``),
so a key is tested even where the only other legal value would be an equivalent spelling.
A perturbation that the runtime itself rejects while building (e.g. a pool minimum above
the maximum) counts as read.

Every other leaf (node contracts outside ``environment_config``, and the compositions) is
perturbed in a copy of the shipped contract folder: the contracts must then either fail
validation (a cross-check, a folder name, a pattern reads the value) or change what the
runtime takes from them (``what_the_runtime_reads``: the topology, the operations the
executor runs, the orchestrator's routes, each node's step operations, the core contract
handed to omnibase-core, the dependencies resolved, the registry). Prose (``description``)
is exempt. The names and step ids of the two workflows no topic routes to (outbox relay,
infrastructure state) are marked as known declarations: the service runs both loops
whatever those workflows say (strict xfail, so the mark goes when that changes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from omnibase_infra.contract_validation.contract_set import ContractSet, LoadedNodeContract
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.kafka_producer_adapter import producer_settings
from omnibase_infra.infrastructure.vault_credentials import VaultCredentialProvider
from omnibase_infra.infrastructure.vault_settings import load_vault_settings
from omnibase_infra.runtime.service import InfraService
from omnibase_infra.settings import load_settings

NODES = Path(__file__).resolve().parents[3] / "src" / "omnibase_infra" / "nodes"
BASE_ENV = {
    "POSTGRES_HOST": "db.example",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex_app",
    "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
}
VAULT_ENV = {
    "VAULT_ADDR": "http://vault.example:8200",
    "VAULT_TOKEN": "s.contract-keys-test-token",
    "VAULT_POSTGRES_PATH": "omnibase/postgres",
}


def shipped_leaves() -> Iterator[tuple[str, str, str, str]]:
    """(node, section, environment, key) of every leaf under ``environment_config``, as written."""
    for path in sorted(NODES.glob("*/v*/contract.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for section, environments in (document.get("environment_config") or {}).items():
            for environment, values in environments.items():
                for key in values:
                    yield document["name"], section, environment, key


LEAVES = list(shipped_leaves())


def _alternatives(value: object, field_schema: dict[str, Any]) -> list[object]:
    """Other values of the key: every other option of an enum, else one changed value."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int | float):
        return [value + 1]
    options = field_schema.get("enum") or []
    return [o for o in options if o != value] or [f"{value}-changed"]


def _with_value(
    contracts: ContractSet, node_name: str, section: str, environment: str, key: str, new_value: object
) -> ContractSet:
    node = contracts.node(node_name)
    config = node.document.environment_config
    per_environment: BaseModel = getattr(config, section)
    values: BaseModel = getattr(per_environment, environment)
    changed = per_environment.model_copy(update={environment: values.model_copy(update={key: new_value})})
    document = node.document.model_copy(
        update={"environment_config": config.model_copy(update={section: changed})}
    )
    new_node: LoadedNodeContract = node.model_copy(update={"document": document})
    nodes = tuple(new_node if n is node else n for n in contracts.nodes)
    return contracts.model_copy(update={"nodes": nodes})


def _alternatives_of(
    contracts: ContractSet, node: str, section: str, environment: str, key: str
) -> list[object]:
    values: BaseModel = getattr(
        getattr(contracts.node(node).document.environment_config, section), environment
    )
    return _alternatives(getattr(values, key), type(values).model_json_schema()["properties"][key])


class _RecordingConsumer:
    """Stands in for ``aiokafka.AIOKafkaConsumer``: records its arguments, connects nowhere."""

    created: list[dict[str, object]] = []

    def __init__(self, **kwargs: object) -> None:
        type(self).created.append(kwargs)


def _breaker(breaker: EventBusCircuitBreaker) -> dict[str, object]:
    # What EventBusCircuitBreaker and its states read (circuit_breaker_states, call()).
    config = breaker.config
    return {
        "failure_threshold": config.failure_threshold,
        "recovery_timeout": config.recovery_timeout,
        "success_threshold": config.success_threshold,
        "timeout_seconds": config.timeout_seconds,
        "half_open_max_calls": config.half_open_max_calls,
    }


async def _pool_arguments(service: InfraService) -> dict[str, object]:
    recorded: dict[str, object] = {}

    async def create_pool(**kwargs: object) -> object:
        recorded.update(kwargs)
        raise ConnectionRefusedError("recorded; no server")

    database = service.components.database
    database._pool_factory = create_pool  # type: ignore[attr-defined]  # the test records the call
    with pytest.raises(Exception):  # noqa: B017 - the recorder refuses every connection
        await database.start()
    return {k: v for k, v in recorded.items() if k not in ("init", "ssl", "password")}


def fingerprint(
    contracts: ContractSet, environment: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, object]:
    """What the service built from ``contracts`` hands to its libraries and loops."""
    import aiokafka  # type: ignore[import-untyped]  # untyped library

    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", _RecordingConsumer)
    _RecordingConsumer.created = []
    settings = load_settings({**BASE_ENV, "ENVIRONMENT": environment})
    service = InfraService(settings, contracts)
    c = service.components
    loop, _ = service._build_consumer_loop()
    (consumer_kwargs,) = _RecordingConsumer.created
    pool = c.producers._config
    aiokafka_producer = producer_settings(pool, "client")
    aiokafka_producer.pop("ssl_context")
    publisher = c.event_publisher
    relay = c.relay
    vault_settings = load_vault_settings(VAULT_ENV)
    assert vault_settings is not None
    vault = VaultCredentialProvider.from_contract(
        vault_settings,
        contracts.node("vault_adapter"),
        EnumEnvironment(environment),
        client_factory=lambda s: object(),  # type: ignore[arg-type,return-value]  # never called
    )
    assert vault.breaker is not None
    return {
        "asyncpg.create_pool": asyncio.run(_pool_arguments(service)),
        "aiokafka.AIOKafkaProducer": aiokafka_producer,
        "producer pool": (pool.client_id, pool.min_pool_size, pool.max_pool_size, pool.delivery_timeout_ms),
        "aiokafka.AIOKafkaConsumer": {k: v for k, v in consumer_kwargs.items() if k != "ssl_context"},
        "consumer loop": (loop._max_records, loop._poll_timeout_ms),
        "postgres breaker": _breaker(c.postgres_breaker),
        "kafka breaker": _breaker(c.kafka_breaker),
        "event queue": (
            publisher._queue._max_size,
            publisher._config.graceful_degradation,
            publisher._config.dead_letter_enabled,
            publisher._max_attempts,
        ),
        "outbox relay": (
            relay._batch_size,
            relay._max_attempts,
            relay._dead_letter_enabled,
            relay._idle_interval,
        ),
        "shutdown grace": service._grace,
        "vault breaker": {
            **_breaker(vault.breaker),
            "graceful_degradation": vault.breaker.config.graceful_degradation,
        },
    }


@pytest.fixture(scope="module")
def contracts() -> ContractSet:
    return load_contract_set(validate_core=False)


def test_every_contract_has_leaves_to_check() -> None:
    nodes = {node for node, *_ in LEAVES}
    assert {"postgres_adapter", "kafka_adapter", "message_aggregator", "vault_adapter"} <= nodes
    assert len(LEAVES) > 100


@pytest.mark.parametrize(
    ("node", "section", "environment", "key"), LEAVES, ids=[".".join(leaf) for leaf in LEAVES]
)
def test_perturbing_a_contract_value_changes_what_the_service_builds(
    contracts: ContractSet,
    node: str,
    section: str,
    environment: str,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    baseline = fingerprint(contracts, environment, monkeypatch)
    tried: list[object] = []
    for value in _alternatives_of(contracts, node, section, environment, key):
        tried.append(value)
        try:
            changed = fingerprint(
                _with_value(contracts, node, section, environment, key, value), environment, monkeypatch
            )
        except (ConfigurationError, ValidationError, ValueError):
            return  # the runtime read the value and refused it: not dead
        if any(baseline[part] != changed[part] for part in baseline):
            return
    pytest.fail(
        f"{node}: environment_config.{section}.{environment}.{key} set to any of {tried!r} changes "
        "nothing the service builds: nothing reads this key (remove it, or pass it to what should use it)"
    )


# -- every other leaf: node contracts outside environment_config, and the compositions ----------

DOCUMENTATION_KEYS = frozenset({"description"})
"""Prose for people: shown by ``contracts check`` / ``nodes list`` and the docs, read by no code."""


def _leaves(value: object, path: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _leaves(inner, (*path, index))
    else:
        yield path


def other_leaves() -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """(file relative to nodes/, key path) of every leaf outside environment_config, prose excepted."""
    files = sorted(NODES.glob("*/v*/contract.yaml")) + sorted(NODES.glob("*/v*/compositions/*.yaml"))
    for path in files:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for leaf in _leaves(document, ()):
            if leaf[0] == "environment_config" or DOCUMENTATION_KEYS & {
                p for p in leaf if isinstance(p, str)
            }:
                continue
            yield str(path.relative_to(NODES)), leaf


def _declarative_workflow_identifier(file: str, leaf: tuple[str | int, ...]) -> bool:
    """A name or step id of a workflow no topic routes to (the outbox relay, the state loop)."""
    if "compositions" not in file or leaf[0] != "workflows" or leaf[-1] not in ("name", "id"):
        return False
    document = yaml.safe_load((NODES / file).read_text(encoding="utf-8"))
    workflow = document["workflows"][leaf[1]]
    return not any(step.get("consumes") for step in workflow["steps"])


OTHER_LEAVES = [
    pytest.param(
        file,
        leaf,
        id=f"{file}:{'.'.join(map(str, leaf))}",
        marks=pytest.mark.xfail(
            strict=True,
            reason="the runtime starts the outbox relay and the state loop whatever these workflows "
            "say: their names and step ids are declarations only (validated, never read)",
        )
        if _declarative_workflow_identifier(file, leaf)
        else (),
    )
    for file, leaf in other_leaves()
]


def _changed(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    text = str(value)
    if text.endswith(".v1"):  # a topic: another valid name
        return text[:-3] + ".v2"
    return f"{text}_changed"


def what_the_runtime_reads(contracts: ContractSet) -> dict[str, object]:
    """What the runtime takes from the contracts besides environment_config."""
    from uuid import UUID

    from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.routing import plan_route

    from omnibase_infra.nodes.group_gateway.v1_0_0.topology import resolve_topology
    from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.models import ModelRouteRequest

    settings = load_settings(BASE_ENV)
    postgres = contracts.node("postgres_adapter")
    return {
        "topology": resolve_topology(contracts, settings),
        "declared topics": sorted(contracts.declared_topics),  # require_declared (outbox, replies)
        "operations": [
            (
                op.name,
                op.sql,
                op.read_only,
                op.returns,
                op.exposed,
                op.parameter_names,
                op.parameters_schema,
                op.relay_topic_parameters,  # the topic ACL at enqueue (operation_executor)
            )
            for op in postgres.operations
        ],
        "routes": {
            topic: plan_route(contracts.workflows, ModelRouteRequest(topic=topic, envelope_id=UUID(int=0)))
            for topic in sorted(contracts.consumed_topics)
        },
        "step operations": {n.name: sorted(n.step_operations) for n in contracts.nodes},
        # handed to omnibase-core's node as contract_data (node_binding), after core validates it
        "core contracts": {n.name: n.core_document() for n in contracts.nodes},
        "dependencies": {
            n.name: [(d.import_path, d.required) for d in n.dependencies] for n in contracts.nodes
        },
        "registry": sorted((n.name, str(n.version), n.kind) for n in contracts.nodes),
        "compositions": sorted((c.name, str(c.document.contract_version)) for c in contracts.compositions),
    }


@pytest.fixture(scope="module")
def nodes_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    target = tmp_path_factory.mktemp("nodes") / "nodes"
    shutil.copytree(NODES, target, ignore=shutil.ignore_patterns("*.py", "*.pyc", "__pycache__"))
    return target


@pytest.fixture(scope="module")
def baseline_reads(nodes_copy: Path) -> dict[str, object]:
    from omnibase_infra.contract_validation.loader import check_contracts

    _, contracts = check_contracts(nodes_root=nodes_copy, validate_core=False)
    assert contracts is not None
    return what_the_runtime_reads(contracts)


def test_every_other_leaf_is_found() -> None:
    files = {file for file, _ in other_leaves()}
    assert any("compositions" in f for f in files)
    assert len(files) == 7


@pytest.mark.parametrize(("file", "leaf"), OTHER_LEAVES)
def test_perturbing_any_other_contract_leaf_changes_what_the_runtime_reads(
    nodes_copy: Path, baseline_reads: dict[str, object], file: str, leaf: tuple[str | int, ...]
) -> None:
    from omnibase_infra.contract_validation.loader import check_contracts

    path = nodes_copy / file
    original = path.read_text(encoding="utf-8")
    document = yaml.safe_load(original)
    holder = document
    for part in leaf[:-1]:
        holder = holder[part]
    holder[leaf[-1]] = _changed(holder[leaf[-1]])
    try:
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        _, perturbed = check_contracts(nodes_root=nodes_copy, validate_core=False)
    finally:
        path.write_text(original, encoding="utf-8")
    if perturbed is None:
        return  # validation reads the value (a cross-check, a folder, a pattern) and refuses the change
    assert what_the_runtime_reads(perturbed) != baseline_reads, (
        f"{file}: {'.'.join(map(str, leaf))} changes nothing the runtime reads"
    )
