"""No answer leaks in mnist_vaes: the release's visible checks and prose hold no number a hidden test grades against.

The hidden tests compare a student's answers with expectations from the hidden fixtures (solutions/mnist_vaes/
hidden_fixtures.py) on inputs that no release publishes. Here every graded test cell of the solutions runs in this
process on the reference answers, with the fixtures' comparisons recording what they compare with (values and
gradients); then every number the release shows (its markdown and code, visible checks included) is held against
them: a release number that equals an expectation rounded to the number's own decimals is a leak.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import sys

import nbformat
import pytest

from grading import course_dir as ct

ASSIGNMENT = "mnist_vaes"
NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+")


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _answers(name: str) -> list[str]:
    nb = nbformat.read(ct.SOLUTIONS / ASSIGNMENT / name, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def significant(x: str) -> bool:
    """A number that identifies a value: four significant digits or more (0.8181, -1.942, 10.8889; not 0.5, 2.25,
    -0.375, 2.5000 or 14.0000, which hundreds of graded values match by chance at their precision)."""
    return len(x.lstrip("-").replace(".", "").strip("0")) >= 4


def leaks(text: str, expected: list[float]) -> list[tuple[str, float]]:
    """(number in text, expectation) pairs where the number is the expectation rounded to the number's decimals."""
    found = []
    for x in {m.group(0) for m in NUMBER.finditer(text)}:
        if not significant(x):
            continue
        decimals = len(x.split(".")[1])
        value = float(x)
        found += [(x, e) for e in expected if abs(e - value) <= 0.5 * 10 ** -decimals]
    return found


@pytest.fixture(scope="module")
def graded_expectations() -> list[float]:
    """Every number a hidden test of mnist_vaes compares an answer with, from running the cells on the reference."""
    import torch

    import helpers as h

    sys.path.insert(0, str(ct.SOLUTIONS / ASSIGNMENT))
    try:
        import hidden_fixtures as hf

        recorded: list = []
        originals = {n: getattr(hf, n) for n in ("close", "check_gradients", "within_monte_carlo_error")}

        def close(actual, expected, *args, **kwargs):
            recorded.append(expected)
            return originals["close"](actual, expected, *args, **kwargs)

        def check_gradients(out, want, *args, **kwargs):
            recorded.extend(want.grads)
            return originals["check_gradients"](out, want, *args, **kwargs)

        def within_monte_carlo_error(estimate, expected, *args, **kwargs):
            recorded.append(expected)
            return originals["within_monte_carlo_error"](estimate, expected, *args, **kwargs)

        hf.close, hf.check_gradients, hf.within_monte_carlo_error = close, check_gradients, within_monte_carlo_error
        try:
            for name in ct.notebook_names(ASSIGNMENT):
                ns = {"__name__": "__main__", "math": math, "torch": torch, "h": h}
                for src in (_answers("01_base_vae.ipynb") if name != "01_base_vae.ipynb" else []) + _answers(name):
                    exec(src, ns)
                for cell in nbformat.read(ct.SOLUTIONS / ASSIGNMENT / name, as_version=4).cells:
                    if _is_test(cell) and "### BEGIN HIDDEN TESTS" in cell.source:
                        torch.manual_seed(0)
                        with contextlib.redirect_stdout(io.StringIO()):
                            exec(compile(cell.source, cell.metadata["nbgrader"]["grade_id"], "exec"), dict(ns))
        finally:
            for n, f in originals.items():
                setattr(hf, n, f)
    finally:
        sys.path.remove(str(ct.SOLUTIONS / ASSIGNMENT))
        sys.modules.pop("hidden_fixtures", None)
    # a number a student could type in: tensors of up to 100 values (not the gradients of a batch of 784-pixel images)
    values = [float(v) for e in recorded if torch.as_tensor(e).numel() <= 100
              for v in torch.as_tensor(e).detach().reshape(-1).tolist()]
    return sorted({round(v, 12) for v in values if math.isfinite(v)})


def _release_text(name: str) -> str:
    nb = json.loads((ct.NOTEBOOKS / ASSIGNMENT / name).read_text())
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"])


def test_the_hidden_tests_compare_with_many_numbers(graded_expectations):
    assert len(graded_expectations) > 200, "the hidden tests' expectations were not recorded"


@pytest.mark.parametrize("name", ct.notebook_names(ASSIGNMENT))
def test_the_release_shows_no_graded_number(name, graded_expectations):
    found = leaks(_release_text(name), graded_expectations)
    assert not found, f"notebooks/{ASSIGNMENT}/{name} shows numbers the hidden tests grade against: {found[:5]}"


def test_a_leak_would_be_found(graded_expectations):
    """The check itself: a graded number printed to four decimals in a visible check is caught; a worked example's
    number is not."""
    graded = next(v for v in graded_expectations if 0.1 < abs(v) < 100 and abs(v * 10 ** 4 - round(v * 10 ** 4)) > 1e-3)
    cell = f"assert math.isclose(float(kl_t[0]), {graded:.4f}, abs_tol=1e-4)"
    assert leaks(cell, graded_expectations) == [(f"{graded:.4f}", graded)]
    assert leaks("expect [0.0000, 0.0000, 0.8181, 2.8069], recon 196, var_p 2.25", [0.3181, 1.0774, 196.0]) == []
