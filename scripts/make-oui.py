#!/usr/bin/env python3
"""Writes rules/oui.tsv, medtap's table of IEEE MAC address blocks, from
Debian's `ieee-data` package (the IEEE Registration Authority's public
listings as CSV):

  /usr/share/ieee-data/oui.csv    MA-L, 24-bit prefixes
  /usr/share/ieee-data/mam.csv    MA-M, 28-bit prefixes
  /usr/share/ieee-data/oui36.csv  MA-S, 36-bit prefixes
  /usr/share/ieee-data/iab.csv    IAB, 36-bit prefixes (MA-S's predecessor)

Output: header comments (what, source package and version, registry date,
generation date, assignments left out), then one line per block,
`PREFIXHEX<TAB>BITS<TAB>ORGANIZATION`, sorted by the prefix's hex digits
(so an MA-M or MA-S block follows the MA-L block that holds it). The
organisation name is the registry's, with surrounding whitespace removed.

A prefix the registry lists twice (two MA-L lines in the 2022 data: the
1980s assignments 08-00-30 and 00-01-C8) keeps its first line in file
order; the others are named in a header comment. medtap refuses a table
with a duplicate prefix.

Usage: scripts/make-oui.py [IEEE_DATA_DIR] > rules/oui.tsv
Python 3 standard library only. SOURCE_DATE_EPOCH, if set, fixes the
generation date (reproducible output).
"""
import csv
import datetime
import os
import subprocess
import sys

# (file, registry name in its first column, prefix bits)
SOURCES = [
    ("oui.csv", "MA-L", 24),
    ("mam.csv", "MA-M", 28),
    ("oui36.csv", "MA-S", 36),
    ("iab.csv", "IAB", 36),
]
HEADER = ["Registry", "Assignment", "Organization Name", "Organization Address"]
HEX = set("0123456789ABCDEF")


def fail(msg):
    print(f"make-oui.py: {msg}", file=sys.stderr)
    sys.exit(1)


def package_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "ieee-data"],
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"cannot ask dpkg for ieee-data's version ({e}); install it: apt-get install ieee-data")
    return out.stdout.strip()


def registry_date(data_dir):
    """The package's `.lastupdate` (Unix time of its download), if any."""
    try:
        with open(os.path.join(data_dir, ".lastupdate"), encoding="ascii") as f:
            secs = int(f.read().strip())
    except (OSError, ValueError):
        return "unknown"
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%d")


def generation_date():
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc))
    return when.strftime("%Y-%m-%d")


def read_blocks(data_dir):
    blocks = {}  # prefix hex -> (bits, organisation, where)
    dropped = []  # (prefix, organisation kept, organisation dropped)
    for name, registry, bits in SOURCES:
        path = os.path.join(data_dir, name)
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            if next(reader, None) != HEADER:
                fail(f"{path}: first row is not the header {HEADER}")
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if len(row) != 4 or row[0] != registry:
                    fail(f"{where}: expected 4 fields, registry {registry}: {row}")
                prefix = row[1].strip().upper()
                org = row[2].strip()
                if len(prefix) * 4 != bits or not set(prefix) <= HEX:
                    fail(f"{where}: {row[1]!r} is not a {bits}-bit hex prefix")
                # A tab or line break would break the TSV's lines and fields.
                if not org or any(c in org for c in "\t\r\n"):
                    fail(f"{where}: organisation {row[2]!r} is empty or holds a tab or line break")
                if prefix in blocks:
                    dropped.append((prefix, blocks[prefix][1], org))
                    continue
                blocks[prefix] = (bits, org, where)
    return blocks, dropped


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/ieee-data"
    blocks, dropped = read_blocks(data_dir)
    out = sys.stdout
    out.write("# IEEE MAC address blocks: PREFIX<TAB>BITS<TAB>ORGANIZATION, sorted by prefix.\n")
    out.write("# BITS: 24 = MA-L (OUI), 28 = MA-M, 36 = MA-S or IAB.\n")
    out.write(f"# Source: Debian package ieee-data {package_version()} "
              f"(registry data of {registry_date(data_dir)}): "
              + ", ".join(n for n, _, _ in SOURCES) + ".\n")
    out.write(f"# Generated {generation_date()} by scripts/make-oui.py; do not edit by hand.\n")
    for prefix, kept, other in dropped:
        out.write(f"# Listed again, left out: {prefix} {other} (kept: {kept})\n")
    for prefix in sorted(blocks):
        bits, org, _ = blocks[prefix]
        out.write(f"{prefix}\t{bits}\t{org}\n")


if __name__ == "__main__":
    main()
