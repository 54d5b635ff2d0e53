"""Training and running models, one concern per module:

- ``config``: ``TrainConfig`` (the recipe), the losses, the learning-rate schedule, the device;
- ``order``: the order a run sees its data in (``EpochOrder``), and each rank's share (``RankShard``);
- ``checkpoint``: atomic checkpoints, safe loading, the resume state (``RunState``) with one save/load pair;
- ``objectives``: where each step's batch comes from and what it minimises, per model family;
- ``loop``: ``train``, the loop itself (steps, cap, validation, checkpoints, resume);
- ``inference``: ``predict_uint8`` (uint8 frames in and out, tiles), ``estimate_sigmas``, ``validate``.
"""
