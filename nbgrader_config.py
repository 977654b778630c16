"""nbgrader configuration for the VAE course: configuration only.

Run nbgrader from the repository root (the Makefile and scripts/ do). The instructor sources live in
solutions/<assignment>/ and the student release is generated into notebooks/<assignment>/. The classes
named here live in the `grading` package (installed with the course): grading.sandbox starts every
autograding kernel in a bubblewrap sandbox, grading.preprocessors runs and caps the notebook and has the
checker (grading.checker) run every test cell outside the student's process, grading.feedback hides the
hidden tests.
"""

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "vae-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# Each assignment's hidden fixtures (solutions/<assignment>/hidden_fixtures.py: constants and exact expectations
# for the hidden tests, imported by the grader's checker only) are never copied into a release, an autograded
# folder or feedback. The other patterns are nbgrader's defaults.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "hidden_fixtures.py"]

# Every notebook is a plain Python 3 notebook. A submission saved with another
# kernel name is still run with this one (nbgrader's OverwriteKernelspec).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# The slowest cell in the course (training a small VAE when no checkpoint exists)
# takes about 15 s on a 2-core laptop; 90 s leaves room for slow machines while
# keeping a student's infinite loop from stalling a whole class.
c.Execute.timeout = 90

# Autograding kernels run in a bubblewrap sandbox with their own limits (grading.sandbox.LIMITS:
# 4 GiB of heap, 6 GiB of address space, 256 MiB files, 64 processes, 15 CPU minutes, no memfd or System V IPC):
# ExecuteSandboxed, below, starts them with grading.sandbox.SandboxKernelManager. Validation and plain
# execution start kernels as usual.
# VAE_SANDBOX=none (make grade SANDBOX=none) grades without the sandbox.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:"]

# A student who deletes a graded cell gets it back before grading.
c.OverwriteCells.add_missing_cells = True

# Any stderr output in a test cell scores 0 in nbgrader, warnings included.
# The course avoids warnings; this drops the stderr streams that are only warnings
# (or progress bars) so that a library deprecation never zeroes a correct answer.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?i)warning|\d+it \[|it/s\]|s/it\]"

c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades", "grading.feedback.HideHiddenTests", "grading.sanitize.SanitizeNotebook",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]

c.Autograde.sanitize_preprocessors = [
    "grading.rubric.ClearOutputExceptSkipped", "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec", "grading.preprocessors.OverwriteCellsKeepingUnknown",
    "nbgrader.preprocessors.CheckCellMetadata"]
c.OverwriteCellsKeepingUnknown.add_missing_cells = True

c.Autograde.autograde_preprocessors = [
    "grading.preprocessors.ExecuteSandboxed", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "grading.preprocessors.CapOutputBytes", "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties", "nbgrader.preprocessors.CheckCellMetadata",
    "grading.sanitize.SanitizeNotebook"]

# Nothing a student's notebook shows runs in a browser (grading/sanitize.py): autograded notebooks keep only inert
# outputs (above), and every page nbconvert renders with this configuration (the formgrader's, the feedback) is
# cleaned again: markdown, HTML and Markdown outputs through grading.sanitize.clean_html, no JavaScript, no widget
# state. The formgrader and the feedback pages also forbid any script the grader did not write (grading/csp.py).
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"clean_html": "grading.sanitize.clean_html", "markdown2html": "grading.sanitize.markdown2html"}
c.HTMLExporter.preprocessors = ["grading.sanitize.SanitizeNotebook"]
c.GenerateFeedback.exporter_class = "grading.csp.FeedbackExporter"  # a Content-Security-Policy meta tag in every page

# Submissions are read as regular files only (grading/collect.py): `nbgrader autograde` does not grade a
# submission holding a link, a FIFO, a device or a socket.
c.Autograde.sanitize_preprocessors = ["grading.collect.RefuseUnsafeSubmission"] + c.Autograde.sanitize_preprocessors


# Rubrics (grading/rubric.py): a markdown cell tagged "rubric" after a manually graded answer is removed from
# the student release and from feedback, and re-inserted from the source notebook below the student's answer
# in the autograded notebook, which is what the formgrader shows. The student's own saved outputs of cells
# tagged skip-when-grading (the tables and figures a discussion refers to) are kept for the grader. Added to
# whatever lists are set above (and only once, should this file be loaded twice, e.g. by a hub instructor's
# ~/.jupyter/nbgrader_config.py).
from pathlib import Path as _Path  # noqa: E402

import nbgrader as _nbgrader  # noqa: E402
import nbgrader.converters as _converters  # noqa: E402
from grading.mathjax import TEMPLATES as _MATHJAX_TEMPLATES  # noqa: E402

RemoveRubrics, ShowRubrics = "grading.rubric.RemoveRubrics", "grading.rubric.ShowRubrics"


def _configured(converter, name):
    """The preprocessor list set above for converter.name (or nbgrader's default), without the rubric steps."""
    default = getattr(_converters, converter).class_traits()[name].default()
    current = c[converter][name] if name in c[converter] else default
    return [p for p in current if p not in (RemoveRubrics, ShowRubrics)]


c.GenerateAssignment.preprocessors = [RemoveRubrics] + _configured("GenerateAssignment", "preprocessors")
c.GenerateFeedback.preprocessors = [RemoveRubrics] + _configured("GenerateFeedback", "preprocessors")
c.Autograde.autograde_preprocessors = _configured("Autograde", "autograde_preprocessors") + [ShowRubrics]

# MathJax offline (grading/mathjax.py): the formgrader and the feedback pages load the MathJax of the
# jupyter-server-mathjax package instead of a CDN's. nbgrader's own templates stay first.
c.HTMLExporter.extra_template_basedirs = [
    str(_Path(_nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"), str(_MATHJAX_TEMPLATES)]
