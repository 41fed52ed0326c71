"""Base class of every config section: strict, typed, unknown keys rejected."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A block of the YAML config. Unknown keys fail; values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)
