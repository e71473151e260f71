#!/usr/bin/python3
"""Static check of tokend's udev rules (no udevd in CI; Debian 12's systemd
252 has no `udevadm verify`).

Parses every rule the way udev does (KEY[{attr}] OP "value", comma
separated), refuses unknown keys, operators a key does not take (the classic
`ACTION="add"`, which udev ignores with a warning), rules that assign
nothing, GOTOs without their LABEL after them, and checks tokend's own
promises: the vendor table equals hotplug/usb_keys.c's, keys are tagged
"tokend" with the TOKEND_KEY property the watcher reads, and device access
(OWNER/GROUP/MODE) is left to pcscd's and Debian's tss rules.

usage: check_rules.py RULES usb_keys.c
"""
import re
import sys

MATCH = {"==", "!="}
ASSIGN = {"=", "+=", "-=", ":="}
KEYS = {
    # key: (operators, takes {attr})
    "ACTION": (MATCH, False), "DEVPATH": (MATCH, False),
    "KERNEL": (MATCH, False), "KERNELS": (MATCH, False),
    "SUBSYSTEM": (MATCH, False), "SUBSYSTEMS": (MATCH, False),
    "DRIVER": (MATCH, False), "DRIVERS": (MATCH, False),
    "ATTRS": (MATCH, True), "TAGS": (MATCH, False), "TEST": (MATCH, True),
    "PROGRAM": (MATCH, False), "RESULT": (MATCH, False),
    "CONST": (MATCH, True),
    "ENV": (MATCH | ASSIGN, True), "TAG": (MATCH | ASSIGN, False),
    "ATTR": (MATCH | ASSIGN, True), "SYSCTL": (MATCH | ASSIGN, True),
    "NAME": (ASSIGN, False), "SYMLINK": (ASSIGN, False),
    "OWNER": (ASSIGN, False), "GROUP": (ASSIGN, False),
    "MODE": (ASSIGN, False), "SECLABEL": (ASSIGN, True),
    "RUN": (ASSIGN, True), "IMPORT": (ASSIGN, True),
    "OPTIONS": (ASSIGN, False), "LABEL": ({"="}, False),
    "GOTO": ({"="}, False),
}
TOKEN = re.compile(
    r'\s*([A-Z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse(text):
    """[(lineno, [(key, attr, op, value)])], errors."""
    rules, errors, buf, start = [], [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        line, buf = (buf + line).strip(), ""
        if not line or line.startswith("#"):
            continue
        pos, toks = 0, []
        while pos < len(line):
            m = TOKEN.match(line, pos)
            if not m:
                errors.append(f"{start}: cannot parse at: {line[pos:]!r}")
                break
            toks.append(m.groups())
            pos = m.end()
        rules.append((start, toks))
    return rules, errors


def check(rules):
    errors, labels_after, gotos = [], set(), []
    for n, toks in rules:
        assigns = 0
        for key, attr, op, value in toks:
            if key not in KEYS:
                errors.append(f"{n}: unknown key {key}")
                continue
            ops, takes_attr = KEYS[key]
            if op not in ops:
                errors.append(f"{n}: {key} does not take {op}")
            if takes_attr and attr is None and key not in ("RUN", "IMPORT", "TEST", "SECLABEL"):
                errors.append(f"{n}: {key} needs {{attribute}}")
            if not takes_attr and attr is not None:
                errors.append(f"{n}: {key} takes no {{attribute}}")
            if op in ASSIGN:
                assigns += 1
            if key == "GOTO":
                gotos.append((n, value))
            if key == "LABEL":
                labels_after.add((n, value))
            if key in ("OWNER", "GROUP", "MODE"):
                errors.append(f"{n}: {key}: device access is pcscd's and tss's, not ours")
        if assigns == 0:
            errors.append(f"{n}: rule assigns nothing")
    for n, target in gotos:
        if not any(ln > n and v == target for ln, v in labels_after):
            errors.append(f"{n}: GOTO {target} has no LABEL after it")
    return errors


def vendor_rules(rules):
    """(vendor, product or 0) of each rule that sets TOKEND_KEY=1 by ID."""
    out, errors = [], []
    for n, toks in rules:
        ids = {attr: value for key, attr, op, value in toks
               if key == "ATTR" and op == "==" and attr in ("idVendor", "idProduct")}
        sets = any(k == "ENV" and a == "TOKEND_KEY" and o == "=" and v == "1"
                   for k, a, o, v in toks)
        if not ids:
            continue
        for v in ids.values():
            if not re.fullmatch(r"[0-9a-f]{4}", v):
                errors.append(f"{n}: {v!r}: sysfs IDs are four lower-case hex digits")
        if not sets or "idVendor" not in ids:
            errors.append(f"{n}: an ID rule must match idVendor and set TOKEND_KEY=1")
            continue
        out.append((int(ids["idVendor"], 16), int(ids.get("idProduct", "0"), 16)))
    return out, errors


def table(c_source):
    return [(int(v, 16), int(p, 16)) for v, p in re.findall(
        r'\{\s*0x([0-9a-fA-F]{4}),\s*0x([0-9a-fA-F]{4}),\s*"', c_source)]


def check_all(rules_text, c_source):
    rules, errors = parse(rules_text)
    errors += check(rules)
    ids, id_errors = vendor_rules(rules)
    errors += id_errors
    want = table(c_source)
    if not want:
        errors.append("no vendor table found in usb_keys.c")
    if sorted(ids) != sorted(want):
        errors.append(f"vendor rules {sorted(set(ids) ^ set(want))} differ from usb_keys.c")
    flat = [t for _, toks in rules for t in toks]
    if ("ENV", "ID_USB_INTERFACES", "==", "*:0b????:*") not in flat:
        errors.append("no rule for a CCID interface (ID_USB_INTERFACES *:0b????:*)")
    if ("TAG", None, "+=", "tokend") not in flat:
        errors.append('keys are not tagged TAG+="tokend"')
    return errors


def self_test(c_source):
    """The checker must catch what it claims to."""
    good = open(sys.argv[1]).read()
    bad = {
        "match with =": good.replace('ACTION=="remove"', 'ACTION="remove"'),
        "unknown key": good + '\nFOO=="x", ENV{A}="1"\n',
        "unparsable": good + '\nENV{A}="1" TAG+="x"\n',
        "dangling GOTO": good.replace('LABEL="tokend_end"', 'LABEL="other"'),
        "vendor missing": good.replace('ATTR{idVendor}=="096e", ENV{TOKEND_KEY}="1"\n', ""),
        "upper-case ID": good.replace('=="0529"', '=="0A29"'),
        "GROUP set": good + '\nKERNEL=="tpmrm[0-9]*", GROUP="tokend"\n',
        "no assignment": good + '\nSUBSYSTEM=="usb"\n',
        "no tag": good.replace('TAG+="tokend"', 'TAG+="other"'),
    }
    failed = [name for name, text in bad.items() if not check_all(text, c_source)]
    if check_all(good, c_source + '{ 0x1234, 0x0000, "extra" },'):
        pass
    else:
        failed.append("table entry missing from rules")
    return failed


def main():
    rules_text = open(sys.argv[1]).read()
    c_source = open(sys.argv[2]).read()
    failed = self_test(c_source)
    if failed:
        print("FAIL: the checker accepts broken rules:", ", ".join(failed))
        return 1
    errors = check_all(rules_text, c_source)
    for e in errors:
        print(f"FAIL: {sys.argv[1]}:{e}")
    if errors:
        return 1
    rules, _ = parse(rules_text)
    print(f"ok: {len(rules)} rules, {len(table(c_source))} table entries match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
