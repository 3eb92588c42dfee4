"""What the CPU offers for training: its model name and the instruction-set flags that decide
which precision is fastest.

Read without importing any deep-learning backend, so it is cheap and safe to call before a
backend starts. Used by the precision choice (``mixed_precision_dtype = auto``) and reported by
``benchmarks/train_speed.py`` so that every figure can be compared across machines.
"""
from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BFLOAT16_FLAGS", "REPORTED_FLAGS", "CpuInfo", "cpu_info", "parse_cpuinfo"]

#: The flags reported for every machine: AVX-512 (oneDNN's fast float32 kernels), the bfloat16
#: dot-product instructions and Intel's AMX matrix tiles, and Arm's bfloat16 extension.
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "bf16")
#: Any one of these means the CPU computes bfloat16 matrix products in hardware (x86: AVX-512
#: BF16 or AMX-BF16; Arm: the BF16 extension, ``bf16`` in Linux's ``Features`` line). Without
#: them a bfloat16 product is emulated through float32 and is slower than float32 itself.
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
_CPUINFO = Path("/proc/cpuinfo")
_CPUINFO_LIMIT = 4 * 2 ** 20  # one processor's block is a few KiB; read the first 4 MiB at most
# Apple's names for the same facts (sysctl hw.optional.*): value 1 when present
_DARWIN_FLAGS = {"bf16": "hw.optional.arm.FEAT_BF16"}


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's model name and which of :data:`REPORTED_FLAGS` it has."""

    model: str
    flags: frozenset[str]

    @property
    def has_bfloat16(self) -> bool:
        """``True`` when the CPU has bfloat16 matrix instructions (:data:`BFLOAT16_FLAGS`)."""
        return any(flag in self.flags for flag in BFLOAT16_FLAGS)

    def describe(self) -> str:
        """One line for logs and benchmark reports: model and each reported flag, yes or no."""
        flags = ", ".join(f"{flag} {'yes' if flag in self.flags else 'no'}"
                          for flag in REPORTED_FLAGS)
        return f"{self.model} ({flags})"

    def as_dict(self) -> dict[str, object]:
        """The information as JSON-ready values."""
        return {"cpu_model": self.model,
                "cpu_flags": {flag: flag in self.flags for flag in REPORTED_FLAGS},
                "cpu_bfloat16_units": self.has_bfloat16}


def parse_cpuinfo(text: str) -> CpuInfo:
    """The :class:`CpuInfo` of the text of Linux's ``/proc/cpuinfo``.

    x86 lists its features on ``flags`` lines, Arm on ``Features`` lines; the model is the first
    ``model name`` (x86), else ``Hardware``/``CPU part`` as given. Flags of every processor block
    are merged (they are the same on every core of one machine).
    """
    model = ""
    found: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key in ("flags", "features"):
            found.update(value.split())
        elif key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
    return CpuInfo(model or platform.processor() or platform.machine() or "unknown",
                   frozenset(flag for flag in REPORTED_FLAGS if flag in found))


def _darwin_info() -> CpuInfo:
    def sysctl(name: str) -> str:
        try:
            done = subprocess.run(["/usr/sbin/sysctl", "-n", name], capture_output=True,
                                  text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    flags = frozenset(flag for flag, name in _DARWIN_FLAGS.items() if sysctl(name) == "1")
    return CpuInfo(sysctl("machdep.cpu.brand_string") or platform.machine() or "unknown", flags)


def cpu_info() -> CpuInfo:
    """The CPU of this machine: Linux's ``/proc/cpuinfo``, ``sysctl`` on macOS; elsewhere the
    model name alone (no flags, so no bfloat16 units are assumed)."""
    if _CPUINFO.is_file():
        try:
            with _CPUINFO.open("r", encoding="utf-8", errors="replace") as handle:
                return parse_cpuinfo(handle.read(_CPUINFO_LIMIT))
        except OSError:
            pass
    if platform.system() == "Darwin":
        return _darwin_info()
    return CpuInfo(platform.processor() or platform.machine() or "unknown", frozenset())
