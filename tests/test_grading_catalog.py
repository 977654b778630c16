"""Grade the whole catalog as one class, with the real nbgrader pipeline, and check every score.

The expected per-question score of the reference, the untouched release and every catalog entry is
pinned in tests/golden_scores.json, together with a hash of every test cell: changing a test (its
code or points) fails here until the golden file is regenerated and reviewed:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_grading_catalog.py
"""

import hashlib
import json
import os

import nbformat
import pytest

import catalog
import coursetools as ct
import grade

GOLDEN = catalog.ROOT / "tests" / "golden_scores.json"
# A short cell timeout keeps the infinite-loop entry cheap; every honest cell finishes in a few seconds.
TIMEOUTS = {"vae_by_hand": 20}
ASSIGNMENTS = sorted({e.assignment for e in catalog.ENTRIES})


def test_cell_hashes() -> dict:
    """{assignment: {notebook: {grade_id: sha256 of source and points}}} for every graded test cell."""
    out = {}
    for a in ASSIGNMENTS:
        for name in ct.notebook_names(a):
            nb = nbformat.read(ct.SOLUTIONS / a / name, as_version=4)
            cells = {}
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade") and cell.cell_type == "code":
                    cells[meta["grade_id"]] = hashlib.sha256(f"{meta['points']}\n{cell.source}".encode()).hexdigest()[:16]
            out.setdefault(a, {})[name[:-len(".ipynb")]] = cells
    return out


test_cell_hashes.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade reference, untouched and every entry, one class per assignment; return scores and rows."""
    scores, rows = {}, {}
    for a in ASSIGNMENTS:
        subs = tmp_path_factory.mktemp(f"class-{a}")
        catalog.reference_and_untouched(subs, a)
        students = catalog.pack([e for e in catalog.ENTRIES if e.assignment == a])
        for student, entries in students.items():
            for entry in entries:
                catalog.build(entry, subs, student)
        out = tmp_path_factory.mktemp(f"graded-{a}") / a
        extra = [f"--Execute.timeout={TIMEOUTS[a]}"] if a in TIMEOUTS else []
        table = grade.grade_class(a, subs, out, extra=extra, progress=False)
        by_student = {r["student"]: r for r in table}
        cells = grade.cell_scores(out / "gradebook.db", a)
        # report every entry under its own name, with only its own notebook
        rows[a] = {"reference": by_student["reference"], "untouched": by_student["untouched"]}
        scores[a] = {"reference": cells["reference"], "untouched": cells["untouched"]}
        for student, entries in students.items():
            for e in entries:
                rows[a][e.name] = by_student[student]
                scores[a][e.name] = {e.notebook: cells.get(student, {}).get(e.notebook, {})}
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps({"test_cells": test_cell_hashes(), "scores": scores}, indent=1, sort_keys=True) + "\n")
    return scores, rows


def entry_scores(graded, entry):
    return graded[0][entry.assignment][entry.name].get(entry.notebook, {})


def reference_scores(graded, entry):
    return graded[0][entry.assignment]["reference"][entry.notebook]


def test_golden_file_matches_the_current_tests(graded):
    golden = catalog.load_golden(GOLDEN)
    assert golden.get("test_cells") == test_cell_hashes(), (
        "a test cell changed: regenerate tests/golden_scores.json (see this module's docstring) and review the diff")


def test_every_score_matches_the_golden_file(graded):
    golden = catalog.load_golden(GOLDEN)["scores"]
    assert graded[0] == golden


def test_catalog_is_large_enough():
    kinds = [e.kind for e in catalog.ENTRIES]
    assert kinds.count("mutant") >= 40 and kinds.count("alternative") >= 8
    assert {e.assignment for e in catalog.ENTRIES if e.kind == "mutant"} == {"vae_by_hand", "mnist_vaes"}
    assert len({e.name for e in catalog.ENTRIES}) == len(catalog.ENTRIES)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_full_and_untouched_zero(graded, assignment):
    rows = graded[1][assignment]
    assert rows["reference"]["error"] == "" and rows["untouched"]["error"] == ""
    assert rows["untouched"]["score"] == 0
    for notebook, cells in graded[0][assignment]["untouched"].items():
        assert set(cells.values()) == {0.0}, notebook
    for notebook, cells in graded[0][assignment]["reference"].items():
        tests = {gid: v for gid, v in cells.items() if gid in test_cell_hashes()[assignment][notebook]}
        assert tests and all(v > 0 for v in tests.values()), notebook


def by_kind(kind):
    return [pytest.param(e, id=e.name) for e in catalog.ENTRIES if e.kind == kind]


@pytest.mark.parametrize("entry", by_kind("mutant"))
def test_mutant_loses_points_only_where_the_mistake_is(graded, entry):
    got, ref = entry_scores(graded, entry), reference_scores(graded, entry)
    assert sum(got.values()) < sum(ref.values())
    for gid, full in ref.items():
        if gid in entry.loses:
            assert got[gid] < full, f"{gid} should lose points"
        else:
            assert got[gid] == full, f"{gid} should keep its points"


@pytest.mark.parametrize("entry", by_kind("alternative"))
def test_valid_alternative_gets_full_marks(graded, entry):
    assert entry_scores(graded, entry) == reference_scores(graded, entry)


@pytest.mark.parametrize("entry", by_kind("cheat"))
def test_cheating_gains_nothing(graded, entry):
    got, ref = entry_scores(graded, entry), reference_scores(graded, entry)
    assert set(got) == set(ref), "the graded cells are the original ones"
    for gid, full in ref.items():
        if gid in entry.loses:
            assert got[gid] < full, f"{gid}: the cheat should not earn these points"
        else:
            assert got[gid] <= full
    rows = graded[1][entry.assignment]
    assert rows[entry.name]["max_score"] == rows["reference"]["max_score"], "the cheat changed the maximum score"


@pytest.mark.parametrize("entry", by_kind("fault"))
def test_faults_do_not_stop_grading(graded, entry):
    got, ref = entry_scores(graded, entry), reference_scores(graded, entry)
    row = graded[1][entry.assignment][entry.name]
    if entry.raw is not None:  # a corrupted file: reported, scored 0, and the rest of the class is graded
        assert "not a valid notebook" in row["error"] and entry.notebook in row["error"]
        assert row[entry.notebook] == 0
        return
    assert row["error"] == ""
    for gid, full in ref.items():
        if gid in entry.loses:
            assert got[gid] == 0, f"{gid} depends on the faulty cell"
        else:
            assert got[gid] == full, f"{gid} is independent of the fault and keeps its points"

