#!/usr/bin/env python3
"""Fails if a locked dependency needs a newer Rust than the workspace's `rust-version`.

Reads `cargo metadata --locked --all-features` (all features, so the optional SQL Server
dependencies count too; every platform and dev-dependency in Cargo.lock is included), takes the
`rust-version` the workspace's crates declare, and lists each dependency whose own
`rust-version` is newer. Run from the workspace root.
"""
import json
import subprocess
import sys


def parse(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--all-features"],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
)
members = set(meta["workspace_members"])
declared = {p["name"]: p.get("rust_version") for p in meta["packages"] if p["id"] in members}
missing = sorted(n for n, v in declared.items() if not v)
if missing:
    sys.exit(f"rust-version: no rust-version declared by {', '.join(missing)}")
if len({parse(v) for v in declared.values()}) != 1:
    sys.exit(f"rust-version: the workspace's crates disagree: {declared}")
msrv = next(iter(declared.values()))

too_new = sorted(
    (parse(p["rust_version"]), p["name"], p["version"], p["rust_version"])
    for p in meta["packages"]
    if p["id"] not in members and p.get("rust_version") and parse(p["rust_version"]) > parse(msrv)
)
if too_new:
    print(f"rust-version: the workspace says {msrv}, but locked dependencies need more:", file=sys.stderr)
    for _, name, version, rv in reversed(too_new):
        print(f"  {name} {version} needs {rv}", file=sys.stderr)
    sys.exit(1)
newest = max(parse(p["rust_version"]) for p in meta["packages"] if p["id"] not in members and p.get("rust_version"))
print(f"rust-version {msrv}: no locked dependency needs more (the newest needs {'.'.join(map(str, newest))})")
