"""Where a step's batch comes from, and what the step minimises, per model family.

Batches: ``SetBatches`` reads (blurred, sharp) pairs of Set B from the uint8 cache in the epoch's
order (``EpochOrder``, sharded per rank under torchrun); ``ContinuumBatches`` blurs crops of Set A on
the device with a fresh sigma each (``sampling.ContinuumCrops``). Both give (blurred, sharp, sigma)
on the device, sigma being the true blur of each item.

Objectives: ``Plain`` is the loss of ``model(blurred)`` against sharp (every network, and the blind
Wiener network told its blur). ``Blind`` trains the blind Wiener network: its deconvolution on a
jittered true sigma, its sigma estimator on a batch of its own (larger crops) with its own loss.
``objective_for`` picks one from the model itself, so the loop has no branch per model family.
"""
from __future__ import annotations

import torch

from ..data.blur import get_preset
from ..data.sampling import ContinuumCrops
from .order import EpochOrder, RankShard


class SetBatches:
    """(blurred, sharp, sigma) batches of Set B pairs, in each epoch's order, resumable mid-epoch."""

    def __init__(self, dataset, cfg, ranks, device, speed, steps_per_epoch: int, per_step: int):
        self.dataset, self.cfg, self.ranks, self.device, self.speed = dataset, cfg, ranks, device, speed
        self.steps_per_epoch, self.per_step = steps_per_epoch, per_step
        self.sigmas = torch.tensor([get_preset(p).sigma for p in cfg.presets], device=device)
        self._it = None

    def start_epoch(self, epoch: int, start: int) -> None:
        cfg, ranks = self.cfg, self.ranks
        if not ranks.distributed:
            sampler = EpochOrder(len(self.dataset), self.steps_per_epoch * cfg.batch_size, cfg.seed, epoch,
                                 replacement=cfg.epoch_samples is not None, start=start * cfg.batch_size)
        else:  # this rank's shard of the epoch's order over all ranks
            sampler = RankShard(EpochOrder(len(self.dataset), self.steps_per_epoch * self.per_step,
                                                       cfg.seed, epoch, replacement=cfg.epoch_samples is not None),
                                            ranks.rank, ranks.world_size, start=start * cfg.batch_size)
        # its own generator: creating the loader's iterator must not draw from the global RNG
        self._it = iter(torch.utils.data.DataLoader(self.dataset, batch_size=cfg.batch_size, sampler=sampler,
                                                    num_workers=cfg.num_workers, drop_last=True,
                                                    pin_memory=self.device.type == "cuda",
                                                    generator=torch.Generator().manual_seed(cfg.seed)))

    def next(self, step: int):
        blurred, sharp, p_idx = next(self._it)
        return self.speed.to_device(blurred), self.speed.to_device(sharp), self.sigmas[p_idx.to(self.device)]


class ContinuumBatches:
    """(blurred, sharp, sigma) batches of Set A crops blurred on the device, a pure function of the step."""

    def __init__(self, crops: ContinuumCrops, batch_size: int, device, speed):
        self.crops, self.batch_size, self.device, self.speed = crops, batch_size, device, speed

    def start_epoch(self, epoch: int, start: int) -> None:
        pass

    def next(self, step: int):  # blurred on the device, exactly, outside autocast
        blurred, sharp, sigma = self.crops.batch(step, self.batch_size, self.device)
        return self.speed.to_device(blurred), self.speed.to_device(sharp), sigma


class Plain:
    """loss(net(blurred), sharp): every network, and a blind Wiener network told its blur."""

    find_unused_parameters = False
    has_estimator = False

    def __init__(self, loss_fn):
        self.loss_fn = loss_fn

    def __call__(self, net, blurred, sharp, sigma, step: int):
        loss = self.loss_fn(net(blurred).float(), sharp)
        return loss, loss, None


class Told(Plain):
    """The blind Wiener network with a fixed sigma: its estimator takes no part (DDP must not wait for it)."""

    find_unused_parameters = True


class Blind:
    """The blind Wiener network: the deconvolution on the true sigma jittered by exp(N(0, sigma_jitter)),
    so it learns to live with an estimate that is off, plus the estimator's own loss on its own batch."""

    find_unused_parameters = False
    has_estimator = True

    def __init__(self, model, loss_fn, cfg, est_crops: ContinuumCrops | None, crop: int, device):
        self.model, self.loss_fn, self.cfg, self.est_crops, self.crop, self.device = \
            model, loss_fn, cfg, est_crops, crop, device

    def __call__(self, net, blurred, sharp, sigma, step: int):
        jitter = torch.exp(torch.randn(len(sigma), device=self.device) * self.cfg.sigma_jitter)
        loss = self.loss_fn(net(blurred, sigma=sigma * jitter).float(), sharp)
        if self.est_crops is not None:
            eb, _, es = self.est_crops.batch(step, self.cfg.estimator_batch, self.device, crop=self.crop, stream=1,
                                             vary_content=self.cfg.estimator_vary_content)
        else:
            eb, es = blurred, sigma
        est_loss = self.model.estimator.loss(eb, es, self.cfg.estimator_tau)
        return loss, loss + est_loss, est_loss


def objective_for(model, loss_fn, cfg, train_arrays, seed: int, device):
    """The objective of ``model``'s family: ``Blind`` for a blind Wiener network (with the estimator's
    own crops on the continuum), ``Told`` for one told its blur, ``Plain`` for every other network."""
    if getattr(model, "estimator", None) is None:
        return Plain(loss_fn)
    if not model.blind:
        return Told(loss_fn)
    est_crops = None
    if cfg.blur_sampling == "continuum":
        est_crops = ContinuumCrops(train_arrays["sharp"], cfg.crop_size, cfg.sigma_range,
                                   cfg.preset_fraction if cfg.estimator_preset_fraction is None
                                   else cfg.estimator_preset_fraction, seed,
                                   sigma_law=cfg.estimator_sigma_law or cfg.sigma_law)
    crop = min(model.estimator.tile, *train_arrays["sharp"].shape[1:3])
    return Blind(model, loss_fn, cfg, est_crops, crop, device)
