"""Tests for plugins/convert/frame_convert.py against an independent full-frame recomputation of
the spec's pipeline (faceswap_data.md §6.2-6.4)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lib.align.aligned_face import AlignedFace
from lib.align.aligned_mask import stored_landmark_mask
from lib.align.constants import MEAN_FACE
from lib.errors import FaceswapError
from plugins.convert.frame_convert import (
    ConvertFace,
    ConvertFrame,
    FrameConverter,
    faces_from_alignments,
    training_matrix,
)
from plugins.convert.mask.mask_blend import MaskBlend

_H, _W, _S = 90, 120, 32


def _frame(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:_H, :_W]
    smooth = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1) % 256
    return np.clip(smooth + rng.integers(-20, 20, (_H, _W, 3)), 0, 255).astype("uint8")


def _matrix(centre_x: float, centre_y: float, face_px: float, degrees: float) -> np.ndarray:
    """Frame -> aligned face (side _S): the frame square of side ``face_px`` about the centre,
    rotated, maps onto the aligned face."""
    scale = _S / face_px
    angle = np.deg2rad(degrees)
    rotation = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    offset = np.array([_S / 2, _S / 2]) - rotation @ np.array([centre_x, centre_y])
    return np.hstack([rotation, offset[:, None]])


def _disc(size: int = 64, radius: int = 22) -> np.ndarray:
    mask = np.zeros((size, size), "uint8")
    cv2.circle(mask, (size // 2, size // 2 + 2), radius, 255, -1)
    return mask[..., None]


def _predict_invert(batch: np.ndarray) -> np.ndarray:
    """A stand-in swap model whose output differs from its input everywhere."""
    return (1.0 - batch) * 0.8 + 0.1


def _reference(frame: np.ndarray, faces: list[ConvertFace], predict, mask_type: str,
               color: str = "none", transparent: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The spec's pipeline on the whole frame, written independently of the module: returns
    the converted frame (with ``transparent``, the BGRA canvas, clipped, as ``uint8``) and the
    warped alpha channel."""
    height, width = frame.shape[:2]
    background = frame.astype("float32") / 255.0
    canvas = np.concatenate([background, np.zeros((height, width, 1), "float32")], axis=-1)
    box = np.zeros((_S, _S), "float32")
    box[2:-2, 2:-2] = 1.0  # edge = 32 // 32 + 1 = 2
    box = cv2.GaussianBlur(box, (5, 5), 0)  # diameter 28 * 6 % = 1.68 -> radius 2 -> 5
    for face in faces:
        sx = np.hypot(*face.matrix[0, :2])
        forward, inverse = ((cv2.INTER_CUBIC, cv2.INTER_AREA) if sx >= 1
                            else (cv2.INTER_AREA, cv2.INTER_CUBIC))
        crop = cv2.warpAffine(frame, face.matrix, (_S, _S), flags=forward)
        old = crop.astype("float32") / 255.0
        new = np.asarray(predict(old[None]))[0].astype("float32")
        if mask_type == "none":
            mask = raw = np.ones((_S, _S), "float32")
        else:
            raw = cv2.resize(face.mask, (_S, _S), interpolation=cv2.INTER_AREA) / 255.0
            mask = np.minimum(raw, box)
        if color == "avg-color":
            shift = [np.average(old[..., c] - new[..., c], weights=raw) for c in range(3)]
            new = np.clip(new + np.array(shift, "float32"), 0, 1)
        patch = np.dstack([new, mask]).astype("float32")
        cv2.warpAffine(patch, face.matrix, (width, height), dst=canvas,
                       flags=cv2.WARP_INVERSE_MAP | inverse,
                       borderMode=cv2.BORDER_CONSTANT if len(faces) == 1
                       else cv2.BORDER_TRANSPARENT)
    alpha = canvas[..., 3:]
    if transparent:
        return np.rint(np.clip(canvas, 0, 1) * 255).astype("uint8"), alpha[..., 0]
    out = np.clip(np.clip(canvas[..., :3], 0, 1) * alpha + background * (1 - alpha), 0, 1)
    return np.rint(out * 255).astype("uint8"), alpha[..., 0]


