"""The checker: a clean Python process that runs the test cells while autograding.

nbgrader runs a notebook's tests in the student's own kernel, where the student's cells could have
patched numpy, torch, builtins or IPython before the tests run. Here the kernel runs only the visible part
of a test cell (the student's instant checks); the whole cell, visible and hidden parts, runs in this
process, which the grader starts (grading.preprocessors.ExecuteSandboxed, through grading.relay) with
``python -I`` and which never loads anything of the student's:

- the names a test cell reads from the notebook are fetched from the kernel *by value* (grading.values:
  arrays, tensors, numbers, containers of them; an .npz file, never pickle);
- a function of the notebook arrives as a Reference: calling it sends the arguments by value to the kernel,
  which calls the function there (grading.kernel_side) and sends the result back by value, with the Jacobians
  of its output tensors with respect to input tensors that require gradients (the output is rebuilt here as a
  function of the inputs, so ``.backward()`` gives the gradients the kernel computed);
- the checker's random states travel with every call, so a seeded test draws what it would in the kernel;
  the kernel's states never come back (a lying kernel could otherwise steer the test's own draws): after
  each call the checker re-seeds its streams from a private sequence, so the next call draws fresh noise.

A kernel that lies only sends other values: the checks then run on those, as on any answer.

A test may import the assignment's hidden fixtures (``from hidden_fixtures import sheet``): the grader names the
instructor's solutions/<assignment>/hidden_fixtures.py, and the checker imports exactly that file under that name
(FixturesFinder), nothing else from its folder.

The protocol, in one place. Grader and checker exchange one JSON object per line on the checker's stdin and
stdout (its own stdout is kept for the protocol; what a test prints goes to a buffer). The grader reaches the
kernel with IPython user expressions (kernel_side.fetch_expression, call_expression), never with a cell.

| message | from -> to | carries | what the receiver checks |
|---|---|---|---|
| ``{"op": "warm", "modules"}`` | grader -> checker | modules to import now, while the kernel runs the first cells | only names in MODULES; no reply |
| ``{"op": "run", "source", "label"}`` | grader -> checker | one test cell, visible and hidden parts | the checker runs it in a fresh namespace (CellRun) |
| ``{"op": "fetch", "names"}`` | checker -> grader -> kernel | the names the cell reads (free_names) | kernel: names the notebook defines; grader: the reply is at most MAX_BYTES, and the repr of one base64 string |
| ``{"op": "call", "request"}`` | checker -> grader -> kernel | a reference's path, arguments by value, the checker's random states, the cell's lambdas | as for fetch |
| ``{"ok": base64}`` or ``{"error"}`` | grader -> checker | the kernel's packed reply, or why there is none | checker: stored .npz entries only, allow_pickle=False, manifest kinds and dtypes from fixed lists, modules only from MODULES, only the names asked for, generator states checked, the kernel's global random state never taken back |
| ``{"op": "verdict", "stdout", "error"}`` | checker -> grader | what the cell printed, and its error if it failed | the grader makes it the cell's outputs (nbgrader scores them); no reply within the timeout, or a garbled line, is a GraderError verdict |
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import importlib.abc
import importlib.util
import io
import json
import keyword
import os
import random
import sys
import traceback

from .values import (BadValue, Packer, checked_generator_state, generators, map_tensors, rng_state, tensors,
                     unpack)

# Modules a notebook's name may stand for in the checker: the checker imports its own copy by name.
MODULES = frozenset({"numpy", "torch", "math", "cmath", "random", "statistics", "itertools", "functools",
                     "collections", "operator", "scipy", "helpers"})
BUILTIN_NAMES = frozenset(dir(builtins))
STDOUT_LIMIT = 256 << 10
MEMORY = 4 << 30          # the checker's data segment, as a kernel's (grading.sandbox.LIMITS)


FIXTURES_MODULE = "hidden_fixtures"


class FixturesFinder(importlib.abc.MetaPathFinder):
    """`import hidden_fixtures` in a test: the assignment's fixtures file the grader named, and only that name."""

    def __init__(self, path: str):
        self.path = path

    def find_spec(self, name, path=None, target=None):
        if name != FIXTURES_MODULE:
            return None
        return importlib.util.spec_from_file_location(name, self.path)


class GraderError(Exception):
    """The checker could not get what a test needs from the notebook's kernel."""


def _exception_class(name: str) -> type:
    """The exception class the checker raises for a failure of the student's function named `name`."""
    cls = getattr(builtins, name, None) if name.isidentifier() else None
    if isinstance(cls, type) and issubclass(cls, BaseException):
        return cls
    return type(name if name.isidentifier() else "StudentError", (Exception,), {})


