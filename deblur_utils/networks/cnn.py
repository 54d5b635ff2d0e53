"""The convolutional networks: the report's SRCNN exactly, a residual SRCNN, a compact residual
ResNet and U-Net. Each maps a float RGB batch (N, 3, H, W) in [0, 1] to the same shape.

>>> sum(p.numel() for p in SRCNN(width=1024).parameters())   # the report's 1024-wide SRCNN
1376259
"""
from __future__ import annotations

from torch import nn

from .layers import ResBlock


class SRCNN(nn.Module):
    """The original report's network, faithfully: conv 9x9 (3->W), 1x1 (W->W), 5x5 (W->3),
    padding 2 on each and ReLU after every layer, the last included.

    Padding 2 on a 9x9 conv trims 2 pixels per side, the 1x1 conv's padding adds them
    back as zeros, so the output has the input's size but its 2-pixel border is
    computed from zeros: one source of the report's edge artifacts. The final ReLU
    lets a unit die and stick at 0 (black), another.
    Parameters: W^2 + 320 W + 3 (4,849,667 at W=2048; 1,376,259 at W=1024).
    """

    def __init__(self, width: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 9, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 1, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(width, 3, 5, padding=2), nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.body(x)


class ResidualSRCNN(nn.Module):
    """SRCNN's three layers with 'same' padding (4, 0, 2), no ReLU on the output and a global
    skip: it predicts the correction to add to the blurred input, so zero weights mean 'do nothing'."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 9, padding=4), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 1), nn.ReLU(inplace=True),
            nn.Conv2d(width, 3, 5, padding=2),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x):
        return x + self.body(x)


class DeblurResNet(nn.Module):
    """A compact restoration net: a 3x3 head, ``blocks`` residual blocks at ``width`` channels
    (EDSR-style, no batch norm), a 3x3 tail and a global skip (the tail starts at zero, so an
    untrained net returns its input). Receptive field: 4 * blocks + 5 pixels, enough for 11x11 blurs."""

    def __init__(self, width: int = 32, blocks: int = 4):
        super().__init__()
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.blocks = nn.Sequential(*[ResBlock(width) for _ in range(blocks)])
        self.tail = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x):
        return x + self.tail(self.blocks(self.head(x)))


class DeblurUNet(nn.Module):
    """A small residual U-Net: residual blocks at full, 1/2 and 1/4 resolution (``width``, 2x, 4x
    channels), strided-conv down, transposed-conv up, additive skips, a zero-initialised tail and a
    global skip. Coarse levels see far (receptive field > 60 pixels) at a quarter or a sixteenth of
    the cost per block. Frames of any size are reflection-padded to a multiple of 4 and cropped back."""

    def __init__(self, width: int = 24, blocks: int = 2):
        super().__init__()
        w = width
        self.head = nn.Conv2d(3, w, 3, padding=1)
        self.enc0 = ResBlock(w)
        self.down1 = nn.Conv2d(w, 2 * w, 2, stride=2)
        self.enc1 = nn.Sequential(*[ResBlock(2 * w) for _ in range(blocks)])
        self.down2 = nn.Conv2d(2 * w, 4 * w, 2, stride=2)
        self.mid = nn.Sequential(*[ResBlock(4 * w) for _ in range(blocks)])
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec1 = ResBlock(2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec0 = ResBlock(w)
        self.tail = nn.Conv2d(w, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x):
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        xp = nn.functional.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        f0 = self.enc0(self.head(xp))
        f1 = self.enc1(self.down1(f0))
        f2 = self.mid(self.down2(f1))
        d1 = self.dec1(self.up2(f2) + f1)
        d0 = self.dec0(self.up1(d1) + f0)
        return x + self.tail(d0)[..., :h, :w]
