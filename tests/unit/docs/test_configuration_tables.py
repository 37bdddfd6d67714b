"""The configuration tables of README.md and docs/configuration.md tell the truth.

- Variables: each table lists exactly the variables the service reads (``service_facts``:
  the literals of ``settings.py``'s and ``vault_settings.py``'s reader calls, ``_FILE``
  variants of secrets, the environment-detection variables). A documented default must
  change nothing when set explicitly (the settings loaded with and without it are equal);
  a variable documented as "required" must make loading fail, naming it, when absent.
- Contract settings: each ``### `section` (node)`` table of docs/configuration.md lists the
  keys and the per-environment values of that section in the shipped contract(s).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from doc_blocks import DOCS, REPO_ROOT
from service_facts import environment_variables, read_variables, shipped_contracts

from omnibase_infra.environment import ENVIRONMENT_VARIABLES
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.vault_settings import load_vault_settings
from omnibase_infra.settings import load_settings

TABLE_DOCS = (REPO_ROOT / "README.md", DOCS / "configuration.md")
CONFIGURATION = DOCS / "configuration.md"
ENVIRONMENTS = ("production", "staging", "development")
_BACKTICKED = re.compile(r"`([^`]+)`")
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

BASE_ENV = {
    "POSTGRES_HOST": "db.example",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex_app",
    "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
}
VAULT_BASE_ENV = {
    "VAULT_ADDR": "http://vault.example:8200",
    "VAULT_TOKEN": "s.example",
    "VAULT_POSTGRES_PATH": "omnibase/postgres",
}


@dataclass(frozen=True)
class VariableRow:
    names: tuple[str, ...]
    default: str | None
    required: bool
    line: int

    @property
    def primary(self) -> str:
        return self.names[0]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _tables(path: Path) -> list[tuple[str, int, list[tuple[int, list[str]]]]]:
    """(heading above, line, rows) of every Markdown table; rows exclude header and rule."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tables: list[tuple[str, int, list[tuple[int, list[str]]]]] = []
    heading = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line
        if (
            line.startswith("|")
            and index + 1 < len(lines)
            and set(lines[index + 1].replace("|", ""))
            <= {
                "-",
                ":",
                " ",
            }
        ):
            start = index
            rows: list[tuple[int, list[str]]] = [(index + 1, _cells(line))]
            index += 2
            while index < len(lines) and lines[index].startswith("|"):
                rows.append((index + 1, _cells(lines[index])))
                index += 1
            tables.append((heading, start + 1, rows))
            continue
        index += 1
    return tables


def variable_rows(path: Path) -> list[VariableRow]:
    """Rows of the table whose header starts with ``Variable | Default``."""
    found = [rows for _, _, rows in _tables(path) if rows[0][1][:2] == ["Variable", "Default"]]
    assert len(found) == 1, f"{path.name}: expected one 'Variable | Default | ...' table, found {len(found)}"
    result: list[VariableRow] = []
    for line, cells in found[0][1:]:
        names = tuple(n for n in _BACKTICKED.findall(cells[0]) if _NAME.match(n))
        assert names, f"{path.name}:{line}: no variable name in {cells[0]!r}"
        default_cell = cells[1]
        literal = _BACKTICKED.findall(default_cell)
        required = default_cell == "required"
        assert required or literal or default_cell == "—", f"{path.name}:{line}: unreadable default"
        result.append(VariableRow(names, literal[0] if literal else None, required, line))
    return result


@pytest.mark.parametrize("path", TABLE_DOCS, ids=lambda p: p.name)
def test_table_lists_exactly_the_variables_the_service_reads(path: Path) -> None:
    rows = variable_rows(path)
    documented = [name for row in rows for name in row.names]
    duplicates = sorted({n for n in documented if documented.count(n) > 1})
    assert not duplicates, f"{path.name}: listed twice: {duplicates}"
    read = environment_variables()
    assert set(documented) - read == set(), f"{path.name} documents variables nothing reads"
    assert read - set(documented) == set(), f"{path.name} misses variables the service reads"


@pytest.mark.parametrize("path", TABLE_DOCS, ids=lambda p: p.name)
def test_secret_file_variants_sit_with_their_variable(path: Path) -> None:
    for row in variable_rows(path):
        variable = read_variables().get(row.primary)
        if variable is not None and variable.secret:
            assert f"{row.primary}_FILE" in row.names, f"{path.name}:{row.line}: name {row.primary}_FILE too"


def _load(environ: Mapping[str, str], vault: bool) -> object:
    if vault:
        return load_vault_settings(environ)
    return load_settings(environ).model_dump()


