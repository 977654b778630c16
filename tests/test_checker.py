"""The checker (grading/checker.py): test cells judged in a clean process, on values fetched from the kernel.

Small notebooks are autograded with grading.preprocessors.ExecuteSandboxed, as nbgrader's autograde does:
a test cell passes when its outputs hold no error. The cheats at the end are each a plain cell on a wrong
submission: in the student's kernel every one of them makes the tests pass (the control test shows it);
judged by the checker, none gains anything.
"""

from __future__ import annotations

import io
import textwrap

import nbformat
import numpy as np
import pytest

from grading import sandbox as sb
from grading.checker import free_names, lambda_sources
from grading.preprocessors import ExecuteSandboxed, visible_part
from grading.values import BadValue, pack, plain_ref, unpack


def notebook(*cells) -> nbformat.NotebookNode:
    """cells: source strings (student cells) or ("grade_id", source) pairs (graded test cells)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for c in cells:
        if isinstance(c, tuple):
            grade_id, source = c
            nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(source).strip(), metadata={"nbgrader": {
                "grade": True, "grade_id": grade_id, "locked": True, "points": 1, "schema_version": 3,
                "solution": False, "task": False}}))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(c).strip()))
    return nb


def autograde(nb, folder, monkeypatch, sandbox="none") -> dict[str, list]:
    """{grade_id: outputs} of every test cell after autograding nb in folder."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("VAE_SANDBOX", sandbox)
    ep = ExecuteSandboxed(timeout=120, kernel_name="python3", extra_arguments=["--HistoryManager.hist_file=:memory:"])
    nb, _ = ep.preprocess(nb, {"metadata": {"path": str(folder)}})
    return {c.metadata["nbgrader"]["grade_id"]: c.outputs for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def failed(outputs) -> str | None:
    """'EName: message' of a test cell's error, or None if it passed."""
    errors = [o for o in outputs if o.get("output_type") == "error"]
    return f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else None


def printed(outputs) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


# ---------------------------------------------------------------------------------------------- values

def test_values_keep_types_shapes_dtypes_and_gradients():
    import torch

    class Matrix(np.ndarray):  # a student's own ndarray subclass
        pass

    t = torch.tensor([[1.0, -2.0]], requires_grad=True)
    (t * 3).sum().backward()
    value = {"a": np.arange(6.0).reshape(2, 3), "scalar": np.float32(1.5), "zero_d": torch.tensor(2.5),
             "t": t, "n": [1, 2.5, True, None, "s", b"xy", 3 + 4j, 2 ** 100], "tup": (1, (2, 3)),
             "m": np.array([[1, 2]]).view(Matrix), "dt": torch.float64, "i64": np.int64(3)}
    back = unpack(pack(value, plain_ref), make_ref=None)
    np.testing.assert_array_equal(back["a"], value["a"])
    assert type(back["scalar"]) is np.float32 and back["scalar"] == np.float32(1.5)
    assert back["zero_d"].shape == () and back["zero_d"].dtype == torch.float32
    assert back["t"].requires_grad and back["t"].grad.tolist() == [[3.0, 3.0]]
    assert back["n"] == value["n"] and back["tup"] == (1, (2, 3))
    assert type(back["m"]).__name__ == "Matrix" and type(back["m"]) is not np.ndarray
    assert back["dt"] is torch.float64 and type(back["i64"]) is np.int64


def test_functions_and_objects_travel_as_references_named_by_their_type():
    class Secret:
        pass

    back = unpack(pack({"f": len, "o": Secret()}, plain_ref, [["name", "x"]]), make_ref=lambda n: n)
    assert back["f"] == {"k": "ref", "path": [["name", "x"], ["item", "f"]], "type": "builtin_function_or_method",
                         "callable": True}
    assert back["o"]["type"] == "Secret" and back["o"]["callable"] is False


def test_pickled_and_object_arrays_are_never_read():
    buf = io.BytesIO()
    np.savez(buf, __manifest__=np.frombuffer(b'{"k": "nd", "a": "a0"}', dtype=np.uint8),
             a0=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        unpack(buf.getvalue(), make_ref=None)
    with pytest.raises(BadValue, match="Python objects"):
        from grading.values import Packer
        Packer(plain_ref).array(np.array([1, "a"], dtype=object))


def forged(manifest: dict) -> bytes:
    """The bytes a lying kernel could send: any manifest, no arrays."""
    import json

    buf = io.BytesIO()
    np.savez(buf, __manifest__=np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
    return buf.getvalue()


@pytest.mark.parametrize("manifest", [
    {"k": "tensor", "a": "a0", "dtype": "load"},
    {"k": "torch_dtype", "v": "nn"},
    {"k": "np_type", "v": "testing"},
    {"k": "np_gen", "bg": "Generator", "state": {}},
    {"k": "nd", "a": "missing"},
    {"k": "list", "v": [{"k": "list", "v": []}] * 3 + [{"k": "pickle", "v": "cos\nsystem\n"}]},
], ids=["tensor dtype", "torch dtype", "numpy type", "bit generator", "array", "unknown kind"])
def test_a_forged_manifest_is_refused_without_running_anything(manifest):
    with pytest.raises(BadValue):
        unpack(forged(manifest), make_ref=None, modules={"numpy"})


def test_a_module_outside_the_allow_list_is_never_imported():
    import sys

    assert "this" not in sys.modules  # importing it would print the Zen of Python
    value = unpack(forged({"k": "module", "v": "this"}), make_ref=lambda n: ("reference", n["type"]), modules={"numpy"})
    assert value == ("reference", "module") and "this" not in sys.modules
    submodule = unpack(forged({"k": "module", "v": "numpy.f2py.__main__"}), make_ref=lambda n: "reference",
                       modules={"numpy"})
    assert submodule == "reference" and "numpy.f2py.__main__" not in sys.modules


def test_free_names_are_what_the_cell_reads_from_the_notebook():
    source = "import numpy as np\n_x = np.asarray(X_true)\nfor _n in ('W_mu', 'b_mu'):\n    globals()[_n]\n" \
             "f = lambda mu, log_var: mu + log_var\nmu_t = 1\nassert sum([mu_t]) == 1 and D_KL is not None\n"
    assert free_names(source) == ["D_KL", "W_mu", "X_true", "b_mu"]
    assert lambda_sources(source) == {"f": "lambda mu, log_var: mu + log_var"}
    assert visible_part("a = 1\n### BEGIN HIDDEN TESTS\nassert a == 2\n### END HIDDEN TESTS\n") == "a = 1\npass\n"


# ------------------------------------------------------------------------------------- by value, by call

STUDENT = """
import numpy as np, torch
x = np.arange(3.0)
def double(v):
    return 2 * v
def sample(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
def draw(rng):
    return rng.standard_normal(3)
def broken():
    raise NotImplementedError("not yet")
"""

TESTS = [
    ("value_and_call", """
        import numpy as np
        assert x.shape == (3,)
        print("visible check passed")
        ### BEGIN HIDDEN TESTS
        np.testing.assert_allclose(double(x), 2 * np.arange(3.0))
        ### END HIDDEN TESTS
        """),
    ("wrong_value", """
        import numpy as np
        ### BEGIN HIDDEN TESTS
        np.testing.assert_allclose(x, [0.0, 1.0, 3.0], err_msg="x is not 0, 1, 3")
        ### END HIDDEN TESTS
        """),
    ("gradients_through_the_kernel", """
        import torch
        mu_t = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]], requires_grad=True)
        lv_t = torch.tensor([[0.0, -1.0, 0.5], [1.0, -2.0, 0.2]], requires_grad=True)
        z_t = sample(mu_t, lv_t)
        assert z_t.requires_grad and z_t.shape == (2, 3)
        z_t.sum().backward()
        ### BEGIN HIDDEN TESTS
        torch.testing.assert_close(mu_t.grad, torch.ones(2, 3))
        torch.testing.assert_close(lv_t.grad, 0.5 * (z_t.detach() - mu_t.detach()))
        ### END HIDDEN TESTS
        """),
    ("random_state_follows_the_test", """
        import numpy as np, torch
        torch.manual_seed(0)
        a_t = sample(torch.zeros(2, 3), torch.zeros(2, 3))
        torch.manual_seed(0)
        torch.testing.assert_close(a_t, torch.randn(2, 3))
        assert not torch.allclose(sample(torch.zeros(2, 3), torch.zeros(2, 3)), sample(torch.zeros(2, 3), torch.zeros(2, 3)))
        r = np.random.default_rng(5)
        first, second = draw(r), r.standard_normal(3)
        r2 = np.random.default_rng(5)
        np.testing.assert_allclose(first, r2.standard_normal(3))
        np.testing.assert_allclose(second, r2.standard_normal(3))
        """),
    ("student_error", """
        broken()
        """),
]


def test_a_test_cell_is_judged_on_values_and_calls(tmp_path, monkeypatch):
    out = autograde(notebook(STUDENT, *TESTS), tmp_path, monkeypatch)
    assert failed(out["value_and_call"]) is None and printed(out["value_and_call"]) == "visible check passed\n"
    assert failed(out["wrong_value"]).startswith("AssertionError") and "x is not 0, 1, 3" in failed(out["wrong_value"])
    assert failed(out["gradients_through_the_kernel"]) is None
    assert failed(out["random_state_follows_the_test"]) is None
    assert failed(out["student_error"]) == "NotImplementedError: not yet"


def test_the_checker_loads_nothing_of_the_students(tmp_path, monkeypatch):
    """A module of the student's, its objects and functions reach the checker as references, never as code."""
    (tmp_path / "studentmod.py").write_text("class Secret:\n    pass\ndef helper(v):\n    return v + 1\n")
    student = "import studentmod\nsecret = studentmod.Secret()\nhelper = studentmod.helper\nmod = studentmod\n"
    test = ("loads_nothing", """
        import os, sys
        import grading
        assert type(secret).__name__ == "Secret" and helper(1) == 2
        assert "studentmod" not in sys.modules
        assert type(mod).__name__ == "module" and not hasattr(mod, "__file__")
        trusted = (sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(grading.__file__)))
        print(sorted(m for m, v in sys.modules.items() if getattr(v, "__file__", None) and not v.__file__.startswith(trusted)))
        """)
    out = autograde(notebook(student, test), tmp_path, monkeypatch)
    assert failed(out["loads_nothing"]) is None
    assert printed(out["loads_nothing"]) == "[]\n"


def test_an_object_that_is_not_a_value_cannot_pass_as_one():
    from grading.checker import CellRun

    answer = CellRun(link=None, source="").make_ref({"k": "ref", "path": [["name", "D"]], "type": "Always",
                                                      "callable": False})
    assert type(answer).__name__ == "Always"
    for use in (lambda: answer == 1.2, lambda: answer != 1.2, lambda: bool(answer), lambda: answer < 3,
                lambda: len(answer), lambda: list(answer), lambda: float(answer)):
        with pytest.raises(TypeError):
            use()


def test_a_kernel_that_sends_too_much_fails_only_its_own_cell(tmp_path, monkeypatch):
    """The student replaces the kernel's side of the protocol with one that answers with 100 MB."""
    flood = "import sys\nsys.modules['_vae_grader_kernel'].fetch = lambda names: 'x' * (100 << 20)\nx = 1\n"
    out = autograde(notebook(flood, ("flooded", "assert x == 1")), tmp_path, monkeypatch)
    assert failed(out["flooded"]).startswith("GraderError") and "MiB the grader reads" in failed(out["flooded"])


# A lying kernel (found by a review that attacked the checker): each replaces the kernel's side of the
# protocol (the kernel's module _vae_grader_kernel) with its own, on a wrong submission.
FORGE_BUILTINS = """
import sys, base64
class _Yes:                       # every attribute is another _Yes, every call returns True
    def __getattr__(self, name):
        return _Yes()
    def __call__(self, *a, **k):
        return True
def _fake_import(name, *args, **kwargs):
    return _Yes()                 # what the test's own `import numpy as np` would give
_k = sys.modules["_vae_grader_kernel"]
def _fetch(names):
    ns = get_ipython().user_ns
    p = _k.Packer(_k._kernel_ref)
    found = [n for n in names if n in ns]
    keys = [{"k": "str", "v": n} for n in found] + [{"k": "str", "v": "__builtins__"}]
    vals = [p.node(ns[n], [["name", n]]) for n in found]
    vals.append({"k": "dict", "keys": [{"k": "str", "v": "__import__"}],
                 "vals": [{"k": "ref", "path": [["name", "_fake_import"]], "type": "function", "callable": True}]})
    rest = p.node({"missing": []}, [["result", -1]])
    return base64.b64encode(p.to_bytes({"k": "tuple", "v": [{"k": "dict", "keys": keys, "vals": vals}, rest]})).decode()
_k.fetch = _fetch
"""

FORGE_RANDOM_STATE = """
import sys, base64
import numpy as np
_k = sys.modules["_vae_grader_kernel"]
_call = _k.call
def _steering_call(request):   # the genuine reply, plus an all-zero random state for the checker to adopt
    reply = _k.Unpacker(base64.b64decode(_call(request)), lambda n: n)
    p = _k.Packer(_k._kernel_ref)
    p.arrays.update(reply.arrays)
    zero = ("MT19937", np.zeros(624, dtype=np.uint32), 0, 0, 0.0)
    forged = p.node({"rng": {"numpy": zero, "torch": None}, "jac": [], "gens": []}, [["result", -1]])
    return base64.b64encode(p.to_bytes({"k": "tuple", "v": [reply.manifest["v"][0], forged]})).decode()
_k.call = _steering_call
"""


def test_a_kernel_that_sends_names_it_was_not_asked_for_gains_nothing(tmp_path, monkeypatch):
    """Extra names in a fetch reply (here __builtins__, to answer the test's own imports) fail the cell."""
    out = autograde(notebook(WRONG, FORGE_BUILTINS, *CHECKS), tmp_path, monkeypatch)
    assert "not asked for: '__builtins__'" in failed(out["d_is_right"])
    assert "not asked for" in failed(out["half_is_right"])


def test_a_kernel_cannot_steer_the_tests_own_random_draws(tmp_path, monkeypatch):
    """A reply that claims an all-zero random state: the test's draws after the call stay random."""
    right = WRONG.replace("return v ", "return v / 2")
    check = ("draws_after_a_call", """
        import numpy as np
        half(np.array([2.0]))
        v = np.random.rand(5)
        assert (v > 0).all()
        np.testing.assert_allclose(half(v), v / 2)
        """)
    out = autograde(notebook(right, FORGE_RANDOM_STATE, check), tmp_path, monkeypatch)
    assert failed(out["draws_after_a_call"]) is None


def test_a_compressed_reply_is_refused_before_it_is_unpacked():
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("__manifest__.npy", b"\0" * (1 << 20))
    with pytest.raises(BadValue, match="compressed"):
        unpack(buf.getvalue(), make_ref=None)


def test_a_forged_generator_state_is_refused():
    from grading.values import checked_generator_state

    state = np.random.MT19937(0).state
    assert checked_generator_state("MT19937", state) is state
    state["state"]["pos"] = 100_000  # numpy would read past the key
    with pytest.raises(BadValue, match="MT19937"):
        checked_generator_state("MT19937", state)
    with pytest.raises(BadValue):
        checked_generator_state("PCG64", state)


# ----------------------------------------------------------------------------------------------- cheats

WRONG = """
import numpy as np
D = np.array([1.0, 2.0])          # the test expects [1.0, 2.5]
def half(v):
    return v                      # the test expects v / 2
"""

CHECKS = [
    ("d_is_right", """
        import numpy as np
        assert D.shape == (2,)
        ### BEGIN HIDDEN TESTS
        np.testing.assert_allclose(D, [1.0, 2.5])
        assert np.allclose(D, [1.0, 2.5])
        ### END HIDDEN TESTS
        """),
    ("half_is_right", """
        import numpy as np
        ### BEGIN HIDDEN TESTS
        np.testing.assert_allclose(half(np.array([2.0])), [1.0])
        np.testing.assert_allclose(half(np.array([6.0])), [3.0])
        ### END HIDDEN TESTS
        """),
]

CHEATS = {
    "numpy_internals_patched": """
        import numpy as np
        import numpy._core.numeric as _nc
        import numpy.testing._private.utils as _nu
        _nc.allclose = np.allclose = lambda *a, **k: True
        _nu.assert_allclose = np.testing.assert_allclose = lambda *a, **k: None
        """,
    "background_thread_swaps_assert_allclose": """
        import threading, time
        import numpy as np
        def _swap():
            while True:
                np.testing.assert_allclose = lambda *a, **k: None
                np.allclose = lambda *a, **k: True
                time.sleep(0.001)
        threading.Thread(target=_swap, daemon=True).start()
        time.sleep(0.05)
        """,
    "run_cell_replaced_on_the_class": """
        from IPython.core.interactiveshell import InteractiveShell
        _orig = InteractiveShell.run_cell
        def _run_cell(self, raw_cell, *a, **k):
            return _orig(self, "pass" if "assert" in raw_cell else raw_cell, *a, **k)
        InteractiveShell.run_cell = _run_cell
        """,
    "settrace_rewrites_comparisons": """
        import sys
        _CHECKS = ("assert_allclose", "allclose", "isclose")
        def _rewrite(frame, event, arg):   # the compared value becomes the expected one, inside numpy's own frame
            if event == "line":
                loc = frame.f_locals
                if "desired" in loc:
                    loc["actual"] = loc["desired"]
                if "a" in loc and "b" in loc:
                    loc["a"] = loc["b"]
            return _rewrite
        sys.settrace(lambda frame, event, arg: _rewrite if frame.f_code.co_name in _CHECKS else None)
        """,
    "input_transformer_claims_ipython": """
        def _empty(lines):
            return []
        _empty.__module__ = "IPython.core.inputtransformer2"
        get_ipython().input_transformers_cleanup.append(_empty)
        """,
    "ast_transformer_drops_asserts": """
        import ast
        class _NoChecks(ast.NodeTransformer):
            def visit_Assert(self, node):
                return ast.Pass()
            def visit_Expr(self, node):
                return ast.Pass() if "assert" in ast.unparse(node) else node
        get_ipython().ast_transformers.append(_NoChecks())
        """,
    "always_equal_array_object": """
        import numpy as np
        class _Fake:
            shape = (2,)
            def __eq__(self, other):
                return True
            def __array__(self, dtype=None, copy=None):
                return np.array([1.0, 2.5])
        D = _Fake()
        """,
    "function_detects_the_grader": """
        import inspect
        import numpy as np
        _honest = half
        def half(v):
            if any("vae_grader" in str(f.frame.f_globals.get("__name__")) for f in inspect.stack()):
                return np.array([1.0])          # what it guesses the grader wants
            return _honest(v)
        """,
}


def test_in_the_kernel_the_cheats_would_work(tmp_path, monkeypatch):
    """Control: run as plain cells in one kernel, as nbgrader alone would, each cheat passes the check on D."""
    from nbclient import NotebookClient

    passed = []
    for name, cheat in sorted(CHEATS.items()):
        if name == "function_detects_the_grader":
            continue  # it cheats only when the grader calls it
        nb = notebook(WRONG, cheat, CHECKS[0][1])
        NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        if failed(nb.cells[2].outputs) is None:
            passed.append(name)
    assert passed == sorted(set(CHEATS) - {"function_detects_the_grader"})


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_cheats_gain_nothing(name, tmp_path, monkeypatch):
    out = autograde(notebook(WRONG, CHEATS[name], *CHECKS), tmp_path, monkeypatch)
    assert failed(out["d_is_right"]) is not None
    assert failed(out["half_is_right"]) is not None


def test_the_right_answer_passes_the_same_checks(tmp_path, monkeypatch):
    right = WRONG.replace("[1.0, 2.0]", "[1.0, 2.5]").replace("return v ", "return v / 2")
    out = autograde(notebook(right, *CHECKS), tmp_path, monkeypatch)
    assert (failed(out["d_is_right"]), failed(out["half_is_right"])) == (None, None)


@pytest.mark.skipif(sb.sandbox_problem() is not None, reason="bubblewrap cannot run here")
def test_the_checker_reaches_a_sandboxed_kernel(tmp_path, monkeypatch):
    out = autograde(notebook(STUDENT, *TESTS), tmp_path, monkeypatch, sandbox="bwrap")
    assert failed(out["value_and_call"]) is None and failed(out["gradients_through_the_kernel"]) is None
    assert failed(out["wrong_value"]).startswith("AssertionError")
    assert failed(out["student_error"]) == "NotImplementedError: not yet"


def test_what_the_kernel_runs_imports_only_the_standard_library_and_numpy():
    """grading/values.py and grading/kernel_side.py are installed into every kernel as source: at the top they may
    import only the standard library and numpy (kernel_side's values, from the package or the installed module)."""
    import ast
    import sys
    from pathlib import Path

    import grading

    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__", "_vae_grader_values"}
    for name in ("values.py", "kernel_side.py"):
        tree = ast.parse((Path(grading.__file__).parent / name).read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        top += [n for t in tree.body if isinstance(t, ast.Try) for n in t.body + [s for h in t.handlers for s in h.body]
                if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in top:
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                relative = isinstance(node, ast.ImportFrom) and node.level > 0
                assert relative and module == "values" or module.split(".")[0] in allowed, f"{name} imports {module}"