def free_names(source: str) -> list[str]:
    """The names a cell may read from the notebook: read before the cell assigns them, or spelled in a string.

    A name read only inside a function or lambda of the cell that is one of its parameters is not one.
    Identifier-like strings count because a test may read answers with ``globals()[name]``.
    """
    tree = ast.parse(source)
    first_store: dict[str, tuple[int, int]] = {}
    loads: dict[str, tuple[int, int]] = {}
    params: set[str] = set()
    strings: set[str] = set()
    for node in ast.walk(tree):
        pos = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
        if isinstance(node, ast.Name):
            table = loads if isinstance(node.ctx, ast.Load) else first_store
            if node.id not in table or pos < table[node.id]:
                table[node.id] = pos
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = (alias.asname or alias.name).split(".")[0]
                if name not in first_store or pos < first_store[name]:
                    first_store[name] = pos
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first_store.setdefault(node.name, pos)
        elif isinstance(node, ast.arg):
            params.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            strings.add(node.value)
    names = {n for n, pos in loads.items() if n not in first_store or pos < first_store[n]} - params
    names |= {s for s in strings if not keyword.iskeyword(s)}
    return sorted(n for n in names if n not in BUILTIN_NAMES and not n.startswith("__"))


def lambda_sources(source: str) -> dict[str, str]:
    """name -> source of the lambda, for every `name = lambda ...` in the cell."""
    out = {}
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Lambda)):
            out[node.targets[0].id] = ast.get_source_segment(source, node.value)
    return out


class Link:
    """The checker's end of the protocol."""

    def __init__(self, inp, out):
        self.inp, self.out = inp, out

    def send(self, msg: dict):
        self.out.write(json.dumps(msg).encode() + b"\n")
        self.out.flush()

    def receive(self) -> dict | None:
        line = self.inp.readline()
        return json.loads(line) if line else None

    def request(self, op: str, **payload) -> bytes:
        self.send({"op": op, **payload})
        reply = self.receive()
        if reply is None:
            raise GraderError("the grader closed the connection")
        if "ok" not in reply:
            raise GraderError(f"the notebook's kernel did not answer: {reply.get('error', 'no reply')}")
        return base64.b64decode(reply["ok"])


