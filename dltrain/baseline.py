"""`baseline: sklearn`: fit scikit-learn's counterpart of the model on the same split.

    baseline: sklearn                                   # estimator parameters from the config
    baseline: {name: sklearn, options: {C: 0.5}}        # ... some of them set by hand

The counterpart of each model, with the parameters carried over from the config:

    logreg                  LogisticRegression(random_state=seed, max_iter=epochs); C stays at
                            scikit-learn's default 1.0, as in the logistic-regression tutorial
    perceptron rosenblatt   Perceptron(eta0=lr, max_iter=epochs, tol=None, fit_intercept=bias, ...)
    perceptron gradient     SGDClassifier (log_loss for a sigmoid unit, squared_error otherwise)
                            or SGDRegressor, constant learning rate lr
    mlp                     MLPClassifier / MLPRegressor: hidden sizes, activation, solver
                            (adam: betas, eps; gd/sgd: momentum, nesterov), lr, batch size,
                            max_iter=epochs with no early stop, alpha = weight_decay * batch size
                            (scikit-learn divides its L2 term by the batch size; dltrain does not)

Everything also takes random_state=seed and shuffle. The metrics land in metrics.json under
`baseline`: {'model': repr, 'train': {...}, 'val': {...}, 'test': {...}} with accuracy (and
log_loss where the estimator gives probabilities) for classifiers, mse/mae/r2 for regression.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from dltrain.config.section import Section

INTERRUPTED = "interrupted (Ctrl-C or SIGTERM) before it finished"  # a baseline's error when a signal cut it short

MLP_ACTIVATIONS = {"identity": "identity", "sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}


class Baseline(Section):
    """Fit a scikit-learn counterpart beside the dltrain model (written `baseline: sklearn`)."""

    name: Literal["sklearn"] = Field("sklearn", description="the library fitted beside the model: scikit-learn")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="estimator parameters that replace those derived from the config, e.g. {max_iter: 150}",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data):
        return {"name": data} if isinstance(data, str) else data

    def check(self, model) -> None:
        """Raise ValueError when `model` has no counterpart or an option is not a parameter of it."""
        if model.type == "mlp" and model.activation not in MLP_ACTIVATIONS:
            raise ValueError(
                f"baseline: scikit-learn's MLPs have no {model.activation!r} activation (they have {', '.join(MLP_ACTIVATIONS)})"
            )
        valid = set().union(*(cls().get_params() for cls in _candidates(model)))
        unknown = sorted(set(self.options) - valid)
        if unknown:
            raise ValueError(
                f"baseline.options: {unknown} are not parameters of {' / '.join(c.__name__ for c in _candidates(model))}"
            )


def _candidates(model) -> tuple:
    from sklearn import linear_model, neural_network

    return {
        "logreg": (linear_model.LogisticRegression,),
        "perceptron": (linear_model.Perceptron, linear_model.SGDClassifier, linear_model.SGDRegressor),
        "mlp": (neural_network.MLPClassifier, neural_network.MLPRegressor),
    }[model.type]


def _penalty(wd: float) -> dict:
    return {"penalty": "l2", "alpha": wd} if wd else {"penalty": None}


def _logreg(cfg, classify: bool, n_train: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression, {"random_state": cfg.seed, "max_iter": cfg.training.epochs}


def _perceptron(cfg, classify: bool, n_train: int):
    from sklearn.linear_model import Perceptron, SGDClassifier, SGDRegressor

    model, opt, training = cfg.model, cfg.training.optimizer, cfg.training
    common = {
        "max_iter": training.epochs,
        "tol": None,
        "fit_intercept": model.bias,
        "shuffle": training.shuffle,
        "random_state": cfg.seed,
        "eta0": opt.lr,
        **_penalty(opt.weight_decay),
    }
    if model.rule == "rosenblatt":
        return Perceptron, common
    if not classify:
        return SGDRegressor, {**common, "learning_rate": "constant"}
    loss = "log_loss" if model.activation in (None, "sigmoid") else "squared_error"
    return SGDClassifier, {**common, "loss": loss, "learning_rate": "constant"}


def _mlp(cfg, classify: bool, n_train: int):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    model, opt, training = cfg.model, cfg.training.optimizer, cfg.training
    batch = n_train if training.batch_size == "full" else min(training.batch_size, n_train)
    if opt.name == "adam":
        solver = {"solver": "adam", "beta_1": opt.beta1, "beta_2": opt.beta2, "epsilon": opt.eps}
    else:
        solver = {
            "solver": "sgd",
            "momentum": opt.momentum,
            "nesterovs_momentum": opt.nesterov,
            "learning_rate": "constant",
        }
    params = {
        "hidden_layer_sizes": tuple(model.hidden),
        "activation": MLP_ACTIVATIONS[model.activation],
        "learning_rate_init": opt.lr,
        "batch_size": batch,
        "alpha": opt.weight_decay * batch,
        "max_iter": training.epochs,
        "n_iter_no_change": training.epochs,  # train every epoch, like dltrain
        "shuffle": training.shuffle,
        "random_state": cfg.seed,
        **solver,
    }
    return (MLPClassifier if classify else MLPRegressor), params


COUNTERPARTS = {"logreg": _logreg, "perceptron": _perceptron, "mlp": _mlp}


def make_estimator(cfg, classify: bool, n_train: int):
    """The unfitted scikit-learn estimator for `cfg`, options applied last."""
    cls, params = COUNTERPARTS[cfg.model.type](cfg, classify, n_train)
    return cls(**{**params, **cfg.baseline.options})
