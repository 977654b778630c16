"""What runs in a student's kernel while it is graded: the answers to the checker's fetch and call requests.

The checker (grading.checker) runs a test cell outside the student's process. For the names the cell reads it
asks the kernel, through the grader, out of band (IPython user expressions, never a cell of the notebook):

- fetch(names): the values of those names in the notebook, packed by grading.values (an .npz file, never pickle);
- call(request): a function of the notebook (or anything a reference points at) called on arguments the checker
  packed, with the checker's random states and the lambdas the test cell assigned. The reply holds the result by
  value, the new states of numpy generators passed as arguments, and, for every output tensor that depends on
  input tensors with ``requires_grad``, its Jacobian with respect to each of them: the checker rebuilds the
  output as a function of its own inputs, so that ``.backward()`` there gives the gradients the kernel computed.

The messages and what each side checks are the table in grading/checker.py.

This module is a real module of the grading package (linted and tested like the rest), and it is also shipped to
the kernel as source: right after the kernel starts and before any student code, the grader sends
install_expression(), which runs grading/values.py and then this file as two modules of their own
(VALUES_MODULE and KERNEL_MODULE in the kernel's sys.modules). Both may import only the standard library and
numpy at the top (tests/test_checker.py enforces it): the kernel imports nothing of the grading package.

All of this runs in the student's process and can be faked by the student's code: the checker treats every
reply as an answer, which its checks then test like any other.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

try:  # in the grader: a module of the grading package
    from .values import BadValue, Packer, Unpacker, generators, plain_ref, set_rng, tensors
except ImportError:  # in the kernel: installed from source by install_expression(), values.py first
    from _vae_grader_values import BadValue, Packer, Unpacker, generators, plain_ref, set_rng, tensors

VALUES_MODULE, KERNEL_MODULE = "_vae_grader_values", "_vae_grader_kernel"
JACOBIAN_LIMIT = 20_000  # numbers in one output that needs gradients

_results: dict = {}  # what calls returned, so that a later request can refer to it (["result", key])
_missing = object()


def _user_ns() -> dict:
    from IPython import get_ipython

    return get_ipython().user_ns


def _resolve(path):
    """The object a reference path points at: a name of the notebook or an earlier result, then attributes and items."""
    obj = None
    for i, (kind, key) in enumerate(path):
        if i == 0:
            obj = _user_ns()[key] if kind == "name" else _results[key]
        elif kind == "attr":
            obj = getattr(obj, key)
        else:
            obj = obj[key]
    return obj


def _kernel_ref(obj, path):
    if not path or path[0][0] not in ("name", "result"):
        raise BadValue("a reference without a root")
    return plain_ref(obj, path)


def _reply(value_node: dict, rest_node: dict, packer: Packer) -> str:
    return base64.b64encode(packer.to_bytes({"k": "tuple", "v": [value_node, rest_node]})).decode()


def fetch(names: list[str]) -> str:
    """The values of these names (those the notebook defines), and the missing ones."""
    ns = _user_ns()
    p = Packer(_kernel_ref)
    found = [n for n in names if n in ns]
    values = {"k": "dict", "keys": [{"k": "str", "v": n} for n in found],
              "vals": [p.node(ns[n], [["name", n]]) for n in found]}
    return _reply(values, p.node({"missing": [n for n in names if n not in ns]}, [["result", -1]]), p)


def _jacobians(outputs, inputs, limit=JACOBIAN_LIMIT):
    """[[output index, input index, d output / d input as an (out.numel, in.numel) tensor]]"""
    torch = sys.modules.get("torch")
    found = []
    for oi, out in enumerate(outputs):
        if not (out.requires_grad and (out.is_floating_point() or out.is_complex())) or not inputs:
            continue
        if out.numel() > limit:
            raise BadValue(f"an output of {out.numel()} numbers that needs gradients is too large to send")
        flat = out.reshape(-1)
        rows = [[] for _ in inputs]
        for j in range(flat.numel()):
            grads = torch.autograd.grad(flat[j], inputs, retain_graph=True, allow_unused=True)
            for i, g in enumerate(grads):
                rows[i].append(None if g is None else g.reshape(-1))
        for i, r in enumerate(rows):
            if all(g is None for g in r):
                continue  # this output does not depend on input i: its .grad stays None, as in the kernel
            zero = torch.zeros(inputs[i].numel(), dtype=inputs[i].dtype)
            found.append([oi, i, torch.stack([zero if g is None else g.detach() for g in r])])
    return found


def call(request: str) -> str:
    """Call what the request's path points at on its arguments; the packed reply (see the module)."""
    req = Unpacker(base64.b64decode(request), lambda n: _resolve(n["path"])).value()
    ns = _user_ns()
    saved = {}
    try:
        fn = _resolve(req["path"])
        args, kwargs = req["args"], req["kwargs"]
        set_rng(req["rng"])
        inputs = [t for t in tensors([args, kwargs]) if t.requires_grad and t.is_leaf]
        for name, source in req["overrides"].items():  # the test cell's lambdas replace the notebook's functions
            saved[name] = ns.get(name, _missing)
            ns[name] = eval(source, ns)
        try:
            out = fn(*args, **kwargs)
        finally:
            for name, old in saved.items():
                if old is _missing:
                    ns.pop(name, None)
                else:
                    ns[name] = old
        key = len(_results)
        _results[key] = out
        reply = {"jac": _jacobians(tensors(out), inputs),
                 "gens": [g.bit_generator.state for g in generators([args, kwargs])]}
        p = Packer(_kernel_ref)
        return _reply(p.node(out, [["result", key]]), p.node(reply, [["result", -1]]), p)
    except BaseException as e:  # the student's function failed: the checker raises the same kind of error
        if isinstance(e, KeyboardInterrupt):
            raise
        p = Packer(_kernel_ref)
        return _reply({"k": "none"}, p.node({"error": [type(e).__name__, str(e)[:4000]]}, [["result", -1]]), p)


# ------------------------------------------------------------------------------------------------ the grader's side
# How the grader installs this module in a kernel and asks it (grading.preprocessors.ExecuteSandboxed). These run in
# the grader only; in the kernel they are merely defined.

INSTALL = ("(lambda sources: [(__import__('sys').modules.__setitem__(name, m), "
           "exec(compile(code, '<' + name + '>', 'exec'), m.__dict__)) "
           "for name, code in sources for m in [__import__('types').ModuleType(name)]] and 'installed')({sources!r})")
INSTALL_OK = "'installed'"


def install_expression() -> str:
    """The user expression that installs grading/values.py and this file in a kernel, as two modules."""
    here = Path(__file__).resolve().parent
    sources = [(VALUES_MODULE, (here / "values.py").read_text()), (KERNEL_MODULE, (here / "kernel_side.py").read_text())]
    return INSTALL.format(sources=sources)


def fetch_expression(names: list[str]) -> str:
    return f"__import__('sys').modules[{KERNEL_MODULE!r}].fetch({list(names)!r})"


def call_expression(request_b64: str) -> str:
    return f"__import__('sys').modules[{KERNEL_MODULE!r}].call({request_b64!r})"
