"""Tests for the synthetic demo faces (`faceswap_original.demo_data`)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceswap_original import demo_data
from faceswap_original.demo_data import generate_demo_data, render_face, write_demo_faces

EYES = (slice(36, 42), slice(42, 48))
OUTER_MOUTH = slice(48, 60)


def _render(identity: str, index: int, size: int = 128, seed: int = 7
            ) -> tuple[np.ndarray, np.ndarray]:
    return render_face(identity, np.random.default_rng((seed, index)), size)


def _faces(identity: str, count: int, size: int = 128) -> list[tuple[np.ndarray, np.ndarray]]:
    return [_render(identity, index, size) for index in range(count)]


def _hull_mask(shape: tuple[int, int], points: np.ndarray, grow: int = 0) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    if grow:
        mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return mask.astype(bool)


def _aspect_ratio(alpha: np.ndarray) -> float:
    """Minor over major axis of the mask, from its second moments (independent of landmarks)."""
    ys, xs = np.nonzero(alpha > 127)
    eigenvalues = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(np.float64)))
    return float(np.sqrt(eigenvalues[0] / eigenvalues[1]))


def _eye_opening(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[37] - landmarks[41]))


# ----------------------------------------------------------------------------------------------
# render_face
# ----------------------------------------------------------------------------------------------
@pytest.mark.smoke
@pytest.mark.parametrize("identity", ["a", "b"])
@pytest.mark.parametrize("size", [64, 128])
def test_render_face_returns_bgra_image_and_68_landmarks(identity: str, size: int) -> None:
    image, landmarks = render_face(identity, np.random.default_rng(0), size)
    assert image.shape == (size, size, 4)
    assert image.dtype == np.uint8
    assert landmarks.shape == (68, 2)
    assert np.issubdtype(landmarks.dtype, np.floating)
    assert np.all(np.isfinite(landmarks))
    assert np.all((landmarks >= 0) & (landmarks <= size - 1))
    assert image[..., :3].std() > 10.0  # a drawing, not a flat fill


def test_render_face_is_deterministic() -> None:
    for identity in ("a", "b"):
        first = render_face(identity, np.random.default_rng(3))
        again = render_face(identity, np.random.default_rng(3))
        other = render_face(identity, np.random.default_rng(4))
        np.testing.assert_array_equal(first[0], again[0])
        np.testing.assert_array_equal(first[1], again[1])
        assert np.abs(first[0].astype(int) - other[0].astype(int)).mean() > 5.0
        assert np.abs(first[1] - other[1]).max() > 1.0


def test_identities_differ_in_colour() -> None:
    means = {identity: np.mean([image[..., :3][image[..., 3] > 200].mean(axis=0)
                                for image, _ in _faces(identity, 12)], axis=0)
             for identity in ("a", "b")}
    # A is pale (skin about BGR 178, 198, 236); B darker, with a red beard over the lower face.
    difference = means["a"] - means["b"]
    assert np.all(difference > 25.0), means
    assert np.linalg.norm(difference) > 80.0, means


def test_identities_differ_in_shape() -> None:
    faces_a, faces_b = _faces("a", 12), _faces("b", 12)
    # Face outline: A round, B a long oval (from the alpha mask's second moments).
    ratio_a = [_aspect_ratio(image[..., 3]) for image, _ in faces_a]
    ratio_b = [_aspect_ratio(image[..., 3]) for image, _ in faces_b]
    assert min(ratio_a) > max(ratio_b) + 0.05, (ratio_a, ratio_b)
    assert 0.65 < np.mean(ratio_a) < 0.9 and 0.45 < np.mean(ratio_b) < 0.7

    # Mouth width relative to the distance between the eyes (landmarks): A narrow, B wide.
    def mouth_width(landmarks: np.ndarray) -> float:
        eyes = np.linalg.norm(landmarks[EYES[0]].mean(axis=0) - landmarks[EYES[1]].mean(axis=0))
        return float(np.linalg.norm(landmarks[54] - landmarks[48]) / eyes)

    width_a = [mouth_width(landmarks) for _, landmarks in faces_a]
    width_b = [mouth_width(landmarks) for _, landmarks in faces_b]
    assert min(width_b) > max(width_a) + 0.1, (width_a, width_b)


@pytest.mark.parametrize("identity", ["a", "b"])
def test_images_of_one_identity_vary(identity: str) -> None:
    faces = _faces(identity, 40)
    images = [image[..., :3].astype(np.int16) for image, _ in faces[:8]]
    points = [landmarks for _, landmarks in faces[:8]]
    for first in range(8):
        for second in range(first + 1, 8):
            assert np.abs(images[first] - images[second]).mean() > 5.0
            assert np.abs(points[first] - points[second]).max() > 1.0  # pose

    # Expression: mouths closed and open, eyes open and blinking.
    mouth_gap = np.array([landmarks[66, 1] - landmarks[62, 1] for _, landmarks in faces])
    assert (mouth_gap < 0.5).sum() >= 5 and (mouth_gap > 3.0).sum() >= 5, mouth_gap
    eye_gap = np.array([_eye_opening(landmarks) for _, landmarks in faces])
    assert (eye_gap < 1.5).sum() >= 1 and (eye_gap > 2.5).sum() >= 20, eye_gap
    # Pose: in-plane rotation of the eye line spreads over several degrees.
    angles = [np.degrees(np.arctan2(*(lm[45] - lm[36])[::-1])) for _, lm in faces]
    assert np.ptp(angles) > 8.0
    # Lighting: the brightness of the face itself changes.
    brightness = [image[..., :3][image[..., 3] > 200].mean() for image, _ in faces]
    assert np.std(brightness) > 3.0


@pytest.mark.parametrize("identity", ["a", "b"])
def test_alpha_mask_is_a_soft_face_mask(identity: str) -> None:
    for image, landmarks in _faces(identity, 6):
        alpha = image[..., 3]
        coverage = (alpha > 127).mean()
        assert 0.2 < coverage < 0.5
        assert (alpha == 255).sum() > 0.15 * alpha.size
        soft = ((alpha > 0) & (alpha < 255)).sum()
        assert soft > 100  # an anti-aliased, slightly blurred edge all round
        assert alpha[0, 0] == alpha[0, -1] == alpha[-1, 0] == alpha[-1, -1] == 0
        # The face (and so the mask) includes the forehead above the brows.
        top_of_mask = np.nonzero((alpha > 127).any(axis=1))[0][0]
        assert top_of_mask < landmarks[17:27, 1].min() - 8
        # The jaw landmarks run along the edge of the mask.
        centre = landmarks[27:36].mean(axis=0)
        for point in landmarks[0:17]:
            direction = (point - centre) / np.linalg.norm(point - centre)
            inside = np.round(point - 4.0 * direction).astype(int)
            outside = np.round(point + 4.0 * direction).astype(int)
            assert alpha[inside[1], inside[0]] > 200
            assert alpha[outside[1], outside[0]] < 55


@pytest.mark.parametrize("identity", ["a", "b"])
def test_landmarks_are_plausible(identity: str) -> None:
    for _, landmarks in _faces(identity, 10):
        eyes = landmarks[36:48]
        mouth = landmarks[48:68]
        brows = landmarks[17:27]
        assert eyes[:, 1].max() < mouth[:, 1].min()
        assert brows[:, 1].mean() < eyes[:, 1].mean()
        assert landmarks[8, 1] > mouth[:, 1].max()  # chin below the mouth
        assert landmarks[30, 1] > eyes[:, 1].mean() and landmarks[30, 1] < mouth[:, 1].min()
        assert landmarks[EYES[0], 0].max() < landmarks[EYES[1], 0].min()  # left eye on the left
        assert landmarks[36, 0] < landmarks[39, 0] < landmarks[42, 0] < landmarks[45, 0]
        assert landmarks[48, 0] < landmarks[51, 0] < landmarks[54, 0]
        assert landmarks[0, 0] < landmarks[8, 0] < landmarks[16, 0]
        assert np.all(np.diff(landmarks[0:9, 1]) > 0)  # the jaw runs down to the chin...
        assert np.all(np.diff(landmarks[8:17, 1]) < 0)  # ...and back up


@pytest.mark.parametrize(("identity", "iris_test"), [
    # Blue iris (BGR 210, 125, 35) against pale skin; green (70, 160, 60) against brown skin.
    pytest.param("a", lambda bgr: bgr[..., 0] - bgr[..., 2] > 50, id="a-blue"),
    pytest.param("b", lambda bgr: (bgr[..., 1] - bgr[..., 2] > 20)
                 & (bgr[..., 1] - bgr[..., 0] > 20), id="b-green"),
])
def test_landmarks_sit_on_the_drawn_eyes_and_mouth(identity: str, iris_test) -> None:
    checked = 0
    for image, landmarks in _faces(identity, 12):
        bgr = image[..., :3].astype(np.int16)
        face = image[..., 3] > 250
        iris = iris_test(bgr) & face
        near_eyes = np.zeros(face.shape, bool)
        for eye in EYES:
            near_eyes |= _hull_mask(face.shape, landmarks[eye], grow=2)
        # Every iris-coloured pixel of the face lies at the eye landmarks, none elsewhere.
        assert (iris & ~near_eyes).sum() <= 2
        if _eye_opening(landmarks) > 2.5:
            for eye in EYES:
                assert (iris & _hull_mask(face.shape, landmarks[eye], grow=1)).sum() >= 2
            checked += 1
        # The lips differ clearly from the skin (or beard) just around them.
        lips = _hull_mask(face.shape, landmarks[OUTER_MOUTH])
        ring = _hull_mask(face.shape, landmarks[OUTER_MOUTH], grow=4) & ~lips
        contrast = np.linalg.norm(bgr[lips].mean(axis=0) - bgr[ring].mean(axis=0))
        assert contrast > 25.0
    assert checked >= 6


def test_render_face_validates_arguments() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"`identity` must be one of \['a', 'b'\].*'c'"):
        render_face("c", rng)
    with pytest.raises(TypeError, match="numpy.random.Generator.*RandomState"):
        render_face("a", np.random.RandomState(0))
    with pytest.raises(ValueError, match="`size` must be between 32 and 2048.*size=16"):
        render_face("a", rng, 16)
    with pytest.raises(TypeError, match="`size` must be an int.*64.0"):
        render_face("a", rng, 64.0)


# ----------------------------------------------------------------------------------------------
# write_demo_faces / generate_demo_data
# ----------------------------------------------------------------------------------------------
def _read_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_write_demo_faces_writes_a_faceswap_face_set(tmp_path: Path) -> None:
    from lib.align.aligned_face import AlignedFace
    from lib.align.aligned_mask import stored_landmark_mask
    from lib.align.detected_face import DetectedFace
    from lib.image import read_image_meta

    paths = write_demo_faces(tmp_path / "new" / "faces", "b", 3, seed=5, size=64)
    folder = tmp_path / "new" / "faces"
    assert paths == [folder / f"b_{index:04d}_0.png" for index in range(3)]
    assert sorted(path.name for path in folder.iterdir()) == [
        "b_0000_0.png", "b_0001_0.png", "b_0002_0.png"]  # no temporary files left
    for index, path in enumerate(paths):
        # The documented seeding: (seed, identity index, image index); PNG is lossless.
        frame, points = render_face("b", np.random.default_rng((5, 1, index)), 64)
        header = read_image_meta(path)
        assert (header["width"], header["height"]) == (64, 64)
        meta = header["itxt"]
        face = DetectedFace.from_png_meta(meta)
        np.testing.assert_array_equal(face.landmarks_xy, points.astype("float32"))
        assert meta["source"] == {
            "alignments_version": 2.4, "original_filename": f"b_{index:04d}_0.png",
            "face_index": 0, "source_filename": f"b_{index:04d}.png", "source_is_video": False,
            "source_frame_dims": (64, 64)}
        for name in ("components", "extended"):
            np.testing.assert_array_equal(face.mask[name].stored_mask,
                                          stored_landmark_mask(points, name).stored_mask)
        # the image is the head-centred extract of the drawn frame
        stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert stored.shape == (64, 64, 3)
        matrix = AlignedFace(points, "head", 64).adjusted_matrix()
        inside = cv2.warpAffine(np.ones((64, 64), "uint8"), matrix, (64, 64),
                                flags=cv2.INTER_NEAREST).astype(bool)
        inside = cv2.erode(inside.astype("uint8"), np.ones((5, 5), "uint8")).astype(bool)
        expected = cv2.warpAffine(frame[..., :3], matrix, (64, 64), flags=cv2.INTER_AREA)
        assert np.abs(stored.astype(int) - expected)[inside].max() <= 1


def test_write_demo_faces_is_deterministic(tmp_path: Path) -> None:
    for name, seed in (("one", 1), ("two", 1), ("three", 2)):
        write_demo_faces(tmp_path / name, "a", 3, seed=seed, size=64)
    first, again, other = (_read_bytes(tmp_path / name) for name in ("one", "two", "three"))
    assert first == again
    assert sorted(other) == sorted(first)
    assert all(other[name] != first[name] for name in first)


def test_write_demo_faces_validates_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="`identity` must be one of"):
        write_demo_faces(tmp_path, "x", 1)
    with pytest.raises(ValueError, match="`count` must be at least 1. Received: count=0"):
        write_demo_faces(tmp_path, "a", 0)
    with pytest.raises(ValueError, match="`seed` must be at least 0. Received: seed=-1"):
        write_demo_faces(tmp_path, "a", 1, seed=-1)
    with pytest.raises(TypeError, match="`count` must be an int. Received: count=True"):
        write_demo_faces(tmp_path, "a", True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.smoke
def test_generate_demo_data_creates_both_folders(tmp_path: Path) -> None:
    folder_a, folder_b = generate_demo_data(tmp_path / "demo", count=4, seed=3, size=64)
    assert (folder_a, folder_b) == (tmp_path / "demo" / "faces_a", tmp_path / "demo" / "faces_b")
    for identity, folder in (("a", folder_a), ("b", folder_b)):
        names = sorted(path.name for path in folder.iterdir())
        assert names == [f"{identity}_{index:04d}_0.png" for index in range(4)]
        image = cv2.imread(str(folder / f"{identity}_0000_0.png"), cv2.IMREAD_UNCHANGED)
        assert image.shape == (64, 64, 3)
    marker = json.loads((tmp_path / "demo" / "demo_data.json").read_text(encoding="utf-8"))
    assert {key: marker[key] for key in ("seed", "count", "size")} == {
        "seed": 3, "count": 4, "size": 64}
    # The two identities come from different random streams even with the same seed.
    assert _read_bytes(folder_a)["a_0000_0.png"] != _read_bytes(folder_b)["b_0000_0.png"]


def test_generate_demo_data_does_not_rewrite_up_to_date_data(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    folders = generate_demo_data(tmp_path, count=3, seed=0, size=64)
    stamps = {path: path.stat().st_mtime_ns for folder in folders for path in folder.iterdir()}
    contents = {path: path.read_bytes() for path in stamps}

    def fail(*args, **kwargs):
        raise AssertionError("write_demo_faces called for data that is up to date")

    monkeypatch.setattr(demo_data, "write_demo_faces", fail)
    assert generate_demo_data(tmp_path, count=3, seed=0, size=64) == folders
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    assert {path: path.read_bytes() for path in stamps} == contents


@pytest.mark.parametrize("change", ["count", "seed", "size", "missing_file", "extra_file",
                                    "old_demo", "bad_marker"])
def test_generate_demo_data_redraws_when_data_does_not_match(tmp_path: Path, change: str
                                                             ) -> None:
    folder_a, folder_b = generate_demo_data(tmp_path, count=3, seed=0, size=64)
    before = _read_bytes(folder_a)
    arguments = {"count": 3, "seed": 0, "size": 64}
    if change == "count":
        arguments["count"] = 2
    elif change == "seed":
        arguments["seed"] = 1
    elif change == "size":
        arguments["size"] = 48
    elif change == "missing_file":
        (folder_b / "b_0001_0.png").unlink()
    elif change == "extra_file":
        (folder_a / "a_0003_0.png").write_bytes((folder_a / "a_0000_0.png").read_bytes())
    elif change == "old_demo":  # the simple-format demo of drawing version 1
        (folder_b / "b_0000.png").write_bytes(b"old")
        (folder_b / "landmarks.json").write_text("{}", encoding="utf-8")
        (tmp_path / "demo_data.json").write_text(json.dumps(
            {"version": 1, "seed": 0, "count": 3, "size": 64}), encoding="utf-8")
    else:
        (tmp_path / "demo_data.json").write_text("{not json", encoding="utf-8")

    generate_demo_data(tmp_path, **arguments)
    count = arguments["count"]
    for identity, folder in (("a", folder_a), ("b", folder_b)):
        names = sorted(path.name for path in folder.iterdir())
        # Stale demo images from an earlier, larger run are removed.
        assert names == [f"{identity}_{index:04d}_0.png" for index in range(count)]
    marker = json.loads((tmp_path / "demo_data.json").read_text(encoding="utf-8"))
    assert (marker["count"], marker["seed"], marker["size"]) == (
        count, arguments["seed"], arguments["size"])
    after = _read_bytes(folder_a)
    if change in ("seed", "size"):
        assert after["a_0000_0.png"] != before["a_0000_0.png"]
    else:  # redrawn with the same settings: the same bytes
        assert after["a_0000_0.png"] == before["a_0000_0.png"]


def test_generate_demo_data_keeps_and_warns_about_foreign_images(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder_a = tmp_path / "faces_a"
    folder_a.mkdir()
    (folder_a / "holiday.jpg").write_bytes(b"not really a jpeg")
    with caplog.at_level("WARNING", logger="faceswap_original.demo_data"):
        generate_demo_data(tmp_path, count=2, size=48)
    assert (folder_a / "holiday.jpg").exists()
    assert "holiday.jpg" in caplog.text
