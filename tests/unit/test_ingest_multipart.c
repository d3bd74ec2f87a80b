/*
 * Unit tests of the streaming multipart/form-data parser
 * (plugins/ingest/multipart.c) and of the body parser that feeds the sample
 * parser from JSON or multipart bodies (plugins/ingest/body.c): boundaries
 * split across every chunk size, quoted boundaries, CRLF handling, near
 * misses of the delimiter inside content, preamble and epilogue, missing
 * parts, truncated bodies.
 *
 * Run from the repository root (the fixture is
 * ../shared/fixtures/ingest/sample.json).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/ingest/body.h"
#include "plugins/ingest/multipart.h"

#define FIXTURE "../shared/fixtures/ingest/sample.json"

/* What the callbacks saw. */
struct seen {
	unsigned parts, ends;
	char names[8][INGEST_MP_NAME_MAX];
	char filenames[8][INGEST_MP_NAME_MAX + 1];
	char ctypes[8][INGEST_MP_NAME_MAX];
	int want;              /* which part (1-based) to take; 0: every part */
	char data[65536];
	size_t len;
};

static int on_part(void *ud, const struct ingest_mp_part *p)
{
	struct seen *s = ud;
	unsigned i = s->parts++;
	if (i < 8) {
		snprintf(s->names[i], sizeof(s->names[i]), "%s", p->name);
		snprintf(s->filenames[i], sizeof(s->filenames[i]), "%s%s", p->has_filename ? "=" : "", p->filename);
		snprintf(s->ctypes[i], sizeof(s->ctypes[i]), "%s", p->content_type);
	}
	return s->want == 0 || (unsigned)s->want == i + 1;
}

static void on_data(void *ud, const char *buf, size_t len)
{
	struct seen *s = ud;
	assert_true(s->len + len <= sizeof(s->data));
	memcpy(s->data + s->len, buf, len);
	s->len += len;
}

static void on_end(void *ud)
{
	struct seen *s = ud;
	s->ends++;
}

static const struct ingest_mp_callbacks cbs = { on_part, on_data, on_end };

/* Parse BODY with BOUNDARY in chunks of CHUNK; the finish result. */
static int run(const char *boundary, const char *body, size_t len, size_t chunk, struct seen *s)
{
	struct ingest_mp *mp = ingest_mp_create(boundary, strlen(boundary), &cbs, s);
	assert_non_null(mp);
	int rc = 0;
	for (size_t off = 0; off < len && rc == 0; off += chunk)
		rc = ingest_mp_feed(mp, body + off, len - off < chunk ? len - off : chunk);
	if (rc == 0)
		rc = ingest_mp_finish(mp);
	ingest_mp_destroy(mp);
	return rc;
}

static const char curl_body[] =
	"--------------------------d74496d66958873e\r\n"
	"Content-Disposition: form-data; name=\"note\"\r\n"
	"\r\n"
	"hello\r\n"
	"--------------------------d74496d66958873e\r\n"
	"Content-Disposition: form-data; name=\"file_upload\"; filename=\"sample.json\"\r\n"
	"Content-Type: application/json\r\n"
	"\r\n"
	"{\"a\": \"x\r\n--------------------------d74496d66958873\r\n-\"}\r\n"
	"\r\n"
	"--------------------------d74496d66958873e--\r\n";
#define CURL_BOUNDARY "------------------------d74496d66958873e"
#define CURL_FILE "{\"a\": \"x\r\n--------------------------d74496d66958873\r\n-\"}\r\n"

static void test_boundary_param(void **state)
{
	(void)state;
	char b[INGEST_MP_BOUNDARY_MAX + 1];
	assert_int_equal(ingest_mp_boundary("multipart/form-data; boundary=abc", b, sizeof(b)), 3);
	assert_string_equal(b, "abc");
	assert_int_equal(ingest_mp_boundary("multipart/form-data;boundary=\"a b;c\"", b,
					    sizeof(b)), 5);
	assert_string_equal(b, "a b;c");
	assert_int_equal(ingest_mp_boundary("multipart/form-data; charset=utf-8; BOUNDARY=\"q\\\"x\"",
					    b, sizeof(b)), 3);
	assert_string_equal(b, "q\"x");
	assert_int_equal(ingest_mp_boundary("multipart/form-data; xboundary=zz; boundary=yy", b,
					    sizeof(b)), 2);
	assert_string_equal(b, "yy");
	assert_int_equal(ingest_mp_boundary("multipart/form-data", b, sizeof(b)), -EINVAL);
	assert_int_equal(ingest_mp_boundary("multipart/form-data; boundary=", b, sizeof(b)), -EINVAL);
	assert_int_equal(ingest_mp_boundary("multipart/form-data; boundary=\"\"", b, sizeof(b)),
			 -EINVAL);
	assert_int_equal(ingest_mp_boundary("multipart/form-data; boundary=abcdef", b, 4), -EINVAL);
	assert_int_equal(ingest_mp_boundary(NULL, b, sizeof(b)), -EINVAL);

	assert_true(ingest_mp_is_form("multipart/form-data; boundary=x"));
	assert_true(ingest_mp_is_form("Multipart/Form-Data"));
	assert_true(ingest_mp_is_form("  multipart/form-data ;boundary=x"));
	assert_false(ingest_mp_is_form("multipart/form-datax"));
	assert_false(ingest_mp_is_form("multipart/mixed; boundary=x"));
	assert_false(ingest_mp_is_form("application/json"));
	assert_false(ingest_mp_is_form(NULL));
}

