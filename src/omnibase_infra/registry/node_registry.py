"""``NodeRegistry``: register and look up nodes by name and version.

A (name, version) is registered once; looking up without a version gives the
highest. Listing never imports node classes; ``load_class`` does, on request.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from omnibase_infra.registry.model_node_registration import ModelNodeRegistration


class DuplicateNodeError(ValueError):
    """The (name, version) is already registered."""


class NodeRegistry:
    """An in-memory registry of nodes."""

    def __init__(self, registrations: Iterable[ModelNodeRegistration] = ()) -> None:
        self._by_key: dict[tuple[str, tuple[int, ...]], ModelNodeRegistration] = {}
        for registration in registrations:
            self.register(registration)

    def register(self, registration: ModelNodeRegistration) -> None:
        """Add a node; ``DuplicateNodeError`` if its name and version are taken."""
        if registration.key in self._by_key:
            existing = self._by_key[registration.key].entry_point
            raise DuplicateNodeError(
                f"node {registration.name} {registration.version} is already registered ({existing})"
            )
        self._by_key[registration.key] = registration

    def find(self, name: str, version: str | None = None) -> ModelNodeRegistration | None:
        """The node by name (highest version unless ``version`` is given), or None."""
        matches = [
            r for r in self._by_key.values() if r.name == name and (version is None or r.version == version)
        ]
        return max(matches, key=lambda r: r.key) if matches else None

    def get(self, name: str, version: str | None = None) -> ModelNodeRegistration:
        """Like ``find``; ``KeyError`` when absent."""
        found = self.find(name, version)
        if found is None:
            raise KeyError(f"no node {name!r}" + (f" version {version}" if version else ""))
        return found

    def list(self) -> tuple[ModelNodeRegistration, ...]:
        """Every registration, by name then version."""
        return tuple(self._by_key[key] for key in sorted(self._by_key))

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, name: object) -> bool:
        return any(r.name == name for r in self._by_key.values())

    def load_class(self, name: str, version: str | None = None) -> type[object]:
        """Import and return the node class (this is where omnibase-core's node classes load)."""
        registration = self.get(name, version)
        module_name, _, attribute = registration.entry_point.partition(":")
        node_class = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(node_class, type):
            raise TypeError(f"{registration.entry_point} is not a class")
        return node_class


__all__ = ["DuplicateNodeError", "NodeRegistry"]
