"""The catalog of common mistakes that a student's visible checks should catch (tests/test_self_checks.py).

Every mutant of tests/catalog.py is a common mistake (σ for σ², a dropped ½, sum for mean, β on the wrong term...);
tests/mistakes_<assignment>.py, where it exists, adds the slips that the grader alone used to catch. Each entry is
a tests/catalog.py Entry: the reference solution with small edits (cell id, old text, new text).
"""

from __future__ import annotations

import importlib

import catalog

MISTAKES = [e for e in catalog.MUTANTS]
for _assignment in sorted({e.assignment for e in catalog.ENTRIES}):
    try:
        _extra = importlib.import_module(f"mistakes_{_assignment}")
    except ModuleNotFoundError as _missing:
        if _missing.name != f"mistakes_{_assignment}":
            raise
        continue
    MISTAKES += list(_extra.MISTAKES)
