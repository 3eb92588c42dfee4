"""Tests for lib.image: listing, reading, Faceswap's PNG iTXt metadata and the face crop."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib import image as img
from lib.errors import FaceswapError

# faceswap_data.md §1.2: the chunk for the metadata {'a': 1}
_SPEC_CHUNK = bytes.fromhex(
    "00000015 69545874 66616365 73776170 00000000 007b2761 273a2031 7dfca766 b1".replace(" ", ""))


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk built by hand from the PNG layout."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_chunk(png: bytes, chunk: bytes) -> bytes:
    """Insert ``chunk`` straight after IHDR (byte 33), where Faceswap puts its own."""
    return png[:33] + chunk + png[33:]


def _header(**over) -> dict:
    mask = zlib.compress(np.full((128, 128, 1), 255, "uint8").tobytes())
    meta = {"alignments": {"x": 230, "w": 200, "y": 140, "h": 220,
                           "landmarks_xy": [[218.61708068847656, 181.5063934326172]] * 68,
                           "mask": {"components": {
                               "mask": mask,
                               "affine_matrix": [[0.315, 0.0556, -50.18], [-0.0556, 0.315, 17.1]],
                               "interpolator": 2, "stored_size": 128,
                               "stored_centering": "face"}},
                           "identity": {}},
            "source": {"alignments_version": 2.4, "original_filename": "cadre_é_0.png",
                       "face_index": 0, "source_filename": "cadre_é.png",
                       "source_is_video": False, "source_frame_dims": (480, 640)}}
    meta.update(over)
    return meta


def test_pack_matches_the_spec_test_vector() -> None:
    assert img.pack_to_itxt({"a": 1}) == _SPEC_CHUNK


def test_written_chunk_sits_before_idat_at_byte_33() -> None:
    png = _png(np.zeros((8, 8, 3), "uint8"))
    data = img.png_write_meta(png, {"a": 1})
    assert data[33:33 + len(_SPEC_CHUNK)] == _SPEC_CHUNK
    assert data[33 + len(_SPEC_CHUNK) + 4:][:4] == b"IDAT"
    assert img.png_read_meta(data) == {"a": 1}
    # rewriting replaces the chunk instead of adding a second
    again = img.png_write_meta(data, {"b": 2})
    assert again.count(b"iTXt") == 1 and img.png_read_meta(again) == {"b": 2}
    assert cv2.imdecode(np.frombuffer(again, "uint8"), cv2.IMREAD_COLOR).shape == (8, 8, 3)


def test_hand_built_fixture_is_read(tmp_path: Path) -> None:
    png = _png(np.full((16, 16, 3), 7, "uint8"))
    path = tmp_path / "face_0.png"
    path.write_bytes(_with_chunk(png, _SPEC_CHUNK))
    face, alpha, meta, why = img.read_image_file(path)
    assert why == "" and alpha is None and meta == {"a": 1} and face.shape == (16, 16, 3)
    assert img.read_image_meta(path) == {"width": 16, "height": 16, "itxt": {"a": 1}}


def test_round_trip_of_a_full_header(tmp_path: Path) -> None:
    meta = _header()
    data = img.encode_image(np.zeros((32, 32, 3), "uint8"), ".png", meta)
    path = tmp_path / "face.png"
    path.write_bytes(data)
    read = img.read_image_meta(path)["itxt"]
    assert read == meta
    assert isinstance(read["source"]["source_frame_dims"], tuple)
    assert isinstance(read["alignments"]["mask"]["components"]["mask"], bytes)
    # the text is str(dict), as Faceswap writes it
    assert str(meta).encode() in data


def test_other_itxt_chunks_and_compressed_text() -> None:
    png = _png(np.zeros((4, 4, 3), "uint8"))
    other = _chunk(b"iTXt", b"comment\x00\x00\x00en\x00c\x00hello")
    text = str({"k": (1, None, True)}).encode()
    compressed = _chunk(b"iTXt", b"faceswap\x00\x01\x00de\x00fs\x00" + zlib.compress(text))
    assert img.png_read_meta(_with_chunk(png, other + compressed)) == {"k": (1, None, True)}
    assert img.png_read_meta(_with_chunk(png, other)) is None
    assert img.png_read_meta(png) is None


def test_numpy_scalar_wrappers_are_read_as_numbers() -> None:
    assert img.parse_literal("{'x': np.int32(5), 'y': numpy.float32(-1.5)}") == {"x": 5,
                                                                                  "y": -1.5}


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo hacked')",
    "{'a': open('/etc/passwd')}",
    "{'a': np.int32(__import__('os'))}",
    "{'a': 1 + 1}",
    "{'a': [x for x in range(3)]}",
    "{'a': {1, 2}}",
    "{'a': b}",
    "{'a': ...}",
    "{'a': 1j}",
    "{**{'a': 1}}",
    "{'a': 1",
    "[" * 200 + "]" * 200,
])
def test_non_literal_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        img.parse_literal(text)


def _with_text(text: bytes) -> bytes:
    return _with_chunk(_png(np.zeros((4, 4, 3), "uint8")),
                       _chunk(b"iTXt", b"faceswap\x00\x00\x00\x00\x00" + text))


@pytest.mark.parametrize(("data", "message"), [
    (_with_text(b"__import__('os').system('x')"), "not a literal"),
    (_with_text(b"[1, 2]"), "not a dict"),
    (_with_text(b"{'a': "), "not a Python literal"),
    (_with_chunk(_png(np.zeros((4, 4, 3), "uint8")),
                 _chunk(b"iTXt", b"faceswap\x00\x01\x00\x00\x00"
                        + zlib.compress(b" " * (img.MAX_METADATA_SIZE + 10)))), "larger than"),
    (_with_chunk(_png(np.zeros((4, 4, 3), "uint8")), _SPEC_CHUNK[:-1] + b"\x00"), "bad CRC"),
    (_with_chunk(_png(np.zeros((4, 4, 3), "uint8")), _SPEC_CHUNK)[:40], "truncated"),
    (_with_chunk(_png(np.zeros((4, 4, 3), "uint8")), _chunk(b"iTXt", b"faceswap\x00")),
     "truncated iTXt"),
])
def test_bad_metadata_is_a_clear_per_file_error(tmp_path: Path, data: bytes, message: str
                                                ) -> None:
    with pytest.raises(img.MetadataError, match=message) as info:
        img.png_read_meta(data, "bad.png")
    assert "bad.png" in str(info.value) and isinstance(info.value, FaceswapError)
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    if b"IDAT" in data:  # the file still decodes: read_image_file names the metadata problem
        face, _, meta, why = img.read_image_file(path)
        assert face is None and meta is None and message.split()[0] in why


def test_oversized_text_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        img.parse_literal("'" + "a" * (img.MAX_METADATA_SIZE + 1) + "'")


def test_writer_refuses_numpy_values() -> None:
    with pytest.raises(TypeError, match="native Python"):
        img.pack_to_itxt({"x": np.int32(5)})
    with pytest.raises(ValueError, match="PNG"):
        img.encode_image(np.zeros((4, 4, 3), "uint8"), ".jpg", {"a": 1})


def test_read_image_meta_of_a_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "face.jpg"
    ok, data = cv2.imencode(".jpg", np.zeros((12, 20, 3), "uint8"))
    path.write_bytes(data.tobytes())
    assert img.read_image_meta(path) == {"width": 20, "height": 12}


def test_crop_square_zero_fills_outside() -> None:
    image = np.arange(1, 26, dtype="uint8").reshape(5, 5)
    inside = img.crop_square(image, 1, 2, 3)
    np.testing.assert_array_equal(inside, image[2:5, 1:4])
    out = img.crop_square(image, -1, 3, 3)
    expected = np.zeros((3, 3), "uint8")
    expected[:2, 1:] = image[3:5, 0:2]
    np.testing.assert_array_equal(out, expected)
    assert not img.crop_square(image, 10, 10, 2).any()


def test_resize_square_interpolation_and_channel_axis() -> None:
    mask = np.random.default_rng(0).integers(0, 256, (64, 64, 1), dtype="uint8")
    small = img.resize_square(mask, 32)
    assert small.shape == (32, 32, 1)
    np.testing.assert_array_equal(
        small[..., 0], cv2.resize(mask[..., 0], (32, 32), interpolation=cv2.INTER_AREA))
    big = img.resize_square(mask, 96)
    np.testing.assert_array_equal(
        big[..., 0], cv2.resize(mask[..., 0], (96, 96), interpolation=cv2.INTER_CUBIC))
    assert img.resize_square(mask, 64) is mask


def test_brackets_inside_byte_strings_are_not_nesting() -> None:
    # a compressed mask's repr can hold many brackets: they are text, not structure
    blob = b"([{" * 500
    assert img.parse_literal(str({"mask": blob, "deep": [[[[1]]]]})) == {"mask": blob,
                                                                         "deep": [[[[1]]]]}
    with pytest.raises(ValueError, match="nested deeper"):
        img.parse_literal("[" * 40 + "]" * 40)


def test_oversized_chunk_before_the_image_data_is_refused(tmp_path: Path) -> None:
    png = _png(np.zeros((4, 4, 3), "uint8"))
    huge = struct.pack(">I", img.MAX_METADATA_SIZE + 1000) + b"tEXt"
    path = tmp_path / "huge.png"
    path.write_bytes(png[:33] + huge + png[33:])
    with pytest.raises(img.MetadataError, match="more than the metadata limit"):
        img.read_image_meta(path)
