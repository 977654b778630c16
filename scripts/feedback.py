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

It exits 1 and names the file, the encoding and a line when any line that only appears inside a
`### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` region of solutions/ (or in the hidden fixtures) shows up in
any file of the feedback: as text, or reversed, ROT13, URL- or backslash-escaped, as character codes, hex or
base64 (compressed or not).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grading.course_dir import ROOT
from grading.feedback import check, generate


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
