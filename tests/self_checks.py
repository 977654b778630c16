"""What a student's own checks catch: each common mistake run against the release's visible checks only.

A student sees the visible part of every test cell (the hidden tests are removed from the release) and runs the
notebook. For a mistake (the reference solution with one small edit, as in tests/catalog.py), this module builds
exactly that: the solution notebook with the edit, every test cell cut down to its visible part, run in a fresh
kernel next to the assignment's other reference notebooks (mnist_vaes 02 and 03 read 01's functions). Cells the
grader skips (tag skip-when-grading: training, figures) are skipped here too: no check depends on them.

A mistake is *flagged* when a visible check that passes for the reference fails for the mistake with an
AssertionError that says something (the hint). tests/test_self_checks.py runs the whole catalog of mistakes
(tests/mistakes.py) and holds every notebook to a flagged fraction; run this file to print the table:

    .venv/bin/python tests/self_checks.py [ASSIGNMENT ...]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import catalog  # noqa: E402

from grading.execute import private_kernel  # noqa: E402
from grading.preprocessors import SKIP_TAG, visible_part  # noqa: E402

ROOT = catalog.ROOT
CELL_TIMEOUT = 120


@dataclass(frozen=True)
class Outcome:
    """What the student sees when running a mistake: which visible checks fail, and with what message."""

    name: str
    failed: dict            # {grade_id: "EName: message"} of the visible checks that fail
    errors: list            # "EName: message" of other cells that raised (the student sees those too)

    def flagged_by(self, passing: set[str]) -> dict:
        """The failures that count: checks that pass for the reference and fail with an AssertionError and a message."""
        return {gid: msg for gid, msg in self.failed.items()
                if gid in passing and msg.startswith("AssertionError: ") and msg[len("AssertionError: "):].strip()}


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def student_view(nb) -> nbformat.NotebookNode:
    """The notebook as the student runs it: test cells cut to their visible part, skipped cells dropped."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code" and SKIP_TAG in cell.metadata.get("tags", []) and not _is_test(cell) \
                and not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        if _is_test(cell):
            cell.source = visible_part(cell.source)
        cells.append(cell)
    nb.cells = cells
    return nb


def _edited(entry) -> nbformat.NotebookNode:
    """The solution notebook with the entry's edits applied (as tests/catalog.py builds its mutants)."""
    with tempfile.TemporaryDirectory() as tmp:
        catalog.build(entry, Path(tmp), "s")
        return nbformat.read(Path(tmp) / "s" / entry.assignment / f"{entry.notebook}.ipynb", as_version=4)


def run(entry, name: str | None = None) -> Outcome:
    """Run the student's view of entry (a catalog Entry; edits=() for the reference) and collect the failures."""
    from nbclient import NotebookClient

    nb = student_view(_edited(entry))
    with tempfile.TemporaryDirectory(prefix="self-check-") as tmp:
        folder = Path(tmp) / entry.assignment
        shutil.copytree(ROOT / "solutions" / entry.assignment, folder,
                        ignore=shutil.ignore_patterns("*.ipynb_checkpoints", "__pycache__", "hidden_fixtures.py"))
        nbformat.write(_edited(entry), folder / f"{entry.notebook}.ipynb")  # what 02/03 read of 01
        env = {"MPLBACKEND": "agg", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
               "VAE_COURSE_CHECKPOINTS": str(Path(tmp) / "checkpoints")}
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            with private_kernel(timeout=CELL_TIMEOUT, allow_errors=True,
                                resources={"metadata": {"path": str(folder)}}) as options:
                NotebookClient(nb, **options).execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    failed, errors = {}, []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            message = f"{out.get('ename')}: {out.get('evalue')}"
            if _is_test(cell):
                failed[cell.metadata["nbgrader"]["grade_id"]] = message
            else:
                errors.append(message)
    return Outcome(name or entry.name, failed, errors)


def reference(assignment: str, notebook: str) -> Outcome:
    return run(catalog.Entry(f"reference-{notebook}", "reference", assignment, notebook), f"reference {notebook}")


def run_all(entries, workers: int = 2) -> dict[str, Outcome]:
    """{entry name: Outcome}, kernels running `workers` at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip([e.name for e in entries], pool.map(run, entries)))


def table(entries, outcomes: dict[str, Outcome], references: dict[tuple, Outcome]) -> dict:
    """{(assignment, notebook): {"mistakes", "flagged", "silent": [names]}}."""
    out: dict = {}
    for e in entries:
        ref = references[(e.assignment, e.notebook)]
        passing = {c.metadata["nbgrader"]["grade_id"] for c in _test_cells(e.assignment, e.notebook)} - set(ref.failed)
        row = out.setdefault((e.assignment, e.notebook), {"mistakes": 0, "flagged": 0, "silent": []})
        row["mistakes"] += 1
        if outcomes[e.name].flagged_by(passing):
            row["flagged"] += 1
        else:
            row["silent"].append(e.name)
    return out


def _test_cells(assignment: str, notebook: str) -> list:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{notebook}.ipynb", as_version=4)
    return [c for c in nb.cells if _is_test(c)]


def main(argv: list[str]) -> int:
    import mistakes

    wanted = set(argv)
    entries = [e for e in mistakes.MISTAKES if not wanted or e.assignment in wanted]
    notebooks = sorted({(e.assignment, e.notebook) for e in entries})
    references = {k: reference(*k) for k in notebooks}
    outcomes = run_all(entries)
    for (a, nb), row in sorted(table(entries, outcomes, references).items()):
        print(f"{a}/{nb}: {row['flagged']}/{row['mistakes']} flagged ({row['flagged'] / row['mistakes']:.0%})"
              + (f"; silent: {', '.join(row['silent'])}" if row["silent"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
