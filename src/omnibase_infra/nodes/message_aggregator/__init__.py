"""The message_aggregator node (see v1_0_0/contract.yaml)."""
