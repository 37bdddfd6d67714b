"""The performance benchmark of the service (``scripts/bench``); see docs/performance.md.

Nothing here is imported by the service: the package is only loaded by
``python -m omnibase_infra.bench``.
"""
