"""Demo traffic for a local run (``scripts/run``); see ``demo.producer``."""
