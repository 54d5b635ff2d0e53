"""The paired dataset: each sharp frame of Set A with each of its blurred versions of Set B."""
from __future__ import annotations

import numpy as np
import torch

from .blur import get_preset


class PairedFrames(torch.utils.data.Dataset):
    """Each sharp frame paired with each of its blurred versions, as the original loader did.

    Item ``i`` is frame ``i // P`` under preset ``i % P``: ``(blurred, sharp, preset_index)``,
    uint8 tensors (3, H, W), RGB: a quarter of float32's bytes through collation, pinned memory and
    the host-to-device copy; the training device turns them into [0, 1] floats
    (``accel.Speed.to_device``). The blurred input is the uint8 Set B
    frame, so the model sees exactly what it is graded on. With ``crop_size`` each
    item is a random crop with random flips (training); without, the whole frame.
    An item may be asked for as ``(i, seed)`` (what ``EpochOrder`` yields): the crop and
    flips then come from that seed alone, the same in any worker process and after a resume.
    """

    def __init__(self, arrays: dict, presets=("a", "b", "c"), crop_size=None, augment=False):
        self.sharp = arrays["sharp"]
        self.names = [get_preset(p).name for p in presets]
        self.blurred = [arrays[n] for n in self.names]
        n, h, w = self.sharp.shape[:3]
        if crop_size is not None and (crop_size > h or crop_size > w):
            raise ValueError(f"crop_size {crop_size} is larger than the {h}x{w} frames: use at most {min(h, w)}")
        self.crop_size, self.augment = crop_size, augment

    def __len__(self):
        return len(self.sharp) * len(self.names)

    def __getitem__(self, i):
        i, seed = i if isinstance(i, tuple) else (i, None)
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        f, p = divmod(int(i), len(self.names))
        blurred, sharp = self.blurred[p][f], self.sharp[f]
        if self.crop_size:
            h, w = sharp.shape[:2]
            y = int(torch.randint(0, h - self.crop_size + 1, (), generator=gen))
            x = int(torch.randint(0, w - self.crop_size + 1, (), generator=gen))
            blurred = blurred[y:y + self.crop_size, x:x + self.crop_size]
            sharp = sharp[y:y + self.crop_size, x:x + self.crop_size]
        pair = [torch.from_numpy(np.array(a)).permute(2, 0, 1) for a in (blurred, sharp)]  # own, writable copies
        if self.augment:
            if torch.rand((), generator=gen) < 0.5:
                pair = [t.flip(-1) for t in pair]
            if torch.rand((), generator=gen) < 0.5:
                pair = [t.flip(-2) for t in pair]
        return pair[0], pair[1], p
