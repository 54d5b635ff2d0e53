"""The order a run sees its data in: a pure function of (seed, epoch, position), so a run killed
mid-epoch and resumed sees the same batches; under torchrun each rank takes its own shard of it."""
from __future__ import annotations

import torch


class EpochOrder(torch.utils.data.Sampler):
    """One epoch's items as ``(index, item_seed)``: a pure function of (seed, epoch), resumable mid-way.

    ``n_draws`` items of ``range(n_items)``: a permutation, or draws with ``replacement`` (random
    patches, ``epoch_samples``). Each item carries its own seed for its crop and flips, so the data a
    step sees depends on nothing but (seed, epoch, position): not on the global RNG, the number of
    workers, or whether the run was interrupted. ``start`` skips the first items (those already done).
    """

    def __init__(self, n_items: int, n_draws: int, seed: int, epoch: int, replacement: bool = False, start: int = 0):
        if not replacement and n_draws > n_items:
            raise ValueError(f"an epoch without replacement has at most {n_items} items, asked for {n_draws}")
        self.n_items, self.n_draws, self.replacement = n_items, n_draws, replacement
        self.seed, self.epoch, self.start = seed, epoch, start

    def order(self) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
        idx = (torch.randint(self.n_items, (self.n_draws,), generator=gen) if self.replacement
               else torch.randperm(self.n_items, generator=gen)[:self.n_draws])
        return idx, torch.randint(2**62, (self.n_draws,), generator=gen)

    def __iter__(self):
        idx, seeds = self.order()
        for i in range(self.start, self.n_draws):
            yield int(idx[i]), int(seeds[i])

    def __len__(self):
        return max(0, self.n_draws - self.start)


class RankShard(torch.utils.data.Sampler):
    """Rank ``rank``'s share of one epoch: items rank, rank + N, rank + 2N, ... of ``order``'s
    (index, item_seed) sequence, from this rank's item ``start`` on (those before are done).

    ``order`` is the epoch's ``EpochOrder`` over all ranks' items (built with start=0), so the
    shards are disjoint, together cover the epoch, and change every epoch with the permutation.
    """

    def __init__(self, order: EpochOrder, rank: int, world_size: int, start: int = 0):
        if order.start:
            raise ValueError("RankShard shards the whole epoch: build its EpochOrder with start=0")
        if order.n_draws % world_size:
            raise ValueError(f"{order.n_draws} items do not split evenly over {world_size} ranks")
        self.order, self.rank, self.world_size, self.start = order, rank, world_size, start

    def __iter__(self):
        idx, seeds = self.order.order()
        for i in range(self.rank + self.start * self.world_size, self.order.n_draws, self.world_size):
            yield int(idx[i]), int(seeds[i])

    def __len__(self):
        return max(0, self.order.n_draws // self.world_size - self.start)
