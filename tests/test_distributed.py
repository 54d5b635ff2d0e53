"""Data-parallel training with torch.distributed on the CPU (Gloo), as torchrun runs it on GPUs (NCCL).

Two processes train a tiny model: every rank holds the same weights after every step, the loss
falls, rank 0 alone writes files, and a distributed run stopped after two epochs and resumed ends
with the very weights of one that ran straight through. The shards of an epoch are disjoint and
cover it. torchrun, as a notebook or the README starts it, trains in two processes.
"""
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_raw

from deblur_utils.data.sets import prepare_sets, save_splits
from deblur_utils.runtime.distributed import rank_seed
from deblur_utils.training.checkpoint import load_checkpoint
from deblur_utils.training.config import TrainConfig
from deblur_utils.training.loop import train
from deblur_utils.training.order import EpochOrder, RankShard

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    raw = make_raw(root / "raw", np.random.default_rng(7), seqs=("s1", "s2", "s3"), frames=2, size=(256, 448))
    processed = root / "proc"
    prepare_sets(raw, processed, progress=False)
    save_splits(processed, {"train": ["s1", "s2"], "val": ["s3"], "test": []})
    return processed


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("replacement", [False, True])
def test_rank_shards_are_disjoint_cover_the_epoch_and_change_each_epoch(world, replacement):
    n_draws = 12 * world
    for epoch in (0, 1):
        order = EpochOrder(40, n_draws, seed=5, epoch=epoch, replacement=replacement)
        shards = [list(RankShard(order, r, world)) for r in range(world)]
        assert [len(s) for s in shards] == [12] * world
        interleaved = [shards[i % world][i // world] for i in range(n_draws)]
        assert interleaved == list(order)  # rank r takes positions r, r + N, ...: together, the epoch
        assert list(RankShard(order, world - 1, world, start=5)) == shards[-1][5:]  # resumed mid-epoch
    e0, e1 = (list(RankShard(EpochOrder(40, n_draws, 5, e, replacement), 0, world)) for e in (0, 1))
    assert e0 != e1
    if world == 1:  # one process sees exactly the single-process order
        assert e0 == list(EpochOrder(40, n_draws, 5, 0, replacement))
    assert rank_seed(5, 0) == 5 and len({rank_seed(5, r) for r in range(world)}) == world


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"model": "resnet", "model_kwargs": {"width": 8, "blocks": 1}, "batch_size": 4,
                          "crop_size": 48, "epoch_samples": 48, "lr": 0.002, "device": "cpu", "val_max_frames": 1,
                          "seed": 3, "max_minutes": None, "checkpoint_every_steps": 4,
                          "checkpoint_every_minutes": None, **kw})


def _worker(rank, world, ports, data, root):
    """One rank, started like torchrun starts it (environment variables); train() joins the group."""
    import torch.distributed as dist

    import deblur_utils.training.loop as T

    torch.set_num_threads(1)
    writes = []

    def recording(fn):
        def wrapped(path, *args, **kw):
            writes.append(str(path))
            return fn(path, *args, **kw)
        return wrapped

    for name in ("save_rotating", "save_checkpoint", "write_json_atomic"):
        setattr(T, name, recording(getattr(T, name)))
    same = []

    def on_step(step, model):  # every rank's weights, flattened, gathered and compared
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        got = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(got, flat)
        same.append(all(torch.equal(got[0], g) for g in got))

    def interrupt(step, model):  # every rank at once, mid-epoch, two steps after the checkpoint of step 8
        if step == 10:
            raise KeyboardInterrupt

    continued = []
    runs = [("straight", _cfg(epochs=4), on_step), ("resumed", _cfg(epochs=4), interrupt),
            ("resumed", _cfg(epochs=4, resume=True), lambda step, model: continued.append(step))]
    out = []
    for port, (name, cfg, hook) in zip(ports, runs):
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                          WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
        if cfg.resume:
            ckpt = T.load_checkpoint(Path(root) / name / "last.pt")
            resumed_from = {"step": ckpt["step"], "epoch": ckpt["epoch"], "epoch_pos": ckpt["epoch_pos"]}
        try:
            s = T.train(cfg, data, Path(root) / name, progress=False, on_step=hook)
        except KeyboardInterrupt:
            s = {"rank": rank, "stopped_by": "interrupted"}
        assert not dist.is_initialized(), "train() must leave no process group behind"
        out.append({k: s.get(k) for k in ("rank", "steps", "stopped_by", "world_size")})
    (Path(root) / f"rank{rank}.json").write_text(json.dumps({"writes": writes, "same": same, "runs": out,
                                                             "resumed_from": resumed_from, "continued": continued}))


