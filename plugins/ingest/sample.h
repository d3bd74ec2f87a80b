/*
 * plugins/ingest/sample.h - validate one ingest sample and compute its stats
 * in a single streaming pass.
 *
 * A sample is a JSON object:
 *
 *     {"time_stamp": "2019-05-01T06:00:00-04:00", "data": [0.379, 1.589]}
 *
 * Other top-level keys are allowed and ignored, but the whole body must be
 * valid JSON (RFC 8259): objects, arrays, strings with their escapes and
 * valid UTF-8 (no overlong forms, no encoded or lone surrogates, no
 * control characters), numbers, true/false/null, nesting at most max_depth
 * deep, and nothing but whitespace after the value.  No byte-order mark.
 *
 * The parser is a resumable state machine: feed the body in chunks of any
 * size (down to one byte) and finish.  It holds O(1) memory whatever the
 * body's size: each number of "data" is folded into the running mean and
 * standard deviation (stats.h) as it is read, never stored.
 *
 * What it checks and reports (every problem, in document order, up to
 * INGEST_SAMPLE_MAX_ERRORS messages; the last says how many more there were):
 *   "body: invalid JSON at byte 123: expected ',' or ']'"  (parsing stops)
 *   "body: expected a JSON object, got array"
 *   "body: duplicate top-level key 'data'"
 *   "time_stamp: missing" / "time_stamp: expected a string, got number"
 *   "time_stamp: nonexistent local time 2019-03-10T02:30:00 in ..." (ts.h)
 *   "data: missing" / "data: expected an array, got object"
 *   "data: must not be empty"
 *   "data[3]: expected a number, got string"
 *   "data[7]: number 1e999 out of range for a double"
 * Numbers are converted correctly rounded (exact fast paths for up to 19
 * significant digits, strtod otherwise); underflow to 0 is accepted.
 *
 * Limits (a body past them gets an error, never a silent truncation):
 * nesting depth, INGEST_SAMPLE_KEYS_MAX distinct top-level keys holding
 * INGEST_SAMPLE_KEY_BYTES bytes in all (needed to find duplicates), and a
 * time_stamp of at most INGEST_SAMPLE_TS_MAX bytes.
 *
 * Memory: a parser is one heap block of about 36 KiB (its bounded key table,
 * error list and number buffer), whatever the body's size.  A parser is used
 * by one thread at a time; separate parsers are independent.  The body is
 * bytes, not a C string: NUL bytes in it are invalid JSON like any other
 * stray byte.
 *
 * Speed: the body in memory goes at about 500 MB/s for numbers printed with
 * %.17g and about 350 MB/s for short ones like 0.379, per core on the
 * development machine (tests/bench/bench_ingest_parse.c): while a chunk
 * has 64 bytes or more left, "data" numbers take a fast lane that parses
 * whole tokens in registers; anything unusual falls back to the state
 * machine, which alone decides at chunk ends.
 */
#ifndef INGEST_SAMPLE_H
#define INGEST_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "ts.h"

#define INGEST_SAMPLE_MAX_ERRORS 32
#define INGEST_SAMPLE_ERROR_MAX 160      /* bytes per message, with the NUL */
#define INGEST_SAMPLE_DEPTH_DEFAULT 64
#define INGEST_SAMPLE_DEPTH_MAX 256
#define INGEST_SAMPLE_KEYS_MAX 1024
#define INGEST_SAMPLE_KEY_BYTES 16384
#define INGEST_SAMPLE_TS_MAX 64

struct ingest_sample_opts {
	/* Zone for time stamps without an offset; NULL: ingest_ts_zone_default().
	 * Borrowed: must outlive the parser. */
	const struct ingest_ts_zone *zone;
	/* Deepest nesting allowed (the top-level object is depth 1);
	 * 0: INGEST_SAMPLE_DEPTH_DEFAULT; larger than INGEST_SAMPLE_DEPTH_MAX:
	 * INGEST_SAMPLE_DEPTH_MAX. */
	unsigned max_depth;
};

struct ingest_sample_result {
	/* Valid when the parse returned 0: */
	char time_stamp_utc[INGEST_TS_UTC_MAX]; /* "2019-05-01T10:00:00Z" */
	int64_t epoch_sec;                      /* seconds since the epoch */
	int32_t epoch_nsec;                     /* 0..999999999 */
	uint64_t count;                         /* numbers in "data" */
	double mean;
	double std;                             /* population standard deviation */
	/* Always valid: the problems, empty on success. */
	unsigned n_errors;
	char errors[INGEST_SAMPLE_MAX_ERRORS][INGEST_SAMPLE_ERROR_MAX];
};

/* Opaque streaming parser. */
struct ingest_sample_parser;

/*
 * A new parser (opts may be NULL for the defaults); NULL when out of memory.
 * Free it with ingest_sample_parser_destroy.
 */
struct ingest_sample_parser *ingest_sample_parser_create(const struct ingest_sample_opts *opts);

/*
 * Feed the next len bytes of the body (buf is only read during the call).
 * Returns 0 while the body can still be valid JSON, -EBADMSG once it cannot
 * (later feeds are ignored; finish lists the problem).
 */
int ingest_sample_parser_feed(struct ingest_sample_parser *ps, const char *buf, size_t len);

/*
 * End of body.  Fills *out and returns 0 when the sample is valid, or
 * -EBADMSG when out->errors lists its problems.  Call it once; afterwards
 * the parser can only be destroyed.
 */
int ingest_sample_parser_finish(struct ingest_sample_parser *ps, struct ingest_sample_result *out);

/* Free a parser; NULL does nothing. */
void ingest_sample_parser_destroy(struct ingest_sample_parser *ps);

/*
 * The whole body at once: create, feed, finish, destroy.  Returns 0 for a
 * valid sample, -EBADMSG with out->errors filled, -EINVAL if buf (with
 * len > 0) or out is NULL, -ENOMEM (with a message in out->errors) when the
 * parser cannot be allocated.
 */
int ingest_sample_parse(const char *buf, size_t len, const struct ingest_sample_opts *opts,
			struct ingest_sample_result *out);

#endif
