"""make grade: autograde a class in parallel, incrementally, each student kernel in a sandbox.

    make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=path/to/submissions            # new or changed only
    make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=... STUDENTS=alice,bob         # these again
    make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=... REGRADE=all                # everyone again
    make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=... SCHEDULER=tcp://host:8786  # on a Dask cluster

What it does, and what it guarantees: grading/classroom.py (and grading/cluster.py on a Dask cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from grading import course_dir as ct
from grading.classroom import DEFAULT_TIMEOUT, grade_class, write_csv


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default=os.environ.get("ASSIGNMENT"))
    parser.add_argument("--submissions", default=os.environ.get("SUBMISSIONS"))
    parser.add_argument("--students", default=os.environ.get("STUDENTS", ""),
                        help="comma-separated students to grade again even if unchanged")
    parser.add_argument("--regrade", default=os.environ.get("REGRADE", ""), choices=["", "all"],
                        help="'all': grade every submission again (hand grades are kept)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "0") or 0) or None,
                        help="parallel workers (default: every core)")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("TIMEOUT") or DEFAULT_TIMEOUT),
                        help=f"wall-clock seconds for one submission (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--sandbox", default=os.environ.get("SANDBOX") or None, choices=[None, "bwrap", "none"],
                        help="bwrap (default) or none: grade without a sandbox")
    parser.add_argument("--scheduler", default=os.environ.get("SCHEDULER") or None,
                        help="address of a Dask scheduler (tcp://host:8786): grade on its workers, one task per student")
    parser.add_argument("--out", default=None, help="CSV path (default build/grades-<assignment>.csv)")
    args = parser.parse_args(argv)
    if not args.assignment or not args.submissions:
        parser.error("give the assignment and the folder: make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=path/to/dir")
    if args.assignment not in ct.assignments():
        parser.error(f"unknown assignment {args.assignment!r}: choose from {ct.assignments()}")
    out_root = ct.BUILD / "grading" / args.assignment
    students = [s.strip() for s in args.students.split(",") if s.strip()]
    try:
        table = grade_class(args.assignment, Path(args.submissions), out_root, jobs=args.jobs, students=students,
                            regrade_all=args.regrade == "all", timeout=args.timeout, sandbox=args.sandbox,
                            scheduler=args.scheduler)
    except KeyboardInterrupt:
        return 130
    out = Path(args.out) if args.out else ct.BUILD / f"grades-{args.assignment}.csv"
    write_csv(out, table)
    write_csv(ct.BUILD / "grades.csv", table)
    width = max(len(r["student"]) for r in table)
    for r in sorted(table, key=lambda r: (-r["score"], r["student"])):
        mark = "" if r["graded_now"] == "yes" else "  (unchanged, not re-graded)"
        print(f"{r['student']:<{width}}  {r['score']:6g} / {r['max_score']:g}  {r['error']}{mark}")
    print(f"\nwrote {out} and the class gradebook {out_root / 'gradebook.db'}")
    (ct.BUILD / f"grades-{args.assignment}.json").write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
