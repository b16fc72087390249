"""Python to C: the model's step functions, translated for the compiled search core.

The model stays the one specification: this module reads the Python source of every
step, guard and helper the model's tables reach (``inspect`` + ``ast``) and writes C
that does the same thing to the same bytes.  It accepts the small, plain subset the
model is written in (integers, the state ``s`` as a byte array, attributes of the model
object ``k`` that are data, calls to other model functions, ``if``/``for``/``return``)
and refuses anything else with a ``TranslateError`` naming the file and line, in which
case the interpreted engine runs instead.

What the model object holds is data read at run time, not constants: the C is generic
over scenarios, eras and arches (one build serves them all) and its attributes are
packed into one int32 array, ``KD``, by ``pack()``.  Every generated function takes the
calling context ``cx`` first (``KD``, ``W``, ``EV`` and ``ERR`` are its fields), so that one
process holds many configurations and expands states in many threads at once.  The translator only needs the
*shape* of each attribute (scalar, string, array of ints, array of tuples, ragged list
of arrays), which it reads off the instance it is given.

Semantics kept exactly: Python's ``and``/``or`` return one of their operands, and a
store into the state outside 0..255 raises (here: sets ``ERR``), as ``bytearray`` does.
``k.fire(bit, ...)`` ors the bit into ``EV``; the text of an event and ``k.say()`` are
for traces only, which the Python model replays, so they are dropped.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mmuspec.native.shapes import (
    ARRAY,
    RAGGED,
    SCALAR,
    STRING,
    TranslateError,
    shape_at,
)

KERNEL_METHODS = ("thread_finished", "all_done", "final_data_check")
VARIANT_MODULE = "mmuspec_variant"  # model.binding's name for a variant's module
ERR_LOOP = 5  # the compiled core's error: a variant's loop ran out of VBUDGET
LOOP_BUDGET = 100_000_000  # loop iterations of a variant's code in one step


@dataclass(frozen=True)
class Ty:
    """The type of a C expression: an int, a tuple of ints, the state, the model object, or
    a piece of the model object's data (``kind`` and ``path``)."""

    kind: str  # "int", "tuple", "state", "k", "data", "none"
    n: int = 1
    path: tuple[str, ...] = ()


INT, NONE, STATE, KOBJ = Ty("int"), Ty("none"), Ty("state"), Ty("k")


@dataclass
class Slot:
    index: int
    kind: str
    arity: int = 1


@dataclass
class Func:
    name: str
    fn: Callable[..., Any]
    returns: Ty = INT
    params: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    takes_model: bool = True
    c: str = ""


def takes_model(tree: ast.FunctionDef) -> bool:
    """Whether the first parameter is the model object (``k``, ``self`` or a ``Kernel``)."""
    if not tree.args.args:
        return False
    first = tree.args.args[0]
    ann = ast.unparse(first.annotation) if first.annotation is not None else ""
    return first.arg in ("k", "self") or ann.strip("'\"") == "Kernel"


