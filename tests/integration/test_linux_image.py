"""The Linux guest image (mk/linux-guest.mk, guest/linux/): the initramfs
holds /init, busybox, the kernel's virtio (net, blk)/pvpanic modules in dependency
order and the test programs; memverify, tcpseq and sntp (static, so they
run on the host as they do in the guest) report a clean run as clean and a
corrupted page, a skipped number, a reset or a clock offset as such; and
Tern carries the
kernel and initramfs as the boot modules `linux` and `linux-initrd`.
Only the last test needs an emulator."""
import gzip
import os
import re
import socket
import subprocess

from conftest import ROOT

LINUX = os.path.join(ROOT, "build", "linux")
BUSYBOX = os.path.join(LINUX, "root", "bin", "busybox")
MEMVERIFY = os.path.join(LINUX, "bin", "memverify")
TCPSEQ = os.path.join(LINUX, "bin", "tcpseq")
SNTP = os.path.join(LINUX, "bin", "sntp")
MODULES = ["virtio", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
           "virtio_pci", "failover", "net_failover", "virtio_net", "virtio_blk", "pvpanic",
           "pvpanic-mmio"]


def initrd_file(name):
    """One file of the initramfs, extracted with busybox's cpio."""
    with open(os.path.join(LINUX, "linux-initrd"), "rb") as f:
        data = gzip.decompress(f.read())
    r = subprocess.run([BUSYBOX, "cpio", "-i", "--to-stdout", name], input=data,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_initramfs_lists_init_busybox_modules_and_programs():
    with open(os.path.join(LINUX, "linux-initrd"), "rb") as f:
        data = gzip.decompress(f.read())
    r = subprocess.run([BUSYBOX, "cpio", "-t"], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    names = set(r.stdout.decode().split())
    for f in ["init", "bin/busybox", "bin/memverify", "bin/tcpseq", "bin/sntp",
              "etc/udhcpc/default.script", "lib/modules/load-order"]:
        assert f in names, f"{f} missing from the initramfs"
    kos = {os.path.basename(n)[:-3] for n in names if n.endswith(".ko")}
    assert kos == set(MODULES), kos


def test_modules_load_after_what_they_depend_on():
    order = initrd_file("lib/modules/load-order").split()
    names = [os.path.basename(p)[:-3].replace("-", "_") for p in order]
    assert sorted(names) == sorted(m.replace("-", "_") for m in MODULES)
    release = open(os.path.join(LINUX, "root", "kernel-release")).read().strip()
    mdir = os.path.join(LINUX, "root", "lib", "modules", release)
    for i, rel in enumerate(order):
        info = subprocess.run(["objcopy", "-O", "binary", "--only-section=.modinfo",
                               os.path.join(mdir, rel), "/dev/stdout"],
                              capture_output=True, check=True).stdout.split(b"\0")
        deps = [d.decode()[len("depends="):] for d in info if d.startswith(b"depends=")]
        for d in filter(None, ",".join(deps).split(",")):
            assert d in names[:i], f"{rel} needs {d} loaded before it: {order}"


def test_initramfs_init_is_the_tern_init():
    init = initrd_file("init")
    assert init.startswith("#!/bin/sh")
    assert "tern-linux: ready" in init


def test_kernel_image_is_a_bzimage_of_the_unpacked_release():
    with open(os.path.join(LINUX, "linux"), "rb") as f:
        head = f.read(0x210)
    assert head[0x202:0x206] == b"HdrS"  # Linux boot protocol header magic
    release = open(os.path.join(LINUX, "root", "kernel-release")).read().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+-\d+-cloud-amd64", release), release


def test_memverify_reports_no_error_on_healthy_memory():
    r = subprocess.run([MEMVERIFY, "-m", "32", "-t", "2"], capture_output=True, text=True,
                       timeout=120)
    passes = re.findall(r"^memverify: pass (\d+) pages (\d+) errors (\d+)$", r.stdout, re.M)
    assert passes, r.stdout
    assert all(int(p[1]) == 32 * 256 and p[2] == "0" for p in passes), r.stdout
    assert re.search(r"^memverify: done passes \d+ pages 8192 errors 0$", r.stdout, re.M)
    assert r.returncode == 0


def test_memverify_reports_a_corrupted_page():
    r = subprocess.run([MEMVERIFY, "-m", "8", "-n", "3", "-x"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1, r.stdout
    err = re.findall(r"^memverify: error pass 2 page (\d+) word (\d+) "
                     r"expected (0x[0-9a-f]{16}) actual (0x[0-9a-f]{16})$", r.stdout, re.M)
    assert len(err) == 1, r.stdout
    page, word, want, got = err[0]
    assert int(page) == 1024 and int(word) == 7 and want != got
    assert "memverify: pass 2 pages 2048 errors 1" in r.stdout
    assert "memverify: pass 3 pages 2048 errors 0" in r.stdout  # rewritten
    assert "memverify: done passes 3 pages 2048 errors 1" in r.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcpseq_pair(*client_args, server_args=()):
    port = free_port()
    srv = subprocess.Popen([TCPSEQ, "-l", str(port), "-1", *server_args],
                           stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().startswith("tcpseq: listen t="), "server did not listen"
    cli = subprocess.run([TCPSEQ, "-c", f"127.0.0.1:{port}", *client_args],
                         capture_output=True, text=True, timeout=60)
    out, _ = srv.communicate(timeout=60)
    return srv.returncode, out, cli


def test_tcpseq_clean_stream_has_no_gap():
    rc, out, cli = tcpseq_pair("-n", "200000")
    assert cli.returncode == 0, cli.stdout
    assert re.search(r"^tcpseq: sent t=\d+ seq=200000 sent=200000$", cli.stdout, re.M)
    assert re.search(r"^tcpseq: close t=\d+ seq=200000 partial_bytes=0$", out, re.M), out
    assert re.search(r"^tcpseq: summary t=\d+ seq=200000 received=200000 gaps=0 stalls=0$",
                     out, re.M), out
    assert "gap t=" not in out and "reset" not in out
    assert rc == 0


def test_tcpseq_reports_a_skipped_number_as_a_gap():
    rc, out, cli = tcpseq_pair("-n", "5000", "-k", "1234")
    assert cli.returncode == 0
    assert re.findall(r"^tcpseq: gap t=\d+ expected=(\d+) got=(\d+)$", out, re.M) == \
        [("1234", "1235")], out
    assert re.search(r"summary t=\d+ seq=5001 received=5000 gaps=1 ", out), out
    assert rc == 1


def test_tcpseq_reports_a_reset():
    rc, out, cli = tcpseq_pair("-a", "300")
    assert "tcpseq: abort" in cli.stdout
    assert re.search(r"^tcpseq: reset t=\d+ seq=300 error=Connection reset by peer$",
                     out, re.M), out
    assert rc == 1


def test_tcpseq_reports_a_stall_and_the_resume():
    rc, out, cli = tcpseq_pair("-r", "2", "-n", "3", server_args=("-s", "200", "-i", "100"))
    stalls = re.findall(r"^tcpseq: stall t=\d+ seq=\d+ silent_ms=(\d+)$", out, re.M)
    resumes = re.findall(r"^tcpseq: resume t=\d+ seq=\d+ silent_ms=(\d+)$", out, re.M)
    assert len(stalls) == 2 and len(resumes) == 2, out
    assert all(int(s) >= 200 for s in stalls + resumes)
    assert re.search(r"^tcpseq: progress t=\d+ seq=\d+ received=\d+ gaps=0 stalls=\d+$",
                     out, re.M), out
    assert rc == 0  # a stall alone is no error


def sntp_query(*server_args):
    """`sntp -q` against an `sntp -l` on a free port given server_args:
    (exit status, the client's output)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = subprocess.Popen([SNTP, "-l", str(port), *server_args], stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline() == f"sntp: serving port={port}\n"
        cli = subprocess.run([SNTP, "-q", f"127.0.0.1:{port}"], capture_output=True, text=True,
                             timeout=30)
        return cli.returncode, cli.stdout
    finally:
        srv.kill()
        srv.wait()


def test_sntp_measures_a_servers_clock_offset_both_ways():
    for shift_ms in (0, 1500, -250.5):
        rc, out = sntp_query("-o", str(shift_ms))
        m = re.fullmatch(r"sntp: offset server=127\.0\.0\.1:\d+ offset_ms=(-?[\d.]+) delay_ms=([\d.]+)\n",
                         out)
        assert rc == 0 and m, out
        # The same machine's clock, shifted: off by the shift, give or
        # take the half round trip of loopback.
        assert abs(float(m.group(1)) - shift_ms) < 5, (shift_ms, out)
        assert float(m.group(2)) < 50, out


def test_sntp_without_a_server_is_a_clear_error():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        # Bound but never answering: the client gives up after its tries.
        cli = subprocess.run([SNTP, "-q", f"127.0.0.1:{port}"], capture_output=True, text=True,
                             timeout=30)
    assert cli.returncode == 1 and cli.stdout == f"sntp: error server=127.0.0.1:{port}: no answer\n", \
        cli.stdout
    cli = subprocess.run([SNTP, "-q", "localhost"], capture_output=True, text=True, timeout=30)
    assert cli.returncode == 2 and "usage: sntp" in cli.stderr, cli


def test_tern_lists_the_linux_images(qemu_host):
    rows = qemu_host.vm_images()
    sizes = {name: int(row[0]) for name, row in rows.items() if row[0] != "-"}
    assert sizes.get("linux") == os.path.getsize(os.path.join(LINUX, "linux")), rows
    assert sizes.get("linux-initrd") == os.path.getsize(os.path.join(LINUX, "linux-initrd")), rows
    assert rows["linux"][2] == "boot module", rows
    assert sizes["linux"] > 4 << 20 and sizes["linux-initrd"] > 512 << 10


def test_fetch_resolves_the_kernel_from_the_meta_package_and_caches(tmp_path):
    """tools/linux-fetch.sh with a stand-in apt-get that serves the .debs the
    build fetched: the kernel package is the one the meta package depends on,
    and a second run downloads nothing."""
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "apt.log"
    (fake / "apt-get").write_text(f"""#!/bin/sh
echo "$*" >> {log}
[ "$1" = download ] || exit 0
shift
for a; do
    case $a in -*) continue ;; esac
    cp {LINUX}/deb/"$a"_*.deb . || exit 100
done
""")
    (fake / "apt-get").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}")
    out = tmp_path / "linux"
    script = os.path.join(ROOT, "tools", "linux-fetch.sh")
    r = subprocess.run([script, str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    release = (out / "root" / "kernel-release").read_text().strip()
    assert release == open(os.path.join(LINUX, "root", "kernel-release")).read().strip()
    assert (out / "root" / "boot" / f"vmlinuz-{release}").is_file()
    assert (out / "root" / "bin" / "busybox").is_file()
    calls = log.read_text().splitlines()
    assert calls == ["download -q linux-image-cloud-amd64",
                     f"download -q linux-image-{release}", "download -q busybox-static"], calls
    log.unlink()
    r = subprocess.run([script, str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not log.exists(), "a cached package was downloaded again"
