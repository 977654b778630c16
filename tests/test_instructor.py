"""The README's instructor path, run as written in a copy of the repository; and the rubric machinery.

The commands come from the first ```bash block of the README's section "For instructors", so that the
README cannot drift from what works. Its comment lines mark the steps a person does: collecting the
submissions and grading by hand; this test does those (two submissions: the reference solution and the
untouched release; the hand grades through nbgrader's gradebook API, as the formgrader stores them).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from grading import course_dir as ct
from grading import rubric

ROOT = ct.ROOT
ASSIGNMENT = "vae_by_hand"
SECTION = "## For instructors"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_readme_block_is_the_instructor_path():
    lines = readme_commands()
    commands = [line for line in lines if not line.startswith("#")]
    assert commands[0] == "make release"
    assert any(c.startswith(".venv/bin/nbgrader autograde ") for c in commands)
    assert any(c.startswith("make feedback ") for c in commands) and any(c.startswith("make export ") for c in commands)
    assert not any("nbgrader formgrader" in line for line in lines), "there is no `nbgrader formgrader` command"
    assert [line.split(":")[0] for line in lines if line.startswith("#")] == [
        "# collect each student's notebooks into submitted/<student>/vae_by_hand/*.ipynb", "# grade by hand"]


def copy_of_repository(dest: Path) -> Path:
    """The working tree as a fresh clone has it (tracked and new files, nothing ignored), sharing .venv."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    os.utime(dest / "pyproject.toml", (0, 0))  # older than .venv/.installed: make does not reinstall
    return dest


def run(command: str, cwd: Path, expect: int = 0) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE", "ASSIGNMENT", "COURSE", "VIRTUAL_ENV")}
    # the shared .venv's editable install points at this checkout: the copy runs its own grading/ and helpers/
    env["PYTHONPATH"] = str(cwd)
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == expect, f"`{command}` exited {proc.returncode}, expected {expect}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def grade_by_hand(gradebook: Path, student: str) -> int:
    """Give every answer waiting for a hand grade its full points, as the formgrader would; return how many."""
    from nbgrader.api import Gradebook

    n = 0
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        for nb in gb.find_submission(ASSIGNMENT, student).notebooks:
            for g in nb.grades:
                if g.needs_manual_grade:
                    g.manual_score = g.max_score
                    g.needs_manual_grade = False  # what the formgrader's grade handler does on a save
                    n += 1
        gb.db.commit()
    return n


DISCUSSION = ("02_latent_collapse_and_beta", "discussion_latent_collapse")  # a 3-point written answer


def source_rubric(root: Path) -> tuple[str, list[str]]:
    """The discussion answer's rubric in the course's source: its text and its criteria lines."""
    source = nbformat.read(root / "solutions" / ASSIGNMENT / f"{DISCUSSION[0]}.ipynb", as_version=4)
    k = next(k for k, c in enumerate(source.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == DISCUSSION[1])
    assert rubric.is_rubric(source.cells[k + 1]), f"the course ships no rubric under {DISCUSSION[1]}"
    return source.cells[k + 1].source, [line for line in source.cells[k + 1].source.splitlines() if line.startswith("- (")]


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """The README block run in a copy of the repository; returns (root, {step: output})."""
    root = copy_of_repository(tmp_path_factory.mktemp("clone"))
    out = {}
    for line in readme_commands():
        if line.startswith("# collect"):
            ct.submit(root, "reference", ASSIGNMENT, root / "solutions" / ASSIGNMENT)
            ct.submit(root, "untouched", ASSIGNMENT, root / "notebooks" / ASSIGNMENT)
        elif line.startswith("# grade by hand"):
            feedback = next(c for c in readme_commands() if c.startswith("make feedback"))
            # scripts/feedback.py exits 3 (hand grading pending); make reports it as "Error 3" and exits 2
            out["refused"] = run(feedback, root, expect=2)
            out["graded_by_hand"] = grade_by_hand(root / "gradebook.db", "reference")
        elif not line.startswith("#"):
            out[line.split()[0] + " " + line.split()[1]] = run(line, root)
    return root, out


def test_release_fills_the_root_gradebook(term):
    root, out = term
    assert "root gradebook.db: mnist_vaes, vae_by_hand ready" in out["make release"].stdout
    assert (root / "autograded" / "reference" / ASSIGNMENT).is_dir()


def test_feedback_is_refused_while_hand_grading_is_pending(term):
    _, out = term
    err = out["refused"].stderr
    assert "make feedback refused" in err and "reference: 02_latent_collapse_and_beta/" in err
    assert "feedback] Error 3" in err
    assert out["graded_by_hand"] >= 2  # the two discussion answers of the reference (4d, 5c)


def test_the_autograded_notebook_shows_the_rubric_under_the_answer(term):
    root, _ = term
    nb = nbformat.read(root / "autograded" / "reference" / ASSIGNMENT / f"{DISCUSSION[0]}.ipynb", as_version=4)
    i = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == DISCUSSION[1])
    text, criteria = source_rubric(root)
    assert nb.cells[i + 1].source == text and rubric.is_rubric(nb.cells[i + 1])
    released = nbformat.read(root / "notebooks" / ASSIGNMENT / f"{DISCUSSION[0]}.ipynb", as_version=4)
    assert criteria and not [c for c in criteria if any(c in cell.source for cell in released.cells)]


def test_feedback_pages_exist_without_rubrics(term):
    root, _ = term
    for student in ("reference", "untouched"):
        pages = sorted((root / "feedback" / student / ASSIGNMENT).glob("*.html"))
        assert [p.stem for p in pages] == [p.stem for p in sorted((root / "solutions" / ASSIGNMENT).glob("*.ipynb"))]
        for page in pages:
            html = page.read_text()
            assert "Rubric (" not in html and not [c for c in source_rubric(root)[1] if c.split(") ", 1)[1][:25] in html]
            assert "cdnjs" not in html and "jupyter_server_mathjax/static/MathJax.js" in html  # local MathJax