def _documented_defaults() -> list[tuple[Path, VariableRow]]:
    return [(path, row) for path in TABLE_DOCS for row in variable_rows(path) if row.default is not None]


@pytest.mark.parametrize(
    ("path", "row"), _documented_defaults(), ids=lambda v: v.primary if isinstance(v, VariableRow) else v.name
)
def test_documented_default_changes_nothing_when_set(path: Path, row: VariableRow) -> None:
    vault = row.primary.startswith("VAULT_")
    base = VAULT_BASE_ENV if vault else BASE_ENV
    assert row.default is not None
    explicit = {**base, row.primary: row.default}
    assert _load(explicit, vault) == _load(base, vault), (
        f"{path.name}:{row.line}: {row.primary}={row.default} is not the default"
    )


def _required_rows() -> list[tuple[Path, VariableRow]]:
    return [(path, row) for path in TABLE_DOCS for row in variable_rows(path) if row.required]


@pytest.mark.parametrize(
    ("path", "row"), _required_rows(), ids=lambda v: v.primary if isinstance(v, VariableRow) else v.name
)
def test_documented_required_variable_is_required(path: Path, row: VariableRow) -> None:
    environ = {k: v for k, v in BASE_ENV.items() if k != row.primary}
    with pytest.raises(ConfigurationError) as raised:
        load_settings(environ)
    assert row.primary in str(raised.value)


def test_required_variables_are_the_ones_without_which_loading_fails() -> None:
    for path in TABLE_DOCS:
        required = {row.primary for row in variable_rows(path) if row.required}
        assert required == set(BASE_ENV), path.name
        load_settings(BASE_ENV)  # and with them alone, loading succeeds


def test_environment_row_names_every_detection_variable_in_order() -> None:
    for path in TABLE_DOCS:
        (row,) = [r for r in variable_rows(path) if r.primary == ENVIRONMENT_VARIABLES[0]]
        assert row.names == ENVIRONMENT_VARIABLES, path.name


# -- contract settings ------------------------------------------------------------------------

_SECTION_HEADING = re.compile(r"^###\s+`(\w+)`\s+\(([\w, ]+)\)")


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _contracts() -> dict[str, dict[str, object]]:
    return {path.parts[-3]: yaml.safe_load(path.read_text(encoding="utf-8")) for path in shipped_contracts()}


def _documented_sections() -> dict[tuple[str, str], dict[str, list[str]]]:
    sections: dict[tuple[str, str], dict[str, list[str]]] = {}
    for heading, line, rows in _tables(CONFIGURATION):
        found = _SECTION_HEADING.match(heading)
        if found is None:
            continue
        section, node = found.groups()
        header = rows[0][1]
        assert header[:4] == ["key", *ENVIRONMENTS], f"configuration.md:{line}: header {header}"
        table: dict[str, list[str]] = {}
        for _, cells in rows[1:]:
            key = _BACKTICKED.findall(cells[0])[0]
            table[key] = [_BACKTICKED.findall(cell)[0] for cell in cells[1:4]]
            assert cells[4], f"configuration.md: `{section}.{key}` has no meaning"
        sections[(section, node)] = table
    return sections


def _environment_config(contract: dict[str, object]) -> dict[str, dict[str, dict[str, object]]]:
    config = contract.get("environment_config", {})
    assert isinstance(config, dict)
    return config


def test_every_contract_section_is_documented_once() -> None:
    documented = {section for section, _ in _documented_sections()}
    in_contracts = {section for c in _contracts().values() for section in _environment_config(c)}
    assert documented == in_contracts
    assert len(documented) == len(_documented_sections())


def test_documented_contract_values_equal_the_shipped_contracts() -> None:
    contracts = _contracts()
    for (section, node), table in _documented_sections().items():
        owners = [name for name, c in contracts.items() if section in _environment_config(c)]
        documented_owners = [n.strip() for n in node.split(",")]
        assert sorted(owners) == sorted(documented_owners), (
            f"{section}: documented for {node}, found in {owners}"
        )
        # Several owners: the table lists the union of their keys (in order), each with its values.
        assert list(table) == list(
            dict.fromkeys(k for o in owners for k in _environment_config(contracts[o])[section]["production"])
        ), f"{section}: the table's keys are not those of {owners}"
        for owner in owners:
            values = _environment_config(contracts[owner])[section]
            keys = list(values["production"])
            assert [k for k in table if k in keys] == keys, f"{section} ({owner}): keys differ"
            for key in keys:
                shipped = [_format(values[env][key]) for env in ENVIRONMENTS]
                assert table[key] == shipped, f"{section}.{key} ({owner}): documented {table[key]}"
