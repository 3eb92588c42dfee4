"""The ``faces`` command: report what a folder of training faces holds.

``faceswap-original faces -i FOLDER`` reads every image's header (and, for PNGs, Faceswap's
metadata chunk; no pixel is decoded) and prints: the number of faces, their sizes, the kind of
face set (Faceswap's extract with metadata, or the simple format: alpha mask and
``landmarks.json``), the mask types the faces carry, whether they are legacy extracts, and the
problems training would meet (unreadable files, missing or damaged metadata, mixed sizes, legacy
and newer faces mixed, landmarks that are not 68 points).
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
from pathlib import Path
from typing import Any

from lib.align.detected_face import DetectedFace
from lib.errors import FaceswapError
from lib.image import MetadataError, get_image_paths, read_image_meta

__all__ = ["faces", "report_faces"]

logger = logging.getLogger(__name__)


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def report_faces(folder: str | Path) -> dict[str, Any]:
    """What a face folder holds.

    Returns
    -------
    ``{"folder", "count", "sizes": {side: count}, "kind": "faceswap"|"simple"|"mixed",
    "masks": {name: count}, "versions": {version: count}, "legacy": bool, "landmarks":
    {"68x2": count, ...}, "problems": [text, ...]}``.

    Raises
    ------
    lib.errors.FaceswapError
        If the folder does not exist or holds no images.
    """
    paths = get_image_paths(folder)
    sizes: collections.Counter[str] = collections.Counter()
    masks: collections.Counter[str] = collections.Counter()
    versions: collections.Counter[float] = collections.Counter()
    landmarks: collections.Counter[str] = collections.Counter()
    problems: dict[str, list[str]] = collections.defaultdict(list)
    with_meta = without_meta = 0
    for path in paths:
        name = os.path.basename(path)
        try:
            header = read_image_meta(path)
        except MetadataError as err:
            problems["unreadable or damaged"].append(f"{name} ({err})")
            continue
        width, height = header["width"], header["height"]
        sizes[f"{width}x{height}"] += 1
        if width != height:
            problems["not square"].append(name)
        meta = header.get("itxt")
        if not isinstance(meta, dict) or "alignments" not in meta:
            without_meta += 1
            continue
        with_meta += 1
        try:
            face = DetectedFace.from_png_meta(meta, name)
        except MetadataError as err:
            problems["unusable Faceswap metadata"].append(str(err))
            continue
        masks.update(list(face.mask))
        if not face.mask:
            problems["no stored masks"].append(name)
        versions[face.alignments_version] += 1
        shape = "x".join(str(value) for value in face.landmarks_xy.shape)
        landmarks[shape] += 1
        if shape != "68x2":
            problems["landmarks not 68 points (no eye/mouth masks or warp-to-landmarks)"].append(
                name)
    kind = ("faceswap" if with_meta and not without_meta else
            "simple" if without_meta and not with_meta else "mixed" if with_meta else "none")
    if kind == "mixed":
        problems["no Faceswap metadata in a Faceswap face set"].append(
            f"{without_meta} of {with_meta + without_meta} faces")
    if len(sizes) > 1:
        problems["mixed sizes (training keeps the most common)"].append(
            ", ".join(f"{size}: {count}" for size, count in sizes.most_common()))
    legacy = versions.get(1.0, 0)
    if legacy and legacy != sum(versions.values()):
        problems["legacy and newer extracts mixed (training refuses this)"].append(
            f"{legacy} legacy of {sum(versions.values())}")
    if kind == "simple" and not (Path(folder) / "landmarks.json").is_file():
        problems["no landmarks.json (no eye/mouth masks)"].append(str(folder))
    return {"folder": str(folder), "count": len(paths), "sizes": dict(sizes), "kind": kind,
            "masks": dict(masks), "versions": dict(versions),
            "legacy": bool(legacy) and legacy == sum(versions.values()),
            "landmarks": dict(landmarks), "problems": [
                f"{what}: {len(items)}: {_names(items)}" for what, items in problems.items()]}


def faces(args: argparse.Namespace) -> int:
    """The ``faces`` command: print the report of ``args.input_dir``."""
    folder = Path(args.input_dir)
    if not folder.is_dir():
        raise FaceswapError(f"The face folder '{folder}' does not exist or is not a folder. "
                            "Give a folder of extracted faces with -i.")
    report = report_faces(folder)
    kinds = {"faceswap": "Faceswap face set (faces with Faceswap's PNG metadata)",
             "simple": "simple format (alpha mask, landmarks.json)",
             "mixed": "mixed: some faces carry Faceswap metadata, some do not",
             "none": "no readable faces"}
    lines = [f"Folder:     {report['folder']}",
             f"Faces:      {report['count']}",
             "Sizes:      " + (", ".join(f"{size} ({count})" for size, count in
                                         sorted(report["sizes"].items())) or "none"),
             f"Kind:       {kinds[report['kind']]}"]
    if report["kind"] in ("faceswap", "mixed"):
        lines.append("Masks:      " + (", ".join(f"{name} ({count})" for name, count in
                                                 sorted(report["masks"].items())) or "none"))
        lines.append("Versions:   " + ", ".join(f"{version} ({count})" for version, count in
                                                sorted(report["versions"].items())))
        lines.append("Legacy:     " + ("yes (trains at 'legacy' centering)" if report["legacy"]
                                       else "no"))
        lines.append("Landmarks:  " + ", ".join(f"{shape} ({count})" for shape, count in
                                                sorted(report["landmarks"].items())))
    lines.append("Problems:   " + ("none" if not report["problems"] else ""))
    lines.extend(f"  - {problem}" for problem in report["problems"])
    print("\n".join(lines))
    return 0
