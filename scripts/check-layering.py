#!/usr/bin/env python3
"""Checks that medtap's modules depend on each other along the data flow.

Builds the graph of top-level modules of src/ from every `crate::x` path in
non-test code (use lines and inline paths; comments, `tests.rs` files and
`#[cfg(test)] mod tests` blocks left out), then fails if
  * two modules import each other, directly or round a cycle, or
  * a hot-path module (capture to policy, and the leaf types) imports the
    far side of the event channel (store, output, sensor, cli).
Prints the graph. Usage: scripts/check-layering.py [SRC_DIR]. It reads
text, like `cargo modules dependencies` (which needs a newer rustc than
this project pins) but with the field and signature paths that tool misses.
"""
import os
import re
import sys

HOT_PATH = {"kinds", "net", "time", "decode", "capture", "flow", "proto", "app",
            "device", "policy", "pipeline", "event", "stats"}
FAR_SIDE = {"store", "output", "sensor", "cli"}


def code_of(path):
    src = open(path, encoding="utf-8").read()
    # The test module at the end of a file is test code.
    src = re.split(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", src)[0]
    src = re.sub(r"//[^\n]*", "", src)
    return re.sub(r"/\*.*?\*/", "", src, flags=re.S)


def graph(root):
    edges = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            top = rel.split(os.sep)[0].removesuffix(".rs")
            if top in ("lib", "main"):
                continue
            src = code_of(path)
            targets = set(re.findall(r"\bcrate::(\w+)", src))
            for group in re.findall(r"\bcrate::\{([^}]*)\}", src):
                targets |= {t.strip().split("::")[0] for t in group.split(",") if t.strip()}
            for t in targets - {top, "self"}:
                edges.setdefault(top, {}).setdefault(t, set()).add(rel)
    return edges


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in sorted(set(edges) | {t for v in edges.values() for t in v}):
        if m not in index:
            visit(m)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
    edges = graph(root)
    for a in sorted(edges):
        print(f"{a} -> {', '.join(sorted(edges[a]))}")
    bad = 0
    for comp in cycles(edges):
        bad += 1
        print(f"CYCLE: {' <-> '.join(comp)}")
        for a in comp:
            for b in comp:
                if b in edges.get(a, {}):
                    print(f"  {a} -> {b}: {', '.join(sorted(edges[a][b]))}")
    for a in sorted(HOT_PATH & set(edges)):
        for b in sorted(FAR_SIDE & set(edges[a])):
            bad += 1
            print(f"AGAINST THE DATA FLOW: {a} -> {b}: {', '.join(sorted(edges[a][b]))}")
    print("layering: ok (no cycles, the hot path imports nothing past the event channel)"
          if bad == 0 else f"layering: {bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
