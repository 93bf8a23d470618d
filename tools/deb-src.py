#!/usr/bin/python3
"""deb-src.py: the deb-src entries matching this machine's own apt sources.

`apt-get source` (newlib, lwIP, mbedTLS) needs deb-src entries; a machine
with its own mirror must get them from that mirror, not from a URL written
in the Makefile. This reads every enabled `deb` entry apt reads itself
(sources.list and sources.list.d/*.list one-line format, sources.list.d/
*.sources deb822 format) and prints one deb822 stanza per entry with
`Types: deb-src` and the same URIs, Suites, Components and Signed-By.

    tools/deb-src.py [--etc-apt DIR]             the stanzas, on stdout
    tools/deb-src.py [--etc-apt DIR] --mirror S  the first URI serving suite S
                                                 (for debootstrap)

--etc-apt (default /etc/apt, or $TERN_ETC_APT) is where sources.list and
sources.list.d/ are read from. Exit status 1 with `error: ...` when there is
no deb entry (or no URI for the suite).
"""
import argparse
import glob
import os
import sys


def one_line_entries(path):
    """deb entries of a one-line-format file: dicts of uris, suites,
    components, signed_by (or None), trusted (or None)."""
    out = []
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            words = line.split()
            if not words or words[0] != "deb":
                continue
            words = words[1:]
            opts = {}
            if words and words[0].startswith("["):
                opt_words = []
                while words:
                    w = words.pop(0)
                    opt_words.append(w)
                    if w.endswith("]"):
                        break
                for o in " ".join(opt_words).strip("[]").split():
                    k, _, v = o.partition("=")
                    opts[k.lower()] = v
            if len(words) < 2:
                continue
            out.append({"uris": [words[0]], "suites": [words[1]], "components": words[2:],
                        "signed_by": opts.get("signed-by"), "trusted": opts.get("trusted")})
    return out


def deb822_stanzas(path):
    """The stanzas of a deb822 file as {field (lower case): value}; a
    continuation line (leading space) belongs to the field above it, so an
    inline Signed-By key block is kept whole."""
    stanzas, cur, key = [], {}, None
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("#"):
                continue
            if not line.strip():
                if cur:
                    stanzas.append(cur)
                cur, key = {}, None
            elif line[0] in " \t" and key:
                cur[key] += "\n" + line
            else:
                k, _, v = line.partition(":")
                key = k.strip().lower()
                cur[key] = v.strip()
    if cur:
        stanzas.append(cur)
    return stanzas


def deb822_entries(path):
    out = []
    for s in deb822_stanzas(path):
        if "deb" not in s.get("types", "").split():
            continue
        if s.get("enabled", "yes").strip().lower() == "no":
            continue
        if not s.get("uris") or not s.get("suites"):
            continue
        out.append({"uris": s["uris"].split(), "suites": s["suites"].split(),
                    "components": s.get("components", "").split(),
                    "signed_by": s.get("signed-by"), "trusted": s.get("trusted")})
    return out


def deb_entries(etc_apt):
    """Every enabled deb entry apt would read, in apt's order."""
    entries = []
    main = os.path.join(etc_apt, "sources.list")
    if os.path.isfile(main):
        entries += one_line_entries(main)
    for path in sorted(glob.glob(os.path.join(etc_apt, "sources.list.d", "*"))):
        if path.endswith(".list"):
            entries += one_line_entries(path)
        elif path.endswith(".sources"):
            entries += deb822_entries(path)
    return entries


def stanza(e):
    lines = ["Types: deb-src", "URIs: " + " ".join(e["uris"]), "Suites: " + " ".join(e["suites"])]
    if e["components"]:
        lines.append("Components: " + " ".join(e["components"]))
    if e["signed_by"]:  # a path, or an inline key block starting on the next line
        sep = "" if e["signed_by"].startswith("\n") else " "
        lines.append("Signed-By:" + sep + e["signed_by"])
    if e["trusted"]:
        lines.append("Trusted: " + e["trusted"])
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--etc-apt", default=os.environ.get("TERN_ETC_APT", "/etc/apt"))
    ap.add_argument("--mirror", metavar="SUITE", help="print the first URI serving SUITE")
    args = ap.parse_args()
    entries = deb_entries(args.etc_apt)
    if args.mirror:
        for e in entries:
            if args.mirror in e["suites"]:
                print(e["uris"][0])
                return 0
        print(f"error: deb-src: no deb entry for suite {args.mirror} in {args.etc_apt}", file=sys.stderr)
        return 1
    if not entries:
        print(f"error: deb-src: no deb entries in {args.etc_apt}", file=sys.stderr)
        return 1
    seen, out = set(), []
    for e in entries:
        s = stanza(e)
        if s not in seen:
            seen.add(s)
            out.append(s)
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
