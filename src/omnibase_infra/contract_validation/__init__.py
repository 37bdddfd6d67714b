"""Executable contracts: loading, validating and exposing the node and composition contracts.

Importing this package is cheap. The public entry points live in their modules:

- ``loader.load_contract_set(extra_paths)``: everything validated, or ``ContractError``.
- ``loader.check_contracts(extra_paths)``: the same validation, as a report for the CLI.
- ``contract_set.ContractSet`` / ``LoadedNodeContract``: the typed result the runtime consumes.
- ``composition_checks``: every step of every workflow is executable (node installed, step
  operation, payload types, records roles, topics); ``cross_checks`` runs it with the rest.
- ``class_checks.check_step_operations_against_classes(contract_set, registry)``: each step's
  operation is an ``@operation`` of its node class with the contract's payload classes, and
  each capability without ``input`` names a public method of its node class (imports the
  node classes; the loader runs it with core validation).
- ``discovery``: shipped contracts, third-party ones beside their ``onex.nodes`` module, extras.

omnibase-core's ``ModelContract*`` models (about 1 s to import) are imported only by
``core_validation`` and only when core validation runs.
"""
