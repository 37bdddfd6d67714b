"""omnibase_infra: ONEX infrastructure nodes joining a Kafka event bus to PostgreSQL.

Importing this package is cheap: it imports no adapter, no OpenTelemetry SDK
and no omnibase-core node class. The runtime's composition root does that.

``__version__`` is the installed distribution's version: pyproject.toml is its only
source (a source tree that was never installed reports ``0+unknown``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("omnibase_infra")
except PackageNotFoundError:  # imported from a source tree that pip never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
