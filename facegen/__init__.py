"""The machinery behind helpers.py that a learner never needs to read, one job per module.

For the notebook (through helpers.py):
    parameters   FACEGEN_* settings, validated            device       CPU/CUDA/MPS, bf16 or fp32
    locate       where the data is: env, beside, download zipdata      the dataset zip: open, list, download
    decode       JPEGs -> one cached uint8 tensor         synthetic    cartoon faces when there is no real data
    pictures     grids, the loss plot, nearest faces      diagrams     the networks drawn; G's two losses
    sampling     the fixed z; G's images as uint8         checkpoints  atomic writes, checkpoints
    runs         run folders, settings, resume            progress     the clock, the progress bar, the log
    interrupt    Stop (Ctrl-C) ends training cleanly      fast_step    FastStep: autocast, channels-last, CUDA graph
    fid          the Frechet Inception Distance           notebook_errors  one line for a stub, a failed check,
                                                                           or running ahead of a step
For the checks (through problem_unittests.py):
    checking     what the checks share: verdicts, no trace left behind (random state, warnings)
    network_checks  D's and G's structure              init_checks      the DCGAN initialisation
    optimizer_checks  the two Adams                    average_checks   update_average
    step_recorder  records a learner's train_step (typed events: Call, ZeroGrad, Backward, Step)
    step_verdicts  the verdicts on one recorded step   step_grader      runs and judges check_train_step

No module here imports helpers.py; helpers.py imports from here.
"""


class FacegenError(Exception):
    """A problem the learner can fix; the message says what is wrong and what to do."""


def short_digest(data: bytes) -> str:
    """The first 20 hex digits of data's SHA-256: a cache key for content (decoded faces, FID statistics)."""
    import hashlib

    return hashlib.sha256(data).hexdigest()[:20]
