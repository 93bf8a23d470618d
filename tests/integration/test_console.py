"""Bad input at the console gets a clear one-line error and the prompt back."""
import re


def still_alive(host):
    assert host.version().startswith("Tern "), "console no longer answers"


def test_unknown_command_is_refused_with_a_hint(qemu_host):
    out = qemu_host.cmd("frobnicate now")
    assert out.strip() == "error: unknown command 'frobnicate' (type 'help' for the list)"
    still_alive(qemu_host)


def test_bad_arguments_print_the_usage(qemu_host):
    out = qemu_host.cmd("mem --bogus")
    assert "error: mem: bad arguments" in out
    assert "usage: mem [-v]" in out
    out = qemu_host.cmd("help nosuch")
    assert "error: help: unknown command 'nosuch'" in out
    out = qemu_host.cmd("log 12abc")
    assert "error: log: bad arguments" in out
    out = qemu_host.cmd('version "unterminated')
    assert "error: unterminated quote" in out
    out = qemu_host.cmd(" ".join(["x"] * 40))
    assert "error: too many words" in out
    still_alive(qemu_host)


def test_ten_thousand_character_line_is_refused(qemu_host):
    qemu_host.send("A" * 10000 + "\r")
    out = qemu_host.wait_prompt(60)
    assert "error: line too long (at most 255 characters); ignored" in out
    still_alive(qemu_host)


def test_control_characters_are_ignored(qemu_host):
    # NUL, bell, tab, form feed, non-ASCII bytes, a stray escape sequence.
    qemu_host.send("\x00\x07\t\x0c\x1b[5~ver\x01sion\r")
    out = qemu_host.wait_prompt()
    assert re.search(r"^Tern \d", out.replace("\r", ""), re.M), out
    still_alive(qemu_host)


def test_backspace_ctrl_u_and_ctrl_c_edit_the_line(qemu_host):
    qemu_host.send("verx\x7fsion\r")  # backspace
    assert "Tern " in qemu_host.wait_prompt()
    qemu_host.send("garbage\x15version\r")  # Ctrl-U clears the line
    out = qemu_host.wait_prompt()
    assert "Tern " in out and "unknown command" not in out
    qemu_host.send("poweroff\x03")  # Ctrl-C drops the line: nothing runs
    out = qemu_host.wait_prompt()
    assert "^C" in out
    still_alive(qemu_host)


def test_up_arrow_recalls_history(qemu_host):
    qemu_host.cmd("uptime")
    qemu_host.send("\x1b[A\r")
    out = qemu_host.wait_prompt()
    assert re.search(r"up \d+ days", out), out


def test_log_shows_boot_messages(qemu_host):
    out = qemu_host.cmd("log")
    assert re.search(r"^\[\s*\d+\.\d{6}\] boot: ready \d+ ms after firmware hand-off", out, re.M), out
    last = qemu_host.cmd("log 1")
    assert len(last.strip().splitlines()) == 1
