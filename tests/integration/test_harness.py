"""The harness itself: when an emulator exits before the prompt or in the
middle of a test, the failure quotes the emulator's own last lines
(bochs.out for Bochs, qemu.err for QEMU) and the console's, never a bare
pexpect EOF or TIMEOUT; and Bochs starts on a machine without sound."""
import os
import signal

import pytest

from machine import EmulatorExited


def test_qemu_exiting_at_start_fails_with_its_own_message(tern):
    with pytest.raises(EmulatorExited) as e:
        tern.boot("qemu", name="badopt", nic=False, extra=["-no-such-option"], boot_timeout=60)
    msg = str(e.value)
    assert "qemu exited with status 1 while waiting for the prompt" in msg, msg
    assert "-no-such-option: invalid option" in msg, msg
    assert os.path.basename(tern.consoles[0].machine.emulator_log) == "qemu.err"


def test_bochs_exiting_at_start_fails_with_its_own_message(tern):
    rom = "/nonexistent/tern-harness-test-bios"
    with pytest.raises(EmulatorExited) as e:
        tern.boot("bochs", name="badrom", nic=False, extra=[f"romimage: file={rom}"],
                  boot_timeout=60)
    msg = str(e.value)
    assert "Bochs is exiting with the following message:" in msg, msg
    assert f"couldn't open ROM image file '{rom}'" in msg, msg


def test_qemu_killed_during_a_test_fails_with_its_last_lines(tern):
    host = tern.boot("qemu", name="killed", nic=False)
    os.kill(host.p.pid, signal.SIGTERM)
    with pytest.raises(EmulatorExited) as e:
        host.cmd("version", timeout=30)
    msg = str(e.value)
    assert "qemu exited with status 0" in msg or "qemu killed by signal 15" in msg, msg
    assert "terminating on signal 15" in msg, msg  # QEMU's own last words
    assert "tern> " in msg.partition("last lines of the console")[2], msg


def test_bochs_boots_where_alsa_finds_no_sound_device(tern, tmp_path):
    """Bochs 2.7 starts its sound mixer thread even with the speaker off;
    where ALSA has no default device (a fresh machine without sound hardware,
    CI) that thread aborted the process ("buffer overflow detected") until the
    generated bochsrc chose the dummy sound driver. An empty ALSA
    configuration makes this machine such a machine."""
    empty = tmp_path / "alsa.conf"
    empty.write_text("")
    host = tern.boot("bochs", name="nosound", nic=False, boot_timeout=240,
                     wrap=["env", f"ALSA_CONFIG_PATH={empty}"])
    assert "Tern" in host.cmd("version")
