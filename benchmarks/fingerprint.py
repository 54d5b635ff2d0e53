"""Where two CPUs part: digests of each kind of arithmetic a training step of ours does, and of ours'
weights over its first steps, to compare between machines.

    python benchmarks/fingerprint.py [--steps 64] [--json THIS.json] [--compare OTHER.json]

Two x86 CPUs with the same pins (``runtime/numerics.py``: oneDNN and MKL held to AVX2, 2 threads)
can still train different models (docs/results.md, "The same numbers elsewhere"): a difference in the
last bit of one sum grows over thousands of steps. Retraining and grading takes 15 minutes a machine
and says only *that* they differ. This script says *where*, in about 20 seconds:

- **operations**: each kind of arithmetic a step of ours does (the refiner's 3x3 convolutions forward
  and both gradients, channels-last as training runs them; the Wiener layer's FFTs; the estimator's
  matrix products; the elementwise functions and reductions ATen vectorises; the device blur; an Adam
  step), on fixed inputs, each as a SHA-256 of its float32 output bytes;
- **oneDNN's kernels**: the implementation oneDNN picks for each convolution, read from its verbose
  log in a child process (a kernel whose blocking follows the cache can sum in another order);
- **training**: ours' own recipe from the parameter set's data (notebook 01's Set A), its weights'
  digest after steps 1, 2, 4, ... and ``--steps``, and after step 1 per part (the estimator, the Wiener
  layer, the refiner), so the first step and the first part that differ say which arithmetic did.

Run it on each machine with ``--json``, then on one with ``--compare`` the other's JSON: the table
marks each row the same or not (a row only one of them has differs). Digests say nothing about size:
a row that differs may differ by one bit.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import common  # noqa: E402
from deblur_utils.data.blur_torch import blur_valid_q8  # noqa: E402
from deblur_utils.report.tables import markdown_table  # noqa: E402
from deblur_utils.runtime import numerics, paths  # noqa: E402
from deblur_utils.training.loop import train  # noqa: E402

THREADS = numerics.CPU_THREADS
PARTS = ("estimator.", "wiener.", "head.", "blocks.", "tail.")  # ours' parts, as its weights' names begin


def digest(*tensors: torch.Tensor) -> str:
    """16 hex digits of the SHA-256 of the tensors' float32 bytes, in order."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def state_digest(state: dict, prefix: str = "") -> str:
    """Digest of a state dict's tensors whose names start with ``prefix``, in name order: equal only when
    they are bit for bit."""
    return digest(*(state[k] for k in sorted(state) if k.startswith(prefix)))


def weights_digest(model: torch.nn.Module, prefix: str = "") -> str:
    """Digest of a model's parameters and buffers whose names start with ``prefix``, in name order."""
    return state_digest(model.state_dict(), prefix)


