"""Tests for faceswap_original.convert: the command line on frames folders and videos with an
alignments file (a tiny trained model), and the aligned-face mode's crop: the one training crop
(lib.align.training_crop), so a model trained with a centering, coverage and vertical offset is
fed the same framing."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from faceswap_original.convert import _read, swap_faces
from lib.align.aligned_face import AlignedFace
from tests.lib.align.faces import draw_frame, spec_landmarks, write_extract


class _Echo:
    """A swap model whose output is its input (channels last, size 32)."""

    inputs = [SimpleNamespace(shape=(None, 32, 32, 3))]

    @staticmethod
    def predict(feed, verbose=0):  # Keras' signature
        return feed


def _plugin(coverage: float = 1.0) -> SimpleNamespace:
    return SimpleNamespace(model=_Echo(), color_order="bgr", coverage_ratio=coverage)


def test_faceswap_extract_is_cut_as_training_cuts_it(tmp_path: Path) -> None:
    landmarks = spec_landmarks()
    write_extract(tmp_path / "frame_0.png", landmarks, draw_frame(landmarks), 512)
    image, box = _read(tmp_path / "frame_0.png", ("face", 0.875, 0.1))
    # faceswap_data.md §3.8: face, k = 0.875, y = 0.1 -> roi [88, 89, 424, 425]
    assert box == (88, 89, 336)
    assert box[:2] == AlignedFace(landmarks, "face", 64, 0.875, 0.1).crop_roi(512)[:2]
    assert image.shape == (512, 512, 3)


def test_simple_image_crop_and_offset(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "face.png"), np.full((64, 64, 3), 9, "uint8"))
    _, box = _read(tmp_path / "face.png", ("face", 0.75, 0.0))
    assert box == (8, 8, 48)
    _, box = _read(tmp_path / "face.png", ("face", 1.0, 0.1))
    # the centre moves up by 0.1 x the face-centred core (64 * 0.5): rint(32 - 3.2) = 29
    assert box == (0, -3, 64)


def test_swap_faces_writes_back_only_the_crop_inside_the_image() -> None:
    rng = np.random.default_rng(0)
    image = cv2_smooth(rng)
    result = swap_faces(_plugin(), [image], boxes=[(-4, 6, 64)])[0]
    # an echo model: the face comes back as it was fed (resampled 64 -> 32 -> 64)
    inside = result[6 + 8:64 - 8, 8:60 - 8].astype(int)
    assert np.abs(inside - image[14:56, 8:52]).mean() < 6
    np.testing.assert_array_equal(result[:6], image[:6])  # above the crop: untouched
    default = swap_faces(_plugin(0.75), [image])[0]
    np.testing.assert_array_equal(default[:8], image[:8])  # outside the centred 48 px crop


def cv2_smooth(rng: np.random.Generator) -> np.ndarray:
    import cv2

    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return cv2.resize(small, (64, 64), interpolation=cv2.INTER_CUBIC)


# --- the command line on frames and videos (a tiny trained Original model) ----------------------
_TINY_CONFIG = ("[global]\ncoverage = 87.5\n[global.loss]\nloss_function = mae\n"
                "loss_function_2 = none\n[model.original]\nlowmem = True\n")


@pytest.fixture(name="tiny_model", scope="module")
def fixture_tiny_model(tmp_path_factory):
    """A 64 px Original model trained for one iteration on demo faces, and its train.ini."""
    from faceswap_original.cli import main
    from faceswap_original.demo_data import generate_demo_data

    root = tmp_path_factory.mktemp("tiny_model")
    faces_a, faces_b = generate_demo_data(root / "data", count=4, seed=2, size=64)
    config = root / "train.ini"
    config.write_text(_TINY_CONFIG)
    model_dir = root / "model"
    assert main(["train", "-A", str(faces_a), "-B", str(faces_b), "-m", str(model_dir), "-b",
                 "2", "-i", "1", "-C", str(config), "-n"]) == 0
    return model_dir, config


def _frames(folder: Path, count: int) -> Path:
    folder.mkdir()
    yy, xx = np.mgrid[:120, :176]
    for index in range(count):
        frame = np.stack([xx, yy * 2, (xx + yy + 30 * index)], axis=-1) % 256
        cv2.imwrite(str(folder / f"clip_{index + 1:04d}.png"), frame.astype("uint8"))
    return folder


def _face(centre: tuple[float, float]) -> dict:
    from lib.align.alignments import face_from_landmarks
    from tests.plugins.convert.frame_convert_test import _landmarks

    return face_from_landmarks(_landmarks(centre, 50.0, 5.0))


def _output_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_cli_converts_a_frames_folder(tiny_model, tmp_path: Path) -> None:
    from faceswap_original.cli import main
    from lib.align.alignments import save_alignments

    model_dir, config = tiny_model
    frames = _frames(tmp_path / "frames", 3)
    save_alignments(frames / "alignments.fsa", {  # found where Faceswap puts it
        "clip_0001.png": {"faces": [_face((60, 60))], "video_meta": {}},
        "clip_0002.png": {"faces": [], "video_meta": {}}})  # clip_0003 is not in the file
    out = tmp_path / "out"
    assert main(["convert", "-i", str(frames), "-o", str(out), "-m", str(model_dir),
                 "-C", str(config), "-c", "none", "-j", "1"]) == 0
    assert _output_files(out) == ["clip_0001.png", "clip_0002.png", "clip_0003.png"]
    for name in ("clip_0002.png", "clip_0003.png"):  # no faces: unchanged
        np.testing.assert_array_equal(cv2.imread(str(out / name)), cv2.imread(str(frames / name)))
    before, after = (cv2.imread(str(folder / "clip_0001.png")) for folder in (frames, out))
    changed = np.abs(after.astype(int) - before.astype(int)).max(axis=-1) > 0
    assert changed[40:80, 40:80].mean() > 0.5  # the face's centre was swapped
    assert not changed[:, 120:].any() and not changed[110:].any()  # far from it: untouched


def test_cli_converts_a_video_to_a_video(tiny_model, tmp_path: Path) -> None:
    from faceswap_original.cli import main
    from lib.align.alignments import save_alignments
    from lib.video import VideoReader, video_frame_name
    from tests.lib.video_test import _make_video

    model_dir, config = tiny_model
    video = _make_video(tmp_path / "clip.mp4", Fraction(12), audio=False, frames=6, width=176,
                        height=120)
    save_alignments(tmp_path / "faces", {  # -p, its extension forced to .fsa
        video_frame_name(video, index): {"faces": [_face((70 + 4 * index, 60))],
                                         "video_meta": {}}
        for index in range(0, 6, 2)})
    out = tmp_path / "out"
    assert main(["convert", "-i", str(video), "-o", str(out), "-m", str(model_dir),
                 "-p", str(tmp_path / "faces.fsa"), "-w", "ffmpeg", "-C", str(config)]) == 0
    (written,) = out.iterdir()
    with VideoReader(video) as source, VideoReader(written) as result:
        assert (result.fps, result.width, result.height) == (source.fps, 176, 120)
        frames_in, frames_out = list(source), list(result)
    assert len(frames_out) == len(frames_in) == 6
    differences = [np.abs(a.astype(int) - b.astype(int)).mean()
                   for a, b in zip(frames_in, frames_out, strict=True)]
    # frames with a face changed; frames without one only by the encoder's loss
    assert min(differences[0::2]) > 2 * max(differences[1::2])


def test_cli_refuses_a_hostile_alignments_file(tmp_path: Path, capsys) -> None:
    import pickle
    import zlib

    from faceswap_original.cli import main

    frames = _frames(tmp_path / "frames", 1)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (marker, "ran"))

    (frames / "alignments.fsa").write_bytes(zlib.compress(pickle.dumps(
        {"__meta__": {"version": 2.4}, "__data__": {"clip_0001.png": Evil()}})))
    out = tmp_path / "out"
    # the file is refused before the model is looked at: no model folder is needed
    assert main(["convert", "-i", str(frames), "-o", str(out), "-m",
                 str(tmp_path / "no_model")]) == 1
    err = capsys.readouterr().err
    assert "alignments.fsa" in err and "Traceback" not in err
    assert not marker.exists() and not out.exists()


@pytest.mark.slow  # converts the model to ONNX (tf2onnx)
def test_cli_onnx_backend_in_frames_mode_matches_keras(tiny_model, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    import keras

    from faceswap_original.cli import main
    from lib.align.alignments import save_alignments

    if keras.backend.backend() != "tensorflow":
        pytest.skip("--backend onnx converts through TensorFlow")
    model_dir, config = tiny_model
    frames = _frames(tmp_path / "frames", 1)
    save_alignments(frames / "alignments.fsa",
                    {"clip_0001.png": {"faces": [_face((80, 60))], "video_meta": {}}})
    for backend in ("keras", "onnx"):
        assert main(["convert", "-i", str(frames), "-o", str(tmp_path / backend), "-m",
                     str(model_dir), "-C", str(config), "--backend", backend]) == 0
    keras_frame, onnx_frame = (cv2.imread(str(tmp_path / name / "clip_0001.png")).astype(int)
                               for name in ("keras", "onnx"))
    assert np.abs(keras_frame - onnx_frame).max() <= 2
