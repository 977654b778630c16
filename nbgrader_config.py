"""nbgrader configuration for the VAE course.

Run nbgrader from the repository root (the Makefile and scripts/ do).
The instructor sources live in solutions/<assignment>/ and the student
release is generated into notebooks/<assignment>/.
"""

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "vae-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Every notebook is a plain Python 3 notebook. A submission saved with another
# kernel name is still run with this one (nbgrader's OverwriteKernelspec).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# The slowest cell in the course (training a small VAE when no checkpoint exists)
# takes about 15 s on a 2-core laptop; 90 s leaves room for slow machines while
# keeping a student's infinite loop from stalling a whole class.
c.Execute.timeout = 90

# A student who deletes a graded cell gets it back before grading.
c.OverwriteCells.add_missing_cells = True

# Any stderr output in a test cell scores 0 in nbgrader, warnings included.
# The course avoids warnings; this drops the stderr streams that are only warnings
# (or progress bars) so that a library deprecation never zeroes a correct answer.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?i)warning|\d+it \[|it/s\]|s/it\]"

# Every autograding kernel gets a 4 GiB cap on its data segment (heap and anonymous memory), so a
# submission that allocates without bound fails with MemoryError instead of starving the grader
# (a training run of the MNIST notebooks peaks near 1 GiB). The first argument keeps nbgrader's default.
c.Execute.extra_arguments = [
    "--HistoryManager.hist_file=:memory:",
    "--IPKernelApp.exec_lines=import resource as _r; _r.setrlimit(_r.RLIMIT_DATA, (4 << 30, 4 << 30)); del _r",
]

# Feedback must not show the code of the hidden tests. Autograded notebooks contain it again (nbgrader
# restores it for grading), and `nbgrader generate_feedback` renders it by default. HideHiddenTests
# replaces each "### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS" region of a cell with one comment
# line, and shortens the tracebacks of those cells to "ErrorName: message", because a traceback quotes
# the code around the failing line. Scores and error messages are kept. tests/test_feedback.py checks it.
import re as _re  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor as _CSS, Preprocessor as _Preprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades as _GetGrades  # noqa: E402
from traitlets import Bool as _Bool  # noqa: E402


class HideHiddenTests(_Preprocessor):
    """Remove the hidden tests' code (and the tracebacks that quote it) from feedback."""

    enabled = _Bool(True)  # nbconvert preprocessors are off unless enabled
    hidden = _re.compile(r"^([ \t]*)### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|\Z)", _re.S | _re.M)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and self.hidden.search(cell.source):
            cell.source = self.hidden.sub(r"\1# (hidden tests: not shown in the feedback)\2", cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


c.GenerateFeedback.preprocessors = [_GetGrades, HideHiddenTests, _CSS]


# nbgrader 0.9.6 crashes on a submitted cell whose grade_id is not in the gradebook (a renamed test
# cell, or nbgrader metadata pasted from elsewhere): OverwriteCells deletes only the grade_id, and
# add_missing_task_cells then raises KeyError, which scores the whole notebook 0. Here such a cell
# becomes a plain cell (it can earn nothing), and the original graded cell is restored as missing.
from nbgrader.preprocessors import (  # noqa: E402
    CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells, OverwriteKernelspec)


class OverwriteCellsKeepingUnknown(OverwriteCells):
    """OverwriteCells that turns cells with an unknown grade_id into plain cells instead of crashing."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        meta = cell.metadata.get("nbgrader")
        if meta is not None and "grade_id" not in meta:
            del cell.metadata["nbgrader"]
        return cell, resources


c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCellsKeepingUnknown, CheckCellMetadata]
c.OverwriteCellsKeepingUnknown.add_missing_cells = True
