"""What nodes and the orchestrator share to run a composition workflow step by step.

``operations``: how a node declares the operations a step may name (``@operation``)
and what a step receives besides its payload (``StepContext``). ``payloads``: the
typed payloads that flow from step to step. Nodes import this package, never each
other; the orchestrator binds each step to the operation of the node it names.
"""
