"""Bad input everywhere: broken or unusual images, broken config files and out-of-range command
line arguments each give a specific message and exit status 1, and the model folder is left as it
was."""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from lib.training.generator import MAX_IMAGE_SIZE, read_image
from tests.reliability.helpers import folder_snapshot, make_data, run_main, train_args


@pytest.fixture(name="data", scope="module")
def fixture_data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("bad_input"))


@pytest.fixture(name="model_dir")
def fixture_model_dir(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "keep.txt").write_text("untouched")
    return model_dir


def _png(image: np.ndarray) -> bytes:
    success, encoded = cv2.imencode(".png", image)
    assert success
    return encoded.tobytes()


def _claimed_size_png(width: int, height: int) -> bytes:
    """A valid 8x8 PNG whose header (with a correct checksum) claims ``width`` x ``height``: a
    decoder would allocate for the claimed size."""
    data = bytearray(_png(np.zeros((8, 8, 3), "uint8")))
    ihdr = bytearray(data[12:29])  # type + 13 bytes of IHDR data
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def _bad_images(kind: str) -> bytes:
    good = _png(np.full((32, 32, 3), 100, "uint8"))
    return {"truncated": good[:len(good) // 2],
            "zero-byte": b"",
            "not-an-image": b"this is a text file with an image extension\n" * 10,
            "huge": _claimed_size_png(20_000, 20_000)}[kind]


_REASONS = {"truncated": "corrupt", "zero-byte": "empty file", "not-an-image": "corrupt",
            "huge": f"20000x20000 px, larger than {MAX_IMAGE_SIZE} px (the limit"}


# --- images -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(_REASONS))
def test_bad_images_exit_1_and_change_nothing(kind, data, model_dir, tmp_path, capsys):
    faces_a = tmp_path / "faces_a"
    faces_a.mkdir()
    for index in range(2):
        (faces_a / f"bad_{index}.png").write_bytes(_bad_images(kind))
    before = folder_snapshot(model_dir)
    assert run_main(train_args((faces_a, data[1], data[2]), model_dir, 1)) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("ERROR: ") and "Traceback" not in err
    assert "0 usable training image(s)" in err
    assert _REASONS[kind] in err and "bad_0.png" in err and "bad_1.png" in err
    assert folder_snapshot(model_dir) == before


@pytest.mark.smoke
@pytest.mark.parametrize("kind", list(_REASONS))
def test_read_image_refuses_bad_files(kind, tmp_path):
    path = tmp_path / "face.png"
    path.write_bytes(_bad_images(kind))
    face, alpha, why = read_image(path)
    assert face is None and alpha is None
    assert _REASONS[kind] in why


@pytest.mark.smoke
def test_read_image_converts_16_bit_grayscale_and_alpha(tmp_path):
    rng = np.random.default_rng(0)
    deep = rng.integers(0, 65536, (8, 8, 3), dtype="uint16")
    (tmp_path / "deep.png").write_bytes(_png(deep))
    face, alpha, why = read_image(tmp_path / "deep.png")
    assert why == "" and alpha is None and face.dtype == np.uint8
    np.testing.assert_array_equal(face, np.floor(deep / 257.0 + 0.5).astype("uint8"))

    gray = rng.integers(0, 256, (8, 8), dtype="uint8")
    (tmp_path / "gray.png").write_bytes(_png(gray))
    face, alpha, _ = read_image(tmp_path / "gray.png")
    assert face.shape == (8, 8, 3) and alpha is None
    for channel in range(3):
        np.testing.assert_array_equal(face[..., channel], gray)

    bgra = rng.integers(0, 256, (8, 8, 4), dtype="uint8")
    (tmp_path / "alpha.png").write_bytes(_png(bgra))
    face, alpha, _ = read_image(tmp_path / "alpha.png")
    np.testing.assert_array_equal(face, bgra[..., :3])
    np.testing.assert_array_equal(alpha, bgra[..., 3])


@pytest.mark.smoke
def test_read_image_accepts_the_size_limit(tmp_path):
    path = tmp_path / "limit.png"
    path.write_bytes(_png(np.zeros((MAX_IMAGE_SIZE, 1, 3), "uint8")))
    face, _, why = read_image(path)
    assert why == "" and face.shape == (MAX_IMAGE_SIZE, 1, 3)
    path.write_bytes(_png(np.zeros((MAX_IMAGE_SIZE + 1, 1, 3), "uint8")))
    face, _, why = read_image(path)
    assert face is None and f"1x{MAX_IMAGE_SIZE + 1} px" in why


# --- config files -------------------------------------------------------------------------------
_CONFIGS = {
    "unknown section": ("[global.optimiser]\nlearning_rate = 5e-5\n",
                        ["unknown section [global.optimiser]", "Did you mean"]),
    "unknown option": ("[global.optimizer]\nlearning_rat = 5e-5\n",
                       ["unknown option 'learning_rat'", "Did you mean 'learning_rate'?"]),
    "wrong type": ("[global.optimizer]\nlearning_rate = fast\n",
                   ["[global.optimizer]", "'fast'", "learning_rate"]),
    "out of range": ("[global]\ncoverage = 10\n", ["[global]", "'10'", "coverage"]),
}


@pytest.mark.parametrize("case", list(_CONFIGS))
def test_bad_config_exits_1_and_changes_nothing(case, data, model_dir, tmp_path, capsys):
    text, expected = _CONFIGS[case]
    config = tmp_path / "bad.ini"
    config.write_text(text)
    before = folder_snapshot(model_dir)
    assert run_main(train_args((data[0], data[1], config), model_dir, 1)) == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("ERROR: ")
    for part in [str(config), *expected]:
        assert part in message, part
    assert folder_snapshot(model_dir) == before
    assert config.read_text() == text


# --- command line -------------------------------------------------------------------------------
@pytest.mark.smoke
@pytest.mark.parametrize(("option", "value"), [("-bs", "0"), ("-bs", "257"), ("-it", "0"),
                                               ("-s", "0"), ("-ss", "-1"), ("-bs", "two")])
def test_out_of_range_arguments_exit_1(option, value, data, model_dir, capsys):
    before = folder_snapshot(model_dir)
    assert run_main([*train_args(data, model_dir, 1), option, value]) == 1
    err = capsys.readouterr().err
    assert option in err and ("out of range" in err or "not a whole number" in err)
    assert folder_snapshot(model_dir) == before
