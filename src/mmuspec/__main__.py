import sys

from mmuspec.command import run

sys.exit(run())
