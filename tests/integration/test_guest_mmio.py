"""Guest MMIO on both backends (arch/x86/mmio_decode.c, mmio_emulate.c,
kernel/vm_mmio.c): cpuprobe mode=mmio reads the xAPIC ID and version
registers at 0xFEE00020/0xFEE00030 with several instruction forms (MOV
r32, MOV from a moffs64, MOVZX, MOV with SIB and displacement, a 16-bit
MOV through the 66 prefix, a MOV into AH), writes the TPR (register, immediate,
XCHG) and reads it back. Then instructions Tern refuses on MMIO (LOCK OR, REP
MOVSB, ADD from memory): each gives the guest a #UD at the instruction
itself, which its own handler reports, nothing reaches the device (the TPR
is unchanged), Tern logs it, and Tern and a neighbour guest go on.
SVM+NPT on QEMU TCG, VMX+EPT on Bochs."""
import re

import pytest

BACKENDS = [pytest.param("qemu", id="svm-qemu"), pytest.param("bochs", id="vmx-bochs")]


def mmio_lines(host, name, since):
    """{probe: answer} from cpuprobe's `mmio <probe> <answer>` lines."""
    text = host.log.text[since:]
    out = {}
    for probe, answer in re.findall(rf"^\[{name}\] cpuprobe: mmio (.+?) (ok \S+|#UD \S+|vector .*?)\r?$",
                                    text, re.M):
        out[probe] = answer
    return out


def value(answer):
    assert answer.startswith("ok "), answer
    return int(answer[3:], 16)


@pytest.mark.parametrize("kind", BACKENDS)
def test_xapic_mmio_forms_and_refused_instructions(tern, kind):
    host = tern.boot(kind)

    # A neighbour that keeps verifying its memory all along.
    t0 = host.mark()
    host.cmd('vm create nb image=memcheck mem=8 args="rate=2000 verify=1"')
    _, errors = host.memcheck_verified("nb", t0, 240)
    assert errors == 0

    t1 = host.mark()
    out = host.cmd('vm create mm image=cpuprobe mem=8 args="mode=mmio"')
    assert "vm mm: created" in out, out
    host.wait_output(r"^(\[mm\] cpuprobe: mmio done|error: vm: mm stopped.*)", 600, since=t1)
    assert not re.search(r"^error: vm: mm stopped", host.log.text[t1:], re.M), host.log.text[t1:]
    a = mmio_lines(host, "mm", t1)

    # Reads: Tern's vCPU 0 has xAPIC ID 0 (bits 31:24); the version
    # register is an integrated APIC's (SDM 11.4.8: bits 7:0 0x10-0x15).
    assert value(a["id mov32"]) == 0, a
    ver = value(a["version mov32"])
    assert 0x10 <= (ver & 0xFF) <= 0x15, hex(ver)
    assert value(a["version moffs64"]) == ver
    assert value(a["version sib+disp"]) == ver  # and bits 63:32 cleared
    assert value(a["version movzbl"]) == ver & 0xFF
    assert value(a["version mov16"]) == 0x1111222233330000 | (ver & 0xFFFF)
    assert value(a["version movb-ah"]) == 0x11220044 | (ver & 0xFF) << 8

    # Writes of the TPR, read back.
    assert value(a["tpr write-reg"]) == 0x20
    assert value(a["tpr write-imm"]) == 0x30
    assert value(a["tpr xchg"]) == 0x30  # the old value into the register
    assert value(a["tpr after-xchg"]) == 0x40
    assert value(a["tpr zero"]) == 0

    # Refused: #UD at the instruction, the device untouched.
    for probe in ("lock-or", "rep-movsb", "add"):
        assert a[probe] == "#UD at-insn", (probe, a)
    assert value(a["tpr after-refused"]) == 0, "a refused instruction reached the TPR"
    log = host.log.text[t1:]
    assert re.search(r"^warning: vm: mm: unsupported instruction at rip 0x[0-9a-f]+ on MMIO "
                     r"GPA 0xfee00080 \(bytes f083", log, re.M), "no log line for the LOCK OR"
    assert re.search(r"^warning: vm: mm: unsupported instruction .* \(bytes f3a4", log, re.M)

    # Tern and the neighbour went on; the probe halted normally.
    assert host.version().startswith("Tern ")
    _, errors = host.memcheck_verified("nb", host.mark(), 240)
    assert errors == 0
    rows = host.vm_list()
    assert rows["mm"]["state"] in ("halted", "running"), rows["mm"]
    assert rows["nb"]["state"] == "running", rows["nb"]
    assert "Tern stopped" not in host.log.text, "Tern itself faulted"
