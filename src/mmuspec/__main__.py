import sys

from mmuspec.cli import main

sys.exit(main())
