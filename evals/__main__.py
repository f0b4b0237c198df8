"""``python -m evals`` prints the eval table (see :mod:`evals.run`)."""

import sys

from evals.run import main

sys.exit(main())
