"""Image files: listing, safe reading, Faceswap's PNG metadata and the one face crop.

* :func:`get_image_paths` lists the face images of a folder (with clear errors).
* :func:`read_image` decodes an image after checking its header (size bounded before any pixel
  is decoded); :func:`read_image_file` also returns the Faceswap metadata of a PNG.
* :func:`png_read_meta`, :func:`png_write_meta`, :func:`read_image_meta`, :func:`encode_image`
  and :func:`pack_to_itxt` read and write the ``faceswap`` iTXt chunk that Faceswap's extract
  stores in every face PNG. The text is a Python literal (``str(dict)``); it is parsed by
  :func:`parse_literal`, which accepts literal values only, within fixed bounds, and never
  runs code.
* :func:`crop_square` and :func:`resize_square`: the crop (zero fill outside the image) and
  resize used by training, previews and ``convert``.

Faceswap compat: Faceswap finds its chunk with a byte search for ``iTXt`` and parses it with
``ast.literal_eval``; we walk the PNG chunks properly (signature, length, type, CRC) up to the
first ``IDAT``, skip a non-empty language tag or translated keyword, inflate a compressed
(flag 1) text within bounds, and parse with a bounded literal-only parser that also accepts the
``np.int32(5)``-style numbers numpy 2 writes into headers after manual-tool edits.

Why :func:`header_size` reads the PNG and JPEG headers itself rather than through Pillow's lazy
``PIL.Image.open`` (checked with Pillow 13): Pillow refuses large images through the
process-wide ``Image.MAX_IMAGE_PIXELS`` (a ``DecompressionBombError`` only past twice it, about
179 M pixels, naming no width or height), so our 4096 px side limit, with the size in the
message, would need that global changed (for every Pillow user in the process, from the
feeder's threads) or the size parsed back out of an exception text. And ``open`` parses more
than the size: every chunk before the first ``IDAT`` (text chunks under its own limits) and the
JPEG ``APP`` segments, so a face whose ``faceswap`` iTXt chunk is damaged becomes "cannot
identify image file" instead of the error that names the damaged chunk. The walk here reads
the IHDR chunk, or the JPEG segment lengths up to the frame header, and nothing else.
"""
from __future__ import annotations

import ast
import contextlib
import io
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lib.errors import FaceswapError

__all__ = ["IMAGE_EXTENSIONS", "MAX_IMAGE_SIZE", "MAX_METADATA_SIZE", "MetadataError",
           "crop_square", "encode_image", "get_image_paths", "header_size", "pack_to_itxt",
           "parse_literal", "png_read_meta", "png_write_meta", "read_image", "read_image_file",
           "read_image_meta", "resize_square"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
"""The file extensions read as face images (any case)."""
MAX_IMAGE_SIZE = 4096
"""Images larger than this (pixels, either side) are refused, so memory stays bounded."""
MAX_METADATA_SIZE = 8 * 1024 * 1024
"""The largest ``faceswap`` metadata text accepted (bytes, after any decompression). A genuine
header with a few masks and an identity is well under 100 kB."""
_MAX_NODES = 2_000_000
_MAX_DEPTH = 32

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_KEYWORD = b"faceswap"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_NUMPY_SCALARS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                  "float16", "float32", "float64", "bool_", "intc", "longlong"}


class MetadataError(FaceswapError):
    """A damaged, oversized or non-literal ``faceswap`` PNG metadata chunk."""


