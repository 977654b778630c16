"""Every access to an nbgrader gradebook (gradebook.db): reading scores, merging a class, hand grades.

- scores, rows, cell_scores, question_rows, pending_hand_grades: read one course's gradebook;
- build_class_gradebook: the trusted merge of make grade. The class gradebook starts from a clean copy of the
  template gradebook, takes only the rows of each worker's own student (following PER_STUDENT's chains), and
  rejects a gradebook that holds a trigger, a view or a table the template lacks (UntrustedGradebook). Hand
  scores, extra credit, hand comments, flags and extensions (HAND_FIELDS) are carried over to a new autograde.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

# Per-student tables, and how a row finds its student: (table, column, parent table) chains.
PER_STUDENT = (
    ("student", "id", None),
    ("submitted_assignment", "student_id", "student"),
    ("submitted_notebook", "assignment_id", "submitted_assignment"),
    ("grade", "notebook_id", "submitted_notebook"),
    ("comment", "notebook_id", "submitted_notebook"),
)
# What a human decides in the formgrader; carried over when a student is graded again.
HAND_FIELDS = {"grade": ("manual_score", "extra_credit"), "comment": ("manual_comment",),
               "submitted_notebook": ("flagged",), "submitted_assignment": ("extension",)}


class UntrustedGradebook(Exception):
    """A gradebook whose schema differs from the template's (a trigger, a view, an extra table...)."""


def _schema(con: sqlite3.Connection, db: str = "main") -> set[tuple[str, str]]:
    return {(t, n) for t, n in con.execute(f"SELECT type, name FROM {db}.sqlite_master WHERE name NOT LIKE 'sqlite_%'")}


def _student_ids(con: sqlite3.Connection, db: str, student: str) -> dict[str, list[str]]:
    """{table: [row ids]} of one student's rows in database db, following PER_STUDENT's chains."""
    ids: dict[str, list[str]] = {}
    for table, column, parent in PER_STUDENT:
        keys = [student] if parent is None else ids[parent]
        marks = ",".join("?" * len(keys)) or "NULL"
        ids[table] = [r[0] for r in con.execute(f"SELECT id FROM {db}.{table} WHERE {column} IN ({marks})", keys)]
    return ids


def copy_student(con: sqlite3.Connection, source: str, student: str, expected: set) -> None:
    """Copy one student's rows from attached database `source` into main, after checking its schema."""
    extra = _schema(con, source) - expected
    if extra:
        raise UntrustedGradebook(f"unexpected objects {sorted(extra)[:4]}")
    ids = _student_ids(con, source, student)
    for table, _, _ in PER_STUDENT:
        if ids[table]:
            marks = ",".join("?" * len(ids[table]))
            con.execute(f"INSERT OR REPLACE INTO main.{table} SELECT * FROM {source}.{table} WHERE id IN ({marks})",
                        ids[table])


def _hand_keys(con: sqlite3.Connection, db: str, student: str) -> dict:
    """{(table, notebook, cell): {field: value}} of one student's hand-entered values in database db."""
    out = {}
    rows = con.execute(
        f"SELECT sn.id, nb.name, sn.flagged, sa.extension FROM {db}.submitted_notebook sn "
        f"JOIN {db}.submitted_assignment sa ON sn.assignment_id = sa.id JOIN {db}.notebook nb ON sn.notebook_id = nb.id "
        "WHERE sa.student_id = ?", (student,)).fetchall()
    for sn_id, nb_name, flagged, extension in rows:
        out[("submitted_notebook", nb_name, None)] = {"flagged": flagged}
        out[("submitted_assignment", None, None)] = {"extension": extension}
        for table, cell_table in (("grade", "base_cell"), ("comment", "base_cell")):
            fields = HAND_FIELDS[table]
            for row in con.execute(f"SELECT c.name, {', '.join('t.' + f for f in fields)} FROM {db}.{table} t "
                                   f"JOIN {db}.{cell_table} c ON t.cell_id = c.id WHERE t.notebook_id = ?", (sn_id,)):
                out[(table, nb_name, row[0])] = dict(zip(fields, row[1:]))
    return out


