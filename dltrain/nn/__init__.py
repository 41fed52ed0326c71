"""The NumPy engine: activations, losses, initializers, layers, networks and optimizers."""
