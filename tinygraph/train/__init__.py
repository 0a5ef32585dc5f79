"""Training, graph-style: initializers, losses, optimizers, the TF1 variable store
and weight files."""
