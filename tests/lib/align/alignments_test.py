"""Tests for lib/align/alignments.py: safe loading, older versions, writing Faceswap 3 files."""
from __future__ import annotations

import builtins
import io
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from lib.align.aligned_mask import Mask
from lib.align.alignments import (
    Alignments,
    default_alignments_path,
    face_from_landmarks,
    load_alignments,
    save_alignments,
    serialize_alignments,
)
from lib.errors import FaceswapError


def _landmarks(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 500, (68, 2)).astype("float32")


def _mask_entry(size: int = 8) -> dict:
    pixels = (np.arange(size * size) % 256).astype("uint8")
    return {"mask": zlib.compress(pixels.tobytes()),
            "affine_matrix": np.array([[0.3, 0.05, -50.0], [-0.05, 0.3, 17.0]]),
            "interpolator": 2, "stored_size": size, "stored_centering": "face"}


def _face(seed: int = 0) -> dict:
    return {"x": 230, "w": 200, "y": 140, "h": 220, "landmarks_xy": _landmarks(seed),
            "mask": {"components": _mask_entry()}, "identity": {}, "thumb": None}


def _write(path: Path, obj: object, protocol: int = 4) -> Path:
    path.write_bytes(zlib.compress(pickle.dumps(obj, protocol=protocol)))
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ------------------------------------------------------------------------------------------------
# Writing: the bytes Faceswap 3 writes
# ------------------------------------------------------------------------------------------------
def _short_str(text: str) -> bytes:
    """SHORT_BINUNICODE then MEMOIZE (CPython's pickler memoizes every string)."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw + b"\x94"


def test_writer_matches_protocol_4_bytes_built_from_the_spec() -> None:
    """One frame without faces, assembled opcode by opcode from the pickle protocol 4 format
    (pickletools' documentation) as CPython writes it: FRAME, memoized containers and strings,
    SETITEM for one item and MARK ... SETITEMS for several; then zlib at the default level."""
    body = (b"}\x94"                                  # EMPTY_DICT, MEMOIZE: the top dict
            + b"("                                    # MARK: two items follow
            + _short_str("__meta__") + b"}\x94"       # "__meta__": {
            + _short_str("version") + b"G" + struct.pack(">d", 2.4) + b"s"  # "version": 2.4}
            + _short_str("__data__") + b"}\x94"       # "__data__": {
            + _short_str("frame_000001.png") + b"}\x94"
            + b"(" + _short_str("faces") + b"]\x94"   # "faces": []
            + _short_str("video_meta") + b"}\x94"     # "video_meta": {}
            + b"u"                                    # SETITEMS of the frame dict
            + b"s"                                    # SETITEM: the one frame
            + b"u"                                    # SETITEMS of the top dict
            + b".")                                   # STOP
    expected = b"\x80\x04" + b"\x95" + struct.pack("<Q", len(body)) + body
    written = serialize_alignments({"frame_000001.png": {"faces": [], "video_meta": {}}})
    assert written[:2] == b"\x78\x9c"  # zlib stream, default level
    assert zlib.decompress(written) == expected
    assert written == zlib.compress(expected)


def test_writer_arrays_use_only_numpy_reconstruction_and_load_with_plain_pickle(
        tmp_path: Path) -> None:
    face = _face()
    face["x"] = np.int32(230)  # a manual-tool edit: written back as a plain int
    face["landmarks_xy"] = face["landmarks_xy"].tolist()  # a list: written as float32 array
    data = {"clip_000001.mp4": {"faces": [face], "video_meta": {"pts_time": 0.0,
                                                                "keyframe": True}}}
    path = save_alignments(tmp_path / "out.json", data)
    assert path == tmp_path / "out.fsa"
    raw = zlib.decompress(path.read_bytes())
    assert raw[:2] == b"\x80\x04"
    globals_used = set()

    class _Recording(pickle.Unpickler):
        def find_class(self, module, name):
            globals_used.add((module, name))
            return super().find_class(module, name)

    # What Faceswap does on load: a plain unpickle of the decompressed bytes (our own file).
    plain = _Recording(io.BytesIO(raw)).load()
    assert globals_used == {("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
                            ("numpy", "dtype")}
    landmarks = np.array(data["clip_000001.mp4"]["faces"][0]["landmarks_xy"], dtype="float32")
    assert landmarks.tobytes() in raw
    assert plain["__meta__"] == {"version": 2.4}
    loaded_face = plain["__data__"]["clip_000001.mp4"]["faces"][0]
    assert type(loaded_face["x"]) is int and loaded_face["x"] == 230
    assert loaded_face["landmarks_xy"].dtype == np.float32
    np.testing.assert_array_equal(loaded_face["landmarks_xy"], landmarks)
    assert list(loaded_face) == ["x", "w", "y", "h", "landmarks_xy", "mask", "identity", "thumb"]
    np.testing.assert_array_equal(loaded_face["mask"]["components"]["affine_matrix"],
                                  _mask_entry()["affine_matrix"])


def test_round_trip_through_the_safe_loader(tmp_path: Path) -> None:
    alignments = Alignments()
    assert alignments.add_face("a.png", _face(1)) == 0
    assert alignments.add_face("a.png", _face(2)) == 1
    alignments.data["b.png"] = {"faces": [], "video_meta": {}}
    path = alignments.save(tmp_path / "alignments.fsa")
    loaded = load_alignments(path)
    assert loaded.file_version == 2.4 and loaded.version == 2.4
    assert loaded.faces_count == 2
    assert loaded.count_faces_in_frame("a.png") == 2
    assert loaded.frame_exists("b.png") and not loaded.frame_has_faces("b.png")
    assert loaded.get_faces_in_frame("missing.png") == []
    assert loaded.mask_summary == {"components": 2}
    np.testing.assert_array_equal(loaded.get_faces_in_frame("a.png")[1]["landmarks_xy"],
                                  _landmarks(2))
    mask = Mask.from_dict(loaded.get_faces_in_frame("a.png")[0]["mask"]["components"]).stored_mask
    assert mask.shape == (8, 8, 1) and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask.ravel(), np.arange(64))


def test_numpy_scalar_boxes_load(tmp_path: Path) -> None:
    """Faceswap's manual tool leaves x/y/w/h as numpy.int32 (spec §9 Q9): they need NumPy's
    scalar global, which is allowed, and become ints."""
    face = _face()
    face["x"], face["w"] = np.int32(12), np.int64(34)
    path = _write(tmp_path / "a.fsa", {"__meta__": {"version": 2.4},
                                       "__data__": {"f.png": {"faces": [face],
                                                              "video_meta": {}}}})
    assert b"scalar" in zlib.decompress(path.read_bytes())
    loaded = load_alignments(path).get_faces_in_frame("f.png")[0]
    assert (loaded["x"], loaded["w"]) == (12, 34) and type(loaded["x"]) is int


# ------------------------------------------------------------------------------------------------
# Older versions load as Faceswap loads them (in memory; the file is not rewritten)
# ------------------------------------------------------------------------------------------------
def test_version_1_bare_mapping_lists_and_old_key_names(tmp_path: Path) -> None:
    """Before 2.0: no __meta__, a frame is a list of faces, landmarks are 'landmarksXY' lists,
    and faces have no mask/identity; a numpy 1.x, protocol 3 pickle."""
    legacy_face = {"x": 1, "w": 2, "y": 3, "h": 4, "landmarksXY": _landmarks().tolist(),
                   "hash": "ab" * 20}
    raw = pickle.dumps({"f1.png": [legacy_face], "f2.png": []}, protocol=3)
    assert b"\x80\x03" == raw[:2]
    path = tmp_path / "alignments.fsa"
    path.write_bytes(zlib.compress(raw))
    before = _snapshot(tmp_path)
    loaded = load_alignments(path)
    assert _snapshot(tmp_path) == before
    assert loaded.file_version == 1.0 and loaded.version == 2.4
    face = loaded.get_faces_in_frame("f1.png")[0]
    assert "landmarksXY" not in face
    assert face["landmarks_xy"].dtype == np.float32 and face["landmarks_xy"].shape == (68, 2)
    np.testing.assert_allclose(face["landmarks_xy"], _landmarks(), rtol=0)
    assert face["mask"] == {} and face["identity"] == {} and face["hash"] == "ab" * 20
    assert loaded.data["f1.png"]["video_meta"] == {} and loaded.data["f2.png"]["faces"] == []


def test_version_2_1_numpy_1_masks_get_face_centering(tmp_path: Path) -> None:
    """2.1: masks lack stored_centering (read as 'face'), no identity, no video_meta; written by
    NumPy 1.x (module path numpy.core.multiarray) with protocol 3."""
    face = _face()
    del face["mask"]["components"]["stored_centering"], face["identity"]
    raw = pickle.dumps({"__meta__": {"version": 2.1}, "__data__": {"f.png": {"faces": [face]}}},
                       protocol=3)
    raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct" in raw
    path = tmp_path / "a.fsa"
    path.write_bytes(zlib.compress(raw))
    loaded = load_alignments(path)
    assert loaded.file_version == 2.1
    got = loaded.get_faces_in_frame("f.png")[0]
    assert got["mask"]["components"]["stored_centering"] == "face"
    assert got["identity"] == {} and loaded.data["f.png"]["video_meta"] == {}


def test_video_keys_before_2_4_are_renamed_for_the_video(tmp_path: Path) -> None:
    path = _write(tmp_path / "clip_alignments.fsa", {
        "__meta__": {"version": 2.3},
        "__data__": {"clip_000001.png": {"faces": [_face()], "video_meta": {}},
                     "clip_000002.png": {"faces": [], "video_meta": {}},
                     "other_000001.png": {"faces": [], "video_meta": {}}}})
    loaded = load_alignments(path)
    assert loaded.update_legacy_has_source(tmp_path / "clip.mp4") == 2
    assert sorted(loaded.data) == ["clip_000001.mp4", "clip_000002.mp4", "other_000001.png"]
    current = load_alignments(_write(tmp_path / "b.fsa", {
        "__meta__": {"version": 2.4}, "__data__": {"clip_000001.png": {"faces": []}}}))
    assert current.update_legacy_has_source(tmp_path / "clip.mp4") == 0


def test_default_paths(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    assert default_alignments_path(tmp_path) == tmp_path / "alignments.fsa"
    assert default_alignments_path(video) == tmp_path / "clip_alignments.fsa"
    assert default_alignments_path(video, "x/my.pkl") == Path("x/my.fsa")


# ------------------------------------------------------------------------------------------------
# Untrusted input: refused, nothing run, nothing written
# ------------------------------------------------------------------------------------------------
class _OpensAFile:
    """Unpickling this with plain pickle would call open(path, 'w'): code from the file."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (builtins.open, (self.target, "w"))


def _refused(path: Path, match: str, **kwargs) -> None:
    before = _snapshot(path.parent)
    with pytest.raises(FaceswapError, match=match) as info:
        load_alignments(path, **kwargs)
    assert str(path) in str(info.value)
    assert _snapshot(path.parent) == before  # nothing written, the file untouched


def test_hostile_reduce_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    obj = {"__meta__": {"version": 2.4},
           "__data__": {"f.png": {"faces": [], "video_meta": {"x": _OpensAFile(marker)}}}}
    path = _write(tmp_path / "evil.fsa", obj)
    # The payload is real: plain pickle would run it.
    ran = pickle.loads(zlib.decompress(path.read_bytes()))
    ran["__data__"]["f.png"]["video_meta"]["x"].close()
    assert marker.exists()
    marker.unlink()
    _refused(path, "'io.open'.*nothing from it was run")
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    b"cos\nsystem\n(S'echo hi'\ntR.",                             # GLOBAL os.system, protocol 0
    b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c\x02id\x85R.",   # STACK_GLOBAL
    b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.",
    b"\x80\x04\x8c\x05numpy\x8c\x04load\x93.",
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00.",     # an allowed global, not a dict
], ids=["os-system", "posix-system", "eval", "numpy-load", "bare-reconstruct"])
def test_globals_outside_numpy_arrays_are_refused(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "evil.fsa"
    path.write_bytes(zlib.compress(payload))
    _refused(path, "cannot be used")


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    face = _face()
    face["landmarks_xy"] = np.array([_OpensAFile(tmp_path / "ran.txt")] * 2, dtype=object)
    path = _write(tmp_path / "evil.fsa", {"__meta__": {"version": 2.4},
                                          "__data__": {"f.png": {"faces": [face]}}})
    _refused(path, "dtype 'O8'")
    assert not (tmp_path / "ran.txt").exists()


def test_array_constructor_cannot_be_called_with_any_shape(tmp_path: Path) -> None:
    """numpy.ndarray may only be the subtype argument of _reconstruct; calling it, or
    _reconstruct with another shape, could allocate any amount of memory."""
    huge = b"(\x8a\x05\x00\x00\x00\x00\x01t"  # the tuple (2**32,)
    for payload in (b"\x80\x04\x8c\x05numpy\x8c\x07ndarray\x93" + huge + b"R.",
                    b"\x80\x04\x8c\x16numpy._core.multiarray\x8c\x0c_reconstruct\x93"
                    b"\x8c\x05numpy\x8c\x07ndarray\x93" + huge + b"C\x01b\x87R."):
        path = tmp_path / "evil.fsa"
        path.write_bytes(zlib.compress(payload))
        _refused(path, "cannot be used")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "trailing", "empty", "not-zlib"])
