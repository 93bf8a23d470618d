"""Interrupt delivery into a guest on both backends: SVM+NPT (QEMU TCG)
and VMX+EPT (Bochs). The irqtest guest (guest/irqtest) drives its x2APIC
through MSRs: TSC-deadline timer interrupts waited for with `sti; hlt`
(none before its deadline, ISR set in the handler, clear after EOI), a
self-IPI, an interrupt raised with IF = 0 that must stay in IRR until
`sti` and arrive right after the STI shadow, CR8 as the TPR. It prints one
`check` line per behaviour and a `result` line.

Also: a guest blocked in HLT costs nothing. A guest waiting in `sti; hlt`
for a deadline an hour away is not entered at all (its exit count stands
still) while a guest spinning next to it keeps taking slices, and `vm list`
shows the blocked one as running."""
import re
import time

import pytest

BACKENDS = [pytest.param("qemu", id="svm-qemu"), pytest.param("bochs", id="vmx-bochs")]
CHECKS = ("cpuid", "x2apic", "timer", "selfipi", "pending", "shadow", "shadowloop", "cr8")


@pytest.mark.parametrize("kind", BACKENDS)
def test_irqtest_every_check_passes(tern, kind):
    host = tern.boot(kind)
    t0 = host.mark()
    out = host.cmd('vm create irq image=irqtest mem=8 args="n=20"')
    assert "vm irq: created" in out, out
    m = host.wait_output(r"^\[irq\] irqtest: result passed=(\d+) failed=(\d+) unexpected=(\d+) "
                         r"spurious=(\d+)|^error: vm: irq stopped.*", 900, since=t0)
    assert m.group(1) is not None, m.group(0)
    text = host.log.text[t0:]
    results = dict(re.findall(r"^\[irq\] irqtest: check (\S+) (ok|FAIL)", text, re.M))
    assert {c: "ok" for c in CHECKS} == results, re.findall(r"^\[irq\] irqtest: check .*$", text, re.M)
    passed, failed, unexpected, spurious = (int(m.group(i)) for i in range(1, 5))
    assert (passed, failed, unexpected, spurious) == (len(CHECKS), 0, 0, 0), m.group(0)
    # The guest finished and halted with IF = 0: nothing can wake it.
    host.wait_output(r"^\[irq\] irqtest: result", 5, since=t0)
    for _ in range(30):
        if host.vm_list()["irq"]["state"] == "halted":
            break
        time.sleep(1)
    assert host.vm_list()["irq"]["state"] == "halted"


@pytest.mark.parametrize("kind", BACKENDS)
def test_guest_blocked_in_hlt_takes_no_slices(tern, kind):
    host = tern.boot(kind)
    t0 = host.mark()
    host.cmd('vm create idle image=irqtest mem=8 args="mode=idle"')
    host.wait_output(r"^\[idle\] irqtest: idle$", 300, since=t0)
    t1 = host.mark()
    host.cmd('vm create spin image=irqtest mem=8 args="mode=spin"')
    host.wait_output(r"^\[spin\] irqtest: spinning$", 300, since=t1)

    before = host.vm_list()
    time.sleep(4)
    after = host.vm_list()
    assert before["idle"]["state"] == after["idle"]["state"] == "running", after
    assert after["spin"]["state"] == "running", after
    # Blocked: never entered, so not a single exit; the spinner is
    # entered every pass and its slices end in exits.
    assert after["idle"]["exits"] == before["idle"]["exits"], (before, after)
    assert after["spin"]["exits"] > before["spin"]["exits"], (before, after)
    # The host stayed responsive.
    assert host.version().startswith("Tern ")
