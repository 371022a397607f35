"""``python -m automl`` runs the command line."""

import sys

from automl.cli import main

sys.exit(main())
