import sys

from meshnb.cli import main

sys.exit(main())
