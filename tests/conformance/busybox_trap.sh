#!/bin/busybox sh
# busybox sh traps: a handled signal to the shell itself, an EXIT trap, a
# child killed by a signal, and its status as the shell reports it.
trap 'echo got USR1' USR1
kill -USR1 $$
echo after the trap
/bin/busybox sh -c 'kill -TERM $$'
echo "child status $?"
trap 'echo exit trap' EXIT
exit 0
