"""The three model families, as config sections that build a `Network` (the fast
engine's `FastNetwork` unless DLTRAIN_ENGINE=reference).

    net = Mlp(hidden=[64]).build(n_in=64, n_classes=10, n_targets=1, loss="auto", rng=rng, dtype=np.float32)

`n_out` comes from the data (`output_units`): one unit for two classes with a
non-softmax output, one per class otherwise, one per target for regression.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Optional, Union

from pydantic import Field, model_validator

from dltrain.config.section import Section
from dltrain.nn import fast
from dltrain.nn.activations import ACTIVATIONS, LEAKY_SLOPE
from dltrain.nn.initializers import He, Initializer, Zeros, initialize
from dltrain.nn.losses import FUSED, LOSSES
from dltrain.nn.network import Dense, Network

if TYPE_CHECKING:  # Literals built from the tables at run time; type checkers see str
    ActivationName = str
    LossName = str
else:
    ActivationName = Literal[tuple(ACTIVATIONS)]
    # `perceptron` is the loss of Rosenblatt's rule: fused with the step output, never alone.
    LossName = Literal[("auto",) + tuple(dict.fromkeys([*LOSSES, *(loss for _, loss in FUSED)]))]

# leaky_relu's slope: a key of the perceptron and of the MLP (logreg has no leaky_relu to set).
NegativeSlope = Annotated[
    float,
    Field(
        ge=0,
        lt=1,
        description="leaky_relu's slope for z < 0: f(z) = z if z > 0 else negative_slope * z "
        "(default 0.01, PyTorch's LeakyReLU; Keras's LeakyReLU defaults to 0.3)",
    ),
]

DEFAULT_LOSS = {"sigmoid": "bce", "softmax": "cross_entropy", "step": "perceptron"}
MAX_LAYERS = 1_000  # hidden layers: the run folder's arrays stay within what its readers take


def default_output_activation(n_classes: Optional[int]) -> str:
    """sigmoid for two classes, softmax for more, identity for regression."""
    if n_classes is None:
        return "identity"
    return "sigmoid" if n_classes == 2 else "softmax"


def output_units(n_classes: Optional[int], n_targets: int, output_activation: str) -> int:
    if n_classes is None:
        return n_targets
    return 1 if n_classes == 2 and output_activation != "softmax" else n_classes


class _Model(Section):
    init: Initializer = Field(default_factory=Zeros, description="initializer of the weight matrices")
    bias_init: Initializer = Field(default_factory=Zeros, description="initializer of the biases")

    def output_activation_for(self, n_classes: Optional[int]) -> str:
        raise NotImplementedError

    def layer_specs(self, n_in: int, n_out: int, output_activation: str) -> list[tuple[int, int, str, bool]]:
        """(n_in, n_out, activation, has_bias) for each layer."""
        raise NotImplementedError

    def build(self, n_in: int, n_classes: Optional[int], n_targets: int, loss: str, rng, dtype) -> Network:
        """A freshly initialised network for inputs (n, n_in); `loss` 'auto' picks the usual pairing."""
        out_act = self.output_activation_for(n_classes)
        n_out = output_units(n_classes, n_targets, out_act)
        if loss == "auto":
            loss = DEFAULT_LOSS.get(out_act, "mse")
        if loss == "cross_entropy" and (out_act != "softmax" or n_out == 1):
            raise ValueError("cross_entropy needs a softmax output over the classes; with one sigmoid unit use bce")
        if loss == "bce" and out_act != "sigmoid":
            raise ValueError(
                f"bce needs probabilities from a sigmoid output, not {out_act!r}; use mse or sse for other outputs"
            )
        if (out_act == "step") != (loss == "perceptron"):
            raise ValueError(
                "a step output has no gradient: it trains only with the perceptron's rosenblatt rule, which sets its own loss (leave training.loss at auto, or perceptron)"
            )
        slope = getattr(self, "negative_slope", LEAKY_SLOPE)  # logreg has no leaky_relu to set
        layers = []
        for fan_in, fan_out, act, has_bias in self.layer_specs(n_in, n_out, out_act):
            W = initialize(self.init, rng, (fan_in, fan_out), dtype)
            b = initialize(self.bias_init, rng, (fan_out,), dtype) if has_bias else None
            layers.append(Dense(W, b, act, slope))
        if fast.enabled():
            from dltrain.nn.fast.network import FastNetwork

            return FastNetwork(layers, loss)
        return Network(layers, loss)


class LogReg(_Model):
    """Logistic regression: one dense layer, sigmoid for two classes, softmax for more."""

    type: Literal["logreg"] = "logreg"

    def output_activation_for(self, n_classes):
        if n_classes is None:
            raise ValueError("logreg is a classifier: the dataset has no classes")
        return default_output_activation(n_classes)

    def layer_specs(self, n_in, n_out, output_activation):
        return [(n_in, n_out, output_activation, True)]


class Perceptron(_Model):
    """One unit. `rosenblatt`: step output, the classic error-driven update
    w += lr (y - y_hat) x. `gradient`: any activation trained by gradient descent on a loss."""

    type: Literal["perceptron"] = "perceptron"
    rule: Literal["rosenblatt", "gradient"] = Field(
        "rosenblatt",
        description="how the weights are updated. rosenblatt: the step output predicts 1 at z >= 0 and each "
        "mistake updates w += lr (y - y_hat) x, so from zero weights on the OR gate it makes a different sequence "
        "of mistakes than scikit-learn's Perceptron, which updates whenever y z <= 0 (y in -1, +1), z = 0 included. "
        "gradient: gradient descent on training.loss",
    )
    activation: Optional[ActivationName] = Field(
        None, description="output activation; default step (rosenblatt) or sigmoid (gradient)"
    )
    bias: bool = Field(True, description="learn a bias; turn off when the data carries a constant-1 input")
    negative_slope: NegativeSlope = LEAKY_SLOPE

    @model_validator(mode="after")
    def _step_only_for_rosenblatt(self):
        if self.rule == "rosenblatt" and self.activation not in (None, "step"):
            raise ValueError(f"rule 'rosenblatt' trains a step output, not {self.activation!r}; use rule: gradient")
        return self

    def output_activation_for(self, n_classes):
        if self.rule == "rosenblatt":
            if n_classes != 2:
                raise ValueError("the Rosenblatt perceptron separates two classes")
            return "step"
        return self.activation or "sigmoid"

    def layer_specs(self, n_in, n_out, output_activation):
        return [(n_in, n_out, output_activation, self.bias)]


class Mlp(_Model):
    """Multi-layer perceptron: dense hidden layers with one activation, then the output layer."""

    type: Literal["mlp"] = "mlp"
    hidden: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: [32], min_length=1, max_length=MAX_LAYERS, description="units per hidden layer"
    )
    activation: ActivationName = Field("relu", description="activation of the hidden layers")
    output_activation: Optional[ActivationName] = Field(
        None, description="default sigmoid (2 classes), softmax (more), identity (regression)"
    )
    init: Initializer = Field(default_factory=He, description="initializer of the weight matrices")
    negative_slope: NegativeSlope = LEAKY_SLOPE

    @model_validator(mode="after")
    def _trainable_hidden(self):
        if self.activation in ("step", "softmax"):
            raise ValueError(
                f"hidden activation {self.activation!r} cannot be trained by backpropagation; use relu, tanh, sigmoid, leaky_relu or identity"
            )
        return self

    def output_activation_for(self, n_classes):
        return self.output_activation or default_output_activation(n_classes)

    def layer_specs(self, n_in, n_out, output_activation):
        sizes = [n_in, *self.hidden, n_out]
        acts = [self.activation] * len(self.hidden) + [output_activation]
        return [(a, b, act, True) for a, b, act in zip(sizes, sizes[1:], acts)]


MODELS = {cls.model_fields["type"].default: cls for cls in (LogReg, Perceptron, Mlp)}

# The config accepts exactly the models of this table, chosen by their `type`.
if TYPE_CHECKING:
    Model = _Model
else:
    Model = Annotated[Union[tuple(MODELS.values())], Field(discriminator="type")]