def test_damaged_files_are_refused(tmp_path: Path, damage: str) -> None:
    good = serialize_alignments({"f.png": {"faces": [_face()], "video_meta": {}}})
    data = {"garbage": os.urandom(200), "truncated": good[:len(good) // 2],
            "trailing": good + b"junk", "empty": b"",
            "not-zlib": pickle.dumps({"__data__": {}})}[damage]
    path = tmp_path / "alignments.fsa"
    path.write_bytes(data)
    _refused(path, "cannot be used")


def test_truncated_pickle_inside_valid_zlib_is_refused(tmp_path: Path) -> None:
    raw = zlib.decompress(serialize_alignments({"f.png": {"faces": [_face()]}}))
    path = tmp_path / "a.fsa"
    path.write_bytes(zlib.compress(raw[:-40]))
    _refused(path, "damaged")


def test_oversized_file_and_zip_bomb_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.fsa"
    path.write_bytes(serialize_alignments({"f.png": {"faces": [_face()]}}))
    _refused(path, "more than the 100 bytes allowed", max_file_bytes=100)
    bomb = tmp_path / "bomb.fsa"
    bomb.write_bytes(zlib.compress(pickle.dumps({"__data__": {"f": {"faces": []}},
                                                 "pad": b"\0" * 5_000_000})))
    assert bomb.stat().st_size < 10_000
    _refused(bomb, "decompresses to more than the 1000000 bytes", max_data_bytes=1_000_000)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FaceswapError, match="cannot be read"):
        load_alignments(tmp_path / "none.fsa")


