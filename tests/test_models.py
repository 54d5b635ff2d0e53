"""Model definitions: the report's parameter counts, shapes, and the residual models' identity start."""
import pytest
import torch

from deblur_utils.networks.cnn import SRCNN
from deblur_utils.networks.registry import build_model, count_parameters


@pytest.mark.parametrize("width,count", [(2048, 4_849_667), (1024, 1_376_259)])
def test_faithful_srcnn_has_the_reports_parameter_count(width, count):
    assert count_parameters(SRCNN(width)) == count


def test_faithful_srcnn_layers_are_the_reports():
    convs = [m for m in SRCNN(16).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.padding) for c in convs] == [((9, 9), (2, 2)), ((1, 1), (2, 2)), ((5, 5), (2, 2))]
    relus = [m for m in SRCNN(16).body if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 3  # after every layer, the output's included


@pytest.mark.parametrize("name", ["srcnn", "residual_srcnn", "resnet", "unet"])
def test_models_keep_the_frame_size(name):
    x = torch.rand(2, 3, 40, 56)
    assert build_model(name, width=8).eval()(x).shape == x.shape


@pytest.mark.parametrize("name", ["residual_srcnn", "resnet", "unet"])
def test_untrained_residual_models_return_their_input(name):
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(build_model(name, width=8)(x), x)


def test_over_the_course_limit_is_refused():
    with pytest.raises(ValueError, match="over the course's 15,000,000"):
        build_model("srcnn", width=4000)


@pytest.mark.parametrize("kwargs,message", [({"width": 0}, "width must be a positive integer"),
                                            ({"width": 2.5}, "width must be a positive integer")])
def test_bad_width_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model("srcnn", **kwargs)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model 'unet3000'"):
        build_model("unet3000")
