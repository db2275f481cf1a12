#!/usr/bin/env bash
# The Windows build, tested under Wine (issue 17; docs/WINDOWS.md explains every choice here).
#
#   scripts/windows.sh            build for x86_64-pc-windows-gnu and run, under Wine, the core's
#                                 tests, the CLI's tests (they spawn the .exe) and the README's
#                                 first command with Windows paths, checking its database
#   scripts/windows.sh --build    only build (debug; the test binaries too)
#   scripts/windows.sh --sample   build, then only the sample's migration by the .exe
#   scripts/windows.sh --env      print the environment the build uses (for `eval`)
#
# The Linux toolchain (rustup's cargo and rustc, first on PATH) is left alone: the Windows build
# uses Debian's Rust by absolute path (/usr/bin/cargo and /usr/bin/rustc from cargo-web and
# rustc-web), with the standard library built for Windows from Debian's rust-web-src
# (-Zbuild-std; its own dependencies come from crates.io). MinGW-w64 links and compiles the C
# (bundled SQLite, mimalloc, aws-lc-sys); Wine runs the result.
#
# Where it builds: $OCTO_MIGRATE_WIN_TARGET_DIR, else <cargo target dir>/windows, i.e.
# target/windows in a clean clone (or $CARGO_TARGET_DIR/windows). The Wine prefix is
# <that>/wine, made on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

TRIPLE=x86_64-pc-windows-gnu
DEB_CARGO=/usr/bin/cargo
DEB_RUSTC=/usr/bin/rustc
WINE=/usr/lib/wine/wine64
PACKAGES=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine64)

mode=${1:-test}
now() { date +%s; }
t_start=$(now)
say() { echo "windows: $*"; }

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} from Debian's packages"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  # Another apt on the machine holds the lock for a while: wait for it rather than fail.
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
}

