"""``python -m sensorwatch.cli``: the same as the ``sensorwatch`` command."""

import sys

from sensorwatch.cli import main

sys.exit(main())
