"""lib.hardware: the CPU's model and flags from Linux's /proc/cpuinfo text."""
from __future__ import annotations

from lib.hardware import REPORTED_FLAGS, CpuInfo, cpu_info, parse_cpuinfo

_X86_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8
"""
_X86_AVX512 = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor @ 2.80GHz
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl avx512_vnni
"""
_ARM_BF16 = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics bf16 i8mm
CPU part\t: 0xd4f
"""
_ARM_PLAIN = """processor\t: 0
Features\t: fp asimd evtstrm aes
"""


def test_x86_with_amx():
    info = parse_cpuinfo(_X86_AMX)
    assert info.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert info.flags == {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
    assert info.has_bfloat16
    assert info.as_dict()["cpu_flags"] == {"avx2": True, "avx512f": True, "avx512_bf16": True,
                                           "amx_tile": True, "amx_bf16": True, "bf16": False}


def test_x86_with_avx512_only_has_no_bfloat16_units():
    info = parse_cpuinfo(_X86_AVX512)
    assert info.flags == {"avx2", "avx512f"}
    assert not info.has_bfloat16
    assert info.describe() == ("Intel(R) Xeon(R) Processor @ 2.80GHz (avx2 yes, avx512f yes, "
                               "avx512_bf16 no, amx_tile no, amx_bf16 no, bf16 no)")


def test_arm_features_line():
    assert parse_cpuinfo(_ARM_BF16).has_bfloat16
    assert parse_cpuinfo(_ARM_BF16).flags == {"bf16"}
    assert not parse_cpuinfo(_ARM_PLAIN).has_bfloat16


def test_flag_names_are_whole_words():
    """``avx512_bf16`` is not ``bf16``, ``avx512f`` not ``avx512fp16``'s prefix."""
    info = parse_cpuinfo("model name: x\nflags: avx512_bf16 avx512fp16\n")
    assert info.flags == {"avx512_bf16"}


def test_this_machine():
    info = cpu_info()
    assert isinstance(info, CpuInfo) and info.model
    assert info.flags <= set(REPORTED_FLAGS)
