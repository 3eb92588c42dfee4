"""Faceswap alignments files (``.fsa``): safe loading, the in-memory upgrade of older versions,
and writing files that Faceswap 3 loads.

An alignments file is ``zlib.compress(pickle.dumps(obj, protocol=4))`` where ``obj`` is
``{"__meta__": {"version": 2.4}, "__data__": {frame_name: {"faces": [...], "video_meta": {}}}}``
(older files: no ``__meta__``, version 1.0, and the whole object is the frame mapping).

The file is untrusted input, and ``pickle.loads`` on it could run any code. It is therefore read
by an unpickler whose ``find_class`` admits only what a genuine file needs: NumPy's array and
scalar reconstruction with the plain numeric dtypes of the file (``float32``, ``float64``,
``uint8``, ``int32``, ``int64``). Dicts, lists, tuples, strings, bytes, numbers, booleans and
``None`` need no global at all. The compressed and the decompressed sizes are bounded, and the
loaded structure is checked against the format; anything else raises
:class:`lib.errors.FaceswapError` naming the file, and no code from the file ever runs.

Faceswap compat: Faceswap upgrades files older than 2.3 and immediately *rewrites* them on disk
(without a backup). We run the same upgrade in memory only: reading never writes.
"""
from __future__ import annotations

import io
import logging
import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lib.align.aligned_mask import MAX_STORED_SIZE, stored_landmark_mask
from lib.errors import FaceswapError
from lib.utils import write_atomic

__all__ = [
    "ALIGNMENTS_VERSION",
    "MAX_DATA_BYTES",
    "MAX_FILE_BYTES",
    "Alignments",
    "default_alignments_path",
    "face_from_landmarks",
    "load_alignments",
    "save_alignments",
    "serialize_alignments",
]

logger = logging.getLogger(__name__)

ALIGNMENTS_VERSION = 2.4
"""The version Faceswap 3 writes, and that every loaded file is upgraded to in memory."""
MAX_FILE_BYTES = 1 << 30
"""Largest compressed file accepted by default (1 GiB)."""
MAX_DATA_BYTES = 4 << 30
"""Largest decompressed pickle accepted by default (4 GiB)."""

_PICKLE_PROTOCOL = 4  # Faceswap compat: the default protocol of Python 3.11-3.13
_LANDMARK_SHAPES = {(68, 2), (51, 2), (4, 2), (26, 3)}
_CENTERINGS = ("face", "head", "legacy")
_DTYPES = frozenset(np.dtype(name) for name in ("float32", "float64", "uint8", "int32", "int64"))
_DTYPE_CODES = frozenset({"f4", "f8", "u1", "i4", "i8"})
_MAX_DEPTH = 32


class _Refused(Exception):
    """Something a genuine alignments file never holds."""


class _NDArrayMarker:
    """Stands in for ``numpy.ndarray`` in the unpickler: accepted as the ``subtype`` argument of
    ``_reconstruct`` but not callable, so a file cannot allocate arrays of any shape with it."""

    __slots__ = ()


