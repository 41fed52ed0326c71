"""The training loop: epochs, batches, metrics, checkpoints and graceful stops."""
