/*
 * Unit tests of the ingest core: time stamps and zone rules
 * (plugins/ingest/ts.c), number parsing, JSON validation and error lists
 * (plugins/ingest/sample.c), and the running mean and standard deviation
 * (plugins/ingest/stats.c).
 *
 * Run from the repository root: the fixture is read from
 * ../shared/fixtures/ingest/sample.json and zones from /usr/share/zoneinfo
 * (Debian package tzdata).
 *
 * Most documents are parsed three ways and must give identical results: the
 * whole body at once (which uses the parser's fast lane for "data"), one byte
 * per feed, and in chunks of varied sizes (both of which exercise resuming
 * every state at every possible boundary).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/ingest/sample.h"
#include "plugins/ingest/stats.h"
#include "plugins/ingest/ts.h"

#define FIXTURE "../shared/fixtures/ingest/sample.json"

/* cmocka's float comparison works in single precision: this one in double. */
#define assert_near(a, b, eps)                                                          \
	do {                                                                            \
		double a_ = (a), b_ = (b);                                              \
		if (!(fabs(a_ - b_) <= (eps)))                                          \
			fail_msg("%s = %.17g, want %.17g within %g", #a, a_, b_, (double)(eps)); \
	} while (0)

/* ---- helpers ---- */

static struct ingest_ts_zone *zone(const char *name)
{
	struct ingest_ts_zone *z = NULL;
	char err[256];

	if (ingest_ts_zone_load(NULL, name, &z, err, sizeof(err)) != 0)
		fail_msg("cannot load zone %s: %s", name, err);
	return z;
}

/* Parse ts in zone z (may be NULL); expect success and return the UTC text. */
static const char *ts_ok(const struct ingest_ts_zone *z, const char *s)
{
	static struct ingest_ts t;
	char err[256] = "";

	if (ingest_ts_parse(s, strlen(s), z, &t, err, sizeof(err)) != 0)
		fail_msg("'%s' rejected: %s", s, err);
	return t.utc;
}

/* Expect s to be rejected with a message containing 'want'. */
static void ts_bad(const struct ingest_ts_zone *z, const char *s, const char *want)
{
	struct ingest_ts t;
	char err[256] = "";

	if (ingest_ts_parse(s, strlen(s), z, &t, err, sizeof(err)) != -EINVAL)
		fail_msg("'%s' accepted as %s", s, t.utc);
	if (strstr(err, want) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", s, err, want);
}

static int feed_chunks(const char *doc, size_t len, size_t chunk, const struct ingest_sample_opts *o,
		       struct ingest_sample_result *r)
{
	struct ingest_sample_parser *ps = ingest_sample_parser_create(o);
	size_t off = 0, step = chunk;
	unsigned k = 0;
	int rc;

	assert_non_null(ps);
	while (off < len) {
		/* chunk 0: sizes cycling through 1..97 */
		if (chunk == 0)
			step = 1 + (k++ * 37) % 97;
		if (step > len - off)
			step = len - off;
		ingest_sample_parser_feed(ps, doc + off, step);
		off += step;
	}
	rc = ingest_sample_parser_finish(ps, r);
	ingest_sample_parser_destroy(ps);
	return rc;
}

static void same_result(const struct ingest_sample_result *a, const struct ingest_sample_result *b,
			const char *doc)
{
	unsigned i;

	if (a->n_errors != b->n_errors)
		fail_msg("%u vs %u errors for %.200s", a->n_errors, b->n_errors, doc);
	for (i = 0; i < a->n_errors; i++)
		if (strcmp(a->errors[i], b->errors[i]) != 0)
			fail_msg("'%s' vs '%s' for %.200s", a->errors[i], b->errors[i], doc);
	assert_string_equal(a->time_stamp_utc, b->time_stamp_utc);
	assert_int_equal(a->count, b->count);
	/* bit for bit */
	assert_memory_equal(&a->mean, &b->mean, sizeof(double));
	assert_memory_equal(&a->std, &b->std, sizeof(double));
}

/* Parse whole, byte by byte and in varied chunks; all must agree. */
static int parse3(const char *doc, size_t len, const struct ingest_sample_opts *o,
		  struct ingest_sample_result *r)
{
	static struct ingest_sample_result r1, r2;
	int rc, rc1, rc2;

	rc = ingest_sample_parse(doc, len, o, r);
	rc1 = feed_chunks(doc, len, 1, o, &r1);
	rc2 = feed_chunks(doc, len, 0, o, &r2);
	assert_int_equal(rc, rc1);
	assert_int_equal(rc, rc2);
	same_result(r, &r1, doc);
	same_result(r, &r2, doc);
	return rc;
}

static int parse_s(const char *doc, struct ingest_sample_result *r)
{
	return parse3(doc, strlen(doc), NULL, r);
}

/* Does any error message equal 'want'? */
static int has_error(const struct ingest_sample_result *r, const char *want)
{
	for (unsigned i = 0; i < r->n_errors; i++)
		if (strcmp(r->errors[i], want) == 0)
			return 1;
	return 0;
}

static void expect_error(const char *doc, const char *want)
{
	static struct ingest_sample_result r;

	assert_int_equal(parse_s(doc, &r), -EBADMSG);
	if (!has_error(&r, want))
		fail_msg("%s: no error '%s' (first: '%s')", doc, want,
			 r.n_errors ? r.errors[0] : "none");
}

/* Errors starting with prefix 'want' (for messages with details). */
static void expect_error_prefix(const char *doc, const char *want)
{
	static struct ingest_sample_result r;
	unsigned i;

	assert_int_equal(parse_s(doc, &r), -EBADMSG);
	for (i = 0; i < r.n_errors; i++)
		if (strncmp(r.errors[i], want, strlen(want)) == 0)
			return;
	fail_msg("%s: no error starting '%s' (first: '%s')", doc, want,
		 r.n_errors ? r.errors[0] : "none");
}

/*
 * One JSON number through the parser as the only element of "data".  The
 * padding after the array lets the whole-body parse take the fast lane; the
 * byte-wise parse takes the state machine.  Returns the parse's rc; *v gets
 * the value (the mean of one value is the value, exactly).
 */
static int number(const char *num, double *v, struct ingest_sample_result *r)
{
	char doc[1200];
	int rc;

	snprintf(doc, sizeof(doc), "{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[%s]%80s}", num, "");
	rc = parse_s(doc, r);
	if (rc == 0) {
		assert_int_equal(r->count, 1);
		*v = r->mean;
		assert_true(r->std == 0.0);
	}
	return rc;
}

static double num_ok(const char *num)
{
	static struct ingest_sample_result r;
	double v = 0;

	if (number(num, &v, &r) != 0)
		fail_msg("number %s rejected: %s", num, r.errors[0]);
	return v;
}

static void same_bits(double a, double b, const char *what)
{
	if (memcmp(&a, &b, sizeof(a)) != 0)
		fail_msg("%s: %.17g (%a) != %.17g (%a)", what, a, a, b, b);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (f == NULL)
		fail_msg("cannot open %s (tests run from the repository root)", path);
	buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ---- time stamps ---- */

static void test_ts_offsets(void **state)
{
	struct ingest_ts t;
	char err[128];
	(void)state;

	assert_int_equal(ingest_ts_parse("2019-05-01T06:00:00-04:00", 25, NULL, &t, err, sizeof(err)), 0);
	assert_string_equal(t.utc, "2019-05-01T10:00:00Z");
	assert_int_equal(t.sec, 1556704800);
	assert_int_equal(t.nsec, 0);
	assert_string_equal(ts_ok(NULL, "2019-05-01T10:00:00Z"), "2019-05-01T10:00:00Z");
	assert_string_equal(ts_ok(NULL, "2019-05-01t10:00:00z"), "2019-05-01T10:00:00Z");
	assert_string_equal(ts_ok(NULL, "2019-05-01 15:30:00+0530"), "2019-05-01T10:00:00Z");
	assert_string_equal(ts_ok(NULL, "2019-05-01T10:00:00-00:00"), "2019-05-01T10:00:00Z");
	assert_string_equal(ts_ok(NULL, "2019-12-31T23:30:00-01:00"), "2020-01-01T00:30:00Z");
	assert_string_equal(ts_ok(NULL, "2020-01-01T00:10:00+23:59"), "2019-12-31T00:11:00Z");
	assert_string_equal(ts_ok(NULL, "1969-12-31T23:59:59Z"), "1969-12-31T23:59:59Z");
	assert_string_equal(ts_ok(NULL, "2020-02-29T12:00:00Z"), "2020-02-29T12:00:00Z");
	assert_string_equal(ts_ok(NULL, "2000-02-29T12:00:00Z"), "2000-02-29T12:00:00Z");
	assert_string_equal(ts_ok(NULL, "0001-01-01T00:00:00Z"), "0001-01-01T00:00:00Z");
	assert_string_equal(ts_ok(NULL, "9999-12-31T23:59:59Z"), "9999-12-31T23:59:59Z");
	assert_int_equal(ingest_ts_parse("1969-12-31T23:59:59Z", 20, NULL, &t, err, sizeof(err)), 0);
	assert_int_equal(t.sec, -1);
	/* Only len bytes are read. */
	assert_int_equal(ingest_ts_parse("2019-05-01T10:00:00Zjunk", 20, NULL, &t, err, sizeof(err)), 0);
}

static void test_ts_fractions(void **state)
{
	struct ingest_ts t;
	char err[128];
	(void)state;

	assert_int_equal(ingest_ts_parse("2019-05-01T06:00:00.5-04:00", 27, NULL, &t, err, sizeof(err)), 0);
	assert_string_equal(t.utc, "2019-05-01T10:00:00.5Z");
	assert_int_equal(t.nsec, 500000000);
	assert_int_equal(t.frac_digits, 1);
	assert_string_equal(ts_ok(NULL, "2019-05-01T06:00:00.250-04:00"), "2019-05-01T10:00:00.250Z");
	assert_string_equal(ts_ok(NULL, "2019-05-01T06:00:00.000Z"), "2019-05-01T06:00:00.000Z");
	assert_int_equal(ingest_ts_parse("2019-05-01T23:59:59.123456789-01:00", 35, NULL, &t, err, sizeof(err)), 0);
	assert_string_equal(t.utc, "2019-05-02T00:59:59.123456789Z");
	assert_int_equal(t.nsec, 123456789);
	ts_bad(NULL, "2019-05-01T06:00:00.1234567890Z", "more than 9 fraction digits");
	ts_bad(NULL, "2019-05-01T06:00:00.Z", "not a date-time");
	ts_bad(NULL, "2019-05-01T06:00:00,5Z", "not a date-time");
}

static void test_ts_new_york(void **state)
{
	struct ingest_ts_zone *ny = zone("America/New_York");
	(void)state;

	assert_string_equal(ingest_ts_zone_name(ny), "America/New_York");
	assert_string_equal(ts_ok(ny, "2019-01-15T12:00:00"), "2019-01-15T17:00:00Z");
	assert_string_equal(ts_ok(ny, "2019-07-15 12:00:00.75"), "2019-07-15T16:00:00.75Z");
	assert_string_equal(ts_ok(ny, "2019-05-01T06:00:00"), "2019-05-01T10:00:00Z");
	/* An explicit offset wins over the zone. */
	assert_string_equal(ts_ok(ny, "2019-01-15T12:00:00+01:00"), "2019-01-15T11:00:00Z");
	/* The repeated hour: the first occurrence, with the DST offset. */
	assert_string_equal(ts_ok(ny, "2019-11-03T01:30:00"), "2019-11-03T05:30:00Z");
	assert_string_equal(ts_ok(ny, "2019-11-03T00:59:59"), "2019-11-03T04:59:59Z");
	assert_string_equal(ts_ok(ny, "2019-11-03T02:00:00"), "2019-11-03T07:00:00Z");
	/* The skipped hour. */
	ts_bad(ny, "2019-03-10T02:30:00",
	       "nonexistent local time 2019-03-10T02:30:00 in America/New_York");
	ts_bad(ny, "2019-03-10T02:00:00", "nonexistent local time");
	assert_string_equal(ts_ok(ny, "2019-03-10T01:59:59"), "2019-03-10T06:59:59Z");
	assert_string_equal(ts_ok(ny, "2019-03-10T03:00:00"), "2019-03-10T07:00:00Z");
	/* Before 2007 the US rules were different (first Sunday of April). */
	assert_string_equal(ts_ok(ny, "2006-04-02T03:00:00"), "2006-04-02T07:00:00Z");
	ts_bad(ny, "2006-04-02T02:30:00", "nonexistent local time");
	assert_string_equal(ts_ok(ny, "2006-03-12T02:30:00"), "2006-03-12T07:30:00Z");
	/* Past the transition table (2037): the footer rule. */
	assert_string_equal(ts_ok(ny, "2100-07-01T12:00:00"), "2100-07-01T16:00:00Z");
	assert_string_equal(ts_ok(ny, "2100-01-01T12:00:00"), "2100-01-01T17:00:00Z");
	assert_string_equal(ts_ok(ny, "2100-11-07T01:30:00"), "2100-11-07T05:30:00Z");
	ts_bad(ny, "2100-03-14T02:30:00", "nonexistent local time");
	/* Before the first transition: local mean time, -4:56:02. */
	assert_string_equal(ts_ok(ny, "1800-01-01T00:00:00"), "1800-01-01T04:56:02Z");
	assert_string_equal(ts_ok(ny, "1900-01-01T00:00:00"), "1900-01-01T05:00:00Z");
	ingest_ts_zone_destroy(ny);
}

/* Every local quarter hour of 2019 in New York maps back to itself, except
 * the four of the skipped hour; the repeated ones take the EDT offset. */
static void test_ts_new_york_whole_year(void **state)
{
	struct ingest_ts_zone *ny = zone("America/New_York");
	struct ingest_ts t;
	char s[32], err[256];
	int64_t local, start = 1546300800; /* 2019-01-01T00:00:00 as if UTC */
	int bad = 0, repeated = 0;
	(void)state;

	for (local = start; local < start + 365 * 86400; local += 900) {
		char utc[40];

		assert_true(ingest_ts_format(local, 0, 0, utc, sizeof(utc)) > 0);
		snprintf(s, sizeof(s), "%.19s", utc);
		if (ingest_ts_parse(s, strlen(s), ny, &t, err, sizeof(err)) != 0) {
			assert_non_null(strstr(err, "nonexistent local time 2019-03-10T02:"));
			bad++;
			continue;
		}
		int32_t off = ingest_ts_zone_offset(ny, t.sec);

		assert_true(t.sec + off == local);
		assert_true(off == -4 * 3600 || off == -5 * 3600);
		/* Is it also reachable with the other offset? Then it repeats. */
		int32_t other = off == -4 * 3600 ? -5 * 3600 : -4 * 3600;

		if (ingest_ts_zone_offset(ny, local - other) == other) {
			repeated++;
			assert_int_equal(off, -4 * 3600);
		}
	}
	assert_int_equal(bad, 4);
	assert_int_equal(repeated, 4);
	ingest_ts_zone_destroy(ny);
}

static void test_ts_other_zones(void **state)
{
	struct ingest_ts_zone *lon = zone("Europe/London"), *lh = zone("Australia/Lord_Howe");
	(void)state;

	assert_string_equal(ts_ok(lon, "2019-07-01T12:00:00"), "2019-07-01T11:00:00Z");
	assert_string_equal(ts_ok(lon, "2019-01-01T12:00:00"), "2019-01-01T12:00:00Z");
	assert_string_equal(ts_ok(lon, "2019-10-27T01:30:00"), "2019-10-27T00:30:00Z");
	ts_bad(lon, "2019-03-31T01:30:00", "nonexistent local time 2019-03-31T01:30:00 in Europe/London");
	assert_string_equal(ts_ok(lon, "2090-07-01T12:00:00"), "2090-07-01T11:00:00Z");
	/* Lord Howe Island: +10:30 in winter, +11 in summer (a 30-minute DST);
	 * the change is at 02:00 local both ways. */
	assert_string_equal(ts_ok(lh, "2019-01-15T12:00:00"), "2019-01-15T01:00:00Z");
	assert_string_equal(ts_ok(lh, "2019-07-15T12:00:00"), "2019-07-15T01:30:00Z");
	assert_string_equal(ts_ok(lh, "2019-04-07T01:45:00"), "2019-04-06T14:45:00Z");
	assert_string_equal(ts_ok(lh, "2019-04-07T02:00:00"), "2019-04-06T15:30:00Z");
	ts_bad(lh, "2019-10-06T02:15:00", "nonexistent local time 2019-10-06T02:15:00 in Australia/Lord_Howe");
	assert_string_equal(ts_ok(lh, "2019-10-06T02:30:00"), "2019-10-05T15:30:00Z");
	assert_string_equal(ts_ok(lh, "2060-04-04T01:45:00"), "2060-04-03T14:45:00Z");
	ts_bad(lh, "2060-10-03T02:15:00", "nonexistent local time");
	ingest_ts_zone_destroy(lon);
	ingest_ts_zone_destroy(lh);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* A TZif v2 file with no transitions, one type and the given footer. */
static size_t tzif_footer_only(const char *footer, unsigned char *out)
{
	size_t n = 0;

	for (int block = 0; block < 2; block++) {
		memset(out + n, 0, 44);
		memcpy(out + n, "TZif2", 5);
		put32(out + n + 36, 1); /* typecnt */
		put32(out + n + 40, 4); /* charcnt */
		n += 44;
		put32(out + n, 0);      /* utoff 0: the footer must override it */
		out[n + 4] = 0;
		out[n + 5] = 0;
		n += 6;
		memcpy(out + n, "XXX", 4);
		n += 4;
	}
	n += (size_t)sprintf((char *)out + n, "\n%s\n", footer);
	return n;
}

static void footer_of(const char *name, char *footer, size_t len)
{
	char path[256], *buf, *nl;
	size_t n;

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	buf = read_all(path, &n);
	assert_true(n > 2 && buf[n - 1] == '\n');
	buf[n - 1] = '\0';
	nl = memrchr(buf, '\n', n - 1);
	assert_non_null(nl);
	snprintf(footer, len, "%s", nl + 1);
	free(buf);
}

/*
 * The footer rule (POSIX TZ string) agrees with the transitions that zic
 * compiled into the table, hour by hour and around every transition, for
 * zones of both hemispheres, with odd rule times (24:00, 25:00, -1:00) and
 * with negative DST (Europe/Dublin).
 */
static void test_ts_footer_matches_table(void **state)
{
	static const char *const zones[] = {
		"America/New_York", "Europe/London", "Australia/Lord_Howe", "Australia/Sydney",
		"America/Santiago", "America/Nuuk", "Asia/Jerusalem", "Pacific/Auckland",
		"Europe/Dublin", "Pacific/Chatham", "America/St_Johns", "Europe/Berlin",
	};
	unsigned char tzif[512];
	char footer[256], err[256];
	(void)state;

	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		struct ingest_ts_zone *real = zone(zones[i]), *rule = NULL;
		int64_t t, from = 1767225600 /* 2026: the table before has history the
							    rule does not (Chile 2022) */,
				 to = 2140000000 /* 2037-10 */;
		size_t n;

		footer_of(zones[i], footer, sizeof(footer));
		n = tzif_footer_only(footer, tzif);
		if (ingest_ts_zone_from_tzif(tzif, n, zones[i], &rule, err, sizeof(err)) != 0)
			fail_msg("%s footer '%s': %s", zones[i], footer, err);
		for (t = from; t < to; t += 1800) {
			int32_t a = ingest_ts_zone_offset(real, t), b = ingest_ts_zone_offset(rule, t);

			if (a != b)
				fail_msg("%s at %lld: table %d, rule '%s' %d", zones[i], (long long)t, a, footer, b);
			/* Pin the instant of each change to the second. */
			if (ingest_ts_zone_offset(real, t + 1800) != a) {
				for (int64_t u = t; u <= t + 1800; u++)
					if (ingest_ts_zone_offset(real, u) != ingest_ts_zone_offset(rule, u))
						fail_msg("%s at %lld: change at a different second", zones[i],
							 (long long)u);
			}
		}
		ingest_ts_zone_destroy(rule);
		ingest_ts_zone_destroy(real);
	}
}

static void test_ts_rejects(void **state)
{
	struct ingest_ts_zone *ny = zone("America/New_York");
	(void)state;

	ts_bad(ny, "2019-05-01", "a date alone is not a time stamp");
	ts_bad(NULL, "2019-02-29T00:00:00Z", "day 29 out of range for 2019-02");
	ts_bad(NULL, "2020-02-30T00:00:00Z", "day 30 out of range for 2020-02");
	ts_bad(NULL, "1900-02-29T00:00:00Z", "day 29 out of range");
	ts_bad(NULL, "2019-04-31T00:00:00Z", "day 31 out of range");
	ts_bad(NULL, "2019-04-00T00:00:00Z", "day 00 out of range");
	ts_bad(NULL, "2019-13-01T00:00:00Z", "month 13 out of range");
	ts_bad(NULL, "2019-00-01T00:00:00Z", "month 00 out of range");
	ts_bad(NULL, "2019-05-01T24:00:00Z", "hour 24 out of range");
	ts_bad(NULL, "2019-05-01T23:60:00Z", "minute 60 out of range");
	ts_bad(NULL, "2016-12-31T23:59:60Z", "leap seconds are not accepted");
	ts_bad(NULL, "0000-01-01T00:00:00Z", "year 0000 out of range");
	ts_bad(NULL, "10000-01-01T00:00:00Z", "year '10000' out of range");
	ts_bad(NULL, "2019-05-01T00:00:00+24:00", "offset +24:00 out of range");
	ts_bad(NULL, "2019-05-01T00:00:00-12:60", "offset -12:60 out of range");
	ts_bad(NULL, "0001-01-01T00:30:00+01:00", "outside years 0001..9999 in UTC");
	ts_bad(NULL, "9999-12-31T23:59:59-00:01", "outside years 0001..9999 in UTC");
	ts_bad(NULL, "garbage", "not a date-time");
	ts_bad(NULL, "", "not a date-time");
	ts_bad(NULL, "2019-05-01T06:00Z", "not a date-time");
	ts_bad(NULL, "2019-05-01T06:00:00+05", "not a date-time");
	ts_bad(NULL, "2019-05-01T06:00:00Z ", "not a date-time");
	ts_bad(NULL, "2019-05-01T06:00:00+05:00x", "not a date-time");
	ts_bad(NULL, "2019-5-1T06:00:00Z", "not a date-time");
	ts_bad(NULL, "2019-05-01X06:00:00Z", "not a date-time");
	ts_bad(NULL, " 2019-05-01T06:00:00Z", "not a date-time");
	ts_bad(NULL, "2019-05-01T06:00:00", "no offset and no time zone");
	ingest_ts_zone_destroy(ny);
}

static void test_ts_zone_load_errors(void **state)
{
	struct ingest_ts_zone *z = (struct ingest_ts_zone *)1;
	unsigned char junk[64] = "TZif2 but not really";
	char err[256];
	(void)state;

	assert_int_equal(ingest_ts_zone_load(NULL, "../etc/passwd", &z, err, sizeof(err)), -EINVAL);
	assert_null(z);
	assert_non_null(strstr(err, "invalid zone name"));
	assert_int_equal(ingest_ts_zone_load(NULL, "/etc/passwd", &z, err, sizeof(err)), -EINVAL);
	assert_int_equal(ingest_ts_zone_load(NULL, "America/../../etc/passwd", &z, err, sizeof(err)), -EINVAL);
	assert_int_equal(ingest_ts_zone_load(NULL, "", &z, err, sizeof(err)), -EINVAL);
	assert_int_equal(ingest_ts_zone_load(NULL, "America/New York", &z, err, sizeof(err)), -EINVAL);
	assert_int_equal(ingest_ts_zone_load(NULL, "Nowhere/Atlantis", &z, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open zone 'Nowhere/Atlantis'"));
	assert_non_null(strstr(err, "tzdata"));
	assert_int_equal(ingest_ts_zone_load(NULL, "America", &z, err, sizeof(err)), -EINVAL);
	assert_int_equal(ingest_ts_zone_from_tzif(junk, sizeof(junk), "junk", &z, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "zone 'junk': not a valid TZif file");
	/* A zone directory of our own choosing. */
	assert_int_equal(ingest_ts_zone_load("/usr/share/zoneinfo/America", "New_York", &z, err, sizeof(err)), 0);
	assert_string_equal(ts_ok(z, "2019-11-03T01:30:00"), "2019-11-03T05:30:00Z");
	ingest_ts_zone_destroy(z);
	/* "right/" zones count leap seconds: refused rather than misread. */
	z = NULL;
	if (ingest_ts_zone_load(NULL, "right/UTC", &z, err, sizeof(err)) != -ENOENT) {
		assert_null(z);
		assert_non_null(strstr(err, "leap-second"));
	}
	ingest_ts_zone_destroy(NULL);
	/* The default zone is New York. */
	assert_non_null(ingest_ts_zone_default());
	assert_string_equal(ingest_ts_zone_name(ingest_ts_zone_default()), "America/New_York");
	assert_true(ingest_ts_zone_default() == ingest_ts_zone_default());
}

/* A damaged zone file is refused cleanly, never misread or overrun. */
static void test_ts_tzif_damaged(void **state)
{
	struct ingest_ts_zone *z = NULL;
	size_t len, i;
	char *file = read_all("/usr/share/zoneinfo/America/New_York", &len);
	unsigned char *copy = malloc(len);
	char err[256];
	(void)state;

	assert_non_null(copy);
	for (i = 0; i < len; i++) {
		/* Every truncation: only the whole file has its footer's final
		 * newline. */
		memcpy(copy, file, i);
		assert_int_equal(ingest_ts_zone_from_tzif(copy, i, "cut", &z, err, sizeof(err)), -EINVAL);
		assert_null(z);
	}
	for (i = 0; i < 3000; i++) {
		memcpy(copy, file, len);
		for (int k = 0; k < 3; k++)
			copy[rng() % len] = (unsigned char)rng();
		if (ingest_ts_zone_from_tzif(copy, len, "flipped", &z, err, sizeof(err)) == 0) {
			/* Whatever it says, asking it must be safe. */
			(void)ingest_ts_zone_offset(z, -4000000000ll);
			(void)ingest_ts_zone_offset(z, 1556704800);
			(void)ingest_ts_zone_offset(z, 5000000000ll);
			ingest_ts_zone_destroy(z);
			z = NULL;
		} else {
			assert_null(z);
			assert_true(err[0] != '\0');
		}
	}
	free(copy);
	free(file);
}

/* ---- numbers ---- */

static void test_number_forms(void **state)
{
	double v;
	(void)state;

	v = num_ok("-0");
	assert_true(v == 0.0 && signbit(v));
	v = num_ok("-0.0e5");
	assert_true(v == 0.0 && signbit(v));
	same_bits(num_ok("0"), 0.0, "0");
	same_bits(num_ok("1e308"), 1e308, "1e308");
	same_bits(num_ok("1E-5"), 1e-5, "1E-5");
	same_bits(num_ok("0.5e+10"), 0.5e10, "0.5e+10");
	same_bits(num_ok("-1.5E-3"), -1.5e-3, "-1.5E-3");
	same_bits(num_ok("123"), 123.0, "123");
	same_bits(num_ok("1e0"), 1.0, "1e0");
	same_bits(num_ok("10e-1"), 1.0, "10e-1");
	same_bits(num_ok("0.000001"), 1e-6, "0.000001");
	same_bits(num_ok("123456789012345678901234567890"), 123456789012345678901234567890.0, "30 digits");
	same_bits(num_ok("18446744073709551616"), 18446744073709551616.0, "2^64");
	same_bits(num_ok("-9223372036854775809"), -9223372036854775809.0, "-2^63-1");
	same_bits(num_ok("1e-400"), 0.0, "underflow to 0");
	same_bits(num_ok("0e999999999999"), 0.0, "0e huge");
}

static void test_number_exactness(void **state)
{
	(void)state;

	same_bits(num_ok("0.1"), 0.1, "0.1");
	same_bits(num_ok("0.3"), 0.3, "0.3");
	same_bits(num_ok("2.2250738585072014e-308"), DBL_MIN, "DBL_MIN");
	same_bits(num_ok("2.2250738585072011e-308"), 2.2250738585072011e-308, "subnormal edge");
	same_bits(num_ok("4.9e-324"), 4.9e-324, "smallest subnormal");
	same_bits(num_ok("1.7976931348623157e308"), DBL_MAX, "DBL_MAX");
	same_bits(num_ok("9007199254740993"), 9007199254740992.0, "2^53+1 ties to even");
	same_bits(num_ok("9007199254740995"), 9007199254740996.0, "2^53+3 ties to even");
	/* Halfway exactly, and a hair above halfway 40 digits later. */
	same_bits(num_ok("9007199254740993.000000000000000000000000000000000000000"),
		  9007199254740992.0, "halfway, zeros");
	same_bits(num_ok("9007199254740993.000000000000000000000000000000000000001"),
		  9007199254740994.0, "above halfway");
	same_bits(num_ok("0.30000000000000004"), 0.30000000000000004, "0.1+0.2");
	same_bits(num_ok("3.141592653589793238462643383279502884197"), M_PI, "pi");
	same_bits(num_ok("1.00000000000000011102230246251565404236316680908203125"), 1.0,
		  "1 + half ulp ties to even");
	same_bits(num_ok("1.00000000000000011102230246251565404236316680908203126"),
		  1.0000000000000002, "1 + a hair over half ulp");
	same_bits(num_ok("0.37948282157787916"), 0.37948282157787916, "fixture value");
	same_bits(num_ok("7.2057594037927933e16"), 72057594037927936.0, "2^56");
}

/* Random numbers in many shapes, through both the fast lane and the state
 * machine, against the C library's correctly rounded strtod. */
static void test_number_random_vs_strtod(void **state)
{
	static struct ingest_sample_result r;
	char num[128];
	(void)state;

	for (int i = 0; i < 30000; i++) {
		uint64_t bits = rng();
		double x, want, got = 0;
		int shape = i % 6, n = 0;

		memcpy(&x, &bits, sizeof(x));
		if (!isfinite(x))
			continue;
		switch (shape) {
		case 0: n = snprintf(num, sizeof(num), "%.17g", x); break;
		case 1: n = snprintf(num, sizeof(num), "%.15g", x); break;
		case 2: n = snprintf(num, sizeof(num), "%.20e", x); break;
		case 3: n = snprintf(num, sizeof(num), "%.17g", (double)(bits >> 11) / (double)(1ull << (bits & 63))); break;
		case 4: {
			/* k random digits, a decimal point somewhere, an exponent. */
			int k = 1 + (int)(rng() % 24), point = (int)(rng() % (unsigned)(k + 1));
			int e = (int)(rng() % 61) - 30;

			if (rng() & 1)
				num[n++] = '-';
			if (point == 0)
				num[n++] = '0';
			for (int d = 0; d < k; d++) {
				if (d == point && point > 0)
					num[n++] = '.';
				else if (d == 0 && point == 0)
					num[n++] = '.';
				num[n++] = (char)('0' + (d == 0 && point > 0 ? 1 + rng() % 9 : rng() % 10));
			}
			n += snprintf(num + n, sizeof(num) - (size_t)n, "e%d", e);
			break;
		}
		default:
			n = snprintf(num, sizeof(num), "%.3f", (double)(int64_t)(rng() % 2000000) / 1000 - 1000);
			break;
		}
		(void)n;
		want = strtod(num, NULL);
		if (!isfinite(want))
			continue;
		if (number(num, &got, &r) != 0)
			fail_msg("%s rejected: %s", num, r.errors[0]);
		same_bits(got, want, num);
	}
}

/*
 * The hard cases of correct rounding: decimals within a hair of the midpoint
 * between two adjacent doubles, where dropping a single low bit of the
 * exact value rounds the wrong way.  The midpoint is exact in long double
 * (64-bit mantissa on x86), printed to 17..19 significant digits by glibc
 * (exactly), so the strings land just above or below it.
 */
static void test_number_near_midpoints(void **state)
{
	static struct ingest_sample_result r;
	char num[64];
	(void)state;

	for (int i = 0; i < 20000; i++) {
		double d = ldexp(1.0 + (double)(rng() >> 12) / 4503599627370496.0, (int)(rng() % 160) - 60);
		long double mid = ((long double)d + (long double)nextafter(d, INFINITY)) / 2;
		double want, got = 0;

		snprintf(num, sizeof(num), "%.*Le", 16 + (int)(rng() % 3), mid);
		want = strtod(num, NULL);
		if (number(num, &got, &r) != 0)
			fail_msg("%s rejected: %s", num, r.errors[0]);
		same_bits(got, want, num);
	}
}

/* More than 800 significant digits: the digits past the kept ones still
 * decide a tie. */
static void test_number_very_long(void **state)
{
	static struct ingest_sample_result r;
	char *num = malloc(2000);
	size_t n;
	double v = 0;
	(void)state;

	assert_non_null(num);
	n = (size_t)sprintf(num, "9007199254740993.");
	memset(num + n, '0', 900);
	n += 900;
	strcpy(num + n, "1");
	assert_int_equal(number(num, &v, &r), 0);
	same_bits(v, 9007199254740994.0, "halfway + 10^-917");
	num[n] = '\0';
	assert_int_equal(number(num, &v, &r), 0);
	same_bits(v, 9007199254740992.0, "halfway exactly, 917 digits");
	/* An integer of 1000 digits with a tie broken at the end. */
	n = (size_t)sprintf(num, "9007199254740993");
	memset(num + n, '0', 984);
	n += 984;
	strcpy(num + n, "e-984");
	assert_int_equal(number(num, &v, &r), 0);
	same_bits(v, 9007199254740992.0, "1000-digit tie");
	num[n - 1] = '1';
	assert_int_equal(number(num, &v, &r), 0);
	same_bits(v, 9007199254740994.0, "1000-digit tie broken");
	free(num);
}

static void test_number_rejects(void **state)
{
	static struct ingest_sample_result r;
	static const char *const bad[] = {
		"01", "-01", "00", "1.", "-1.e5", ".5", "+1", "-", "1e", "1e+", "1E-", "0x10",
		"NaN", "nan", "Infinity", "-Infinity", "1.5.3", "--1", "1 2", "1,", "- 1", "1e5.5",
		"1ee5", "tru", "nul", "0.e1",
	};
	double v;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (number(bad[i], &v, &r) != -EBADMSG)
			fail_msg("'%s' accepted as %.17g", bad[i], v);
		if (strncmp(r.errors[r.n_errors - 1], "body: invalid JSON at byte ", 27) != 0 &&
		    strncmp(r.errors[0], "data[", 5) != 0)
			fail_msg("'%s': unexpected message '%s'", bad[i], r.errors[0]);
	}
	assert_int_equal(number("01", &v, &r), -EBADMSG);
	assert_string_equal(r.errors[0], "body: invalid JSON at byte 46: leading zero in a number, got '1'");
	assert_int_equal(number("1.", &v, &r), -EBADMSG);
	assert_string_equal(r.errors[0], "body: invalid JSON at byte 47: expected a digit after '.', got ']'");
	assert_int_equal(number(".5", &v, &r), -EBADMSG);
	assert_string_equal(r.errors[0], "body: invalid JSON at byte 45: expected a value, got '.'");
	assert_int_equal(number("+1", &v, &r), -EBADMSG);
	assert_string_equal(r.errors[0], "body: invalid JSON at byte 45: expected a value, got '+'");
	/* Overflow to infinity is an error naming the index and the number. */
	assert_int_equal(number("1e309", &v, &r), -EBADMSG);
	assert_string_equal(r.errors[0], "data[0]: number 1e309 out of range for a double");
	assert_int_equal(number("-1.8e308", &v, &r), -EBADMSG);
	assert_string_equal(r.errors[0], "data[0]: number -1.8e308 out of range for a double");
	assert_int_equal(number("1.7976931348623159e308", &v, &r), -EBADMSG);
	assert_int_equal(number("1e99999999999999999999", &v, &r), -EBADMSG);
	assert_string_equal(r.errors[0], "data[0]: number 1e99999999999999999999 out of range for a double");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1, 2, 1e999, 3]}",
		     "data[2]: number 1e999 out of range for a double");
}

/* ---- stats ---- */

static void test_stats_fixture(void **state)
{
	static struct ingest_sample_result r;
	size_t len;
	char *doc = read_all(FIXTURE, &len);
	(void)state;

	assert_int_equal(parse3(doc, len, NULL, &r), 0);
	assert_int_equal(r.n_errors, 0);
	assert_string_equal(r.time_stamp_utc, "2019-05-01T10:00:00Z");
	assert_int_equal(r.epoch_sec, 1556704800);
	assert_int_equal(r.epoch_nsec, 0);
	assert_int_equal(r.count, 100);
	assert_near(r.mean, 0.9985282517566028, 1e-12);
	assert_near(r.std, 1.01280885259315, 1e-12);
	free(doc);
}

static void test_stats_near_constant(void **state)
{
	static struct ingest_sample_result r;
	char *doc;
	size_t n = 0, cap = 200000;
	(void)state;

	assert_int_equal(parse_s("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":"
				 "[100000000.1, 100000000.1, 100000000.1]}", &r), 0);
	assert_true(r.std == 0.0);
	assert_true(r.mean == 100000000.1);
	assert_int_equal(parse_s("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[42.5]}", &r), 0);
	assert_true(r.std == 0.0);
	assert_true(r.mean == 42.5);
	assert_int_equal(r.count, 1);
	/* 10000 copies of 0.1, over many blocks: still exactly 0.1 and 0. */
	doc = malloc(cap);
	assert_non_null(doc);
	n += (size_t)sprintf(doc, "{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[0.1");
	for (int i = 1; i < 10000; i++)
		n += (size_t)sprintf(doc + n, ",0.1");
	n += (size_t)sprintf(doc + n, "]}");
	assert_int_equal(parse3(doc, n, NULL, &r), 0);
	assert_int_equal(r.count, 10000);
	assert_true(r.std == 0.0);
	assert_true(r.mean == 0.1);
	free(doc);
}

/* A million values against a two-pass computation in long double. */
static void test_stats_million(void **state)
{
	static struct ingest_sample_result r;
	const size_t count = 1000000;
	double *vals = malloc(count * sizeof(double));
	char *doc = malloc(count * 30 + 100);
	long double sum = 0, ss = 0, mean, sd;
	size_t n, i;
	(void)state;

	assert_non_null(vals);
	assert_non_null(doc);
	n = (size_t)sprintf(doc, "{\"data\": [");
	for (i = 0; i < count; i++) {
		/* values around 1e6 with a spread of ~1: a hard case for naive sums */
		double u = (double)(rng() >> 11) / 9007199254740992.0;
		char tmp[40];
		int k = snprintf(tmp, sizeof(tmp), "%.17g", 1e6 + (u - 0.5) * 3.4641016151377544);

		vals[i] = strtod(tmp, NULL);
		memcpy(doc + n, tmp, (size_t)k);
		n += (size_t)k;
		if (i + 1 < count)
			doc[n++] = ',';
	}
	n += (size_t)sprintf(doc + n, "], \"time_stamp\": \"2019-05-01T06:00:00\"}");
	for (i = 0; i < count; i++)
		sum += vals[i];
	mean = sum / count;
	for (i = 0; i < count; i++)
		ss += (vals[i] - mean) * (vals[i] - mean);
	sd = sqrtl(ss / count);
	assert_int_equal(ingest_sample_parse(doc, n, NULL, &r), 0);
	assert_int_equal(r.count, count);
	assert_string_equal(r.time_stamp_utc, "2019-05-01T10:00:00Z");
	assert_true(fabsl((r.mean - mean) / mean) < 1e-13);
	assert_true(fabsl((r.std - sd) / sd) < 1e-9);
	/* The same in 64 KiB chunks. */
	{
		static struct ingest_sample_result r2;

		assert_int_equal(feed_chunks(doc, n, 65536, NULL, &r2), 0);
		same_result(&r, &r2, "million");
	}
	free(vals);
	free(doc);
}

static void test_stats_extremes(void **state)
{
	static struct ingest_sample_result r;
	struct ingest_stats st;
	(void)state;

	/* Squares would overflow without scaling... */
	assert_int_equal(parse_s("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1e300, -1e300]}", &r), 0);
	assert_true(r.mean == 0.0);
	assert_near(r.std / 1e300, 1.0, 1e-15);
	assert_int_equal(parse_s("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":"
				 "[1.7e308, -1.7e308, 1.7e308, -1.7e308]}", &r), 0);
	assert_true(r.mean == 0.0);
	assert_near(r.std / 1.7e308, 1.0, 1e-15);
	/* ...and underflow. */
	assert_int_equal(parse_s("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1e-300, 3e-300]}", &r), 0);
	assert_near(r.mean / 2e-300, 1.0, 1e-15);
	assert_near(r.std / 1e-300, 1.0, 1e-15);
	/* Scale rising in the middle of the data. */
	assert_int_equal(parse_s("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1e-300, 1e300]}", &r), 0);
	assert_near(r.mean / 5e299, 1.0, 1e-15);
	assert_near(r.std / 5e299, 1.0, 1e-15);
	/* Zeros first, then data. */
	assert_int_equal(parse_s("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[0, 0, 4, 4]}", &r), 0);
	assert_true(r.mean == 2.0);
	assert_true(r.std == 2.0);
	/* The API directly: empty gives NaN; the block in progress counts. */
	ingest_stats_init(&st);
	assert_true(isnan(ingest_stats_mean(&st)));
	assert_true(isnan(ingest_stats_std(&st)));
	for (int i = 1; i <= 200; i++)
		ingest_stats_add(&st, i);
	assert_int_equal(ingest_stats_count(&st), 200);
	assert_near(ingest_stats_mean(&st), 100.5, 1e-13);
	assert_near(ingest_stats_std(&st), sqrt((200.0 * 200.0 - 1) / 12), 1e-12);
	ingest_stats_add(&st, 1e6);
	assert_int_equal(ingest_stats_count(&st), 201);
	assert_near(ingest_stats_mean(&st), (20100.0 + 1e6) / 201, 1e-9);
}

/* ---- documents and errors ---- */

static void test_doc_valid_with_extras(void **state)
{
	static struct ingest_sample_result r;
	struct ingest_sample_opts o = { 0 };
	struct ingest_ts_zone *lon = zone("Europe/London");
	const char *doc =
		" \r\n\t{\"source\": \"sensor \\\"7\\\" \\u00e9\\ud83d\\ude00 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
		" \"meta\": {\"a\": [1, 2.5, -3e2, true, false, null, {}, []], \"a\": \"nested dups are not checked\"},"
		" \"time_stamp\": \"2019\\u002d07-01T12:00:00\", \"n\": 1e999,"
		" \"data\": [ 1 , 2\n,3\t], \"\": \"empty key\", \"tail\\/x\": \"\\b\\f\\n\\r\\t\\\\\"} \n";
	(void)state;

	assert_int_equal(parse_s(doc, &r), 0);
	assert_int_equal(r.n_errors, 0);
	assert_string_equal(r.time_stamp_utc, "2019-07-01T16:00:00Z");
	assert_int_equal(r.count, 3);
	assert_true(r.mean == 2.0);
	assert_near(r.std, sqrt(2.0 / 3.0), 1e-15);
	/* A configured zone for naive time stamps. */
	o.zone = lon;
	assert_int_equal(parse3(doc, strlen(doc), &o, &r), 0);
	assert_string_equal(r.time_stamp_utc, "2019-07-01T11:00:00Z");
	ingest_ts_zone_destroy(lon);
}

static void test_doc_all_problems_listed(void **state)
{
	static struct ingest_sample_result r;
	(void)state;

	assert_int_equal(parse_s("{\"data\": [1, \"two\", null, true, [3], {\"x\": 4}, 5, false, 1e400],"
				 " \"extra\": 1}", &r), -EBADMSG);
	assert_int_equal(r.n_errors, 8);
	assert_string_equal(r.errors[0], "data[1]: expected a number, got string");
	assert_string_equal(r.errors[1], "data[2]: expected a number, got null");
	assert_string_equal(r.errors[2], "data[3]: expected a number, got boolean");
	assert_string_equal(r.errors[3], "data[4]: expected a number, got array");
	assert_string_equal(r.errors[4], "data[5]: expected a number, got object");
	assert_string_equal(r.errors[5], "data[7]: expected a number, got boolean");
	assert_string_equal(r.errors[6], "data[8]: number 1e400 out of range for a double");
	assert_string_equal(r.errors[7], "time_stamp: missing");
	/* The first bad index is named first. */
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1,2,3,\"x\"]}",
		     "data[3]: expected a number, got string");
	/* Bad time stamp and bad data together. */
	assert_int_equal(parse_s("{\"time_stamp\": \"2019-03-10T02:30:00\", \"data\": []}", &r), -EBADMSG);
	assert_int_equal(r.n_errors, 2);
	assert_string_equal(r.errors[0], "time_stamp: nonexistent local time 2019-03-10T02:30:00 in "
			    "America/New_York (skipped by a clock change)");
	assert_string_equal(r.errors[1], "data: must not be empty");
}

static void test_doc_error_cap(void **state)
{
	static struct ingest_sample_result r;
	char doc[2000];
	size_t n;
	(void)state;

	n = (size_t)sprintf(doc, "{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[null");
	for (int i = 1; i < 100; i++)
		n += (size_t)sprintf(doc + n, ",\"s\"");
	sprintf(doc + n, "]}");
	assert_int_equal(parse_s(doc, &r), -EBADMSG);
	assert_int_equal(r.n_errors, INGEST_SAMPLE_MAX_ERRORS);
	assert_string_equal(r.errors[0], "data[0]: expected a number, got null");
	assert_string_equal(r.errors[30], "data[30]: expected a number, got string");
	assert_string_equal(r.errors[31], "... and 69 more problems");
}

static void test_doc_types_and_missing(void **state)
{
	(void)state;

	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[]}", "data: must not be empty");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[ \n ]}", "data: must not be empty");
	expect_error("{}", "time_stamp: missing");
	expect_error("{}", "data: missing");
	expect_error("{\"data\":[1]}", "time_stamp: missing");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\"}", "data: missing");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":{\"0\":1}}",
		     "data: expected an array, got object");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":\"1,2\"}",
		     "data: expected an array, got string");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":3}", "data: expected an array, got number");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":null}", "data: expected an array, got null");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[[1,2],[3]]}",
		     "data[1]: expected a number, got array");
	expect_error("{\"time_stamp\":1556704800,\"data\":[1]}", "time_stamp: expected a string, got number");
	expect_error("{\"time_stamp\":null,\"data\":[1]}", "time_stamp: expected a string, got null");
	expect_error("{\"time_stamp\":\"2019-05-01\",\"data\":[1]}",
		     "time_stamp: a date alone is not a time stamp: '2019-05-01' needs a time such as "
		     "T00:00:00 and an offset");
	expect_error_prefix("{\"time_stamp\":\"2019-05-01T10:00:00Z and more text that is far too long to be a time\","
			    "\"data\":[1]}", "time_stamp: longer than 64 bytes");
	expect_error("[1, 2]", "body: expected a JSON object, got array");
	expect_error("42", "body: expected a JSON object, got number");
	expect_error("\"x\"", "body: expected a JSON object, got string");
	expect_error("null", "body: expected a JSON object, got null");
	expect_error("true", "body: expected a JSON object, got boolean");
	expect_error("", "body: empty");
	/* The keys are matched exactly, after unescaping. */
	expect_error("{\"Data\":[1],\"time_stamp\":\"2019-05-01T10:00:00Z\"}", "data: missing");
	expect_error("{\"data \":[1],\"time_stamp\":\"2019-05-01T10:00:00Z\"}", "data: missing");
	{
		static struct ingest_sample_result r;

		assert_int_equal(parse_s("{\"d\\u0061ta\":[7],\"time_stamp\":\"2019-05-01T10:00:00Z\"}", &r), 0);
		assert_true(r.mean == 7.0);
		/* "data" nested deeper is not the sample's data. */
		assert_int_equal(parse_s("{\"x\":{\"data\":[\"no\"]},\"data\":[7],"
					 "\"time_stamp\":\"2019-05-01T10:00:00Z\"}", &r), 0);
		assert_int_equal(r.count, 1);
	}
}

