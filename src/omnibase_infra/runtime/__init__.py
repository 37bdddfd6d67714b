"""The host of the nodes: it runs no workflow step itself.

``node_host`` hosts the node group (loaded through the registry, initialised in the
omnibase-core container); ``service_components`` is the composition root (the hosted nodes
plus metrics, audit and the health monitor); ``service`` starts and stops it all (``onex-infra
run``) with ``service_tasks`` and ``credential_rotation``; ``service_observers`` connects
the nodes to metrics, audit and the HTTP endpoints; ``process_services`` holds the process's
components for the original guide's entry points.
"""