class Translator:
    """Translates the functions reachable from ``roots`` (name -> Python function) for the
    model instance ``model``; ``functions`` are the model's registered functions, the ones
    ``k.NAME(...)`` calls."""

    HEADER_SLOTS = 64  # the engine's own parameters come first in KD

    def __init__(self, model: Any, functions: dict[str, Callable[..., Any]]) -> None:
        self.model = model
        self.functions = functions
        self.slots: dict[tuple[str, ...], Slot] = {}
        self.next_slot = self.HEADER_SLOTS
        self.strings: dict[str, int] = {}
        self.funcs: dict[str, Func] = {}
        self.order: list[str] = []
        self.budgeted = False  # a variant's loop spends VBUDGET (see FunctionWriter.loop_budget)

    # -- data of the model object -------------------------------------------------------

    def value(self, path: tuple[str, ...]) -> Any:
        obj = self.model
        for part in path:
            obj = getattr(obj, part)
        return obj

    def string_id(self, text: str) -> int:
        if text not in self.strings:
            self.strings[text] = len(self.strings) + 1
        return self.strings[text]

    def slot(self, path: tuple[str, ...], where: str) -> Slot:
        if path in self.slots:
            return self.slots[path]
        kind, arity = shape_at(self.model, path, where)
        found = Slot(self.next_slot, kind, arity)
        self.next_slot += 1 if kind in (SCALAR, STRING) else 2
        self.slots[path] = found
        return found

    # -- functions ------------------------------------------------------------------------

    def request(self, name: str, fn: Callable[..., Any]) -> str:
        """The C name of a Python function, translating it on first use."""
        cname = "f_" + name
        suffix = 1
        while cname in self.funcs:
            if self.funcs[cname].fn is fn:
                if cname not in self.order:
                    # Unbounded recursion would overflow the C stack and kill the process;
                    # Python stops it with RecursionError, which names the line.
                    code = fn.__code__
                    raise TranslateError(f"{code.co_filename}:{code.co_firstlineno}",
                                         f"{name} calls itself (recursion is not translated)")
                return cname
            # Another function of the same name (a variant's alias of the upstream one, or
            # two modules' private helpers): each gets its own C function.
            suffix += 1
            cname = f"f_{name}__{suffix}"
        func = Func(cname, fn)
        self.funcs[cname] = func
        func_tree, src_file, first_line = parse_function(fn)
        func.params = [a.arg for a in func_tree.args.args]
        func.takes_model = takes_model(func_tree)
        defaults = func_tree.args.defaults
        for arg, default in zip(func.params[len(func.params) - len(defaults):], defaults, strict=True):
            if not isinstance(default, ast.Constant) or not isinstance(default.value, int):
                raise TranslateError(f"{src_file}:{first_line}", f"{name}: only integer defaults are supported")
            func.defaults[arg] = default.value
        func.returns = self.annotation(func_tree.returns, src_file, first_line)
        body = FunctionWriter(self, func, func_tree, fn, src_file, first_line).write()
        func.c = body
        self.order.append(cname)
        return cname

    def annotation(self, node: ast.expr | None, src: str, line: int) -> Ty:
        if node is None:
            return INT
        text = ast.unparse(node)
        if text == "None":
            return NONE
        if text in ("int", "bool"):
            return INT
        if text.startswith("tuple["):
            inner = [p.strip() for p in text[len("tuple["):-1].split(",")]
            if all(p in ("int", "bool") for p in inner):
                return Ty("tuple", len(inner))
        raise TranslateError(f"{src}:{line}", f"return type {text} is not supported")

    def resolve_method(self, name: str) -> Callable[..., Any] | None:
        """``k.NAME`` as a function: a registered model function, or a method of the model's
        class that steps call (finishing a thread, the final checks)."""
        if name in self.functions:
            return self.functions[name]
        if name in KERNEL_METHODS:
            method = getattr(self.model, "step_method", None)
            if method is not None:
                return method(name)  # type: ignore[no-any-return]
            return getattr(type(self.model), name)  # type: ignore[no-any-return]
        return None


def parse_function(fn: Callable[..., Any]) -> tuple[ast.FunctionDef, str, int]:
    """The function's AST, its file, and the file line of the source's first line."""
    code = getattr(fn, "__code__", None)
    if code is None:
        raise TranslateError("?", f"{fn!r} is not a Python function")
    if code.co_freevars:
        raise TranslateError(f"{code.co_filename}:{code.co_firstlineno}",
                             f"{fn.__name__} is a closure over {', '.join(code.co_freevars)}")
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except OSError:
        raise TranslateError(f"{code.co_filename}:{code.co_firstlineno}", "no source to translate") from None
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        raise TranslateError(f"{code.co_filename}:{code.co_firstlineno}", "not a plain function")
    return node, code.co_filename, code.co_firstlineno