def test_export_totals_and_lms_columns(term):
    root, _ = term
    out = root / "build" / "export" / ASSIGNMENT
    with open(out / "students.csv") as f:
        students = {r["student"]: r for r in csv.DictReader(f)}
    ref, untouched = students["reference"], students["untouched"]
    assert float(ref["total"]) == pytest.approx(float(ref["max_score"])) and float(ref["max_score"]) > 30
    assert float(untouched["total"]) == pytest.approx(0.0)
    assert ref["hand_grading_pending"] == "0"
    with open(out / "canvas.csv") as f:
        canvas = list(csv.reader(f))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert canvas[1][0] == "Points Possible" and float(canvas[1][5]) == pytest.approx(float(ref["max_score"]))
    with open(out / "moodle.csv") as f:
        moodle = {r["Username"]: r[ASSIGNMENT] for r in csv.DictReader(f)}
    assert float(moodle["reference"]) == pytest.approx(float(ref["max_score"]))
    with open(out / "questions.csv") as f:
        questions = list(csv.DictReader(f))
    assert len(questions) == 2 * len({(q["notebook"], q["question"]) for q in questions})
    assert len(list((out / "figures").glob("*.png"))) == len(questions) // 2


def test_no_grades_file_can_be_committed(term):
    root, _ = term
    for rel in ("grades.csv", "build/grades-vae_by_hand.csv", "gradebook.db", "feedback/x/y.html", "exports/a.csv"):
        proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", rel], cwd=ROOT)
        assert proc.returncode == 0, f"{rel} is not git-ignored"


# -- rubrics: a small source notebook of our own ---------------------------------------------------

def _answer(grade_id: str, points: float):
    return nbformat.v4.new_markdown_cell("YOUR ANSWER HERE", metadata={"nbgrader": {
        "grade": True, "solution": True, "locked": False, "points": points, "grade_id": grade_id,
        "schema_version": 3, "task": False}})


def _rubric(text: str):
    return nbformat.v4.new_markdown_cell(text, metadata={"tags": ["rubric"]})


RUBRIC = "**Rubric (2 points)**\n- (1 pt) names the KL term\n- (1 pt) quotes the number from the table"


def test_rubric_parse_and_check():
    assert rubric.parse(RUBRIC) == (2.0, [(1.0, "names the KL term"), (1.0, "quotes the number from the table")])
    with pytest.raises(ValueError, match="add up to 1 points"):
        rubric.parse("**Rubric (2 points)**\n- (1 pt) only one")
    nb = nbformat.v4.new_notebook(cells=[_answer("d1", 2), _rubric(RUBRIC), _answer("d2", 3),
                                         _rubric(RUBRIC), _answer("d3", 1)])
    assert rubric.check_notebook(nb) == ["d2: the rubric is worth 2 points, the answer cell 3",
                                         "d3 (1 points) has no rubric"]


def test_show_rubrics_inserts_the_source_rubric_after_the_answer(tmp_path):
    source = nbformat.v4.new_notebook(cells=[_answer("d1", 2), _rubric(RUBRIC)])
    (tmp_path / "a").mkdir()
    nbformat.write(source, tmp_path / "a" / "nb.ipynb")
    submitted = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("intro"), _answer("d1", 2),
                                                _rubric("**Rubric (9 points)**\n- (9 pt) forged by the student")])
    pre = rubric.ShowRubrics(source_directory=str(tmp_path))
    nb, _ = pre.preprocess(submitted, {"nbgrader": {"assignment": "a", "notebook": "nb"}})
    assert [c.source for c in nb.cells][1:] == ["YOUR ANSWER HERE", RUBRIC]
    assert nb.cells[2].metadata == {"tags": ["rubric"], "editable": False, "deletable": False}
    stripped, _ = rubric.RemoveRubrics().preprocess(nb, {})
    assert [c.source for c in stripped.cells] == ["intro", "YOUR ANSWER HERE"]


def test_skipped_cells_keep_the_students_outputs():
    table = nbformat.v4.new_code_cell("show_table()", metadata={"tags": ["skip-when-grading"]},
                                      outputs=[nbformat.v4.new_output("stream", text="beta  KL\n0.35  9.1\n")])
    other = nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output("stream", text="1\n")])
    nb = nbformat.v4.new_notebook(cells=[table, other])
    nb, _ = rubric.ClearOutputExceptSkipped().preprocess(nb, {})
    assert nb.cells[0].outputs[0]["text"] == "beta  KL\n0.35  9.1\n" and nb.cells[1].outputs == []


def test_the_release_has_no_rubric(tmp_path):
    """A source notebook with a rubric, released through the course's nbgrader config: no rubric text reaches it."""
    root = ct.scratch_course(tmp_path / "course", [ASSIGNMENT])
    path = root / "solutions" / ASSIGNMENT / "01_forward_pass_and_losses.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(1, _rubric(RUBRIC))
    nbformat.write(nb, path)
    released = ct.generate(root, ASSIGNMENT) / path.name
    assert "Rubric (" not in released.read_text() and "quotes the number from the table" not in released.read_text()
    assert len(nbformat.read(released, as_version=4).cells) == len(nb.cells) - 1


def test_committed_release_has_no_rubric():
    for path in ct.NOTEBOOKS.rglob("*.ipynb"):
        nb = json.loads(path.read_text())
        assert not [c for c in nb["cells"] if "rubric" in c.get("metadata", {}).get("tags", [])], path
        assert "**Rubric (" not in path.read_text(), path
