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


# A student's cell can hook the kernel so that later cells never run as written: an IPython input or
# AST transformer that empties or rewrites every cell, a trace function, an event callback, or an
# instance-level replacement of run_cell. Any of these would let the tests "pass" without running.
# Before every graded test cell, the grader therefore asks the kernel, out of band (a user expression,
# which IPython evaluates without input transformers), to drop every such hook that the notebook added,
# and to answer 'clean'. If the answer does not come back, the test cell is failed. This runs in the
# grader, so nothing in the notebook can change it. (What a shared kernel cannot stop is described in
# the README, "What grading cannot prevent".)
from nbclient.util import run_sync as _run_sync  # noqa: E402
from nbformat.notebooknode import NotebookNode as _Node  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, Execute, IgnorePattern, LimitOutput, SaveAutoGrades)

KERNEL_RESET = (
    "(lambda ip, sys: ("
    "ip.input_transformers_cleanup.__setitem__(slice(None), [t for t in ip.input_transformers_cleanup"
    " if getattr(t, '__module__', '').startswith('IPython.')]),"
    "ip.input_transformers_post.clear(), ip.ast_transformers.clear(),"
    "[ip.__dict__.pop(n, None) for n in ('run_cell', 'run_cell_async', 'transform_cell', 'transform_ast',"
    " 'run_ast_nodes', 'run_code', 'should_run_async', 'showtraceback', 'user_expressions')],"
    "sys.settrace(None), sys.setprofile(None),"
    "[cbs.__setitem__(slice(None), [f for f in cbs if getattr(f, '__module__', None) != '__main__'])"
    " for cbs in ip.events.callbacks.values()],"
    "'clean')[-1])(__import__('IPython').get_ipython(), __import__('sys'))"
)


# Plain cells tagged "skip-when-grading" (in the MNIST notebooks: training, measuring, figures, widgets)
# are not run while autograding: no test depends on them, and running them would retrain models for
# every submission whose loss differs from the reference. Graded and solution cells always run.
SKIP_TAG = "skip-when-grading"


class ExecuteWithCleanKernel(Execute):
    """nbgrader's Execute: skips cells tagged SKIP_TAG, resets kernel hooks before each test cell (KERNEL_RESET)."""

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        meta = cell.metadata.get("nbgrader", {})
        if SKIP_TAG in cell.metadata.get("tags", []) and not meta.get("grade") and not meta.get("solution"):
            cell.outputs = []
            return cell
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"reset": KERNEL_RESET})
        reply = await self.async_wait_for_reply(msg_id, cell)
        answer = ((reply or {}).get("content", {}).get("user_expressions", {}).get("reset", {}))
        clean = answer.get("status") == "ok" and answer.get("data", {}).get("text/plain") == "'clean'"
        cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if not clean:
            cell.outputs.append(_Node(output_type="error", ename="GraderError",
                                      evalue="the kernel was modified so that tests cannot run as written",
                                      traceback=["GraderError: the kernel was modified so that tests cannot run as written"]))
        return cell

    execute_cell = _run_sync(async_execute_cell)  # nbclient binds the sync wrapper to the base method


c.Autograde.autograde_preprocessors = [
    ExecuteWithCleanKernel, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata]
