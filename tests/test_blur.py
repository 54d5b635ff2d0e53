"""The blur equals OpenCV's GaussianBlur (reflect-101) within 1 grey level; presets are validated."""
import cv2
import numpy as np
import pytest

from deblur_utils.data.blur import PRESETS, blur_float, blur_uint8, gaussian_kernel_1d, get_preset


@pytest.mark.parametrize("name", ["a", "b", "c"])
def test_presets_match_opencv_gaussianblur(name, rng):
    p = PRESETS[name]
    img = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)
    ours = blur_uint8(img, name).astype(int)
    ref = cv2.GaussianBlur(img, (p.kernel_size, p.kernel_size), p.sigma).astype(int)  # default border: reflect-101
    assert np.abs(ours - ref).max() <= 1  # the bound; in fact:
    np.testing.assert_array_equal(ours, ref)  # bit-exact with OpenCV's 8-bit fixed-point path
    # And the real-valued blur agrees with OpenCV's float path:
    ref_float = cv2.GaussianBlur(img.astype(np.float32), (p.kernel_size, p.kernel_size), p.sigma)
    np.testing.assert_allclose(blur_float(img, name), ref_float, atol=1e-3)


@pytest.mark.parametrize("k,sigma", [(5, 0.7), (9, 1.3), (13, 2.0), (1, 0.5)])
def test_custom_kernels_match_opencv(k, sigma, rng):
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    ref = cv2.GaussianBlur(img, (k, k), sigma).astype(int)
    np.testing.assert_array_equal(blur_uint8(img, (k, sigma)).astype(int), ref)


def test_kernel_is_opencvs_getgaussiankernel():
    for p in PRESETS.values():
        ref = cv2.getGaussianKernel(p.kernel_size, p.sigma)[:, 0]
        np.testing.assert_allclose(gaussian_kernel_1d(p.kernel_size, p.sigma), ref, atol=1e-7)


def test_the_three_presets_are_the_courses():
    assert {n: (p.kernel_size, p.sigma) for n, p in PRESETS.items()} == {"a": (3, 0.3), "b": (7, 1.0), "c": (11, 1.6)}


@pytest.mark.parametrize("bad,message", [
    ("d", "unknown blur preset 'd'"),
    ((4, 1.0), "kernel_size must be odd"),
    ((0, 1.0), "kernel_size must be odd"),
    ((5, 0.0), "sigma must be a finite number > 0"),
    ((5, -1.0), "sigma must be a finite number > 0"),
])
def test_bad_presets_are_refused_with_the_fix(bad, message):
    with pytest.raises(ValueError, match=message):
        get_preset(bad)


def test_blur_refuses_non_uint8():
    with pytest.raises(ValueError, match="uint8"):
        blur_uint8(np.zeros((8, 8, 3), np.float32), "b")


def test_q8_kernel_sums_to_256_like_opencvs():
    from deblur_utils.data.blur import gaussian_kernel_q8

    for p in PRESETS.values():
        q = gaussian_kernel_q8(p.kernel_size, p.sigma)
        assert q.sum() == 256 and (q == q[::-1]).all()


def test_blur_on_a_real_photo_matches_opencv_bit_for_bit():
    from skimage import data

    img = data.astronaut()[:200, :300]
    for name, p in PRESETS.items():
        np.testing.assert_array_equal(blur_uint8(img, name),
                                      cv2.GaussianBlur(img, (p.kernel_size, p.kernel_size), p.sigma))
