"""omnibase_infra: ONEX infrastructure nodes joining a Kafka event bus to PostgreSQL.

Importing this package is cheap: it imports no adapter, no OpenTelemetry SDK
and no omnibase-core node class. The runtime's composition root does that.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
