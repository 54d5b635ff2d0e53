"""Every method the report grades, behind one interface: a name, a kind, a description, and
``deblur(frames)`` from a ``FrameSet`` to uint8 frames.

Kinds (a tag; ``description`` says it in words):

- ``identity``: doing nothing, the blurred input itself: the bar every method must clear;
- ``classical``: a classical deconvolution told the kernel (the true one, or the nearest preset's),
  its knob chosen on the validation frames of that blur;
- ``learned``: a trained checkpoint (one for every preset, or one per preset);
- ``given_sigma``: a blind Wiener network's checkpoint given one sigma per set in place of each
  frame's own estimate (the true sigma, or the median of the set's own estimates).

Adding a method is one new class with these members; the grading loop, the tables and metrics.json
take it as it is. ``deblur`` returns the frames and what it did on that set (``notes``: the knob it
chose, the sigma it was given, the checkpoint it used), which the loop keeps with the row.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data.blur import get_preset
from ..networks.blind import GivenSigma, one_sigma
from ..runtime.parallel import map_frames
from ..training.checkpoint import model_from_checkpoint
from ..training.inference import estimate_sigmas, predict_uint8
from .classical import CLASSICAL, beyond_grid, tune_classical
from .frame_sets import FrameSet, nearest_preset

KINDS = ("identity", "classical", "learned", "given_sigma")
GIVEN = {  # how a given_sigma row chooses its one sigma per set
    "true_sigma": "given each blur's true sigma (its estimate bypassed): what the estimate costs (below "
                  "gate_lo + 2 gate_width, a known blur's rules too: its own Wiener inverse, not preset a's)",
    "one_blur": "one blur per set: every frame given the median of the set's own per-frame estimates "
                "(a set blurred with one kernel, as each preset's and the course's grading set), the "
                "refiner's views averaged (one_blur_views)",
}


class NotGraded(Exception):
    """A method that cannot deblur these frames (the message says why); the loop records it, no row."""


class Models:
    """Checkpoints loaded once each onto one device, shared by every method that grades them."""

    def __init__(self, device):
        self.device, self._loaded = device, {}

    def load(self, path) -> tuple:
        """(model, checkpoint metadata: everything but the weights and optimiser state)."""
        key = str(path)
        if key not in self._loaded:
            model, ckpt = model_from_checkpoint(path, self.device)
            meta = {k: v for k, v in ckpt.items() if k not in ("weights", "raw_weights", "optimizer", "ema_state",
                                                                "scaler", "rng_state", "cuda_rng_state",
                                                                "rank_states")}
            self._loaded[key] = (model, meta)
        return self._loaded[key]


class Method:
    """The interface: ``name``, ``kind``, ``description``, ``covers(frames)`` (whether it is graded on
    them), ``deblur(frames) -> (uint8 frames, notes)``, and ``info()`` for metrics.json."""

    name: str
    kind: str
    description: str

    def covers(self, frames: FrameSet) -> bool:
        return True

    def missing(self) -> list[str]:
        """Files the method needs that are gone (a recorded checkpoint deleted since): none by default."""
        return []

    def deblur(self, frames: FrameSet) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    def info(self) -> dict:
        return {"kind": self.kind, "description": self.description}


class Identity(Method):
    """Doing nothing: the blurred input, graded as it is."""

    kind, description = "identity", "no learning: the blurred input itself"

    def __init__(self, name: str = "identity"):
        self.name = name

    def deblur(self, frames):
        return np.asarray(frames.blurred), {}


class Classical(Method):
    """``algorithm`` (``wiener`` or ``richardson_lucy``) told a kernel: the true one (``told="true"``) or
    the nearest preset's (``told="nearest_preset"``, what a model of the three presets amounts to).
    Its knob (balance, iterations) is chosen on the frame set's validation frames blurred with the told
    kernel, from ``grid``, once per kernel."""

    kind = "classical"

    def __init__(self, name: str, algorithm: str, grid, told: str = "true"):
        if algorithm not in CLASSICAL:
            raise ValueError(f"unknown classical method {algorithm!r}: choose one of {list(CLASSICAL)}")
        if told not in ("true", "nearest_preset"):
            raise ValueError(f"told must be 'true' or 'nearest_preset', got {told!r}")
        self.name, self.algorithm, self.grid, self.told = name, algorithm, list(grid), told
        self.knob = CLASSICAL[algorithm][1]
        self.description = ("classical, non-blind (told the true kernel), reflection-padded" if told == "true" else
                            "classical, told the nearest preset's kernel, reflection-padded")
        self._tuned: dict = {}

    def kernel_for(self, frames: FrameSet):
        return frames.kernel if self.told == "true" else nearest_preset(frames.kernel.sigma)

    def tuned(self, frames: FrameSet) -> tuple:
        """(the knob's best value, whether it lies at the grid's edge) for the kernel it is told here."""
        kernel = self.kernel_for(frames)
        key = (kernel.kernel_size, kernel.sigma)
        if key not in self._tuned:
            if frames.val is None:
                raise NotGraded(f"{self.name} tunes its {self.knob} on validation frames; {frames.name} has none")
            best, scores = tune_classical(self.algorithm, frames.val.blurred(kernel), frames.val.sharp, kernel,
                                          self.grid)
            edge = beyond_grid(self.grid, best, scores)
            self._tuned[key] = (best, edge, len(frames.val.sharp))
        return self._tuned[key]

    def deblur(self, frames):
        t = time.monotonic()
        fn = CLASSICAL[self.algorithm][0]
        kernel = self.kernel_for(frames)
        best, edge, n_val = self.tuned(frames)
        out = np.stack(map_frames(lambda b: fn(b, kernel, best), frames.blurred))
        notes = {self.knob: best, "tuned_on": f"{n_val} validation frames", "at_grid_edge": edge,
                 "seconds_per_frame": (time.monotonic() - t) / len(frames)}
        if self.told != "true":
            notes["told"] = kernel.name
        return out, notes


class Learned(Method):
    """A trained model: one checkpoint for every preset, or one per preset (``checkpoints``: preset ->
    path, as runs/methods.json records them).

    Graded on a blur it has a checkpoint for; a model of every preset (``universal``) on any blur; a
    model per preset also on a set that allows a stand-in (``FrameSet.stand_in``), with the nearest
    preset's checkpoint."""

    kind = "learned"

    def __init__(self, name: str, checkpoints: dict, models: Models, presets):
        self.name, self.models = name, models
        self.checkpoints = {p: Path(c) for p, c in checkpoints.items()}
        self.universal = (len(set(self.checkpoints.values())) == 1
                          and set(self.checkpoints) == {get_preset(p).name for p in presets})
        self.description = ("a trained model, one checkpoint for every preset" if len(set(self.checkpoints.values())) == 1
                            else "trained models, one checkpoint per preset")

    def missing(self) -> list[str]:
        """The recorded checkpoints that are no longer on disk (deleted since training)."""
        return sorted({str(c) for c in self.checkpoints.values() if not c.exists()})

    def checkpoint_for(self, frames: FrameSet) -> tuple[Path, str | None] | None:
        """(checkpoint, the preset it stands in with or None) for these frames; None when not graded."""
        if frames.blur in self.checkpoints:
            return self.checkpoints[frames.blur], None
        if self.universal:
            return next(iter(self.checkpoints.values())), None
        if frames.stand_in:
            near = nearest_preset(frames.kernel.sigma).name
            if near in self.checkpoints:
                return self.checkpoints[near], near
        return None

    def covers(self, frames):
        found = self.checkpoint_for(frames)
        return found is not None and found[0].exists()

    def deblur(self, frames):
        path, stand_in = self.checkpoint_for(frames)
        model, meta = self.models.load(path)
        out = predict_uint8(model, np.asarray(frames.blurred), self.models.device)
        notes = {"checkpoint": str(path), "train_minutes": round(meta["minutes"], 2), "epochs_done": meta["epoch"],
                 "epochs_asked": meta.get("config", {}).get("epochs"), "steps": meta["step"]}
        if stand_in:
            notes["stand_in"] = stand_in
        return out, notes

    def info(self) -> dict:
        out = super().info()
        found = [c for c in self.checkpoints.values() if c.exists()]
        if found:  # a model per preset: the last preset's (they differ in the sigma they were told)
            _, meta = self.models.load(found[-1])
            out.update(model=meta["model"], model_kwargs=meta["model_kwargs"], parameters=meta["parameters"])
        if self.missing():
            out["missing"] = self.missing()
        return out


