"""deblur_utils: the course report "Image deblurring using CNN", reproduced and measured.

Modules, one job each: ``blur`` (presets, kernel), ``imageio`` (frames in/out), ``frames`` (one raw
frame into Set A/B), ``embedded`` and ``real_photos`` (the default and the real-photo data), ``data``
(Set A/B, splits, cache, dataset), ``sampling`` (crops blurred on the fly), ``layers``, ``models``
and ``blind`` (the networks), ``training`` (recipe, checkpoints, objectives, loop, inference; ``train``
re-exports it), ``metrics`` (course PSNR, SSIM, classical baselines), ``tables`` and ``plots``,
``config`` (parameter sets), ``workflow`` (the report's steps), ``plan`` (what a parameter set costs),
``report`` (papermill runner), ``export`` (report.html / .pdf), ``cli``, ``numerics`` (the same CPU
arithmetic on every machine).

Importing the package holds oneDNN and MKL to their AVX2 kernels (``numerics.pin_cpu_kernels``) before
torch first computes, so a CPU training run gives the same model on an AVX2 CPU and on an AVX-512
one (docs/results.md, "The same numbers elsewhere").
"""
from .numerics import pin_cpu_kernels as _pin_cpu_kernels

_pin_cpu_kernels()
__version__ = "0.1.0"
