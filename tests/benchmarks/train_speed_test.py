"""benchmarks/train_speed.py: its plain baseline is the Original network, its FLOPs the
network's."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))

import train_speed


def _conv(size_out: int, kernel: int, channels_in: int, filters: int) -> int:
    return 2 * size_out * size_out * filters * kernel * kernel * channels_in


def _original_forward_flops(lowmem: bool) -> tuple[int, int]:
    """Encoder and one decoder, by hand from Faceswap's Original layer shapes."""
    encoder = (_conv(32, 5, 3, 128) + _conv(16, 5, 128, 256) + _conv(8, 5, 256, 512)
               + (0 if lowmem else _conv(4, 5, 512, 1024)))
    dim = 512 if lowmem else 1024
    flat = 8 * 8 * 512 if lowmem else 4 * 4 * 1024
    encoder += 2 * flat * dim + 2 * dim * 4 * 4 * 1024 + _conv(4, 3, 1024, 2048)
    decoder = (_conv(8, 3, 512, 1024) + _conv(16, 3, 256, 512) + _conv(32, 3, 128, 256)
               + _conv(64, 5, 64, 3))
    return encoder, decoder


@pytest.mark.parametrize(("lowmem", "params"), [(False, 82_062_470), (True, 60_565_126)])
def test_plain_baseline_is_the_original_network(lowmem, params):
    """Same parameter count as the Original plugin (82,062,470; lowmem 60,565,126, as
    original_test.py checks) and the analytic FLOPs of its layer shapes (182.4 GFLOP per
    iteration at batch 8)."""
    model = train_speed.plain_original(lowmem)
    assert model.count_params() == params
    encoder, decoder = _original_forward_flops(lowmem)
    assert train_speed.iteration_flops(model, 8) == 3 * 8 * (2 * encoder + 2 * decoder)
    if not lowmem:
        assert train_speed.iteration_flops(model, 8) / 1e9 == pytest.approx(182.4, abs=0.05)
