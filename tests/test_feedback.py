"""nbgrader generate_feedback: readable HTML with the scores, and none of the hidden tests' code.

nbgrader restores the hidden tests into autograded notebooks, and its default feedback renders them;
nbgrader_config.py registers grading.feedback.HideHiddenTests, which removes them. scripts/feedback.py is the leak check.
"""

import re
import subprocess
import sys

import nbformat
import pytest
from traitlets.config.loader import PyFileConfigLoader

from grading import course_dir as coursetools
from grading import feedback
from grading.gradebook import scores as gradebook_scores

ASSIGNMENT = "vae_by_hand"
SOURCES = sorted((coursetools.SOLUTIONS / ASSIGNMENT).glob("*.ipynb"))


@pytest.fixture(scope="module")
def graded(pipeline):
    """The shared scratch course (tests/conftest.py), with feedback generated for vae_by_hand."""
    root = pipeline[0]
    coursetools.run_nbgrader(["generate_feedback", ASSIGNMENT, "--force"], root)
    return root


def leak_check_cli(args: list[str]) -> subprocess.CompletedProcess:
    """The leak check as an instructor runs it: `python scripts/feedback.py [FEEDBACK_DIR]`."""
    return subprocess.run([sys.executable, str(coursetools.ROOT / "scripts" / "feedback.py"), *args],
                          capture_output=True, text=True)


def feedback_pages(root, student):
    pages = sorted((root / "feedback" / student / ASSIGNMENT).glob("*.html"))
    assert [p.stem for p in pages] == [p.stem for p in SOURCES], f"feedback for {student} is missing notebooks: {pages}"
    return pages


@pytest.mark.parametrize("student", ["reference", "untouched"])
def test_feedback_shows_the_scores(graded, student):
    """Every notebook's feedback states its total score, the one in the gradebook."""
    scores = gradebook_scores(graded, student, ASSIGNMENT)
    for page in feedback_pages(graded, student):
        text = feedback.html_text(page.read_text())
        total = re.search(rf"{page.stem} \(Score: ([0-9.]+) / ([0-9.]+)\)", text)
        assert total, f"{page.name} does not state the notebook's score"
        got, out_of = float(total.group(1)), float(total.group(2))
        expected = scores[page.stem]
        assert got == pytest.approx(expected["auto"]), f"{page.name}: score {got}, gradebook {expected['auto']}"
        assert out_of == pytest.approx(expected["auto_max"] + expected["manual_max"])
        assert "Test cell (Score:" in text, f"{page.name} does not show the per-test scores"
        if student == "reference":
            assert expected["auto"] == expected["auto_max"] > 0
        else:
            assert expected["auto"] == 0


@pytest.mark.parametrize("student", ["reference", "untouched"])
def test_feedback_shows_no_hidden_test_code(graded, student):
    """No line that only exists inside a hidden-test region can be read in the feedback."""
    lines = feedback.hidden_lines(SOURCES)
    assert len(lines) > 50, "found too few hidden-test lines in solutions/: is the leak check still meaningful?"
    for page in feedback_pages(graded, student):
        html = page.read_text()
        assert not feedback.leaked_lines(html, lines), f"{page} shows hidden-test code"
        assert "BEGIN HIDDEN TESTS" not in html
        assert "hidden tests: not shown in the feedback" in html, f"{page} does not say where hidden tests were"
    assert feedback.check(graded / "feedback" / student) == []


def test_untouched_feedback_explains_the_failure(graded):
    """The untouched notebook's feedback still shows the error that failed each test."""
    text = feedback.html_text((graded / "feedback" / "untouched" / ASSIGNMENT / SOURCES[0].name)
                              .with_suffix(".html").read_text())
    assert "NotImplementedError" in text
    assert "NameError: name 'X_true' is not defined" in text


def test_the_leak_check_catches_nbgraders_default_rendering(graded):
    """Rendered without HideHiddenTests, an autograded notebook leaks: the check must see it."""
    from nbconvert import HTMLExporter

    autograded = graded / "autograded" / "untouched" / ASSIGNMENT / SOURCES[0].name
    html, _ = HTMLExporter().from_filename(str(autograded))
    assert feedback.leaked_lines(html, feedback.hidden_lines(SOURCES))
    leaky = graded / "leaky"
    leaky.mkdir()
    (leaky / "page.html").write_text(html)
    assert leak_check_cli([str(leaky)]).returncode == 1


def hide_hidden_tests():
    """The preprocessor class that nbgrader_config.py registers for generate_feedback."""
    from traitlets.utils.importstring import import_item

    config = PyFileConfigLoader("nbgrader_config.py", path=str(coursetools.ROOT)).load_config()
    named = [import_item(p) if isinstance(p, str) else p for p in config.GenerateFeedback.preprocessors]
    found = [p for p in named if getattr(p, "__name__", "") == "HideHiddenTests"]
    assert found, "nbgrader_config.py does not register HideHiddenTests for GenerateFeedback"
    return found[0]


def test_hide_hidden_tests_keeps_visible_code_and_error_messages():
    """Visible test lines and the error message stay; hidden lines and the quoting traceback go."""
    cell = nbformat.v4.new_code_cell(
        'assert x.shape == (3,), "x should have shape (3,)"\n'
        "for _i in range(3):\n"
        "    ### BEGIN HIDDEN TESTS\n"
        "    assert secret_reference(_i) == x[_i], 'x is wrong'\n"
        "    ### END HIDDEN TESTS\n"
        'print("visible after")\n',
        outputs=[nbformat.v4.new_output("error", ename="AssertionError", evalue="x is wrong",
                                        traceback=["----> 4     assert secret_reference(_i) == x[_i]"])])
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb, _ = hide_hidden_tests()().preprocess(nb, {})
    source = nb.cells[0].source
    assert "secret_reference" not in source and "HIDDEN TESTS" not in source
    assert 'assert x.shape == (3,), "x should have shape (3,)"' in source and 'print("visible after")' in source
    assert "    # (hidden tests: not shown in the feedback)\n" in source
    assert nb.cells[0].outputs[0]["traceback"] == ["AssertionError: x is wrong"]


def test_cells_without_hidden_tests_are_left_alone():
    cell = nbformat.v4.new_code_cell("assert 1 + 1 == 2",
                                     outputs=[nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["tb"])])
    nb, _ = hide_hidden_tests()().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    assert nb.cells[0].source == "assert 1 + 1 == 2" and nb.cells[0].outputs[0]["traceback"] == ["tb"]


def test_leak_check_rejects_a_missing_folder(tmp_path):
    missing = leak_check_cli([str(tmp_path / "nope")])
    assert missing.returncode == 2 and "not a folder" in missing.stderr
    assert leak_check_cli([str(tmp_path)]).returncode == 2  # exists but holds no .html


def test_leak_check_fails_when_it_finds_no_hidden_test_to_look_for(tmp_path):
    """Sources it cannot read (a hub instructor cannot read this repository's solutions/) would pass any page."""
    (tmp_path / "feedback").mkdir()
    (tmp_path / "feedback" / "page.html").write_text("<p>anything</p>")
    problems = feedback.check(tmp_path / "feedback", tmp_path / "no-solutions")
    assert problems == [f"no hidden-test line found in {tmp_path / 'no-solutions'}/*/*.ipynb: the leak check cannot run "
                        "(is it readable?)"]
    assert feedback.check(tmp_path / "feedback", coursetools.SOLUTIONS) == []
