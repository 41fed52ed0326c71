"""Run folders on disk: creating and writing them atomically, reading them back, their status."""
