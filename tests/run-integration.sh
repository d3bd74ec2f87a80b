#!/bin/sh
# Run each integration test binary (they start the real terrarium binary,
# $TERRARIUM_BIN, on loopback); fail if any fails.
pass=0; fail=0
for t in "$@"; do
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t" >&2; fi
done
echo "integration binaries: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