@pytest.mark.parametrize("change, match", [
    (lambda obj: [1, 2], "holds a list"),
    (lambda obj: {"__meta__": {"version": "2.4"}, "__data__": {}}, "version of '2.4'"),
    (lambda obj: {**obj, "__data__": {"f.png": {"video_meta": {}}}}, "without a list of faces"),
    (lambda obj: _edit_face(obj, landmarks_xy=np.zeros((5, 2), "float32")), r"shape \(5, 2\)"),
    (lambda obj: _edit_face(obj, x="12"), "str where an integer"),
    (lambda obj: _edit_face(obj, mask={"components": {**_mask_entry(), "stored_size": 10**6}}),
     "mask size of 1000000"),
    (lambda obj: _edit_face(obj, thumb=np.zeros((4, 4, 3), "float64")), "thumbnail"),
    (lambda obj: _edit_face(obj, extra={1.5: "x"}), "key of type float"),
], ids=["not-a-dict", "version-str", "no-faces", "landmark-shape", "box-str", "mask-size",
        "thumb", "bad-key"])
def test_wrong_structure_is_refused(tmp_path: Path, change, match: str) -> None:
    obj = {"__meta__": {"version": 2.4}, "__data__": {"f.png": {"faces": [_face()]}}}
    path = _write(tmp_path / "a.fsa", change(obj))
    _refused(path, match)


