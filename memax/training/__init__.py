"""Training loop, evaluation, checkpoints and metric writers."""
