"""Version 1.0.0 of the postgres_adapter node: contract.yaml, models.py, node.py."""
