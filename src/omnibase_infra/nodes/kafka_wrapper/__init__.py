"""The kafka_wrapper node (version folders below)."""
