"""The instructor's side of the course: releasing, grading a class, feedback and exports.

The scripts in scripts/ are entry points only (one per make target); the code they run lives here:

- course_dir: the course's folders, and nbgrader run in scratch course folders;
- release: the student release (make release);
- classroom: grading a class in parallel, incrementally (make grade); gradebook: every gradebook access;
- sandbox, preprocessors, relay, checker, values, kernel_side: autograding one notebook, each kernel in a
  bubblewrap sandbox and each test cell judged by a clean checker process;
- rubric, feedback, mathjax, export: hand grading, feedback without the hidden tests, exports for an LMS;
- execute, seed_table: executing notebooks headless and the MNIST seed table (make course, make reference).

Everything here runs in the grader's processes: nbgrader's, and the checker that runs the test cells
(grading.checker). The one exception is what the grader installs in each student's kernel so that the
checker can read values and call functions there (grading.values and grading.kernel_side): it runs in
the student's process, where the student can fake it, and the checker trusts none of it. nbgrader_config.py
keeps only configuration and names the classes defined in this package's modules.
"""
