"""Tests for the ``faces`` command (faceswap_original.faces)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from faceswap_original.cli import main
from faceswap_original.faces import report_faces
from tests.lib.align.faces import draw_frame, face_variants, write_extract


def _faces(folder: Path, count: int, **kwargs) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, landmarks in enumerate(face_variants(count)):
        write_extract(folder / f"f{index}_0.png", landmarks, draw_frame(landmarks, seed=index),
                      64, **kwargs)


def test_report_of_a_faceswap_face_set(tmp_path: Path, capsys) -> None:
    _faces(tmp_path / "set", 3)
    report = report_faces(tmp_path / "set")
    assert report["count"] == 3 and report["kind"] == "faceswap"
    assert report["sizes"] == {"64x64": 3} and report["masks"] == {"components": 3,
                                                                    "extended": 3}
    assert report["versions"] == {2.4: 3} and not report["legacy"] and report["problems"] == []
    assert main(["faces", "-i", str(tmp_path / "set")]) == 0
    out = capsys.readouterr().out
    assert "Faces:      3" in out and "components (3), extended (3)" in out
    assert "Problems:   none" in out


def test_report_names_the_problems(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "set"
    _faces(folder, 2, version=1.0)
    write_extract(folder / "new_0.png", face_variants(1)[0], draw_frame(face_variants(1)[0]), 96,
                  masks=())
    cv2.imwrite(str(folder / "plain.png"), np.zeros((64, 64, 3), "uint8"))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    report = report_faces(folder)
    assert report["kind"] == "mixed" and report["count"] == 5
    text = "\n".join(report["problems"])
    for expected in ("broken.png", "no stored masks: 1: new_0.png", "mixed sizes",
                     "legacy and newer extracts mixed", "1 of 4 faces"):
        assert expected in text
    assert main(["faces", "-i", str(folder)]) == 0
    assert "broken.png" in capsys.readouterr().out
    assert main(["faces", "-i", str(tmp_path / "missing")]) == 1


def test_report_of_the_simple_format(tmp_path: Path) -> None:
    folder = tmp_path / "simple"
    folder.mkdir()
    for index in range(2):
        cv2.imwrite(str(folder / f"{index}.png"), np.zeros((32, 32, 4), "uint8"))
    report = report_faces(folder)
    assert report["kind"] == "simple" and report["masks"] == {}
    assert any("landmarks.json" in problem for problem in report["problems"])
