"""The checks behind problem_unittests.py, one module per step the learner writes:

    common         what every check shares: the verdict (CheckFailed, PASSED), no trace left behind
                   (random state, warnings), the last layer of a network
    networks       check_discriminator, check_generator: D's and G's structure and outputs
    weights        check_weights_init: the DCGAN initialisation
    optimizers     check_optimizers: the two Adams
    average        check_weight_average: update_average
    training_step  check_train_step: runs the learner's step on recorded networks and judges it,
                   with step_recorder (the typed events: Call, ZeroGrad, Backward, Step) and
                   step_verdicts (what each recorded mistake means)

check_scale, check_dataloader and check_losses are short enough to live in problem_unittests.py itself.
"""
