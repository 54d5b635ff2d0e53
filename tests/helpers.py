"""Small test images, raw-data folders and training configurations shared by the tests."""
import numpy as np

from deblur_utils.data.imageio import write_png_atomic
from deblur_utils.training.config import TrainConfig


def natural_like(rng, h=64, w=96):
    """A smooth random image with edges: blurring changes it measurably."""
    base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float64)
    img = np.kron(base, np.ones((8, 8, 1)))[:h, :w]
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_raw(root, rng, seqs=("s1", "s2", "s3"), frames=2, size=(300, 500)):
    """A REDS-style raw folder: ``root/<seq>/<frame>.png``."""
    for s in seqs:
        for f in range(frames):
            write_png_atomic(root / s / f"{f:03d}.png", natural_like(rng, *size))
    return root


def tiny(**kw):
    """A training configuration of a few seconds on the CPU."""
    base = dict(model="resnet", model_kwargs={"width": 8, "blocks": 1}, epochs=3, batch_size=4, lr=2e-3,
                crop_size=32, epoch_samples=32, val_max_frames=1, device="cpu", loss="mse")
    return TrainConfig(**{**base, **kw})


def blind_tiny(**kw):
    """``tiny`` for the blind Wiener network on the continuum of blurs."""
    return tiny(**{"model": "blind_wiener", "model_kwargs": {"width": 8, "blocks": 1, "est_tile": 64},
                   "blur_sampling": "continuum", "estimator_batch": 2, "loss": "charbonnier", **kw})
