"""Real kernels of other eras under qemu: build, boot, and read what they print.

The lab sees the host's kernel only.  This package builds small kernels from the Debian
source packages (``linux-source-6.1``, which still has ``.change_pte()``, and
``linux-source-6.12``, which does not), boots them under ``qemu-system-x86_64`` with an
initramfs holding the lab's VMM and the reproducers, and parses what they print on
their serial ports.  Builds and boots are cached and never part of ``make test``; the
logic around them (config generation, cpio, result parsing) is tested on recorded
outputs in ``tests/emulate/fixtures``.
"""