def _edit_face(obj: dict, **changes) -> dict:
    obj["__data__"]["f.png"]["faces"][0].update(changes)
    return obj


def test_serialize_refuses_invalid_data() -> None:
    with pytest.raises(ValueError, match="shape"):
        serialize_alignments({"f.png": {"faces": [{**_face(), "landmarks_xy": np.zeros(3)}]}})


def test_restricted_unpickler_is_not_plain_pickle() -> None:
    """Guard against a refactor that drops the restriction: the module never calls
    pickle.loads/pickle.load."""
    source = Path(__file__).parents[3].joinpath("lib", "align", "alignments.py").read_text()
    assert "pickle.loads(" not in source and "pickle.load(" not in source


def test_face_from_landmarks_is_an_extract_face(tmp_path: Path) -> None:
    landmarks = _landmarks(5)
    face = face_from_landmarks(landmarks)
    assert list(face) == ["x", "w", "y", "h", "landmarks_xy", "mask", "identity", "thumb"]
    assert (face["x"], face["y"]) == tuple(np.floor(landmarks.min(axis=0)).astype(int))
    assert face["x"] + face["w"] == int(np.ceil(landmarks[:, 0].max()))
    assert sorted(face["mask"]) == ["components", "extended"]
    for entry in face["mask"].values():
        assert entry["stored_size"] == 128 and entry["stored_centering"] == "face"
        assert entry["affine_matrix"].dtype == np.float64
    path = save_alignments(tmp_path / "a.fsa", {"f.png": {"faces": [face]}})
    loaded = load_alignments(path).get_faces_in_frame("f.png")[0]
    assert Mask.from_dict(loaded["mask"]["extended"]).stored_mask.max() == 255
