"""Training and running models, one concern per module:

- ``config``: ``TrainConfig`` (the recipe), the losses, the learning-rate schedule, the device;
- ``checkpoint``: atomic checkpoints, safe loading, the resume state (``RunState``) with one save/load pair;
- ``objectives``: where each step's batch comes from and what it minimises, per model family;
- ``loop``: ``train``, the loop itself (steps, cap, validation, checkpoints, resume);
- ``inference``: ``predict_uint8`` (uint8 frames in and out, tiles), ``estimate_sigmas``, ``validate``.

``deblur_utils.train`` re-exports these names, so ``from deblur_utils.train import train`` keeps working.
"""
from .checkpoint import (CHECKPOINT_FORMAT, RunState, load_checkpoint, load_resumable, model_from_checkpoint,
                         previous_path, save_checkpoint, save_rotating)
from .config import LOSSES, TrainConfig, charbonnier, lr_factor, pick_device, psnr_loss
from .inference import estimate_sigmas, predict_uint8, to_tensor, to_uint8, validate, validation_seconds
from .loop import train

__all__ = ["CHECKPOINT_FORMAT", "LOSSES", "RunState", "TrainConfig", "charbonnier", "estimate_sigmas",
           "load_checkpoint", "load_resumable", "lr_factor", "model_from_checkpoint", "pick_device", "predict_uint8",
           "previous_path", "psnr_loss", "save_checkpoint", "save_rotating", "to_tensor", "to_uint8", "train",
           "validate", "validation_seconds"]
