"""Data-parallel scaling on this machine: training images per second of 1 process against N (torchrun).

    python benchmarks/scaling.py [--nproc 2] [--device cpu] [--images 1536] [--json PATH]

Runs ``deblur_utils.steps.scaling.measure`` (see its docstring: 1 process x 1 thread, 1 x N threads,
N processes x 1 thread under torchrun, the same images each) on the prepared data (built if
missing), prints the table and the ratio of N processes to the best single process, and writes
``reports/scaling.json`` (what notebook 02 shows) and ``--json PATH`` if given. Always measures anew.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from deblur_utils.runtime import paths  # noqa: E402
from deblur_utils.steps import scaling  # noqa: E402
from deblur_utils.steps.prepare import prepare  # noqa: E402


def main(argv=None):
    ap = common.parser(__doc__)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu (Gloo) or cuda (NCCL, one GPU per process)")
    ap.add_argument("--model", default="srcnn")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--crop-size", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=8, help="per process")
    ap.add_argument("--images", type=int, default=1536, help="training images per configuration")
    args = ap.parse_args(argv)
    if not paths.splits_path().exists():
        prepare(common.load(args), progress=False)
    try:
        out = scaling.measure(nproc=args.nproc, device=args.device, model=args.model, width=args.width,
                              crop_size=args.crop_size, batch_size=args.batch_size, images=args.images,
                              reuse=False)
    except ValueError as e:
        ap.error(str(e))
    print(f"written to {scaling.report_path()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(scaling.report_path(), args.json)
        print(f"written to {args.json}")
    return out


if __name__ == "__main__":
    main()
