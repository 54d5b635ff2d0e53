"""The report's steps, as notebooks 01-05 and the command line call them; each reads and writes the
files ``runtime.paths`` lays out, and each is safe to rerun.

- ``prepare`` (01): raw frames, Set A, Set B, the split, the real-photo sets, the data manifest;
- ``runs`` (02, 03): the training runs a parameter set asks for (``training_runs``) and training them;
  ``registry``: runs/methods.json, what 04 grades; ``records``: how far each run got, metrics.json;
- ``evaluate`` (04): every method through the one grading loop on the test split, the sigma sweep and
  the real photos; ``qualitative`` (05): the graded PNGs and the frames to show;
- ``plan``: what a parameter set costs on one GPU; ``scaling``: 1 process against N on this machine.
"""
