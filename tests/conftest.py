"""Fixtures shared by several test modules, so the costly nbgrader runs happen once per session."""

import pytest

from grading import course_dir as ct
from grading.gradebook import scores


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """A scratch course where every assignment's reference solution and untouched release were generated,
    submitted and autograded with nbgrader's own commands; returns (course root, {(student, a): scores})."""
    root = ct.scratch_course(tmp_path_factory.mktemp("pipeline") / "course")
    results = {}
    for a in ct.assignments():
        release = ct.generate(root, a)
        ct.submit(root, "reference", a, ct.SOLUTIONS / a)
        ct.submit(root, "untouched", a, release)
        for student in ("reference", "untouched"):
            ct.autograde(root, student, a)
            results[(student, a)] = scores(root, student, a)
    return root, results
