"""Guest faults are contained: a guest that triple-faults, or that writes
guest-physical memory outside its RAM, is stopped with a message naming
what it did, while Tern and a guest running next to it carry on. Both
backends: SVM+NPT (QEMU TCG) and VMX+EPT (Bochs).

The misbehaving guests are memcheck's fault modes (guest/memcheck/fault.c):
mode=triplefault clears its IDT and executes ud2; mode=outside writes one
word at addr= (default: the first byte past its RAM)."""
import re

import pytest

BACKENDS = [pytest.param("qemu", id="svm-qemu"), pytest.param("bochs", id="vmx-bochs")]


def vm_rows(host):
    """name -> (state, the 'stopped:' reason or '') from `vm list`."""
    return {n: (r["state"], r["stopped"]) for n, r in host.vm_list().items()}



@pytest.mark.parametrize("kind", BACKENDS)
def test_faulting_guests_are_stopped_and_nothing_else_is(tern, kind):
    host = tern.boot(kind)

    # A healthy neighbour that keeps verifying its memory all along.
    t0 = host.mark()
    host.cmd('vm create good image=memcheck mem=8 args="rate=2000 verify=1"')
    gen0, errors = host.memcheck_verified("good", t0, 240)
    assert errors == 0
    free0 = host.mem_free_kib()

    # Triple fault: stopped with that reason, at once.
    t1 = host.mark()
    out = host.cmd('vm create tf image=memcheck mem=8 args="mode=triplefault"')
    assert "vm tf: created" in out, out
    host.wait_output(r"^\[tf\] memcheck: triple fault now", 120, since=t1)
    host.wait_output(r"^error: vm: tf stopped: triple fault", 60, since=t1)

    # A write just past the end of RAM, and one far above it (no NPT/EPT
    # tables at all there): each stops its own VM, naming the address.
    t2 = host.mark()
    host.cmd('vm create out image=memcheck mem=8 args="mode=outside"')
    host.wait_output(r"^\[out\] memcheck: writing outside RAM at 0x800000", 120, since=t2)
    host.wait_output(r"^error: vm: out stopped: wrote guest-physical 0x800000, outside its 8 MiB "
                     r"of RAM", 60, since=t2)
    t3 = host.mark()
    host.cmd('vm create far image=memcheck mem=8 args="mode=outside addr=0xc0000000"')
    host.wait_output(r"^error: vm: far stopped: wrote guest-physical 0xc0000000, outside its 8 "
                     r"MiB of RAM", 120, since=t3)
    assert "still running after the write" not in host.log.text[t2:], "a guest wrote outside its RAM"

    rows = vm_rows(host)
    assert rows["tf"][0] == "stopped" and rows["tf"][1].startswith("triple fault"), rows
    assert rows["out"][0] == "stopped" and "0x800000" in rows["out"][1], rows
    assert rows["far"][0] == "stopped" and "0xc0000000" in rows["far"][1], rows
    assert rows["good"] == ("running", ""), rows

    # The neighbour went on writing and verifying, with no error, and a
    # stopped guest stays stopped (its exit count stands still).
    t4 = host.mark()
    gen1, errors = host.memcheck_verified("good", t4, 240)
    assert errors == 0 and gen1 > gen0
    tf = host.vm_list().get("tf", {})
    assert tf.get("state") == "stopped", tf
    host.memcheck_verified("good", host.mark(), 240)
    tf2 = host.vm_list().get("tf", {})
    assert (tf2.get("state"), tf2.get("exits")) == ("stopped", tf["exits"]), (tf, tf2)
    assert not re.search(r"^\[(tf|out|far)\] ", host.log.text[t4:], re.M)

    # Tern itself is fine: commands work, stopped VMs go away and give
    # their memory back.
    assert host.version().startswith("Tern ")
    for name in ("tf", "out", "far"):
        assert f"vm {name}: destroyed" in host.cmd(f"vm destroy {name}")
    assert host.mem_free_kib() == free0
    assert set(vm_rows(host)) == {"good"}
    _, errors = host.memcheck_verified("good", host.mark(), 240)
    assert errors == 0
    assert "Tern stopped" not in host.log.text, "Tern itself faulted"
