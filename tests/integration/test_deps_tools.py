"""The dependency plumbing of mk/deps.mk, without touching the machine's apt:
tools/deb-src.py derives deb-src entries from the machine's own deb entries
(one-line sources.list and deb822 .sources), and the apt_update_once macro
is valid shell wherever a recipe uses it."""
import os
import subprocess
import sys
import textwrap

from conftest import ROOT

DEB_SRC = os.path.join(ROOT, "tools", "deb-src.py")


def deb_src(etc_apt, *args):
    return subprocess.run([sys.executable, DEB_SRC, "--etc-apt", str(etc_apt), *args],
                          capture_output=True, text=True, timeout=30)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))


def test_deb_src_mirrors_one_line_and_deb822_entries(tmp_path):
    write(tmp_path / "sources.list", """
        # the local mirror
        deb [arch=amd64 signed-by=/etc/keys/mirror.gpg] http://mirror.example/debian bookworm main contrib
        deb-src http://elsewhere.example/debian bookworm main
        deb http://mirror.example/debian bookworm-updates main # trailing comment
        """)
    write(tmp_path / "sources.list.d" / "security.sources", """
        Types: deb
        # a comment inside the stanza
        URIs: http://sec.example/debian-security http://sec2.example/ds
        Suites: bookworm-security
        Components: main non-free-firmware
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

        Types: deb
        URIs: http://off.example/debian
        Suites: bookworm
        Components: main
        Enabled: no

        Types: deb-src
        URIs: http://src-only.example/debian
        Suites: trixie
        Components: main
        """)
    write(tmp_path / "sources.list.d" / "ignored.list.disabled", "deb http://nope.example/ x main\n")
    r = deb_src(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == textwrap.dedent("""\
        Types: deb-src
        URIs: http://mirror.example/debian
        Suites: bookworm
        Components: main contrib
        Signed-By: /etc/keys/mirror.gpg

        Types: deb-src
        URIs: http://mirror.example/debian
        Suites: bookworm-updates
        Components: main

        Types: deb-src
        URIs: http://sec.example/debian-security http://sec2.example/ds
        Suites: bookworm-security
        Components: main non-free-firmware
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
        """)
    m = deb_src(tmp_path, "--mirror", "bookworm")
    assert (m.returncode, m.stdout) == (0, "http://mirror.example/debian\n"), m.stderr


def test_deb_src_keeps_an_inline_signed_by_key_block(tmp_path):
    key = "Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGPL\n -----END PGP PUBLIC KEY BLOCK-----\n"
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "d.sources").write_text(
        "Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\n" + key)
    r = deb_src(tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("Components: main\n" + key), r.stdout


def test_deb_src_without_deb_entries_fails_saying_so(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    r = deb_src(tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("error: deb-src: no deb entries in "), r.stderr
    r = deb_src(tmp_path, "--mirror", "bookworm")
    assert r.returncode == 1 and "no deb entry for suite bookworm" in r.stderr


def test_apt_update_once_is_valid_shell_mid_line(tmp_path):
    """Used after `{` or `&&` in a recipe line (as the newlib step does), the
    macro must run as shell, not print `@[: not found`. apt-get is a stub
    that fails, so nothing here touches the machine's apt."""
    (tmp_path / "bin").mkdir()
    stub = tmp_path / "bin" / "apt-get"
    stub.write_text("#!/bin/sh\necho 'stub apt-get ran' >&2\nexit 1\n")
    stub.chmod(0o755)
    build = tmp_path / "build"
    (build / "deps").mkdir(parents=True)
    (build / "deps" / ".apt-updated").touch()  # updated already: nothing to run
    (build / "deps" / ".packages").touch()  # the package stamp deps.mk includes
    mk = tmp_path / "Makefile"
    mk.write_text(f"BUILD := {build}\ninclude {ROOT}/mk/deps.mk\n"
                  "probe:\n\t@{ $(apt_update_once); echo mid; } && $(apt_update_once) && echo end\n")
    # A make of its own, not a sub-make of `make test` (whose flags would
    # add "Entering directory" lines).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["PATH"] = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    r = subprocess.run(["make", "-s", "-f", str(mk), "-C", ROOT, "probe"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "mid\nend\n", ""), r
