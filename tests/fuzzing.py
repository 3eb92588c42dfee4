"""Seeded mutation fuzzing of the readers of files a user may hand us.

A fuzz test names a *target*: a function ``make_target(seed_dir) -> Target``, importable by
module path, that returns genuine input files (built by our writers, or from the spec, into
``seed_dir`` by the test before the run) and the reader to call on each mutated file.
:func:`fuzz` runs the target in a child process (``python -m tests.fuzzing``) that:

* draws input ``i`` from ``random.Random(f"{seed}:{i}")`` (each input is reproducible alone):
  a genuine file with one to three mutations: truncation, bit flips, byte inserts and deletes,
  repeated ranges, integer fields set to boundary values (sizes and lengths), huge inserts,
  splices of two files, and, where the target gives a parsed form of its files, tree mutations
  (a value of the wrong type, a key removed, two keys' values swapped, a key renamed, deep
  nesting, huge strings and lists) written back by the target's own serialiser;
* calls the reader on each input with a per-input time bound (:func:`faulthandler.
  dump_traceback_later` ends the process from a watchdog thread even inside C code) and a memory
  bound: an input that raises the process's peak resident memory above its size after warm-up
  plus half of ``memory_mb`` fails, and ``RLIMIT_AS`` (the address space after warm-up plus
  ``memory_mb``) stops any larger allocation (a reader that catches the MemoryError still shows
  in the resident peak, as it fills memory before the allocation that fails);
* reports each input as ``ok`` (read), ``refused`` (a :class:`lib.errors.FaceswapError`) or
  ``failure`` (any other exception, a time-out or a crash of the process).

The child runs in a scratch folder; files whose creation would prove code from an input ran
(the targets' payloads create ``SENTINEL``) are looked for afterwards.
"""
from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import importlib
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
SENTINEL = "SENTINEL"
"""The file that a code payload in a seed input would create, in the child's working folder."""

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 1 << 20, 1 << 30)


@dataclasses.dataclass
class Target:
    """What a fuzz target gives the child process.

    Attributes
    ----------
    seeds
        The genuine files (their bytes).
    read
        The reader: called with the path of a mutated file (named ``filename``); returns
        anything, raises :class:`lib.errors.FaceswapError` for a refused file.
    filename
        The name the mutated file is written under (some readers take the file name from it).
    parse, serialise
        Optional: a seed's bytes to a tree (dicts, lists, scalars) and a tree back to bytes,
        for tree mutations. ``serialise`` may raise ``ValueError``/``TypeError`` for a tree it
        cannot write; a byte mutation is made instead.
    extra
        Optional further mutations ``(rng, data) -> (description, data)`` specific to the
        format (for example a text chunk rewritten with a valid checksum).
    warm_up
        Optional: called once before the bounds are set (imports, first use).
    support
        Optional: other files the reader needs beside the mutated one (name -> bytes), written
        afresh for every input.
    """

    seeds: list[bytes]
    read: Callable[[Path], Any]
    filename: str
    parse: Callable[[bytes], Any] | None = None
    serialise: Callable[[Any], bytes] | None = None
    extra: list[Callable[[random.Random, bytes], tuple[str, bytes]]] = dataclasses.field(
        default_factory=list)
    warm_up: Callable[[], None] | None = None
    support: dict[str, bytes] = dataclasses.field(default_factory=dict)


# --- byte mutations ------------------------------------------------------------------------------
def _position(rng: random.Random, data: bytes) -> int:
    return rng.randrange(len(data) + 1)


def truncate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Cut the data at a random point."""
    end = rng.randrange(len(data)) if data else 0
    return f"truncate at {end}", data[:end]


def flip_bits(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Flip one to eight random bits."""
    if not data:
        return "flip (empty)", data
    out = bytearray(data)
    where = []
    for _ in range(rng.randint(1, 8)):
        index = rng.randrange(len(out))
        out[index] ^= 1 << rng.randrange(8)
        where.append(index)
    return f"flip bits at {where}", bytes(out)


