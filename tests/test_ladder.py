"""The sharpness ladder: views reduced from a photo, never enlarged."""
import numpy as np

from deblur_utils.data import ladder


def test_a_view_is_reduced_by_its_factor_and_never_enlarged(rng):
    photo = rng.integers(0, 256, (800, 1400, 3), dtype=np.uint8)
    assert ladder.boxes(photo.shape, 3, 2, 256, 448) == [(16, 28, 768, 1344), (8, 17, 768, 1344)]
    assert ladder.boxes(photo.shape, 4, 2, 256, 448) == []  # 1024 rows: the photo has 800
    assert ladder.boxes(photo.shape, 0.5, 2, 256, 448) == []  # enlarged: never
    views = ladder.views(photo, 2, 3)
    assert len(views) == 3 and all(v.shape == (256, 448, 3) and v.dtype == np.uint8 for v in views)
    one = ladder.views(photo, 1, 1)[0]  # the photo's own pixels, unresampled
    y, x, _, _ = ladder.boxes(photo.shape, 1, 1, 256, 448)[0]
    assert np.array_equal(one, photo[y:y + 256, x:x + 448])


def test_a_photo_the_size_of_a_view_gives_one_view_whatever_is_asked(rng):
    photo = rng.integers(0, 256, (256, 448, 3), dtype=np.uint8)
    views = ladder.views(photo, 1, 5)
    assert len(views) == 1 and np.array_equal(views[0], photo)


def test_a_reduction_keeps_a_flat_photo_flat():
    photo = np.full((600, 1000, 3), 77, np.uint8)
    assert (ladder.views(photo, 2.2, 1)[0] == 77).all()
