#!/usr/bin/env bash
# verify's cost against the migration's, on the same generated backup (issue 13, point 6):
#   benches/verify_rss.sh [SCALE ...]      (default: 70 560; scale 1 is about 225 KB of backup)
# Per scale: wall seconds and peak RSS of `migrate` into SQLite, then of `verify` of that
# target (clean, so every row and file is compared), and the same two with --nologs. One run
# each (RUNS to repeat: medians). verify's expected rows and files go to a temporary folder
# under $TMPDIR, as the migration's target does under $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1}
BIN=${BIN:-target/release/octo-migrate}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p octo-migrate-cli
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# measure CMD...: "seconds peakKiB exitcode" of one run
measure() {
  local out s e rc
  s=$(date +%s.%N)
  out=$( { /usr/bin/time -v "$@" 2>&1 >/dev/null; echo "rc=$?"; } || true)
  e=$(date +%s.%N)
  rc=$(printf '%s\n' "$out" | sed -n 's/^rc=//p' | tail -1)
  echo "$(echo "$e - $s" | bc -l) $(printf '%s\n' "$out" | awk -F': ' '/Maximum resident/ {print $2}') $rc"
}

printf '%-6s %-9s %-30s %9s %11s %5s\n' scale backupMB what seconds peakRSS_MB exit
for SCALE in "${@:-70 560}"; do
  B="$WORK/s$SCALE.octobak"
  "$BIN" generate-sample --out "$B" --scale "$SCALE" --seed 1 >/dev/null
  MB=$(( $(stat -c %s "$B") / 1048576 ))
  for MODE in "" "--nologs"; do
    T="$WORK/t"
    mig=(migrate --file "$B" --master-key-file "$B.key" --skip-unsupported-steps --quiet $MODE --target "sqlite:$T/o.db")
    ver=(verify --file "$B" --master-key-file "$B.key" --skip-unsupported-steps $MODE --target "sqlite:$T/o.db")
    for what in migrate verify; do
      results=()
      for i in $(seq "$RUNS"); do
        if [ "$what" = migrate ]; then rm -rf "$T"; mkdir -p "$T"; r=$(measure "$BIN" "${mig[@]}");
        else r=$(measure "$BIN" "${ver[@]}"); fi
        results+=("$r")
      done
      secs=$(printf '%s\n' "${results[@]}" | awk '{print $1}' | median)
      kib=$(printf '%s\n' "${results[@]}" | awk '{print $2}' | median)
      rc=$(printf '%s\n' "${results[@]}" | awk '{print $3}' | tail -1)
      printf '%-6s %-9s %-30s %9.2f %11s %5s\n' "$SCALE" "$MB" "$what ${MODE:-(with task logs)}" "$secs" "$((kib / 1024))" "$rc"
    done
  done
done
