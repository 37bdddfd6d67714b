"""onex-field-dropper: a third-party ONEX node for omnibase_infra workflows (see node.py)."""
