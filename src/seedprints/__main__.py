"""``python -m seedprints``: the same command line as ``seedprints``."""

import sys

from seedprints.cli import main

sys.exit(main())