static void test_doc_duplicates(void **state)
{
	static struct ingest_sample_result r;
	(void)state;

	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1],\"data\":[2]}",
		     "body: duplicate top-level key 'data'");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1],\"time_stamp\":\"x\"}",
		     "body: duplicate top-level key 'time_stamp'");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1],\"d\\u0061ta\":[2]}",
		     "body: duplicate top-level key 'data'");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1],\"x\":1,\"y\":2,\"x\":3}",
		     "body: duplicate top-level key 'x'");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1],\"\":1,\"\":2}",
		     "body: duplicate top-level key ''");
	/* Only the duplicate is reported, once. */
	assert_int_equal(parse_s("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1],\"data\":\"x\"}", &r),
			 -EBADMSG);
	assert_int_equal(r.n_errors, 1);
}

static void test_doc_many_keys(void **state)
{
	static struct ingest_sample_result r;
	size_t cap = 64 * 1024, n;
	char *doc = malloc(cap);
	(void)state;

	assert_non_null(doc);
	/* 1000 distinct keys: accepted. */
	n = (size_t)sprintf(doc, "{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1]");
	for (int i = 0; i < 1000; i++)
		n += (size_t)sprintf(doc + n, ",\"k%d\":%d", i, i);
	sprintf(doc + n, "}");
	assert_int_equal(parse_s(doc, &r), 0);
	/* 2000: over the limit, said once. */
	n = (size_t)sprintf(doc, "{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1]");
	for (int i = 0; i < 2000; i++)
		n += (size_t)sprintf(doc + n, ",\"k%d\":%d", i, i);
	sprintf(doc + n, "}");
	assert_int_equal(parse_s(doc, &r), -EBADMSG);
	assert_int_equal(r.n_errors, 1);
	assert_string_equal(r.errors[0], "body: more than 1024 top-level keys");
	free(doc);
}

