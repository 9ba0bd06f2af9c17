"""``python -m meshnb``: the ``meshnb`` command (see :func:`meshnb.cli.main`)."""

import sys

from meshnb.cli import main

sys.exit(main())
