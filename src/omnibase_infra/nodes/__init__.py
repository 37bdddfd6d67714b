"""The five ONEX nodes. Each ``<node>/v<M>_<m>_<p>/`` folder holds ``contract.yaml``,
``models.py`` and ``node.py``; nodes never import each other. Importing these
packages is cheap: only ``node.py`` imports omnibase-core's node classes.
"""
