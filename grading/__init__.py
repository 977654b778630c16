"""The course's grading machinery: what nbgrader runs on the instructor's side.

Everything here runs in the grader's processes: nbgrader's, and the checker that runs the test cells
(grading.checker). The one exception is what the grader installs in each student's kernel so that the
checker can read values and call functions there (grading.values and grading.kernel_side): it runs in
the student's process, where the student can fake it, and the checker trusts none of it. nbgrader_config.py
keeps only configuration and names the classes defined in this package's modules.
"""
