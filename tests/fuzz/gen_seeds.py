#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/<target>/).  Re-run after an ABI
change to bpf/vigil_events.h; crash inputs found by run.sh are added by hand beside these."""
import glob, json, os, re, shutil, socket, struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")


def hdr(typ, size, flags=0, tgid=100, start=1000, comm=b"sh"):
    return struct.pack("<HHIQIIQIIQ16s", typ, size, flags, 123456789, tgid, tgid, start,
                       0, 0, 42, comm)


def exec_rec(exe, argv, cwd, script=b"", flags=0, tgid=100, ppid=1):
    e = exe + b"\0" if exe is not None else b""
    c = cwd + b"\0" if cwd is not None else b""
    s = script + b"\0" if script else b""
    data = e + argv + c + s
    size = 64 + 88 + len(data)
    fixed = struct.pack("<IIQIIIIQQQqqIIHHHH", ppid, 0xffffffff, 500, 0, 0, 4026531836,
                        4026531841, 0x800001, 1234, 10000, 0, 0, 0o100755, argv.count(b"\0"),
                        len(e), len(argv), len(c), len(s))
    return hdr(1, size, flags, tgid) + fixed + data


def file_rec(op, path, path2=b"", flags=0, mode=0o100644, uid_arg=0, gid_arg=0):
    p = path + b"\0"
    p2 = path2 + b"\0" if path2 else b""
    size = 64 + 56 + len(p) + len(p2)
    fixed = struct.pack("<HHHHIIQQQIIIi", op, len(p), len(p2), 0, 0o1101, mode, 0x800001, 77,
                        66, uid_arg, gid_arg, 1, 0)
    return hdr(4, size, flags) + fixed + p + p2


def net_rec(op, family, af, proto, sa, sp, da, dp, flags=0):
    size = 64 + 48
    return hdr(5, size, flags) + struct.pack("<HHHHHHi16s16s", op, family, af, proto, sp, dp, 0,
                                             sa.ljust(16, b"\0"), da.ljust(16, b"\0"))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    v4 = lambda s: socket.inet_pton(socket.AF_INET, s)
    v6 = lambda s: socket.inet_pton(socket.AF_INET6, s)
    ev = {
        "exec_true": exec_rec(b"/usr/bin/true", b"true\0", b"/root"),
        "exec_script": exec_rec(b"/usr/bin/python3", b"python3\0/tmp/x.py\0", b"/tmp", b"/tmp/x.py"),
        "exec_badutf8": exec_rec(b"/tmp/\xff\xfe\x80bin", b"a\xc3\x28\0b\0", b"/t\xed\xa0\x80"),
        "exec_trunc_argv": exec_rec(b"/bin/sh", b"sh\0-c\0echo", b"/", flags=4),
        "exec_empty": exec_rec(None, b"", None),
        "fork": hdr(2, 80) + struct.pack("<IIQ", 101, 101, 2000),
        "exit": hdr(3, 72, tgid=101, start=2000) + struct.pack("<iI", 256, 0),
        "file_open": file_rec(1, b"/etc/passwd", flags=1 | 2),
        "file_rename": file_rec(2, b"/etc/a", b"/etc/b", flags=4),
        "file_symlink": file_rec(6, b"/tmp/l", b"../\xff"),
        "file_chmod": file_rec(7, b"/etc/shadow", uid_arg=0o4755),
        "file_chown": file_rec(8, b"/etc/x", uid_arg=0xffffffff, gid_arg=5),
        "file_xattr": file_rec(12, b"/bin/ls", b"security.capability"),
        "net_connect4": net_rec(1, 2, 2, 6, v4("10.0.0.1"), 40000, v4("1.1.1.1"), 443, 2),
        "net_accept6": net_rec(2, 10, 10, 6, v6("fe80::1"), 22, v6("2001:db8::5"), 50000),
        "net_mapped": net_rec(1, 10, 2, 17, v4("127.0.0.1"), 5353, v4("8.8.8.8"), 53, 1),
        "net_listen": net_rec(3, 2, 2, 6, v4("0.0.0.0"), 8080, b"", 0),
        "net_bind6": net_rec(4, 10, 10, 17, v6("::"), 123, b"", 0),
    }
    for k, v in ev.items():
        write("event", k, v)

    js = {
        "ascii": b"/usr/bin/true",
        "empty": b"",
        "latin1": b"caf\xe9",
        "nul": b"a\0b",
        "ctrl": b"\x01\x1f\"\\\n\t",
        "overlong": b"\xc0\xaf\xe0\x80\xaf",
        "surrogate": b"\xed\xa0\x80\xed\xbf\xbf",
        "max": b"\xf4\x8f\xbf\xbf\xf4\x90\x80\x80",
        "truncated": b"\xe2\x82",
        "emoji": "x\u00e9\u20ac\U0001F600".encode(),
    }
    for k, v in js.items():
        write("jsonx", k, v)

    for p in [os.path.join(ROOT, "policies", "default.json")] + \
            sorted(glob.glob(os.path.join(ROOT, "policies", "examples", "*.json"))):
        os.makedirs(os.path.join(HERE, "policy"), exist_ok=True)
        shutil.copy(p, os.path.join(HERE, "policy", os.path.basename(p)))
    small = {
        "min.json": {"version": 1},
        "bad_type.json": {"version": 1, "sensors": {"exec": "yes"}},
        "unknown_key.json": {"version": 1, "nope": 1},
    }
    for k, v in small.items():
        write("policy", k, json.dumps(v).encode())
    write("policy", "dup_key.json", b'{"version": 1, "version": 1}')
    write("policy", "trunc.json", b'{"version": 1, "file": {"watch": ["/et')

    # detection rules: the shipped files, and each shipped rule alone
    for p in sorted(glob.glob(os.path.join(ROOT, "policies", "rules", "*.json"))):
        shutil.copy(p, os.path.join(HERE, "rules", os.path.basename(p)) if os.makedirs(
            os.path.join(HERE, "rules"), exist_ok=True) is None else None)
        with open(p) as f:
            for r in json.load(f).get("rules", []):
                write("rules", "rule_" + r.get("id", "x") + ".json", json.dumps({"rules": [r]}).encode())

    # libFuzzer dictionary: every key the schema names, and the JSON tokens
    keys = set()

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.get("properties", {}).items():
                keys.add(k)
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    with open(os.path.join(ROOT, "policies", "policy.schema.json")) as f:
        walk(json.load(f))
    toks = ['"{"', '"}"', '"["', '"]"', '":"', '","', '"true"', '"false"', '"null"', '"\\""']
    with open(os.path.join(HERE, "policy.dict"), "w") as f:
        f.write("# generated by gen_seeds.py from policies/policy.schema.json\n")
        for t in toks:
            f.write(t + "\n")
        for k in sorted(keys):
            f.write('"\\"%s\\""\n' % k)

    # rules dictionary: field names from detect_rules.c, operators and keys from detect.h
    with open(os.path.join(ROOT, "userspace", "lib", "detect_rules.c")) as f:
        fields = sorted(set(re.findall(r'\{ "([a-z_]+\.[a-z_.0-9]+)", FT_', f.read())))
    words = ["rules", "id", "title", "description", "severity", "enabled", "mitre", "tactic",
             "tactic_name", "technique", "technique_name", "event", "condition", "exceptions",
             "dedup", "remediation", "sequence", "by", "window_s", "steps", "capture", "same",
             "all", "any", "not", "field", "equals", "in", "prefix", "suffix", "contains", "glob",
             "gt", "ge", "lt", "le", "bits_any", "bits_all", "exists", "lineage", "process",
             "container", "exec", "file", "network", "ptrace", "module_load", "setns", "unshare",
             "signal", "file_read", "exec_stdio", "${vigil.log_dir}", "${vigil.exe}"]
    with open(os.path.join(HERE, "rules.dict"), "w") as f:
        f.write("# generated by gen_seeds.py from detect.h and detect_rules.c\n")
        for w in words + fields:
            f.write('"\\"%s\\""\n' % w)


if __name__ == "__main__":
    main()