static void test_doc_invalid_json(void **state)
{
	(void)state;

	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1, 2,, 3]}",
		     "body: invalid JSON at byte 50: expected a value, got ','");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1, 2]",
		     "body: invalid JSON at byte 50: unexpected end of input");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1, 2,]}",
		     "body: invalid JSON at byte 50: expected a value, got ']'");
	expect_error("{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1],}",
		     "body: invalid JSON at byte 48: expected a string key, got '}'");
	expect_error("{\"time_stamp\" \"2019-05-01T10:00:00Z\"}",
		     "body: invalid JSON at byte 14: expected ':' after an object key, got '\"'");
	expect_error("{'data': [1]}", "body: invalid JSON at byte 1: expected a string key or '}', got '''");
	expect_error("{\"data\": [1]} {}", "body: invalid JSON at byte 14: unexpected data after the JSON document, got '{'");
	expect_error("{\"data\": [1]]", "body: invalid JSON at byte 12: expected ',' or '}', got ']'");
	expect_error("{\"data\": [1]}]", "body: invalid JSON at byte 13: unexpected data after the JSON document, got ']'");
	expect_error("{\"data\": [1}", "body: invalid JSON at byte 11: expected ',' or ']', got '}'");
	expect_error("{\"data\": {\"a\":1]}", "body: invalid JSON at byte 15: expected ',' or '}', got ']'");
	expect_error("{\"data\": [truth]}", "body: invalid JSON at byte 13: invalid literal (expected true, false or null), got 't'");
	expect_error("{\"data\": [True]}", "body: invalid JSON at byte 10: expected a value, got 'T'");
	expect_error("{\"x\": \"a\nb\"}", "body: invalid JSON at byte 8: control character in a string (escape it), got byte 0x0a");
	expect_error("{\"x\": \"a\\x\"}", "body: invalid JSON at byte 9: invalid escape in a string, got 'x'");
	expect_error("{\"x\": \"\\u12G4\"}", "body: invalid JSON at byte 11: expected 4 hex digits after \\u, got 'G'");
	expect_error("{\"x\": \"\\ud800\"}", "body: invalid JSON at byte 13: unpaired surrogate in a \\u escape, got '\"'");
	expect_error("{\"x\": \"\\udc00\"}", "body: invalid JSON at byte 12: unpaired surrogate in a \\u escape, got '0'");
	expect_error("{\"x\": \"\\ud800\\u0041\"}", "body: invalid JSON at byte 18: unpaired surrogate in a \\u escape, got '1'");
	expect_error("{\"x\": \"\xc0\x80\"}", "body: invalid JSON at byte 7: invalid UTF-8 in a string, got byte 0xc0");
	expect_error("{\"x\": \"\xed\xa0\x80\"}", "body: invalid JSON at byte 8: invalid UTF-8 in a string, got byte 0xa0");
	expect_error("{\"x\": \"\xe0\x9f\xbf\"}", "body: invalid JSON at byte 8: invalid UTF-8 in a string, got byte 0x9f");
	expect_error("{\"x\": \"\xf4\x90\x80\x80\"}", "body: invalid JSON at byte 8: invalid UTF-8 in a string, got byte 0x90");
	expect_error("{\"x\": \"\xf5\x80\x80\x80\"}", "body: invalid JSON at byte 7: invalid UTF-8 in a string, got byte 0xf5");
	expect_error("{\"x\": \"\xc3\"}", "body: invalid JSON at byte 8: invalid UTF-8 in a string, got '\"'");
	expect_error("{\"x\": \"\xff\"}", "body: invalid JSON at byte 7: invalid UTF-8 in a string, got byte 0xff");
	expect_error("\xef\xbb\xbf{\"data\": [1]}", "body: invalid JSON at byte 0: expected a value, got byte 0xef");
	expect_error("{\"x\": \"unterminated", "body: invalid JSON at byte 19: unexpected end of input");
	expect_error("   ", "body: invalid JSON at byte 3: unexpected end of input");
	expect_error("{\"x\" \xc3\xa9: 1}", "body: invalid JSON at byte 5: expected ':' after an object key, got byte 0xc3");
	/* Errors before the syntax error stay listed. */
	expect_error("{\"data\": [\"a\", 1 2]}", "data[0]: expected a number, got string");
	expect_error("{\"data\": [\"a\", 1 2]}", "body: invalid JSON at byte 17: expected ',' or ']', got '2'");
}

