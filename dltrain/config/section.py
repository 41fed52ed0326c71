"""Base class of every config section: strict, typed, unknown keys rejected."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A block of the YAML config. Unknown keys fail; values are checked on assignment too.

    Strict: `epochs: true` or `epochs: 2.5` is an error, not 1 or 2 (an int is still a
    valid float). Numbers must be finite: no `.inf` or `.nan` reaches the engine.
    """

    # defer_build: a section's validator is built when first used, not when its class is defined.
    # Validating a Config builds the whole tree once; built eagerly, each of the forty-odd classes
    # also built its own at import (20 ms), most of them never used on their own.
    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        validate_default=True,
        strict=True,
        allow_inf_nan=False,
        defer_build=True,
    )
