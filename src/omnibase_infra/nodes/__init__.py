"""The service's eight ONEX nodes, one package each, registered as ``onex.nodes`` entry points:
group_gateway, infrastructure_orchestrator, infrastructure_reducer, kafka_adapter,
kafka_wrapper, message_aggregator, postgres_adapter and vault_adapter.

Each ``<node>/v<M>_<m>_<p>/`` folder holds ``contract.yaml``, ``node.py`` (the node class)
and the node's own modules (its models, its operations). Nodes never import each other:
what they share lives in ``omnibase_infra.workflow``, ``models`` and ``protocols``, and a
node gets its collaborators from the container by protocol type. Importing these packages
is cheap: only the ``node.py`` modules import omnibase-core's node classes.
"""
