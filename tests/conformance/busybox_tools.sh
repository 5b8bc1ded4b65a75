#!/bin/busybox sh
# busybox applets over files: redirection (>, >>, <, 2>&1, here-documents),
# grep, sed, awk, sort, uniq, wc, find, xargs, tar, gzip, md5sum, cut.
# Everything happens in a fresh directory under /tmp, removed at the end.
bb=/bin/busybox
d=$($bb mktemp -d /tmp/pangaea-bbtools.XXXXXX) || exit 1
trap '$bb rm -rf "$d"' EXIT
cd "$d" || exit 1
$bb mkdir -p src/a src/b
for i in 1 2 3 4 5 6 7 8 9 10; do echo "line $i of $((i * i))" >> src/a/squares.txt; done
$bb cat > src/b/words.txt <<'WORDS'
pear apple fig
apple kiwi
fig fig pear
WORDS
$bb seq 1 500 > src/b/numbers.txt
$bb grep -c 'of' src/a/squares.txt
$bb grep -n 'of 4' src/a/squares.txt
$bb sed -n 's/line \([0-9]*\) of \([0-9]*\)/\2=\1^2/p' src/a/squares.txt | $bb tail -3
$bb awk '{ s += $NF } END { print "sum of squares", s }' src/a/squares.txt
$bb tr ' ' '\n' < src/b/words.txt | $bb sort | $bb uniq -c | $bb sort -k1,1nr -k2
$bb wc -l < src/b/numbers.txt
$bb cut -d' ' -f2 src/b/words.txt | $bb sort | $bb tr '\n' ','; echo
$bb find src -type f | $bb sort
$bb find src -name '*.txt' | $bb sort | $bb xargs $bb wc -c | $bb tail -1
$bb tar -cf src.tar src && $bb gzip -9 src.tar && echo "gzip status $?"
$bb mkdir out && $bb tar -xzf src.tar.gz -C out && echo "untar status $?"
(cd out && $bb find . -type f | $bb sort | $bb xargs $bb md5sum)
$bb diff -r src out/src && echo "trees equal"
$bb ls missing-file > ls.out 2>&1; echo "ls status $?"
$bb grep -c 'missing-file' ls.out
$bb gzip -dc src.tar.gz | $bb tar -tf - | $bb sort
exit 0
