"""Version 1.0.0 of the group_gateway node: contract.yaml, node.py and the modules it owns."""
