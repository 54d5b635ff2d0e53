"""Small test images."""
import numpy as np


def natural_like(rng, h=64, w=96):
    """A smooth random image with edges: blurring changes it measurably."""
    base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float64)
    img = np.kron(base, np.ones((8, 8, 1)))[:h, :w]
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
