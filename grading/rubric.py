"""Rubrics for hand grading: removed from the student release, shown to the grader, kept out of feedback.

Convention (authors of solutions/): a rubric is a MARKDOWN cell tagged ``rubric`` placed immediately
after the manually graded answer cell it belongs to, and it reads

    **Rubric (2 points)**
    - (1 pt) names the term that vanishes
    - (1 pt) says why, with the number from the table

The criteria's points add up to the heading's, which equals the answer cell's points.

Preprocessors (registered in nbgrader_config.py):
- ``RemoveRubrics`` runs in ``nbgrader generate_assignment`` (and in ``generate_feedback``): rubric cells
  never reach notebooks/ nor a feedback page.
- ``ShowRubrics`` runs in ``nbgrader autograde``: it re-inserts the source notebook's rubric cells after the
  matching answer of the autograded notebook, as plain read-only markdown cells, so that the formgrader
  shows each rubric right below the student's answer.
- ``ClearOutputExceptSkipped`` replaces nbgrader's ClearOutput in the autograde sanitize step: cells
  tagged ``skip-when-grading`` are not run by the grader, so their saved outputs (the student's own
  tables and figures, which the discussion answers refer to) are kept for the hand grader.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import ClearOutput
from traitlets import Bool, Unicode

from .course_dir import source_folder

RUBRIC_TAG = "rubric"
SKIP_TAG = "skip-when-grading"
HEADING = re.compile(r"^\s*\*\*Rubric \((\d+(?:\.\d+)?) points?\)\*\*\s*$")
CRITERION = re.compile(r"^\s*[-*] \((\d+(?:\.\d+)?) pts?\) (\S.*)$")


def is_rubric(cell) -> bool:
    return cell.get("cell_type") == "markdown" and RUBRIC_TAG in cell.get("metadata", {}).get("tags", [])


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _is_manual_answer(cell) -> bool:
    """A cell the grader scores by hand: nbgrader grade + solution (a written or coded answer)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade") and meta.get("solution"))


def parse(text: str) -> tuple[float, list[tuple[float, str]]]:
    """(total points, [(points, criterion), ...]) of a rubric's markdown; ValueError if it is malformed."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines or not HEADING.match(lines[0]):
        raise ValueError("a rubric starts with a line '**Rubric (N points)**'")
    total = float(HEADING.match(lines[0]).group(1))
    criteria = [(float(m.group(1)), m.group(2)) for m in map(CRITERION.match, lines[1:]) if m]
    if not criteria:
        raise ValueError("a rubric lists its criteria as '- (k pt) criterion' bullets")
    if abs(sum(p for p, _ in criteria) - total) > 1e-9:
        raise ValueError(f"the criteria add up to {sum(p for p, _ in criteria):g} points, the heading says {total:g}")
    return total, criteria


def rubrics_by_answer(nb) -> dict[str, list]:
    """{grade_id of the answer cell: [its rubric cells]}; a rubric belongs to the nearest graded cell above it."""
    out: dict[str, list] = {}
    owner = None
    for cell in nb.cells:
        if is_rubric(cell):
            if owner is not None:
                out.setdefault(owner, []).append(cell)
            continue
        owner = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") if _is_manual_answer(cell) else None
    return out


def check_notebook(nb) -> list[str]:
    """Problems with a source notebook's rubrics: malformed, misplaced, wrong total, or a manual answer without one."""
    problems = []
    owned = rubrics_by_answer(nb)
    owned_ids = {id(c) for cells in owned.values() for c in cells}
    for cell in nb.cells:
        if is_rubric(cell) and id(cell) not in owned_ids:
            problems.append("a rubric cell does not follow a manually graded answer cell")
    for cell in nb.cells:
        if not _is_manual_answer(cell):
            continue
        meta = cell.metadata["nbgrader"]
        gid, points = meta.get("grade_id"), float(meta.get("points", 0))
        if gid not in owned:
            problems.append(f"{gid} ({points:g} points) has no rubric")
            continue
        for rubric in owned[gid]:
            try:
                total, _ = parse(_source(rubric))
            except ValueError as err:
                problems.append(f"{gid}: {err}")
                continue
            if abs(total - points) > 1e-9:
                problems.append(f"{gid}: the rubric is worth {total:g} points, the answer cell {points:g}")
    return problems


class RemoveRubrics(Preprocessor):
    """Drop every markdown cell tagged `rubric` (student release, feedback)."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        nb.cells = [cell for cell in nb.cells if not is_rubric(cell)]
        return nb, resources


class ShowRubrics(Preprocessor):
    """Re-insert the source notebook's rubrics after the matching answer cells of an autograded notebook."""

    enabled = Bool(True)
    source_directory = Unicode(
        "", help="Folder of the source notebooks (<assignment>/<notebook>.ipynb); default "
                 "{CourseDirectory.root}/{CourseDirectory.source_directory}, root defaulting to the working "
                 "directory (nbgrader runs from the course root)").tag(config=True)

    def _source_path(self, resources) -> Path:
        folder = Path(self.source_directory) if self.source_directory else source_folder(self.config)
        info = resources.get("nbgrader", {})
        return folder / info.get("assignment", "") / f"{info.get('notebook', '')}.ipynb"

    def preprocess(self, nb, resources):
        path = self._source_path(resources)
        if not path.is_file():
            self.log.warning("no source notebook at %s: rubrics not shown", path)
            return nb, resources
        owned = rubrics_by_answer(nbformat.read(path, as_version=4))
        cells = []
        for cell in nb.cells:
            if is_rubric(cell):  # whatever a submission put there, only the source's rubrics are shown
                continue
            cells.append(cell)
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            for rubric in owned.get(gid, []):
                cells.append(nbformat.v4.new_markdown_cell(
                    _source(rubric), metadata={"tags": [RUBRIC_TAG], "editable": False, "deletable": False}))
        nb.cells = cells
        return nb, resources


def _skipped(cell) -> bool:
    meta = cell.get("metadata", {})
    grading = meta.get("nbgrader", {})
    return SKIP_TAG in meta.get("tags", []) and not grading.get("grade") and not grading.get("solution")


class ClearOutputExceptSkipped(ClearOutput):
    """nbgrader's ClearOutput, except for cells the grader will not run (tag `skip-when-grading`)."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and _skipped(cell):
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)
