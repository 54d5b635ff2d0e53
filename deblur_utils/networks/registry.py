"""Every network by name: ``build_model(name, **kwargs)`` builds one so that a checkpoint can record how
(``model``, ``model_kwargs``), and refuses one over the course's 15M-parameter limit.

>>> count_parameters(build_model("srcnn", width=2048))   # the report's widest SRCNN
4849667
"""
from __future__ import annotations

from torch import nn

from .blind import BlindWienerNet
from .cnn import SRCNN, DeblurResNet, DeblurUNet, ResidualSRCNN

MAX_PARAMETERS = 15_000_000  # the course's limit

MODELS = {"srcnn": SRCNN, "residual_srcnn": ResidualSRCNN, "resnet": DeblurResNet, "unet": DeblurUNet,
          "blind_wiener": BlindWienerNet}


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a model by registry name; refuses one over the course's 15M-parameter limit."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    for key, value in kwargs.items():
        if key in ("width", "blocks") and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"model {name!r}: {key} must be a positive integer, got {value!r}")
    try:
        model = MODELS[name](**kwargs)
    except TypeError as err:
        raise ValueError(f"model {name!r} does not take {kwargs}: {err}") from None
    n = count_parameters(model)
    if n > MAX_PARAMETERS:
        raise ValueError(f"model {name!r} with {kwargs} has {n:,} parameters, over the course's "
                         f"{MAX_PARAMETERS:,}: choose a smaller width")
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
