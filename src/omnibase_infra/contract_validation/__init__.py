"""Executable contracts: loading, validating and exposing the node and composition contracts.

Importing this package is cheap. The public entry points live in their modules:

- ``loader.load_contract_set(extra_paths)``: everything validated, or ``ContractError``.
- ``loader.check_contracts(extra_paths)``: the same validation, as a report for the CLI.
- ``contract_set.ContractSet`` / ``LoadedNodeContract``: the typed result the runtime consumes.

omnibase-core's ``ModelContract*`` models (about 1 s to import) are imported only by
``core_validation`` and only when core validation runs.
"""