class FunctionWriter:
    """Writes one C function from one Python function."""

    def __init__(self, tr: Translator, func: Func, tree: ast.FunctionDef, fn: Callable[..., Any], src: str,
                 first_line: int) -> None:
        self.tr = tr
        self.func = func
        self.tree = tree
        self.globals = fn.__globals__
        self.src = src
        self.line0 = first_line
        self.locals: dict[str, Ty] = {}
        self.lines: list[str] = []
        self.temp = 0
        self.self_name = tree.args.args[0].arg if tree.args.args else "k"

    def where(self, node: ast.AST) -> str:
        return f"{self.src}:{self.line0 + getattr(node, 'lineno', self.tree.lineno) - 1}"

    def fail(self, node: ast.AST, problem: str) -> TranslateError:
        return TranslateError(self.where(node), f"{self.tree.name}: {problem}")

    # -- the function ------------------------------------------------------------------

    def write(self) -> str:
        params = self.tree.args.args
        cparams = ["Cx *cx"]  # the configuration and this call's scratch (engine.c's Cx)
        if self.func.takes_model:
            self.locals[params[0].arg] = KOBJ
            params = params[1:]
        for arg in params:
            ann = ast.unparse(arg.annotation) if arg.annotation is not None else ""
            if arg.arg == "s" or "bytes" in ann:
                self.locals[arg.arg] = STATE
                cparams.append(f"uint8_t *{cv(arg.arg)}")
            else:
                self.locals[arg.arg] = INT
                cparams.append(f"long {cv(arg.arg)}")
        self.indent = 1
        body_start = len(self.lines)
        for stmt in self.tree.body:
            self.statement(stmt)
        decls = [f"    long {cv(n)} = 0; (void){cv(n)};" for n, t in self.locals.items()
                 if t == INT and n not in self.func.params]
        decls += [f"    long {cv(n)}__{i} = 0;" for n, t in self.locals.items() if t.kind == "tuple"
                  for i in range(t.n)]
        decls += [f"    uint8_t *{cv(n)} = 0;" for n, t in self.locals.items()
                  if t == STATE and n not in self.func.params]
        ret = self.ctype(self.func.returns)
        body = self.lines[body_start:]
        tail = [] if self.func.returns == NONE else [f"    return {self.zero(self.func.returns)};"]
        return "\n".join([f"static {ret} {self.func.name}({', '.join(cparams)}) {{",
                          *decls, "    (void)0;", *body, *tail, "}"])

    def ctype(self, ty: Ty) -> str:
        if ty == NONE:
            return "void"
        if ty.kind == "tuple":
            return f"T{ty.n}"
        return "long"

    def zero(self, ty: Ty) -> str:
        return f"(T{ty.n}){{0}}" if ty.kind == "tuple" else "0"

    def emit(self, text: str) -> None:
        self.lines.append("    " * self.indent + text)

    def tmp(self) -> str:
        self.temp += 1
        return f"_t{self.temp}"

    # -- statements ----------------------------------------------------------------------

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant):
                return  # a docstring
            code, _ = self.expr(node.value)
            self.emit(f"{code};")
            self.check_err()
        elif isinstance(node, ast.Assign):
            self.assign(node)
            if any(isinstance(n, ast.Call) for n in ast.walk(node.value)):
                self.check_err()
        elif isinstance(node, ast.AugAssign):
            self.augassign(node)
        elif isinstance(node, ast.If):
            cond = self.cond(node.test)
            self.emit(f"if ({cond}) {{")
            self.block(node.body)
            if node.orelse:
                self.emit("} else {")
                self.block(node.orelse)
            self.emit("}")
        elif isinstance(node, ast.Return):
            self.ret(node)
        elif isinstance(node, ast.For):
            self.loop(node)
        elif isinstance(node, ast.Raise):
            self.emit("ERR = ERR_MODEL;")
            self.emit(f"return{'' if self.func.returns == NONE else ' ' + self.zero(self.func.returns)};")
        elif isinstance(node, ast.Pass):
            pass
        elif isinstance(node, ast.Break):
            self.emit("break;")
        elif isinstance(node, ast.Continue):
            self.emit("continue;")
        else:
            raise self.fail(node, f"statement {type(node).__name__} is not supported")

    def check_err(self) -> None:
        self.emit(f"if (ERR) return{'' if self.func.returns == NONE else ' ' + self.zero(self.func.returns)};")

    def block(self, body: list[ast.stmt]) -> None:
        self.indent += 1
        for stmt in body:
            self.statement(stmt)
        self.indent -= 1

    def ret(self, node: ast.Return) -> None:
        if node.value is None:
            self.emit("return;" if self.func.returns == NONE else f"return {self.zero(self.func.returns)};")
            return
        code, ty = self.expr(node.value)
        if self.func.returns == NONE:
            self.emit(f"{code};")
            self.emit("return;")
        else:
            self.emit(f"return {self.convert(code, ty, self.func.returns, node)};")

    def convert(self, code: str, ty: Ty, want: Ty, node: ast.AST) -> str:
        if want.kind == "tuple":
            if ty.kind != "tuple" or ty.n != want.n:
                raise self.fail(node, f"expected a {want.n}-tuple")
            return code
        if ty.kind not in ("int",):
            raise self.fail(node, f"expected an int, got {ty.kind}")
        return code

    def assign(self, node: ast.Assign) -> None:
        target = node.targets[0]
        if len(node.targets) == 1 and isinstance(target, ast.Name) and target.id not in self.locals:
            # A value only an event's text uses (a thread's name, a page's name): if it does
            # not translate, it stays unknown, and any use outside a dropped lambda fails.
            try:
                probe = FunctionWriter.__new__(FunctionWriter)
                probe.__dict__.update(self.__dict__, lines=[], locals=dict(self.locals))
                probe.expr(node.value)
            except TranslateError as exc:
                self.locals[target.id] = Ty("opaque", 1, (exc.where, exc.problem))
                return
        if len(node.targets) != 1:
            # s[a] = s[b] = 0: chained stores of one value.
            code, ty = self.expr(node.value)
            t = self.tmp()
            self.emit(f"{{ long {t} = {code};")
            for target in node.targets:
                self.store(target, t, INT, node)
            self.emit("}")
            return
        target = node.targets[0]
        if isinstance(target, ast.Tuple):
            self.unpack(target, node.value, node)
            return
        value = node.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Attribute):
            # L = k.L: an alias for a namespace of the model object.
            code, ty = self.expr(value)
            if ty.kind in ("data", "k"):
                self.locals[target.id] = ty
                return
            self.store(target, code, ty, node)
            return
        code, ty = self.expr(value)
        self.store(target, code, ty, node)

    def unpack(self, target: ast.Tuple, value: ast.expr, node: ast.AST) -> None:
        n = len(target.elts)
        if isinstance(value, ast.Tuple):
            if len(value.elts) != n:
                raise self.fail(node, "unpacking of a different length")
            temps = []
            for elt in value.elts:
                code, ty = self.expr(elt)
                t = self.tmp()
                self.emit(f"long {t} = {code};")
                temps.append(t)
            for elt, t in zip(target.elts, temps, strict=True):
                self.store(elt, t, INT, node)
            return
        code, ty = self.expr(value)
        if ty.kind != "tuple" or ty.n != n:
            raise self.fail(node, "unpacking needs a tuple of the same length")
        t = self.tmp()
        self.emit(f"T{n} {t} = {code};")
        self.check_err()
        for i, elt in enumerate(target.elts):
            if isinstance(elt, ast.Name) and elt.id == "_":
                continue
            self.store(elt, f"{t}.v[{i}]", INT, node)

    def store(self, target: ast.expr, code: str, ty: Ty, node: ast.AST) -> None:
        if isinstance(target, ast.Name):
            known = self.locals.get(target.id)
            if ty.kind == "tuple":
                if known is not None and known != ty:
                    raise self.fail(node, f"{target.id} changes type")
                self.locals[target.id] = ty
                t = self.tmp()
                self.emit(f"{{ T{ty.n} {t} = {code};")
                for i in range(ty.n):
                    self.emit(f"  {cv(target.id)}__{i} = {t}.v[{i}];")
                self.emit("}")
                return
            if ty.kind != "int":
                raise self.fail(node, f"cannot keep a {ty.kind} in a local variable")
            if known is not None and known != INT:
                raise self.fail(node, f"{target.id} changes type")
            self.locals[target.id] = INT
            self.emit(f"{cv(target.id)} = {code};")
            return
        if isinstance(target, ast.Subscript):
            base, bty = self.expr(target.value)
            if bty != STATE:
                raise self.fail(node, "only the state can be stored into")
            index, _ = self.expr(target.slice)
            self.emit(f"SET({base}, {index}, {code});")
            return
        raise self.fail(node, f"cannot assign to {ast.unparse(target)}")

    def augassign(self, node: ast.AugAssign) -> None:
        op = BINOPS.get(type(node.op))
        if op is None:
            raise self.fail(node, f"operator {type(node.op).__name__} is not supported")
        value, _ = self.expr(node.value)
        target = node.target
        if isinstance(target, ast.Subscript):
            base, bty = self.expr(target.value)
            if bty != STATE:
                raise self.fail(node, "only the state can be stored into")
            index, _ = self.expr(target.slice)
            t = self.tmp()
            self.emit(f"{{ long {t} = {index}; SET({base}, {t}, {pyop(op, f'RD({base}, {t})', value)}); }}")
            return
        if isinstance(target, ast.Name) and self.locals.get(target.id) == INT:
            self.emit(f"{cv(target.id)} = {pyop(op, cv(target.id), value)};")
            return
        raise self.fail(node, f"cannot update {ast.unparse(target)}")

    def loop_budget(self, node: ast.For) -> None:
        """In a variant's code, every loop iteration spends the step's budget (``VBUDGET``):
        a loop that never ends stops the compiled core, which records the loop's line
        (``VLINE``) so that the variant is reported as bad input at that line."""
        if getattr(self.func.fn, "__module__", "") == VARIANT_MODULE:
            self.tr.budgeted = True
            line = self.line0 + node.lineno - 1
            self.emit(f"    if (--VBUDGET < 0) {{ ERR = {ERR_LOOP}; VLINE = {line}; break; }}")

    def loop(self, node: ast.For) -> None:
        if node.orelse:
            raise self.fail(node, "for ... else is not supported")
        it = node.iter
        i = self.tmp()
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
            args = [self.expr(a)[0] for a in it.args]
            lo, hi = ("0", args[0]) if len(args) == 1 else (args[0], args[1])
            if len(args) > 2 or not isinstance(node.target, ast.Name):
                raise self.fail(node, "range() with a step, or a tuple target, is not supported")
            self.locals.setdefault(node.target.id, INT)
            end = self.tmp()
            self.emit(f"for (long {i} = {lo}, {end} = {hi}; {i} < {end}; {i}++) {{")
            self.loop_budget(node)
            self.emit(f"    {cv(node.target.id)} = {i};")
            self.block(node.body)
            self.emit("}")
            return
        arr = self.array_of(it)
        n = self.tmp()
        self.emit(f"for (long {i} = 0, {n} = {arr.length}; {i} < {n}; {i}++) {{")
        self.loop_budget(node)
        if isinstance(node.target, ast.Name):
            if arr.arity != 1:
                raise self.fail(node, "iterating tuples needs a tuple target")
            self.locals.setdefault(node.target.id, INT)
            self.emit(f"    {cv(node.target.id)} = {arr.item(i, 0)};")
        elif isinstance(node.target, ast.Tuple) and len(node.target.elts) == arr.arity:
            for j, elt in enumerate(node.target.elts):
                if not isinstance(elt, ast.Name):
                    raise self.fail(node, "unsupported loop target")
                self.locals.setdefault(elt.id, INT)
                self.emit(f"    {cv(elt.id)} = {arr.item(i, j)};")
        else:
            raise self.fail(node, "unsupported loop target")
        self.block(node.body)
        self.emit("}")

    # -- expressions -------------------------------------------------------------------

    def cond(self, node: ast.expr) -> str:
        code, ty = self.expr(node, boolean=True)
        if ty.kind != "int":
            raise self.fail(node, f"a {ty.kind} used as a condition")
        return code

    def expr(self, node: ast.expr, boolean: bool = False) -> tuple[str, Ty]:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return ("1" if node.value else "0"), INT
            if isinstance(node.value, int):
                return str(node.value), INT
            if isinstance(node.value, str):
                return f"{self.tr.string_id(node.value)}", INT
            if node.value is None:
                return "0", NONE
            raise self.fail(node, f"constant {node.value!r}")
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.BinOp):
            op = BINOPS.get(type(node.op))
            if op is None:
                raise self.fail(node, f"operator {type(node.op).__name__}")
            a, _ = self.expr(node.left)
            b, _ = self.expr(node.right)
            return pyop(op, a, b), INT
        if isinstance(node, ast.UnaryOp):
            a, _ = self.expr(node.operand, boolean=isinstance(node.op, ast.Not))
            if isinstance(node.op, ast.Not):
                return f"(!({a}))", INT
            if isinstance(node.op, ast.USub):
                return f"(-({a}))", INT
            if isinstance(node.op, ast.Invert):
                return f"(~({a}))", INT
            raise self.fail(node, "unary operator")
        if isinstance(node, ast.BoolOp):
            return self.boolop(node, boolean)
        if isinstance(node, ast.Compare):
            return self.compare(node), INT
        if isinstance(node, ast.IfExp):
            c = self.cond(node.test)
            a, ta = self.expr(node.body)
            b, tb = self.expr(node.orelse)
            if ta != tb:
                raise self.fail(node, "the two branches have different types")
            return f"(({c}) ? ({a}) : ({b}))", ta
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Tuple):
            parts = [self.expr(e) for e in node.elts]
            if any(t != INT for _, t in parts):
                raise self.fail(node, "tuples of non-integers")
            return f"((T{len(parts)}){{{{{', '.join(c for c, _ in parts)}}}}})", Ty("tuple", len(parts))
        raise self.fail(node, f"expression {type(node).__name__} is not supported")

    def name(self, node: ast.Name) -> tuple[str, Ty]:
        ty = self.locals.get(node.id)
        if ty is not None:
            if ty.kind == "opaque":
                raise TranslateError(ty.path[0], ty.path[1])
            if ty.kind == "tuple":
                return f"((T{ty.n}){{{{{', '.join(f'{cv(node.id)}__{i}' for i in range(ty.n))}}}}})", ty
            if ty.kind in ("data", "k"):
                return "", ty
            return cv(node.id), ty
        value = self.globals.get(node.id, _MISSING)
        if value is _MISSING:
            import builtins

            value = getattr(builtins, node.id, _MISSING)
        if isinstance(value, bool):
            return ("1" if value else "0"), INT
        if isinstance(value, int):
            return str(value), INT
        if value is None:
            return "0", NONE
        raise self.fail(node, f"name {node.id} ({type(value).__name__}) cannot be used as a value")

    def attribute(self, node: ast.Attribute) -> tuple[str, Ty]:
        path = self.data_path(node)
        if path is not None:
            slot = self.tr.slot(path, self.where(node))
            if slot.kind in (SCALAR, STRING):
                return f"KD[{slot.index}]", INT
            return "", Ty("data", 1, path)
        _, bty = self.expr(node.value)
        if bty.kind == "tuple" or bty == STATE:
            raise self.fail(node, f"attribute {node.attr} of a {bty.kind}")
        value = self.globals.get(getattr(node.value, "id", ""), None)
        if value is not None and hasattr(value, node.attr):
            attr = getattr(value, node.attr)
            if isinstance(attr, int):
                return str(int(attr)), INT
        raise self.fail(node, f"attribute {ast.unparse(node)} is not supported")

    def data_path(self, node: ast.expr) -> tuple[str, ...] | None:
        """``k.a.b`` (or ``L.b`` with ``L = k.a``) as the path ("a", "b") into the model object."""
        if isinstance(node, ast.Name):
            ty = self.locals.get(node.id)
            if ty is not None and ty.kind == "k":
                return ()
            if ty is not None and ty.kind == "data":
                return ty.path
            return None
        if isinstance(node, ast.Attribute):
            head = self.data_path(node.value)
            if head is None:
                return None
            return (*head, node.attr)
        return None

    def array_of(self, node: ast.expr) -> ArrayRef:
        if isinstance(node, ast.Subscript):
            inner = self.array_of_maybe(node.value)
            if inner is not None and inner.slot.kind == RAGGED:
                index, _ = self.expr(node.slice)
                return inner.row(index)
        found = self.array_of_maybe(node)
        if found is None:
            if isinstance(node, ast.Name) and isinstance(self.globals.get(node.id), tuple | frozenset | set):
                raise self.fail(node, f"iterating the constant {node.id}")
            raise self.fail(node, f"{ast.unparse(node)} is not an array of the model object")
        return found

    def array_of_maybe(self, node: ast.expr) -> ArrayRef | None:
        _, ty = self.expr(node) if not isinstance(node, ast.Subscript) else ("", NONE)
        if ty.kind == "data":
            slot = self.tr.slot(ty.path, self.where(node))
            if slot.kind not in (ARRAY, RAGGED):
                raise self.fail(node, f"k.{'.'.join(ty.path)} is not an array")
            return ArrayRef(slot, f"KD[{slot.index}]", f"KD[{slot.index + 1}]", slot.arity)
        return None

    def subscript(self, node: ast.Subscript) -> tuple[str, Ty]:
        if isinstance(node.slice, ast.Slice):
            raise self.fail(node, "slices are not supported")
        base_code, bty = self.expr(node.value) if not isinstance(node.value, ast.Subscript) else ("", NONE)
        if bty == STATE:
            index, _ = self.expr(node.slice)
            return f"RD({base_code}, {index})", INT
        if bty.kind == "tuple":
            if not isinstance(node.slice, ast.Constant) or not isinstance(node.slice.value, int):
                raise self.fail(node, "a tuple index must be a constant")
            return f"({base_code}).v[{node.slice.value}]", INT
        arr = self.array_of(node.value)
        index, _ = self.expr(node.slice)
        if arr.arity == 1:
            return f"AT({arr.base}, {index}, {arr.length})", INT
        t = self.tmp()
        row = f"({arr.base}) + {t} * {arr.arity}"
        items = ", ".join(f"KD[{row} + {j}]" for j in range(arr.arity))
        return (f"({{ long {t} = ({index}); if ((unsigned long){t} >= (unsigned long)({arr.length})) "
                f"{{ ERR = ERR_PYTHON; {t} = 0; }} (T{arr.arity}){{{{{items}}}}}; }})"), Ty("tuple", arr.arity)

    def boolop(self, node: ast.BoolOp, boolean: bool) -> tuple[str, Ty]:
        parts = [self.expr(v, boolean=boolean) for v in node.values]
        if any(t.kind != "int" for _, t in parts):
            raise self.fail(node, "and/or of non-integers")
        if boolean:
            joiner = " && " if isinstance(node.op, ast.And) else " || "
            return "(" + joiner.join(f"({c})" for c, _ in parts) + ")", INT
        # Python's value semantics: a or b is a if a is true, else b (each evaluated once).
        code = parts[-1][0]
        for c, _ in reversed(parts[:-1]):
            t = self.tmp()
            if isinstance(node.op, ast.Or):
                code = f"({{ long {t} = ({c}); {t} ? {t} : ({code}); }})"
            else:
                code = f"({{ long {t} = ({c}); {t} ? ({code}) : {t}; }})"
        return code, INT

    def compare(self, node: ast.Compare) -> str:
        if len(node.ops) > 1:
            return self.chain(node)
        op, right_node = node.ops[0], node.comparators[0]
        left, lty = self.expr(node.left)
        if isinstance(op, ast.In | ast.NotIn):
            members = self.members(right_node)
            t = self.tmp()
            test = " || ".join(f"{t} == {m}" for m in members) or "0"
            text = f"({{ long {t} = ({left}); {test}; }})"
            return f"((!{text}))" if isinstance(op, ast.NotIn) else f"({text})"
        right, rty = self.expr(right_node)
        if lty.kind == "tuple" or rty.kind == "tuple":
            if lty != rty or not isinstance(op, ast.Eq | ast.NotEq):
                raise self.fail(node, "tuples compare only for (in)equality with a tuple of the same length")
            ta, tb = self.tmp(), self.tmp()
            eq = " && ".join(f"{ta}.v[{i}] == {tb}.v[{i}]" for i in range(lty.n))
            text = f"({{ T{lty.n} {ta} = {left}; T{lty.n} {tb} = {right}; ({eq}); }})"
            return f"({text})" if isinstance(op, ast.Eq) else f"((!{text}))"
        sym = CMPOPS.get(type(op))
        if sym is None:
            raise self.fail(node, f"comparison {type(op).__name__}")
        return f"((({left}) {sym} ({right})))"

    def chain(self, node: ast.Compare) -> str:
        """``a < b < c`` as Python runs it: each operand evaluated once, left to right, and
        the rest skipped once a comparison is false (an operand may call a helper that
        writes the state)."""
        for op in node.ops:
            if type(op) not in CMPOPS:
                raise self.fail(node, f"comparison {type(op).__name__} in a chain (write it as separate comparisons)")
        operands = [node.left, *node.comparators]
        values = []
        for operand in operands:
            text, ty = self.expr(operand)
            if ty.kind == "tuple":
                raise self.fail(node, "a chained comparison of tuples (write it as separate comparisons)")
            values.append(text)
        temps = [self.tmp() for _ in operands]
        text = ""
        for i in range(len(node.ops) - 1, -1, -1):
            op = node.ops[i]
            test = f"({temps[i]} {CMPOPS[type(op)]} {temps[i + 1]})"
            rest = f" && {text}" if text else ""
            text = f"({{ long {temps[i + 1]} = ({values[i + 1]}); {test}{rest}; }})"
        return f"({{ long {temps[0]} = ({values[0]}); {text}; }})"

    def members(self, node: ast.expr) -> list[str]:
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return [self.expr(e)[0] for e in node.elts]
        if isinstance(node, ast.Name):
            value = self.globals.get(node.id)
            if isinstance(value, tuple | frozenset | set) and all(isinstance(x, int) for x in value):
                return [str(x) for x in sorted(value)]
        raise self.fail(node, f"membership in {ast.unparse(node)}")

    # -- calls ---------------------------------------------------------------------------

    def call(self, node: ast.Call) -> tuple[str, Ty]:
        if node.keywords:
            raise self.fail(node, "keyword arguments are not supported")
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Dict) and f.attr == "get":
            return self.dict_get(f.value, node), INT
        if isinstance(f, ast.Attribute) and self.data_path(f.value) == ():
            return self.method_call(f.attr, node)
        if isinstance(f, ast.Name):
            builtin = BUILTINS.get(f.id)
            if builtin is not None and f.id not in self.locals and f.id not in self.globals:
                return builtin(self, node)
            value = self.globals.get(f.id)
            if inspect.isfunction(value):
                return self.user_call(f.id, value, node.args, node)
        raise self.fail(node, f"call of {ast.unparse(f)} is not supported")

    def method_call(self, name: str, node: ast.Call) -> tuple[str, Ty]:
        if name == "fire":
            bit, _ = self.expr(node.args[0])
            return f"(EV |= (uint64_t)({bit}))", NONE
        if name == "say":
            return "(void)0", NONE
        fn = self.tr.resolve_method(name)
        if fn is None:
            raise self.fail(node, f"k.{name}() is not a model function")
        return self.user_call(name, fn, node.args, node, bound=True)

    def user_call(self, name: str, fn: Callable[..., Any], args: Iterable[ast.expr], node: ast.Call,
                  bound: bool = False) -> tuple[str, Ty]:
        cname = self.tr.request(name, fn)
        callee = self.tr.funcs[cname]
        given = list(args)
        params = callee.params[1:] if callee.takes_model else callee.params  # the model object is global in C
        if not bound and callee.takes_model:
            if not given:
                raise self.fail(node, f"{name}() must be given the model object first")
            given = given[1:]
        codes = []
        for i, param in enumerate(params):
            if i < len(given):
                code, ty = self.expr(given[i])
                if ty.kind not in ("int", "state"):
                    raise self.fail(node, f"argument {param} of {name}() is a {ty.kind}")
                codes.append(code)
            elif param in callee.defaults:
                codes.append(str(callee.defaults[param]))
            else:
                raise self.fail(node, f"{name}() is missing {param}")
        return f"{cname}({', '.join(['cx', *codes])})", callee.returns

    def dict_get(self, d: ast.Dict, node: ast.Call) -> str:
        key, _ = self.expr(node.args[0])
        default, _ = self.expr(node.args[1]) if len(node.args) > 1 else ("0", INT)
        t = self.tmp()
        code = default
        for k_node, v_node in reversed(list(zip(d.keys, d.values, strict=True))):
            if k_node is None:
                raise self.fail(node, "** in a dict")
            kc, _ = self.expr(k_node)
            vc, _ = self.expr(v_node)
            code = f"({t} == {kc} ? {vc} : {code})"
        return f"({{ long {t} = ({key}); {code}; }})"


