"""The nbgrader pipeline end to end: generate, autograde reference and untouched release, feedback."""

import pytest

from grading import course_dir as ct


@pytest.fixture(scope="module")
def graded(pipeline):
    """Every assignment's reference and untouched release, autograded (tests/conftest.py)."""
    return pipeline


CASES = [(a, n[:-len(".ipynb")]) for a in ct.assignments() for n in ct.notebook_names(a)]


@pytest.mark.parametrize("assignment,notebook", CASES)
def test_reference_scores_full_marks(graded, assignment, notebook):
    score = graded[1][("reference", assignment)][notebook]
    assert score["auto_max"] > 0
    assert score["auto"] == pytest.approx(score["auto_max"], abs=1e-9)


@pytest.mark.parametrize("assignment,notebook", CASES)
def test_untouched_release_scores_zero(graded, assignment, notebook):
    score = graded[1][("untouched", assignment)][notebook]
    assert score["auto_max"] > 0
    assert score["auto"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("assignment", ct.assignments())
def test_feedback_html_is_generated(graded, assignment):
    root = graded[0]
    ct.run_nbgrader(["generate_feedback", assignment, "--student", "reference", "--force"], root)
    pages = sorted((root / "feedback" / "reference" / assignment).glob("*.html"))
    assert [p.stem for p in pages] == [n[:-len(".ipynb")] for n in ct.notebook_names(assignment)]
    for page in pages:
        html = page.read_text()
        assert "Score:" in html or "score" in html.lower()
