"""Feedback without the hidden tests.

Autograded notebooks contain the hidden tests again (nbgrader restores them for grading), and
`nbgrader generate_feedback` renders them by default. HideHiddenTests replaces each
"### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS" region of a cell with one comment line, and shortens
the tracebacks of those cells to "ErrorName: message", because a traceback quotes the code around the
failing line. Scores and error messages are kept. tests/test_feedback.py checks it.
"""

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

__all__ = ["HideHiddenTests"]


class HideHiddenTests(Preprocessor):
    """Remove the hidden tests' code (and the tracebacks that quote it) from feedback."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled
    hidden = re.compile(r"^([ \t]*)### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|\Z)", re.S | re.M)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and self.hidden.search(cell.source):
            cell.source = self.hidden.sub(r"\1# (hidden tests: not shown in the feedback)\2", cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