target_root=${CARGO_TARGET_DIR:-$repo/target}
WIN_TARGET_DIR=${OCTO_MIGRATE_WIN_TARGET_DIR:-$target_root/windows}
case "$WIN_TARGET_DIR" in /*) ;; *) WIN_TARGET_DIR=$repo/$WIN_TARGET_DIR ;; esac

win_env() {
  # Debian's rustc, by path: rustup's proxies stay first on PATH for everything else.
  export RUSTC=$DEB_RUSTC RUSTDOC=/usr/bin/rustdoc
  # -Zbuild-std is unstable: Debian's stable rustc allows it with RUSTC_BOOTSTRAP.
  export RUSTC_BOOTSTRAP=1
  unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER RUSTFLAGS CARGO_BUILD_RUSTFLAGS
  export CARGO_TARGET_DIR=$WIN_TARGET_DIR
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
  export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
  export CXX_x86_64_pc_windows_gnu=x86_64-w64-mingw32-g++
  export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
  # Size: no debug info at all in the Windows debug build (the standard library is built too),
  # and no incremental state. Backtraces then have no file:line; the Linux build keeps them.
  export CARGO_PROFILE_DEV_DEBUG=false CARGO_PROFILE_TEST_DEBUG=false CARGO_INCREMENTAL=0
  export CARGO_PROFILE_RELEASE_DEBUG=false
  # Wine: its own prefix, quiet, no prompts to install Mono or Gecko.
  export WINEPREFIX=$WIN_TARGET_DIR/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
}

# Wine 8.0 has no ProcessPrng (bcryptprimitives.dll), which Rust's std imports: our own tiny
# DLL (scripts/windows/bcryptprimitives.c) forwards it to advapi32's SystemFunction036.
wine_prefix() {
  local sys32=$WINEPREFIX/drive_c/windows/system32
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    say "making the Wine prefix $WINEPREFIX"
    mkdir -p "$WINEPREFIX"
    "$WINE" wineboot --init >/dev/null 2>&1 || true
    /usr/lib/wine/wineserver -w
  fi
  local dll=$sys32/bcryptprimitives.dll src=scripts/windows/bcryptprimitives.c
  if [ ! -f "$dll" ] || [ "$src" -nt "$dll" ] || [ scripts/windows/bcryptprimitives.def -nt "$dll" ]; then
    x86_64-w64-mingw32-gcc -shared -O2 -s -o "$dll" "$src" scripts/windows/bcryptprimitives.def -ladvapi32
  fi
  # Drive D: for the test of Windows paths on a second drive.
  mkdir -p "$WIN_TARGET_DIR/drive-d"
  ln -sfn "$WIN_TARGET_DIR/drive-d" "$WINEPREFIX/dosdevices/d:"
}

# `cargo test` under Wine with the build's environment; prints its output and keeps it in $1.
run_tests() {
  local log=$1
  shift
  set +e
  # The runner as a --config, not CARGO_TARGET_..._RUNNER: assert_cmd reads that variable in
  # the test process and would start the Linux wine64 from inside Wine.
  "$DEB_CARGO" test --target "$TRIPLE" -Zbuild-std --config "target.$TRIPLE.runner = \"$WINE\"" \
    "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

# Sums cargo's "test result:" lines of a log per crate: "core_passed core_failed core_ignored
# cli_passed cli_failed cli_ignored" (a test binary is the CLI's when its source is the CLI's).
count_tests() {
  local cli_tests
  cli_tests=$(cd octo-migrate-cli && ls tests/*.rs | tr '\n' ' ')
  awk -v cli="$cli_tests src/main.rs" '
    BEGIN { n = split(cli, c, " "); for (i = 1; i <= n; i++) is_cli[c[i]] = 1 }
    /^ *Running / { crate = ($2 == "unittests" ? $3 : $2) in is_cli ? "cli" : "core" }
    /^ *Doc-tests / { crate = ($2 == "octo_migrate_cli" ? "cli" : "core") }
    /^test result:/ {
      for (i = 1; i <= NF; i++) {
        if ($(i) ~ /^passed;?$/) p[crate] += $(i - 1)
        if ($(i) ~ /^failed;?$/) f[crate] += $(i - 1)
        if ($(i) ~ /^ignored;?$/) g[crate] += $(i - 1)
      }
    }
    END { printf "%d %d %d %d %d %d\n", p["core"], f["core"], g["core"], p["cli"], f["cli"], g["cli"] }' "$1"
}

# The reference the .exe's result is compared with: the same migration by the Linux binary
# (rustup's toolchain; CI has just built it for its tests), before the Windows environment is
# set. Task-log and artifact files, and the rows of every table, must be the same.
linux_reference() {
  local ref=$1
  rm -rf "$ref"
  mkdir -p "$ref"
  set +e
  cargo run -q -p octo-migrate-cli -- migrate --file testdata/sample.octobak \
    --master-key-file testdata/sample.octobak.key --skip-unsupported-steps \
    --target "sqlite:$ref/octopus3.db" --files-dir "$ref" --report "$ref/report.json" --quiet \
    >/dev/null
  local code=$?
  set -e
  if [ "$code" -ne 1 ]; then
    echo "windows: the Linux reference migration exited $code, not 1" >&2
    exit 1
  fi
}

install_packages
if [ "$mode" = test ] || [ "$mode" = --sample ]; then
  linux_reference "$WIN_TARGET_DIR/linux-reference"
fi
win_env
if [ "$mode" = --env ]; then
  export -p | grep -E ' (RUSTC|RUSTDOC|RUSTC_BOOTSTRAP|CARGO_TARGET_DIR|CARGO_TARGET_X86_64_PC_WINDOWS_GNU_[A-Z]+|CC_x86_64_pc_windows_gnu|CXX_x86_64_pc_windows_gnu|AR_x86_64_pc_windows_gnu|CARGO_PROFILE_[A-Z_]+|CARGO_INCREMENTAL|WINEPREFIX|WINEDEBUG|WINEDLLOVERRIDES)='
  exit 0
fi
if ! "$DEB_RUSTC" -vV 2>/dev/null | grep '^release: 1\.' >/dev/null; then
  echo "windows: $DEB_RUSTC is not a working rustc" >&2
  exit 1
fi
say "$("$DEB_RUSTC" --version) (Debian's, for $TRIPLE), $(x86_64-w64-mingw32-gcc --version | head -1), $("$WINE" --version)"
say "target dir $WIN_TARGET_DIR"

# Only the two crates whose tests run under Wine (the benches and the fuzz targets are not
# built for Windows). The CLI's default features are on: mimalloc and SQL Server included.
CRATES=(-p octo-migrate-core -p octo-migrate-cli)
t0=$(now)
"$DEB_CARGO" test --target "$TRIPLE" -Zbuild-std "${CRATES[@]}" --no-run -q
"$DEB_CARGO" build --target "$TRIPLE" -Zbuild-std -p octo-migrate-cli -q
exe=$WIN_TARGET_DIR/$TRIPLE/debug/octo-migrate.exe
t_build=$(($(now) - t0))
say "built in ${t_build}s: $exe ($(du -h "$exe" | cut -f1))"
[ "$mode" = --build ] && exit 0

wine_prefix
t0=$(now)
logs=$WIN_TARGET_DIR/logs
mkdir -p "$logs"
status=0
# One run for both crates, so features are unified as in the CLI's build (the core's SQL Server
# sink and its tests included) and nothing is built twice.
core_pass=0 core_fail=0 core_ign=0 cli_pass=0 cli_fail=0 cli_ign=0
if [ "$mode" != --sample ]; then
  run_tests "$logs/tests.txt" "${CRATES[@]}" --no-fail-fast || status=1
  read -r core_pass core_fail core_ign cli_pass cli_fail cli_ign < <(count_tests "$logs/tests.txt")
fi
t_tests=$(($(now) - t0))

# The README's first command, by the .exe, with Windows paths: the backup on C: given with
# backslashes, the database and files on drive D:.
t0=$(now)
c_dir=$WINEPREFIX/drive_c/Octopus/Backups
d_dir=$WIN_TARGET_DIR/drive-d/Octopus
rm -rf "$c_dir" "$d_dir"
mkdir -p "$c_dir" "$d_dir"
cp testdata/sample.octobak "$c_dir/20150630-101112.octobak"
cp testdata/sample.octobak.key "$c_dir/masterkey.txt"
set +e
"$WINE" "$exe" migrate --file 'C:\Octopus\Backups\20150630-101112.octobak' \
  --master-key-file 'C:\Octopus\Backups\masterkey.txt' --skip-unsupported-steps \
  --target 'sqlite:D:\Octopus\octopus3.db' --files-dir 'D:\Octopus' \
  --report 'D:\Octopus\report.json' >"$logs/sample.out" 2>"$logs/sample.err"
code=$?
set -e
sed 's/^/  /' "$logs/sample.out"
if [ "$code" -ne 1 ]; then
  echo "windows: the sample's migration exited $code, not 1 (finished with warnings):" >&2
  cat "$logs/sample.err" >&2
  status=1
fi
# Its database and files, read on the Linux side: tables and row counts, logs, artifacts.
if ! python3 - "$d_dir" "$WIN_TARGET_DIR/linux-reference" <<'EOF'; then status=1; fi
import json, os, sqlite3, sys

def result(d):
    db = sqlite3.connect(os.path.join(d, "octopus3.db"))
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    counts = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    files = {os.path.relpath(os.path.join(r, f), d).replace(os.sep, "/"):
             open(os.path.join(r, f), "rb").read()
             for top in ("TaskLogs", "Artifacts")
             for r, _, fs in os.walk(os.path.join(d, top)) for f in fs}
    json.load(open(os.path.join(d, "report.json")))
    return counts, files

win_dir, ref_dir = sys.argv[1:]
counts, files = result(win_dir)
ref_counts, ref_files = result(ref_dir)
logs = sum(f.startswith("TaskLogs/") for f in files)
print(f"windows: sample database: {len(counts)} tables, {sum(counts.values())} rows "
      f"(Project {counts.get('Project')}, Release {counts.get('Release')}, "
      f"Deployment {counts.get('Deployment')}, ServerTask {counts.get('ServerTask')}), "
      f"{logs} task logs, {len(files) - logs} artifacts")
problems = []
if counts.get("Project") != 6:
    problems.append(f"Project has {counts.get('Project')} rows, not 6")
for t in ("Release", "Deployment", "ServerTask", "DeploymentEnvironment", "Machine", "VariableSet"):
    if not counts.get(t):
        problems.append(f"{t} is empty")
if counts != ref_counts:
    diff = {t: (counts.get(t), ref_counts.get(t)) for t in set(counts) | set(ref_counts)
            if counts.get(t) != ref_counts.get(t)}
    problems.append(f"rows differ from Linux's (Windows, Linux): {diff}")
if files != ref_files:
    differ = sorted(f for f in set(files) & set(ref_files) if files[f] != ref_files[f])
    problems.append("files differ from Linux's: only on Windows "
                    f"{sorted(set(files) - set(ref_files))[:5]}, "
                    f"only on Linux {sorted(set(ref_files) - set(files))[:5]}, "
                    f"other bytes {differ[:5]}")
if not logs or len(files) == logs:
    problems.append("no task logs or no artifacts")
if not os.path.exists(os.path.join(win_dir, "tentacles.csv")):
    problems.append("no tentacles.csv beside the report")
leftovers = [n for n in os.listdir(win_dir) if n.startswith(".octo-migrate")]
if leftovers:
    problems.append(f"left behind: {leftovers}")
for p in problems:
    print("windows: sample:", p, file=sys.stderr)
if not problems:
    print("windows: sample: as the Linux binary's: the same row count in every table, the same "
          f"{len(files)} task-log and artifact files, byte for byte")
sys.exit(1 if problems else 0)
EOF
t_sample=$(($(now) - t0))
/usr/lib/wine/wineserver -w || true

total=$((core_pass + cli_pass))
say "under Wine: core ${core_pass} passed, ${core_fail} failed, ${core_ign} ignored; cli ${cli_pass} passed, ${cli_fail} failed, ${cli_ign} ignored"
say "times: build ${t_build}s, tests ${t_tests}s, sample ${t_sample}s, all $(($(now) - t_start))s; target dir $(du -sh "$WIN_TARGET_DIR" | cut -f1)"
if [ "$status" -ne 0 ] || { [ "$total" -eq 0 ] && [ "$mode" != --sample ]; }; then
  echo "windows: FAILED" >&2
  exit 1
fi
echo "windows: $total passed, $((core_fail + cli_fail)) failed"
