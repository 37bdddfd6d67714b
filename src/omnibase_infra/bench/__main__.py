"""``python -m omnibase_infra.bench``: see ``runner.main``."""

import sys

from omnibase_infra.bench.runner import main

sys.exit(main())
