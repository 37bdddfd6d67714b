"""Every ``environment_config`` key of every shipped contract changes what the service builds.

The test walks every leaf of every shipped node contract's ``environment_config``, in each
environment. For each leaf it builds the service (``InfraService`` and the hosted nodes of
``host_components``, the consumer and its loop, plus the credential store's provider) from
the contracts with that one value perturbed, and compares what the built objects hand to
their libraries and loops (``fingerprint``: asyncpg's ``create_pool`` arguments, aiokafka's
producer and consumer arguments, the breakers' thresholds, kafka_adapter's event queue, one
run of the ``outbox_relay`` workflow through the orchestrator over a recording PostgreSQL
connection and a refusing broker, the consumer loop, the shutdown grace, the credential
store's breaker) with the unperturbed build. A key whose perturbation changes nothing is
dead: nothing reads it.

The perturbed value bypasses the contract models' validation (``model_copy(update=...)``),
so a key is tested even where the only other legal value would be an equivalent spelling.
A perturbation that the runtime itself rejects while building (e.g. a pool minimum above
the maximum) counts as read.

Every other leaf (node contracts outside ``environment_config``, and the compositions) is
perturbed in a copy of the shipped contract folder: the contracts must then either fail
validation (a cross-check, a folder name, a pattern reads the value) or change what the
runtime takes from them (``what_the_runtime_reads``: the topology, the operations the
executor runs, the workflows infrastructure_orchestrator compiles, by name, with each
step's context and bound operation, the workflows the host starts by trigger, the topic
ACL, each node's step operations, the core contract handed to omnibase-core, the
dependencies resolved, the registry). The validation is the one startup runs, with the
node classes (``check_classes``, through the registry of the installed entry points): a
capability's name is read there (a step operation is an ``@operation``, a capability
without ``input`` a public method of the node class). Prose (``description``) is exempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from omnibase_core.errors.model_onex_error import ModelOnexError
from pydantic import BaseModel, ValidationError

from omnibase_infra.contract_validation.contract_set import ContractSet, LoadedNodeContract
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ConfigurationError, LifecycleError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.kafka_producer_adapter import producer_settings
from omnibase_infra.infrastructure.vault_credentials import VaultCredentialProvider
from omnibase_infra.infrastructure.vault_settings import load_vault_settings
from omnibase_infra.registry.node_registry import NodeRegistry
from omnibase_infra.runtime.service import InfraService
from omnibase_infra.runtime.service_components import host_components
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

    assert service.components is not None
    database = service.components.database
    database._pool_factory = create_pool  # type: ignore[assignment]  # the test records the call
    with pytest.raises(Exception):  # noqa: B017 - the recorder refuses every connection
        await database.start()
    return {k: v for k, v in recorded.items() if k not in ("init", "ssl", "password")}


RELAY_TOPIC = "onex.evt.infrastructure.event-store.v1"
RELAY_ROWS: list[dict[str, object]] = [
    {
        "id": i + 1,
        "topic": RELAY_TOPIC,
        "key": None,
        "payload": b"{}",
        "headers": "[]",
        "attempts": i,
        "origin": "application",
    }
    for i in range(12)
]
"""Keyless rows (a chain each) with 0 to 11 earlier attempts: which are parked shows max_attempts."""


class _RelayConnection:
    """PostgreSQL as the relay's claim and marking see it: records every statement's arguments."""

    def __init__(self) -> None:
        self.fetched: list[tuple[object, ...]] = []
        self.executed: list[tuple[object, ...]] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def fetch(self, sql: str, *args: object) -> list[dict[str, object]]:
        self.fetched.append(args)
        return RELAY_ROWS

    async def execute(self, sql: str, *args: object) -> str:
        self.executed.append(args)
        return "UPDATE 1"


async def _relay_round(service: InfraService) -> tuple[object, ...]:
    """One run of the outbox_relay workflow, as the host's repeat trigger starts it, by name."""
    from omnibase_infra.infrastructure.kafka_producer_lane import Lane, ProtocolDelivery
    from omnibase_infra.workflow.payloads import OutboxRound, Tick

    c = service.components
    assert c is not None
    connection = _RelayConnection()

    @contextlib.asynccontextmanager
    async def acquire(**_: object) -> AsyncIterator[_RelayConnection]:
        yield connection

    async def topic_exists(topic: str) -> bool:
        return True

    async def refuse(record: object) -> ProtocolDelivery:
        raise RuntimeError("the test broker refuses every record")

    @contextlib.asynccontextmanager
    async def lane() -> AsyncIterator[Lane]:
        yield Lane(refuse, lambda: None)  # refuses every record: nothing is ever sent

    c.database.acquire_connection = acquire  # type: ignore[method-assign,assignment]  # the recording connection
    c.producers.topic_exists = topic_exists  # type: ignore[method-assign]  # the brokers know the topic
    c.producers.lane = lane  # type: ignore[method-assign]  # no broker: each record fails, not an outage
    orchestrator = c.nodes.infrastructure_orchestrator
    scheduled = {w.name: w.trigger for w in orchestrator.scheduled()}
    assert scheduled["outbox_relay"] == "repeat"
    round_ = await orchestrator.run("outbox_relay", Tick(at=datetime(2026, 1, 1, tzinfo=UTC)))
    assert isinstance(round_, OutboxRound) and round_.marked
    return (
        tuple(connection.fetched),  # the claim's batch size
        tuple(connection.executed),  # what was parked after how many attempts
        round_.send_budget_seconds,
        round_.dead_letter_enabled,
        service._idle_seconds,  # what the host's repeat trigger waits between idle runs
    )


