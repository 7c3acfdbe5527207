"""nbgrader's configuration for this lesson, loaded by a course directory's nbgrader_config.py
(.ci/nbgrader_course.py writes one: load_subconfig(<this file>)). See README.md, "For teachers"."""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - given to every traitlets config file
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # for nbgrader_stubs
import nbgrader  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,  # noqa: E402
                                    ClearOutput, ComputeChecksums, GetGrades, IncludeHeaderFooter, LockCells,
                                    SaveCells)
from nbgrader_stubs import StepStubs  # noqa: E402

c.CourseDirectory.course_id = "facegen"
# The gradebook: an SQLite file in the course directory (nbgrader's default, made explicit).
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
# Runs write outputs/ (runs, checkpoints, data) beside the notebook: not the student's work.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "outputs"]
c.CourseDirectory.max_file_size = 20_000  # KB: assets/generator.pt is 3.2 MB

# The release: nbgrader's generate_assignment, with the step-naming stub instead of ClearSolutions'.
c.GenerateAssignment.preprocessors = [IncludeHeaderFooter, LockCells, StepStubs, ClearOutput, CheckCellMetadata,
                                      ComputeChecksums, SaveCells, ClearHiddenTests, ClearMarkScheme,
                                      ComputeChecksums, CheckCellMetadata]

# Autograding runs the whole notebook, training included: nbgrader's default is 30 s a cell. In the
# quick configuration training takes about a minute on a laptop CPU; 20 minutes a cell leaves room.
c.Execute.timeout = 1200
# `nbgrader autograde` (the command; its kernels inherit these) trains in the quick configuration
# (1,024 images, one epoch) on the same faces for every submission, never a download each:
# processed-celeba-small.zip in the course directory when the teacher put it there, else the synthetic
# stand-in. The checks do not depend on the faces; the pictures do. What the environment already says
# wins (FACEGEN_QUICK=0 for a full run). Other commands, and a `jupyter lab` started here, are left as
# they are.
if sys.argv[1:2] == ["autograde"]:
    os.environ.setdefault("FACEGEN_QUICK", "1")
    course_zip = Path.cwd() / "processed-celeba-small.zip"
    os.environ.setdefault("FACEGEN_DATA", str(course_zip) if course_zip.exists() else "synthetic")

# The feedback: nbgrader's, with the hidden tests' code left out (what they said stays in the outputs).
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
# `nbgrader generate_feedback` (the command) also names each graded cell in the page's summary
# (feedback_template/feedback/: one block of nbgrader's page). Only there: the Formgrader renders its
# grading pages with the same exporter settings, and this template would break them.
if sys.argv[1:2] == ["generate_feedback"]:
    c.HTMLExporter.template_file = "facegen_feedback.html.j2"
    c.HTMLExporter.extra_template_basedirs = [
        os.path.join(HERE, "feedback_template"),
        os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")]
