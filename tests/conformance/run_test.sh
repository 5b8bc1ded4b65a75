#!/bin/sh
# Conformance runner (see README.md).
#   run_test.sh compare BOOT PROG [STATUS]  native vs guest: same stdout and
#       exit status; the test counts only if PROG exits STATUS natively
#       (else exit 77 = skipped).
#   run_test.sh hostile BOOT PROG          guest only, in a root of its own.
set -u
mode=$1 boot=$2 prog=$3 want=${4:-0}
tmp=$(mktemp -d /tmp/pangaea-conformance.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
case $mode in
compare)
  (cd / && "$prog") > "$tmp/native" 2> "$tmp/native.err"
  ns=$?
  if [ "$ns" != "$want" ]; then
    echo "not counted: fails natively (status $ns, want $want)"
    cat "$tmp/native" "$tmp/native.err"
    exit 77
  fi
  "$boot" mem=256M root=/dev/root rootfstype=hostfs rootflags=/ -- "$prog" > "$tmp/guest" 2>"$tmp/guest.err"
  gs=$?
  fail=0
  if ! diff -u "$tmp/native" "$tmp/guest"; then fail=1; fi
  if [ "$gs" != "$ns" ]; then echo "exit status: native $ns, guest $gs"; fail=1; fi
  if [ $fail != 0 ]; then echo "--- guest stderr:"; cat "$tmp/guest.err"; fi
  exit $fail
  ;;
hostile)
  marker=/tmp/pangaea-hostile-marker
  rm -f "$marker"
  mkdir -p "$tmp/root"
  mkdir -p "$tmp/root/tmp"
  cp "$prog" "$tmp/root/hostile"
  ln -s /etc/passwd "$tmp/root/escape_abs"
  ln -s ../../../../../../etc/passwd "$tmp/root/escape_rel"
  "$boot" mem=64M root=/dev/root rootfstype=hostfs rootflags="$tmp/root" -- /hostile > "$tmp/out" 2>&1
  gs=$?
  cat "$tmp/out"
  fail=0
  if [ -e "$marker" ]; then echo "HOST MARKER CREATED: a guest syscall reached the host"; rm -f "$marker"; fail=1; fi
  if grep -q '^FAIL' "$tmp/out" || ! grep -q '^done$' "$tmp/out" || [ "$gs" != 0 ]; then fail=1; fi
  exit $fail
  ;;
esac
echo "unknown mode $mode"
exit 2
