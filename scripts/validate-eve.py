#!/usr/bin/env python3
"""Validates EVE JSON lines against a JSON schema (Draft 2020-12).

Usage: scripts/validate-eve.py SCHEMA FILE [TYPES]

  SCHEMA  medtap's schema/eve.json, or Suricata's etc/schema.json
          (../shared/eve/schema.json beside the repository).
  FILE    an EVE file (one JSON object per line), or a directory: then
          every regular file in it, in name order.
  TYPES   comma-separated event types to validate, e.g.
          alert,anomaly,flow,dhcp,mqtt,stats (the ones Suricata's schema
          knows); lines of other types are counted as not checked.
          Default: every line.

Prints, per event type, the lines checked and the invalid ones, then the
first errors (file:line, the JSON path, the schema's message). Exit 0 when
every line parsed as a JSON object and every checked line validated; 1 when
a line did not parse or did not validate; 2 on a usage error or a schema
that cannot be read.

Formats are checked too ("ipv4"/"ipv6" in medtap's schema), with
jsonschema's own format checker. Needs python `jsonschema` (Debian package
python3-jsonschema, 4.x).
"""

import collections
import json
import os
import sys

try:
    import jsonschema
except ImportError:  # pragma: no cover - a prerequisite, named for the user
    sys.stderr.write(
        "validate-eve.py: python module `jsonschema` missing "
        "(Debian package python3-jsonschema, or `pip install jsonschema`)\n"
    )
    sys.exit(2)

# Errors printed in full; the rest are only counted.
MAX_SHOWN = 20
# Characters of an offending line shown with its error.
LINE_EXCERPT = 300


def usage(msg):
    sys.stderr.write(f"validate-eve.py: {msg}\n")
    sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
    sys.exit(2)


def inputs(path):
    if os.path.isdir(path):
        names = sorted(os.listdir(path))
        return [
            os.path.join(path, n)
            for n in names
            if os.path.isfile(os.path.join(path, n))
        ]
    if os.path.isfile(path):
        return [path]
    usage(f"{path}: no such file or directory")
    return []


def where(error):
    """The JSON path of a validation error, e.g. `$.alert.metadata`."""
    parts = "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
    )
    return "$" + parts


def main(argv):
    if len(argv) not in (3, 4) or argv[1] in ("-h", "--help"):
        usage("expected SCHEMA FILE [TYPES]")
    schema_path, file_path = argv[1], argv[2]
    types = None
    if len(argv) == 4:
        types = {t.strip() for t in argv[3].split(",") if t.strip()}
        if not types:
            usage("TYPES is empty")
    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        sys.stderr.write(f"validate-eve.py: schema {schema_path}: {e}\n")
        return 2
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )

    checked = collections.Counter()
    invalid = collections.Counter()
    skipped = collections.Counter()
    errors = []  # (file, line, message)
    n_errors = 0
    lines = 0

    def report(file, lineno, msg, text):
        nonlocal n_errors
        n_errors += 1
        if len(errors) < MAX_SHOWN:
            excerpt = text if len(text) <= LINE_EXCERPT else text[:LINE_EXCERPT] + "..."
            errors.append(f"{file}:{lineno}: {msg}\n    line: {excerpt}")

    for file in inputs(file_path):
        with open(file, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            report(file, data.count(b"\n") + 1, "last line has no newline (cut short?)", "")
        for lineno, raw in enumerate(data.split(b"\n"), 1):
            if not raw:
                continue
            lines += 1
            text = raw.decode("utf-8", errors="replace")
            try:
                event = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                invalid["(unparseable)"] += 1
                report(file, lineno, f"not JSON: {e}", text)
                continue
            if not isinstance(event, dict):
                invalid["(not an object)"] += 1
                report(file, lineno, "not a JSON object", text)
                continue
            kind = str(event.get("event_type", "(no event_type)"))
            if types is not None and kind not in types:
                skipped[kind] += 1
                continue
            checked[kind] += 1
            bad = sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path))
            if bad:
                invalid[kind] += 1
                for e in bad[:3]:
                    report(file, lineno, f"{kind}: {where(e)}: {e.message}", text)

    print(f"schema {schema_path}: {lines} lines")
    for kind in sorted(set(checked) | set(invalid) | set(skipped)):
        print(
            f"  {kind:<16} checked {checked[kind]:>7}  invalid {invalid[kind]:>5}"
            f"  not checked {skipped[kind]:>6}"
        )
    if n_errors:
        print(f"{n_errors} error(s); the first {len(errors)}:")
        for e in errors:
            print(e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
