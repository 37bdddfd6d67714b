"""Loads and validates the whole contract set: shipped contracts plus extra files.

``check_contracts`` returns a report (and the set when it is valid); the CLI prints
it. ``load_contract_set`` is the startup path: the same validation, and a
``ContractError`` naming every problem (file, key path, reason) when anything is wrong.
Extra paths are files or folders; callers pass ``settings.extra_contract_paths``
(ONEX_CONTRACTS_PATH) and any ``--contracts`` arguments (``discovery.combined_extra_paths``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omnibase_infra.contract_validation.contract_set import ContractSet, LoadedComposition, LoadedNodeContract
from omnibase_infra.contract_validation.cross_checks import ResolvedNodes, cross_check
from omnibase_infra.contract_validation.discovery import (
    ContractSource,
    expand_extra_paths,
    shipped_sources,
)
from omnibase_infra.contract_validation.file_validation import ValidatedFile, validate_file
from omnibase_infra.contract_validation.problems import (
    ModelCheckReport,
    ModelCheckSummary,
    ModelContractProblem,
    ModelFileReport,
    sort_problems,
)


def _file_report(f: ValidatedFile) -> ModelFileReport:
    return ModelFileReport(
        file=f.file,
        kind=f.kind,
        name=f.raw_name,
        origin=f.source.origin,
        problems=sort_problems(f.problems),
    )


def _build_set(files: Sequence[ValidatedFile], nodes: ResolvedNodes) -> ContractSet:
    loaded: list[LoadedNodeContract] = []
    for f in nodes.winners.values():
        if f.node is None:
            continue
        operations = list(f.node.operations)
        op_files = {op.name: f.file for op in operations}
        for extra in files:
            if (
                extra.kind == "operations"
                and extra.operations_file is not None
                and extra.raw_name == f.node.name
            ):
                operations.extend(extra.operations_file.operations)
                op_files.update({op.name: extra.file for op in extra.operations_file.operations})
        loaded.append(
            LoadedNodeContract(
                path=str(f.source.path),
                origin=f.source.origin,
                document=f.node,
                operations=tuple(operations),
                operation_files=op_files,
            )
        )
    compositions = [
        LoadedComposition(path=str(f.source.path), origin=f.source.origin, document=f.composition)
        for f in files
        if f.composition is not None
    ]
    return ContractSet(nodes=tuple(loaded), compositions=tuple(compositions))


def check_contracts(
    extra_paths: Sequence[str | Path] = (),
    *,
    validate_core: bool = True,
    nodes_root: Path | None = None,
) -> tuple[ModelCheckReport, ContractSet | None]:
    """Validate the shipped contracts plus ``extra_paths``; the set is returned only when valid.

    ``validate_core=False`` skips omnibase-core's models (about 1 s to import); listing
    commands use it, startup and ``contracts check`` do not.
    """
    sources: list[ContractSource] = shipped_sources() if nodes_root is None else shipped_sources(nodes_root)
    expanded = expand_extra_paths(extra_paths)
    sources.extend(expanded.sources)
    files = [validate_file(source, validate_core=validate_core) for source in sources]
    nodes = cross_check(files)
    reports = [_file_report(f) for f in files]
    for path in expanded.missing:
        problem = ModelContractProblem(file=path, key_path="", reason="no such file or folder", stage="read")
        reports.append(ModelFileReport(file=path, kind="unknown", origin="extra", problems=(problem,)))
    valid = all(r.valid for r in reports)
    contract_set = _build_set(files, nodes) if valid else None
    summary = ModelCheckSummary(
        nodes=len(contract_set.nodes) if contract_set else 0,
        operations=sum(len(n.operations) for n in contract_set.nodes) if contract_set else 0,
        workflows=len(contract_set.workflows) if contract_set else 0,
        topics=len(contract_set.declared_topics) if contract_set else 0,
    )
    report = ModelCheckReport(
        valid=valid,
        files=tuple(reports),
        summary=summary,
        core_validation=validate_core,
        notes=tuple(nodes.overrides),
    )
    return report, contract_set


def load_contract_set(extra_paths: Sequence[str | Path] = (), *, validate_core: bool = True) -> ContractSet:
    """Every contract, validated; raises ``ContractError`` listing all problems otherwise."""
    report, contract_set = check_contracts(extra_paths, validate_core=validate_core)
    if contract_set is None:
        raise report.to_error()
    return contract_set


__all__ = ["check_contracts", "load_contract_set"]
