"""deploy/Dockerfile: multi-stage, non-root, a healthcheck on /health, `onex-infra run`.

Docker is not available where the tests run, so the file is checked by reading it: the
stages, the user, the healthcheck's path and port, the entrypoint and command (parsed by the
real CLI parser), the ports, the variables, and that what it copies exists and is not
excluded from the build context.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from deploy_facts import DEPLOY, Instruction, cli_accepts, dockerfile_instructions, env_pairs, stages
from service_facts import REPO_ROOT, default_ports, environment_variables, health_routes

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
RUNTIME_VARIABLES = re.compile(r"^(PATH|PYTHON\w*|PIP_\w*)$")


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return dockerfile_instructions(DOCKERFILE)


@pytest.fixture(scope="module")
def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    return stages(instructions)[-1]


def _one(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {len(found)}"
    return found[0]


def test_multi_stage_and_the_runtime_copies_only_from_the_build(instructions: list[Instruction]) -> None:
    grouped = stages(instructions)
    assert len(grouped) >= 2
    names = []
    for stage in grouped:
        match = re.search(r"\s+AS\s+(\S+)$", stage[0].argument, flags=re.IGNORECASE)
        assert match, f"line {stage[0].line}: every stage is named"
        names.append(match.group(1))
    copies_from = {
        re.search(r"--from=(\S+)", i.argument).group(1)  # type: ignore[union-attr]
        for i in grouped[-1]
        if i.keyword == "COPY" and "--from=" in i.argument
    }
    assert copies_from and copies_from <= set(names[:-1])


def test_base_image_python_satisfies_requires_python(instructions: list[Instruction]) -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    minimum = tuple(int(p) for p in re.findall(r"\d+", project["requires-python"])[:2])
    args = {i.argument.split("=")[0]: i.argument.split("=", 1)[1] for i in instructions if i.keyword == "ARG"}
    images = [
        args.get(s[0].argument.split()[0].strip("${}"), s[0].argument.split()[0])
        for s in stages(instructions)
    ]
    for image in images:
        version = re.search(r"python:(\d+)\.(\d+)", image)
        assert version, f"{image} is not a python image"
        assert (int(version.group(1)), int(version.group(2))) >= minimum


def test_runs_as_a_non_root_user(final_stage: list[Instruction]) -> None:
    user = _one(final_stage, "USER").argument.split(":")[0]
    assert user not in ("root", "0")
    assert int(user) >= 1000, "a numeric uid lets Kubernetes check runAsNonRoot"


def test_healthcheck_requests_health_on_the_health_check_port(final_stage: list[Instruction]) -> None:
    healthcheck = _one(final_stage, "HEALTHCHECK")
    command = " ".join(Instruction("CMD", healthcheck.argument.split("CMD ", 1)[1], 0).exec_form())
    path = re.search(r"(/[a-z/]+)'", command)
    assert path and path.group(1) in health_routes()
    assert path.group(1) == "/health"
    assert "HEALTH_CHECK_PORT" in command
    assert f"'{default_ports()[0]}'" in command, "the fallback port is the settings' default"
    assert "--start-period=" in healthcheck.argument


def test_entrypoint_and_command_are_onex_infra_run(final_stage: list[Instruction]) -> None:
    entrypoint = _one(final_stage, "ENTRYPOINT").exec_form()
    command = _one(final_stage, "CMD").exec_form()
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert entrypoint == ["onex-infra"] and "onex-infra" in scripts
    assert command == ["run"]
    assert cli_accepts(command)
    assert _one(final_stage, "STOPSIGNAL").argument == "SIGTERM"


def test_exposed_ports_are_the_service_ports(final_stage: list[Instruction]) -> None:
    exposed = [int(p) for p in _one(final_stage, "EXPOSE").argument.split()]
    assert exposed == list(default_ports())
    env = {k: v for i in final_stage if i.keyword == "ENV" for k, v in env_pairs(i.argument).items()}
    assert (int(env["HEALTH_CHECK_PORT"]), int(env["PROMETHEUS_METRICS_PORT"])) == default_ports()


def test_environment_names_are_service_variables(final_stage: list[Instruction]) -> None:
    names = {k for i in final_stage if i.keyword == "ENV" for k in env_pairs(i.argument)}
    service = {n for n in names if not RUNTIME_VARIABLES.match(n)}
    assert service and service <= environment_variables()


def test_copied_sources_exist_and_are_in_the_build_context(instructions: list[Instruction]) -> None:
    ignore = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    allowed = {line[1:].removesuffix("/**") for line in ignore if line.startswith("!")}
    assert "**" in ignore, "the context is an allow-list"
    for instruction in instructions:
        if instruction.keyword != "COPY" or "--from=" in instruction.argument:
            continue
        sources = instruction.argument.split()[:-1]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"line {instruction.line}: {source} does not exist"
            assert source.rstrip("/") in allowed, (
                f"line {instruction.line}: {source} is excluded by the dockerignore"
            )
