"""The machinery behind helpers.py that a learner never needs to read, one job per module.

    parameters   FACEGEN_* settings, validated            device       CPU/CUDA/MPS, bf16 or fp32
    zipdata      the dataset zip: open, list, download    decode       JPEGs -> one cached uint8 tensor
    synthetic    cartoon faces when there is no real data checkpoints  atomic writes, checkpoints
    runs         what a checkpoint must match to resume   fast_step    autocast and the CUDA graph
    interrupt    Stop (Ctrl-C) ends training cleanly      fid          the Frechet Inception Distance
    step_recorder  records and replays a learner's train_step, for problem_unittests.check_train_step

No module here imports helpers.py; helpers.py imports from here.
"""


class FacegenError(Exception):
    """A problem the learner can fix; the message says what is wrong and what to do."""