def test_two_gloo_processes_train_in_step_rank0_writes_and_resume_continues_exactly(data, tmp_path):
    world = 2
    torch.multiprocessing.spawn(_worker, args=(world, [_free_port() for _ in range(3)], data, str(tmp_path)),
                                nprocs=world, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(world))
    # 4 epochs x (48 samples / (2 ranks x batch 4)) = 24 steps, every one leaving identical weights
    assert len(r0["same"]) == len(r1["same"]) == 24 and all(r0["same"]) and all(r1["same"])
    assert r1["writes"] == [] and r0["writes"], "rank 1 must write nothing"
    assert any(w.endswith("last.pt") for w in r0["writes"])
    assert [r["rank"] for r in r1["runs"]] == [1, 1, 1] and r1["runs"][1]["stopped_by"] == "interrupted"
    assert r1["runs"][2]["steps"] == 24

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    hist = json.loads((straight / "history.json").read_text())
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] and hist[-1]["val_loss"] < hist[0]["val_loss"]
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(resumed / "last.pt")
    assert a["world_size"] == b["world_size"] == 2 and len(a["rank_states"]) == 2
    # interrupted at step 10: its last checkpoint is step 8, 2 steps into epoch 2, and the run went on from there
    assert r0["resumed_from"] == r1["resumed_from"] == {"step": 8, "epoch": 1, "epoch_pos": 2}
    assert r0["continued"] == r1["continued"] == list(range(9, 25))
    assert b["epoch"] == 4 and b["step"] == 24 and not list(resumed.glob("replaced-*"))
    for name, tensor in a["raw_weights"].items():
        assert torch.equal(tensor, b["raw_weights"][name]), f"{name}: resumed run differs from the straight one"
    drop = lambda h: [{k: v for k, v in e.items() if k != "minutes"} for e in h]  # noqa: E731
    assert drop(a["history"]) == drop(b["history"])  # the same losses over both ranks, epoch by epoch
    assert json.loads((straight / "summary.json").read_text())["world_size"] == 2

    # Rank r takes positions r, r + 2, ... of each epoch's order, and DDP averages the two mean-loss
    # gradients: each step is one process's step on the same 8 items (batch 8), up to float rounding.
    train(_cfg(batch_size=8, epochs=4), data, tmp_path / "one", progress=False)
    one = load_checkpoint(tmp_path / "one" / "last.pt")
    assert one["step"] == 24
    for name, tensor in one["raw_weights"].items():
        torch.testing.assert_close(a["raw_weights"][name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    assert not list(straight.glob(".*.tmp"))


def test_torchrun_launched_from_a_notebook_trains_in_two_processes(data, monkeypatch, capsys):
    """What notebook 02 does with nproc 2: `python -m torch.distributed.run --standalone --nproc_per_node=2
    -m deblur_utils train --config ...`, the README's command with the recipe in a file."""
    from deblur_utils.runtime import paths
    from deblur_utils.steps.runs import TrainingRun, train_run

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(paths, "processed_dir", lambda: data)
    summary = train_run(TrainingRun("02", "resnet", "resnet_2proc", _cfg(epochs=2, checkpoint_every_minutes=10.0)),
                        nproc=2)
    out = Path(summary["run_dir"])
    assert summary["world_size"] == 2 and summary["steps"] == 12 and len(summary["history"]) == 2
    assert capsys.readouterr().out.count('"world_size": 2') == 1, "one summary printed, by rank 0 alone"
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    assert json.loads(paths.methods_path().read_text())["resnet_2proc"]["b"] == str(out / "best.pt")

    # A checkpoint written mid-epoch by 2 processes cannot be continued by 1: refused with the fix.
    ckpt = load_checkpoint(out / "last.pt")
    ckpt["epoch_pos"], ckpt["epoch"] = 1, 1
    torch.save(ckpt, out / "last.pt")
    with pytest.raises(ValueError, match=r"last\.pt was written mid-epoch by 2 process.*--nproc_per_node 2"):
        train(_cfg(epochs=2, resume=True), data, out, progress=False)
