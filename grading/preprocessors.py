"""nbgrader preprocessors the course's configuration (nbgrader_config.py) plugs in.

- ExecuteSandboxed: nbgrader's Execute with every kernel in the sandbox (grading.sandbox), every graded
  test cell judged by the checker process (grading.checker, grading.relay) while the kernel runs only
  its visible part, cells tagged `skip-when-grading` skipped, and output capped in bytes while it
  streams in.
- CapOutputBytes: after execution, no cell keeps more than CELL_BYTES of output and no notebook more
  than NOTEBOOK_BYTES, so no autograded notebook or feedback page grows past a few MB.
- OverwriteCellsKeepingUnknown: nbgrader 0.9.6's OverwriteCells, without its crash on an unknown grade_id.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from nbclient.exceptions import CellTimeoutError
from nbclient.util import ensure_async, run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, OverwriteCells, NbGraderPreprocessor
from traitlets import Int

from . import kernel_side
from .course_dir import FIXTURES_FILE, source_folder
from .relay import Relay
from .sandbox import SandboxKernelManager
from .values import MAX_BYTES

__all__ = ["ExecuteSandboxed", "CapOutputBytes", "OverwriteCellsKeepingUnknown", "SKIP_TAG",
           "CELL_BYTES", "NOTEBOOK_BYTES"]

# Plain cells tagged "skip-when-grading" (in the MNIST notebooks: training, measuring, figures, widgets)
# are not run while autograding: no test depends on them, and running them would retrain models for
# every submission whose loss differs from the reference. Graded and solution cells always run.
SKIP_TAG = "skip-when-grading"
CELL_BYTES = 512 << 10        # output kept per cell
NOTEBOOK_BYTES = 4 << 20      # output kept per notebook
TRUNCATED = "[output truncated by the grader: this cell printed more than {limit} KiB]"
REPLY_CHARS = MAX_BYTES * 4 // 3 + 1024   # a packed value in base64, quoted
BASE64_REPR = re.compile(r"'([A-Za-z0-9+/]*={0,2})'")
HIDDEN = re.compile(r"^([ \t]*)### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|\Z)", re.S | re.M)


def _size(output) -> int:
    """Bytes an output takes in the saved notebook (its JSON)."""
    return len(json.dumps(output, ensure_ascii=False).encode())


def visible_part(source: str) -> str:
    """A test cell's source without its hidden tests (what the student's kernel runs while autograding)."""
    return HIDDEN.sub(r"\1pass\2", source)


def verdict_outputs(verdict: dict) -> list:
    """The checker's verdict as a cell's outputs: what the cell printed, then its error if it failed."""
    outputs = []
    if verdict.get("stdout"):
        outputs.append(NotebookNode(output_type="stream", name="stdout", text=verdict["stdout"]))
    if verdict.get("error"):
        e = verdict["error"]
        outputs.append(NotebookNode(output_type="error", ename=str(e.get("ename", "Error")),
                                    evalue=str(e.get("evalue", "")), traceback=[str(t) for t in e.get("traceback", [])]))
    return outputs


def _shorten_error(output, limit: int):
    """An error output cut to about `limit` bytes; it stays an error, so the test cell still fails."""
    output["evalue"] = str(output.get("evalue", ""))[:limit // 4]
    output["traceback"] = [line[:limit // 8] for line in output.get("traceback", [])[-8:]]
    return output


class ExecuteSandboxed(Execute):
    """nbgrader's Execute: sandboxed kernels, test cells judged by the checker, capped output."""

    cell_bytes = Int(CELL_BYTES, help="output bytes kept per cell while it runs").tag(config=True)
    checker_timeout = Int(300, help="seconds the checker may take over one test cell").tag(config=True)

    def __init__(self, *args, **kwargs):
        # nbgrader's Execute passes its kernel manager class as an argument, which outranks configuration.
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._relay = None
        self._fixtures = None
        self._submitted = None

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        # Before any student code: what lets the checker read values and call functions (grading.kernel_side).
        answer = await self._expression(kernel_side.install_expression(), cell=None)
        if answer != kernel_side.INSTALL_OK:
            self.log.warning("the grader's kernel side did not install: %s", answer[:500])
        # The checker starts now and imports numpy (and torch, for a notebook that uses it) in parallel.
        self._relay = Relay(self.checker_timeout, self._fixtures)
        uses_torch = any("torch" in c.source for c in getattr(self.nb, "cells", []) if c.cell_type == "code")
        await self._relay.warm(["numpy", "torch"] if uses_torch else ["numpy"])
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # what nbconvert's setup_kernel calls

    async def _expression(self, expression: str, cell) -> str:
        """The text of `expression` evaluated in the kernel out of band (a user expression)."""
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"q": expression})
        try:
            reply = await self.async_wait_for_reply(msg_id, cell)
        except CellTimeoutError:
            await ensure_async(self.km.interrupt_kernel())
            raise
        answer = (reply or {}).get("content", {}).get("user_expressions", {}).get("q", {})
        if answer.get("status") != "ok":
            raise RuntimeError(f"{answer.get('ename', 'no reply')}: {answer.get('evalue', '')}"[:1000])
        return answer.get("data", {}).get("text/plain", "")

    async def _ask(self, op: str, argument, cell) -> str:
        """The kernel's base64 reply to the checker's fetch or call request."""
        expression = (kernel_side.fetch_expression(argument) if op == "fetch" else kernel_side.call_expression(argument))
        text = await self._expression(expression, cell)
        if len(text) > REPLY_CHARS:
            raise RuntimeError(f"the kernel's reply is larger than the {MAX_BYTES >> 20} MiB the grader reads")
        match = BASE64_REPR.fullmatch(text)  # the repr of a base64 string, and nothing else (no parsing)
        if match is None:
            raise RuntimeError("the kernel's reply is not a packed value")
        return match.group(1)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        meta = cell.metadata.get("nbgrader", {})
        if SKIP_TAG in cell.metadata.get("tags", []) and not meta.get("grade") and not meta.get("solution"):
            return cell  # not run: the student's own saved outputs (if any) are handled by the sanitizers
        self._cell_bytes, self._cell_truncated = 0, False
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        else:
            # A test cell: the kernel runs its visible part (what the student saw run), the checker the whole
            # cell; the checker's verdict is the cell's output, whatever the kernel printed.
            source = cell.source
            cell.source = visible_part(source)
            try:
                cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            finally:
                cell.source = source
            if self._relay is None:
                self._relay = Relay(self.checker_timeout, self._fixtures)
            verdict = await self._relay.judge(source, f"In[{meta.get('grade_id', cell_index)}]",
                                            lambda op, arg: self._ask(op, arg, cell))
            cell.outputs = verdict_outputs(verdict)
        if self._cell_truncated:
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout",
                                             text=TRUNCATED.format(limit=self.cell_bytes >> 10) + "\n"))
        return cell

    execute_cell = run_sync(async_execute_cell)  # nbclient binds the sync wrapper to the base method

    def submitted_folder(self, resources) -> Path | None:
        """The student's submission as collected (submitted/<student>/<assignment>/): what the kernel gets.

        Never nbgrader's execution folder, which holds the restored test cells with their hidden parts,
        the notebooks autograded so far and the assignment's other files."""
        info = (resources or {}).get("nbgrader", {})
        if not info.get("student") or not info.get("assignment"):
            return None
        coursedir = CourseDirectory(config=self.config)
        return Path(coursedir.format_path(coursedir.submitted_directory, info["student"], info["assignment"]))

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxKernelManager):
            # No submission known (a notebook executed outside `nbgrader autograde`): an empty folder, never the cwd's files.
            km.kernel_files_from = self._submitted or Path("/nonexistent/no-submission")
        return km

    def preprocess(self, nb, resources=None, km=None):
        assignment = (resources or {}).get("nbgrader", {}).get("assignment")
        fixtures = source_folder(self.config) / assignment / FIXTURES_FILE if assignment else None
        self._fixtures = fixtures if fixtures is not None and fixtures.is_file() else None
        self._submitted = self.submitted_folder(resources)
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            if self._relay is not None:
                run_sync(self._relay.stop)()
                self._relay = None

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's output handler, dropping what a cell prints past cell_bytes (errors are kept, cut)."""
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return out
        size = _size(out)
        if out.get("output_type") == "error":
            if size > self.cell_bytes // 4:
                _shorten_error(out, self.cell_bytes // 4)
            return out
        if getattr(self, "_cell_bytes", 0) + size > self.cell_bytes:
            outs.remove(out)
            self._cell_truncated = True
            return None
        self._cell_bytes = getattr(self, "_cell_bytes", 0) + size
        return out


class CapOutputBytes(NbGraderPreprocessor):
    """No cell keeps more than cell_bytes of output, no notebook more than notebook_bytes."""

    cell_bytes = Int(CELL_BYTES).tag(config=True)
    notebook_bytes = Int(NOTEBOOK_BYTES).tag(config=True)

    def preprocess(self, nb, resources):
        total = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            kept, used, dropped = [], 0, False
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    kept.append(_shorten_error(out, self.cell_bytes // 4) if _size(out) > self.cell_bytes // 4 else out)
                    continue
                size = _size(out)
                if used + size > self.cell_bytes or total + used + size > self.notebook_bytes:
                    dropped = True
                    continue
                kept.append(out)
                used += size
            if dropped:
                kept.append(NotebookNode(output_type="stream", name="stdout",
                                         text=TRUNCATED.format(limit=self.cell_bytes >> 10) + "\n"))
            cell.outputs = kept
            total += used
        return nb, resources


# nbgrader 0.9.6 crashes on a submitted cell whose grade_id is not in the gradebook (a renamed test
# cell, or nbgrader metadata pasted from elsewhere): OverwriteCells deletes only the grade_id, and
# add_missing_task_cells then raises KeyError, which scores the whole notebook 0. Here such a cell
# becomes a plain cell (it can earn nothing), and the original graded cell is restored as missing.
class OverwriteCellsKeepingUnknown(OverwriteCells):
    """OverwriteCells that turns cells with an unknown grade_id into plain cells instead of crashing."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        meta = cell.metadata.get("nbgrader")
        if meta is not None and "grade_id" not in meta:
            del cell.metadata["nbgrader"]
        return cell, resources
