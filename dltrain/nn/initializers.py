"""Weight initializers. Each is a config section that draws an array:

    Normal(std=0.1).sample(rng, (n_in, n_out), np.float32) -> (n_in, n_out) array

Values are drawn in float64 and then cast, so a seed gives the same starting point
in float32 and float64. `fan_in`/`fan_out` are the first and last axis of the shape.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal, Union

import numpy as np
from pydantic import Field, model_validator

from dltrain.config.section import Section


class Constant(Section):
    """Every entry equal to `value` (the logistic-regression tutorial uses 0.01)."""

    name: Literal["constant"] = "constant"
    value: float = Field(0.01, description="the value of every entry")

    def draw(self, rng, shape):
        return np.full(shape, self.value)


class Zeros(Section):
    """All zeros (the usual choice for biases)."""

    name: Literal["zeros"] = "zeros"

    def draw(self, rng, shape):
        return np.zeros(shape)


class Normal(Section):
    """Gaussian N(mean, std^2)."""

    name: Literal["normal"] = "normal"
    mean: float = Field(0.0, description="mean")
    std: float = Field(1.0, gt=0, description="standard deviation")

    def draw(self, rng, shape):
        return rng.normal(self.mean, self.std, shape)


class Uniform(Section):
    """Uniform on [low, high)."""

    name: Literal["uniform"] = "uniform"
    low: float = Field(0.0, description="lower bound (included)")
    high: float = Field(1.0, description="upper bound (excluded)")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if not math.isfinite(self.high - self.low):  # NumPy draws low + (high - low) * u
            raise ValueError(f"the range from low ({self.low}) to high ({self.high}) is too wide for a float")
        return self

    def draw(self, rng, shape):
        return rng.uniform(self.low, self.high, shape)


class Xavier(Section):
    """Glorot & Bengio (2010) uniform: U(-r, r) with r = sqrt(6 / (fan_in + fan_out)).

    The same as Keras's GlorotUniform and PyTorch's xavier_uniform_ (gain 1).
    """

    name: Literal["xavier"] = "xavier"

    def draw(self, rng, shape):
        limit = np.sqrt(6.0 / (shape[0] + shape[-1]))
        return rng.uniform(-limit, limit, shape)


class He(Section):
    """He et al. (2015) normal: N(0, 2 / fan_in), untruncated, suited to ReLU layers.

    The same as PyTorch's kaiming_normal_ (mode fan_in, ReLU gain); not Keras's HeNormal,
    which draws from a normal truncated at two standard deviations.
    """

    name: Literal["he"] = "he"

    def draw(self, rng, shape):
        return rng.normal(0.0, np.sqrt(2.0 / shape[0]), shape)


INITIALIZERS = {cls.model_fields["name"].default: cls for cls in (Constant, Zeros, Normal, Uniform, Xavier, He)}

# The config accepts exactly the initializers of this table, chosen by their `name`.
if TYPE_CHECKING:  # a union built from the table at run time; type checkers see the base
    Initializer = Section
else:
    Initializer = Annotated[Union[tuple(INITIALIZERS.values())], Field(discriminator="name")]


def initialize(init, rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Draw an array of `shape` with initializer `init`, cast to `dtype`."""
    return np.ascontiguousarray(init.draw(rng, shape), dtype=dtype)
