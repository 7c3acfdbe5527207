"""nbgrader's configuration for this lesson, loaded by a course directory's nbgrader_config.py
(.ci/nbgrader_course.py writes one: load_subconfig(<this file>)). See README.md, "For teachers"."""
import os
import sys

c = get_config()  # noqa: F821 - given to every traitlets config file
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for nbgrader_stubs
from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,  # noqa: E402
                                    ClearOutput, ComputeChecksums, IncludeHeaderFooter, LockCells, SaveCells)
from nbgrader_stubs import StepStubs  # noqa: E402

c.CourseDirectory.course_id = "facegen"
# The gradebook: an SQLite file in the course directory (nbgrader's default, made explicit).
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
# Runs write outputs/ (runs, checkpoints, data) beside the notebook: not the student's work.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "outputs"]
c.CourseDirectory.max_file_size = 20_000  # KB: assets/generator.pt is 12 MB

# The release: nbgrader's generate_assignment, with the step-naming stub instead of ClearSolutions'.
c.GenerateAssignment.preprocessors = [IncludeHeaderFooter, LockCells, StepStubs, ClearOutput, CheckCellMetadata,
                                      ComputeChecksums, SaveCells, ClearHiddenTests, ClearMarkScheme,
                                      ComputeChecksums, CheckCellMetadata]

# Autograding runs the whole notebook, training included: nbgrader's default is 30 s a cell. In the
# quick configuration training takes about a minute on a laptop CPU; 20 minutes a cell leaves room.
c.Execute.timeout = 1200
# ... and autograding trains in the quick configuration (1,024 images, one epoch) unless
# the environment says otherwise (FACEGEN_QUICK=0 for a full run): the kernel inherits this.
os.environ.setdefault("FACEGEN_QUICK", "1")
