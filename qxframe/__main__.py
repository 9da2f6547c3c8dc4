"""``python -m qxframe …``: the same as the ``qxframe`` command."""

import sys

from qxframe.cli import main

sys.exit(main())
