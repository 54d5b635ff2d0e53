"""Training, as the notebooks, the command line and the benchmarks import it: the names of
``deblur_utils.training`` (the loop, the recipe, checkpoints, inference), re-exported here."""
from .models import build_model, count_parameters  # noqa: F401  (callers found them here)
from .training import (CHECKPOINT_FORMAT, LOSSES, RunState, TrainConfig, charbonnier, estimate_sigmas,  # noqa: F401
                       load_checkpoint, load_resumable, lr_factor, model_from_checkpoint, pick_device, predict_uint8,
                       previous_path, psnr_loss, save_checkpoint, save_rotating, to_tensor, to_uint8, train, validate,
                       validation_seconds)

__all__ = ["CHECKPOINT_FORMAT", "LOSSES", "RunState", "TrainConfig", "build_model", "charbonnier", "count_parameters",
           "estimate_sigmas", "load_checkpoint", "load_resumable", "lr_factor", "model_from_checkpoint", "pick_device",
           "predict_uint8", "previous_path", "psnr_loss", "save_checkpoint", "save_rotating", "to_tensor", "to_uint8",
           "train", "validate", "validation_seconds"]
