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
