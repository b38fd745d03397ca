"""Training: optimizers, loops, checkpoints, data parallelism."""
