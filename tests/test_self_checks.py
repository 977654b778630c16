"""Issue 24's measure: the release's visible checks catch the common mistakes before the student submits.

Every mistake of tests/mistakes.py runs against the visible checks only (tests/self_checks.py): it is flagged when a
check that passes for the reference fails with an AssertionError and a message. Every notebook needs at least
MIN_MISTAKES mistakes in the catalog, and at least FLAGGED of them flagged. build/self_checks.json keeps the table.
"""

from __future__ import annotations

import json

import pytest

import mistakes
import self_checks
from grading import course_dir as ct

MIN_MISTAKES = 8
FLAGGED = 0.9
NOTEBOOKS = [(a, name[:-len(".ipynb")]) for a in ct.assignments() for name in ct.notebook_names(a)]


@pytest.fixture(scope="module")
def measured():
    references = {k: self_checks.reference(*k) for k in NOTEBOOKS}
    outcomes = self_checks.run_all(mistakes.MISTAKES)
    rows = self_checks.table(mistakes.MISTAKES, outcomes, references)
    ct.BUILD.mkdir(exist_ok=True)
    (ct.BUILD / "self_checks.json").write_text(json.dumps(
        {f"{a}/{nb}": row for (a, nb), row in sorted(rows.items())}, indent=1) + "\n")
    return references, outcomes, rows


@pytest.mark.parametrize("assignment,notebook", NOTEBOOKS, ids=[f"{a}/{nb}" for a, nb in NOTEBOOKS])
def test_the_reference_passes_every_visible_check(measured, assignment, notebook):
    ref = measured[0][(assignment, notebook)]
    assert not ref.failed and not ref.errors, f"the reference fails its own visible checks: {ref.failed} {ref.errors}"


@pytest.mark.parametrize("assignment,notebook", NOTEBOOKS, ids=[f"{a}/{nb}" for a, nb in NOTEBOOKS])
def test_visible_checks_flag_the_common_mistakes(measured, assignment, notebook):
    row = measured[2].get((assignment, notebook), {"mistakes": 0, "flagged": 0, "silent": []})
    assert row["mistakes"] >= MIN_MISTAKES, f"only {row['mistakes']} mistakes in the catalog for {notebook}"
    assert row["flagged"] >= FLAGGED * row["mistakes"], (
        f"{row['flagged']}/{row['mistakes']} flagged; silent: {', '.join(row['silent'])}")


def test_a_silent_mistake_is_not_counted_as_flagged(measured):
    """The measure itself: a failure of a check that also fails for the reference, or without a message, is no flag."""
    outcome = self_checks.Outcome("m", {"a": "AssertionError: ", "b": "NameError: name 'x' is not defined",
                                         "c": "AssertionError: sigma is not exp(log_var / 2)"}, [])
    assert outcome.flagged_by({"a", "b"}) == {}
    assert outcome.flagged_by({"a", "b", "c"}) == {"c": "AssertionError: sigma is not exp(log_var / 2)"}
