"""Version 1.0.0 of the message_aggregator node: contract.yaml, models.py, node.py."""
