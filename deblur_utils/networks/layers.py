"""Building blocks shared by the networks of ``cnn`` and ``blind``."""
from __future__ import annotations

from torch import nn


class ResBlock(nn.Module):
    """conv 3x3 -> ReLU -> conv 3x3, added to its input (EDSR-style, no batch norm)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return x + self.conv2(self.act(self.conv1(x)))
