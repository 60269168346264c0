"""``python -m rnnstudio``: the command line."""

import sys

from rnnstudio.cli import main

sys.exit(main())
