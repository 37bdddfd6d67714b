"""Loads and validates the whole contract set: shipped, installed third-party and extra contracts.

``check_contracts`` returns a report (and the set when it is valid); the CLI prints
it. ``load_contract_set`` is the startup path: the same validation, and a
``ContractError`` naming every problem (file, key path, reason) when anything is wrong.
Extra paths are files or folders; callers pass ``settings.extra_contract_paths``
(ONEX_CONTRACTS_PATH) and any ``--contracts`` arguments (``discovery.combined_extra_paths``).
Third-party nodes (``onex.nodes`` entry points outside this package) contribute the
``contract.yaml`` beside their module.

Once every file passes, the steps are compared with the node classes' ``@operation``
methods (``class_checks``): that imports the node classes, so it runs with the core
validation (``validate_core``) unless ``check_classes`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib.metadata import EntryPoint
from pathlib import Path

from omnibase_infra.contract_validation.class_checks import (
    NodeClassSource,
    check_step_operations_against_classes,
)
from omnibase_infra.contract_validation.contract_set import ContractSet, LoadedComposition, LoadedNodeContract
from omnibase_infra.contract_validation.cross_checks import ResolvedNodes, cross_check
from omnibase_infra.contract_validation.discovery import (
    ContractSource,
    entry_point_sources,
    expand_extra_paths,
    installed_entry_points,
    installed_nodes,
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


def _with_class_problems(files: Sequence[ValidatedFile], problems: Sequence[ModelContractProblem]) -> None:
    """Add the class check's problems to their files, with the line of their key."""
    by_file = {f.file: f for f in files}
    for problem in problems:
        owner = by_file.get(problem.file)
        if owner is None:
            continue
        line = owner.yaml.line_of(problem.key_path) if owner.yaml is not None else None
        owner.problems.append(problem.model_copy(update={"line": line}))


def check_contracts(
    extra_paths: Sequence[str | Path] = (),
    *,
    validate_core: bool = True,
    nodes_root: Path | None = None,
    check_classes: bool | None = None,
    entry_points: Iterable[EntryPoint] | None = None,
    registry: NodeClassSource | None = None,
) -> tuple[ModelCheckReport, ContractSet | None]:
    """Validate the shipped and installed contracts plus ``extra_paths``; the set only when valid.

    ``validate_core=False`` skips omnibase-core's models (about 1 s to import); listing
    commands use it, startup and ``contracts check`` do not. ``check_classes`` (default:
    ``validate_core``) compares the steps with the node classes (imports them).
    ``entry_points`` replaces the installed ``onex.nodes`` entry points and ``registry``
    the registry they fill (both for tests).
    """
    # One scan of the installed distributions serves the contracts' discovery and the class
    # check (each scan reads every distribution's metadata).
    points = installed_entry_points() if entry_points is None else tuple(entry_points)
    installed = installed_nodes(points)
    sources: list[ContractSource] = shipped_sources() if nodes_root is None else shipped_sources(nodes_root)
    sources.extend(entry_point_sources(installed))
    expanded = expand_extra_paths(extra_paths)
    sources.extend(expanded.sources)
    files = [validate_file(source, validate_core=validate_core) for source in sources]
    nodes = cross_check(files, installed)
    run_class_check = validate_core if check_classes is None else check_classes
    valid = all(not f.problems for f in files) and not expanded.missing
    contract_set = _build_set(files, nodes) if valid else None
    classes_checked = contract_set is not None and run_class_check
    if contract_set is not None and run_class_check:
        class_problems = check_step_operations_against_classes(contract_set, registry, entry_points=points)
        _with_class_problems(files, class_problems)
        if class_problems:
            contract_set = None
    reports = [_file_report(f) for f in files]
    for path in expanded.missing:
        problem = ModelContractProblem(file=path, key_path="", reason="no such file or folder", stage="read")
        reports.append(ModelFileReport(file=path, kind="unknown", origin="extra", problems=(problem,)))
    valid = all(r.valid for r in reports)
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
        class_validation=classes_checked,
        notes=tuple(nodes.overrides),
    )
    return report, contract_set


def load_contract_set(
    extra_paths: Sequence[str | Path] = (),
    *,
    validate_core: bool = True,
    check_classes: bool | None = None,
    entry_points: Iterable[EntryPoint] | None = None,
    registry: NodeClassSource | None = None,
) -> ContractSet:
    """Every contract, validated; raises ``ContractError`` listing all problems otherwise."""
    report, contract_set = check_contracts(
        extra_paths,
        validate_core=validate_core,
        check_classes=check_classes,
        entry_points=entry_points,
        registry=registry,
    )
    if contract_set is None:
        raise report.to_error()
    return contract_set


__all__ = ["check_contracts", "load_contract_set"]
