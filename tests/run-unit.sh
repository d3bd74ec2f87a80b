#!/bin/sh
# Run each cmocka test binary given; fail if any fails.  Prints one closing
# line "N passed, N failed" over the binaries.
pass=0; fail=0
for t in "$@"; do
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t" >&2; fi
done
echo "unit binaries: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
