"""The on-device blur, the continuum sampler and the blind Wiener network."""
import numpy as np
import pytest
import torch
from helpers import natural_like

from deblur_utils.data.blur import blur_uint8, gaussian_kernel_q8, kernel_size_for_sigma
from deblur_utils.data.blur_torch import blur_valid_q8, margin_for, otf_q8
from deblur_utils.data.sampling import ContinuumCrops, reflect101
from deblur_utils.evaluation.metrics import psnr_db
from deblur_utils.networks.blind import BlindWienerNet, GivenSigma, SpectralSigma, WienerLayer, one_sigma
from deblur_utils.networks.registry import build_model
from deblur_utils.training.inference import to_tensor, to_uint8


def test_reflect101_is_numpys_reflect():
    idx = np.arange(-5, 15)
    ref = np.pad(np.arange(8), 7, mode="reflect")[idx + 7]
    assert (reflect101(idx, 8) == ref).all()


@pytest.mark.parametrize("sigmas", [[0.3], [1.0], [1.6], [0.55, 2.0, 1.23]])
def test_device_blur_is_bit_exact_with_blur_uint8(rng, sigmas):
    imgs = [natural_like(rng, 40, 52) for _ in sigmas]
    r = margin_for(sigmas)
    batch = torch.from_numpy(np.stack([np.pad(im, ((r, r), (r, r), (0, 0)), mode="reflect") for im in imgs]))
    out = blur_valid_q8(batch.permute(0, 3, 1, 2), sigmas).permute(0, 2, 3, 1).to(torch.uint8).numpy()
    for o, im, s in zip(out, imgs, sigmas):
        assert np.array_equal(o, blur_uint8(im, (kernel_size_for_sigma(s), s)))


