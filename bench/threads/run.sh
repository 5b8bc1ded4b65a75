#!/bin/sh
# Guest thread costs: thread_prog natively and as the guest's init, in one
# run, and the guest/native ratio per operation.
#   bench/threads/run.sh BOOT [N]
# BOOT: kernel_boot_driver or `pangaea` (then run as `pangaea boot`).
set -eu
boot=$1 n=${2:-2000}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/pangaea-threads.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -pthread -o "$tmp/thread_prog" "$here/thread_prog.c"
case $(basename "$boot") in pangaea) boot="$boot boot";; esac
"$tmp/thread_prog" "$n" > "$tmp/native"
$boot mem=256M root=/dev/root rootfstype=hostfs rootflags=/ -- "$tmp/thread_prog" "$n" > "$tmp/guest"
printf '%-8s %12s %12s %8s\n' op native_ns guest_ns ratio
join "$tmp/native" "$tmp/guest" |
  awk '{ printf "%-8s %12d %12d %8.1f\n", $1, $2, $3, ($2 > 0 ? $3 / $2 : 0) }'