@dataclass
class ArrayRef:
    slot: Slot
    base: str
    length: str
    arity: int

    def item(self, index: str, j: int) -> str:
        """Element ``index`` (field ``j`` of a tuple); only for indices a loop keeps in range."""
        if self.arity == 1:
            return f"KD[{self.base} + ({index})]"
        return f"KD[{self.base} + ({index}) * {self.arity} + {j}]"

    def row(self, index: str) -> ArrayRef:
        """Row ``index`` of a ragged list: its (offset, length) pair is in the index table."""
        pair = f"({self.base} + 2 * ({index}))"
        return ArrayRef(Slot(-1, ARRAY), f"KD[{pair}]", f"KD[{pair} + 1]", 1)


class _Missing:
    pass


_MISSING = _Missing()

BINOPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
                           ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
CMPOPS: dict[type, str] = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def pyop(op: str, a: str, b: str) -> str:
    """A binary operator with Python's meaning on ints (floor division and modulo)."""
    if op == "//":
        return f"pyfloordiv(cx, {a}, {b})"
    if op == "%":
        return f"pymod(cx, {a}, {b})"
    return f"(({a}) {op} ({b}))"


def cv(name: str) -> str:
    """A C name for a Python local (never a C keyword)."""
    return f"v_{name}"


def _b_bool(w: FunctionWriter, node: ast.Call) -> tuple[str, Ty]:
    code, _ = w.expr(node.args[0], boolean=True)
    return f"(({code}) != 0)", INT


