"""Tests for the colour adjustments in plugins/convert/color/ against NumPy/OpenCV references."""
from __future__ import annotations

import numpy as np
import pytest

from plugins.convert.color._base import COLOR_CHOICES, get_color
from plugins.convert.color.avg_color import Color as AvgColor
from plugins.convert.color.match_hist import Color as MatchHist
from plugins.convert.color.seamless_clone import Color as SeamlessClone

_S = 32


def _disc_mask(size: int = _S, radius: float = 10.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= radius ** 2
    return inside.astype("float32")[..., None]


def test_choices_and_loader() -> None:
    assert COLOR_CHOICES == ["avg-color", "match-hist", "none", "seamless-clone"]
    assert get_color("none") is None
    assert isinstance(get_color("avg-color"), AvgColor)
    assert isinstance(get_color("seamless-clone"), SeamlessClone)
    with pytest.raises(ValueError, match="Unknown colour adjustment 'manual-balance'"):
        get_color("manual-balance")


def test_avg_color_spec_example() -> None:
    """Spec §6.4: masked means old (0.40, 0.50, 0.60), new 0.45 everywhere: the new face moves
    by (-0.05, +0.05, +0.15) at every pixel, then is clipped. Outside the mask, old has other
    colours, which must not count."""
    mask = _disc_mask()
    old = np.where(mask > 0, np.array([0.40, 0.50, 0.60], "float32"),
                   np.array([0.9, 0.1, 0.0], "float32")).astype("float32")
    new = np.full((_S, _S, 3), 0.45, "float32")
    new[0, 0] = (0.02, 0.99, 0.3)  # an outside pixel that the shift pushes out of range
    result = AvgColor().run(old, new, mask)
    expected = np.clip(new + np.array([-0.05, 0.05, 0.15], "float32"), 0, 1)
    np.testing.assert_allclose(result, expected, atol=1e-6)
    assert result[0, 0, 1] == 1.0 and result.dtype == np.float32


def test_avg_color_weighted_mask_and_mask_channel_kept() -> None:
    rng = np.random.default_rng(0)
    old, new = rng.random((2, _S, _S, 3), dtype="float32") * 0.5 + 0.25
    mask = rng.random((_S, _S, 1), dtype="float32")
    face4 = np.concatenate([new, mask], axis=-1)
    result = AvgColor().run(old, face4, mask)
    shift = [np.average(old[..., c] - new[..., c], weights=mask[..., 0]) for c in range(3)]
    np.testing.assert_allclose(result[..., :3], np.clip(new + shift, 0, 1), atol=1e-5)
    np.testing.assert_array_equal(result[..., 3:], mask)


def test_avg_color_empty_mask_takes_the_old_face() -> None:
    rng = np.random.default_rng(1)
    old, new = rng.random((2, _S, _S, 3), dtype="float32")
    result = AvgColor().run(old, new, np.zeros((_S, _S, 1), "float32"))
    np.testing.assert_allclose(result, old, atol=1e-6)


def test_match_hist_maps_masked_values_to_the_old_distribution() -> None:
    """With threshold 100 and distinct values, quantile mapping of a monotone transform of old
    gives old back exactly inside the mask; outside the mask nothing changes."""
    rng = np.random.default_rng(2)
    mask = _disc_mask()
    old = rng.permutation(_S * _S * 3).reshape(_S, _S, 3).astype("float32") / (_S * _S * 3)
    new = 0.2 + 0.5 * old ** 2  # same order, another distribution
    new[~mask[..., 0].astype(bool)] = 0.123
    result = MatchHist(threshold=100).run(old, new, mask)
    inside = mask[..., 0] > 0
    np.testing.assert_allclose(result[inside], old[inside], atol=1e-6)
    np.testing.assert_array_equal(result[~inside], new[~inside])


def test_match_hist_threshold_pulls_the_top_in() -> None:
    """threshold 90: the largest new value sits at quantile 0.9 and gets the old value
    interpolated there (old's empirical CDF, as np.interp over its sorted values)."""
    rng = np.random.default_rng(3)
    mask = np.ones((_S, _S, 1), "float32")
    old = rng.random((_S, _S, 3), dtype="float32")
    new = rng.random((_S, _S, 3), dtype="float32")
    result = MatchHist(threshold=90).run(old, new, mask)
    for channel in range(3):
        values = np.sort(old[..., channel].ravel())
        cdf = np.arange(1, values.size + 1, dtype="float64") / values.size
        top = np.unravel_index(np.argmax(new[..., channel]), (_S, _S))
        assert result[top][channel] == pytest.approx(np.interp(0.9, cdf, values), abs=1e-5)
        order = np.argsort(new[..., channel].ravel())
        assert np.all(np.diff(result[..., channel].ravel()[order]) >= -1e-7)  # monotone


def test_match_hist_reads_convert_ini_default() -> None:
    assert MatchHist().threshold == pytest.approx(0.99)


def test_seamless_clone_keeps_outside_and_matches_a_smooth_old_face() -> None:
    """A flat new face has no gradient, so the Poisson solution inside the mask is the harmonic
    fill of the old face's boundary: for a linear ramp that is the ramp itself."""
    yy, xx = np.mgrid[:_S * 2, :_S * 2].astype("float32")
    old = np.stack([0.2 + xx / 400, 0.3 + yy / 300, 0.5 + (xx + yy) / 800], axis=-1)
    new = np.full_like(old, 0.9)
    mask = _disc_mask(_S * 2, 16.0)
    result = SeamlessClone().run(old, new, mask)
    rounded_old = np.rint(old * 255) / 255
    rows, cols = np.nonzero(mask[..., 0])
    outside = np.ones(mask.shape[:2], bool)
    outside[rows.min():rows.max(), cols.min():cols.max()] = False
    np.testing.assert_allclose(result[outside], rounded_old[outside], atol=1e-6)
    inside = mask[..., 0] > 0
    assert np.abs(result[inside] - old[inside]).max() <= 3 / 255
    assert np.abs(new[inside] - old[inside]).min() > 0.1  # the new face really was different


def test_seamless_clone_empty_mask_keeps_new_face() -> None:
    new = np.full((_S, _S, 3), 0.7, "float32")
    result = SeamlessClone().run(np.zeros_like(new), new, np.zeros((_S, _S, 1), "float32"))
    np.testing.assert_array_equal(result, new)
