"""Version 1.0.0 of the vault_adapter node: contract.yaml, models.py, node.py."""
