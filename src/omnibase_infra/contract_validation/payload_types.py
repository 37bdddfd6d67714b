"""The payload classes capabilities name (``input`` / ``output``), resolved by import.

A capability's ``input`` and ``output`` are ``module.Class`` paths; ``contracts check``
imports the module and looks the class up, so a typo or a moved class fails validation,
not the first batch. ``same`` is not a class: the operation returns the type it was given.
A run of a workflow starts with ``ConsumedBatch`` (``trigger: records``) or ``Tick``
(``repeat``, ``interval``). Imports happen when a check runs, never when this module loads.
"""

from __future__ import annotations

import importlib

from omnibase_infra.contract_validation.model_contract_sections import SAME_AS_INPUT

PAYLOADS_MODULE = "omnibase_infra.workflow.payloads"
RECORDS_START = f"{PAYLOADS_MODULE}.ConsumedBatch"
"""What a ``trigger: records`` run starts with: the records of one poll."""
TICK_START = f"{PAYLOADS_MODULE}.Tick"
"""What a ``repeat`` or ``interval`` run starts with."""
EVENT_BATCH = f"{PAYLOADS_MODULE}.EventBatch"
"""A records workflow whose payload becomes one of these carries events (not commands)."""


def start_payload(trigger: str) -> str:
    """The class path of the payload a run of a workflow with ``trigger`` starts with."""
    return RECORDS_START if trigger == "records" else TICK_START


class ClassResolver:
    """Resolves ``module.Class`` paths, each once per check (the answer or the reason)."""

    def __init__(self) -> None:
        self._cache: dict[str, type[object] | str] = {}

    def resolve(self, path: str) -> type[object] | str:
        """The class at ``path``, or why there is none (a string)."""
        if path not in self._cache:
            self._cache[path] = _resolve(path)
        return self._cache[path]

    def require(self, path: str) -> type[object]:
        """The class at ``path``; ``LookupError`` with the reason when there is none."""
        found = self.resolve(path)
        if isinstance(found, str):
            raise LookupError(found)
        return found


def _resolve(path: str) -> type[object] | str:
    if path == SAME_AS_INPUT:
        return "'same' is not a class"
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        return f"{path!r} is not a module.Class path"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        return f"cannot import {path}: no module named {error.name or module_name}"
    except Exception as error:  # an import that raises is reported, not propagated
        return f"cannot import {path}: importing {module_name} failed ({type(error).__name__}: {error})"
    found = getattr(module, attribute, None)
    if found is None:
        return f"cannot import {path}: module {module_name} has no {attribute}"
    if not isinstance(found, type):
        return f"{path} is not a class"
    return found


def class_label(cls: type[object]) -> str:
    """How problems name a payload class: its name, qualified when it is not one of ours."""
    if cls.__module__ == PAYLOADS_MODULE:
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


__all__ = [
    "EVENT_BATCH",
    "PAYLOADS_MODULE",
    "RECORDS_START",
    "TICK_START",
    "ClassResolver",
    "class_label",
    "start_payload",
]