class Reference:
    """Something of the notebook that is not a value (a function, a model, ...): it stays in the kernel."""

    __slots__ = ("_path", "_callable", "_cell")

    def __init__(self, path, can_call, cell):
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_callable", can_call)
        object.__setattr__(self, "_cell", cell)

    def __call__(self, *args, **kwargs):
        if not self._callable:
            raise TypeError(f"'{type(self).__name__}' object is not callable")
        return self._cell.call(self._path, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _reference_class("attribute", True)(self._path + [["attr", name]], True, self._cell)

    def __repr__(self):
        return f"<{type(self).__name__} of the notebook>"

    def _not_a_value(self, *args):
        raise TypeError(f"the grader reads arrays, tensors, numbers and containers of them; this answer is a "
                        f"{type(self).__name__}, which it cannot compare or use as a value")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __len__ = __iter__ = _not_a_value
    __hash__ = object.__hash__


_REFERENCE_CLASSES: dict = {}


def _reference_class(type_name: str, can_call: bool) -> type:
    """A Reference subclass named like the kernel object's type (so that type(x).__name__ reads the same)."""
    name = type_name if type_name.isidentifier() else "object"
    key = (name, can_call)
    if key not in _REFERENCE_CLASSES:
        _REFERENCE_CLASSES[key] = type(name, (Reference,), {"__slots__": ()})
    return _REFERENCE_CLASSES[key]




def _checker_ref(obj, path) -> dict:
    """What an argument the checker sends becomes: a Reference goes back as its path; nothing else goes."""
    if isinstance(obj, Reference):
        return {"k": "ref", "path": obj._path, "type": type(obj).__name__, "callable": obj._callable}
    raise BadValue(f"a {type(obj).__name__} cannot be sent to the notebook (only arrays, tensors, numbers, "
                   "containers of them, and the notebook's own functions)")


_SEEDS = random.Random(20261201)  # the checker's own: test code never sees it, the kernel never sets it


def reseed():
    """New seeds for numpy's and torch's global streams, from the checker's private sequence."""
    import numpy as np
    seed = _SEEDS.getrandbits(63)
    np.random.seed(seed % (1 << 32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _linearised(value, jac, inputs):
    """value's output tensors, each rebuilt as y0 + J (x - x0) for its inputs x: the kernel's gradients."""
    by_output: dict[int, list] = {}
    for oi, ii, J in jac:
        by_output.setdefault(int(oi), []).append((int(ii), J))

    def rebuild(t, i):
        if i not in by_output:
            return t
        y = t.detach()
        for ii, J in by_output[i]:
            x = inputs[ii]
            y = y + (J.to(x.dtype) @ (x - x.detach()).reshape(-1)).reshape(t.shape).to(t.dtype)
        return y

    return map_tensors(value, rebuild)


class CellRun:
    """One test cell run in the checker, with its link to the kernel."""

    def __init__(self, link: Link, source: str):
        self.link = link
        self.source = source
        self.ns: dict = {"__name__": "__main__", "__builtins__": builtins}
        self.lambdas = lambda_sources(source)
        self.kernel_refs: dict = {}

    def make_ref(self, node: dict):
        return _reference_class(str(node.get("type", "object")), bool(node.get("callable")))(
            node.get("path", []), bool(node.get("callable")), self)

    def fetch(self):
        names = free_names(self.source)
        data = self.link.request("fetch", names=names)
        values, _ = unpack(data, self.make_ref, modules=MODULES)
        if type(values) is not dict:
            raise GraderError("the notebook's kernel sent a malformed reply")
        wanted = set(names)
        for name, value in values.items():
            if name not in wanted:  # only the names asked for: never __builtins__, never a builtin's name
                raise GraderError(f"the notebook's kernel sent a name that was not asked for: {str(name)[:100]!r}")
            if isinstance(value, Reference):
                self.kernel_refs[name] = value
            self.ns[name] = value
        self.ns["__builtins__"] = builtins

    def overrides(self) -> dict:
        """The notebook's functions this cell has replaced by a lambda of its own, for the kernel to use too."""
        out = {}
        for name, ref in self.kernel_refs.items():
            now = self.ns.get(name)
            if name in self.lambdas and now is not ref and getattr(getattr(now, "__code__", None), "co_filename", "") == "<cell>":
                out[name] = self.lambdas[name]
        return out

    def call(self, path, args, kwargs):
        inputs = [t for t in tensors([list(args), kwargs]) if t.requires_grad]
        gens = generators([list(args), kwargs])
        p = Packer(_checker_ref)
        request = {"path": path, "args": list(args), "kwargs": dict(kwargs), "rng": rng_state(),
                   "overrides": self.overrides()}
        data = p.to_bytes(p.node(request, []))
        reply = self.link.request("call", request=base64.b64encode(data).decode())
        value, rest = unpack(reply, self.make_ref, modules=MODULES)
        if type(rest) is not dict:
            raise GraderError("the notebook's kernel sent a malformed reply")
        if "error" in rest:
            name, message = rest["error"]
            raise _exception_class(str(name))(str(message))
        # The kernel's global random state is not taken back (it could steer the test's own draws): the
        # checker's streams are re-seeded from its own private sequence instead, so the next call draws
        # fresh noise. Generators passed as arguments come back, once their new state is checked.
        reseed()
        for g, state in zip(gens, rest.get("gens", [])):
            g.bit_generator.state = checked_generator_state(type(g.bit_generator).__name__, state)
        return _linearised(value, rest.get("jac", []), inputs)

    def run(self, label: str) -> dict:
        out = io.StringIO()
        try:
            code = compile(self.source, "<cell>", "exec")
            self.fetch()
            with contextlib.redirect_stdout(out):
                exec(code, self.ns)
            error = None
        except BaseException as e:  # noqa: BLE001  (every failure is the cell's verdict)
            error = self.error(e, label)
        text = out.getvalue()
        if len(text) > STDOUT_LIMIT:
            text = text[:STDOUT_LIMIT] + "\n[output truncated by the grader]\n"
        return {"op": "verdict", "stdout": text, "error": error}

    def error(self, e: BaseException, label: str) -> dict:
        lines = self.source.splitlines()
        tb = ["-" * 75, f"{type(e).__name__:<42}Traceback (most recent call last)"]
        for frame in traceback.extract_tb(e.__traceback__):
            if frame.filename == "<cell>" and frame.lineno and 0 < frame.lineno <= len(lines):
                tb += [f"Cell {label}, line {frame.lineno}", f"----> {frame.lineno} {lines[frame.lineno - 1]}", ""]
        message = str(e)
        tb.append(f"{type(e).__name__}: {message}" if message else type(e).__name__)
        return {"ename": type(e).__name__, "evalue": message, "traceback": tb}


def serve(inp, out):
    """Answer the grader's requests until it closes the connection."""
    link = Link(inp, out)
    while True:
        msg = link.receive()
        if msg is None:
            return
        if msg.get("op") == "run":
            link.send(CellRun(link, msg["source"]).run(str(msg.get("label", ""))))
        elif msg.get("op") == "warm":  # import what the tests will need while the kernel runs the first cells
            for name in msg.get("modules", []):
                if name in MODULES:
                    with contextlib.suppress(ImportError):
                        __import__(name)


def main():
    """The checker process: the protocol on the original stdout; what tests print goes to a buffer, and C-level
    output to stderr. Its memory is limited like a kernel's, and its random streams start from fixed seeds."""
    import resource

    import numpy as np

    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY, MEMORY))
    sys.dont_write_bytecode = True  # nothing is written next to the instructor's fixtures
    if len(sys.argv) > 2 and sys.argv[2]:
        sys.meta_path.insert(0, FixturesFinder(sys.argv[2]))
    np.random.seed(0)  # torch's default generator starts from a fixed seed of its own
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, proto_out)


# What the grader runs: python -I -c CHECKER_MAIN <folder holding the grading package> <fixtures file or "">
CHECKER_MAIN = "import sys; sys.path.insert(0, sys.argv[1]); from grading.checker import main; main()"
