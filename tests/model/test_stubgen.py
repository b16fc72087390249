"""mypy sees the model's helpers: every registered step and helper is a typed method of
``Kernel`` for type checkers (``model/kernel_functions.py``, generated)."""

from pathlib import Path

import pytest

from mmuspec.model import stubgen


def test_the_typed_methods_are_generated_from_the_registered_functions():
    assert stubgen.TARGET.read_text(encoding="utf-8") == stubgen.render(), \
        "run: python -m mmuspec.model.stubgen"


def test_mypy_catches_a_misspelled_helper_and_a_wrong_number_of_arguments(tmp_path: Path):
    api = pytest.importorskip("mypy.api")
    snippet = tmp_path / "step.py"
    snippet.write_text(
        "from mmuspec.model.kernel import Kernel\n\n\n"
        "def my_step(k: Kernel, s: bytearray, t: int) -> None:\n"
        "    k.acess_done(s, t)\n"
        "    k.access_done(s, t, 7)\n",
        encoding="utf-8",
    )
    out, _, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent", str(snippet)])
    assert status == 1
    assert '"Kernel" has no attribute "acess_done"' in out
    assert 'Too many arguments for "access_done" of "KernelFunctions"' in out