static void test_doc_depth(void **state)
{
	static struct ingest_sample_result r;
	struct ingest_sample_opts o = { .max_depth = 5 };
	char doc[1000];
	size_t n;
	(void)state;

	/* 64 levels in all (the object is level 1): accepted. */
	n = (size_t)sprintf(doc, "{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1],\"deep\":");
	for (int i = 0; i < 63; i++)
		doc[n++] = '[';
	for (int i = 0; i < 63; i++)
		doc[n++] = ']';
	doc[n++] = '}';
	doc[n] = '\0';
	assert_int_equal(parse_s(doc, &r), 0);
	/* 65: rejected where the 65th opens. */
	n = (size_t)sprintf(doc, "{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[1],\"deep\":");
	for (int i = 0; i < 64; i++)
		doc[n++] = '[';
	for (int i = 0; i < 64; i++)
		doc[n++] = ']';
	doc[n++] = '}';
	doc[n] = '\0';
	assert_int_equal(parse_s(doc, &r), -EBADMSG);
	assert_string_equal(r.errors[0], "body: invalid JSON at byte 118: nesting deeper than 64 levels, got '['");
	/* Objects count the same way, and the limit is configurable. */
	assert_int_equal(parse3("{\"a\":{\"b\":{\"c\":{\"d\":[1]}}},\"data\":[1],\"time_stamp\":\"2019-05-01T10:00:00Z\"}",
				strlen("{\"a\":{\"b\":{\"c\":{\"d\":[1]}}},\"data\":[1],\"time_stamp\":\"2019-05-01T10:00:00Z\"}"),
				&o, &r), 0);
	assert_int_equal(parse3("{\"a\":{\"b\":{\"c\":{\"d\":[[1]]}}}}", 28, &o, &r), -EBADMSG);
	assert_string_equal(r.errors[0], "body: invalid JSON at byte 21: nesting deeper than 5 levels, got '['");
	/* A hostile depth is cut off at the first level past the limit. */
	{
		char *deep = malloc(1000001);

		assert_non_null(deep);
		memset(deep, '[', 1000000);
		deep[1000000] = '\0';
		assert_int_equal(ingest_sample_parse(deep, 1000000, NULL, &r), -EBADMSG);
		assert_string_equal(r.errors[1], "body: invalid JSON at byte 64: nesting deeper than 64 levels, got '['");
		free(deep);
	}
}

