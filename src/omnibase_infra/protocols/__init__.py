"""Protocols the nodes resolve from the container (by type, never by string name).

Each protocol lives in its own module; node-specific handler protocols live with
their node (``nodes/<node>/v1_0_0/protocols.py``).
"""
