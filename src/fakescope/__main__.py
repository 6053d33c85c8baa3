"""``python -m fakescope`` runs the command line."""

import sys

from fakescope.cli import main

sys.exit(main())