/* The fast lane and the state machine agree on random documents, valid and
 * not, fed whole or in pieces. */
static void test_doc_random_streaming(void **state)
{
	static struct ingest_sample_result r;
	static const char *const items[] = {
		"0.379", "-1.5e3", "12345678901234567890123", "0", "-0", "1e-400", "\"s\"", "null",
		"[1,[2]]", "{\"a\":1}", "true", "0.30000000000000004", "   7  ", "1E+2", "9007199254740993",
		"123456789012345678", "0.000000000000000000000001234", "1e999",
	};
	char *doc = malloc(200000);
	(void)state;

	assert_non_null(doc);
	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)sprintf(doc, "{\"time_stamp\": \"2019-0%d-01T06:00:00\", \"data\": [", 1 + round % 9);
		int count = 1 + (int)(rng() % 400);

		for (int i = 0; i < count; i++) {
			const char *it;
			char tmp[40];

			if (rng() % 4 == 0) {
				it = items[rng() % (sizeof(items) / sizeof(items[0]))];
			} else {
				double u = (double)(rng() >> 11) / 9007199254740992.0;

				snprintf(tmp, sizeof(tmp), rng() % 2 ? "%.17g" : "%.4f", (u - 0.3) * 100);
				it = tmp;
			}
			n += (size_t)sprintf(doc + n, "%s%s", i ? (rng() % 3 ? ", " : ",\n ") : "", it);
		}
		/* Sometimes break the syntax near the end. */
		n += (size_t)sprintf(doc + n, "%s}", round % 10 == 9 ? "" : "]");
		parse3(doc, n, NULL, &r);
	}
	free(doc);
}