def insert_bytes(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Insert one to 64 random bytes."""
    at = _position(rng, data)
    chunk = rng.randbytes(rng.randint(1, 64))
    return f"insert {len(chunk)} bytes at {at}", data[:at] + chunk + data[at:]


def delete_bytes(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Delete a range of one to 256 bytes."""
    if not data:
        return "delete (empty)", data
    at = rng.randrange(len(data))
    size = rng.randint(1, 256)
    return f"delete {size} bytes at {at}", data[:at] + data[at + size:]


def repeat_range(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Copy a range of the data to another place, up to 64 times over."""
    if not data:
        return "repeat (empty)", data
    start = rng.randrange(len(data))
    chunk = data[start:start + rng.randint(1, 512)] * rng.choice((1, 2, 64))
    at = _position(rng, data)
    return f"repeat {len(chunk)} bytes from {start} at {at}", data[:at] + chunk + data[at:]


def boundary_integer(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Overwrite 1, 2, 4 or 8 bytes (a size or length field, wherever it is) with a boundary
    value, big- or little-endian."""
    if not data:
        return "integer (empty)", data
    width = rng.choice((1, 2, 4, 8))
    value = rng.choice(_INTERESTING) & ((1 << (8 * width)) - 1)
    order = rng.choice((">", "<"))
    packed = struct.pack(f"{order}{ {1: 'B', 2: 'H', 4: 'I', 8: 'Q'}[width]}", value)
    at = rng.randrange(len(data))
    return (f"set {width} bytes at {at} to {value:#x} ({order})",
            data[:at] + packed + data[at + width:])


def huge_insert(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Insert up to 4 MiB of one repeated byte or short pattern (brackets, quotes, digits)."""
    pattern = rng.choice((b"A", b"[", b"{", b'"', b"9", b"\x00", b"\xff", b"[[", b'{"a":'))
    size = rng.choice((1 << 12, 1 << 16, 1 << 22))
    at = _position(rng, data)
    return (f"insert {size} bytes of {pattern!r} at {at}",
            data[:at] + pattern * (size // len(pattern)) + data[at:])


BYTE_MUTATIONS = (truncate, flip_bits, flip_bits, insert_bytes, delete_bytes, repeat_range,
                  boundary_integer, boundary_integer, huge_insert)


# --- tree mutations ------------------------------------------------------------------------------
def _nodes(tree: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, tree
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from _nodes(value, (*path, index))


def _replace(tree: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {**tree, head: _replace(tree[head], rest, value)}
    items = list(tree)
    items[head] = _replace(items[head], rest, value)
    return tuple(items) if isinstance(tree, tuple) else items


def _nested(depth: int, kind: str) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def wrong_values(rng: random.Random) -> Any:
    """A value of any type, including the extremes a reader must bound."""
    return rng.choice((
        None, True, False, 0, -1, 1.5, float("nan"), float("inf"), -float("inf"), 2 ** 64,
        -(2 ** 63), 10 ** 400, "", "x", "é\x00\ud800"[:2], "A" * rng.choice((256, 1 << 20)),
        [], {}, [0] * rng.choice((3, 100_000)), {"a": 1}, [[1.0, 2.0]] * 68, b"\x00\xff",
        (1, 2), _nested(rng.choice((40, 1000, 50_000)), rng.choice(("list", "dict"))),
    ))


def mutate_tree(rng: random.Random, tree: Any) -> tuple[str, Any]:
    """One tree mutation of ``tree`` (a copy is returned)."""
    nodes = list(_nodes(tree))
    path, node = rng.choice(nodes)
    kind = rng.choice(("value", "value", "value", "delete", "swap", "rename", "nest", "grow"))
    if kind == "delete":
        containers = [(p, n) for p, n in nodes if isinstance(n, (dict, list)) and n]
        if containers:
            path, node = rng.choice(containers)
            if isinstance(node, dict):
                key = rng.choice(list(node))
                return f"delete key {key!r} at {path}", _replace(
                    tree, path, {k: v for k, v in node.items() if k != key})
            index = rng.randrange(len(node))
            return f"delete item {index} at {path}", _replace(
                tree, path, node[:index] + node[index + 1:])
    if kind in ("swap", "rename"):
        dicts = [(p, n) for p, n in nodes if isinstance(n, dict) and len(n) >= 2]
        if dicts:
            path, node = rng.choice(dicts)
            first, second = rng.sample(list(node), 2)
            if kind == "swap":
                swapped = {**node, first: node[second], second: node[first]}
                return f"swap {first!r} and {second!r} at {path}", _replace(tree, path, swapped)
            renamed = {(second + "_" if isinstance(second, str) else 0) if k == first else k: v
                       for k, v in node.items()}
            return f"rename {first!r} at {path}", _replace(tree, path, renamed)
    if kind == "nest":
        depth = rng.choice((33, 200, 2000, 100_000))
        wrapped: Any = node
        for _ in range(depth):
            wrapped = [wrapped]
        return f"nest {depth} deep at {path}", _replace(tree, path, wrapped)
    if kind == "grow" and isinstance(node, (list, str)) and node:
        times = rng.choice((2, 1000, 100_000))
        grown = node * times if isinstance(node, str) else list(node) * times
        return f"repeat x{times} at {path}", _replace(tree, path, grown)
    value = wrong_values(rng)
    shown = repr(value)
    return (f"set {path} to {shown[:40]}{'...' if len(shown) > 40 else ''}",
            _replace(tree, path, value))


# --- drawing inputs ------------------------------------------------------------------------------
def draw(target: Target, seed: int, index: int) -> tuple[str, bytes]:
    """Input ``index`` of a run with ``seed``: a description and the bytes."""
    rng = random.Random(f"{seed}:{index}")
    which = rng.randrange(len(target.seeds))
    data = target.seeds[which]
    steps = [f"seed file {which}"]
    kinds = ["bytes", "bytes"]
    if target.parse is not None and target.serialise is not None:
        kinds += ["tree", "tree", "tree"]
    kinds += ["extra"] * (2 * len(target.extra))
    if len(target.seeds) > 1:
        kinds.append("splice")
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.choice(kinds)
        if kind == "tree":
            try:
                description, tree = mutate_tree(rng, target.parse(data))
                data = target.serialise(tree)
                steps.append(description)
                continue
            except Exception:  # noqa: BLE001 - unparseable (an earlier mutation) or unwritable
                kind = "bytes"
        if kind == "extra":
            description, data = rng.choice(target.extra)(rng, data)
        elif kind == "splice":
            other = target.seeds[rng.randrange(len(target.seeds))]
            cut, other_cut = _position(rng, data), _position(rng, other)
            description, data = (f"splice at {cut} with another seed from {other_cut}",
                                 data[:cut] + other[other_cut:])
        else:
            description, data = rng.choice(BYTE_MUTATIONS)(rng, data)
        steps.append(description)
    return "; ".join(steps), data


# --- the child process ---------------------------------------------------------------------------
def _address_space() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _resident_mb() -> float:
    """The process's peak resident memory so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _clear(folder: Path) -> None:
    """Empty ``folder`` but for the sentinel file."""
    for path in folder.iterdir():
        if path.name == SENTINEL:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _fresh(work: Path, target: Target, path: Path, data: bytes) -> None:
    """The work folder holding only the input (and the target's support files)."""
    _clear(work)
    for name, content in target.support.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(content)
    path.write_bytes(data)


def _child(spec: dict[str, Any]) -> None:
    from lib.errors import FaceswapError

    module, function = spec["target"].split(":")
    target: Target = getattr(importlib.import_module(module), function)(Path(spec["seed_dir"]))
    work = Path(spec["work_dir"])
    os.chdir(work)
    path = work / target.filename
    if target.warm_up is not None:
        target.warm_up()
    for seed_bytes in target.seeds:  # every genuine file reads; a hostile one is refused
        _fresh(work, target, path, seed_bytes)
        with contextlib.suppress(FaceswapError):
            target.read(path)
    if spec["memory_mb"]:
        limit = _address_space() + spec["memory_mb"] * (1 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    resident_start = _resident_mb()
    resident_bound = resident_start + spec["memory_mb"] / 2
    _emit({"ready": True})
    for index in range(spec["start"], spec["start"] + spec["count"]):
        description, data = draw(target, spec["seed"], index)
        _fresh(work, target, path, data)  # not what the last input's reader wrote
        _emit({"begin": index})
        faulthandler.dump_traceback_later(spec["seconds"], exit=True)
        resident_before = _resident_mb()  # what making the input took is not the reader's
        started = time.perf_counter()
        record = {"index": index, "what": description, "size": len(data)}
        try:
            target.read(path)
            record["outcome"] = "ok"
        except FaceswapError as err:
            record["outcome"] = "refused"
            record["error"] = f"{type(err).__name__}: {str(err)[:300]}"
        except BaseException as err:  # noqa: BLE001 - every other outcome is the finding
            record["outcome"] = "failure"
            record["error"] = (f"{type(err).__name__}: {str(err)[:300]}\n"
                               + "".join(traceback.format_tb(err.__traceback__)[-4:]))
        finally:
            faulthandler.cancel_dump_traceback_later()
        record["seconds"] = round(time.perf_counter() - started, 4)
        resident = _resident_mb()
        if resident > resident_bound and resident > resident_before:
            record["outcome"] = "failure"
            record["error"] = (f"the reader's resident memory reached {resident:.0f} MB, more "
                               f"than half the {spec['memory_mb']} MB bound above the "
                               f"{resident_start:.0f} MB at the start ({record.get('error')})")
        if (work / SENTINEL).exists():
            record["outcome"] = "failure"
            record["error"] = "code from the input ran: it created the sentinel file"
        _emit(record)
    _emit({"done": True, "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})


# --- the test side -------------------------------------------------------------------------------
@dataclasses.dataclass
class Report:
    """What a fuzz run found.

    Attributes
    ----------
    outcomes
        Inputs per outcome (``ok``, ``refused``, ``failure``).
    failures
        One line per failure (the input's index, its mutations, the exception or how the process
        ended): empty when every input was read or refused.
    slowest
        The longest time one input took (seconds).
    max_rss_mb
        The child process's peak resident memory.
    code_ran
        Whether a payload's sentinel file was created.
    """

    outcomes: Counter
    failures: list[str]
    slowest: float
    max_rss_mb: float
    code_ran: bool

    @property
    def tried(self) -> int:
        return sum(self.outcomes.values())

    def summary(self) -> str:
        return (f"{self.tried} inputs: {dict(self.outcomes)}; slowest {self.slowest:.2f} s; "
                f"peak memory {self.max_rss_mb:.0f} MB")


def fuzz(target: str, seed_dir: Path, work_dir: Path, seed: int, count: int,
         seconds: float = 30.0, memory_mb: int = 2048, start: int = 0,
         backend: str = "numpy") -> Report:
    """Run ``count`` mutated inputs (indices ``start``...) of ``target`` (``"module:function"``)
    in a child process, with ``seconds`` per input and ``memory_mb`` of address space beyond the
    warmed-up process. A crash or time-out ends the child; the run goes on in a new child from
    the next input.

    The child runs Keras on ``backend``: the readers that build no model do not depend on it,
    and Keras's NumPy backend starts in a fraction of TensorFlow's time; model readers pass
    the backend under test."""
    work_dir.mkdir(parents=True, exist_ok=True)
    outcomes: Counter = Counter()
    failures: list[str] = []
    slowest, max_rss = 0.0, 0.0
    index, end = start, start + count
    while index < end:
        spec = {"target": target, "seed_dir": str(seed_dir), "work_dir": str(work_dir),
                "seed": seed, "start": index, "count": end - index, "seconds": seconds,
                "memory_mb": memory_mb}
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
               "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": backend}
        process = subprocess.run([sys.executable, "-m", "tests.fuzzing", json.dumps(spec)],
                                 cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=seconds * (end - index) + 600, check=False)
        begun, ready, done = None, False, False
        for line in process.stdout.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("ready"):
                ready = True
            elif "begin" in record:
                begun = record["begin"]
            elif record.get("done"):
                done = True
                max_rss = max(max_rss, record["max_rss_kb"] / 1024)
            elif "outcome" in record:
                begun = None
                outcomes[record["outcome"]] += 1
                slowest = max(slowest, record["seconds"])
                index = record["index"] + 1
                if record["outcome"] == "failure":
                    failures.append(f"input {record['index']} ({record['what']}): "
                                    f"{record['error']}")
        if done:
            break
        if not ready:
            raise RuntimeError(f"the fuzz target {target} did not start (exit status "
                               f"{process.returncode}):\n{process.stderr[-4000:]}")
        if begun is None:
            raise RuntimeError(f"the fuzz run of {target} ended between inputs (exit status "
                               f"{process.returncode}):\n{process.stderr[-4000:]}")
        description, data = draw(_target_for_description(target, seed_dir), seed, begun)
        outcomes["failure"] += 1
        failures.append(f"input {begun} ({description}; {len(data)} bytes): the process ended "
                        f"(exit status {process.returncode}: a time-out over {seconds} s, a "
                        f"crash or memory): {process.stderr[-1500:]}")
        index = begun + 1
    return Report(outcomes, failures, slowest, max_rss, (work_dir / SENTINEL).exists())


def counts(default: int, full: int = 1000) -> Any:
    """``pytest.mark.parametrize`` of the input count: ``default`` in the default run, ``full``
    with ``--runslow``."""
    import pytest

    return pytest.mark.parametrize("count", [
        pytest.param(default, id=f"{default}-inputs"),
        pytest.param(full, id=f"{full}-inputs", marks=pytest.mark.slow)])


def write_seeds(seed_dir: Path, seeds: list[bytes]) -> Path:
    """Write genuine files as ``seed_dir/<n>.seed`` (read back by :func:`read_seeds`)."""
    seed_dir.mkdir(parents=True, exist_ok=True)
    for number, data in enumerate(seeds):
        (seed_dir / f"{number:03d}.seed").write_bytes(data)
    return seed_dir


def read_seeds(seed_dir: Path) -> list[bytes]:
    """The genuine files that :func:`write_seeds` wrote, in order."""
    return [path.read_bytes() for path in sorted(Path(seed_dir).glob("*.seed"))]


def check(report: Report, count: int) -> None:
    """Assert a run tried ``count`` inputs, each read or refused with a FaceswapError, that
    some were refused (the mutations reach the checks) and that no payload ran."""
    print(report.summary())
    assert not report.failures, (f"{len(report.failures)} of {report.tried} inputs failed:\n"
                                 + "\n".join(report.failures[:8]))
    assert report.tried == count, report.summary()
    assert report.outcomes["refused"] > 0, report.summary()
    assert not report.code_ran, "code from a fuzzed input ran (the sentinel file exists)"


def _target_for_description(target: str, seed_dir: Path) -> Target:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)(seed_dir)


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
