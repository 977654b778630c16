"""The course's grading machinery: what nbgrader runs on the instructor's side.

Everything here runs in the grader's process, never in a student's kernel. nbgrader_config.py
keeps only configuration and names the classes defined in this package's modules.
"""