/* Damaged copies of the fixture: never a crash, and the three ways of
 * feeding always agree (parse3 checks that). */
static void test_doc_damaged(void **state)
{
	static struct ingest_sample_result r;
	static const char junk[] = "{}[]\",:-+.eE0123456789 \n\\tfnu\x80\xff\xc3";
	size_t len, n, i;
	char *doc = read_all(FIXTURE, &len);
	char *copy = malloc(len + 16);
	int ok = 0;
	(void)state;

	assert_non_null(copy);
	for (int round = 0; round < 3000; round++) {
		memcpy(copy, doc, len);
		n = len;
		for (int k = 0; k < 1 + round % 3; k++) {
			i = rng() % n;
			switch (rng() % 3) {
			case 0: /* replace */
				copy[i] = junk[rng() % (sizeof(junk) - 1)];
				break;
			case 1: /* delete */
				memmove(copy + i, copy + i + 1, n - i - 1);
				n--;
				break;
			default: /* insert */
				memmove(copy + i + 1, copy + i, n - i);
				copy[i] = junk[rng() % (sizeof(junk) - 1)];
				n++;
				break;
			}
		}
		if (parse3(copy, n, NULL, &r) == 0)
			ok++;
		else
			assert_true(r.n_errors > 0);
	}
	/* Some damage is harmless (a digit for a digit): both outcomes occur. */
	assert_true(ok > 0 && ok < 3000);
	free(copy);
	free(doc);
}