def test_otf_is_the_kernels_fourier_transform():
    k = kernel_size_for_sigma(1.3)
    taps = np.zeros(32)
    q = gaussian_kernel_q8(k, 1.3) / 256
    taps[:k] = q
    taps = np.roll(taps, -(k // 2))
    assert np.allclose(np.fft.rfft(taps).real, otf_q8(1.3, np.fft.rfftfreq(32)), atol=1e-12)


def test_continuum_crops_equal_crops_of_the_blurred_frame(rng):
    frames = np.stack([natural_like(rng, 48, 64) for _ in range(3)])
    cc = ContinuumCrops(frames, 24, sigma_range=(0.4, 2.2), preset_fraction=0.5, seed=3, augment=False)
    blurred, sharp, sig = cc.batch(7, 6, "cpu")
    plan = cc.plan(7, 6, 24)
    for i in range(6):
        f, y, x, s = plan["frame"][i], plan["y"][i], plan["x"][i], plan["sigma"][i]
        full = blur_uint8(frames[f], (kernel_size_for_sigma(s), s))
        got = (blurred[i] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        assert np.array_equal(got, full[y:y + 24, x:x + 24])
        assert np.array_equal((sharp[i] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy(),
                              frames[f][y:y + 24, x:x + 24])
        assert sig[i].item() == pytest.approx(s)
    again = cc.batch(7, 6, "cpu")  # a pure function of (seed, step): resume sees the same batches
    assert torch.equal(again[0], blurred)
    assert not torch.equal(cc.batch(8, 6, "cpu")[0], blurred)


def test_continuum_refuses_bad_settings(rng):
    frames = np.stack([natural_like(rng, 48, 64)])
    with pytest.raises(ValueError, match="crop_size 80 is larger"):
        ContinuumCrops(frames, 80)
    with pytest.raises(ValueError, match="sigma_range"):
        ContinuumCrops(frames, 16, sigma_range=(2.0, 1.0))


def test_continuum_draws_only_the_presets_asked_for(rng):
    frames = np.stack([natural_like(rng, 48, 64)])
    every = ContinuumCrops(frames, 16, sigma_range=(1.9, 2.4), preset_fraction=0.9, seed=5)
    named = ContinuumCrops(frames, 16, sigma_range=(1.9, 2.4), preset_fraction=0.9, seed=5, presets=["a", "b", "c"])
    some = ContinuumCrops(frames, 16, sigma_range=(1.9, 2.4), preset_fraction=0.9, seed=5, presets=["b", "c"])
    drawn = np.concatenate([some.plan(step, 64, 16)["sigma"] for step in range(4)])
    assert set(np.round(drawn[drawn < 1.9], 6)) == {1.0, 1.6}  # no preset a, both of the others
    for step in range(3):  # null is every preset, in the same order: the same batches as before the option
        assert np.array_equal(every.plan(step, 32, 16)["sigma"], named.plan(step, 32, 16)["sigma"])
    with pytest.raises(ValueError, match="non-empty list"):
        ContinuumCrops(frames, 16, presets=[])


def test_a_preset_a_crop_teaches_the_blind_refiner_nothing(rng):
    """Why the default's deconvolution draws preset crops of b and c only (``continuum_presets``): at
    preset a's sigma the gate is shut and the output is the floor, whatever the refiner's weights."""
    torch.manual_seed(0)
    net = BlindWienerNet(width=8, blocks=1, floor_balance=1e-5)
    torch.nn.init.normal_(net.tail.weight, std=0.1)  # a refiner that changes its input
    sharp = natural_like(rng, 32, 40)
    for preset, sigma, moved in (("a", 0.3, False), ("b", 1.0, True)):
        x = _to_t(blur_uint8(sharp, preset)).requires_grad_(False)
        net.zero_grad()
        loss = ((net(x, sigma=torch.tensor([sigma])) - _to_t(sharp)) ** 2).mean()
        loss.backward()
        grads = [p.grad for p in [*net.head.parameters(), *net.blocks.parameters(), *net.tail.parameters(),
                                  net.wiener.log_balance]]
        assert any(g is not None and g.abs().sum() > 0 for g in grads) is moved, preset


def _to_t(img):
    return to_tensor(img[None])


def _to_u8(t):
    return to_uint8(t)[0]


def test_wiener_layer_with_the_true_sigma_deblurs(rng):
    sharp = natural_like(rng, 64, 96)
    blurred = blur_uint8(sharp, "b")
    out = WienerLayer()(_to_t(blurred), [torch.tensor([1.0])])[0]
    assert psnr_db(sharp, _to_u8(out)) > psnr_db(sharp, blurred) + 3


def test_gate_falls_back_to_the_smallest_presets_deconvolution(rng):
    model = BlindWienerNet(width=8, blocks=1).eval()
    x = _to_t(blur_uint8(natural_like(rng, 32, 48), "a"))
    with torch.no_grad():
        low = model(x, sigma=torch.tensor([0.35]))
        floor = model.wiener(x, [torch.tensor([0.3])])[0]
        assert torch.equal(low, floor)
        assert model.gate(torch.tensor([0.35, 0.47, 0.9])).tolist() == pytest.approx([0.0, 0.5, 1.0])


def test_a_fixed_floor_balance_holds_whatever_the_learned_strengths(rng):
    x = _to_t(blur_uint8(natural_like(rng, 32, 48), "a"))
    model = BlindWienerNet(width=8, blocks=1, floor_balance=1e-5).eval()
    with torch.no_grad():
        low = model(x, sigma=torch.tensor([0.35]))  # below the gate: the floor alone
        model.wiener.log_balance.fill_(0.0)  # whatever training leaves there
        assert torch.equal(model(x, sigma=torch.tensor([0.35])), low)
        assert not torch.equal(model.wiener(x, [torch.tensor([0.3])])[0], low)  # the learned strength: another output
        assert torch.equal(model.wiener(x, [torch.tensor([0.3])], [1e-5])[0], low)
    for bad in (0, -1e-5, "1e-5"):
        with pytest.raises(ValueError, match="floor_balance"):
            BlindWienerNet(width=8, blocks=1, floor_balance=bad)


def test_gate_reads_the_sharpest_tile_and_the_deconvolution_the_median(rng, monkeypatch):
    """A uniform blur only softens: one tile that looks sharp (0.3) keeps the gate shut even when
    most tiles read a blur (a soft background); the deconvolution still uses the median estimate."""
    x = _to_t(blur_uint8(natural_like(rng, 256, 448), "a"))
    tiles = torch.log(torch.tensor([[0.3, 0.6, 0.6, 0.7, 0.7, 0.8, 0.8, 0.9]]))
    seen, deconvolve = {}, WienerLayer.forward

    def wiener(self, x_, sigmas, balances=None):
        seen["sigmas"] = [float(s_) for s_ in torch.cat(sigmas)]
        return deconvolve(self, x_, sigmas, balances)

    with torch.no_grad():
        for gate_on, shut in (("sharpest_tile", True), ("median_tile", False)):
            model = BlindWienerNet(width=8, blocks=1, gate_on=gate_on).eval()
            torch.nn.init.normal_(model.tail.weight, std=0.1)
            monkeypatch.setattr(model.estimator, "tile_log_sigma", lambda _x: tiles)
            monkeypatch.setattr(WienerLayer, "forward", wiener)
            median, sharpest = model.estimator.estimate(x)
            assert median.item() == pytest.approx(0.7) and sharpest.item() == pytest.approx(0.3)
            out = model(x)
            monkeypatch.undo()
            assert seen["sigmas"][1] == pytest.approx(0.7)  # lo, mid, hi, floor: mid is the median
            floor = model.wiener(x, [torch.tensor([0.3])])[0]
            assert torch.equal(out, floor) is shut
    with pytest.raises(ValueError, match="gate_on"):
        BlindWienerNet(gate_on="mean")


def test_the_estimator_cuts_a_large_frame_into_tiles_of_its_training_size(rng):
    est = SpectralSigma(tile=64)
    x = _to_t(natural_like(rng, 96, 160))
    assert est.tile_log_sigma(x).shape == (1, 2 * 4)  # rows 0, 32; columns 0, 32, 64, 96
    assert est.tile_log_sigma(x[..., :64, :64]).shape == (1, 1)
    with torch.no_grad():
        median, sharpest = est.estimate(x)
        assert sharpest.item() <= median.item()
        assert est(x).item() == pytest.approx(median.item())


def _constant_heads(est, values):
    """Each head of ``est`` outputs log(values[k]) whatever it sees."""
    for head, v in zip([est.mlp, *est.more], values):
        torch.nn.init.zeros_(head[-1].weight)
        torch.nn.init.constant_(head[-1].bias, float(np.log(v)))


def test_estimator_heads_average_in_log_sigma_and_train_each_on_its_own_loss(rng):
    est = SpectralSigma(tile=64, heads=2)
    _constant_heads(est, [0.5, 2.0])
    big, crops = _to_t(natural_like(rng, 96, 160)), _to_t(natural_like(rng, 64, 64)).repeat(3, 1, 1, 1)
    with torch.no_grad():
        assert est.head_log_sigma(crops).exp().flatten().tolist() == pytest.approx([0.5, 2.0] * 3)
        median, sharpest = est.estimate(big)  # every tile: exp(mean(log 0.5, log 2)) = 1
        assert median.item() == pytest.approx(1.0) and sharpest.item() == pytest.approx(1.0)
        # the ensemble is exactly right, yet each head is off by a factor 2: trained on its own error
        assert est.loss(crops, torch.ones(3)).item() == pytest.approx(np.log(2.0))
        assert est.loss(big, torch.ones(1)).item() == pytest.approx(0.0, abs=1e-6)  # larger than a tile
    with pytest.raises(ValueError, match="est_heads"):
        SpectralSigma(heads=0)


def test_the_estimators_pinball_loss_charges_a_high_reading_more_below_the_median():
    """estimator_tau 0.5 is the mean absolute error in log sigma; below it an estimate that reads high
    costs (1 - tau) / tau times as much as one that reads as far low, so a head learns a low quantile."""
    est = SpectralSigma(tile=64)
    crops = torch.zeros(2, 3, 64, 64)
    _constant_heads(est, [2.0])  # reads log 2 high of sigma 1 ...
    with torch.no_grad():
        high = [est.loss(crops, torch.ones(2), tau).item() for tau in (0.5, 0.3)]
        low = [est.loss(crops, torch.full((2,), 4.0), tau).item() for tau in (0.5, 0.3)]  # ... and log 2 low of 4
    assert high[0] == pytest.approx(np.log(2.0)) and low[0] == pytest.approx(np.log(2.0))
    assert high[1] == pytest.approx(1.4 * np.log(2.0)) and low[1] == pytest.approx(0.6 * np.log(2.0))


def test_one_head_keeps_the_checkpoint_layout_of_earlier_models():
    keys = {k for k in BlindWienerNet(width=8, blocks=1).state_dict() if k.startswith("estimator.")}
    assert keys == {f"estimator.mlp.{i}.{w}" for i in (0, 2, 4) for w in ("weight", "bias")}
    three = BlindWienerNet(width=8, blocks=1, est_heads=3)
    assert len(three.estimator.more) == 2


def test_blind_model_runs_blind_and_told(rng):
    x = _to_t(natural_like(rng, 40, 56))
    blind = build_model("blind_wiener", width=8, blocks=1)
    assert blind.blind and blind(x).shape == x.shape
    sigma = SpectralSigma()(x)
    assert sigma.shape == (1,) and sigma.item() > 0
    told = build_model("blind_wiener", width=8, blocks=1, fixed_sigma=1.0)
    assert not told.blind and told(x).shape == x.shape
    with pytest.raises(ValueError, match="fixed_sigma"):
        build_model("blind_wiener", fixed_sigma=-1)
    given = GivenSigma(blind, 1.3)  # the blind model with its estimate bypassed
    assert torch.equal(given(x), blind(x, sigma=torch.tensor([1.3])))
    assert not torch.equal(given(x), GivenSigma(blind, 0.7)(x))
    with pytest.raises(ValueError, match="blind Wiener"):
        GivenSigma(told, 1.0)


def test_one_sigma_is_the_median_of_the_estimates_in_log():
    assert one_sigma([1.0, 4.0, 2.0]) == pytest.approx(2.0)
    assert one_sigma([1.0, 4.0]) == pytest.approx(2.0)  # an even count: the geometric mean of the middle two
    with pytest.raises(ValueError, match="at least one frame"):
        one_sigma([])


def test_given_a_sigma_below_keep_below_a_fixed_point_comes_back_unchanged():
    """GivenSigma keeps the blind model's no-harm rule: a frame preset a's 8-bit blur leaves unchanged
    comes back unchanged at preset a's sigma, and is deblurred at b's (above keep_below)."""
    flat = torch.full((1, 3, 64, 96), 128 / 255)  # a blur leaves a flat frame unchanged
    flat[..., 20:40, 30:60] = 129 / 255  # a step of one grey level: still a fixed point of preset a
    model = build_model("blind_wiener", width=8, blocks=1, keep_below=0.7)
    torch.nn.init.normal_(model.tail.weight, std=0.1)
    assert bool(model.fixed_points(flat).all())
    with torch.no_grad():
        assert torch.equal(GivenSigma(model, 0.3)(flat), flat)
        assert not torch.equal(GivenSigma(model, 1.0)(flat), flat)


def test_luma_refiner_adds_one_correction_to_every_channel(rng):
    model = build_model("blind_wiener", width=8, blocks=1, refine_on="luma")
    torch.nn.init.normal_(model.tail.weight, std=0.1)
    x = _to_t(blur_uint8(natural_like(rng, 32, 48), "b"))
    with torch.no_grad():
        mid = model.wiener(x, [torch.tensor([1.0])])[0]
        d = model(x, sigma=torch.tensor([1.0])) - mid
    assert torch.allclose(d[:, 0], d[:, 1], atol=1e-6) and torch.allclose(d[:, 1], d[:, 2], atol=1e-6)
    assert d.abs().max() > 1e-3
    with pytest.raises(ValueError, match="refine_on"):
        build_model("blind_wiener", refine_on="yuv")


def test_varied_content_batches_are_deterministic_whole_grey_levels(rng):
    frames = np.stack([natural_like(rng, 64, 80) for _ in range(2)])
    cc = ContinuumCrops(frames, 24, seed=1)
    blurred, sharp, sig = cc.batch(5, 3, "cpu", crop=40, stream=1, vary_content=True)
    assert blurred.shape == sharp.shape == (3, 3, 40, 40) and sig.shape == (3,)
    assert torch.equal((sharp * 255).round(), sharp * 255) or torch.allclose((sharp * 255).round(), sharp * 255)
    assert torch.equal(cc.batch(5, 3, "cpu", crop=40, stream=1, vary_content=True)[0], blurred)


@pytest.mark.parametrize("scale", [2, 4])
def test_refiner_on_pixel_unshuffled_blocks_keeps_any_frame_size(rng, scale):
    """refine_scale > 1: the CNN runs on scale x scale blocks; odd sizes are padded, then cropped back."""
    model = build_model("blind_wiener", width=8, blocks=1, refine_scale=scale)
    assert model.head.in_channels == 12 * scale ** 2 + 1 and model.tail.out_channels == 3 * scale ** 2
    x = _to_t(blur_uint8(natural_like(rng, 37, 51), "b"))
    sigma = torch.tensor([1.0])
    with torch.no_grad():
        mid = model.wiener(x, [sigma])[0]
        assert torch.allclose(model(x, sigma=sigma), mid, atol=1e-6)  # zero-initialised tail: the Wiener filter
        torch.nn.init.normal_(model.tail.weight, std=0.1)
        y = model(x, sigma=sigma)
    assert y.shape == x.shape and (y - mid).abs().max() > 1e-3
    # each output block depends on its neighbourhood only: a change far away leaves a corner alone
    x2 = x.clone()
    x2[..., 30:, 40:] = 0.5
    with torch.no_grad():
        y2 = model(x2, sigma=sigma)
    d = (y2 - y).abs()
    assert d[..., 30:, 40:].max() > 1e-3
    with pytest.raises(ValueError, match="refine_scale"):
        build_model("blind_wiener", refine_scale=3)


def _smooth_frame(h=96, w=128):
    """A slow gradient: OpenCV's 3x3 sigma 0.3 blur (preset a) leaves it identical."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(40 + x // 3), (60 + y // 2), (90 + (x + y) // 5)], -1).clip(0, 255).astype(np.uint8)


def test_a_frame_preset_a_leaves_identical_comes_back_identical(monkeypatch):
    """The no-harm rule: a frame that 8-bit preset a (checked against OpenCV's GaussianBlur) maps onto
    itself comes back unchanged while its sharpest tile reads below keep_below, however the estimate
    would open the gate; read as a strong blur (a smooth frame under b is also a fixed point) it is
    deblurred. A textured frame, which preset a changes, is not a fixed point."""
    import cv2

    from deblur_utils.training.inference import predict_uint8

    torch.manual_seed(0)
    model = BlindWienerNet(width=8, blocks=1, est_tile=64).eval()
    smooth = _smooth_frame()
    assert np.array_equal(cv2.GaussianBlur(smooth, (3, 3), 0.3, borderType=cv2.BORDER_REFLECT_101), smooth)
    assert bool(model.fixed_points(to_tensor(smooth[None]))[0])
    reads = {}
    monkeypatch.setattr(model.estimator, "estimate",
                        lambda x, q=0.5, low=0.0: (torch.full((len(x),), reads["s"]), torch.full((len(x),), reads["s"])))
    reads["s"] = 0.7  # a soft photo: the gate is open, the frame is kept
    assert np.array_equal(predict_uint8(model, smooth, "cpu"), smooth)
    model.keep_fixed = False
    assert not np.array_equal(predict_uint8(model, smooth, "cpu"), smooth)  # without the rule: deconvolved
    model.keep_fixed, reads["s"] = True, 1.5  # read as a strong blur: deblurred
    assert not np.array_equal(predict_uint8(model, smooth, "cpu"), smooth)
    textured = natural_like(np.random.default_rng(3), 96, 128)
    assert not np.array_equal(cv2.GaussianBlur(textured, (3, 3), 0.3, borderType=cv2.BORDER_REFLECT_101), textured)
    assert not bool(model.fixed_points(to_tensor(textured[None]))[0])


def test_the_deconvolution_sigma_is_a_low_quantile_of_the_tiles():
    """sigma_quantile picks the tiles' quantile (0.5: the median); the gate keeps the sharpest tile."""
    est = SpectralSigma(tile=32).requires_grad_(False)
    x = torch.rand(1, 3, 64, 96)
    logs = est.tile_log_sigma(x)[0]
    q25, sharpest = est.estimate(x, 0.25)
    med, _ = est.estimate(x, 0.5)
    assert float(sharpest) == pytest.approx(float(logs.min().exp()))
    assert float(med) == pytest.approx(float(logs.median().exp()))
    assert float(q25) == pytest.approx(float(torch.quantile(logs, 0.25, interpolation="lower").exp()))
    assert float(sharpest) <= float(q25) <= float(med)
    with pytest.raises(ValueError, match="sigma_quantile"):
        BlindWienerNet(sigma_quantile=1.5)


def test_one_blur_estimates_read_the_set_quantile_of_the_tiles():
    """estimate_sigmas reads the model's sigma_quantile unless told another quantile (the one-blur row
    passes set_quantile); set_quantile outside [0, 1] is refused."""
    from deblur_utils.training.inference import estimate_sigmas

    torch.manual_seed(0)
    model = BlindWienerNet(width=8, blocks=1, est_tile=32, sigma_quantile=0.0, set_quantile=0.5)
    frames = (np.random.default_rng(0).random((2, 64, 96, 3)) * 255).astype(np.uint8)
    x = to_tensor(frames)
    with torch.no_grad():
        logs = model.estimator.tile_log_sigma(x)
    np.testing.assert_allclose(estimate_sigmas(model, frames, "cpu"), logs.min(1).values.exp().numpy(), rtol=1e-6)
    np.testing.assert_allclose(estimate_sigmas(model, frames, "cpu", quantile=model.set_quantile),
                               logs.median(1).values.exp().numpy(), rtol=1e-6)
    assert model.set_quantile == 0.5 and BlindWienerNet().set_quantile == 0.5
    with pytest.raises(ValueError, match="set_quantile"):
        BlindWienerNet(set_quantile=-0.1)


def test_views_average_the_refiners_corrections_of_flipped_frames(rng):
    """views > 1 (inference only): the mean of the refiner's corrections of the flipped and transposed
    frame, each turned back; a flipped frame then comes back as the flipped output, and training is
    untouched."""
    model = build_model("blind_wiener", width=8, blocks=1)
    torch.nn.init.normal_(model.tail.weight, std=0.1)
    x = _to_t(blur_uint8(natural_like(rng, 40, 56), "b"))
    sigma = torch.tensor([1.0])
    model.eval()
    with torch.no_grad():
        one = model(x, sigma=sigma)
        mid = model.wiener(x, [sigma])[0]
        model.views = 2
        two = model(x, sigma=sigma)
        model.views = 8
        eight = model(x, sigma=sigma)
        flipped = model(x.flip(-2), sigma=sigma)
        transposed = model(x.transpose(-1, -2), sigma=sigma)
    assert not torch.allclose(one, two, atol=1e-6) and not torch.allclose(two, eight, atol=1e-6)
    assert torch.allclose(flipped, eight.flip(-2), atol=1e-5)  # the 8 views are closed under flips
    assert torch.allclose(transposed, eight.transpose(-1, -2), atol=1e-5)  # and under the transpose
    assert (eight - mid).abs().max() > 1e-3  # still a correction of the Wiener estimate
    model.train()
    assert torch.equal(model(x, sigma=sigma), one)  # training sees one view
    with pytest.raises(ValueError, match="views"):
        build_model("blind_wiener", views=3)
    # a call's own views (GivenSigma's one-blur row) leave the model's, which other rows share, alone
    model.eval()
    model.views = 1
    with torch.no_grad():
        assert torch.equal(model(x, sigma=sigma, views=8), eight)
        assert torch.equal(GivenSigma(model, 1.0, views=8)(x), eight)
        assert torch.equal(GivenSigma(model, 1.0)(x), one) and model.views == 1
    with pytest.raises(ValueError, match="views"):
        GivenSigma(model, 1.0, views=5)


def test_told_a_known_mild_blur_undoes_that_blur_not_preset_a():
    """Below the gate the blind model keeps preset a's inverse (it cannot tell a mild blur from preset a
    on a soft photo). Told the blur (``GivenSigma``, known), the output there is that blur's own Wiener
    inverse (at the layer's strength for that sigma), blending into the full output one gate width
    higher; a fixed point of preset a's blur is no reason to leave a frame told sigma 0.5 as it is;
    given an estimate (``known=False``, one sigma per set) the blind rules hold."""
    flat = torch.full((1, 3, 64, 96), 128 / 255)
    flat[..., 20:40, 30:60] = 129 / 255  # a fixed point of preset a's blur
    model = build_model("blind_wiener", width=8, blocks=1, gate_lo=0.6, keep_below=0.7, floor_balance=1e-5)
    torch.nn.init.normal_(model.tail.weight, std=0.1)
    x = torch.rand(2, 3, 48, 64)
    with torch.no_grad():
        model.wiener.log_balance.data.normal_(-9.0, 0.5)  # a strength of its own at every sigma
        for sigma in (0.5, 0.7):  # below the gate, and at its top (the blind gate fully open there)
            own = model.wiener(x, [torch.full((2,), sigma)])[0]
            assert torch.allclose(GivenSigma(model, sigma)(x), own, atol=1e-6)
        preset_a = model.wiener(x, [torch.full((2,), 0.3)], [1e-5])[0]
        assert torch.allclose(GivenSigma(model, 0.5, known=False)(x), preset_a, atol=1e-6)
        assert not torch.allclose(model.wiener(x, [torch.full((2,), 0.5)])[0], preset_a, atol=1e-3)
        own, full = model.wiener(x, [torch.full((2,), 0.75)])[0], GivenSigma(model, 0.75, known=False)(x)
        assert torch.allclose(GivenSigma(model, 0.75)(x), (own + full) / 2, atol=1e-5)  # half open
        assert not torch.equal(GivenSigma(model, 0.5)(flat), flat)
        assert torch.equal(GivenSigma(model, 0.5, known=False)(flat), flat)
        assert torch.equal(GivenSigma(model, 0.3)(flat), flat)  # preset a told: as before
        for sigma in (0.3, 0.8, 1.3):  # at preset a and above the gate the two agree bit for bit
            for frames in (x, flat):
                assert torch.equal(GivenSigma(model, sigma)(frames), GivenSigma(model, sigma, known=False)(frames))
        # ... whatever the thresholds: keep_below above the blend (a fixed point kept by the blind rules at
        # 0.75), and a top (0.6 + 0.05 + 0.05) that float sums put just above 0.7
        for kwargs, sigmas in (({"gate_lo": 0.42, "keep_below": 0.8}, (0.62, 0.75)),
                               ({"gate_lo": 0.6, "gate_width": 0.05, "keep_below": 0.7}, (0.7,))):
            other = build_model("blind_wiener", width=8, blocks=1, **kwargs)
            torch.nn.init.normal_(other.tail.weight, std=0.1)
            for sigma in sigmas:
                for frames in (x, flat):
                    assert torch.equal(GivenSigma(other, sigma)(frames), GivenSigma(other, sigma, known=False)(frames))


def test_told_a_mild_blur_matches_scikit_images_wiener_filter(rng):
    """Below the gate a known blur's output is a plain Wiener inverse of the 8-bit kernel: on a frame
    blurred at sigma 0.5 (OpenCV's 8-bit blur) it scores within 1 dB of scikit-image's Wiener filter at
    the same strength (1e-4, the layer's start), and far above the blind rules' preset-a floor."""
    from deblur_utils.evaluation.classical import wiener_deblur

    sharp = natural_like(rng, 96, 128)
    kernel = (kernel_size_for_sigma(0.5), 0.5)
    blurred = blur_uint8(sharp, kernel)
    model = build_model("blind_wiener", width=8, blocks=1, gate_lo=0.6, floor_balance=1e-5).eval()
    with torch.no_grad():
        known = to_uint8(GivenSigma(model, 0.5)(to_tensor(blurred[None])))[0]
        rules = to_uint8(GivenSigma(model, 0.5, known=False)(to_tensor(blurred[None])))[0]
    skimage_db = psnr_db(sharp, wiener_deblur(blurred, kernel, 1e-4))
    assert abs(psnr_db(sharp, known) - skimage_db) < 1.0
    assert psnr_db(sharp, known) > psnr_db(sharp, rules) + 3
