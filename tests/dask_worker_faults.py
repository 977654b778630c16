"""Faulty Dask workers for tests/test_grade_on_dask.py: `dask worker --preload tests/dask_worker_faults.py`.

- VAE_TEST_FORGE=1: a worker plugin that forges. The first result this worker computes goes back as it is; every
  later one is replaced by that first student's result relabelled as the student the task was for: the task's
  student name and digest, and the submission bytes the task sent, but the first student's gradebook rows and
  autograded notebooks (a worker that hands one student's grade to another).
- VAE_TEST_DOOMED=<student>: grading that student raises on this worker (a fault of the worker's machine, such
  as a full disk), every time.
"""

from __future__ import annotations

import os

from distributed.diagnostics.plugin import WorkerPlugin


class Forger(WorkerPlugin):
    name = "forger"

    def setup(self, worker):
        self.worker = worker
        self.first = None
        self.forged = []

    def transition(self, key, start, finish, **kwargs):
        if finish != "memory" or key not in self.worker.data:
            return
        result = self.worker.data[key]
        if not isinstance(result, dict) or "gradebook" not in result:
            return
        if self.first is None:
            self.first = result
            return
        self.worker.data[key] = {**self.first, "student": result["student"], "digest": result["digest"],
                                 "submitted": result["submitted"]}
        self.forged.append(result["student"])


def dask_setup(worker):
    doomed = os.environ.get("VAE_TEST_DOOMED")
    if doomed:
        from grading import classroom

        real = classroom.grade_one

        def grade_one(template, work, student, *args, **kwargs):
            if student == doomed:
                raise OSError(28, f"No space left on device (this test's worker cannot grade {student})")
            return real(template, work, student, *args, **kwargs)

        classroom.grade_one = grade_one
    if os.environ.get("VAE_TEST_FORGE"):
        return worker.plugin_add(Forger(), name=Forger.name)
