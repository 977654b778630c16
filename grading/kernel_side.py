"""What the grader installs in a student's kernel, so that the checker can read answers and call functions.

INSTALL is a user expression the grader sends once, right after the kernel starts and before any student
code: it runs grading/values.py and KERNEL_SOURCE in a namespace of their own and keeps it as
``sys._vae_grader_kernel``. Then, while the checker (grading.checker) runs a test cell, the grader asks
the kernel, out of band (user expressions), for

- FETCH: the values of some names of the notebook, packed by grading.values;
- CALL: a function of the notebook (or anything a reference points at) called on arguments the checker
  packed, with the random states the checker had. The reply holds the result by value, the new states
  of numpy generators passed as arguments, and, for every output
  tensor that depends on input tensors with ``requires_grad``, its Jacobian with respect to each of them:
  the checker rebuilds the output as a function of its own inputs, so that ``.backward()`` there gives the
  gradients the kernel computed.

All of this runs in the student's process and can be faked by the student's code: the checker treats
every reply as an answer, which its checks then test like any other.
"""

from __future__ import annotations

from pathlib import Path

KERNEL_SOURCE = r'''
import base64 as _b64
_ip = get_ipython()
_results = {}
_missing = object()


def _resolve(path):
    obj = None
    for i, (kind, key) in enumerate(path):
        if i == 0:
            obj = _ip.user_ns[key] if kind == "name" else _results[key]
        elif kind == "attr":
            obj = getattr(obj, key)
        else:
            obj = obj[key]
    return obj


def _kernel_ref(obj, path):
    if not path or path[0][0] not in ("name", "result"):
        raise BadValue("a reference without a root")
    return plain_ref(obj, path)



def fetch(names):
    """The values of these names (those the notebook defines), and the missing ones."""
    ns = _ip.user_ns
    p = Packer(_kernel_ref)
    found = [n for n in names if n in ns]
    values = {"k": "dict", "keys": [{"k": "str", "v": n} for n in found],
              "vals": [p.node(ns[n], [["name", n]]) for n in found]}
    rest = p.node({"missing": [n for n in names if n not in ns]}, [["result", -1]])
    return _b64.b64encode(p.to_bytes({"k": "tuple", "v": [values, rest]})).decode()



def _jacobians(outputs, inputs, limit=20_000):
    """[[output index, input index, d output / d input as an (out.numel, in.numel) array]]"""
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


def call(request):
    """Call what request["path"] points at on request's arguments; the packed reply (see the module)."""
    req = Unpacker(_b64.b64decode(request), lambda n: _resolve(n["path"])).value()
    ns = _ip.user_ns
    saved = {}
    reply = {}
    try:
        fn = _resolve(req["path"])
        args, kwargs = req["args"], req["kwargs"]
        set_rng(req["rng"])
        inputs = [t for t in tensors([args, kwargs]) if t.requires_grad and t.is_leaf]
        for name, source in req["overrides"].items():
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
        _results[len(_results)] = out
        key = len(_results) - 1
        jac = _jacobians(tensors(out), inputs)
        reply = {"jac": jac, "gens": [g.bit_generator.state for g in generators([args, kwargs])]}
        p = Packer(_kernel_ref)
        value = p.node(out, [["result", key]])
        rest = p.node(reply, [["result", -1]])
        return _b64.b64encode(p.to_bytes({"k": "tuple", "v": [value, rest]})).decode()
    except BaseException as e:  # the student's function failed: the checker raises the same kind of error
        if isinstance(e, KeyboardInterrupt):
            raise
        p = Packer(_kernel_ref)
        err = p.node({"error": [type(e).__name__, str(e)[:4000]]}, [["result", -1]])
        return _b64.b64encode(p.to_bytes({"k": "tuple", "v": [{"k": "none"}, err]})).decode()
'''

HERE = Path(__file__).resolve().parent


def install_source() -> str:
    """The source that the kernel runs once: grading/values.py, then KERNEL_SOURCE."""
    return (HERE / "values.py").read_text() + "\n" + KERNEL_SOURCE


INSTALL = ("(lambda ns: (exec(ns['src'], ns), __import__('sys').__setattr__('_vae_grader_kernel', ns), 'installed')[-1])"
           "({{'src': {src!r}, 'get_ipython': get_ipython, '__name__': 'vae_grader_kernel'}})")
INSTALL_OK = "'installed'"


def install_expression() -> str:
    return INSTALL.format(src=install_source())


def fetch_expression(names: list[str]) -> str:
    return f"__import__('sys')._vae_grader_kernel['fetch']({list(names)!r})"


def call_expression(request_b64: str) -> str:
    return f"__import__('sys')._vae_grader_kernel['call']({request_b64!r})"
