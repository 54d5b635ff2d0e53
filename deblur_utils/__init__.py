"""deblur_utils: the course report "Image deblurring using CNN", reproduced and measured.

One subpackage per concern, each of small modules with one job:

- ``data``: the blur presets and OpenCV's 8-bit blur, image I/O, Set A / Set B and the split, the
  uint8 cache, the paired dataset, crops blurred on the fly, the embedded and real-photo sets;
- ``networks``: the report's SRCNN and the other CNNs, the blind Wiener network, the registry;
- ``training``: the recipe (``TrainConfig``), data order, checkpoints, objectives, the loop, inference;
- ``evaluation``: the course metric, the classical baselines, every graded method behind one
  interface (``methods``) and the one grading loop (``grading``) over any frame sets (``frame_sets``);
- ``params``: the named parameter sets (YAML shipped with the package) as one typed object;
- ``steps``: what notebooks 01-05 call (prepare, the training runs, evaluate, qualitative, plan);
- ``report``: tables, figures, the papermill runner, the HTML/PDF report, width sweeps;
- ``runtime``: paths, atomic writes, cores, CPU numerics, mixed precision, torchrun;
- ``cli``: ``python -m deblur_utils <command>`` and the ``deblur`` console script.

Importing the package holds oneDNN and MKL to their AVX2 kernels (``runtime.numerics.pin_cpu_kernels``)
before torch first computes, so a CPU training run gives the same model on an AVX2 CPU and on an
AVX-512 one (docs/results.md, "The same numbers elsewhere").
"""
from .runtime.numerics import pin_cpu_kernels as _pin_cpu_kernels

_pin_cpu_kernels()
__version__ = "0.1.0"