def carry_hand_grades(con: sqlite3.Connection, previous: str, student: str) -> int:
    """Write the hand grades the student had in database `previous` onto their new rows in main."""
    carried = 0
    new = {k: None for k in _hand_keys(con, "main", student)}
    for (table, nb_name, cell), values in _hand_keys(con, previous, student).items():
        if (table, nb_name, cell) not in new or all(v is None for v in values.values()):
            continue
        sets = ", ".join(f"{f} = ?" for f in values)
        if table == "submitted_assignment":
            con.execute(f"UPDATE main.submitted_assignment SET {sets} WHERE student_id = ?", (*values.values(), student))
        elif table == "submitted_notebook":
            con.execute(f"UPDATE main.submitted_notebook SET {sets} WHERE id IN (SELECT sn.id FROM main.submitted_notebook sn "
                        "JOIN main.submitted_assignment sa ON sn.assignment_id = sa.id JOIN main.notebook nb "
                        "ON sn.notebook_id = nb.id WHERE sa.student_id = ? AND nb.name = ?)",
                        (*values.values(), student, nb_name))
        else:
            cell_table = "base_cell"
            con.execute(f"UPDATE main.{table} SET {sets} WHERE id IN (SELECT t.id FROM main.{table} t "
                        "JOIN main.submitted_notebook sn ON t.notebook_id = sn.id JOIN main.submitted_assignment sa "
                        f"ON sn.assignment_id = sa.id JOIN main.notebook nb ON sn.notebook_id = nb.id "
                        f"JOIN main.{cell_table} c ON t.cell_id = c.id "
                        "WHERE sa.student_id = ? AND nb.name = ? AND c.name = ?)",
                        (*values.values(), student, nb_name, cell))
            carried += table == "grade" and values.get("manual_score") is not None
    return carried


def build_class_gradebook(template_db: Path, dest: Path, previous: Path | None, fresh: dict[str, Path],
                          carried: list[str], errors: dict[str, str]) -> None:
    """dest = template + fresh students' rows (from their workers) + carried students' rows (from previous)."""
    tmp = dest.with_suffix(".db.new")
    shutil.copy(template_db, tmp)
    con = sqlite3.connect(tmp)
    try:
        expected = _schema(con)
        if previous is not None and previous.exists():
            con.execute("ATTACH DATABASE ? AS prev", (str(previous),))
            bad = _schema(con, "prev") - expected
            if bad:  # the formgrader's own gradebook never has these: something tampered with it
                raise UntrustedGradebook(f"{previous} has unexpected objects {sorted(bad)[:4]}: not merged; "
                                         "restore it from gradebook.db.bak")
        for student in carried:
            copy_student(con, "prev", student, expected)
        for student, worker_db in sorted(fresh.items()):
            con.execute("ATTACH DATABASE ? AS w", (str(worker_db),))
            try:
                copy_student(con, "w", student, expected)
                if previous is not None and previous.exists():
                    n = carry_hand_grades(con, "prev", student)
                    if n:
                        errors[student] = "; ".join(filter(None, [errors.get(student), f"{n} hand grade(s) kept from before"]))
            except UntrustedGradebook as exc:
                errors[student] = "; ".join(filter(None, [errors.get(student), f"worker gradebook rejected ({exc}): not graded"]))
            con.commit()
            con.execute("DETACH DATABASE w")
        con.commit()
    finally:
        con.close()
    if dest.exists():
        shutil.copy(dest, dest.with_suffix(".db.bak"))
    os.replace(tmp, dest)


def rows(db: Path, assignment: str, errors: dict[str, str], graded_now: set | None = None) -> list[dict]:
    """One CSV row per student: total score, max score, one column per notebook, error."""
    from nbgrader.api import Gradebook

    out = []
    with Gradebook(f"sqlite:///{db}") as gb:
        notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        max_score = gb.find_assignment(assignment).max_score
        for student in sorted(errors):
            row = {"student": student, "score": 0.0, "max_score": max_score}
            row.update({nb: 0.0 for nb in notebooks})
            try:
                sub = gb.find_submission(assignment, student)
                row["score"] = sub.score
                for nb in sub.notebooks:
                    row[nb.name] = nb.score
            except Exception:
                errors[student] = errors[student] or "not graded"
            row["graded_now"] = "yes" if graded_now is None or student in graded_now else "no"
            row["error"] = errors[student]
            out.append(row)
    return out


def cell_scores(db: Path, assignment: str) -> dict:
    """{student: {notebook: {grade_id: score}}} from a gradebook (manual cells count their auto score)."""
    from nbgrader.api import Gradebook

    out: dict = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for sub in gb.assignment_submissions(assignment):
            per_nb = out.setdefault(sub.student_id, {})
            for nb in sub.notebooks:
                per_nb[nb.name] = {g.name: float(g.score or 0.0) for g in nb.grades}
    return out


def scores(root: Path, student: str, assignment: str) -> dict:
    """Per-notebook scores from root's gradebook.

    Returns {notebook: {"auto": a, "auto_max": am, "manual_max": mm}} where `auto` counts the
    autograded test cells and any solution cell nbgrader scored automatically (0 when unchanged).
    """
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        sub = gb.find_submission(assignment, student)
        for nb in sub.notebooks:
            auto = auto_max = manual_max = 0.0
            for grade in nb.grades:
                if grade.cell.cell_type == "code":  # test cells: graded by running them
                    auto += grade.score or 0.0
                    auto_max += grade.max_score
                else:  # markdown answers: graded by hand; an unchanged answer scores 0 automatically
                    auto += grade.auto_score or 0.0
                    manual_max += grade.max_score
            out[nb.name] = {"auto": auto, "auto_max": auto_max, "manual_max": manual_max}
    return out