static void test_every_chunk_size(void **state)
{
	(void)state;
	size_t len = sizeof(curl_body) - 1;
	for (size_t chunk = 1; chunk <= len; chunk++) {
		struct seen s = { .want = 2 };
		assert_int_equal(run(CURL_BOUNDARY, curl_body, len, chunk, &s), 0);
		assert_int_equal(s.parts, 2);
		assert_int_equal(s.ends, 1);
		assert_string_equal(s.names[0], "note");
		assert_string_equal(s.filenames[0], "");
		assert_string_equal(s.names[1], "file_upload");
		assert_string_equal(s.filenames[1], "=sample.json");
		assert_string_equal(s.ctypes[1], "application/json");
		/* The near-miss delimiter inside the file is content, byte for byte. */
		assert_int_equal(s.len, strlen(CURL_FILE));
		assert_memory_equal(s.data, CURL_FILE, s.len);
	}
}

static void test_all_parts_and_empty(void **state)
{
	(void)state;
	static const char body[] =
		"--b\r\n"
		"Content-Disposition: form-data; name=a\r\n\r\n"
		"\r\n"
		"--b\r\n"
		"\r\n"
		"xyz\r\n"
		"--b  \t\r\n"
		"content-disposition: form-data; name=\"c\"; filename*=UTF-8''f.json\r\n\r\n"
		"\r\r\n\r\n--\r\n-b\r\n"
		"--b--";
	struct seen s = { 0 };
	assert_int_equal(run("b", body, sizeof(body) - 1, 3, &s), 0);
	assert_int_equal(s.parts, 3);
	assert_int_equal(s.ends, 3);
	assert_string_equal(s.names[0], "a");
	assert_string_equal(s.names[1], "");
	assert_string_equal(s.names[2], "c");
	assert_string_equal(s.filenames[2], "=UTF-8''f.json");
	/* "" + "xyz" + "\r\r\n\r\n--\r\n-b" */
	assert_int_equal(s.len, 3 + 11);
	assert_memory_equal(s.data, "xyz\r\r\n\r\n--\r\n-b", 14);
}

static void test_preamble_epilogue_lf(void **state)
{
	(void)state;
	static const char body[] =
		"This is a preamble --b not at a line start\r\n"
		"--b\n"
		"Content-Disposition: form-data; name=\"file_upload\"\n"
		"\n"
		"DATA\r\n"
		"--b--\r\n"
		"epilogue --b\r\n--b\r\n ignored";
	for (size_t chunk = 1; chunk < sizeof(body); chunk++) {
		struct seen s = { 0 };
		assert_int_equal(run("b", body, sizeof(body) - 1, chunk, &s), 0);
		assert_int_equal(s.parts, 1);
		assert_int_equal(s.len, 4);
		assert_memory_equal(s.data, "DATA", 4);
	}
}

static void test_errors(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct ingest_mp *mp;
	/* The body ends inside a part. */
	static const char cut[] = "--b\r\nContent-Disposition: form-data; name=x\r\n\r\nabc\r\n--";
	assert_int_equal(run("b", cut, sizeof(cut) - 1, 5, &s), -EBADMSG);
	assert_int_equal(s.ends, 0);
	mp = ingest_mp_create("b", 1, &cbs, &s);
	ingest_mp_feed(mp, cut, sizeof(cut) - 1);
	assert_int_equal(ingest_mp_finish(mp), -EBADMSG);
	assert_non_null(strstr(ingest_mp_error(mp), "closing boundary"));
	ingest_mp_destroy(mp);
	/* No delimiter at all. */
	mp = ingest_mp_create("b", 1, &cbs, &s);
	assert_int_equal(ingest_mp_feed(mp, "{\"data\": [1]}", 13), 0);
	assert_int_equal(ingest_mp_finish(mp), -EBADMSG);
	assert_non_null(strstr(ingest_mp_error(mp), "no boundary"));
	ingest_mp_destroy(mp);
	/* Junk after a delimiter; a CR not followed by LF. */
	assert_int_equal(run("b", "--bx\r\n\r\n--b--", 14, 100, &s), -EBADMSG);
	assert_int_equal(run("b", "--b\rx\r\n--b--", 12, 100, &s), -EBADMSG);
	assert_int_equal(run("b", "--b-x", 5, 100, &s), -EBADMSG);
	/* Headers over the limit. */
	size_t n = INGEST_MP_HEADER_MAX + 100;
	char *big = malloc(n + 16);
	memcpy(big, "--b\r\nX-Long: ", 13);
	memset(big + 13, 'a', n - 13);
	assert_int_equal(run("b", big, n, 4096, &s), -EBADMSG);
	free(big);
	/* Bad boundaries. */
	assert_null(ingest_mp_create("", 0, &cbs, &s));
	assert_null(ingest_mp_create("a\rb", 3, &cbs, &s));
	char longb[INGEST_MP_BOUNDARY_MAX + 2];
	memset(longb, 'x', sizeof(longb));
	assert_null(ingest_mp_create(longb, sizeof(longb), &cbs, &s));
}

