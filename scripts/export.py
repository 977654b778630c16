"""make export: grades an instructor can use, per question and per notebook, and for an LMS.

    make export ASSIGNMENT=vae_by_hand              # reads build/grading/<assignment>/gradebook.db (make grade)
    make export ASSIGNMENT=vae_by_hand COURSE=.     # the repository root's gradebook (nbgrader autograde)

Writes build/export/<assignment>/ (git-ignored, like every grades file):
  questions.csv   one row per student and graded cell: notebook, question, score, max_score, pending
  students.csv    one row per student: one column per notebook, total, max_score, late_penalty,
                  hand_grading_pending (the number of answers still to grade by hand)
  canvas.csv      Canvas gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, <assignment>)
  moodle.csv      Moodle grade import (Username, <assignment>): map Username to "username" when importing
  figures/<notebook>--<question>.png   the class's score distribution per question
A student with hand grading pending gets an empty grade in canvas.csv and moodle.csv (an LMS would
otherwise record a provisional total as final); FORCE=1 exports the provisional totals anyway.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grading.course_dir import BUILD
from grading.export import export


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--course", default="", help="course folder holding gradebook.db (default build/grading/<assignment>)")
    parser.add_argument("--out", default="", help="output folder (default build/export/<assignment>)")
    args = parser.parse_args(argv)
    if not args.assignment:
        print("name the assignment: make export ASSIGNMENT=<name>", file=sys.stderr)
        return 2
    course = Path(args.course) if args.course else BUILD / "grading" / args.assignment
    out = Path(args.out) if args.out else BUILD / "export" / args.assignment
    force = os.environ.get("FORCE", "") not in ("", "0")
    result = export(course, args.assignment, out, force)
    print(f"{result['students']} student(s), {result['questions']} question(s), {result['figures']} figure(s) -> {out}")
    if result["pending"]:
        verb = "exported provisional totals (FORCE=1)" if force else "left their LMS grade empty"
        print(f"hand grading pending for {len(result['pending'])} student(s) ({', '.join(result['pending'])}): {verb}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