def _b_int(w: FunctionWriter, node: ast.Call) -> tuple[str, Ty]:
    return w.expr(node.args[0])


def _b_minmax(which: str) -> Callable[[FunctionWriter, ast.Call], tuple[str, Ty]]:
    def build(w: FunctionWriter, node: ast.Call) -> tuple[str, Ty]:
        sym = "<" if which == "min" else ">"
        if len(node.args) == 1:
            arr = w.array_of(node.args[0])
            i, n, r = w.tmp(), w.tmp(), w.tmp()
            return (f"({{ long {r} = 0, {n} = {arr.length}; if (!{n}) ERR = ERR_PYTHON; else {r} = "
                    f"{arr.item('0', 0)}; for (long {i} = 1; {i} < {n}; {i}++) "
                    f"if ({arr.item(i, 0)} {sym} {r}) {r} = {arr.item(i, 0)}; {r}; }})"), INT
        code, _ = w.expr(node.args[0])
        for arg in node.args[1:]:
            other, _ = w.expr(arg)
            a, b = w.tmp(), w.tmp()
            code = f"({{ long {a} = ({code}), {b} = ({other}); {b} {sym} {a} ? {b} : {a}; }})"
        return code, INT
    return build


def _b_divmod(w: FunctionWriter, node: ast.Call) -> tuple[str, Ty]:
    a, _ = w.expr(node.args[0])
    b, _ = w.expr(node.args[1])
    return f"pydivmod(cx, {a}, {b})", Ty("tuple", 2)


