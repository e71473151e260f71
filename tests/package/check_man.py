#!/usr/bin/env python3
"""check_man.py SOURCE_DIR MAN_DIR: the man pages keep up with the code.

Every key of the config parser's key tables (daemon/config*.c) has an entry
"*KEY =*" in tokend.conf(5), and each [tokend] limit's entry names the
default the parser sets; every long option of tokend (daemon/main.c) is in
tokend(8); every tokenctl command (ctl/tokenctl.c) has its entry in
tokenctl(1); every built page renders without a groff warning.
"""
import os
import re
import subprocess
import sys

src, man_dir = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what, file=sys.stderr)
    if not ok:
        failures.append(what)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


daemon = os.path.join(src, "daemon")
config_c = "".join(read(os.path.join(daemon, f)) for f in sorted(os.listdir(daemon))
                   if re.fullmatch(r"config.*\.c", f))
conf5 = read(os.path.join(src, "doc", "tokend.conf.5.scd"))
keys = re.findall(r'\{ "([a-z][a-z0-9-]*)", cfg_\w+,', config_c)
check(len(keys) >= 20, f"found the config key tables ({len(keys)} keys)")


def entry(key):
    """The paragraph of KEY's entry in tokend.conf(5), or None."""
    m = re.search(r"^\*" + re.escape(key) + r" =\*.*?(?=^\S|\Z)", conf5, re.M | re.S)
    return m.group(0) if m else None


for key in keys:
    check(entry(key) is not None, f"tokend.conf(5) documents '{key}'")


def human(expr):
    m = re.fullmatch(r"(\d+)u?(?: << (\d+))?", expr.strip())
    if not m:
        return None
    n = int(m.group(1)) << int(m.group(2) or 0)
    for unit, size in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


defaults = dict(re.findall(r"cfg->limits\.(\w+) = ([^;]+);", config_c))
check(len(defaults) >= 8, f"found the limits' defaults ({len(defaults)})")
for field, expr in defaults.items():
    key = field.replace("_", "-")
    text = entry(key) or ""
    want = human(expr)
    check(want is not None and f"Default: *{want}*" in text,
          f"tokend.conf(5) gives '{key}' its default {want}")

main_c = read(os.path.join(daemon, "main.c"))
tokend8 = read(os.path.join(src, "doc", "tokend.8.scd"))
opts = re.findall(r'\{ "([a-z][a-z-]*)", (?:no|required|optional)_argument', main_c)
check(len(opts) >= 5, f"found tokend's options ({len(opts)})")
for opt in opts:
    check(f"*--{opt}*" in tokend8, f"tokend(8) documents --{opt}")

tokenctl_c = read(os.path.join(src, "ctl", "tokenctl.c"))
tokenctl1 = read(os.path.join(src, "doc", "tokenctl.1.scd"))
verbs = re.findall(r'\{ "([a-z][a-z-]*)", (?:false|true) \}', tokenctl_c)
check(len(verbs) >= 4, f"found tokenctl's commands ({len(verbs)})")
for verb in verbs + ["check-config"]:
    check(f"\n*{verb}*" in tokenctl1, f"tokenctl(1) documents '{verb}'")
for page in sorted(os.listdir(man_dir)):
    if not re.fullmatch(r".+\.[1-8]", page):
        continue
    r = subprocess.run(["man", "--warnings", "-l", os.path.join(man_dir, page)],
                       capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
    check(r.returncode == 0 and not r.stderr.strip(),
          f"{page} renders without warnings {r.stderr.strip()[:300]}")

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("all passed", file=sys.stderr)
