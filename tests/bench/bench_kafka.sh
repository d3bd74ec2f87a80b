#!/bin/sh
# The Kafka collector's benchmark: a mock cluster of 5,000 topics crawled by
# `terrarium collect kafka`, beside raw librdkafka in the same run.
#
#   tests/bench/bench_kafka.sh [BINARY] [TOPICS]
#
# BINARY defaults to build/terrarium.  Loopback only; prints a table.
set -eu
cd "$(dirname "$0")/../.."
BIN=${1:-build/terrarium}
TOPICS=${2:-5000}
OUT=${BENCH_DIR:-/tmp/terrarium-bench}/tools
mkdir -p "$OUT"
# shellcheck disable=SC2046
cc -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. -o "$OUT/bench_kafka" \
	tests/bench/bench_kafka.c tests/lib/kafkamock.c $(pkg-config --cflags --libs rdkafka)
"$OUT/bench_kafka" "$BIN" "$TOPICS"