class _Reconstruct:
    """``numpy.(_)core.multiarray._reconstruct``: only the empty base array that NumPy's
    ``ndarray.__reduce__`` always asks for; the array's ``__setstate__`` then fills it."""

    __slots__ = ()

    def __call__(self, subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
        if not isinstance(subtype, _NDArrayMarker) or shape != (0,) or typecode != b"b":
            raise _Refused("an array reconstruction with unexpected arguments")
        return np.ndarray((0,), dtype=np.uint8)


class _DType:
    """``numpy.dtype``: only the plain numeric dtypes of a genuine file (never ``object``)."""

    __slots__ = ()

    def __call__(self, code: Any, align: Any = False, copy: Any = False) -> np.dtype:
        if not isinstance(code, str) or code not in _DTYPE_CODES:
            raise _Refused(f"an array of dtype {code!r}")
        return np.dtype(code, bool(align), bool(copy))


class _Scalar:
    """``numpy.(_)core.multiarray.scalar``: a NumPy number built from its raw bytes."""

    __slots__ = ()

    def __call__(self, dtype: Any, data: Any = None) -> np.generic:
        if (not isinstance(dtype, np.dtype) or dtype not in _DTYPES
                or not isinstance(data, bytes) or len(data) != dtype.itemsize):
            raise _Refused("a NumPy scalar that is not a plain number")
        return np.frombuffer(data, dtype=dtype)[0]


_RECONSTRUCT, _SCALAR = _Reconstruct(), _Scalar()
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NDArrayMarker(),
    ("numpy", "dtype"): _DType(),
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written with NumPy >= 2
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written with NumPy 1.x
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of :data:`_ALLOWED_GLOBALS`; everything else is refused before
    it is imported or called."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise _Refused(f"a reference to '{module}.{name}'")
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("a persistent reference")


def default_alignments_path(input_path: str | Path, alignments: str | Path | None = None) -> Path:
    """Where Faceswap reads the alignments file of a frames folder or a video.

    Parameters
    ----------
    input_path
        The folder of frames or the video file.
    alignments
        An explicit path (``-p/--alignments``), which wins. Its extension is forced to ``.fsa``,
        as Faceswap does.

    Returns
    -------
    ``<alignments>.fsa``; else ``<folder>/alignments.fsa`` for a folder, or
    ``<video folder>/<video stem>_alignments.fsa`` for a video.
    """
    if alignments is not None:
        path = Path(alignments)
        return path if path.suffix.lower() == ".fsa" else path.with_suffix(".fsa")
    source = Path(input_path)
    if source.is_dir():
        return source / "alignments.fsa"
    return source.parent / f"{source.stem}_alignments.fsa"


def _invalid(path: Path | str, problem: str) -> FaceswapError:
    return FaceswapError(
        f"The alignments file '{path}' cannot be used: {problem}. Give the alignments file that "
        "Faceswap's extract wrote for these frames (-p/--alignments), or extract them again.")


def _read_bytes(path: Path, max_file_bytes: int, max_data_bytes: int) -> bytes:
    """The decompressed pickle, with both sizes bounded (no zip bomb is inflated past the
    bound)."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise FaceswapError(f"The alignments file '{path}' cannot be read: {err}. Check the path "
                            "(-p/--alignments).") from err
    if size > max_file_bytes:
        raise _invalid(path, f"it is {size} bytes, more than the {max_file_bytes} bytes allowed")
    try:
        compressed = path.read_bytes()
    except OSError as err:
        raise FaceswapError(f"The alignments file '{path}' cannot be read: {err}.") from err
    if len(compressed) > max_file_bytes:  # it grew since stat()
        raise _invalid(path, f"it is more than the {max_file_bytes} bytes allowed")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(compressed, max_data_bytes + 1)
    except zlib.error as err:
        raise _invalid(path, f"it is not a zlib-compressed alignments file ({err})") from err
    if len(data) > max_data_bytes:
        raise _invalid(path, f"its data decompresses to more than the {max_data_bytes} bytes "
                             "allowed")
    if not inflater.eof:
        raise _invalid(path, "it is truncated (the compressed data ends early)")
    if inflater.unused_data:
        raise _invalid(path, "it has unexpected bytes after the compressed data")
    return data


def _unpickle(path: Path, data: bytes) -> Any:
    try:
        return _RestrictedUnpickler(io.BytesIO(data)).load()
    except _Refused as err:
        raise _invalid(path, f"it holds {err}, which a genuine alignments file never does "
                             "(nothing from it was run)") from err
    except Exception as err:  # any unpickling failure is a damaged file
        raise _invalid(path, f"its data is damaged ({type(err).__name__}: {err})") from err


def _check_plain(value: Any, where: str, depth: int = 0) -> None:
    """Values under keys the format does not name: only plain data and safe arrays."""
    if depth > _MAX_DEPTH:
        raise _Refused(f"data nested too deeply at {where}")
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return
    if isinstance(value, np.ndarray):
        _check_array(value, where)
    elif isinstance(value, np.generic):
        if value.dtype not in _DTYPES:
            raise _Refused(f"a value of type {value.dtype} at {where}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, where, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise _Refused(f"a key of type {type(key).__name__} at {where}")
            _check_plain(item, f"{where}/{key}", depth + 1)
    else:
        raise _Refused(f"a value of type {type(value).__name__} at {where}")


def _check_array(value: Any, where: str, shapes: set[tuple[int, ...]] | None = None) -> None:
    if type(value) is not np.ndarray or value.dtype not in _DTYPES:
        raise _Refused(f"an array of type {getattr(value, 'dtype', type(value).__name__)} at "
                       f"{where}")
    if shapes is not None and value.shape not in shapes:
        raise _Refused(f"an array of shape {value.shape} at {where}")


def _to_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _Refused(f"a {type(value).__name__} where an integer belongs ({where})")
    return int(value)


def _check_landmarks(value: Any, where: str) -> np.ndarray:
    if isinstance(value, (list, tuple)):  # Faceswap compat: updater ListToNumpy
        try:
            value = np.array(value, dtype="float32")
        except (TypeError, ValueError, OverflowError) as err:
            raise _Refused(f"landmarks that are not numbers at {where}") from err
    _check_array(value, where, _LANDMARK_SHAPES)
    if value.dtype.kind != "f":
        value = value.astype("float32")
    return value


def _check_mask(entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise _Refused(f"a mask that is not a dict at {where}")
    for key in ("mask", "affine_matrix", "interpolator", "stored_size"):
        if key not in entry:
            raise _Refused(f"a mask without '{key}' at {where}")
    if not isinstance(entry["mask"], bytes):
        raise _Refused(f"mask data that is not bytes at {where}")
    matrix = entry["affine_matrix"]
    if isinstance(matrix, list):  # as in a PNG header
        try:
            matrix = entry["affine_matrix"] = np.array(matrix, dtype="float64")
        except (TypeError, ValueError, OverflowError) as err:
            raise _Refused(f"a mask matrix that is not numbers at {where}") from err
    _check_array(matrix, f"{where}/affine_matrix", {(2, 3)})
    entry["interpolator"] = _to_int(entry["interpolator"], f"{where}/interpolator")
    size = entry["stored_size"] = _to_int(entry["stored_size"], f"{where}/stored_size")
    if not 1 <= size <= MAX_STORED_SIZE:
        raise _Refused(f"a mask size of {size} (1 to {MAX_STORED_SIZE} allowed) at {where}")
    entry.setdefault("stored_centering", "face")  # Faceswap compat: updater MaskCentering
    if entry["stored_centering"] not in _CENTERINGS:
        raise _Refused(f"a mask centering {entry['stored_centering']!r} at {where}")


def _check_face(face: Any, where: str) -> None:
    """Validate one face dict in place, applying Faceswap's per-face upgrades."""
    if not isinstance(face, dict):
        raise _Refused(f"a face that is not a dict at {where}")
    if "landmarksXY" in face and "landmarks_xy" not in face:  # updater LandmarkRename
        face["landmarks_xy"] = face.pop("landmarksXY")
    for key in ("x", "y", "w", "h", "landmarks_xy"):
        if key not in face:
            raise _Refused(f"a face without '{key}' at {where}")
    for key in ("x", "y", "w", "h"):
        face[key] = _to_int(face[key], f"{where}/{key}")
    face["landmarks_xy"] = _check_landmarks(face["landmarks_xy"], f"{where}/landmarks_xy")
    masks = face.get("mask")
    if masks is None:
        masks = face["mask"] = {}
    if not isinstance(masks, dict):
        raise _Refused(f"masks that are not a dict at {where}")
    for name, entry in masks.items():
        if not isinstance(name, str):
            raise _Refused(f"a mask name that is not a string at {where}")
        _check_mask(entry, f"{where}/mask/{name}")
    identity = face.setdefault("identity", {})  # updater IdentityAndVideoMeta
    if not isinstance(identity, dict) or any(
            not isinstance(key, str) or not isinstance(value, (list, np.ndarray))
            for key, value in identity.items()):
        raise _Refused(f"an identity that is not a dict of embeddings at {where}")
    thumb = face.get("thumb")
    if thumb is not None:
        _check_array(thumb, f"{where}/thumb")
        if thumb.dtype != np.uint8 or thumb.ndim not in (1, 2):
            raise _Refused(f"a thumbnail that is not encoded image bytes at {where}")
    for key, value in face.items():
        if key not in ("x", "y", "w", "h", "landmarks_xy", "mask", "identity", "thumb"):
            _check_plain(value, f"{where}/{key}")


def _normalise(path: Path | str, obj: Any) -> tuple[float, dict[str, dict[str, Any]]]:
    """The file's version and its frame mapping, checked and upgraded (in memory) as Faceswap's
    loader and updaters do."""
    if not isinstance(obj, dict):
        raise _invalid(path, f"it holds a {type(obj).__name__}, not an alignments dict")
    try:
        if "__meta__" in obj:
            meta = obj["__meta__"]
            version = meta.get("version") if isinstance(meta, dict) else None
            if isinstance(version, bool) or not isinstance(version, (int, float)) \
                    or not -1e6 < version < 1e6:  # a float, finite (an int may be huge)
                raise _Refused(f"a version of {version!r}")
            version = float(version)
            data = obj.get("__data__")
        else:  # Faceswap compat: files from before 2.0 are the bare frame mapping
            version, data = 1.0, obj
        if not isinstance(data, dict):
            raise _Refused("frame data that is not a dict")
        for frame, value in data.items():
            if not isinstance(frame, str):
                raise _Refused(f"a frame name of type {type(frame).__name__}")
            if isinstance(value, list):  # updater FileStructure
                value = data[frame] = {"faces": value}
            if not isinstance(value, dict) or not isinstance(value.get("faces"), list):
                raise _Refused(f"a frame without a list of faces at '{frame}'")
            meta = value.setdefault("video_meta", {})  # updater IdentityAndVideoMeta
            if not isinstance(meta, dict):
                raise _Refused(f"video metadata that is not a dict at '{frame}'")
            _check_plain(meta, f"{frame}/video_meta")
            for index, face in enumerate(value["faces"]):
                _check_face(face, f"{frame}/faces/{index}")
            for key, item in value.items():
                if key not in ("faces", "video_meta"):
                    _check_plain(item, f"{frame}/{key}")
    except _Refused as err:
        raise _invalid(path, f"it holds {err}, which a genuine alignments file does not") from err
    return version, data


def load_alignments(path: str | Path, *, max_file_bytes: int = MAX_FILE_BYTES,
                    max_data_bytes: int = MAX_DATA_BYTES) -> Alignments:
    """Read an alignments file safely (see the module docstring).

    Parameters
    ----------
    path
        The ``.fsa`` file.
    max_file_bytes, max_data_bytes
        Bounds on the compressed file and on its decompressed pickle.

    Returns
    -------
    The :class:`Alignments`, upgraded in memory to version 2.4 (the file is not changed).

    Raises
    ------
    lib.errors.FaceswapError
        If the file is missing, too large, damaged, truncated, not an alignments file, or holds
        anything but the plain data and numeric arrays of a genuine file.
    """
    path = Path(path)
    obj = _unpickle(path, _read_bytes(path, max_file_bytes, max_data_bytes))
    version, data = _normalise(path, obj)
    logger.debug("Loaded alignments file '%s' (version %s, %s frames)", path, version, len(data))
    return Alignments(data, file_version=version, path=path)


def serialize_alignments(data: dict[str, dict[str, Any]]) -> bytes:
    """The bytes of an alignments file holding ``data`` (a frame mapping), as Faceswap 3 writes
    them: ``zlib.compress(pickle.dumps({"__meta__": {"version": 2.4}, "__data__": data},
    protocol=4))``.

    The data is checked first, and converted in place where Faceswap's own types differ
    (landmark lists to ``float32`` arrays, NumPy integers to ``int``, missing ``mask``,
    ``identity`` and ``video_meta`` added), so a file we write loads in Faceswap 3 and in
    :func:`load_alignments`.

    Raises
    ------
    ValueError
        If ``data`` is not a valid frame mapping.
    """
    try:
        _, checked = _normalise("<data to save>", {"__meta__": {"version": ALIGNMENTS_VERSION},
                                                   "__data__": data})
    except FaceswapError as err:
        raise ValueError(str(err)) from err
    obj = {"__meta__": {"version": ALIGNMENTS_VERSION}, "__data__": checked}
    return zlib.compress(pickle.dumps(obj, protocol=_PICKLE_PROTOCOL))


def save_alignments(path: str | Path, data: dict[str, dict[str, Any]]) -> Path:
    """Write ``data`` (a frame mapping) as a Faceswap 3 alignments file, atomically.

    Returns
    -------
    The path written (its extension forced to ``.fsa``, as Faceswap does).
    """
    path = default_alignments_path("", path)
    write_atomic(path, serialize_alignments(data))
    logger.info("Saved alignments file '%s'", path)
    return path


def face_from_landmarks(landmarks_xy: np.ndarray,
                        masks: tuple[str, ...] = ("components", "extended")) -> dict[str, Any]:
    """A face dict as Faceswap's extract stores it, from 68 frame landmarks: the landmarks'
    bounding box as the detector box, the landmark masks ``masks`` (extract always stores
    ``components`` and ``extended``), no identity and no thumbnail.

    For writing alignments files of known faces (the demo, tests); see :func:`save_alignments`.
    """
    landmarks = np.asarray(landmarks_xy, dtype="float32")
    left, top = np.floor(landmarks.min(axis=0)).astype(int)
    right, bottom = np.ceil(landmarks.max(axis=0)).astype(int)
    stored = {}
    for name in masks:
        entry = stored_landmark_mask(landmarks, name).to_dict()
        entry["affine_matrix"] = np.asarray(entry["affine_matrix"], dtype="float64")
        stored[name] = entry
    return {"x": int(left), "w": int(right - left), "y": int(top), "h": int(bottom - top),
            "landmarks_xy": landmarks, "mask": stored, "identity": {}, "thumb": None}


class Alignments:
    """The frames and faces of an alignments file, with Faceswap's accessor names.

    Parameters
    ----------
    data
        The frame mapping ``{frame_name: {"faces": [face, ...], "video_meta": {...}}}``
        (empty for a new file).
    file_version
        The version the file had on disk (``version`` is always 2.4 after loading).
    path
        The file it was read from, if any.
    """

    version = ALIGNMENTS_VERSION

    def __init__(self, data: dict[str, dict[str, Any]] | None = None, *,
                 file_version: float = ALIGNMENTS_VERSION, path: Path | None = None) -> None:
        self._data: dict[str, dict[str, Any]] = {} if data is None else data
        self.file_version = file_version
        self.path = path

    @property
    def data(self) -> dict[str, dict[str, Any]]:
        """The frame mapping."""
        return self._data

    @property
    def faces_count(self) -> int:
        """The number of faces in all frames."""
        return sum(len(frame["faces"]) for frame in self._data.values())

    def frame_exists(self, frame_name: str) -> bool:
        """Whether the frame is in the file (it may have no faces)."""
        return frame_name in self._data

    def frame_has_faces(self, frame_name: str) -> bool:
        """Whether the frame is in the file with at least one face."""
        return bool(self._data.get(frame_name, {}).get("faces"))

    def get_faces_in_frame(self, frame_name: str) -> list[dict[str, Any]]:
        """The face dicts of a frame (empty when the frame is not in the file)."""
        return self._data.get(frame_name, {}).get("faces", [])

    def count_faces_in_frame(self, frame_name: str) -> int:
        """The number of faces in a frame."""
        return len(self.get_faces_in_frame(frame_name))

    @property
    def mask_summary(self) -> dict[str, int]:
        """Mask name -> the number of faces that store it."""
        summary: dict[str, int] = {}
        for face in self.yield_faces():
            for name in face.get("mask", {}):
                summary[name] = summary.get(name, 0) + 1
        return summary

    def yield_faces(self) -> Iterator[dict[str, Any]]:
        """Every face dict, frame by frame."""
        for frame in self._data.values():
            yield from frame["faces"]

    def add_face(self, frame_name: str, face: dict[str, Any]) -> int:
        """Append a face dict to a frame (created when new); returns its ``face_index``."""
        frame = self._data.setdefault(frame_name, {"faces": [], "video_meta": {}})
        frame["faces"].append(face)
        return len(frame["faces"]) - 1

    def update_legacy_has_source(self, source_path: str | Path) -> int:
        """Rename the frame keys of a video source from ``<stem>_NNNNNN.png`` to
        ``<stem>_NNNNNN<video extension>`` (alignments version 2.4), in memory.

        Faceswap compat: Faceswap's ``VideoExtension`` updater does this only for files at
        version 2.3, because older files are upgraded to 2.4 (without renaming) first. We rename
        for every file older than 2.4, so older video alignments still match their frames.

        Returns
        -------
        The number of keys renamed (0 for a folder of frames or a 2.4 file).
        """
        source = Path(source_path)
        if self.file_version >= ALIGNMENTS_VERSION or source.is_dir() \
                or source.suffix.lower() == ".png":
            return 0
        prefix = f"{source.stem}_"
        renamed = {}
        for key in list(self._data):
            stem = key[:-4]
            if (key.endswith(".png") and stem.startswith(prefix)
                    and stem[len(prefix):].isdigit() and len(stem) - len(prefix) == 6):
                renamed[key] = f"{stem}{source.suffix}"
        self._data = {renamed.get(key, key): value for key, value in self._data.items()}
        return len(renamed)

    def save(self, path: str | Path | None = None) -> Path:
        """Write the alignments to ``path`` (default: the file they were read from) as a
        Faceswap 3 file; see :func:`save_alignments`."""
        target = path if path is not None else self.path
        if target is None:
            raise ValueError("No path to save the alignments to.")
        return save_alignments(target, self._data)
