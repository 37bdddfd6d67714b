"""Version 1.0.0 of the kafka_adapter node: contract.yaml, models.py, node.py."""
