"""Hidden fixtures (solutions/<assignment>/hidden_fixtures.py): the checker imports them, nobody else sees them.

A hidden test imports an assignment's constants and exact expectations from its hidden fixtures. They must reach
the grader's checker, and never the student release, a student's kernel or a feedback page.
"""

from __future__ import annotations

import json
import textwrap

import nbformat
import pytest
from traitlets.config import Config

from grading import course_dir as ct
from grading import feedback
from grading import sandbox as sb
from grading.preprocessors import ExecuteSandboxed, visible_part

ASSIGNMENTS_WITH_FIXTURES = sorted(p.parent.name for p in ct.SOLUTIONS.glob(f"*/{ct.FIXTURES_FILE}"))

LOOK_AROUND = r'''
import importlib.util, json, os
found = []
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/proc", "/sys", "/dev")]
    found += [os.path.join(top, f) for f in files if f.startswith("hidden_fixtures")]
print("LOOK", json.dumps({"importable": importlib.util.find_spec("hidden_fixtures") is not None,
                          "at_its_path": os.path.exists(FIXTURES), "found": found}))
'''


def test_every_assignment_has_hidden_fixtures():
    assert ASSIGNMENTS_WITH_FIXTURES, f"no solutions/<assignment>/{ct.FIXTURES_FILE}"
    assert set(ASSIGNMENTS_WITH_FIXTURES) <= set(ct.assignments())


@pytest.mark.parametrize("assignment", ASSIGNMENTS_WITH_FIXTURES)
def test_fixtures_never_reach_the_release(assignment, tmp_path):
    """nbgrader generate_assignment copies every other file of the source folder, but not the fixtures."""
    release = ct.generate(ct.scratch_course(tmp_path / "course", [assignment]), assignment)
    assert sorted(p.name for p in release.iterdir()) == ct.notebook_names(assignment)
    assert not (ct.NOTEBOOKS / assignment / ct.FIXTURES_FILE).exists()
    for nb in sorted((ct.NOTEBOOKS / assignment).glob("*.ipynb")):
        assert "hidden_fixtures" not in nb.read_text(), f"the release's {nb.name} names the hidden fixtures"


@pytest.mark.parametrize("assignment", ASSIGNMENTS_WITH_FIXTURES)
def test_only_hidden_parts_import_the_fixtures(assignment):
    """A visible part that imported them would fail in every student's notebook (and show where they are)."""
    for path in sorted((ct.SOLUTIONS / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                shown = visible_part(cell.source) if cell.metadata.get("nbgrader", {}).get("grade") else cell.source
                assert "hidden_fixtures" not in shown, f"{path.name}: a visible part names the hidden fixtures"


def test_the_leak_check_looks_for_the_fixtures_code():
    fixtures = ct.SOLUTIONS / ASSIGNMENTS_WITH_FIXTURES[0] / ct.FIXTURES_FILE
    lines = feedback.hidden_lines([], [fixtures])
    assert lines and all(line in fixtures.read_text() for line in lines)
    assert not any(line.startswith(("#", '"""')) for line in lines), "docstrings and comments are prose, not code"
    page = "<pre>" + "\n".join(sorted(lines)[:1]) + "</pre>"
    assert feedback.leaked_lines(page, lines) == sorted(lines)[:1]


def test_a_fixture_line_the_release_shows_is_not_a_secret(tmp_path):
    """A continuation line of a fixture that is part of a given cell's line (the release prints it to every
    student) would flag every feedback page; a fixture line the release does not show still counts."""
    fixtures = tmp_path / ct.FIXTURES_FILE
    fixtures.write_text("def density(r, K):\n    return (np.log(2)\n            + np.sum(r * np.linalg.solve(K, r.T).T, axis=1))\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("q = -0.5 * (np.log(3) + np.sum(r * np.linalg.solve(K, r.T).T, axis=1))")]
    nbformat.write(nb, tmp_path / "given.ipynb")
    lines = feedback.hidden_lines([tmp_path / "given.ipynb"], [fixtures])
    assert "+ np.sum(r * np.linalg.solve(K, r.T).T, axis=1))" not in lines
    assert "def density(r, K):" in lines


def _course(tmp_path, answer: int):
    """A one-notebook course whose hidden test compares the student's x with the fixtures' answer."""
    source = tmp_path / "course" / "source" / "demo"
    source.mkdir(parents=True)
    fixtures = source / ct.FIXTURES_FILE
    fixtures.write_text('"""The demo\'s hidden fixtures."""\nanswer = 42\n')
    folder = tmp_path / "course" / "autograded" / "student" / "demo"
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(f"x = {answer}\nFIXTURES = {str(fixtures)!r}"),
                nbformat.v4.new_code_cell(LOOK_AROUND),
                nbformat.v4.new_code_cell(textwrap.dedent("""\
                    assert isinstance(x, int)
                    ### BEGIN HIDDEN TESTS
                    from hidden_fixtures import answer
                    assert x == answer, f"x should be {answer}"
                    ### END HIDDEN TESTS"""), metadata={"nbgrader": {
                    "grade": True, "grade_id": "x_is_the_answer", "locked": True, "points": 1, "schema_version": 3,
                    "solution": False, "task": False}})]
    return tmp_path / "course", folder, nb


@pytest.mark.parametrize("answer", [42, 41])
def test_the_checker_imports_the_fixtures_and_the_kernel_cannot(answer, tmp_path, monkeypatch):
    if sb.sandbox_problem():
        pytest.skip(sb.sandbox_problem())
    root, folder, nb = _course(tmp_path, answer)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("VAE_SANDBOX", "bwrap")
    config = Config({"CourseDirectory": {"root": str(root), "source_directory": "source"}})
    ep = ExecuteSandboxed(config=config, timeout=120, kernel_name="python3",
                          extra_arguments=["--HistoryManager.hist_file=:memory:"])
    nb, _ = ep.preprocess(nb, {"metadata": {"path": str(folder)}, "nbgrader": {"assignment": "demo", "notebook": "n"}})
    look = json.loads("".join(o.get("text", "") for o in nb.cells[1].outputs).split("LOOK", 1)[1])
    assert look == {"importable": False, "at_its_path": False, "found": []}, "the student's kernel sees the fixtures"
    errors = [o for o in nb.cells[2].outputs if o.get("output_type") == "error"]
    if answer == 42:
        assert not errors, f"the hidden test could not use the fixtures: {errors}"
    else:
        assert errors and errors[0]["evalue"] == "x should be 42"
    assert not (root / "source" / "demo" / "__pycache__").exists(), "the checker wrote next to the fixtures"


def _fixtures_module(assignment):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"hidden_fixtures_{assignment}", ct.SOLUTIONS / assignment / ct.FIXTURES_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.2])
def test_a_monte_carlo_check_fails_a_nan(bad):
    """The attack: a kl_gmm_mc wrong for mixtures that returns NaN for the hidden tests' calls only (20,000 samples,
    several components) won back every point of its mistake, since `abs(got - want) > tol` is False for NaN."""
    import torch

    f = _fixtures_module("mnist_vaes")
    want, sd = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64), torch.full((3,), 0.7, dtype=torch.float64)
    f.within_monte_carlo_error(want + 0.01, want, sd, 20_000, "within five standard errors (0.025)")
    got = want.clone()
    got[1] += bad
    with pytest.raises(AssertionError, match="is off"):
        f.within_monte_carlo_error(got.float(), want, sd, 20_000, "the estimate is off")
