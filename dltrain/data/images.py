"""From an image file to the pixels a dataset's loader would have produced.

Each image dataset says how in its config class (`DatasetConfig.image_to_sample`), so
`dltrain predict` converts a user's PNG or JPG exactly like the training data.

    with open_image(file, "three.png") as image: ...   # size checked from the header, nothing decoded yet

Every image dltrain decodes (predict's inputs, the sign-digit photos) is opened through
`open_image`: a PNG of a hundred bytes can declare 15000x15000 pixels, gigabytes once
decoded, so its size is checked against MAX_PIXELS before a single pixel is.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import numpy as np

from dltrain.errors import DataError

MAX_IMAGE_BYTES = 64 << 20  # the largest image file read (a photo takes a few MB)
# The most pixels an image may have: a 50-megapixel photo (about 200 MB as float32 gray levels).
# Below Pillow's own bound (Image.MAX_IMAGE_PIXELS, 89.5 million), so Pillow never warns first.
MAX_PIXELS = 50_000_000


@contextmanager
def open_image(file: IO[bytes], name: str) -> Iterator[Any]:
    """The PIL image in the binary `file`: its header read and its size checked, no pixel decoded.

    Raises DataError naming `name` when the image has more than MAX_PIXELS pixels; a file
    that is no image raises PIL's UnidentifiedImageError (an OSError), as Image.open does.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # past MAX_PIXELS too: refused below
        try:
            image = Image.open(file)
        except Image.DecompressionBombError:  # past twice its bound, Pillow does not say the size
            raise DataError(_too_large(name, "more pixels than Pillow's own bound")) from None
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise DataError(_too_large(name, f"{width}x{height} pixels"))
        yield image


def _too_large(name: str, size: str) -> str:
    return f"{name} is too large an image ({size}): dltrain decodes at most {MAX_PIXELS:,} pixels"


def grayscale_pixels(image, shape: tuple[int, int], invert: bool = False) -> np.ndarray:
    """A PIL image -> (height, width) float64 gray levels 0..255, resized to `shape`.

    Shrinking averages the pixels each output pixel covers (box filter), the way
    scikit-learn's 8x8 digits were made from 32x32 bitmaps; growing is bilinear.
    `invert` turns dark ink on a light background into light ink on dark.
    """
    from PIL import Image, ImageOps

    gray = image.convert("L")
    if invert:
        gray = ImageOps.invert(gray)
    height, width = shape
    shrink = gray.width >= width and gray.height >= height
    resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    if gray.size != (width, height):
        gray = gray.resize((width, height), resample)
    return np.asarray(gray, dtype=np.float64)
