/*
 * Nothing a client sends may crash the server or corrupt the catalog.  A
 * bounded set of hostile requests (a few hundred, each phase well under 10 s):
 * random bytes as bodies, hostile JSON, long and odd paths and queries, and
 * malformed HTTP over a raw socket.  After each phase /healthz answers and a
 * known entity is intact; at the end the stopped server's catalog passes
 * SQLite's integrity check and still holds the entity after a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/harness.h"

#define KNOWN "dataset:postgres://db.local:5432:shop.public.orders"
#define KNOWN_PATH "/api/v1/entities/" KNOWN
#define KNOWN_DESC "the entity that must survive"
#define PHASE_MAX_S 10.0

static struct th_server srv;
static char tok_write[64];
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static double phase_t0;

static uint64_t next_rand(void)
{
	/* xorshift64*: deterministic, so a failure can be replayed */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Send one request; the status, or 0 on a transport error. */
static long send_req(const char *method, const char *path, const char *body, size_t len,
		     const char *token)
{
	struct th_resp r;
	long st = th_req(&srv, method, path, body, len, NULL, token, &r) == 0 ? r.status : 0;
	if (st >= 500)
		fprintf(stderr, "%s %.120s: %ld %.300s\n", method, path, st, r.body);
	th_resp_free(&r);
	return st;
}

/* A well-formed HTTP request with bad content: must get a 4xx. */
static void expect_4xx(const char *method, const char *path, const char *body, size_t len)
{
	long st = send_req(method, path, body, len, tok_write);
	if (st < 400 || st > 499)
		fprintf(stderr, "%s %.120s with %zu bytes (%.60s...): status %ld, wanted 4xx\n",
			method, path, len, body ? body : "", st);
	assert_in_range(st, 400, 499);
}

static void expect_status(long want, const char *method, const char *path, const char *body)
{
	long st = send_req(method, path, body, body ? strlen(body) : 0, tok_write);
	if (st != want)
		fprintf(stderr, "%s %.120s (%.80s): status %ld, wanted %ld\n", method, path,
			body ? body : "", st, want);
	assert_int_equal(st, want);
}

/* Anything but a server error (a transport error is tolerated for requests
 * HTTP itself does not allow). */
static void expect_no_5xx(const char *method, const char *path, const char *body, size_t len)
{
	long st = send_req(method, path, body, len, tok_write);
	assert_true(st < 500);
}

/* A test whose request killed the server fails by itself; the next one
 * starts a new server on the same catalog rather than failing too. */
static void ensure_running(void)
{
	struct th_resp r;
	int up = th_req(&srv, "GET", "/healthz", NULL, 0, NULL, NULL, &r) == 0 && r.status == 200;
	th_resp_free(&r);
	if (up)
		return;
	fprintf(stderr, "the server is down (an earlier request killed it); restarting\n");
	th_terminate(&srv);
	assert_int_equal(th_restart(&srv), 0);
}

static void check_intact(void)
{
	struct th_resp r;
	int rc = th_req(&srv, "GET", "/healthz", NULL, 0, NULL, NULL, &r);
	th_resp_free(&r);
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, 200);
	long st = 0;
	json_t *e = NULL;
	assert_int_equal(th_json(&srv, "GET", KNOWN_PATH, NULL, NULL, &st, &e), 0);
	assert_int_equal(st, 200);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "id")), KNOWN);
	assert_string_equal(json_string_value(json_object_get(e, "description")), KNOWN_DESC);
	assert_int_equal(json_array_size(json_object_get(e, "fields")), 2);
	assert_true(json_array_size(json_object_get(e, "tags")) == 1);
	json_decref(e);
	double secs = now_s() - phase_t0;
	if (secs > PHASE_MAX_S)
		fprintf(stderr, "the phase took %.1f s\n", secs);
	assert_true(secs < PHASE_MAX_S);
}