async def fingerprint(
    contracts: ContractSet, environment: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, object]:
    """What the service built from ``contracts`` hands to its libraries and loops."""
    import aiokafka  # type: ignore[import-untyped]  # untyped library

    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", _RecordingConsumer)
    _RecordingConsumer.created = []
    settings = load_settings({**BASE_ENV, "ENVIRONMENT": environment})
    service = InfraService(settings, contracts)
    c = await host_components(settings, contracts)
    service.components = c
    loop, _ = service._build_consumer_loop()
    (consumer_kwargs,) = _RecordingConsumer.created
    pool = c.producers._config
    aiokafka_producer = producer_settings(pool, "client")
    aiokafka_producer.pop("ssl_context")
    publisher = await c.nodes.kafka_adapter._durable_publisher()  # what kafka_adapter.start() builds
    await publisher.stop()
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
        "asyncpg.create_pool": await _pool_arguments(service),
        "aiokafka.AIOKafkaProducer": aiokafka_producer,
        "producer pool": (pool.client_id, pool.min_pool_size, pool.max_pool_size, pool.delivery_timeout_ms),
        "aiokafka.AIOKafkaConsumer": {k: v for k, v in consumer_kwargs.items() if k != "ssl_context"},
        "consumer loop": (loop._max_records, loop._poll_timeout_ms),
        "postgres breaker": _breaker(c.postgres_breaker),
        "operation reads": (
            c.nodes.postgres_adapter.resources.read_connections,
            c.nodes.postgres_adapter.resources.reads_per_round_trip,
        ),
        "event store writes": c.nodes.postgres_adapter.resources.write_connections,
        "kafka breaker": _breaker(c.kafka_breaker),
        "event queue": (
            publisher._queue._max_size,
            publisher._config.graceful_degradation,
            publisher._config.dead_letter_enabled,
            publisher._max_attempts,
        ),
        "outbox relay": await _relay_round(service),
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