def inputs(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def convolution(width: int = 24, cin: int = 13, batch: int = 8, side: int = 64):
    """The refiner's head-sized 3x3 convolution on channels-last crops: output, input and weight gradients."""
    x = inputs(batch, cin, side, side, seed=1).to(memory_format=torch.channels_last).requires_grad_()
    w = (inputs(width, cin, 3, 3, seed=2) * 0.1).to(memory_format=torch.channels_last).requires_grad_()
    y = F.conv2d(x, w, padding=1)
    y.backward(inputs(*y.shape, seed=3).to(memory_format=torch.channels_last))
    return y, x.grad, w.grad


def operations() -> dict:
    """name -> digest of each kind of arithmetic, on fixed inputs."""
    out = {}
    y, gx, gw = convolution()
    out["conv 3x3 13->24, forward"] = digest(y)
    out["conv 3x3 13->24, input gradient"] = digest(gx)
    out["conv 3x3 13->24, weight gradient"] = digest(gw)
    y, gx, gw = convolution(width=24, cin=24)
    out["conv 3x3 24->24, forward"] = digest(y)
    out["conv 3x3 24->24, input gradient"] = digest(gx)
    out["conv 3x3 24->24, weight gradient"] = digest(gw)
    img = inputs(8, 3, 288, 480, seed=4)
    spec = torch.fft.rfft2(img)
    out["rfft2 288x480"] = digest(torch.view_as_real(spec))
    out["irfft2 288x480"] = digest(torch.fft.irfft2(spec * 0.5, s=img.shape[-2:]))
    a, b = inputs(96, 64, seed=5).requires_grad_(), inputs(64, 64, seed=6).requires_grad_()
    m = a @ b
    m.sum().backward()
    out["matmul 96x64 @ 64x64, and its gradient"] = digest(m, b.grad)
    v = inputs(1 << 20, seed=7)
    out["exp, log, sqrt, tanh"] = digest(v.exp(), v.abs().add(1e-3).log(), v.abs().sqrt(), v.tanh())
    out["sum, mean, var (1M values)"] = digest(v.sum(), v.mean(), v.var())
    out["hann window, log10, index_add"] = digest(
        torch.hann_window(192, periodic=False), v.abs().add(1e-12).log10(),
        torch.zeros(64).index_add_(0, (v.abs() * 10).long().clamp(max=63), v))
    sharp = (inputs(4, 3, 96, 96, seed=8).mul(40).add(128).clamp(0, 255).round())
    out["device blur (Q8 kernels)"] = digest(blur_valid_q8(F.pad(sharp, (8, 8, 8, 8), mode="reflect"),
                                                           [0.3, 1.0, 1.6, 2.2]))
    p = torch.nn.Parameter(inputs(1000, seed=9))
    opt = torch.optim.Adam([p], lr=1e-3)
    for k in range(3):
        p.grad = inputs(1000, seed=10 + k)
        opt.step()
    out["Adam, 3 steps"] = digest(p)
    return out


def onednn_kernels() -> list:
    """The implementations oneDNN runs the convolutions above with, from its verbose log (a child process)."""
    code = ("import sys; sys.path.insert(0, %r); import fingerprint, torch; torch.set_num_threads(%d); "
            "fingerprint.convolution(); fingerprint.convolution(width=24, cin=24)"
            % (str(Path(__file__).resolve().parent), THREADS))
    env = {**numerics.PINNED, **os.environ, "ONEDNN_VERBOSE": "1"}  # a pin already set wins, as in training
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    found = []
    for line in run.stdout.splitlines():
        parts = line.split(",")
        if len(parts) > 6 and parts[0].startswith("onednn_verbose") and "exec" in parts and "cpu" in parts:
            i = parts.index("exec")
            kind, impl, prop = parts[i + 2], parts[i + 3], parts[i + 4]
            if kind == "convolution" and (kind, impl, prop) not in found:  # not the reorders around them
                found.append((kind, impl, prop))
    return [" ".join(k) for k in found]


class Enough(Exception):
    """Raised by the step hook once the last digest is taken: the training run has said what it had to."""


def training(P, steps: int) -> dict:
    """Ours' recipe on the parameter set's data: weights' digests after steps 1, 2, 4, ... ``steps``."""
    cfg = P.train_config("ours", checkpoint_every_minutes=None)
    run_dir = paths.runs_dir() / "benchmarks" / "fingerprint"
    shutil.rmtree(run_dir, ignore_errors=True)
    marks = {1 << k for k in range(steps.bit_length()) if 1 << k <= steps} | {steps}
    out, last = {}, {}

    def on_step(step, model):
        model = getattr(model, "module", model)
        if step == 1:
            for part in PARTS:
                out[f"after step 1: {part.rstrip('.')}"] = weights_digest(model, part)
        if step in marks:
            out[f"after step {step}: all weights"] = weights_digest(model)
        last.update(step=step, model=model)  # digested at the end should the recipe end before a mark
        if step >= max(marks):
            raise Enough

    try:
        train(cfg, paths.processed_dir(), run_dir, progress=False, on_step=on_step)
    except Enough:
        pass
    else:  # the recipe has fewer steps than asked: its last step stands for the rest
        print(f"note: ours' recipe ends at step {last.get('step')}, before step {steps}")
        if last:
            out.setdefault(f"after step {last['step']}: all weights", weights_digest(last["model"]))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return out


def machine() -> dict:
    """What the CPU is, as far as the digests may depend on it."""
    name = platform.processor()
    info = Path("/proc/cpuinfo")
    if info.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", info.read_text(), re.M)
        name = found.group(1) if found else name
    caches = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind = (index / "level").read_text().strip(), (index / "type").read_text().strip()
            caches[f"L{level} {kind}"] = (index / "size").read_text().strip()
        except OSError:
            continue
    return {"cpu": name, "caches": caches, "torch": torch.__version__,
            "aten": torch.backends.cpu.get_cpu_capability(), **numerics.cpu_kernels(), "threads": THREADS}


def rows_of(result: dict) -> dict:
    """One machine's result (``main``'s JSON) as table rows: what -> digest or value."""
    return {**{f"machine: {k}": json.dumps(v) if isinstance(v, dict) else str(v) for k, v in result["machine"].items()},
            **result["operations"], "oneDNN convolutions": "; ".join(result["onednn"]), **result["training"]}


def main(argv=None):
    ap = common.parser(__doc__)
    ap.add_argument("--steps", type=int, default=64, help="digest ours' weights up to this step (default 64)")
    ap.add_argument("--compare", type=Path, help="another machine's --json output to compare with")
    args = ap.parse_args(argv)
    P = common.load(args)
    torch.set_num_threads(THREADS)
    this = {"machine": machine(), "operations": operations(), "onednn": onednn_kernels(),
            "training": training(P, max(1, args.steps))}
    flat = rows_of(this)
    if args.compare:
        theirs = rows_of(json.loads(args.compare.read_text()))
        rows = [[k, v, theirs.get(k, "-"), "same" if theirs.get(k) == v else "differs"] for k, v in flat.items()]
        rows += [[k, "-", v, "differs"] for k, v in theirs.items() if k not in flat]
        print(markdown_table(["what", "this machine", str(args.compare), ""], rows))
    else:
        print(markdown_table(["what", "digest"], [[k, v] for k, v in flat.items()]))
    return common.finish(this, args.json)


if __name__ == "__main__":
    main()
