"""The infrastructure_reducer node (see v1_0_0/contract.yaml)."""