# --- listing -------------------------------------------------------------------------------------
def _short_list(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(f"'{name}'" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def get_image_paths(folder: str | Path) -> list[str]:
    """The face images (``.png``, ``.jpg``, ``.jpeg``, any case) of ``folder``, sorted.

    Parameters
    ----------
    folder
        The folder of aligned faces.

    Returns
    -------
    The full paths of the images. Symbolic links to files outside the folder are skipped with a
    warning.

    Raises
    ------
    lib.errors.FaceswapError
        If the folder does not exist, is not a folder or holds no image.
    """
    path = Path(folder)
    if not path.exists():
        raise FaceswapError(f"The training image folder '{path}' does not exist. Give the folder "
                            "of aligned faces to train on.")
    if not path.is_dir():
        raise FaceswapError(f"The training images must be given as a folder, but '{path}' is a "
                            "file. Give the folder that holds the aligned faces.")
    images = sorted(str(item) for item in path.iterdir()
                    if item.suffix.lower() in IMAGE_EXTENSIONS and item.is_file())
    # A link is not followed out of the folder the user named.
    root = path.resolve()
    outside = [image for image in images if root not in Path(image).resolve().parents]
    if outside:
        logger.warning("Skipping %s image(s) of '%s' that link to files outside it: %s",
                       len(outside), path, _short_list([Path(name).name for name in outside]))
        images = [image for image in images if image not in outside]
    if not images:
        raise FaceswapError(
            f"The training image folder '{path}' holds no images. Expected aligned faces as "
            f"{', '.join(IMAGE_EXTENSIONS)} files. Extract faces into this folder first.")
    return images


# --- headers and decoding ------------------------------------------------------------------------
def header_size(path: str | Path | io.BytesIO) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG or JPEG header without decoding it; ``None`` if unknown.
    ``path`` may also be the file's bytes in a :class:`io.BytesIO`."""
    with (contextlib.nullcontext(path) if isinstance(path, io.BytesIO)
          else open(path, "rb")) as handle:
        head = handle.read(24)
        if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head[:2] != b"\xff\xd8":
            return None
        handle.seek(2)
        while True:  # walk the JPEG segments up to the frame header
            byte = handle.read(1)
            while byte and byte != b"\xff":
                byte = handle.read(1)
            while byte == b"\xff":
                byte = handle.read(1)
            if not byte:
                return None
            marker = byte[0]
            if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
                continue
            if marker in (0xD9, 0xDA):  # end of image or start of scan before a frame header
                return None
            length = handle.read(2)
            if len(length) < 2:
                return None
            if marker in _JPEG_SOF:
                frame = handle.read(5)
                if len(frame) < 5:
                    return None
                _, height, width = struct.unpack(">BHH", frame)
                return width, height
            handle.seek(struct.unpack(">H", length)[0] - 2, os.SEEK_CUR)


def _to_bgr_uint8(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """BGR uint8 face and uint8 alpha (``None`` without one) from a decoded image."""
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype("uint8")  # 65535 -> 255
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), None
    channels = image.shape[-1]
    if channels == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2BGR), None
    if channels == 3:
        return image, None
    if channels == 4:
        return np.ascontiguousarray(image[..., :3]), np.ascontiguousarray(image[..., 3])
    raise ValueError(f"unsupported number of channels {channels}")


def _decode(data: bytes) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    if not data:
        return None, None, "empty file"
    size = header_size(io.BytesIO(data))
    if size is None:
        return None, None, "not a readable PNG or JPEG image (corrupt?)"
    if max(size) > MAX_IMAGE_SIZE:
        return None, None, (f"{size[0]}x{size[1]} px, larger than {MAX_IMAGE_SIZE} px (the "
                            "limit for either side)")
    image = cv2.imdecode(np.frombuffer(data, dtype="uint8"), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None, None, "not a readable image (corrupt?)"
    try:
        face, alpha = _to_bgr_uint8(image)
    except ValueError as err:
        return None, None, str(err)
    return face, alpha, ""


def _read_bytes(path: str | Path) -> tuple[bytes | None, str]:
    try:
        with open(path, "rb") as handle:
            return handle.read(), ""
    except OSError as err:
        return None, f"unreadable ({err.strerror or err})"


def read_image(path: str | Path) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Read a face image as 8-bit BGR plus its alpha channel (``None`` without one).

    The PNG or JPEG header is read first: a file that is neither, or whose width or height is
    over :data:`MAX_IMAGE_SIZE`, is refused before any pixel is decoded, so memory stays bounded
    whatever the file claims.

    Returns
    -------
    ``(face, alpha, "")``, or ``(None, None, why it cannot be used)`` for an unreadable, empty,
    corrupt, oversized or unsupported file (16-bit images are reduced to 8 bits, grayscale
    becomes BGR).
    """
    data, why = _read_bytes(path)
    if data is None:
        return None, None, why
    return _decode(data)


def read_image_file(path: str | Path
                    ) -> tuple[np.ndarray | None, np.ndarray | None, dict | None, str]:
    """Read a face image and its Faceswap metadata from one read of the file.

    Returns
    -------
    ``(face, alpha, metadata, "")``: ``metadata`` is the parsed ``faceswap`` iTXt chunk of a PNG,
    or ``None`` when the file carries none. ``(None, None, None, why)`` when the image cannot be
    used or its metadata chunk is damaged (``why`` says which).
    """
    data, why = _read_bytes(path)
    if data is None:
        return None, None, None, why
    face, alpha, why = _decode(data)
    if face is None:
        return None, None, None, why
    try:
        meta = png_read_meta(data) if data[:8] == _PNG_SIGNATURE else None
    except MetadataError as err:
        return None, None, None, str(err)
    return face, alpha, meta, ""


# --- the literal parser --------------------------------------------------------------------------
def _number(node: ast.AST) -> int | float | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    return None


def _convert(node: ast.AST, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise ValueError(f"nested deeper than {_MAX_DEPTH} levels")
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis or isinstance(node.value, complex):
            raise ValueError(f"a {type(node.value).__name__} is not allowed")
        return node.value
    number = _number(node)
    if number is not None:
        return number
    if isinstance(node, ast.Dict):
        out = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise ValueError("'**' is not allowed in a dict")
            key = _convert(key, depth + 1)
            if not isinstance(key, (str, int, float, bool, type(None), bytes, tuple)):
                raise ValueError(f"a {type(key).__name__} dict key is not allowed")
            out[key] = _convert(value, depth + 1)
        return out
    if isinstance(node, ast.List):
        return [_convert(item, depth + 1) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_convert(item, depth + 1) for item in node.elts)
    # numpy 2 writes numpy scalars as np.int32(5): accept them as plain numbers
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy")
            and node.func.attr in _NUMPY_SCALARS and len(node.args) == 1 and not node.keywords):
        arg = node.args[0]
        value = _number(arg)
        if value is None and isinstance(arg, ast.Constant) and isinstance(arg.value, bool):
            value = arg.value
        if value is not None:
            return value
    raise ValueError(f"'{type(node).__name__}' is not a literal value")


def parse_literal(text: str) -> Any:
    """Parse the text of a Python literal (what ``str()`` of a dict of literals gives).

    Accepted: ``dict``, ``list``, ``tuple``, ``str``, ``bytes``, ``int``, ``float``, ``bool``,
    ``None``, signed numbers, and ``np.<int/float type>(<number>)`` wrappers (read as the
    number). Anything else (names, calls, operators, comprehensions, sets) is refused; nothing
    is evaluated. The text may be at most :data:`MAX_METADATA_SIZE` bytes, nest at most 32
    levels and hold at most 2,000,000 syntax nodes.

    Raises
    ------
    ValueError
        For text that is not such a literal, or that exceeds a bound.
    """
    if len(text) > MAX_METADATA_SIZE:
        raise ValueError(f"{len(text)} characters, more than the limit of {MAX_METADATA_SIZE}")
    # Python's parser refuses deep nesting itself (SyntaxError/RecursionError/MemoryError,
    # caught below); the conversion then refuses anything nested deeper than _MAX_DEPTH.
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise ValueError(f"not a Python literal ({type(err).__name__}: {err})") from None
    count = 0
    for _ in ast.walk(tree):
        count += 1
        if count > _MAX_NODES:
            raise ValueError(f"more than {_MAX_NODES} values")
    return _convert(tree.body, 0)


# --- PNG chunks ----------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _walk_chunks(data: bytes, stop: tuple[bytes, ...] = (b"IDAT", b"IEND")
                 ) -> list[tuple[int, bytes, bytes]]:
    """``(offset, type, data)`` of each chunk before the first ``stop`` chunk (that one
    included, its data empty). Raises ValueError for a damaged file."""
    if data[:8] != _PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    chunks = []
    offset = 8
    while True:
        if offset + 8 > len(data):
            raise ValueError("truncated PNG (no IDAT/IEND chunk)")
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind in stop:
            chunks.append((offset, kind, b""))
            return chunks
        end = offset + 12 + length
        if end > len(data):
            raise ValueError(f"truncated PNG chunk '{kind.decode('latin-1')}'")
        body = data[offset + 8:offset + 8 + length]
        crc = struct.unpack(">I", data[end - 4:end])[0]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in PNG chunk '{kind.decode('latin-1')}'")
        chunks.append((offset, kind, body))
        offset = end


def _inflate(data: bytes) -> bytes:
    decompressor = zlib.decompressobj()
    out = decompressor.decompress(data, MAX_METADATA_SIZE + 1)
    if len(out) > MAX_METADATA_SIZE or decompressor.unconsumed_tail:
        raise ValueError(f"compressed text larger than {MAX_METADATA_SIZE} bytes")
    return out


def _itxt_text(body: bytes) -> str | None:
    """The text of a ``faceswap`` iTXt chunk's data, ``None`` for another keyword."""
    keyword, sep, rest = body.partition(b"\x00")
    if not sep or keyword != _KEYWORD:
        return None
    if len(rest) < 2:
        raise ValueError("truncated iTXt header")
    compressed, method = rest[0], rest[1]
    rest = rest[2:]
    _language, sep1, rest = rest.partition(b"\x00")
    _translated, sep2, text = rest.partition(b"\x00")
    if not (sep1 and sep2):
        raise ValueError("truncated iTXt header")
    if compressed == 1:
        if method != 0:
            raise ValueError(f"unknown iTXt compression method {method}")
        text = _inflate(text)
    elif compressed != 0:
        raise ValueError(f"bad iTXt compression flag {compressed}")
    if len(text) > MAX_METADATA_SIZE:
        raise ValueError(f"{len(text)} bytes of text, more than the limit of "
                         f"{MAX_METADATA_SIZE}")
    return text.decode("utf-8", errors="ignore")


def _parse_png(data: bytes, name: str) -> tuple[int, int, dict | None]:
    try:
        chunks = _walk_chunks(data)
        if len(chunks) < 2 or chunks[0][1] != b"IHDR" or len(chunks[0][2]) != 13:
            raise ValueError("no IHDR chunk")
        width, height = struct.unpack(">II", chunks[0][2][:8])
        for _, kind, body in chunks:
            if kind != b"iTXt":
                continue
            text = _itxt_text(body)
            if text is None:
                continue
            meta = parse_literal(text)
            if not isinstance(meta, dict):
                raise ValueError(f"the metadata is a {type(meta).__name__}, not a dict")
            return width, height, meta
    except ValueError as err:
        raise MetadataError(
            f"The Faceswap metadata of '{name}' cannot be used: {err}. Re-extract the face with "
            "Faceswap, or remove it from the folder.") from None
    return width, height, None


def png_read_meta(data: bytes, name: str = "the image") -> dict | None:
    """The parsed ``faceswap`` iTXt metadata of PNG file bytes; ``None`` when it has none.

    Parameters
    ----------
    data
        The whole file's bytes.
    name
        How the file is named in an error.

    Raises
    ------
    MetadataError
        For a damaged PNG (truncated, bad CRC) or a metadata chunk that is not a bounded
        Python literal dict.
    """
    return _parse_png(data, name)[2]


def read_image_meta(path: str | Path) -> dict[str, Any]:
    """``{"width": int, "height": int, "itxt": metadata}`` of a face image from its header.

    ``"itxt"`` is present only when a PNG carries a ``faceswap`` iTXt chunk. Only the chunks
    before the first ``IDAT`` are read for a PNG; other formats give the header's size.

    Raises
    ------
    MetadataError
        For an unreadable file, or a damaged PNG or metadata chunk.
    """
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(8)
            if data != _PNG_SIGNATURE:
                size = header_size(path)
                if size is None:
                    raise MetadataError(f"'{name}' is not a readable PNG or JPEG image.")
                return {"width": size[0], "height": size[1]}
            # read chunk by chunk up to the first IDAT, so a large image is not read whole
            while True:
                head = handle.read(8)
                data += head
                if len(head) < 8 or head[4:8] in (b"IDAT", b"IEND"):
                    break
                length = struct.unpack(">I", head[:4])[0]
                if length > MAX_METADATA_SIZE + 64:
                    raise MetadataError(f"'{name}' has a PNG chunk of {length} bytes before its "
                                        "image data: more than the metadata limit.")
                data += handle.read(length + 4)
    except OSError as err:
        raise MetadataError(f"'{name}' cannot be read: {err.strerror or err}.") from None
    width, height, meta = _parse_png(data, name)
    out: dict[str, Any] = {"width": width, "height": height}
    if meta is not None:
        out["itxt"] = meta
    return out


def pack_to_itxt(metadata: dict) -> bytes:
    """The whole ``faceswap`` iTXt chunk (length, type, data, CRC) for ``metadata``.

    The text is ``str(metadata)`` as Faceswap writes it, so every value must be a native Python
    literal (``dict``, ``list``, ``tuple``, ``str``, ``bytes``, ``int``, ``float``, ``bool``,
    ``None``): numpy values raise ``TypeError`` (their repr under numpy 2 is not a literal).
    """
    _check_native(metadata)
    return _chunk(b"iTXt", _KEYWORD + b"\x00" * 5 + str(metadata).encode("utf-8"))


def _check_native(value: Any, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("metadata nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_native(key, depth + 1)
            _check_native(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_native(item, depth + 1)
    elif type(value) not in (str, bytes, int, float, bool, type(None)):
        raise TypeError(f"metadata values must be native Python literals; found "
                        f"{type(value).__module__}.{type(value).__name__} {value!r}. Convert "
                        "numpy values with .tolist(), int() or float().")


def png_write_meta(png: bytes, metadata: dict) -> bytes:
    """PNG bytes with ``metadata`` in a ``faceswap`` iTXt chunk just before the first ``IDAT``
    (an existing ``faceswap`` chunk is replaced)."""
    chunks = _walk_chunks(png)
    out = [png[:8]]
    for offset, kind, body in chunks[:-1]:
        if kind == b"iTXt" and body.partition(b"\x00")[0] == _KEYWORD:
            continue
        out.append(png[offset:offset + 12 + len(body)])
    out.append(pack_to_itxt(metadata))
    out.append(png[chunks[-1][0]:])
    return b"".join(out)


def encode_image(image: np.ndarray, extension: str = ".png", metadata: dict | None = None,
                 png_compress_level: int = 3) -> bytes:
    """Encode an image with OpenCV (``.png`` with Faceswap's ``metadata`` when given).

    Raises
    ------
    ValueError
        If OpenCV cannot encode the image, or metadata is given for a non-PNG extension.
    """
    extension = extension.lower()
    params = ([cv2.IMWRITE_PNG_COMPRESSION, png_compress_level] if extension == ".png" else [])
    success, data = cv2.imencode(extension, image, params)
    if not success:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as '{extension}'")
    if metadata is None:
        return data.tobytes()
    if extension != ".png":
        raise ValueError(f"Faceswap metadata is stored in PNG files only, not '{extension}'")
    return png_write_meta(data.tobytes(), metadata)


# --- the face crop -------------------------------------------------------------------------------
def crop_square(image: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
    """The ``side`` square at ``(left, top)``; parts outside the image are 0 (black).

    A view of ``image`` when the square lies inside it, else a new zero-filled array (Faceswap's
    ``_convert_centering``).
    """
    height, width = image.shape[:2]
    if top >= 0 and left >= 0 and top + side <= height and left + side <= width:
        return image[top:top + side, left:left + side]
    out = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom, src_right = min(top + side, height), min(left + side, width)
    if src_bottom > src_top and src_right > src_left:
        out[src_top - top:src_bottom - top, src_left - left:src_right - left] = (
            image[src_top:src_bottom, src_left:src_right])
    return out


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a square image to ``size``: INTER_AREA to shrink, INTER_CUBIC to enlarge (a
    trailing channel axis of 1 is kept)."""
    current = image.shape[0]
    if current == size:
        return image
    interpolation = cv2.INTER_AREA if current > size else cv2.INTER_CUBIC
    out = cv2.resize(image, (size, size), interpolation=interpolation)
    return out.reshape((size, size) + image.shape[2:])
