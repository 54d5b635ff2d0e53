"""The figures keep their style to themselves: drawing one changes no global matplotlib setting."""
import matplotlib
import matplotlib.pyplot as plt

from deblur_utils.data import blur
from deblur_utils.report import panels, plots


def test_drawing_a_figure_leaves_matplotlib_settings_as_they_were():
    assert matplotlib.rcParams["axes.spines.top"] == matplotlib.rcParamsDefault["axes.spines.top"]  # import: nothing
    before = dict(matplotlib.rcParams)
    fig = panels.kernels(blur.PRESETS)
    assert dict(matplotlib.rcParams) == before
    assert fig.dpi == plots.STYLE["figure.dpi"]
    tick = fig.axes[0].xaxis.get_major_ticks()[0]
    assert tick.gridline.get_alpha() == plots.STYLE["grid.alpha"]  # the ticks were made under the style
    plt.close(fig)
