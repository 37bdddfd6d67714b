"""The node registry: nodes by name and version, with kind and contract, from ``onex.nodes``."""