class Network(Method):
    """A network already in memory, graded as it is: a checkpoint's model with one of its inference
    settings changed (views, tile quantile, gate), or one a benchmark just trained. With
    ``estimates`` a blind Wiener network's notes carry each frame's own estimate of sigma."""

    kind = "learned"

    def __init__(self, name: str, model, device, description: str = "a network in memory", estimates: bool = False):
        self.name, self.model, self.device, self.description = name, model, device, description
        self.estimates = estimates

    def deblur(self, frames):
        blurred = np.asarray(frames.blurred)
        notes = {}
        if self.estimates and getattr(self.model, "blind", False):
            notes["estimates"] = [float(v) for v in estimate_sigmas(self.model, blurred, self.device)]
        return predict_uint8(self.model, blurred, self.device), notes


class GivenSigmaRow(Method):
    """``of``'s checkpoint (a blind Wiener network) given one sigma per set in place of each frame's
    own estimate, ``how``: ``true_sigma`` (the blur's true sigma: the gap to the blind row is the
    estimate's cost) or ``one_blur`` (the median of the set's own per-frame estimates, each read on
    the tiles' ``set_quantile``: a set that shares one blur, as each preset's and the course's
    grading set); the refiner's ``views`` averaged."""

    kind = "given_sigma"

    def __init__(self, name: str, of: Learned, how: str, views: int = 1):
        if how not in GIVEN:
            raise ValueError(f"how must be one of {sorted(GIVEN)}, got {how!r}")
        self.name, self.of, self.how, self.views = name, of, how, int(views)
        self.description = f"{of.name}'s checkpoint {GIVEN[how]}"

    def covers(self, frames):
        return self.of.covers(frames)

    def sigma(self, model, frames: FrameSet) -> float:
        """The one sigma this row gives every frame of ``frames``."""
        if self.how == "true_sigma":
            return float(frames.kernel.sigma)
        return one_sigma(estimate_sigmas(model, np.asarray(frames.blurred), self.of.models.device,
                                         quantile=model.set_quantile))

    def deblur(self, frames):
        path, _ = self.of.checkpoint_for(frames)
        model, _ = self.of.models.load(path)
        if not getattr(model, "blind", False):  # trained told the blur: no estimate to replace
            raise NotGraded(f"{path} is not a blind Wiener network")
        sigma = self.sigma(model, frames)
        given = GivenSigma(model, sigma, self.views, known=self.how == "true_sigma")
        out = predict_uint8(given, np.asarray(frames.blurred), self.of.models.device)
        return out, {"sigma": sigma}

    def info(self) -> dict:
        found = [c for c in self.of.checkpoints.values() if c.exists()]
        return {**super().info(), "given": self.how, "given_sigma_of": self.of.name, "views": self.views,
                **({"from_checkpoint": str(found[0])} if found else {})}