async def test_the_fingerprint_is_stable(contracts: ContractSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two builds from the same contracts agree: a difference below comes from the perturbation."""
    first = await fingerprint(contracts, "production", monkeypatch)
    assert first == await fingerprint(contracts, "production", monkeypatch)
    relay = first["outbox relay"]
    assert isinstance(relay, tuple)
    fetched, executed, _, dead_letter_enabled, _ = relay
    assert fetched == ((2000,),), "the claim asks for the production outbox_batch_size"
    parked = [args[0] for args in executed if len(args) == 4 and args[3]]
    assert dead_letter_enabled is True and parked, "rows past outbox_max_attempts are parked"


@pytest.mark.parametrize(
    ("node", "section", "environment", "key"), LEAVES, ids=[".".join(leaf) for leaf in LEAVES]
)
async def test_perturbing_a_contract_value_changes_what_the_service_builds(
    contracts: ContractSet,
    node: str,
    section: str,
    environment: str,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    baseline = await fingerprint(contracts, environment, monkeypatch)
    tried: list[object] = []
    for value in _alternatives_of(contracts, node, section, environment, key):
        tried.append(value)
        try:
            changed = await fingerprint(
                _with_value(contracts, node, section, environment, key, value), environment, monkeypatch
            )
        except (ConfigurationError, ValidationError, ValueError):
            return  # the runtime read the value and refused it: not dead
        except ModelOnexError as exc:  # a node's initialize() refused it, wrapped by omnibase-core
            assert isinstance(exc.__cause__, ConfigurationError | ValidationError | ValueError), exc
            return
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


OTHER_LEAVES = [
    pytest.param(file, leaf, id=f"{file}:{'.'.join(map(str, leaf))}") for file, leaf in other_leaves()
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


_NODE_CLASSES: dict[str, Any] = {}
_REGISTRY: list[NodeRegistry] = []


def _registry() -> NodeRegistry:
    """The registry the installed entry points fill for the shipped contracts (as at startup).

    The perturbed contracts live in a copy of the nodes folder, beside no module, so the
    class check of that copy takes its classes from the shipped contracts' registry.
    """
    if not _REGISTRY:
        from omnibase_infra.registry.entry_points import discover_nodes

        _REGISTRY.append(discover_nodes(load_contract_set(validate_core=False)).registry)
    return _REGISTRY[0]


def _node_classes() -> dict[str, Any]:
    """The installed node classes by name (the shipped contracts' entry points)."""
    if not _NODE_CLASSES:
        registry = _registry()
        for name in {r.name for r in registry.list()}:
            _NODE_CLASSES[name] = registry.load_class(name)
    return _NODE_CLASSES


def _check_copy(nodes_copy: Path) -> ContractSet | None:
    """The copy validated as at startup (node classes included); ``None`` when it is refused."""
    from omnibase_infra.contract_validation.loader import check_contracts

    report, contracts = check_contracts(
        nodes_root=nodes_copy, validate_core=False, check_classes=True, registry=_registry()
    )
    assert report.class_validation or contracts is None
    return contracts


async def _orchestrated(contracts: ContractSet) -> dict[str, object]:
    """What infrastructure_orchestrator compiles from ``contracts`` and what the host schedules.

    The orchestrator binds each step to the operation of the installed node class it names
    (``compile``, as at startup); the host starts each workflow of ``scheduled()`` as a task
    named after it, by its trigger.
    """
    from omnibase_infra.container import build_container
    from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.node import NodeInfrastructureOrchestrator
    from omnibase_infra.runtime.node_host import NodeDirectory

    settings = load_settings(BASE_ENV)
    container = await build_container(contracts, settings=settings)
    classes = _node_classes()
    names = {step.node for workflow in contracts.workflows for step in workflow.steps}
    directory = NodeDirectory({n: classes[n](container) for n in sorted(names) if n in classes})
    orchestrator = NodeInfrastructureOrchestrator(container)
    await orchestrator.initialize()
    orchestrator.compile(directory)  # LifecycleError: a step names no installed node or operation
    return {
        "compiled workflows": {
            w.name: (
                w.trigger,
                w.ahead,
                [
                    (
                        s.context.step_id,
                        s.context.node,
                        s.context.operation,
                        s.context.publishes,
                        s.context.consumes,
                        dict(s.context.params),
                        s.context.span_name,
                        getattr(s.call, "__name__", None),
                    )
                    for s in w.steps
                ],
            )
            for w in orchestrator.workflows
        },
        "scheduled tasks": [(w.name, w.trigger) for w in orchestrator.scheduled()],
    }


async def what_the_runtime_reads(contracts: ContractSet) -> dict[str, object]:
    """What the runtime takes from the contracts besides environment_config."""
    from omnibase_infra.nodes.group_gateway.v1_0_0.topic_acl import TopicAcl
    from omnibase_infra.nodes.group_gateway.v1_0_0.topology import resolve_topology

    settings = load_settings(BASE_ENV)
    postgres = contracts.node("postgres_adapter")
    topology = resolve_topology(contracts, settings)
    acl = TopicAcl.for_service(contracts, topology, settings.outbox_topics)
    return {
        "topology": topology,
        "routes": {topic: topology.workflow_of(topic) for topic in topology.subscription},
        "topic acl": {
            use: sorted(acl.topics(use)) for use in ("reply", "relay", "dead_letter", "state", "forward")
        },
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
        **await _orchestrated(contracts),
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
    contracts = _check_copy(nodes_copy)
    assert contracts is not None
    return asyncio.run(what_the_runtime_reads(contracts))


def test_every_other_leaf_is_found() -> None:
    files = {file for file, _ in other_leaves()}
    assert any("compositions" in f for f in files)
    assert len(files) == 9  # eight node contracts and the composition


@pytest.mark.parametrize(("file", "leaf"), OTHER_LEAVES)
async def test_perturbing_any_other_contract_leaf_changes_what_the_runtime_reads(
    nodes_copy: Path, baseline_reads: dict[str, object], file: str, leaf: tuple[str | int, ...]
) -> None:
    path = nodes_copy / file
    original = path.read_text(encoding="utf-8")
    document = yaml.safe_load(original)
    holder = document
    for part in leaf[:-1]:
        holder = holder[part]
    holder[leaf[-1]] = _changed(holder[leaf[-1]])
    try:
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        perturbed = _check_copy(nodes_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    if perturbed is None:
        return  # validation reads the value (a cross-check, a folder, a pattern, a class) and refuses it
    try:
        reads = await what_the_runtime_reads(perturbed)
    except LifecycleError:
        return  # the orchestrator reads the value and refuses it at startup
    assert reads != baseline_reads, f"{file}: {'.'.join(map(str, leaf))} changes nothing the runtime reads"
