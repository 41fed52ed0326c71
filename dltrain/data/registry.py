"""Every dataset by name. Add a dataset by writing its config class and listing it here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from dltrain.data.base import DatasetConfig
from dltrain.data.builtin import Digits
from dltrain.data.mnist import Mnist
from dltrain.data.sign_digits import SignDigits
from dltrain.data.synthetic import OrGate, SqrtMean
from dltrain.data.user import File, Inline

DATASET_CLASSES = (OrGate, SqrtMean, Digits, SignDigits, Mnist, Inline, File)

DATASETS = {cls.model_fields["name"].default: cls for cls in DATASET_CLASSES}

# The config accepts exactly the datasets of this table, chosen by their `name`.
if TYPE_CHECKING:  # a union built from the table at run time; type checkers see the base
    DatasetSpec = DatasetConfig
else:
    DatasetSpec = Annotated[Union[tuple(DATASETS.values())], Field(discriminator="name")]
