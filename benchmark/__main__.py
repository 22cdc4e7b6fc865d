"""``python -m benchmark`` is the ``fsmb`` command."""

import sys

from benchmark.cli import main

sys.exit(main())
