"""Training an experiment into its run folder: the experiment, its session, the final save."""