static int setup(void **state)
{
	(void)state;
	long st = 0;
	json_t *doc = NULL;
	if (th_start(&srv, NULL, NULL) != 0 || th_token(&srv, "write", tok_write) != 0)
		return -1;
	th_json(&srv, "POST", "/api/v1/entities",
		"{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
		" \"name\": \"shop.public.orders\", \"description\": \"" KNOWN_DESC "\","
		" \"tags\": [\"core\"],"
		" \"fields\": [{\"name\": \"order_id\", \"type\": \"integer\"},"
		"            {\"name\": \"amount\", \"type\": \"numeric\"}]}",
		tok_write, &st, &doc);
	json_decref(doc);
	return st == 200 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	th_stop(&srv);
	return 0;
}

static void test_random_bodies(void **state)
{
	(void)state;
	ensure_running();
	static const char *const routes[][2] = {
		{ "POST", "/api/v1/entities" },
		{ "PATCH", KNOWN_PATH },
		{ "POST", "/api/v1/lineage" },
	};
	char buf[8192];
	phase_t0 = now_s();
	for (int i = 0; i < 90; i++) {
		size_t len = 16 + next_rand() % (sizeof(buf) - 16);
		int printable = i % 3 == 0;
		for (size_t k = 0; k < len; k++) {
			unsigned char c = (unsigned char)next_rand();
			buf[k] = printable ? (char)(' ' + c % 95) : (char)c;
		}
		/* begin like JSON half the time, so the parser goes deeper */
		if (i % 2)
			buf[0] = (i % 4 == 1) ? '{' : '[';
		expect_4xx(routes[i % 3][0], routes[i % 3][1], buf, len);
	}
	check_intact();
}

/* Each of the NULL-ended bodies to each of the three write routes: 4xx. */
static void bad_json_everywhere(const char *body, size_t len)
{
	expect_4xx("POST", "/api/v1/entities", body, len);
	expect_4xx("PATCH", KNOWN_PATH, body, len);
	expect_4xx("POST", "/api/v1/lineage", body, len);
}

#define ENT(name_json, rest) \
	"{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\", \"name\": " \
	name_json rest "}"

