"""Exports of a graded class for the instructor and the LMS (make export, scripts/export.py): per question and per notebook.

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

import csv
from pathlib import Path

from .gradebook import question_rows


def per_student(rows: list[dict], notebooks: list[str]) -> list[dict]:
    """One dict per student: per-notebook scores, total (after the late penalty), pending count."""
    out: dict[str, dict] = {}
    for r in rows:
        s = out.setdefault(r["student"], {"student": r["student"], **{nb: 0.0 for nb in notebooks},
                                          "score": 0.0, "max_score": 0.0, "late_penalty": r["late_penalty"],
                                          "hand_grading_pending": 0})
        s[r["notebook"]] += r["score"]
        s["score"] += r["score"]
        s["max_score"] += r["max_score"]
        s["hand_grading_pending"] += int(r["pending"])
    for s in out.values():
        s["total"] = max(0.0, s["score"] - s["late_penalty"])
    return [out[k] for k in sorted(out)]


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _fmt(x: float) -> str:
    return f"{x:g}"


def lms_grade(s: dict, force: bool) -> str:
    return "" if s["hand_grading_pending"] and not force else _fmt(s["total"])


def plot_distributions(rows: list[dict], questions: list[tuple[str, str, float]], folder: Path) -> list[Path]:
    """One histogram PNG per question: the number of students at each score."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for notebook, question, max_score in questions:
        scores = [r["score"] for r in rows if r["notebook"] == notebook and r["question"] == question]
        pending = sum(r["pending"] for r in rows if r["notebook"] == notebook and r["question"] == question)
        values = sorted(set(scores) | {0.0, max_score})
        fig, ax = plt.subplots(figsize=(4, 2.6))
        ax.bar([_fmt(v) for v in values], [scores.count(v) for v in values], color="tab:blue")
        ax.set_xlabel(f"score (of {_fmt(max_score)})")
        ax.set_ylabel("students")
        title = f"{notebook}\n{question}" + (f" ({pending} to grade by hand)" if pending else "")
        ax.set_title(title, fontsize=8)
        fig.tight_layout()
        path = folder / f"{notebook}--{question}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths


def export(course: Path, assignment: str, out: Path, force: bool = False) -> dict:
    rows, questions = question_rows(course / "gradebook.db", assignment)
    notebooks = sorted({nb for nb, _, _ in questions})
    students = per_student(rows, notebooks)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "questions.csv", ["student", "notebook", "question", "score", "max_score", "hand_grading_pending"],
           [[r["student"], r["notebook"], r["question"], _fmt(r["score"]), _fmt(r["max_score"]), int(r["pending"])]
            for r in rows])
    _write(out / "students.csv", ["student", *notebooks, "score", "late_penalty", "total", "max_score", "hand_grading_pending"],
           [[s["student"], *(_fmt(s[nb]) for nb in notebooks), _fmt(s["score"]), _fmt(s["late_penalty"]),
             _fmt(s["total"]), _fmt(s["max_score"]), s["hand_grading_pending"]] for s in students])
    max_total = sum(m for _, _, m in questions)
    # Canvas: the first five columns identify the student; a "Points Possible" row gives the maximum. A column
    # named without "(<canvas id>)" makes Canvas create the assignment; rename it to "<name> (<id>)" to update one.
    _write(out / "canvas.csv", ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment],
           [["Points Possible", "", "", "", "", _fmt(max_total)]]
           + [[s["student"], "", "", s["student"], "", lms_grade(s, force)] for s in students])
    _write(out / "moodle.csv", ["Username", assignment], [[s["student"], lms_grade(s, force)] for s in students])
    figures = plot_distributions(rows, questions, out / "figures")
    pending = [s["student"] for s in students if s["hand_grading_pending"]]
    return {"students": len(students), "questions": len(questions), "figures": len(figures), "pending": pending}
