"""The real kernel in the loop: real KVM guests on the running kernel (``vmm.c``), the
host settings a run needs and their restoration, the run's trace, and what it measured."""
