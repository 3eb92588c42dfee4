"""Fuzzing face PNGs and their Faceswap metadata: :func:`lib.image.read_image_meta` (the chunk
walk, the iTXt reader and :func:`lib.image.parse_literal`), :func:`lib.image.read_image` (the
pixels) and :meth:`lib.align.detected_face.DetectedFace.from_png_meta` with what training does
next (the aligned crop and every stored mask).

The genuine files are faces written by the demo's Faceswap face-set writer (metadata with
masks and landmarks), one with numpy 2 style numbers (``np.float32(5.0)``) and one whose chunk
is compressed (iTXt flag 1) as the PNG spec allows. Besides the byte and tree mutations of
:mod:`tests.fuzzing` (a tree mutation rewrites the chunk with a valid CRC), the chunk's text is
mutated byte-wise under a valid CRC, compressed (zip bombs among them), and replaced by
literals that would run code if evaluated. See :mod:`tests.fuzzing`."""
from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from faceswap_original.demo_data import write_demo_faces
from lib.align.aligned_face import AlignedFace
from lib.align.detected_face import DetectedFace
from lib.image import MetadataError, parse_literal, read_image, read_image_meta
from tests.fuzzing import (
    BYTE_MUTATIONS,
    SENTINEL,
    Target,
    check,
    counts,
    fuzz,
    read_seeds,
    write_seeds,
)

_SEED = 20261208
_PAYLOADS = (f"__import__('pathlib').Path('{SENTINEL}').touch()",
             f"{{'alignments': open('{SENTINEL}', 'w')}}",
             f"{{'a': [x for x in [__import__('os').system('touch {SENTINEL}')]]}}",
             f"(lambda: open('{SENTINEL}', 'w'))()")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _split(png: bytes) -> tuple[bytes, bytes, bytes]:
    """``(before, the faceswap iTXt body, after)`` of a PNG with the chunk."""
    offset = 8
    while offset + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        end = offset + 12 + length
        body = png[offset + 8:offset + 8 + length]
        if kind == b"iTXt" and body.startswith(b"faceswap\x00"):
            return png[:offset], body, png[end:]
        if kind in (b"IDAT", b"IEND"):
            break
        offset = end
    raise ValueError("no faceswap chunk")


def _with_text(png: bytes, text: bytes, compressed: bool = False) -> bytes:
    before, _, after = _split(png)
    body = b"faceswap\x00" + (b"\x01\x00" if compressed else b"\x00\x00") + b"\x00\x00"
    return before + _chunk(b"iTXt", body + (zlib.compress(text) if compressed else text)) + after


def _text(png: bytes) -> bytes:
    body = _split(png)[1]
    header, text = body[:13], body[13:]
    return zlib.decompress(text) if header[9:10] == b"\x01" else text


def _mutate_text(rng: random.Random, png: bytes) -> tuple[str, bytes]:
    """The chunk's text mutated byte-wise, compressed or not, under a valid CRC."""
    try:
        text = _text(png)
    except (ValueError, zlib.error):
        return "text (no chunk)", png
    description, text = rng.choice(BYTE_MUTATIONS)(rng, text)
    compressed = rng.random() < 0.2
    return f"text: {description}{' (compressed)' if compressed else ''}", _with_text(
        png, text, compressed)


def _special_text(rng: random.Random, png: bytes) -> tuple[str, bytes]:
    """A zip bomb, deep nesting, or a literal that would run code if evaluated."""
    kind = rng.choice(("bomb", "nesting", "payload"))
    try:
        if kind == "bomb":
            return "compressed 64 MB of spaces", _with_text(png, b" " * (64 << 20), True)
        if kind == "nesting":
            depth = rng.choice((33, 100, 10_000, 1_000_000))
            return f"nesting {depth}", _with_text(png, b"[" * depth + b"]" * depth)
        payload = rng.choice(_PAYLOADS)
        return f"payload {payload}", _with_text(png, payload.encode())
    except ValueError:
        return "special (no chunk)", png


def _read_face(path: Path) -> None:
    meta = read_image_meta(path)
    face, _, _ = read_image(path)
    if "itxt" not in meta:
        return
    detected = DetectedFace.from_png_meta(meta["itxt"], str(path))
    if face is None:
        return
    aligned = AlignedFace(detected.landmarks_xy, "face", 64, is_legacy=detected.is_legacy)
    aligned.extract_face(face)
    for mask in detected.mask.values():
        mask.get_mask(0.0, 4.0, 3, "gaussian", 1, sub_crop=(aligned, "face"))


def face_target(seed_dir: Path) -> Target:
    seeds = read_seeds(seed_dir)

    def parse(png: bytes) -> Any:
        return parse_literal(_text(png).decode("utf-8"))

    def serialise(tree: Any) -> bytes:
        return _with_text(seeds[0], str(tree).encode("utf-8"))

    return Target(seeds, _read_face, "face.png", parse=parse, serialise=serialise,
                  extra=[_mutate_text, _mutate_text, _special_text])


def _genuine(folder: Path) -> list[bytes]:
    faces = [path.read_bytes() for path in write_demo_faces(folder, "a", 2, seed=3, size=32)]
    text = _text(faces[0]).decode()
    numpy_style = text.replace("'stored_size': 128", "'stored_size': np.int32(128)")
    return [*faces, _with_text(faces[0], numpy_style.encode()),
            _with_text(faces[1], _text(faces[1]), compressed=True)]


@counts(80)
def test_fuzz_face_png(tmp_path, count):
    seeds = write_seeds(tmp_path / "seeds", _genuine(tmp_path / "genuine"))
    report = fuzz(f"{__name__}:face_target", seeds, tmp_path / "work", _SEED, count)
    check(report, count)


def test_numbers_beyond_float_are_refused(tmp_path):
    """What the fuzzing found: an integer too large for a float (10**400) among the landmarks
    escaped as OverflowError."""
    png = _genuine(tmp_path / "genuine")[0]
    header = parse_literal(_text(png).decode())
    header["alignments"]["landmarks_xy"][60][1] = 10 ** 400
    path = tmp_path / "face.png"
    path.write_bytes(_with_text(png, str(header).encode()))
    with pytest.raises(MetadataError, match="not a valid face header"):
        _read_face(path)
