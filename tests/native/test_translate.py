"""The translator keeps Python's meaning, and refuses what it does not know."""

import ctypes

import pytest

from mmuspec.model import parse_variant
from mmuspec.native import build
from mmuspec.native.search import load
from mmuspec.native.translate import TranslateError, Translator
from tests.helpers import kernel, spec


def translate(fn, model=None):
    from mmuspec.model.registry import FUNCTIONS

    tr = Translator(model or kernel("zap", "5.13"), {**FUNCTIONS, fn.__name__: fn})
    return tr.funcs[tr.request(fn.__name__, fn)].c


def test_or_returns_an_operand_and_evaluates_it_once():
    def pick(k, s: bytes, a: int, b: int) -> int:
        return k.kvm_unmap_gfn_range(s, a) or b

    code = translate(pick)
    assert code.count("f_kvm_unmap_gfn_range(") == 1 and "?" in code


def test_floor_division_and_modulo_keep_pythons_signs():
    def f(k, a: int, b: int) -> int:
        return a // b + a % b

    code = translate(f)
    assert "pyfloordiv" in code and "pymod" in code


def test_an_unknown_construct_is_refused_with_its_file_and_line():
    def f(k, s: bytes) -> int:
        return sorted([x for x in range(3)]).pop()

    with pytest.raises(TranslateError) as info:
        translate(f)
    line = f.__code__.co_firstlineno + 1
    assert str(info.value).startswith(f"{__file__}:{line}: f: ") and "is not supported" in str(info.value)


def test_a_value_only_an_events_text_uses_may_stay_untranslated():
    def f(k, s: bytes, t: int) -> None:
        who = k.threads[t].name
        k.fire(1, lambda: f"{who} did it")

    assert "EV |= (uint64_t)(1)" in translate(f)


def test_a_variant_the_translator_cannot_read_runs_in_the_interpreter_and_says_why():
    from dataclasses import replace

    from mmuspec.checking import run_check

    text = "def mmu_notifier_retry(k, s, mmu_seq):\n    return any([s[k.L.SEQ] != mmu_seq])\n"
    the_spec = replace(spec("zap", "5.13", "arch=arm64"), variant=parse_variant(text, "lists.py"))
    _, result = run_check(the_spec)
    assert result.engine == "interpreted"
    assert "lists.py:2" in result.engine_note


def test_without_a_c_compiler_the_interpreter_runs_and_says_so(monkeypatch, tmp_path):
    from mmuspec.checking import run_check
    from mmuspec.native import search

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(build, "compiler", lambda: None)
    monkeypatch.setattr(search, "_BUILT", {})  # as a new process would start
    _, result = run_check(spec("zap", "5.13"))
    assert result.engine == "interpreted" and "no C compiler" in result.engine_note
    with pytest.raises(Exception, match="no C compiler"):
        run_check(spec("zap", "5.13"), engine="compiled")


def test_a_store_out_of_0_to_255_stops_the_compiled_core_as_it_stops_the_model():
    text = ("from mmuspec.model.guest import guest_access as _g\n"
            "def guest_access(k, s, t, arg):\n    s[k.L.COUNT] = 300\n    _g(k, s, t, arg)\n")
    from dataclasses import replace

    k = replace(spec("zap", "5.13"), variant=parse_variant(text, "big.py")).kernel()
    native = load(k)
    from mmuspec.native.search import NativeError

    with pytest.raises(NativeError, match=r"out of 0\.\.255"):
        native.successors(k.initial(), canonical=False)


def test_the_library_is_cached_and_shared_by_configurations(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = build.compile_model(kernel("zap", "5.13"))
    again = build.compile_model(kernel("zap", "6.10", "arch=arm64"))
    assert not first.cached and again.cached and first.path == again.path
    assert isinstance(first.lib, ctypes.CDLL)


def test_an_unchanged_model_loads_its_library_without_translating_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = build.compile_model(kernel("zap", "5.13"))

    def refuse(_kernel):
        raise AssertionError("translated although the manifest names a library for this source")

    monkeypatch.setattr(build, "generate", refuse)
    again = build.compile_model(kernel("zap", "6.10", "arch=arm64"))
    assert again.cached and again.path == first.path and again.slots == first.slots


def test_a_manifest_whose_library_is_gone_sends_the_build_back_to_the_translator(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = build.compile_model(kernel("zap", "5.13"))
    first.path.unlink()
    again = build.compile_model(kernel("zap", "5.13"))
    assert not again.cached and again.path.exists()


def test_a_variant_has_a_manifest_of_its_own(tmp_path, monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    plain = kernel("zap", "5.13")
    text = "from mmuspec.model.guest import guest_access as _g\ndef guest_access(k, s, t, arg):\n    _g(k, s, t, arg)\n"
    patched = replace(spec("zap", "5.13"), variant=parse_variant(text, "same.py")).kernel()
    assert build.source_key(plain) != build.source_key(patched)
