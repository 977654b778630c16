"""How the hidden tests read: their length, and the lines repeated across them.

    .venv/bin/python scripts/hidden_tests_report.py [--long 15] [ASSIGNMENT ...]

For every graded test cell of solutions/ it extracts the hidden part (between ### BEGIN HIDDEN TESTS and
### END HIDDEN TESTS) and prints, per notebook: the number of hidden tests, their lines, the longest ones, and
the repeated line occurrences: lines (stripped, blank lines and comments left out) that stand in more than one
hidden test of the assignment, counted once per extra occurrence. A constant pasted into eight tests counts 7.
Shared code belongs in the assignment's hidden fixtures (solutions/<assignment>/hidden_fixtures.py), so a
healthy course reports close to 0.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

import nbformat

from grading import course_dir as ct

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n(.*?)^[ \t]*### END HIDDEN TESTS", re.S | re.M)
# Lines that say nothing of a test's own maths: its imports.
TRIVIAL = re.compile(r"^(import \w[\w.]*( as \w+)?|from [\w.]+ import [\w, ()]+)$")


def hidden_tests(assignment: str) -> list[tuple[str, str, list[str]]]:
    """[(notebook, grade_id, hidden lines)] for every graded test cell of the assignment's sources."""
    out = []
    for name in ct.notebook_names(assignment):
        for cell in nbformat.read(ct.SOLUTIONS / assignment / name, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            hidden = "".join(m.group(1) for m in HIDDEN.finditer(cell.source))
            out.append((name[:-len(".ipynb")], meta["grade_id"], hidden.splitlines()))
    return out


def meaningful(lines: list[str]) -> list[str]:
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#") and not TRIVIAL.match(s)]


def report(assignment: str, long: int) -> dict:
    """{"tests", "lines", "repeated", "top": [(line, count)], "long": [(notebook, grade_id, lines)]}."""
    tests = hidden_tests(assignment)
    per_test = Counter()
    for _, _, lines in tests:
        per_test.update(set(meaningful(lines)))  # a line counts once per test it stands in
    repeated = {line: n for line, n in per_test.items() if n > 1}
    return {"tests": len(tests), "lines": sum(len(meaningful(lines)) for _, _, lines in tests),
            "repeated": sum(n - 1 for n in repeated.values()),
            "top": sorted(repeated.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
            "long": sorted(((nb, gid, len(meaningful(lines))) for nb, gid, lines in tests
                            if len(meaningful(lines)) > long), key=lambda r: -r[2])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="default: every assignment")
    parser.add_argument("--long", type=int, default=15, help="list hidden tests with more lines than this")
    args = parser.parse_args(argv)
    for a in args.assignments or ct.assignments():
        r = report(a, args.long)
        print(f"{a}: {r['tests']} hidden tests, {r['lines']} lines, {r['repeated']} repeated line occurrences")
        for line, n in r["top"]:
            print(f"  {n}x  {line[:100]}")
        for nb, gid, n in r["long"]:
            print(f"  long: {nb} {gid}: {n} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
