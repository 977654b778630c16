"""make release: regenerate notebooks/ (the student release) from solutions/ (see grading/release.py).

FORCE=1 first backs up, then replaces, release files that hold someone's work.
"""

from __future__ import annotations

import os
import sys

from grading import course_dir as ct
from grading.release import register_in_root_gradebook, release, rubric_problems


def main() -> int:
    force = os.environ.get("FORCE", "") not in ("", "0")
    errors, warnings = rubric_problems(ct.assignments())
    for w in warnings:
        print(f"warning: {w}")
    if errors:
        print("make release refused: fix these rubrics in solutions/ (see grading/rubric.py for the format):")
        for e in errors:
            print(f"  {e}")
        return 3
    root = ct.scratch_course(ct.BUILD / "scratch" / "make-release")
    generated = {a: ct.generate(root, a) for a in ct.assignments()}
    status = release(ct.NOTEBOOKS, generated, force, ct.ROOT / "release-backups")
    if status == 0:
        for a in generated:
            register_in_root_gradebook(a)
        print(f"root gradebook.db: {', '.join(generated)} ready for `nbgrader autograde <assignment>`")
    return status


if __name__ == "__main__":
    sys.exit(main())