static void test_api_misuse(void **state)
{
	static struct ingest_sample_result r;
	struct ingest_sample_parser *ps = ingest_sample_parser_create(NULL);
	(void)state;

	assert_int_equal(ingest_sample_parse(NULL, 5, NULL, &r), -EINVAL);
	assert_int_equal(ingest_sample_parse("{}", 2, NULL, NULL), -EINVAL);
	assert_non_null(ps);
	assert_int_equal(ingest_sample_parser_feed(ps, "{\"data\": [1,", 12), 0);
	assert_int_equal(ingest_sample_parser_feed(ps, "]", 1), -EBADMSG);
	/* Later feeds are ignored. */
	assert_int_equal(ingest_sample_parser_feed(ps, "2]}", 3), -EBADMSG);
	assert_int_equal(ingest_sample_parser_finish(ps, &r), -EBADMSG);
	assert_int_equal(r.n_errors, 1);
	assert_string_equal(r.errors[0], "body: invalid JSON at byte 12: expected a value, got ']'");
	assert_int_equal(ingest_sample_parser_finish(ps, &r), -EINVAL);
	ingest_sample_parser_destroy(ps);
	ingest_sample_parser_destroy(NULL);
	/* An empty feed changes nothing. */
	ps = ingest_sample_parser_create(NULL);
	assert_int_equal(ingest_sample_parser_feed(ps, "", 0), 0);
	assert_int_equal(ingest_sample_parser_feed(ps, "{\"time_stamp\":\"2019-05-01T10:00:00Z\",\"data\":[2", 46), 0);
	assert_int_equal(ingest_sample_parser_feed(ps, NULL, 0), 0);
	assert_int_equal(ingest_sample_parser_feed(ps, "5]}", 3), 0);
	assert_int_equal(ingest_sample_parser_finish(ps, &r), 0);
	assert_true(r.mean == 25.0);
	ingest_sample_parser_destroy(ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ts_offsets),
		cmocka_unit_test(test_ts_fractions),
		cmocka_unit_test(test_ts_new_york),
		cmocka_unit_test(test_ts_new_york_whole_year),
		cmocka_unit_test(test_ts_other_zones),
		cmocka_unit_test(test_ts_footer_matches_table),
		cmocka_unit_test(test_ts_rejects),
		cmocka_unit_test(test_ts_zone_load_errors),
		cmocka_unit_test(test_ts_tzif_damaged),
		cmocka_unit_test(test_number_forms),
		cmocka_unit_test(test_number_exactness),
		cmocka_unit_test(test_number_random_vs_strtod),
		cmocka_unit_test(test_number_near_midpoints),
		cmocka_unit_test(test_number_very_long),
		cmocka_unit_test(test_number_rejects),
		cmocka_unit_test(test_stats_fixture),
		cmocka_unit_test(test_stats_near_constant),
		cmocka_unit_test(test_stats_million),
		cmocka_unit_test(test_stats_extremes),
		cmocka_unit_test(test_doc_valid_with_extras),
		cmocka_unit_test(test_doc_all_problems_listed),
		cmocka_unit_test(test_doc_error_cap),
		cmocka_unit_test(test_doc_types_and_missing),
		cmocka_unit_test(test_doc_duplicates),
		cmocka_unit_test(test_doc_many_keys),
		cmocka_unit_test(test_doc_invalid_json),
		cmocka_unit_test(test_doc_depth),
		cmocka_unit_test(test_doc_random_streaming),
		cmocka_unit_test(test_doc_damaged),
		cmocka_unit_test(test_api_misuse),
	};

	return cmocka_run_group_tests_name("ingest_core", tests, NULL, NULL);
}
