"""``python -m omnibase_infra``: the same command line as ``onex-infra``."""

import sys

from omnibase_infra.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
