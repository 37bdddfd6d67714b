"""The group_gateway node (version folders below)."""
