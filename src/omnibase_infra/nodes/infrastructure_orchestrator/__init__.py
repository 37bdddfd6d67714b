"""The infrastructure_orchestrator node (see v1_0_0/contract.yaml)."""
