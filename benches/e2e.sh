#!/usr/bin/env bash
# End-to-end benchmark: the same generated backup, measured against its floor in one run.
#   benches/e2e.sh [SCALE ...]      (default: 70 560; scale 1 is about 225 KB of backup)
# Prints, per scale: dry run with 1 and 2 threads vs `openssl enc -d | gzip -dc` over the
# extracted dump; migrate into SQLite vs `sqlite3` restoring the produced database from its own
# .dump; the same migrate with --nologs, and `unzip` extracting the backup's activity-log
# entries as they are (same count, about the same sizes: the file system's floor for writing
# the task-log files); verify of the migrated target; peak RSS of each migrate and verify run. Medians of RUNS runs (default 3).
# Everything is written under $TMPDIR (mktemp): TMPDIR=/dev/shm takes the disk out of it.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
BIN=target/release/octo-migrate
cargo build --release -q -p octo-migrate-cli
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# secs CMD...: wall seconds of one run
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
# rss_kb CMD...: peak RSS in KiB of one run
rss_kb() { { /usr/bin/time -v "$@" 2>&1 >/dev/null || true; } | awk -F': ' '/Maximum resident/ {print $2}'; }

printf '%-6s %-9s %-34s %10s %10s\n' scale backupMB what seconds peakRSS_MB
for SCALE in "${@:-70 560}"; do
  B="$WORK/s$SCALE.octobak"
  "$BIN" generate-sample --out "$B" --scale "$SCALE" --seed 1 >/dev/null
  KEY=$(cat "$B.key")
  MB=$(( $(stat -c %s "$B") / 1048576 ))
  # The floor for reading: decrypt + gunzip of the extracted dump entry.
  unzip -p "$B" RavenDB/Raven.dump > "$WORK/dump.enc"
  HEXKEY=$(printf '%s' "$KEY" | base64 -d | od -An -tx1 | tr -d ' \n')
  IV=$(head -c16 "$WORK/dump.enc" | od -An -tx1 | tr -d ' \n')
  tail -c +17 "$WORK/dump.enc" > "$WORK/dump.ct"
  floor() { openssl enc -d -aes-128-cbc -K "$HEXKEY" -iv "$IV" -in "$WORK/dump.ct" | gzip -dc > /dev/null; }
  export -f floor; export HEXKEY IV WORK
  row() { printf '%-6s %-9s %-34s %10.2f %10s\n' "$SCALE" "$MB" "$1" "$2" "$3"; }
  t=$(for i in $(seq $RUNS); do secs bash -c floor; done | median); row "openssl|gzip -dc (floor)" "$t" "-"
  for T in 1 2; do
    args=(migrate --file "$B" --master-key-file "$B.key" --skip-unsupported-steps --dry-run --quiet --threads $T)
    t=$(for i in $(seq $RUNS); do secs "$BIN" "${args[@]}"; done | median)
    r=$(rss_kb "$BIN" "${args[@]}"); row "migrate --dry-run --threads $T" "$t" "$((r / 1024))"
  done
  mig() { rm -rf "$WORK/t"; mkdir -p "$WORK/t"; "$BIN" migrate --file "$B" --master-key-file "$B.key" --skip-unsupported-steps --quiet --target "sqlite:$WORK/t/o.db" || true; }
  export -f mig; export BIN B
  t=$(for i in $(seq $RUNS); do secs bash -c mig; done | median)
  rm -rf "$WORK/t"; mkdir -p "$WORK/t"
  r=$(rss_kb "$BIN" migrate --file "$B" --master-key-file "$B.key" --skip-unsupported-steps --quiet --target "sqlite:$WORK/t/o.db")
  row "migrate into SQLite" "$t" "$((r / 1024))"
  # verify of that target: the backup migrated again into a temporary folder, then compared.
  ver=(verify --file "$B" --master-key-file "$B.key" --skip-unsupported-steps --target "sqlite:$WORK/t/o.db")
  t=$(for i in $(seq $RUNS); do secs "$BIN" "${ver[@]}"; done | median)
  r=$(rss_kb "$BIN" "${ver[@]}"); row "verify of that target" "$t" "$((r / 1024))"
  nologs() { rm -rf "$WORK/n"; mkdir -p "$WORK/n"; "$BIN" migrate --file "$B" --master-key-file "$B.key" --skip-unsupported-steps --quiet --nologs --target "sqlite:$WORK/n/o.db" || true; }
  export -f nologs
  t=$(for i in $(seq $RUNS); do secs bash -c nologs; done | median)
  rm -rf "$WORK/n"; mkdir -p "$WORK/n"
  r=$(rss_kb "$BIN" migrate --file "$B" --master-key-file "$B.key" --skip-unsupported-steps --quiet --nologs --target "sqlite:$WORK/n/o.db")
  row "migrate into SQLite --nologs" "$t" "$((r / 1024))"
  rm -rf "$WORK/n"
  LOGS=$(unzip -l "$B" | grep -c 'ActivityLogs/' || true)
  unzlogs() { rm -rf "$WORK/f"; mkdir -p "$WORK/f"; unzip -q "$B" 'ActivityLogs/*' -d "$WORK/f"; }
  export -f unzlogs
  t=$(for i in $(seq $RUNS); do secs bash -c unzlogs; done | median); row "unzip of the $LOGS log entries (floor)" "$t" "-"
  rm -rf "$WORK/f"
  sqlite3 "$WORK/t/o.db" .dump > "$WORK/o.sql"
  restore() { rm -f "$WORK/r.db"; sqlite3 "$WORK/r.db" < "$WORK/o.sql"; }
  export -f restore
  t=$(for i in $(seq $RUNS); do secs bash -c restore; done | median); row "sqlite3 restore of that database" "$t" "-"
done
