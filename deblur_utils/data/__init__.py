"""The data: from sharp photos to the arrays a model trains and is graded on.

- ``blur``: the course's presets and OpenCV's 8-bit Gaussian blur (numpy), the one home of both;
  ``blur_torch``: the same blur on the training device, and its transfer function;
- ``imageio``: frames in (any mode to uint8 RGB) and out (atomic PNG);
- ``frames``: one raw frame into Set A and Set B (what notebook 01's worker processes run);
- ``sets``: Set A / Set B on disk, the split by sequence; ``cache``: the uint8 memory-mapped arrays;
- ``dataset``: the paired dataset (each sharp frame with each blurred version);
  ``sampling``: crops of Set A blurred on the fly over a continuum of sigmas;
- ``embedded``: the default photos (inside the scikit-image and matplotlib wheels);
  ``real_photos``: the real-photo test and validation sets and the training photos (Debian packages).

Nothing here is imported by this file: notebook 01's worker processes import ``frames`` alone and
start without torch.
"""
