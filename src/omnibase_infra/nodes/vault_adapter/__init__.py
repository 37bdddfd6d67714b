"""The vault_adapter node (see v1_0_0/contract.yaml)."""
