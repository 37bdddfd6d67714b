"""A third-party node package written to a temporary folder, with a fake ``onex.nodes`` entry point.

``install_node(root, node)`` writes ``<root>/<package>/<node>/{__init__,node}.py`` and the
``contract.yaml`` beside ``node.py``; ``sys.path`` gets ``root`` (the caller's tmp folder,
removed with ``remove_from_path`` or by pytest's ``monkeypatch``). The returned
``entry_points`` are the installed ones plus the fake one, for ``check_contracts(entry_points=...)``.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

RELAY_CONTRACT = """\
name: acme_relay
contract_version: {major: 1, minor: 0, patch: 0}
node_type: EFFECT_GENERIC
description: an application's outbox relay and state publisher
input_model: omnibase_infra.workflow.payloads.Tick
output_model: omnibase_infra.workflow.payloads.Tick
io_operations:
  - {operation_type: kafka_publish}
topics:
  publishes: [onex.evt.orders.order-placed.v1]
capabilities:
  - name: relay
    description: publish claimed rows to their topics
    input: omnibase_infra.workflow.payloads.Tick
    output: same
    topic_use: relay
  - name: publish_state
    description: publish state changes
    input: omnibase_infra.workflow.payloads.Tick
    output: same
    topic_use: state
"""

RELAY_CLASS = """\
from omnibase_infra.workflow.operations import SAME, StepContext, operation
from omnibase_infra.workflow.payloads import Tick


class NodeAcmeRelay:
    @operation(input=Tick, output=SAME)
    async def relay(self, payload: Tick, step: StepContext) -> Tick:
        return payload

    @operation(input=Tick, output=SAME)
    async def publish_state(self, payload: Tick, step: StepContext) -> Tick:
        return payload
"""


@dataclass(frozen=True)
class NodeSource:
    """What to write: the node's name, package, contract text and class source."""

    name: str
    package: str
    class_name: str
    contract: str
    source: str


RELAY_NODE = NodeSource("acme_relay", "acme_nodes", "NodeAcmeRelay", RELAY_CONTRACT, RELAY_CLASS)


@dataclass(frozen=True)
class InstalledTestNode:
    folder: Path
    entry_point: EntryPoint
    entry_points: tuple[EntryPoint, ...]

    @property
    def contract(self) -> Path:
        return self.folder / "contract.yaml"


def install_node(root: Path, node: NodeSource, *, with_contract: bool = True) -> InstalledTestNode:
    """Write the package under ``root`` and put ``root`` on ``sys.path``."""
    package = root / node.package
    folder = package / node.name
    folder.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (folder / "__init__.py").write_text("", encoding="utf-8")
    (folder / "node.py").write_text(node.source, encoding="utf-8")
    if with_contract:
        (folder / "contract.yaml").write_text(node.contract, encoding="utf-8")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    point = EntryPoint(
        name=node.name, value=f"{node.package}.{node.name}.node:{node.class_name}", group="onex.nodes"
    )
    return InstalledTestNode(folder, point, (*entry_points(group="onex.nodes"), point))


def remove_from_path(root: Path, package: str) -> None:
    """Undo ``install_node``: ``root`` off ``sys.path``, the package's modules forgotten."""
    if str(root) in sys.path:
        sys.path.remove(str(root))
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
