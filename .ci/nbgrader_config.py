"""nbgrader's configuration for this lesson. .ci/nbgrader_course.py copies it, with nbgrader_stubs.py and
feedback_template/, into a course directory's lesson_config/, which the course's nbgrader_config.py loads.
See README.md, "For teachers"."""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - given to every traitlets config file
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # for nbgrader_stubs
import nbgrader  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbclient.util import run_sync  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests,  # noqa: E402
                                    ClearMarkScheme, ClearOutput, ComputeChecksums, Execute, GetGrades,
                                    IgnorePattern, IncludeHeaderFooter, LimitOutput, LockCells, SaveAutoGrades,
                                    SaveCells)
from nbgrader_stubs import StepStubs  # noqa: E402

c.CourseDirectory.course_id = "facegen"
# The gradebook: an SQLite file in the course directory (nbgrader's default, made explicit).
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
# Runs write outputs/ (runs, checkpoints, data) beside the notebook, a student may keep the faces there (the
# zip, or its extracted folder of 32,600 images) and `python -m facegen.install` makes .venv there: none of
# it is the student's work, none is submitted. my_results/ (the run's samples, losses and summary, kept by
# the cell above the reflection) is, so the grading page shows them beside the answer.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "outputs", ".venv",
                            "processed-celeba-small.zip", "processed_celeba_small"]
c.CourseDirectory.max_file_size = 20_000  # KB: assets/generator.pt is 3.2 MB

# The release: nbgrader's generate_assignment, with the step-naming stub instead of ClearSolutions'.
c.GenerateAssignment.preprocessors = [IncludeHeaderFooter, LockCells, StepStubs, ClearOutput, CheckCellMetadata,
                                      ComputeChecksums, SaveCells, ClearHiddenTests, ClearMarkScheme,
                                      ComputeChecksums, CheckCellMetadata]

# Autograding: the checks, and the cells that feed them, not a training run. Every grading kernel, whether
# the `nbgrader autograde` command or the Formgrader's Autograde button started it, gets GRADING in its
# environment: the pretrained route (step 8 loads assets/generator.pt instead of training), the quick
# configuration (1,024 faces, no FID) and the same faces for every submission, never a download or a folder
# of images a student left beside the notebook: processed-celeba-small.zip in the course directory when the
# teacher put it there, else the synthetic stand-in. What the grading machine's environment already sets wins.
# Other kernels (a teacher's own notebooks in a `jupyter lab` started here) are left as they are.
GRADING = {"FACEGEN_PRETRAINED": "1", "FACEGEN_QUICK": "1"}


class GradingExecute(Execute):
    """nbgrader's Execute, with GRADING (and the course's faces) in the grading kernel's environment."""

    async def async_start_new_kernel(self, **kwargs):
        course_zip = Path.cwd() / "processed-celeba-small.zip"
        data = {"FACEGEN_DATA": str(course_zip) if course_zip.exists() else "synthetic"}
        kwargs["env"] = {**data, **GRADING, **os.environ, **kwargs.get("env", {})}
        return await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)  # nbclient binds the synchronous one to its own


c.Autograde.autograde_preprocessors = [GradingExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.Execute.timeout = 300  # a cell: nbgrader's default of 30 s is short for a slow laptop's check of train_step

# The feedback: nbgrader's, with the hidden tests' code and the reflection's mark scheme left out (what the
# hidden tests said stays in the outputs). The grading page shows the mark scheme: autograde puts the locked
# task cell back as the source notebook has it.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, ClearMarkScheme, CSSHTMLHeaderPreprocessor]
# `nbgrader generate_feedback` (the command) also names each graded cell in the page's summary
# (feedback_template/feedback/: one block of nbgrader's page). Only there: the Formgrader renders its
# grading pages with the same exporter settings, and this template would break them.
if sys.argv[1:2] == ["generate_feedback"]:
    c.HTMLExporter.template_file = "facegen_feedback.html.j2"
    c.HTMLExporter.extra_template_basedirs = [
        os.path.join(HERE, "feedback_template"),
        os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")]
