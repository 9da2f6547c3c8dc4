"""``python -m qxframe.cli …``: the same as the ``qxframe`` command."""

import sys

from qxframe.cli import main

if __name__ == "__main__":
    sys.exit(main())
