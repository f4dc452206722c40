#!/usr/bin/env bash
# Instructions per request for each stage of the /mutate handler, counted by callgrind
# (deterministic, unlike time on a shared machine). Usage: scripts/count-instructions.sh [N]
set -euo pipefail
runs="${1:-2000}"
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
binary=$(cargo bench --no-run --bench instructions --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*instructions[^"]*\)".*/\1/p' | tail -1)
[ -x "$binary" ] || { echo "could not build benches/instructions.rs" >&2; exit 1; }
count() {
  N="$2" STAGE="$1" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for stage in parse decide respond log whole; do
  base=$(count "$stage" 0)
  total=$(count "$stage" "$runs")
  printf '%-8s %8d instructions per request\n' "$stage" $(( (total - base) / runs ))
done
