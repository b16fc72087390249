"""Imported by the command line before numpy: numpy's OpenBLAS otherwise starts a thread
per core that spins after each call, taking CPU from the search and its workers on a
small machine, and nothing mmuspec does multiplies matrices.  Worker processes inherit
the setting.  An explicit OPENBLAS_NUM_THREADS wins."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
