"""dltrain: train logistic regression, perceptrons and MLPs on NumPy from YAML configs."""

__version__ = "0.1.0"


def run(config, **kwargs):
    """Train from a config (path, dict or Config) and write a run folder; see `dltrain.api.run`."""
    from dltrain.api import run as _run

    return _run(config, **kwargs)
