#!/usr/bin/env python3
"""The layering check: our own #include "..." graph has no upward include and
no circle between modules.

Layers (a directory may include its own headers and those of the layers it
lists; drivers/<name>/ is part of drivers/):
    daemon -> pkcs11 -> drivers -> piv -> iso7816 -> common
    rpc and hotplug sit below daemon and above common; pkcs11 uses hotplug
    (the module runs its own watcher), drivers use rpc (the module bridge)
    and hotplug (a bridged module's slot changes go out as hotplug events,
    like a watcher's).
The PKCS#11 definition headers (pkcs11/p11.h, pkcs11/tokend-pkcs11.h) are
types and constants, not front-end code: the layers that speak PKCS#11
(drivers, rpc, daemon) may include them.

A module is a .c file with the .h of the same name; its edges are the
includes of both. A private header (internal.h, *_int.h) is not a module:
what it includes counts for each file that includes it. A circle is a set
of modules that include each other's headers, directly or through others.

Usage: check_includes.py SOURCE_DIR. Prints each problem and exits 1 if
there is one."""
import collections
import os
import re
import sys

DIRS = ["common", "iso7816", "piv", "rpc", "hotplug", "drivers", "pkcs11",
        "daemon"]
ALLOWED = {
    "common": set(),
    "iso7816": {"common"},
    "piv": {"common", "iso7816"},
    "rpc": {"common"},
    "hotplug": {"common"},
    "drivers": {"common", "iso7816", "piv", "rpc", "hotplug"},
    "pkcs11": {"common", "drivers", "hotplug"},
    "daemon": {"common", "rpc", "hotplug", "drivers", "pkcs11"},
}
DEFINITIONS = {"pkcs11/p11.h", "pkcs11/tokend-pkcs11.h"}
DEFINITION_USERS = {"drivers", "rpc", "daemon"}

# Circles known and not yet broken, each with its reason. One that is gone
# must leave this list too (the check says so), and no other may appear.
KNOWN_CIRCLES = set()

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def sources(root):
    out = []
    for d in DIRS:
        for dp, _, fs in os.walk(os.path.join(root, d)):
            out += [os.path.relpath(os.path.join(dp, f), root)
                    for f in fs if f.endswith((".c", ".h"))]
    return sorted(out)


def include_graph(root, files, problems):
    """file -> set of our headers it includes. Quoted names are looked up
    beside the includer first, then by name across our directories (the
    build's include path)."""
    byname = collections.defaultdict(list)
    for f in files:
        if f.endswith(".h"):
            byname[os.path.basename(f)].append(f)
    known = set(files)
    edges = collections.defaultdict(set)
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                name = m.group(1)
                near = os.path.normpath(os.path.join(os.path.dirname(f), name))
                hits = byname.get(os.path.basename(name), [])
                if near in known:
                    edges[f].add(near)
                elif len(hits) == 1:
                    edges[f].add(hits[0])
                elif hits:
                    problems.append(f"{f}:{n}: \"{name}\" is ambiguous "
                                    f"({', '.join(hits)})")
    return edges


def layer(f):
    return f.split("/")[0]


def private(h):
    b = os.path.basename(h)
    return b == "internal.h" or b.endswith("_int.h")


def upward(edges, problems):
    for f in sorted(edges):
        for h in sorted(edges[f]):
            a, b = layer(f), layer(h)
            if a == b:
                continue
            if h in DEFINITIONS and a in DEFINITION_USERS:
                continue
            if b not in ALLOWED[a]:
                problems.append(f"{f}: includes {h}: {a}/ may not include "
                                f"{b}/")


def module(f):
    return f[:-2]


def circles(edges):
    def through(f, seen):
        """f's headers, a private header replaced by what it includes."""
        for h in edges.get(f, ()):
            if private(h):
                if h not in seen:
                    seen.add(h)
                    yield from through(h, seen)
            else:
                yield h, f

    adj = collections.defaultdict(set)
    why = collections.defaultdict(list)
    for f in edges:
        if private(f):
            continue
        for h, via in through(f, set()):
            a, b = module(f), module(h)
            if a == b:
                continue
            adj[a].add(b)
            why[(a, b)].append(f"{f} -> {h}" +
                               (f" (through {via})" if via != f else ""))
    # Tarjan's strongly connected components, iteratively.
    index, low, onstack, stack, comps = {}, {}, set(), [], []
    counter = 0
    for start in sorted(adj):
        if start in index:
            continue
        work = [(start, iter(sorted(adj[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        onstack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    onstack.add(w)
                    work.append((w, iter(sorted(adj.get(w, ())))))
                elif w in onstack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    onstack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    out = []
    for comp in comps:
        lines = [f"circle: {' <-> '.join(comp)}"]
        for a in comp:
            for b in sorted(adj[a]):
                if b in comp:
                    lines += [f"    {e}" for e in sorted(why[(a, b)])]
        out.append((tuple(comp), "\n".join(lines)))
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1], file=sys.stderr)
        return 2
    root = sys.argv[1]
    problems = []
    files = sources(root)
    edges = include_graph(root, files, problems)
    upward(edges, problems)
    found = circles(edges)
    for comp, text in found:
        if comp in KNOWN_CIRCLES:
            print("known " + text)
        else:
            problems.append(text)
    for comp in sorted(KNOWN_CIRCLES - {c for c, _ in found}):
        problems.append(f"known circle {' <-> '.join(comp)} is gone: take "
                        "it off KNOWN_CIRCLES")
    for p in problems:
        print(p)
    if not problems:
        print(f"{len(files)} files, "
              f"{sum(len(v) for v in edges.values())} includes: "
              "no upward include, no new circle")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
