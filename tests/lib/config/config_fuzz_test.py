"""Fuzzing the ini reader (:meth:`lib.config.Config.load`) with ``train.ini`` and
``convert.ini``: genuine files written by :meth:`Config.save` (defaults, and every option set to
another valid value) and a hand-written Faceswap-style file. Besides the byte and tree
mutations of :mod:`tests.fuzzing`, lines are deleted, repeated, swapped, and headers, huge
values and continuation lines inserted. See :mod:`tests.fuzzing`."""
from __future__ import annotations

import configparser
import random
from pathlib import Path
from typing import Any

from plugins.convert import convert_config
from plugins.train import train_config
from tests.fuzzing import Target, check, counts, fuzz, read_seeds, write_seeds

_SEED = 20261207
_FACESWAP_TRAIN = """[global]
# Faceswap style: comments, blank lines, odd spacing
centering = face
coverage=87.5
icnr_init = True

[global.loss]
loss_function = ssim
loss_function_2 = mse
loss_weight_2 = 100
mask_type = extended

[model.original]
lowmem = False

[trainer.augmentation]
preview_images = 14
"""


def _parse(data: bytes) -> Any:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(data.decode("utf-8"))
    return {name: dict(parser[name]) for name in parser.sections()}


def _serialise(tree: Any) -> bytes:
    lines = []
    for section, options in dict(tree).items():
        lines.append(f"[{section}]")
        if isinstance(options, dict):
            lines.extend(f"{key} = {value}" for key, value in options.items())
        else:
            lines.append(str(options))
    return "\n".join(lines).encode("utf-8", errors="surrogatepass")


def _lines(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    lines = data.split(b"\n")
    at = rng.randrange(len(lines))
    kind = rng.choice(("delete", "repeat", "swap", "header", "huge", "continuation", "bare"))
    if kind == "delete":
        del lines[at]
    elif kind == "repeat":
        lines.insert(at, lines[rng.randrange(len(lines))])
    elif kind == "swap":
        other = rng.randrange(len(lines))
        lines[at], lines[other] = lines[other], lines[at]
    else:
        lines.insert(at, {"header": rng.choice((b"[global]", b"[", b"[]", b"[model.x]",
                                                 b"[" + b"s" * 100_000 + b"]")),
                          "huge": b"coverage = " + b"9" * rng.choice((400, 5000, 1 << 20)),
                          "continuation": b"   continued value",
                          "bare": rng.choice((b"coverage", b"= 5", b"coverage: 5", b"%(x)s"))
                          }[kind])
    return f"line {kind} at {at}", b"\n".join(lines)


def _read(path: Path, config: Any) -> None:
    config.reset_config()
    config.get_config().load(path)


def train_target(seed_dir: Path) -> Target:
    """``train.ini``."""
    return Target(read_seeds(seed_dir), lambda path: _read(path, train_config), "train.ini",
                  parse=_parse, serialise=_serialise, extra=[_lines])


def convert_target(seed_dir: Path) -> Target:
    """``convert.ini``."""
    return Target(read_seeds(seed_dir), lambda path: _read(path, convert_config), "convert.ini",
                  parse=_parse, serialise=_serialise, extra=[_lines])


def _genuine(config: Any, folder: Path, extra: list[str]) -> list[bytes]:
    """The defaults file, and one with every option set to another allowed value."""
    folder.mkdir(parents=True, exist_ok=True)
    config.reset_config()
    defaults = folder / "defaults.ini"
    config.get_config().save(defaults)
    for item in config.get_config().items().values():
        choices = [choice for choice in (item.choices if isinstance(item.choices, list) else [])
                   if choice != item.default]
        if choices and item.datatype is str:
            item.set(choices[-1])
        elif item.datatype is bool:
            item.set(not item.default)
    changed = folder / "changed.ini"
    config.get_config().save(changed)
    config.reset_config()
    return [defaults.read_bytes(), changed.read_bytes(), *(text.encode() for text in extra)]


@counts(60)
def test_fuzz_train_ini(tmp_path, count):
    seeds = write_seeds(tmp_path / "seeds", _genuine(train_config, tmp_path / "genuine",
                                                     [_FACESWAP_TRAIN]))
    report = fuzz(f"{__name__}:train_target", seeds, tmp_path / "work", _SEED, count)
    check(report, count)


@counts(50)
def test_fuzz_convert_ini(tmp_path, count):
    seeds = write_seeds(tmp_path / "seeds", _genuine(convert_config, tmp_path / "genuine", []))
    report = fuzz(f"{__name__}:convert_target", seeds, tmp_path / "work", _SEED + 1, count)
    check(report, count)
