"""From an image file to the pixels a dataset's loader would have produced.

Each image dataset says how in its config class (`DatasetConfig.image_to_sample`), so
`dltrain predict` converts a user's PNG or JPG exactly like the training data.
"""

from __future__ import annotations

import numpy as np


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
