"""``python -m benchmark`` is the ``fsmb`` command."""

import sys

from benchmark.cli.main import main

sys.exit(main())
