"""Prose and numbers cannot drift apart: every claim marker in a notebook is backed by a printed, passing claim.

The unit tests exercise helpers/claims.py on hand-made notebooks. The course tests read the executed
reference notebooks that `make course` writes to build/executed/<assignment>/ (they skip, saying so,
when that copy does not exist yet, and fail when it is older than the solution it came from).
"""

import json

import pytest

from grading import course_dir as ct
import helpers as h


def _nb(markdown: str, printed: str) -> dict:
    return {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": markdown},
        {"cell_type": "code", "metadata": {}, "source": "...", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": printed}]},
    ]}


def test_claim_prints_and_returns_the_value(capsys):
    assert h.claim("loss", 2.0031, 1.8, 2.2) == pytest.approx(2.0031, abs=1e-12)
    assert capsys.readouterr().out == "[claim loss] 2.0031 within [1.8, 2.2]: ok\n"


def test_claim_outside_its_range_raises_after_printing(capsys):
    with pytest.raises(h.ClaimError, match="outside the range"):
        h.claim("loss", 2.5, 1.8, 2.2)
    assert capsys.readouterr().out.endswith(": FAILED\n")
    with pytest.raises(h.ClaimError):
        h.claim("gap", float("nan"), lo=0)


def test_claim_one_sided_and_bad_arguments(capsys):
    assert h.claim("gap", 0.3, lo=0) == pytest.approx(0.3, abs=1e-12)
    assert "within [0.0, inf]: ok" in capsys.readouterr().out
    with pytest.raises(ValueError, match="needs a range"):
        h.claim("gap", 0.3)
    with pytest.raises(ValueError, match="may only use"):
        h.claim("two words", 0.3, 0, 1)


def test_matching_prose_passes():
    nb = _nb("scores about 2.0<!--claim:loss-->, a share of 27%<!--claim:share--> and it is positive<!--claim:gap-->.",
             "[claim loss] 2.0312 within [1.8, 2.2]: ok\n[claim share] 0.2712 within [0.2, 0.3]: ok\n"
             "[claim gap] 0.5 within [0.0, inf]: ok\n")
    assert h.prose_claims(nb) == [(0, "loss", "2.0", False), (0, "share", "27", True), (0, "gap", None, False)]
    assert h.check_notebook(nb) == []


def test_latex_and_unicode_minus_are_read():
    nb = _nb(r"the bound is $\approx -1.69$<!--claim:b--> and **−0.5**<!--claim:c-->",
             "[claim b] -1.6931 within [-2.0, -1.0]: ok\n[claim c] -0.5 within [-1.0, 0.0]: ok\n")
    assert h.check_notebook(nb) == []


def test_prose_number_that_drifted_fails():
    nb = _nb("scores about 2.1<!--claim:loss-->", "[claim loss] 2.0312 within [1.8, 2.2]: ok\n")
    (problem,) = h.check_notebook(nb)
    assert "the prose says 2.1 but the notebook computed 2.031" in problem


def test_prose_without_a_printed_claim_fails():
    (problem,) = h.check_notebook(_nb("about 2.0<!--claim:loss-->", "no claims here\n"))
    assert "no code cell printed this claim" in problem


def test_failed_printed_claim_fails():
    (problem,) = h.check_notebook(_nb("no markers", "[claim loss] 2.5 within [1.8, 2.2]: FAILED\n"))
    assert "outside [1.8, 2.2]" in problem


CASES = [(a, n) for a in ct.assignments() for n in ct.notebook_names(a)
         if "<!--claim:" in (ct.SOLUTIONS / a / n).read_text(encoding="utf-8").replace("<!-- claim:", "<!--claim:")]


def _sources(nb: dict) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]


@pytest.mark.parametrize("assignment,name", CASES)
def test_executed_reference_notebook_backs_its_prose(assignment, name):
    """build/executed/<assignment>/<name>: every claim marker matches a passing claim printed in it."""
    executed = ct.BUILD / "executed" / assignment / name
    if not executed.exists():
        pytest.skip(f"{executed} does not exist yet: run `make course` (or ASSIGNMENT={assignment} make course)")
    nb = json.loads(executed.read_text(encoding="utf-8"))
    source = json.loads((ct.SOLUTIONS / assignment / name).read_text(encoding="utf-8"))
    assert _sources(nb) == _sources(source), f"{executed} is older than solutions/{assignment}/{name}: run `make course`"
    assert h.prose_claims(nb), "the solution has claim markers, but none was found in the executed copy"
    assert h.check_notebook(nb) == []
