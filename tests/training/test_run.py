"""sigver.training.run: telling whether a device computes in bfloat16 natively, and the --amp warning."""
import pytest
import torch

from sigver.training.run import amp_note, native_bf16

INTEL_NO_BF16 = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor @ 2.60GHz
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bitalg
"""
AMD_BF16 = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw avx512_bf16 avx512_vnni
"""
SAPPHIRE = "flags\t\t: avx512f amx_tile amx_bf16 amx_int8\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sha2 crc32 atomics fphp asimdhp bf16 i8mm\n"
ARM_OLD = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32\n"


@pytest.mark.parametrize("text, expected", [(INTEL_NO_BF16, False), (AMD_BF16, True), (SAPPHIRE, True),
                                            (ARM_BF16, True), (ARM_OLD, False), ("", None),
                                            ("processor : 0\n", None)])
def test_native_bf16_reads_the_cpu_flags(tmp_path, text, expected):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    assert native_bf16("cpu", cpuinfo=path) is expected
    note = amp_note("cpu", cpuinfo=path)
    if expected is False:
        assert note.startswith("warning: --amp on a CPU without native bfloat16") and str(path) in note
        assert "\n" not in note and "leave --amp out" in note
    else:
        assert note is None  # supported, or unknown: no word


def test_unknown_without_cpuinfo(tmp_path):
    assert native_bf16("cpu", cpuinfo=tmp_path / "missing") is None
    assert amp_note(torch.device("cpu"), cpuinfo=tmp_path / "missing") is None
    assert native_bf16("meta") is None


def test_this_machine_answers_like_its_flags():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo here")
    assert native_bf16("cpu") == any(f in flags.split() for f in ("avx512_bf16", "amx_bf16", "bf16"))
