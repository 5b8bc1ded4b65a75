#!/bin/busybox sh
# busybox sh: builtins, fork+exec+wait, pipes, subshells, loops, status codes.
echo hi
/bin/busybox ls / > /dev/null && echo "ls ok"
/bin/busybox seq 1 2000 | /bin/busybox md5sum
echo "a b c" | /bin/busybox wc -w
(echo in a subshell; exit 3)
echo "status $?"
for i in 1 2 3; do printf '%s,' "$i"; done; echo
x=$(/bin/busybox echo captured); echo "$x"
/bin/busybox false || echo "false failed as it should"
echo one two three | /bin/busybox tr ' ' '\n' | /bin/busybox sort -r | /bin/busybox head -2
exit 0
