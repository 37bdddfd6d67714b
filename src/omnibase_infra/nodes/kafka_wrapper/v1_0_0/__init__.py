"""Version 1.0.0 of the kafka_wrapper node: contract.yaml, node.py and the modules it owns."""
