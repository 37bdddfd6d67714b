"""The failed-reply error kinds the documentation lists are the ones a reply can carry."""

from __future__ import annotations

import re
from typing import get_args

from doc_blocks import DOCS

from omnibase_infra.models.model_operation_reply import ErrorKind
from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import ModelOperationFailure

_ROW = re.compile(r"^\| `([a-z_]+)` \|", re.MULTILINE)


def test_the_architecture_table_lists_every_error_kind_in_order() -> None:
    text = (DOCS / "architecture.md").read_text()
    section = text.split("Failed replies carry a typed error", 1)[1].split("\n\n", 2)[1]

    assert _ROW.findall(section) == list(get_args(ErrorKind))


def test_the_migration_guide_names_every_error_kind() -> None:
    text = (DOCS / "migration-guide.md").read_text()

    missing = [kind for kind in get_args(ErrorKind) if f"`{kind}`" not in text]

    assert not missing


def test_the_node_model_takes_every_error_kind() -> None:
    for kind in get_args(ErrorKind):
        assert ModelOperationFailure(error_kind=kind, message="m").error_kind == kind
