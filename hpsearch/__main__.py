"""``python -m hpsearch``: the CLI, for an environment whose scripts are not on PATH (a job's)."""

import sys

from hpsearch.cli import main

sys.exit(main())
