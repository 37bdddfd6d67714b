"""What validation reports: problems that name the file, the key path and the reason.

Key paths are dotted, with list positions in brackets:
``environment_config.circuit_breaker.production.failure_threshold``,
``operations[2].sql``. The empty path means the document itself. The report models
are what ``onex-infra contracts check --json`` prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.errors import ContractError

Stage = Literal["read", "yaml", "schema", "core", "cross_check", "class"]
"""Where a problem was found: reading the file, parsing YAML, the JSON Schema (and the
typed models), omnibase-core's contract models, the checks across contracts, or the
comparison of steps with the node classes' ``@operation`` methods."""

ContractKind = Literal["node", "operations", "composition", "unknown"]

Origin = Literal["shipped", "entry_point", "extra"]
"""Where a contract file came from: the package, beside the module of a third-party node's
``onex.nodes`` entry point, or an extra path (ONEX_CONTRACTS_PATH, ``--contracts``)."""

PathPart = str | int


def format_key_path(parts: Iterable[PathPart]) -> str:
    """``("operations", 2, "sql")`` -> ``operations[2].sql``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def is_within(path: str, ancestor: str) -> bool:
    """True when ``path`` is ``ancestor`` or lies below it."""
    if not ancestor:
        return True
    return path == ancestor or path.startswith((ancestor + ".", ancestor + "["))


class ModelContractProblem(BaseModel):
    """One problem in one file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    key_path: str = Field(description="dotted key path; empty for the whole document")
    reason: str
    stage: Stage
    line: int | None = Field(default=None, ge=1, description="1-based line of the key, when known")

    def render(self) -> str:
        """``file:line: key.path: reason`` for humans."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key_path or '<document>'}: {self.reason}"


class ModelFileReport(BaseModel):
    """Every problem of one file, and what the file is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    kind: ContractKind
    name: str | None = None
    origin: Origin
    problems: tuple[ModelContractProblem, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


class ModelCheckSummary(BaseModel):
    """Counts over the validated set (meaningful when the report is valid)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: int = Field(ge=0)
    operations: int = Field(ge=0)
    workflows: int = Field(ge=0)
    topics: int = Field(ge=0)


class ModelCheckReport(BaseModel):
    """The outcome of validating a set of contract files; ``valid`` decides the exit code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    valid: bool
    files: tuple[ModelFileReport, ...]
    summary: ModelCheckSummary
    core_validation: bool = Field(description="omnibase-core ModelContract* validation was run")
    class_validation: bool = Field(
        default=False, description="the steps' operations were compared with the node classes' @operation"
    )
    notes: tuple[str, ...] = ()

    @property
    def problems(self) -> tuple[ModelContractProblem, ...]:
        return tuple(p for f in self.files for p in f.problems)

    def to_error(self) -> ContractError:
        """The ``ContractError`` startup raises for this report."""
        return ContractError([(p.file, p.key_path, p.reason) for p in self.problems])


def sort_problems(problems: Sequence[ModelContractProblem]) -> tuple[ModelContractProblem, ...]:
    """Stable order: by line (unknown last), then key path; duplicates removed."""
    unique = dict.fromkeys(problems)
    return tuple(sorted(unique, key=lambda p: (p.line is None, p.line or 0, p.key_path)))


__all__ = [
    "ContractKind",
    "ModelCheckReport",
    "ModelCheckSummary",
    "ModelContractProblem",
    "ModelFileReport",
    "Origin",
    "PathPart",
    "Stage",
    "format_key_path",
    "is_within",
    "sort_problems",
]