static void test_hostile_json(void **state)
{
	(void)state;
	ensure_running();
	phase_t0 = now_s();
	static const char *const bad[] = {
		ENT("\"shop.r.bignum\"", ", \"properties\": {\"n\": 1e999999}"),
		ENT("\"shop.r.bigint\"", ", \"properties\": {\"n\": 123456789012345678901234567890}"),
		ENT("\"shop.r.\xff\xfe\"", ""),
		ENT("\"shop.r.\xc0\xaf\"", ""),
		ENT("\"shop.r.\xed\xa0\x80\"", ""),
		ENT("\"shop.r.nul\\u0000x\"", ""),
		ENT("\"shop.r.lone\\ud800\"", ""),
		ENT("\"shop.r.dup\", \"name\": \"shop.r.dup2\"", ""),
		"{\"description\": \"nul \\u0000 inside\"}",
		"{\"description\": 1e400}",
		"\xef\xbb\xbf{}",
		"{\"a\": tru}",
		"{\"a\": NaN}",
		"{\"a\": Infinity}",
		"{\"a\": 01}",
		"{\"a\": \"\x01\"}",
		"{'a': 1}",
		"{\"a\": 1,}",
		"[1, 2, 3]]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad_json_everywhere(bad[i], strlen(bad[i]));
	/* a raw NUL byte inside the document */
	static const char nul[] = "{\"description\": \"a\0b\"}";
	bad_json_everywhere(nul, sizeof(nul) - 1);

	/* well-formed JSON that is not a valid entity */
	static const char *const invalid[] = {
		"{}",
		"{\"kind\": \"dataset\"}",
		ENT("\"\"", ""),
		ENT("42", ""),
		ENT("\"shop.r.ctl\\u0001x\"", ""),
		"{\"kind\": 7, \"namespace\": \"postgres://db.local:5432\", \"name\": \"shop.r.k\"}",
		ENT("\"shop.r.tags\"", ", \"tags\": \"pii\""),
		ENT("\"shop.r.tags2\"", ", \"tags\": [1, 2]"),
		ENT("\"shop.r.fields\"", ", \"fields\": {\"name\": \"x\"}"),
		ENT("\"shop.r.fields2\"", ", \"fields\": [{\"type\": \"int\"}]"),
		ENT("\"shop.r.props\"", ", \"properties\": [1]"),
		"{\"entities\": 5}",
		"{\"entities\": [], \"edges\": [{\"src\": 1, \"dst\": 2}]}",
		"{\"entities\": [], \"edges\": [{\"src\": \"" KNOWN "\", \"dst\": \"nonsense\"}]}",
		"{\"entities\": [], \"source\": \"user\"}",
		"{\"entities\": [], \"snapshot\": \"yes\"}",
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		expect_4xx("POST", "/api/v1/entities", invalid[i], strlen(invalid[i]));
	/* too long: a description over 64 KiB, a name over the id limit, too many fields */
	size_t cap = 12000 * 40;
	char *big = malloc(cap);
	assert_non_null(big);
	int n = snprintf(big, cap, ENT("\"shop.r.longdesc\"", ", \"description\": \""));
	big[n - 1] = '\0'; /* drop the closing brace the macro added */
	n--;
	memset(big + n, 'd', 70000);
	strcpy(big + n + 70000, "\"}");
	expect_4xx("POST", "/api/v1/entities", big, strlen(big));
	n = snprintf(big, cap, "{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
			       " \"name\": \"");
	memset(big + n, 'n', 3000);
	strcpy(big + n + 3000, "\"}");
	expect_4xx("POST", "/api/v1/entities", big, strlen(big));
	size_t off = (size_t)snprintf(big, cap, ENT("\"shop.r.manyfields\"", ", \"fields\": ["));
	off -= 1;
	for (int i = 0; i < 10001; i++)
		off += (size_t)snprintf(big + off, cap - off, "%s{\"name\": \"c%d\"}", i ? "," : "",
					i);
	strcpy(big + off, "]}");
	expect_4xx("POST", "/api/v1/entities", big, strlen(big));
	/* PATCH with odd values */
	static const char *const patches[] = {
		"{\"tags\": [1]}", "{\"owners\": \"bob\"}", "{\"description\": 5}",
		"{\"description\": [\"x\"]}", "{\"stale\": true}", "{\"fields\": []}",
	};
	for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++)
		expect_4xx("PATCH", KNOWN_PATH, patches[i], strlen(patches[i]));
	free(big);

	/* Valid, if odd: these are stored and read back as sent. */
	static const char uni[] = ENT("\"shop.r.\xe6\x97\xa5\xe6\x9c\xac \xc3\xbcn\xc3\xaf" "c\xc3\xb6"
				      "d\xc3\xa9 \xf0\x9f\x8c\xb1\"", "");
	expect_status(200, "POST", "/api/v1/entities", uni);
	char enc[512], path[700];
	th_urlencode("dataset:postgres://db.local:5432:shop.r.\xe6\x97\xa5\xe6\x9c\xac \xc3\xbcn"
		     "\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xf0\x9f\x8c\xb1", enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/entities/%s", enc);
	expect_status(200, "GET", path, NULL);
	static const char dots[] = ENT("\"../../etc/passwd\"", "");
	expect_no_5xx("POST", "/api/v1/entities", dots, strlen(dots));
	static const char idmismatch[] =
		"{\"id\": \"dataset:postgres://other:1:x\", \"kind\": \"dataset\","
		" \"namespace\": \"postgres://db.local:5432\", \"name\": \"shop.r.idmismatch\"}";
	expect_no_5xx("POST", "/api/v1/entities", idmismatch, strlen(idmismatch));
	static const char markup[] = ENT("\"shop.r.<script>alert(1)</script>\"",
					 ", \"description\": \"<img src=x onerror=alert(1)>\"");
	expect_status(200, "POST", "/api/v1/entities", markup);

	/* OpenLineage with odd values */
	static const char *const ol[] = {
		"{\"eventType\": \"COMPLETE\", \"eventTime\": \"not a time\","
		" \"run\": {\"runId\": \"x\"}, \"job\": {\"namespace\": \"robust\", \"name\": \"j1\"}}",
		"{\"eventType\": \"EXPLODE\", \"eventTime\": \"2024-01-01T00:00:00Z\","
		" \"run\": {\"runId\": \"x\"}, \"job\": {\"namespace\": \"robust\", \"name\": \"j2\"}}",
		"{\"eventType\": \"START\", \"eventTime\": \"2024-01-01T00:00:00Z\","
		" \"run\": {\"runId\": \"x\", \"facets\": {\"parent\": 5}},"
		" \"job\": {\"namespace\": \"robust\", \"name\": \"j3\", \"facets\": []},"
		" \"inputs\": [{\"namespace\": \"robust\", \"name\": \"i\","
		"   \"facets\": {\"schema\": {\"fields\": \"none\"}}}]}",
		"{\"eventType\": \"START\", \"eventTime\": \"2024-01-01T00:00:00Z\","
		" \"run\": {\"runId\": \"x\"}, \"job\": {\"namespace\": \"robust\", \"name\": \"j4\"},"
		" \"outputs\": [{\"namespace\": \"robust\", \"name\": \"o\","
		"   \"facets\": {\"schema\": {\"fields\": [{\"name\": 5}, {}, 7]}}}]}",
		"{\"eventType\": \"START\", \"eventTime\": \"2024-01-01T00:00:00Z\","
		" \"run\": {\"runId\": 5}, \"job\": {\"namespace\": \"robust\", \"name\": \"j5\"}}",
	};
	for (size_t i = 0; i < sizeof(ol) / sizeof(ol[0]); i++)
		expect_no_5xx("POST", "/api/v1/lineage", ol[i], strlen(ol[i]));
	check_intact();
}

static void test_paths_and_queries(void **state)
{
	(void)state;
	ensure_running();
	phase_t0 = now_s();
	size_t len = 5000;
	char *p = malloc(len + 200);
	assert_non_null(p);
	/* a very long path */
	int n = snprintf(p, 200, "/api/v1/entities/");
	memset(p + n, 'a', len);
	p[n + len] = '\0';
	expect_4xx("GET", p, NULL, 0);
	expect_4xx("PATCH", p, "{}", 2);
	/* a long path of many segments */
	for (size_t i = 0; i < len; i += 2)
		memcpy(p + n + i, "a/", 2);
	p[n + len] = '\0';
	expect_4xx("GET", p, NULL, 0);
	/* a long query string */
	n = snprintf(p, 200, "/api/v1/search?q=");
	memset(p + n, 'q', len);
	p[n + len] = '\0';
	expect_4xx("GET", p, NULL, 0);
	n = snprintf(p, 200, "/api/v1/lineage?nodeId=");
	memset(p + n, 'n', len);
	p[n + len] = '\0';
	expect_4xx("GET", p, NULL, 0);
	/* many parameters */
	p[0] = '\0';
	strcat(p, "/api/v1/search?q=orders");
	for (int i = 0; i < 400; i++)
		strcat(p, "&x=1");
	expect_no_5xx("GET", p, NULL, 0);
	free(p);

	static const char *const odd_ids[] = {
		"/api/v1/entities/%00",
		"/api/v1/entities/dataset:x:%00abc/history",
		"/api/v1/entities/..%2F..%2F..%2Fetc%2Fpasswd",
		"/api/v1/entities/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/api/v1/entities/dataset:x:%F0%9F%8C%B1",
		"/api/v1/entities/dataset:x:%FF%FE",
		"/api/v1/entities/dataset:x:%",
		"/api/v1/entities/dataset:x:%zz",
		"/api/v1/entities/%2F%2F%2F",
		"/api/v1/entities//history",
		"/api/v1/entities/history",
		"/api/v1/lineage?nodeId=%00",
		"/api/v1/lineage?nodeId=%FF%FE",
		"/api/v1/lineage?nodeId=dataset:x:y&depth=99999999999999999999",
		"/api/v1/lineage?nodeId=dataset:x:y&hopCap=0",
		"/api/v1/lineage?nodeId=dataset:x:y&depth=%00",
		"/api/v1/search?limit=%00",
		"/api/v1/entities/" KNOWN "/history?limit=-1",
		"/api/v1/entities/" KNOWN "/history?offset=99999999999999999999",
	};
	int wrong = 0;
	for (size_t i = 0; i < sizeof(odd_ids) / sizeof(odd_ids[0]); i++) {
		struct th_resp r;
		long st = th_req(&srv, "GET", odd_ids[i], NULL, 0, NULL, NULL, &r) == 0 ? r.status
											     : 0;
		int bad = st < 400 || st > 499 || strstr(r.body, "root:x:0");
		if (bad)
			fprintf(stderr, "GET %s: %ld %.200s (wanted 4xx)\n", odd_ids[i], st, r.body);
		wrong += bad;
		th_resp_free(&r);
	}
	expect_no_5xx("GET", "/api/v1/search?q=%FF%FE", NULL, 0);
	expect_no_5xx("GET", "/api/v1/search?q=%00", NULL, 0);
	/* FTS5 syntax is plain text to the search */
	static const char *const fts[] = {
		"%22", "AND", "OR%20NOT", "*", "NEAR(", "name:orders", "%5E", "-orders",
		"orders%22%20OR%20%22x", "(((", "%27%3B%20DROP%20TABLE%20entities%3B--", "a%2Bb",
	};
	for (size_t i = 0; i < sizeof(fts) / sizeof(fts[0]); i++) {
		char path[256];
		snprintf(path, sizeof(path), "/api/v1/search?q=%s", fts[i]);
		expect_status(200, "GET", path, NULL);
	}
	static const char *const methods[] = { "OPTIONS", "TRACE", "PROPFIND", "FOO", "DELETE" };
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		expect_no_5xx(methods[i], "/api/v1/search", NULL, 0);
		expect_no_5xx(methods[i], KNOWN_PATH, NULL, 0);
	}
	assert_int_equal(wrong, 0); /* the odd ids above, each printed */
	check_intact();
}

/* A NUL byte in the path does not cut it short: "<id>%00tail" is not <id>. */
static void test_nul_in_path(void **state)
{
	(void)state;
	ensure_running();
	phase_t0 = now_s();
	static const char *const paths[] = {
		KNOWN_PATH "%00",
		KNOWN_PATH "%00.json",
		KNOWN_PATH "%00/history",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		long st = send_req("GET", paths[i], NULL, 0, NULL);
		if (st < 400 || st > 499)
			fprintf(stderr, "GET %s: %ld, wanted 400 or 404\n", paths[i], st);
		assert_in_range(st, 400, 499);
	}
	long st = send_req("PATCH", KNOWN_PATH "%00", "{\"description\": \"via a NUL\"}", 28,
			   tok_write);
	assert_in_range(st, 400, 499);
	check_intact();
}

static void test_raw_http(void **state)
{
	(void)state;
	ensure_running();
	char *reply = NULL;
	char buf[512];
	phase_t0 = now_s();
	static const char *const junk[] = {
		"\x01\x02\x03garbage\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET\r\n\r\n",
		"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
		"GET /healthz\r\n\r\n",
		"GET /healthz HTTP/1.1\nHost: x\n\n",
		" / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET http://evil.example/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		"POST /api/v1/entities HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{",
		"POST /api/v1/entities HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
		"POST /api/v1/entities HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
		"POST /api/v1/entities HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{}",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header without colon\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
		"GET /heal",
		"",
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		long got = th_raw(&srv, junk[i], strlen(junk[i]), 1, 2000, &reply);
		assert_true(got >= 0);
		int st = th_raw_status(reply);
		if (st >= 500)
			fprintf(stderr, "raw request %zu: %.200s\n", i, reply);
		assert_true(st < 500);
		assert_null(strstr(reply, "root:x:0"));
		free(reply);
	}
	/* a missing Host header: answered, not fatal */
	static const char nohost[] = "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
	th_raw(&srv, nohost, sizeof(nohost) - 1, 0, 2000, &reply);
	assert_true(th_raw_status(reply) < 500);
	free(reply);

	/* one huge header line, many headers */
	char *big = malloc(70000);
	assert_non_null(big);
	int n = snprintf(big, 200, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(big + n, 'h', 20000);
	strcpy(big + n + 20000, "\r\n\r\n");
	th_raw(&srv, big, strlen(big), 1, 2000, &reply);
	assert_true(th_raw_status(reply) < 500);
	free(reply);
	n = snprintf(big, 200, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 300; i++)
		n += snprintf(big + n, 70000 - (size_t)n, "X-H%d: v\r\n", i);
	strcpy(big + n, "\r\n");
	th_raw(&srv, big, strlen(big), 1, 2000, &reply);
	assert_true(th_raw_status(reply) < 500);
	free(reply);
	free(big);

	/* A body cut short (the client closes before Content-Length bytes) is not
	 * stored, even when what arrived happens to be a whole JSON document. */
	static const char cut_body[] =
		"{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
		" \"name\": \"shop.r.truncated\"}";
	n = snprintf(buf, sizeof(buf),
		     "POST /api/v1/entities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
		     "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n%s",
		     tok_write, cut_body);
	th_raw(&srv, buf, (size_t)n, 1, 3000, &reply);
	assert_true(th_raw_status(reply) < 500);
	free(reply);
	expect_status(404, "GET", "/api/v1/entities/dataset:postgres://db.local:5432:shop.r.truncated",
		      NULL);

	/* a chunked upload works */
	static const char chunked_body[] =
		"{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
		" \"name\": \"shop.r.chunked\"}";
	n = snprintf(buf, sizeof(buf),
		     "POST /api/v1/entities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
		     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
		     "Connection: close\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
		     tok_write, sizeof(chunked_body) - 1, chunked_body);
	th_raw(&srv, buf, (size_t)n, 0, 3000, &reply);
	assert_int_equal(th_raw_status(reply), 200);
	free(reply);
	expect_status(200, "GET", "/api/v1/entities/dataset:postgres://db.local:5432:shop.r.chunked",
		      NULL);

	/* two pipelined requests get two answers */
	static const char two[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
				  "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	th_raw(&srv, two, sizeof(two) - 1, 0, 3000, &reply);
	const char *p = reply;
	int answers = 0;
	while ((p = strstr(p, "HTTP/1.1 200"))) {
		answers++;
		p++;
	}
	assert_int_equal(answers, 2);
	free(reply);
	check_intact();
}

/* Connections that send half a request and wait do not starve everyone else. */
static void test_slow_clients(void **state)
{
	(void)state;
	ensure_running();
	enum { SLOW = 48 };
	int fds[SLOW];
	phase_t0 = now_s();
	for (int i = 0; i < SLOW; i++) {
		struct sockaddr_in sa = { 0 };
		sa.sin_family = AF_INET;
		sa.sin_port = htons((unsigned short)srv.port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fds[i] >= 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_true(send(fds[i], "GET /healthz HTTP/1.1\r\nHo", 25, MSG_NOSIGNAL) == 25);
	}
	/* a well-behaved client is still answered, within 3 s */
	char *reply = NULL;
	static const char hz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	th_raw(&srv, hz, sizeof(hz) - 1, 0, 3000, &reply);
	int st = th_raw_status(reply);
	free(reply);
	for (int i = 0; i < SLOW; i++)
		close(fds[i]);
	if (st != 200)
		fprintf(stderr, "with %d half-sent requests open, /healthz got no answer in 3 s\n",
			SLOW);
	assert_int_equal(st, 200);
	check_intact();
}

/* Deeply nested JSON: refused or stored, never fatal. */
static void test_deep_nesting(void **state)
{
	(void)state;
	ensure_running();
	phase_t0 = now_s();
	size_t deep = 100000;
	char *b = malloc(deep * 5 + 16);
	assert_non_null(b);
	memset(b, '[', deep);
	bad_json_everywhere(b, deep);
	for (size_t i = 0; i < deep; i++)
		memcpy(b + i * 5, "{\"a\":", 5);
	bad_json_everywhere(b, deep * 5);
	/* deep, but within the parser's own limit (2048), inside properties */
	static const size_t depths[] = { 200, 1000, 2000 };
	for (size_t k = 0; k < sizeof(depths) / sizeof(depths[0]); k++) {
		size_t d = depths[k];
		int n = snprintf(b, 256, ENT("\"shop.r.deepprops\"", ", \"properties\": {\"p\": "));
		n--;
		memset(b + n, '[', d);
		memset(b + n + d, ']', d);
		strcpy(b + n + 2 * d, "}}");
		expect_no_5xx("POST", "/api/v1/entities", b, strlen(b));
		expect_no_5xx("GET", "/api/v1/entities/dataset:postgres://db.local:5432:shop.r.deepprops",
			      NULL, 0);
	}
	free(b);
	check_intact();
}

/* Lineage drawn as SVG for entities with hostile names. */
static void test_svg_hostile_names(void **state)
{
	(void)state;
	ensure_running();
	phase_t0 = now_s();
	expect_status(200, "POST", "/api/v1/entities",
		      "{\"entities\": [" ENT("\"shop.r.<script>alert(1)</script>\"", "") ","
		      " {\"kind\": \"job\", \"namespace\": \"airflow://s\","
		      "  \"name\": \"a\\\"b}c\\\\d\u00e9\u65e5 & <b>\"}],"
		      " \"edges\": [{\"src\": \"dataset:postgres://db.local:5432:shop.r.<script>"
		      "alert(1)</script>\", \"dst\": \"job:airflow://s:a\\\"b}c\\\\d\u00e9"
		      "\u65e5 & <b>\"}]}");
	char enc[512], path[800];
	th_urlencode("dataset:postgres://db.local:5432:shop.r.<script>alert(1)</script>", enc,
		     sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&format=svg", enc);
	struct th_resp r;
	int rc = th_req(&srv, "GET", path, NULL, 0, NULL, NULL, &r);
	int svg = strstr(r.body, "<svg") != NULL;
	int markup = strstr(r.body, "<script>") || strstr(r.body, "<b>");
	th_resp_free(&r);
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, 200);
	assert_true(svg);
	assert_false(markup);
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&format=dot", enc);
	expect_status(200, "GET", path, NULL);
	check_intact();
}

static void test_catalog_integrity(void **state)
{
	(void)state;
	char cmd[600], line[256] = "";
	ensure_running();
	phase_t0 = now_s();
	int stopped = th_terminate(&srv);
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s/catalog.db' 'PRAGMA integrity_check;' 2>&1",
		 srv.dir);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	char *got = fgets(line, sizeof(line), f);
	int rc = pclose(f);
	assert_non_null(got);
	assert_int_equal(rc, 0);
	assert_string_equal(line, "ok\n");
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s/catalog.db' 'PRAGMA foreign_key_check;' 2>&1",
		 srv.dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	got = fgets(line, sizeof(line), f);
	rc = pclose(f);
	assert_null(got); /* no violations */
	assert_int_equal(rc, 0);
	assert_int_equal(stopped, 0); /* a clean stop */
	/* and the data is still there after a restart */
	assert_int_equal(th_restart(&srv), 0);
	check_intact();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_bodies),
		cmocka_unit_test(test_hostile_json),
		cmocka_unit_test(test_paths_and_queries),
		cmocka_unit_test(test_nul_in_path),
		cmocka_unit_test(test_raw_http),
		cmocka_unit_test(test_slow_clients),
		cmocka_unit_test(test_svg_hostile_names),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_catalog_integrity),
	};
	return cmocka_run_group_tests_name("http_robust", tests, setup, teardown) ? 1 : 0;
}
