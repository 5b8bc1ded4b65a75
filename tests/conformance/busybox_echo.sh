#!/bin/busybox sh
# `busybox echo hello`, as a #! script run by the guest's busybox.
/bin/busybox echo hello