def pending_hand_grades(gradebook: Path, assignment: str) -> list[str]:
    """'student: notebook/answer' for every answer that still waits for a hand grade."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{gradebook}") as gb:
        return [f"{sub.student_id}: {nb.name}/{g.name}"
                for sub in sorted(gb.assignment_submissions(assignment), key=lambda s: s.student_id)
                for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade]


def question_rows(gradebook: Path, assignment: str) -> tuple[list[dict], list[tuple[str, str, float]]]:
    """(rows per student and graded cell, [(notebook, question, max_score)] in notebook order)."""
    from nbgrader.api import Gradebook, MissingEntry

    if not gradebook.is_file():
        raise SystemExit(f"no gradebook at {gradebook}: run `make grade` (or `nbgrader autograde`) first")
    rows, questions = [], []
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(f"assignment {assignment!r} is not in {gradebook}") from None
        for nb in sorted(a.notebooks, key=lambda n: n.name):
            order = {c.name: i for i, c in enumerate(nb.source_cells)}
            for cell in sorted(nb.grade_cells, key=lambda c: order.get(c.name, 1 << 30)):
                questions.append((nb.name, cell.name, float(cell.max_score)))
        for sub in sorted(gb.assignment_submissions(assignment), key=lambda s: s.student_id):
            penalty = float(sub.late_submission_penalty or 0.0)
            for snb in sub.notebooks:
                for g in snb.grades:
                    rows.append({"student": sub.student_id, "notebook": snb.name, "question": g.name,
                                 "score": float(g.score or 0.0), "max_score": float(g.max_score),
                                 "pending": bool(g.needs_manual_grade), "late_penalty": penalty})
    return rows, questions


def foreign_rows(template_db: Path, worker_db: Path, student: str) -> str | None:
    """Why a gradebook that a remote worker returned is not one autograde of `student` on this template, or None.

    Its tables, indexes and their SQL must be the template's (no trigger, view or changed table); it may hold
    no student but `student`; every row of that student must point at the template's assignment, notebooks and
    cells and at the student's own rows; every automatic score must lie between 0 and the cell's points."""
    con = sqlite3.connect(f"file:{template_db}?mode=ro", uri=True)
    try:
        con.execute("ATTACH DATABASE ? AS w", (f"file:{worker_db}?mode=ro",))
        schema = "SELECT type, name, sql FROM {}.sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        changed = {r for r in con.execute(schema.format("w"))} - {r for r in con.execute(schema.format("main"))}
        if changed:
            return f"its gradebook has objects the template lacks or defines otherwise: {sorted(r[1] for r in changed)[:4]}"
        others = ({r[0] for r in con.execute("SELECT id FROM w.student")}
                  | {r[0] for r in con.execute("SELECT student_id FROM w.submitted_assignment")}) - {student}
        if others:
            return f"its gradebook holds rows of other students: {sorted(map(str, others))[:3]}"
        cells = "SELECT id, max_score FROM main.grade_cells UNION SELECT id, max_score FROM main.task_cells"
        dangling = {
            "submitted_assignment": "assignment_id NOT IN (SELECT id FROM main.assignment)",
            "submitted_notebook": "notebook_id NOT IN (SELECT id FROM main.notebook) "
                                  "OR assignment_id NOT IN (SELECT id FROM w.submitted_assignment)",
            "grade": f"cell_id NOT IN (SELECT id FROM ({cells})) OR notebook_id NOT IN (SELECT id FROM w.submitted_notebook)",
            "comment": "cell_id NOT IN (SELECT id FROM main.base_cell) OR notebook_id NOT IN (SELECT id FROM w.submitted_notebook)",
        }
        for table, where in dangling.items():
            n = con.execute(f"SELECT count(*) FROM w.{table} WHERE {where}").fetchone()[0]
            if n:
                return f"{n} {table} row(s) of its gradebook point at nothing in the template or in its own rows"
        n = con.execute(f"SELECT count(*) FROM w.grade g JOIN ({cells}) c ON g.cell_id = c.id "
                        "WHERE g.auto_score < 0 OR g.auto_score > c.max_score").fetchone()[0]
        if n:
            return f"{n} automatic score(s) of its gradebook lie outside 0 and the cell's points"
    except sqlite3.DatabaseError as exc:
        return f"its gradebook cannot be read ({exc})"
    finally:
        con.close()
    return None
