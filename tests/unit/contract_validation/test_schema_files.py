"""The packaged schemas are current, valid 2020-12 schemas, mirrored in ``contracts/``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from omnibase_infra.contract_validation.discovery import NODES_ROOT
from omnibase_infra.contract_validation.schema_builder import SCHEMA_DIR, SCHEMA_FILES, render

REPO = Path(__file__).resolve().parents[3]
FIX = "regenerate: .venv/bin/python -m omnibase_infra.contract_validation.schema_builder contracts/schemas"


@pytest.mark.parametrize("kind", sorted(SCHEMA_FILES))
def test_packaged_schema_matches_the_models(kind: str) -> None:
    assert (SCHEMA_DIR / SCHEMA_FILES[kind]).read_text(encoding="utf-8") == render(kind), FIX


@pytest.mark.parametrize("kind", sorted(SCHEMA_FILES))
def test_repository_copy_matches_the_packaged_schema(kind: str) -> None:
    packaged = (SCHEMA_DIR / SCHEMA_FILES[kind]).read_text(encoding="utf-8")
    assert (REPO / "contracts" / "schemas" / SCHEMA_FILES[kind]).read_text(encoding="utf-8") == packaged, FIX


@pytest.mark.parametrize("kind", sorted(SCHEMA_FILES))
def test_schema_is_valid_and_closed(kind: str) -> None:
    schema = json.loads((SCHEMA_DIR / SCHEMA_FILES[kind]).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    for name, definition in schema["$defs"].items():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition.get("additionalProperties") is False, name


def test_composition_mirror_matches_the_packaged_composition() -> None:
    packaged = NODES_ROOT / "infrastructure_orchestrator/v1_0_0/compositions/infrastructure_workflows.yaml"
    mirror = REPO / "contracts/compositions/infrastructure_workflows.yaml"
    assert mirror.read_text(encoding="utf-8") == packaged.read_text(encoding="utf-8")