def _converter(mask_type: str = "extended", color: str = "none", predict=_predict_invert,
               batch_size: int = 16, **kwargs) -> FrameConverter:
    return FrameConverter(predict, _S, _S, mask_blend=MaskBlend(mask_type, _S),
                          color_adjustment=color, batch_size=batch_size, **kwargs)


def _check(result: np.ndarray, frame: np.ndarray, expected: np.ndarray, alpha: np.ndarray,
           min_inside: int = 300) -> None:
    """Outside the blend area (alpha 0, one pixel away from any alpha != 0: cubic warps ring
    below 0 at hard edges) the frame's bytes; everywhere the whole-frame reference's."""
    touched = cv2.dilate((alpha != 0).astype("uint8"), np.ones((3, 3), "uint8")) > 0
    assert (~touched).sum() > 0.5 * touched.size and touched.sum() > min_inside
    np.testing.assert_array_equal(result[~touched], frame[~touched])  # byte-identical
    # Warped from the same column origin as the whole-frame reference, the result is the
    # reference's (a float sum in another order may round a rare value the other way).
    difference = np.abs(result.astype(int) - expected.astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3
    changed = np.abs(result.astype(int) - frame.astype(int)).max(axis=-1) > 10
    assert changed.sum() > min_inside * 0.6  # the swapped face really is in the frame


@pytest.mark.parametrize("mask_type, color", [("none", "none"), ("extended", "none"),
                                              ("components", "avg-color")])
def test_one_face_matches_reference(mask_type: str, color: str) -> None:
    frame = _frame()
    faces = [ConvertFace(_matrix(60, 45, 40, 12), mask=_disc())]
    (name, result), = _converter(mask_type, color).convert([ConvertFrame("f.png", frame, faces)])
    expected, alpha = _reference(frame, faces, _predict_invert, mask_type, color)
    assert name == "f.png" and result.dtype == np.uint8 and result.shape == frame.shape
    _check(result, frame, expected, alpha)


@pytest.mark.parametrize("count", [1, 2])
def test_draw_transparent_gives_the_canvas(count: int) -> None:
    """``draw_transparent``: the whole-frame BGRA canvas of the reference (the warped faces
    with their mask as alpha; black, or the frame with several faces, where alpha is 0)."""
    frame = _frame()
    faces = [ConvertFace(_matrix(60, 45, 40, 12), mask=_disc()),
             ConvertFace(_matrix(150, 90, 44, -8), mask=_disc())][:count]
    (_, result), = _converter("extended", draw_transparent=True).convert(
        [ConvertFrame("f.png", frame, faces)])
    expected, alpha = _reference(frame, faces, _predict_invert, "extended", transparent=True)
    assert result.dtype == np.uint8 and result.shape == (*frame.shape[:2], 4)
    assert alpha.max() > 0.99 and (alpha == 0).mean() > 0.5
    difference = np.abs(result.astype(int) - expected.astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3
    # (one face: black where nothing was warped; several: the frame, at alpha 0)
    assert (not result[0, 0, :3].any()) if count == 1 else (
        np.array_equal(result[0, 0, :3], frame[0, 0]) and result[0, 0, 3] == 0)
    # no faces: the frame as it is
    (_, empty), = _converter(draw_transparent=True).convert([ConvertFrame("e.png", frame, [])])
    np.testing.assert_array_equal(empty, frame)


def test_enlarged_face_uses_the_other_interpolators() -> None:
    """A face smaller in the frame than the model's side (cubic forward, area inverse)."""
    frame = _frame(1)
    faces = [ConvertFace(_matrix(50, 40, 20, -25), mask=_disc())]
    result = _converter().patch_frame(ConvertFrame("f", frame, faces),
                                      [_predict_invert(np.zeros((1, _S, _S, 3)))[0]])
    expected, alpha = _reference(frame, faces, lambda x: _predict_invert(np.zeros_like(x)),
                                 "extended")
    _check(result, frame, expected, alpha, min_inside=100)


def test_several_faces_per_frame_and_frames_without_faces_batched_across_frames() -> None:
    calls: list[int] = []

    def predict(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return _predict_invert(batch)

    frames = [
        ConvertFrame("a", _frame(0), [ConvertFace(_matrix(30, 30, 36, 5), mask=_disc()),
                                      ConvertFace(_matrix(85, 55, 44, -10), mask=_disc()),
                                      ConvertFace(_matrix(100, 30, 30, 0), mask=_disc())]),
        ConvertFrame("b", _frame(1)),
        ConvertFrame("c", _frame(2), [ConvertFace(_matrix(60, 45, 50, 30), mask=_disc())]),
        ConvertFrame("d", _frame(3)),
    ]
    results = list(_converter(predict=predict, batch_size=2).convert(frames))
    assert [name for name, _ in results] == ["a", "b", "c", "d"]
    assert calls == [2, 1, 1]  # frame a's three faces, then c's one (batch of 2)
    threaded = list(_converter(batch_size=4, jobs=3).convert(frames))  # a, b, c: one batch
    assert [name for name, _ in threaded] == ["a", "b", "c", "d"]
    for (_, one), (_, other) in zip(results, threaded, strict=True):
        np.testing.assert_array_equal(one, other)
    for frame, (_, result) in zip(frames, results, strict=True):
        if not frame.faces:
            np.testing.assert_array_equal(result, frame.image)
            continue
        expected, alpha = _reference(frame.image, frame.faces, _predict_invert, "extended")
        _check(result, frame.image, expected, alpha)


def test_overlapping_faces_later_face_wins() -> None:
    frame = _frame(4)
    faces = [ConvertFace(_matrix(55, 45, 40, 0), mask=_disc()),
             ConvertFace(_matrix(65, 45, 40, 0), mask=_disc())]
    (_, result), = _converter("none").convert([ConvertFrame("f", frame, faces)])
    expected, alpha = _reference(frame, faces, _predict_invert, "none")
    _check(result, frame, expected, alpha)


@pytest.mark.parametrize("mask_type, second_radius", [("none", 14), ("extended", 14),
                                                      ("extended", 0)])
def test_overlapping_faces_with_masks_smaller_than_their_squares(mask_type: str,
                                                                 second_radius: int) -> None:
    """The later face's square (where its mask is 0 too, even where its whole mask is 0)
    overwrites the earlier face's alpha, as the whole-frame warp does, though only the masks'
    reach is warped and blended."""
    frame = _frame(6)
    second = _disc(radius=second_radius) if second_radius else np.zeros((64, 64, 1), "uint8")
    faces = [ConvertFace(_matrix(42, 40, 36, 8), mask=_disc(radius=14)),
             ConvertFace(_matrix(66, 48, 40, -12), mask=second)]
    (_, result), = _converter(mask_type).convert([ConvertFrame("f", frame, faces)])
    expected, alpha = _reference(frame, faces, _predict_invert, mask_type)
    _check(result, frame, expected, alpha, min_inside=60)


@pytest.mark.parametrize("centres", [((33, 35), (47, 52)), ((35, 40), (66, 50))])
def test_draw_transparent_with_faces_away_from_the_right_edge(centres) -> None:
    """Several faces (transparent border) whose region ends inside the frame at a column that
    is not a multiple of 8 (OpenCV's warp writes wrong values in such a tail)."""
    frame = _frame(7)
    faces = [ConvertFace(_matrix(x, y, 36, 5 * index), mask=_disc())
             for index, (x, y) in enumerate(centres)]
    (_, result), = _converter("extended", draw_transparent=True).convert(
        [ConvertFrame("f.png", frame, faces)])
    expected, _ = _reference(frame, faces, _predict_invert, "extended", transparent=True)
    difference = np.abs(result.astype(int) - expected.astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3


def test_face_partly_outside_the_frame() -> None:
    frame = _frame(5)
    faces = [ConvertFace(_matrix(5, 80, 40, 20), mask=_disc())]
    (_, result), = _converter().convert([ConvertFrame("f", frame, faces)])
    expected, alpha = _reference(frame, faces, _predict_invert, "extended")
    _check(result, frame, expected, alpha)
    outside = [ConvertFace(_matrix(-200, -200, 40, 0), mask=_disc())]
    (_, unchanged), = _converter().convert([ConvertFrame("g", frame, outside)])
    np.testing.assert_array_equal(unchanged, frame)


def test_rgb_model_and_learned_mask() -> None:
    """An RGB model gets reversed channels and its face is reversed back; with 'predicted' the
    model's mask output (blurred by the blend settings) is the mask."""
    seen = []
    learned = np.zeros((1, _S, _S, 1), "float32")
    learned[:, 8:24, 8:24] = 1.0

    def predict(batch: np.ndarray) -> list[np.ndarray]:
        seen.append(batch.copy())
        return [batch * 0.5, learned]  # an RGB face: half the (RGB) input

    frame = _frame(6)
    faces = [ConvertFace(_matrix(60, 45, 40, 0))]
    converter = _converter("predicted", predict=predict, color_order="rgb")
    (_, result), = converter.convert([ConvertFrame("f", frame, faces)])
    bgr_crop = cv2.warpAffine(frame, faces[0].matrix, (_S, _S), flags=cv2.INTER_AREA) / 255.0
    np.testing.assert_allclose(seen[0][0], bgr_crop[..., ::-1], atol=1e-6)
    mask = learned[0, ..., 0]
    for _ in range(4):
        mask = cv2.blur(mask, (3, 3))
    box = cv2.GaussianBlur(np.pad(np.ones((_S - 4, _S - 4), "float32"), 2), (5, 5), 0)
    patch = np.dstack([(bgr_crop * 0.5).astype("float32"), np.minimum(mask, box)])
    canvas = np.dstack([frame / 255.0, np.zeros((_H, _W))]).astype("float32")
    cv2.warpAffine(patch, faces[0].matrix, (_W, _H), dst=canvas,
                   flags=cv2.WARP_INVERSE_MAP | cv2.INTER_CUBIC)
    alpha = canvas[..., 3:]
    expected = np.rint((canvas[..., :3] * alpha + frame / 255.0 * (1 - alpha)) * 255)
    _check(result, frame, expected.astype("uint8"), alpha[..., 0])
    with pytest.raises(FaceswapError, match="learn_mask"):
        list(_converter("predicted").convert([ConvertFrame("f", frame, faces)]))


def test_a_frame_whose_patching_fails_is_written_unconverted(caplog) -> None:
    """As Faceswap: a warning naming the frame, the frame unchanged, the next frames converted."""
    broken = ConvertFace(_matrix(60, 45, 40, 0), mask=np.zeros((0, 0, 1), "uint8"))
    good = ConvertFace(_matrix(60, 45, 40, 0), mask=_disc())
    frames = [ConvertFrame("bad.png", _frame(7), [broken]), ConvertFrame("ok.png", _frame(8),
                                                                         [good])]
    with caplog.at_level("WARNING"):
        results = list(_converter().convert(frames))
    assert [name for name, _ in results] == ["bad.png", "ok.png"]
    np.testing.assert_array_equal(results[0][1], frames[0].image)
    assert results[0][1] is not frames[0].image
    expected, alpha = _reference(frames[1].image, [good], _predict_invert, "extended")
    _check(results[1][1], frames[1].image, expected, alpha)
    assert "Failed to convert image: 'bad.png'" in caplog.text


def test_in_place_patches_the_frames_own_array() -> None:
    """``in_place`` (as ``convert`` runs it): the result is the frame's own array, patched as a
    copy would be; a read-only frame is copied; a frame without faces, or whose patching
    fails, comes back as it went in."""
    frame = _frame()
    faces = [ConvertFace(_matrix(60, 45, 40, 12), mask=_disc())]
    (_, copied), = _converter().convert([ConvertFrame("f", frame.copy(), faces)])
    owned = frame.copy()
    (_, result), = _converter(in_place=True).convert([ConvertFrame("f", owned, faces)])
    assert result is owned
    np.testing.assert_array_equal(result, copied)
    assert not np.array_equal(copied, frame)
    read_only = frame.copy()
    read_only.flags.writeable = False
    (_, other), = _converter(in_place=True).convert([ConvertFrame("f", read_only, faces)])
    assert other is not read_only
    np.testing.assert_array_equal(read_only, frame)
    np.testing.assert_array_equal(other, copied)
    bare = frame.copy()
    (_, same), = _converter(in_place=True).convert([ConvertFrame("g", bare)])
    assert same is bare
    np.testing.assert_array_equal(same, frame)
    broken = [ConvertFace(_matrix(60, 45, 40, 0), mask=np.zeros((0, 0, 1), "uint8"))]
    kept = frame.copy()
    (_, failed), = _converter(in_place=True).convert([ConvertFrame("b", kept, broken)])
    assert failed is kept
    np.testing.assert_array_equal(kept, frame)


def test_the_crops_fed_to_the_model_are_the_colour_adjustments_original_face() -> None:
    """Given the crops fed to the model, ``patch_frame`` gives what it gives cutting them again
    from the frame; a face with its own ``feed_matrix`` is cut again."""
    frame = _frame(2)
    face = ConvertFace(_matrix(60, 45, 40, 12), mask=_disc())
    converter = _converter("extended", "avg-color")
    crop = converter._feed_face(frame, face)
    new = _predict_invert(crop[None])[0]
    again = converter.patch_frame(ConvertFrame("f", frame, [face]), [new])
    given = converter.patch_frame(ConvertFrame("f", frame, [face]), [new], [crop])
    np.testing.assert_array_equal(given, again)
    darker = converter.patch_frame(ConvertFrame("f", frame, [face]), [new], [crop * 0.5])
    assert np.abs(darker.astype(int) - again.astype(int)).max() > 10  # the crop is used
    fed = ConvertFace(face.matrix, feed_matrix=face.matrix, mask=face.mask)
    np.testing.assert_array_equal(
        converter.patch_frame(ConvertFrame("f", frame, [fed]), [new], [crop * 0.5]), again)


def test_model_output_shape_is_checked() -> None:
    frame = _frame()
    faces = [ConvertFace(_matrix(60, 45, 40, 0), mask=_disc())]
    with pytest.raises(FaceswapError, match="shape"):
        list(_converter(predict=lambda b: b[:, :16, :16]).convert(
            [ConvertFrame("f", frame, faces)]))


# ------------------------------------------------------------------------------------------------
# From alignments-file faces (lib.align geometry)
# ------------------------------------------------------------------------------------------------
def _landmarks(centre=(320.0, 240.0), scale: float = 200.0, degrees: float = 10.0) -> np.ndarray:
    """The spec's §3.8 synthetic face: jaw on an ellipse, points 17-67 on the template."""
    theta = np.pi - np.arange(17) * np.pi / 16
    jaw = np.stack([0.5 + 0.55 * np.cos(theta), 0.3 + 0.8 * np.sin(theta)], axis=-1)
    points = np.concatenate([jaw, MEAN_FACE["68"]])
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (scale * (points - 0.5) @ rotation.T + np.array(centre)).astype("float32")


def test_faces_from_alignments_use_lib_align_geometry_and_stored_masks() -> None:
    landmarks = _landmarks()
    entry = {"landmarks_xy": landmarks,
             "mask": {"components": stored_landmark_mask(landmarks, "components").to_dict()}}
    blend = MaskBlend("components", 64)
    (face,) = faces_from_alignments([entry], centering="face", coverage=0.875, input_size=32,
                                    output_size=64, mask_blend=blend, match_training=False,
                                    frame_name="f.png")
    aligned = AlignedFace(landmarks, centering="face", size=64, coverage=0.875)
    np.testing.assert_allclose(face.matrix, aligned.adjusted_matrix(), atol=1e-9)
    np.testing.assert_allclose(face.feed_matrix, aligned.adjusted_matrix(32), atol=1e-9)
    assert face.mask.shape == (112, 112, 1) and face.mask.dtype == np.uint8  # spec §4.4
    assert face.mask[56, 56, 0] == 255 and face.mask[0, 0, 0] == 0
    with pytest.raises(FaceswapError, match="Mask Type `extended`.*face 0 of frame 'f.png'"):
        faces_from_alignments([entry], centering="face", coverage=1.0, input_size=64,
                              output_size=64, mask_blend=MaskBlend("extended", 64),
                              frame_name="f.png")


@pytest.mark.parametrize("coverage, y_offset", [(1.0, 0.0), (0.875, 0.1), (0.75, -0.2)])
def test_training_matrix_cuts_the_training_crop(coverage: float, y_offset: float) -> None:
    """The frame -> face matrix puts the landmarks where training's crop of a 512 px head
    extract puts them (lib.align's crop path), and cuts the same pixels from the frame as
    warping the extract and cropping it does."""
    landmarks = _landmarks(centre=(400.0, 300.0), scale=180.0, degrees=-8.0)
    aligned = AlignedFace(landmarks, centering="face", size=64, coverage=coverage,
                          y_offset=y_offset)
    matrix = training_matrix(aligned, 64)
    mapped = cv2.transform(landmarks[None].astype("float64"), matrix)[0]
    np.testing.assert_allclose(mapped, aligned.crop_landmarks(512), atol=1e-6)
    entry = {"landmarks_xy": landmarks, "mask": {}}
    (face,) = faces_from_alignments([entry], centering="face", coverage=coverage,
                                    input_size=32, output_size=64, y_offset=y_offset,
                                    mask_blend=MaskBlend("none", 64))
    np.testing.assert_allclose(face.matrix, matrix, atol=1e-9)
    np.testing.assert_allclose(face.feed_matrix, training_matrix(aligned, 32), atol=1e-9)
    yy, xx = np.mgrid[:600, :800]
    frame = np.stack([xx * 0.3, yy * 0.4, (xx + yy) * 0.2], axis=-1).astype("uint8")
    extract = cv2.warpAffine(frame, aligned.adjusted_matrix(512, "head", 1.0), (512, 512),
                             flags=cv2.INTER_CUBIC)
    from_extract = aligned.extract_face(extract)
    direct = cv2.warpAffine(frame, matrix, (64, 64), flags=cv2.INTER_AREA)
    difference = np.abs(direct.astype(int) - from_extract.astype(int))[4:-4, 4:-4]
    assert difference.mean() < 1.5
    if coverage == 1.0 and y_offset == 0.0:  # the spec's "agree within a pixel" (§3.7)
        frame_path = cv2.transform(landmarks[None].astype("float64"),
                                   aligned.adjusted_matrix())[0]
        assert np.abs(frame_path - mapped).max() < 64 / 256 * 1.5
    else:
        frame_path = cv2.transform(landmarks[None].astype("float64"),
                                   aligned.adjusted_matrix())[0]
        assert np.abs(frame_path - mapped).max() > 1.0  # Faceswap 3.0's convert crop differs


def test_end_to_end_identity_model_reproduces_the_frame() -> None:
    """Spec §8 item 7: an identity model (output = input crop), coverage 1, mask none: the
    frame comes back within resampling error."""
    yy, xx = np.mgrid[:480, :640]
    frame = np.stack([xx * 0.3, yy * 0.4, (xx + yy) * 0.2], axis=-1).astype("uint8")
    entry = {"landmarks_xy": _landmarks(), "mask": {}}
    faces = faces_from_alignments([entry], centering="face", coverage=1.0, input_size=256,
                                  output_size=256, mask_blend=MaskBlend("none", 256))
    converter = FrameConverter(lambda batch: batch, 256, 256,
                               mask_blend=MaskBlend("none", 256), color_adjustment="none")
    (_, result), = converter.convert([ConvertFrame("f.png", frame, faces)])
    square = cv2.warpAffine(np.ones((256, 256), "uint8"), faces[0].matrix, (640, 480),
                            flags=cv2.WARP_INVERSE_MAP | cv2.INTER_NEAREST)
    # The face square reaches past the frame's top: the crop is black there, so the frame's
    # own border is excluded as well as the square's.
    inner = cv2.erode(square, np.ones((7, 7), "uint8"), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0) > 0
    outer = cv2.dilate(square, np.ones((7, 7), "uint8")) == 0
    difference = np.abs(result.astype(int) - frame.astype(int)).max(axis=-1)
    assert inner.sum() > 30000 and difference[inner].max() <= 3
    assert difference[inner].mean() < 0.5
    np.testing.assert_array_equal(result[outer], frame[outer])
    # Faceswap compat: with mask 'none' the square's edge is blended with the black border
    # of the warp (a dark outline, as in Faceswap).
    assert difference[~inner & ~outer].max() > 20


@pytest.mark.parametrize("transparent", [False, True])
def test_several_faces_in_a_720p_frame_match_the_whole_frame_warp(transparent: bool) -> None:
    """Two overlapping faces from alignments-file landmarks in a 720p frame (the benchmark's
    geometry) against the whole-frame warp and blend of the same patches. With a transparent
    border a pixel at the edge of a face's square is drawn or left depending on the last bit
    of its sample position: a region starting at another column than the whole-frame warp's
    changed such pixels by 17 levels here."""
    rng = np.random.default_rng(29)
    yy, xx = np.mgrid[:720, :1280].astype("float32")
    frame = ((np.stack([xx / 6, yy / 4, (xx + yy) / 8], axis=-1) % 232).astype("uint8")
             + rng.integers(0, 24, (720, 1280, 3), dtype=np.uint8))
    first = _landmarks((732.0, 447.0), 209.0, 58.0)
    second = first + np.array([66.3, -11.1], "float32")
    blend = MaskBlend("extended", 64)
    faces = faces_from_alignments(
        [{"landmarks_xy": points,
          "mask": {"extended": stored_landmark_mask(points, "extended").to_dict()}}
         for points in (first, second)],
        centering="face", coverage=1.0, input_size=64, output_size=64, mask_blend=blend)
    predicted = [rng.random((64, 64, 3)).astype("float32") for _ in faces]
    converter = FrameConverter(None, 64, 64, mask_blend=blend, color_adjustment="avg-color",
                               draw_transparent=transparent)
    result = converter.patch_frame(ConvertFrame("f", frame, faces), predicted)
    # the whole-frame reference, from the module's own patches (what is tested is where and
    # how they are warped and blended)
    background = frame.astype("float32") / 255.0
    canvas = np.dstack([background, np.zeros((720, 1280), "float32")])
    for face, new in zip(faces, predicted, strict=True):
        patch, matrix, interpolator, _ = converter._face_patch(frame, face, new)
        cv2.warpAffine(patch, matrix, (1280, 720), dst=canvas,
                       flags=cv2.WARP_INVERSE_MAP | interpolator,
                       borderMode=cv2.BORDER_TRANSPARENT)
    alpha = canvas[..., 3:]
    expected = (np.clip(canvas, 0, 1) if transparent else
                np.clip(np.clip(canvas[..., :3], 0, 1) * alpha + background * (1 - alpha), 0, 1))
    expected = np.rint(expected * 255).astype("uint8")
    difference = np.abs(result.astype(int) - expected.astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3
    assert (np.abs(result[..., :3].astype(int) - frame.astype(int)) > 10).sum() > 10000