/* ---- the body parser ---- */

static char *fixture(size_t *len)
{
	FILE *f = fopen(FIXTURE, "rb");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

static int parse_body(const char *ctype, const char *body, size_t len, size_t chunk,
		      struct ingest_sample_result *out)
{
	struct ingest_body_parser *bp = ingest_body_parser_create(ctype, NULL);
	assert_non_null(bp);
	for (size_t off = 0; off < len; off += chunk)
		ingest_body_parser_feed(bp, body + off, len - off < chunk ? len - off : chunk);
	int rc = ingest_body_parser_finish(bp, out);
	ingest_body_parser_destroy(bp);
	return rc;
}

static void test_body_json_and_form(void **state)
{
	(void)state;
	size_t flen;
	char *file = fixture(&flen);
	struct ingest_sample_result *r = malloc(sizeof(*r));
	assert_int_equal(parse_body("application/json", file, flen, 100, r), 0);
	assert_string_equal(r->time_stamp_utc, "2019-05-01T10:00:00Z");
	assert_true(fabs(r->mean - 0.9985282517566028) < 1e-12);
	assert_true(fabs(r->std - 1.01280885259315) < 1e-12);
	double mean = r->mean, std = r->std;
	uint64_t count = r->count;
	/* No content type at all: JSON. */
	assert_int_equal(parse_body(NULL, file, flen, 7, r), 0);
	assert_true(r->mean == mean);

	/* The same file as curl -F sends it, among other fields. */
	char *form = malloc(flen + 1024);
	int n = snprintf(form, 1024,
			 "--XyZ\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\n"
			 "{not json}\r\n"
			 "--XyZ\r\nContent-Disposition: form-data; name=\"file_upload\"; "
			 "filename=\"sample.json\"\r\nContent-Type: application/json\r\n\r\n");
	memcpy(form + n, file, flen);
	size_t len = (size_t)n + flen;
	len += (size_t)sprintf(form + len, "\r\n--XyZ\r\nContent-Disposition: form-data; "
					   "name=\"x\"\r\n\r\nlast\r\n--XyZ--\r\n");
	for (size_t chunk = 1; chunk < 300; chunk += 37) {
		assert_int_equal(parse_body("multipart/form-data; boundary=\"XyZ\"", form, len, chunk,
					    r), 0);
		assert_true(r->mean == mean);
		assert_true(r->std == std);
		assert_int_equal(r->count, count);
	}
	/* A form without the file part. */
	static const char nofile[] =
		"--XyZ\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nhi\r\n--XyZ--\r\n";
	assert_int_equal(parse_body("multipart/form-data; boundary=XyZ", nofile,
				    sizeof(nofile) - 1, 10, r), -EBADMSG);
	assert_int_equal(r->n_errors, 1);
	assert_non_null(strstr(r->errors[0], "no file part"));
	/* A form cut short inside the file: both problems are listed. */
	assert_int_equal(parse_body("multipart/form-data; boundary=XyZ", form, (size_t)n + 40, 10,
				    r), -EBADMSG);
	assert_true(r->n_errors >= 2);
	assert_non_null(strstr(r->errors[0], "closing boundary"));
	assert_non_null(strstr(r->errors[1], "invalid JSON"));
	/* Multipart without a boundary parameter. */
	assert_int_equal(parse_body("multipart/form-data", form, len, 100, r), -EBADMSG);
	assert_non_null(strstr(r->errors[0], "boundary"));
	/* A JSON body with several problems lists them all. */
	static const char bad[] = "{\"time_stamp\": 5, \"data\": [1, \"x\", null]}";
	assert_int_equal(parse_body("application/json", bad, sizeof(bad) - 1, 3, r), -EBADMSG);
	assert_int_equal(r->n_errors, 3);
	free(r);
	free(form);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boundary_param),
		cmocka_unit_test(test_every_chunk_size),
		cmocka_unit_test(test_all_parts_and_empty),
		cmocka_unit_test(test_preamble_epilogue_lf),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_body_json_and_form),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
