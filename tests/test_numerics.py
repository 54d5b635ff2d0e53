"""The CPU arithmetic pins (deblur_utils/numerics.py): set on import, a user's own value kept, the
thread count of a run checked and given back."""
import json
import os
import subprocess
import sys

import pytest
import torch

from deblur_utils.runtime import numerics
from deblur_utils.training.config import TrainConfig

READ_PINS = "import os, json, deblur_utils; print(json.dumps({k: os.environ.get(k) for k in deblur_utils.runtime.numerics.PINNED}))"


def _pins_in_a_fresh_process(**env):
    clean = {k: v for k, v in os.environ.items() if k not in numerics.PINNED}
    out = subprocess.run([sys.executable, "-c", READ_PINS], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_importing_the_package_holds_onednn_and_mkl_to_avx2():
    assert _pins_in_a_fresh_process() == {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def test_a_value_the_user_set_wins():
    pins = _pins_in_a_fresh_process(ONEDNN_MAX_CPU_ISA="ALL", MKL_CBWR="AUTO")
    assert pins == {"ONEDNN_MAX_CPU_ISA": "ALL", "MKL_CBWR": "AUTO"}


def test_pin_cpu_kernels_sets_only_what_is_missing():
    env = {"MKL_CBWR": "COMPATIBLE"}
    assert numerics.pin_cpu_kernels(env) == {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE"}
    assert env == {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE"}


def test_cpu_threads_holds_the_count_inside_and_gives_it_back():
    before = torch.get_num_threads()
    with numerics.cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with numerics.cpu_threads(0):  # 0: as it is
        assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_train_config_refuses_what_is_not_a_thread_count(bad):
    with pytest.raises(ValueError, match="cpu_threads"):
        TrainConfig(cpu_threads=bad)


def test_every_parameter_set_trains_with_two_threads(monkeypatch):
    from deblur_utils import params
    from deblur_utils.steps.runs import training_runs

    monkeypatch.delenv(params.ENV_VAR, raising=False)  # CI sets it to "ci", which would replace each name
    for name in ("default", "ci", "full"):
        assert {r.config.cpu_threads for r in training_runs(params.load_params(name))} == {2}
