#!/bin/sh
# `pangaea bench guest` end to end with tiny counts, peers skipped: the
# table and the JSON have every row, and our values are positive numbers.
set -u
pangaea=$1
out=$("$pangaea" bench guest --iterations 20 --no-peers) || { echo "table run failed"; echo "$out"; exit 1; }
echo "$out"
for row in getpid open_read_close touch fork_wait pipe_pingpong fork_exec; do
  echo "$out" | grep -q "^$row " || { echo "missing row $row"; exit 1; }
done
echo "$out" | grep -q "raw PTRACE_SYSEMU round trip" || { echo "no SYSEMU line"; exit 1; }
json=$("$pangaea" bench guest --iterations 20 --no-peers --json) || { echo "json run failed"; exit 1; }
echo "$json"
for row in getpid open_read_close touch fork_wait pipe_pingpong fork_exec; do
  line=$(echo "$json" | grep "\"row\": \"$row\"") || { echo "json: missing row $row"; exit 1; }
  for env in native pangaea; do
    v=$(echo "$line" | sed -n "s/.*\"${env}_ns\": \([0-9.e+]*\),.*/\1/p")
    case $v in
    '' | 0 | 0.0) echo "json: $row: no positive ${env}_ns"; exit 1 ;;
    esac
  done
  echo "$line" | grep -q '"UML_ns": null' || { echo "json: $row: UML must be null"; exit 1; }
done
echo "$json" | grep -q '"UML": {"status": "skipped"' || { echo "json: UML not skipped"; exit 1; }
exit 0
