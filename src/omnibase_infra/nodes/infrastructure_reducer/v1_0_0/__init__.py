"""Version 1.0.0 of the infrastructure_reducer node: contract.yaml, models.py, node.py."""
