"""The ``onex-infra`` command line. ``main`` imports each command's module only when it runs."""
