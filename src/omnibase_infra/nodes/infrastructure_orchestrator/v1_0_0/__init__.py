"""Version 1.0.0 of the infrastructure_orchestrator node: contract.yaml, models.py, node.py."""
