"""make feedback: generate feedback HTML once hand grading is done, and check it shows no hidden-test code.

    make feedback ASSIGNMENT=vae_by_hand              # the course folder of make grade: build/grading/<assignment>/
    make feedback ASSIGNMENT=vae_by_hand COURSE=.     # the repository root (nbgrader autograde)
    make feedback ... FORCE=1                         # even though some answers are not graded by hand yet

It refuses (exit 3), naming each student and answer, while any answer still waits for a hand grade: the
student would otherwise read 0 for it. Then it runs `nbgrader generate_feedback`, points the pages' MathJax
at the copy installed with the course (grading/mathjax.py), and runs the leak check below on every page.

The leak check alone (instructors: run it before sending any feedback):

`nbgrader generate_feedback` renders the autograded notebooks, which contain the hidden tests again.
nbgrader_config.py registers HideHiddenTests, which removes them; this script checks the result:

    python scripts/feedback.py [FEEDBACK_DIR]      # default: feedback/

It exits 1 and names the file and line when any line that only appears inside a
`### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` region of solutions/ shows up in the HTML.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MIN_LENGTH = 12  # shorter lines ("_n = 1000") are too generic to prove a leak


def _cell_sources(notebook: Path) -> list[str]:
    with open(notebook) as f:
        nb = json.load(f)
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]


def hidden_lines(notebooks) -> set[str]:
    """Lines (stripped) that appear only inside hidden-test regions of the given source notebooks."""
    inside, outside = set(), set()
    for nb in notebooks:
        for source in _cell_sources(Path(nb)):
            hidden = False
            for line in source.splitlines():
                text = line.strip()
                if text.startswith(BEGIN):
                    hidden = True
                elif text.startswith(END):
                    hidden = False
                elif text:
                    (inside if hidden else outside).add(text)
    # comments and lines that are only a string (an assertion's message, shown when it fails) are not code
    return {line for line in inside - outside
            if len(line) >= MIN_LENGTH and not line.startswith("#") and not re.match(r"[rbfRBF]*[\"']", line)}


def html_text(page: str) -> str:
    """The text of an HTML page as a reader sees it: tags (syntax highlighting) removed, entities decoded."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def leaked_lines(page: str, lines: set[str]) -> list[str]:
    """The hidden-test lines that can be read in the HTML page."""
    text = html_text(page)
    return sorted(line for line in lines if line in text)


def check(feedback_dir: Path, solutions: Path = ROOT / "solutions") -> list[str]:
    """One message per leaking feedback file under feedback_dir; empty when nothing leaks."""
    lines = hidden_lines(sorted(solutions.glob("*/*.ipynb")))
    problems = []
    for page in sorted(feedback_dir.rglob("*.html")):
        leaked = leaked_lines(page.read_text(errors="replace"), lines)
        if leaked:
            problems.append(f"{page}: {len(leaked)} hidden-test line(s), e.g. {leaked[0]!r}")
    return problems


def pending_hand_grades(gradebook: Path, assignment: str) -> list[str]:
    """'student: notebook/answer' for every answer that still waits for a hand grade."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{gradebook}") as gb:
        return [f"{sub.student_id}: {nb.name}/{g.name}"
                for sub in sorted(gb.assignment_submissions(assignment), key=lambda s: s.student_id)
                for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade]


def generate(assignment: str, course: Path, force: bool) -> int:
    """Feedback for every graded student of `assignment` in `course`, unless hand grading is pending."""
    import coursetools as ct
    from grading.mathjax import use_local_mathjax

    gradebook = course / "gradebook.db"
    if not gradebook.is_file():
        print(f"no gradebook at {gradebook}: grade first (make grade, or nbgrader autograde)", file=sys.stderr)
        return 2
    pending = pending_hand_grades(gradebook, assignment)
    if pending and not force:
        print(f"make feedback refused: {len(pending)} answer(s) still wait for a hand grade, and their students would "
              "read 0 for them:", file=sys.stderr)
        for item in pending:
            print(f"  {item}", file=sys.stderr)
        print("Grade them in the formgrader (JupyterLab: Nbgrader > Formgrader > Manual Grading), "
              "or run again with FORCE=1 to send feedback anyway.", file=sys.stderr)
        return 3
    ct.run_nbgrader(["generate_feedback", assignment, "--force"], course, quiet=False)
    pages = sorted((course / "feedback").glob(f"*/{assignment}/*.html"))
    for page in pages:
        use_local_mathjax(page)
    problems = check(course / "feedback")
    for p in problems:
        print("LEAK", p)
    print(f"{len(pages)} feedback page(s) in {course / 'feedback'}, {len(problems)} leak(s)"
          + (f"; sent with {len(pending)} answer(s) not graded by hand (FORCE=1)" if pending else ""))
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "generate":
        import argparse

        parser = argparse.ArgumentParser(prog="feedback.py generate")
        parser.add_argument("--assignment", required=True)
        parser.add_argument("--course", default="")
        args = parser.parse_args(argv[1:])
        course = Path(args.course) if args.course else ROOT / "build" / "grading" / args.assignment
        return generate(args.assignment, course, os.environ.get("FORCE", "") not in ("", "0"))
    if len(argv) > 1 or (argv and argv[0] in ("-h", "--help")):
        print(__doc__)
        return 2
    feedback_dir = Path(argv[0]) if argv else Path("feedback")
    if not feedback_dir.is_dir():
        print(f"{feedback_dir} is not a folder: run `nbgrader generate_feedback` first, or name the feedback folder",
              file=sys.stderr)
        return 2
    pages = list(feedback_dir.rglob("*.html"))
    if not pages:
        print(f"no .html files under {feedback_dir}", file=sys.stderr)
        return 2
    problems = check(feedback_dir)
    for p in problems:
        print("LEAK", p)
    print(f"{len(pages)} feedback file(s) checked, {len(problems)} leak(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