def _b_len(w: FunctionWriter, node: ast.Call) -> tuple[str, Ty]:
    return w.array_of(node.args[0]).length, INT


def _b_anyall(which: str) -> Callable[[FunctionWriter, ast.Call], tuple[str, Ty]]:
    def build(w: FunctionWriter, node: ast.Call) -> tuple[str, Ty]:
        gen = node.args[0]
        if not isinstance(gen, ast.GeneratorExp) or len(gen.generators) != 1:
            raise w.fail(node, f"{which}() of anything but one generator")
        comp = gen.generators[0]
        if comp.ifs or comp.is_async or not isinstance(comp.target, ast.Name | ast.Tuple):
            raise w.fail(node, f"{which}() with a filter")
        saved = dict(w.locals)
        arr = w.array_of(comp.iter)
        names = [comp.target] if isinstance(comp.target, ast.Name) else list(comp.target.elts)
        if len(names) != arr.arity or not all(isinstance(n, ast.Name) for n in names):
            raise w.fail(node, "unsupported generator target")
        i, n, r = w.tmp(), w.tmp(), w.tmp()
        binds = []
        for j, name in enumerate(names):
            assert isinstance(name, ast.Name)
            w.locals[name.id] = INT
            binds.append(f"long {cv(name.id)} = {arr.item(i, j)};")
        body, _ = w.expr(gen.elt, boolean=True)
        w.locals = saved
        if which == "any":
            loop = f"long {r} = 0; for (long {i} = 0, {n} = {arr.length}; {i} < {n}; {i}++) " \
                   f"{{ {' '.join(binds)} if ({body}) {{ {r} = 1; break; }} }}"
        else:
            loop = f"long {r} = 1; for (long {i} = 0, {n} = {arr.length}; {i} < {n}; {i}++) " \
                   f"{{ {' '.join(binds)} if (!({body})) {{ {r} = 0; break; }} }}"
        return f"({{ {loop} {r}; }})", INT
    return build


BUILTINS: dict[str, Callable[[FunctionWriter, ast.Call], tuple[str, Ty]]] = {
    "bool": _b_bool, "int": _b_int, "min": _b_minmax("min"), "max": _b_minmax("max"), "divmod": _b_divmod,
    "len": _b_len, "any": _b_anyall("any"), "all": _b_anyall("all"),
}
