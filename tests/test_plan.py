"""The session plan: FLOPs counted right, and the full recipe fits one 9-hour GPU session."""
import dataclasses

import pytest

from deblur_utils import cli, params
from deblur_utils.networks.registry import build_model
from deblur_utils.steps import plan


@pytest.fixture(scope="module")
def full_plan():
    with pytest.MonkeyPatch.context() as mp:  # `make test` sets DEBLUR_PARAMS=ci, which would replace "full"
        mp.delenv("DEBLUR_PARAMS", raising=False)
        return plan.plan(params.load_params("full"), 24_000, cores=2)


def test_a_same_padding_cnn_costs_two_flops_per_weight_and_pixel():
    model = build_model("resnet", width=8, blocks=1)
    weights = sum(m.weight.numel() for m in model.modules() if hasattr(m, "weight") and m.weight is not None
                  and m.weight.dim() == 4)
    assert plan.forward_tflop("resnet", {"width": 8, "blocks": 1}) == pytest.approx(2 * weights * 256 * 448 / 1e12,
                                                                                       rel=0.02)


def test_the_full_recipe_fits_one_session_even_when_every_cap_is_reached(full_plan):
    assert plan.check(full_plan) == []
    assert full_plan["total_minutes"] <= full_plan["worst_case_minutes"] <= 9 * 60
    by_name = {r.name: r for r in full_plan["runs"]}
    assert by_name["ours"].steps == 12_288 and by_name["faithful"].steps == 8_192
    assert all(r.cap_minutes >= r.minutes for r in full_plan["runs"])  # no run is cut on the planning GPU
    assert set(full_plan["notebooks"]) == {"01", "02", "03", "04", "05"}


def test_caps_too_long_or_too_short_are_named(full_plan):
    runs = [dataclasses.replace(r, cap_minutes=600 if r.name == "ours" else r.cap_minutes) for r in full_plan["runs"]]
    assert any("lower the max_minutes caps" in p for p in plan.check({**full_plan, "runs": runs,
                                                                      "worst_case_minutes": 1000}))
    runs = [dataclasses.replace(r, cap_minutes=1 if r.name == "faithful" else r.cap_minutes) for r in full_plan["runs"]]
    assert any(p.startswith("faithful: its cap of 1 minutes") for p in plan.check({**full_plan, "runs": runs}))


def test_the_command_line_prints_the_plan_and_says_whether_it_fits(capsys):
    assert cli.main(["plan", "--params", "ci", "--frames", "200"]) == 0
    out = capsys.readouterr().out
    assert "| 02 | ours |" in out and "fits one session" in out
