"""runs/methods.json: method -> {preset: checkpoint}, the latest training of each learned method, which
notebook 04 grades. Training writes it (``register``); a parameter set that no longer trains a method
takes it off (``unregister``), its checkpoints left where they are."""
from __future__ import annotations

import json
from pathlib import Path

from ..data.blur import get_preset
from ..runtime import paths
from ..runtime.atomic import write_json_atomic


def _table() -> dict:
    path = paths.methods_path()
    return json.loads(path.read_text()) if path.exists() else {}


def register(method: str, presets, checkpoint: Path) -> None:
    """Record ``checkpoint`` as ``method``'s model of each of ``presets``."""
    table = _table()
    entry = table.setdefault(method, {})
    for p in presets:
        entry[get_preset(p).name] = str(checkpoint)
    write_json_atomic(paths.methods_path(), table)


def unregister(method: str) -> bool:
    """Take ``method`` off runs/methods.json (its checkpoints are left where they are); True if it was there."""
    table = _table()
    if table.pop(method, None) is None:
        return False
    write_json_atomic(paths.methods_path(), table)
    return True


def learned(presets) -> dict:
    """Method name -> {preset: checkpoint path} as the latest training runs recorded them, for ``presets``."""
    names = {get_preset(p).name for p in presets}
    return {m: {p: Path(c) for p, c in per.items() if p in names} for m, per in _table().items()}
