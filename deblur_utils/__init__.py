"""deblur_utils: the course report "Image deblurring using CNN", reproduced and measured.

Modules, one job each: ``blur`` (presets, kernel), ``imageio`` (frames in/out),
``embedded`` (default data from photos in wheels), ``data`` (Set A/B, splits,
cache, dataset), ``models``, ``train``, ``metrics`` (course PSNR, SSIM,
classical baselines), ``plots``, ``config`` (parameter sets), ``workflow``
(the report's steps), ``report`` (papermill runner), ``cli``.
"""
__version__ = "0.1.0"
