/*
 * The ingest pipeline over HTTP, against the real binary: submissions as
 * JSON and as multipart (curl -F), processing to UTC time stamps, mean and
 * standard deviation, raw bytes served back exactly, every error (400 with
 * all problems listed and the body kept, 401 with nothing stored, 403, 404,
 * 413 by Content-Length and chunked), the three ways of sending the key,
 * results paging and time ranges, stats, the compatibility routes, deletion,
 * the catalog entries and lineage, /metrics, the dashboard tile, and a
 * restart keeping everything.
 *
 * Run from the repository root (the fixture is
 * ../shared/fixtures/ingest/sample.json).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/lib/harness.h"

#define FIXTURE "../shared/fixtures/ingest/sample.json"
#define MEAN 0.9985282517566028
#define STD 1.01280885259315

struct fx {
	struct th_server s;
	char ingest[64], admin[64], reader[64];
	char *fixture;
	size_t fixture_len;
};

/* ---- HTTP helpers (libcurl, for what th_req does not send) ---- */

struct resp {
	long status;
	char *body;
	size_t len;
	char ctype[256];
	char *sent;       /* what went out after the headers (debug callback) */
	size_t sent_len;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = sz * n;
	char *nb = realloc(r->body, r->len + len + 1);
	if (!nb)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static int on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *ud)
{
	(void)c;
	struct resp *r = ud;
	if (type != CURLINFO_DATA_OUT)
		return 0;
	char *nb = realloc(r->sent, r->sent_len + size + 1);
	if (!nb)
		return 0;
	r->sent = nb;
	memcpy(r->sent + r->sent_len, data, size);
	r->sent_len += size;
	return 0;
}

struct chunked {
	const char *p;
	size_t left;
};

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
	struct chunked *c = ud;
	size_t len = sz * n < 1000 ? sz * n : 1000;
	if (len > c->left)
		len = c->left;
	memcpy(buf, c->p, len);
	c->p += len;
	c->left -= len;
	return len;
}

enum { SEND_PLAIN, SEND_CHUNKED };

/*
 * METHOD PATH with BODY (may be NULL) of CTYPE; HEADER (may be NULL) an
 * extra header line such as "X-API-Key: ..."; BEARER (may be NULL) a token.
 */
static void req(struct fx *f, const char *method, const char *path, const char *body,
		size_t len, const char *ctype, const char *header, const char *bearer, int how,
		struct resp *r)
{
	char url[1024], line[256];
	struct curl_slist *h = NULL;
	struct chunked ck = { body, len };
	memset(r, 0, sizeof(*r));
	CURL *c = curl_easy_init();
	assert_non_null(c);
	snprintf(url, sizeof(url), "%s%s", f->s.base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	h = curl_slist_append(h, "Expect:");
	if (ctype) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		h = curl_slist_append(h, line);
	}
	if (header)
		h = curl_slist_append(h, header);
	if (bearer) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", bearer);
		h = curl_slist_append(h, line);
	}
	if (body && how == SEND_PLAIN) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else if (body) {
		h = curl_slist_append(h, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &ck);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	char *ct = NULL;
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
	if (!r->body)
		r->body = calloc(1, 1);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

/* POST FILE as curl -F "FIELD=@FILE" does; the bytes sent land in r->sent. */
static void post_form(struct fx *f, const char *path, const char *field, const char *file,
		      const char *bearer, struct resp *r)
{
	char url[1024], line[256];
	struct curl_slist *h = NULL;
	memset(r, 0, sizeof(*r));
	CURL *c = curl_easy_init();
	snprintf(url, sizeof(url), "%s%s", f->s.base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, r);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	curl_mime *mime = curl_mime_init(c);
	curl_mimepart *part = curl_mime_addpart(mime);
	curl_mime_name(part, "comment");
	curl_mime_data(part, "from the test", CURL_ZERO_TERMINATED);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, field);
	assert_int_equal(curl_mime_filedata(part, file), CURLE_OK);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	snprintf(line, sizeof(line), "Authorization: Bearer %s", bearer);
	h = curl_slist_append(h, line);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (!r->body)
		r->body = calloc(1, 1);
	curl_slist_free_all(h);
	curl_mime_free(mime);
	curl_easy_cleanup(c);
}

static void resp_free(struct resp *r)
{
	free(r->body);
	free(r->sent);
}

static json_t *parse(const struct resp *r)
{
	json_error_t e;
	json_t *j = json_loadb(r->body, r->len, 0, &e);
	if (!j)
		fail_msg("not JSON (%s): %.300s", e.text, r->body);
	return j;
}

/* ---- pipeline helpers ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int is_uuid_v4(const char *s)
{
	if (!s || strlen(s) != 36 || s[14] != '4' || !strchr("89ab", s[19]))
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!strchr("0123456789abcdef", s[i])) {
			return 0;
		}
	}
	return 1;
}

/* POST BODY; expect STATUS; the submission id into ID. */
static json_t *submit(struct fx *f, const char *body, size_t len, const char *ctype, long status,
		      char id[37])
{
	struct resp r;
	req(f, "POST", "/api/v1/ingest/samples", body, len, ctype, NULL, f->ingest, SEND_PLAIN, &r);
	if (r.status != status)
		fail_msg("POST: status %ld, want %ld: %s", r.status, status, r.body);
	json_t *j = parse(&r);
	const char *sid = json_string_value(json_object_get(j, "submission_id"));
	assert_true(is_uuid_v4(sid));
	snprintf(id, 37, "%s", sid);
	resp_free(&r);
	return j;
}

/* GET the sample until its status is not "accepted" (at most 5 s). */
static json_t *wait_done(struct fx *f, const char *id)
{
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/ingest/samples/%s", id);
	for (int i = 0; i < 500; i++) {
		struct resp r;
		req(f, "GET", path, NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
		assert_int_equal(r.status, 200);
		json_t *j = parse(&r);
		resp_free(&r);
		if (strcmp(json_string_value(json_object_get(j, "status")), "accepted") != 0)
			return j;
		json_decref(j);
		sleep_ms(10);
	}
	fail_msg("sample %s still accepted after 5 s", id);
	return NULL;
}

static void expect_result(json_t *j, const char *ts, double mean, double std, long count)
{
	assert_string_equal(json_string_value(json_object_get(j, "status")), "processed");
	json_t *res = json_object_get(j, "result");
	assert_true(json_is_object(res));
	assert_string_equal(json_string_value(json_object_get(res, "time_stamp_utc")), ts);
	double m = json_number_value(json_object_get(res, "mean"));
	double s = json_number_value(json_object_get(res, "standard_deviation"));
	if (fabs(m - mean) > 1e-12 || fabs(s - std) > 1e-12)
		fail_msg("mean %.17g std %.17g, want %.17g %.17g", m, s, mean, std);
	assert_int_equal(json_integer_value(json_object_get(res, "count")), count);
}

static void expect_raw(struct fx *f, const char *path, const char *body, size_t len,
		       const char *ctype)
{
	struct resp r;
	req(f, "GET", path, NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, len);
	assert_memory_equal(r.body, body, len);
	assert_string_equal(r.ctype, ctype);
	resp_free(&r);
}

/* Totals of the stats (sum over statuses) and raw bytes stored. */
static void stored(struct fx *f, long long *samples, long long *bytes)
{
	struct resp r;
	req(f, "GET", "/api/v1/ingest/stats", NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	json_t *j = parse(&r);
	json_t *t = json_object_get(j, "totals");
	*samples = json_integer_value(json_object_get(t, "accepted")) +
		   json_integer_value(json_object_get(t, "processed")) +
		   json_integer_value(json_object_get(t, "rejected")) +
		   json_integer_value(json_object_get(t, "failed"));
	*bytes = json_integer_value(json_object_get(j, "raw_bytes"));
	json_decref(j);
	resp_free(&r);
}

static int start(struct fx *f, const char *config)
{
	memset(f, 0, sizeof(*f));
	f->fixture = th_read_file(FIXTURE, &f->fixture_len);
	if (!f->fixture || th_start(&f->s, config, NULL) < 0)
		return -1;
	if (th_token(&f->s, "ingest", f->ingest) < 0 || th_token(&f->s, "admin", f->admin) < 0 ||
	    th_token(&f->s, "read", f->reader) < 0)
		return -1;
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	*state = f;
	return start(f, NULL);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	th_stop(&f->s);
	free(f->fixture);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void test_fixture_processed(void **state)
{
	struct fx *f = *state;
	char id[37], path[128];
	json_decref(submit(f, f->fixture, f->fixture_len, "application/json", 201, id));
	json_t *j = wait_done(f, id);
	expect_result(j, "2019-05-01T10:00:00Z", MEAN, STD, 100);
	assert_string_equal(json_string_value(json_object_get(j, "submission_id")), id);
	const char *rec = json_string_value(json_object_get(j, "received_at"));
	assert_non_null(rec);
	assert_int_equal(strlen(rec), strlen("2026-01-01T00:00:00.000000Z"));
	assert_true(json_is_array(json_object_get(j, "errors")));
	assert_int_equal(json_array_size(json_object_get(j, "errors")), 0);
	json_decref(j);
	/* The exact bytes, with their content type, on both routes. */
	snprintf(path, sizeof(path), "/api/v1/ingest/samples/%s/raw", id);
	expect_raw(f, path, f->fixture, f->fixture_len, "application/json");
	snprintf(path, sizeof(path), "/raw/%s", id);
	expect_raw(f, path, f->fixture, f->fixture_len, "application/json");
}

static void test_naive_time_in_zone(void **state)
{
	struct fx *f = *state;
	char id[37];
	static const char winter[] = "{\"time_stamp\": \"2019-01-15T06:00:00\", \"data\": [1, 2, 3, 4],"
				     " \"station\": \"kept\"}";
	json_decref(submit(f, winter, sizeof(winter) - 1, "text/plain", 201, id));
	json_t *j = wait_done(f, id);
	/* New York is 5 hours behind UTC in January; population std of 1..4. */
	expect_result(j, "2019-01-15T11:00:00Z", 2.5, sqrt(1.25), 4);
	json_decref(j);
}

static void test_multipart_curl_form(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char path[128];
	post_form(f, "/api/v1/ingest/samples", "file_upload", FIXTURE, f->ingest, &r);
	assert_int_equal(r.status, 201);
	json_t *j = parse(&r);
	char id[37];
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "submission_id")));
	json_decref(j);
	j = wait_done(f, id);
	expect_result(j, "2019-05-01T10:00:00Z", MEAN, STD, 100);
	json_decref(j);
	/* The whole form comes back, byte for byte, with its multipart type. */
	struct resp raw;
	snprintf(path, sizeof(path), "/api/v1/ingest/samples/%s/raw", id);
	req(f, "GET", path, NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &raw);
	assert_int_equal(raw.status, 200);
	assert_int_equal(raw.len, r.sent_len);
	assert_memory_equal(raw.body, r.sent, r.sent_len);
	assert_non_null(strstr(raw.ctype, "multipart/form-data; boundary="));
	assert_non_null(memmem(raw.body, raw.len, f->fixture, f->fixture_len));
	resp_free(&raw);
	resp_free(&r);
}

static void test_multipart_quoted_boundary(void **state)
{
	struct fx *f = *state;
	char id[37], path[128];
	size_t cap = f->fixture_len + 1024, len;
	char *body = malloc(cap);
	len = (size_t)snprintf(body, cap, "--a b:c\r\nContent-Disposition: form-data; "
					  "name=\"file_upload\"; filename=\"s.json\"\r\n\r\n");
	memcpy(body + len, f->fixture, f->fixture_len);
	len += f->fixture_len;
	len += (size_t)snprintf(body + len, cap - len, "\r\n--a b:c--\r\n");
	const char *ct = "multipart/form-data; boundary=\"a b:c\"";
	json_decref(submit(f, body, len, ct, 201, id));
	json_t *j = wait_done(f, id);
	expect_result(j, "2019-05-01T10:00:00Z", MEAN, STD, 100);
	json_decref(j);
	snprintf(path, sizeof(path), "/raw/%s", id);
	expect_raw(f, path, body, len, ct);
	/* A form without the file: stored, rejected, saying what is missing. */
	static const char nofile[] = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n"
				     "{}\r\n--b--\r\n";
	j = submit(f, nofile, sizeof(nofile) - 1, "multipart/form-data; boundary=b", 400, id);
	const char *e = json_string_value(json_array_get(json_object_get(j, "errors"), 0));
	assert_non_null(strstr(e, "file part"));
	json_decref(j);
	free(body);
}

static void test_invalid_lists_every_error(void **state)
{
	struct fx *f = *state;
	char id[37], path[128];
	static const char bad[] = "{\"time_stamp\": \"2019-03-10T02:30:00\", \"data\": [1, \"two\", "
				  "true, 4], \"data\": 5}";
	json_t *j = submit(f, bad, sizeof(bad) - 1, "application/json", 400, id);
	json_t *errs = json_object_get(j, "errors");
	assert_true(json_array_size(errs) >= 4);
	char all[2048] = "";
	for (size_t i = 0; i < json_array_size(errs); i++) {
		strncat(all, json_string_value(json_array_get(errs, i)), 400);
		strcat(all, "\n");
	}
	assert_non_null(strstr(all, "nonexistent local time"));
	assert_non_null(strstr(all, "data[1]"));
	assert_non_null(strstr(all, "data[2]"));
	assert_non_null(strstr(all, "duplicate"));
	size_t nerrs = json_array_size(errs);
	json_decref(j);
	/* Stored all the same: rejected with the same errors, raw retrievable. */
	snprintf(path, sizeof(path), "/api/v1/ingest/samples/%s", id);
	struct resp r;
	req(f, "GET", path, NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	j = parse(&r);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "rejected");
	assert_true(json_is_null(json_object_get(j, "result")));
	assert_int_equal(json_array_size(json_object_get(j, "errors")), nerrs);
	json_decref(j);
	resp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/ingest/samples/%s/raw", id);
	expect_raw(f, path, bad, sizeof(bad) - 1, "application/json");
	/* Not JSON at all, and empty. */
	j = submit(f, "{\"data\": [1,", 12, "application/json", 400, id);
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(j, "errors"), 0)),
				"invalid JSON"));
	json_decref(j);
	j = submit(f, "", 0, "application/json", 400, id);
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(j, "errors"), 0)),
				"empty"));
	json_decref(j);
	/* The processor reaches the same verdict from the raw bytes. */
	j = wait_done(f, id);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "rejected");
	json_decref(j);
}

static void test_unauthorized_stores_nothing(void **state)
{
	struct fx *f = *state;
	struct resp r;
	long long n0, b0, n1, b1;
	stored(f, &n0, &b0);
	req(f, "POST", "/api/v1/ingest/samples", f->fixture, f->fixture_len, "application/json",
	    NULL, NULL, SEND_PLAIN, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	req(f, "POST", "/api/v1/ingest/samples", f->fixture, f->fixture_len, "application/json",
	    NULL, "trm_wrongwrongwrongwrongwrongwrongwrongwrongwro", SEND_PLAIN, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	req(f, "POST", "/api/v1/ingest/samples", f->fixture, f->fixture_len, "application/json",
	    "X-API-Key: nope", NULL, SEND_PLAIN, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	req(f, "POST", "/api/v1/ingest/samples?key=nope", f->fixture, f->fixture_len,
	    "application/json", NULL, NULL, SEND_PLAIN, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	req(f, "POST", "/raw", f->fixture, f->fixture_len, "application/json", NULL, NULL,
	    SEND_PLAIN, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	/* A valid token of another scope: 403. */
	req(f, "POST", "/api/v1/ingest/samples", f->fixture, f->fixture_len, "application/json",
	    NULL, f->reader, SEND_PLAIN, &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	sleep_ms(300);
	stored(f, &n1, &b1);
	assert_int_equal(n1, n0);
	assert_int_equal(b1, b0);
}

static void test_cut_bodies_store_nothing(void **state)
{
	struct fx *f = *state;
	char raw[1024], *out = NULL;
	long long n0, b0, n1, b1;
	static const char body[] = "{\"time_stamp\": \"2019-05-01T06:00:00Z\", \"data\": [1, 2]}";
	stored(f, &n0, &b0);
	/* Chunked, the connection closed before the last chunk. */
	int len = snprintf(raw, sizeof(raw),
			   "POST /api/v1/ingest/samples HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
			   "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "%zx\r\n%s\r\n", f->ingest, sizeof(body) - 1, body);
	assert_true(th_raw(&f->s, raw, (size_t)len, 1, 3000, &out) > 0);
	assert_int_equal(th_raw_status(out), 400);
	free(out);
	/* Fewer bytes than the Content-Length. */
	len = snprintf(raw, sizeof(raw),
		       "POST /raw HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
		       "Content-Length: 500\r\n\r\n%s", f->ingest, body);
	assert_true(th_raw(&f->s, raw, (size_t)len, 1, 3000, &out) > 0);
	assert_int_equal(th_raw_status(out), 400);
	free(out);
	sleep_ms(300);
	stored(f, &n1, &b1);
	assert_int_equal(n1, n0);
	assert_int_equal(b1, b0);
	/* The same chunked body, whole, is taken. */
	len = snprintf(raw, sizeof(raw),
		       "POST /api/v1/ingest/samples HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
		       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
		       "Connection: close\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n", f->ingest,
		       sizeof(body) - 1, body);
	assert_true(th_raw(&f->s, raw, (size_t)len, 1, 3000, &out) > 0);
	assert_int_equal(th_raw_status(out), 201);
	free(out);
}

static void test_key_forms(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char hdr[128], path[256];
	snprintf(hdr, sizeof(hdr), "X-API-Key: %s", f->ingest);
	req(f, "POST", "/api/v1/ingest/samples", f->fixture, f->fixture_len, "application/json",
	    hdr, NULL, SEND_PLAIN, &r);
	assert_int_equal(r.status, 201);
	json_t *j = parse(&r);
	char id[37];
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "submission_id")));
	json_decref(j);
	resp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/ingest/samples?key=%s", f->ingest);
	req(f, "POST", path, f->fixture, f->fixture_len, "application/json", NULL, NULL,
	    SEND_PLAIN, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	/* Reads take the key the same ways. */
	snprintf(path, sizeof(path), "/raw/%s?key=%s", id, f->ingest);
	req(f, "GET", path, NULL, 0, NULL, NULL, NULL, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, f->fixture_len);
	resp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/ingest/samples/%s", id);
	req(f, "GET", path, NULL, 0, NULL, hdr, NULL, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	req(f, "GET", path, NULL, 0, NULL, NULL, NULL, SEND_PLAIN, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	/* An admin token may do everything. */
	req(f, "GET", path, NULL, 0, NULL, NULL, f->admin, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void test_not_found(void **state)
{
	struct fx *f = *state;
	struct resp r;
	static const char *const paths[] = {
		"/api/v1/ingest/samples/6f9619ff-8b86-4011-b42d-00c04fc964ff",
		"/api/v1/ingest/samples/6f9619ff-8b86-4011-b42d-00c04fc964ff/raw",
		"/raw/6f9619ff-8b86-4011-b42d-00c04fc964ff",
		"/api/v1/ingest/samples/not-a-uuid",
		"/raw/not-a-uuid",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		req(f, "GET", paths[i], NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
		if (r.status != 404)
			fail_msg("GET %s: %ld", paths[i], r.status);
		json_t *j = parse(&r);
		assert_non_null(json_object_get(j, "error"));
		json_decref(j);
		resp_free(&r);
	}
	req(f, "DELETE", paths[0], NULL, 0, NULL, NULL, f->admin, SEND_PLAIN, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
}

static void test_delete(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char id[37], path[128], raw[160];
	json_decref(submit(f, f->fixture, f->fixture_len, "application/json", 201, id));
	json_decref(wait_done(f, id));
	snprintf(path, sizeof(path), "/api/v1/ingest/samples/%s", id);
	snprintf(raw, sizeof(raw), "/raw/%s", id);
	req(f, "DELETE", path, NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	req(f, "GET", path, NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	req(f, "DELETE", path, NULL, 0, NULL, NULL, f->admin, SEND_PLAIN, &r);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	req(f, "GET", path, NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	req(f, "GET", raw, NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	/* Gone from the results too. */
	req(f, "GET", "/api/v1/ingest/results?limit=10000", NULL, 0, NULL, NULL, f->ingest,
	    SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.body, id));
	resp_free(&r);
}

static void test_stats_fields(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char id[37];
	json_decref(submit(f, f->fixture, f->fixture_len, "application/json", 201, id));
	json_decref(wait_done(f, id));
	req(f, "GET", "/api/v1/ingest/stats", NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	json_t *j = parse(&r);
	json_t *t = json_object_get(j, "totals");
	static const char *const st[] = { "accepted", "processed", "rejected", "failed" };
	for (int i = 0; i < 4; i++)
		assert_true(json_is_integer(json_object_get(t, st[i])));
	assert_true(json_integer_value(json_object_get(t, "processed")) >= 1);
	json_t *rates = json_object_get(j, "rates_per_second");
	assert_true(json_number_value(json_object_get(rates, "submitted_1m")) > 0);
	assert_true(json_is_number(json_object_get(rates, "submitted_5m")));
	json_t *lat = json_object_get(json_object_get(j, "latency_ms"), "end_to_end");
	double p50 = json_number_value(json_object_get(lat, "p50"));
	double p99 = json_number_value(json_object_get(lat, "p99"));
	assert_true(p50 > 0 && p99 >= p50);
	assert_true(json_integer_value(json_object_get(lat, "samples")) >= 1);
	assert_true(json_is_integer(json_object_get(j, "queue_depth")));
	assert_true(json_integer_value(json_object_get(j, "bytes_stored")) >=
		    (json_int_t)f->fixture_len);
	json_decref(j);
	resp_free(&r);
}

static void test_compat_routes(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char path[128];
	req(f, "POST", "/raw", f->fixture, f->fixture_len, "application/json", NULL, f->ingest,
	    SEND_PLAIN, &r);
	assert_int_equal(r.status, 201);
	json_t *j = parse(&r);
	char id[37];
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "submission_id")));
	json_decref(j);
	resp_free(&r);
	json_decref(wait_done(f, id));
	snprintf(path, sizeof(path), "/raw/%s", id);
	expect_raw(f, path, f->fixture, f->fixture_len, "application/json");
	req(f, "GET", "/processed/fetch?limit=1&offset=0", NULL, 0, NULL, NULL, f->ingest,
	    SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	j = parse(&r);
	assert_int_equal(json_array_size(j), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0),
							      "submission_id")), id);
	json_decref(j);
	resp_free(&r);
}

static void test_catalog_lineage(void **state)
{
	struct fx *f = *state;
	struct resp r;
	req(f, "GET", "/api/v1/lineage?nodeId=job:terrarium://ingest:processor", NULL, 0, NULL,
	    NULL, f->admin, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	json_t *j = parse(&r);
	json_t *nodes = json_object_get(j, "nodes"), *edges = json_object_get(j, "edges");
	int raw = 0, results = 0, in = 0, out = 0;
	for (size_t i = 0; i < json_array_size(nodes); i++) {
		const char *id = json_string_value(json_object_get(json_array_get(nodes, i), "id"));
		raw += strcmp(id, "dataset:terrarium://ingest:raw_samples") == 0;
		results += strcmp(id, "dataset:terrarium://ingest:results") == 0;
	}
	for (size_t i = 0; i < json_array_size(edges); i++) {
		json_t *e = json_array_get(edges, i);
		const char *src = json_string_value(json_object_get(e, "src"));
		const char *dst = json_string_value(json_object_get(e, "dst"));
		in += strcmp(src, "dataset:terrarium://ingest:raw_samples") == 0 &&
		      strcmp(dst, "job:terrarium://ingest:processor") == 0;
		out += strcmp(src, "job:terrarium://ingest:processor") == 0 &&
		       strcmp(dst, "dataset:terrarium://ingest:results") == 0;
	}
	assert_int_equal(raw, 1);
	assert_int_equal(results, 1);
	assert_int_equal(in, 1);
	assert_int_equal(out, 1);
	json_decref(j);
	resp_free(&r);
	/* The results dataset has its fields. */
	req(f, "GET", "/api/v1/entities/dataset:terrarium://ingest:results", NULL, 0, NULL, NULL,
	    f->admin, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	j = parse(&r);
	json_t *fields = json_object_get(j, "fields");
	int mean = 0, std = 0;
	for (size_t i = 0; i < json_array_size(fields); i++) {
		const char *n = json_string_value(json_object_get(json_array_get(fields, i), "name"));
		mean += strcmp(n, "mean") == 0;
		std += strcmp(n, "standard_deviation") == 0;
	}
	assert_int_equal(mean, 1);
	assert_int_equal(std, 1);
	json_decref(j);
	resp_free(&r);
}

static void test_metrics_and_tile(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char id[37];
	json_decref(submit(f, f->fixture, f->fixture_len, "application/json", 201, id));
	json_decref(wait_done(f, id));
	req(f, "GET", "/metrics", NULL, 0, NULL, NULL, f->admin, SEND_PLAIN, &r);
	assert_int_equal(r.status, 200);
	static const char *const want[] = {
		"terrarium_ingest_submissions_total{status=\"accepted\"} ",
		"terrarium_ingest_submissions_total{status=\"rejected\"} ",
		"terrarium_ingest_processed_total{status=\"processed\"} ",
		"terrarium_ingest_samples{status=\"processed\"} ",
		"terrarium_ingest_queue_depth ",
		"terrarium_ingest_stored_bytes{kind=\"raw\"} ",
		"terrarium_ingest_latency_seconds_bucket{le=\"+Inf\"} ",
		"terrarium_ingest_latency_seconds_count ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *p = strstr(r.body, want[i]);
		if (!p)
			fail_msg("/metrics lacks %s", want[i]);
		if (i == 0 || i == 2)
			assert_true(atol(p + strlen(want[i])) >= 1);
	}
	resp_free(&r);
	/* The tile is refreshed by the processor every 2 s. */
	json_t *tile = NULL;
	for (int i = 0; i < 60 && !tile; i++) {
		req(f, "GET", "/api/v1/services", NULL, 0, NULL, NULL, f->admin, SEND_PLAIN, &r);
		assert_int_equal(r.status, 200);
		json_t *j = parse(&r);
		json_t *tiles = json_object_get(j, "tiles");
		for (size_t k = 0; k < json_array_size(tiles); k++) {
			json_t *t = json_array_get(tiles, k);
			json_t *nums = json_object_get(t, "numbers");
			if (strcmp(json_string_value(json_object_get(t, "plugin")), "ingest") == 0 &&
			    json_integer_value(json_object_get(nums, "queue_depth")) == 0 &&
			    json_number_value(json_object_get(nums, "latency_p99_ms")) > 0)
				tile = json_incref(t);
		}
		json_decref(j);
		resp_free(&r);
		if (!tile)
			sleep_ms(100);
	}
	assert_non_null(tile);
	json_t *nums = json_object_get(tile, "numbers");
	assert_true(json_is_number(json_object_get(nums, "rate_per_s")));
	assert_true(json_is_integer(json_object_get(nums, "errors")));
	assert_non_null(json_string_value(json_object_get(tile, "status")));
	json_decref(tile);
}

static void test_restart_keeps_everything(void **state)
{
	struct fx *f = *state;
	char ok[37], bad[37], path[128];
	json_decref(submit(f, f->fixture, f->fixture_len, "application/json", 201, ok));
	json_decref(submit(f, "[1]", 3, "application/json", 400, bad));
	json_decref(wait_done(f, ok));
	assert_int_equal(th_terminate(&f->s), 0);
	assert_int_equal(th_restart(&f->s), 0);
	json_t *j = wait_done(f, ok);
	expect_result(j, "2019-05-01T10:00:00Z", MEAN, STD, 100);
	json_decref(j);
	j = wait_done(f, bad);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "rejected");
	json_decref(j);
	snprintf(path, sizeof(path), "/raw/%s", ok);
	expect_raw(f, path, f->fixture, f->fixture_len, "application/json");
	snprintf(path, sizeof(path), "/raw/%s", bad);
	expect_raw(f, path, "[1]", 3, "application/json");
}

/* ---- a fresh server: results paging and ranges ---- */

static void results(struct fx *f, const char *query, json_t **out)
{
	struct resp r;
	req(f, "GET", query, NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
	if (r.status != 200)
		fail_msg("GET %s: %ld %s", query, r.status, r.body);
	*out = parse(&r);
	assert_true(json_is_array(*out));
	resp_free(&r);
}

static const char *row_id(json_t *rows, size_t i)
{
	return json_string_value(json_object_get(json_array_get(rows, i), "submission_id"));
}

static void test_results_paging(void **state)
{
	struct fx *f = *state;
	json_t *rows;
	char ids[5][37], body[256];
	results(f, "/api/v1/ingest/results", &rows);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	results(f, "/processed/fetch?limit=5&offset=0", &rows);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	for (int i = 0; i < 5; i++) {
		int n = snprintf(body, sizeof(body),
				 "{\"time_stamp\": \"2020-06-0%dT12:00:00Z\", \"data\": [%d, %d]}",
				 i + 1, i, i + 2);
		json_decref(submit(f, body, (size_t)n, "application/json", 201, ids[i]));
		json_decref(wait_done(f, ids[i]));
	}
	results(f, "/api/v1/ingest/results?limit=2", &rows);
	assert_int_equal(json_array_size(rows), 2);
	assert_string_equal(row_id(rows, 0), ids[4]);
	assert_string_equal(row_id(rows, 1), ids[3]);
	json_t *res = json_object_get(json_array_get(rows, 0), "result");
	assert_string_equal(json_string_value(json_object_get(res, "time_stamp_utc")),
			    "2020-06-05T12:00:00Z");
	assert_true(json_number_value(json_object_get(res, "mean")) == 5.0);
	assert_true(json_number_value(json_object_get(res, "standard_deviation")) == 1.0);
	json_decref(rows);
	results(f, "/api/v1/ingest/results?limit=2&offset=2", &rows);
	assert_int_equal(json_array_size(rows), 2);
	assert_string_equal(row_id(rows, 0), ids[2]);
	assert_string_equal(row_id(rows, 1), ids[1]);
	json_decref(rows);
	results(f, "/processed/fetch?limit=10&offset=4", &rows);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(row_id(rows, 0), ids[0]);
	json_decref(rows);
	results(f, "/api/v1/ingest/results?offset=5", &rows);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	/* from inclusive, to exclusive, offsets in any zone. */
	results(f, "/api/v1/ingest/results?from=2020-06-02T12:00:00Z&to=2020-06-04T12:00:00Z",
		&rows);
	assert_int_equal(json_array_size(rows), 2);
	assert_string_equal(row_id(rows, 0), ids[2]);
	assert_string_equal(row_id(rows, 1), ids[1]);
	json_decref(rows);
	results(f, "/api/v1/ingest/results?from=2020-06-04T08:00:00-04:00", &rows);
	assert_int_equal(json_array_size(rows), 2);
	json_decref(rows);
	results(f, "/api/v1/ingest/results?to=2020-06-02T12:00:00.000000001Z&limit=1", &rows);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(row_id(rows, 0), ids[1]);
	json_decref(rows);
	/* Bad parameters. */
	static const char *const badq[] = {
		"/api/v1/ingest/results?limit=-1", "/api/v1/ingest/results?limit=x",
		"/api/v1/ingest/results?limit=100000", "/api/v1/ingest/results?from=yesterday",
		"/processed/fetch?offset=1.5",
	};
	for (size_t i = 0; i < sizeof(badq) / sizeof(badq[0]); i++) {
		struct resp r;
		req(f, "GET", badq[i], NULL, 0, NULL, NULL, f->ingest, SEND_PLAIN, &r);
		if (r.status != 400)
			fail_msg("GET %s: %ld", badq[i], r.status);
		resp_free(&r);
	}
}

/* ---- a server with a small body limit ---- */

static int setup_small(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	*state = f;
	return start(f, "plugins = { ingest = { max_body = 4096 } }\n");
}

static void test_too_large(void **state)
{
	struct fx *f = *state;
	struct resp r;
	long long n0, b0, n1, b1;
	char id[37];
	stored(f, &n0, &b0);
	char *big = malloc(5000);
	memset(big, ' ', 5000);
	big[0] = '{';
	big[4999] = '}';
	req(f, "POST", "/api/v1/ingest/samples", big, 5000, "application/json", NULL, f->ingest,
	    SEND_PLAIN, &r);
	assert_int_equal(r.status, 413);
	resp_free(&r);
	req(f, "POST", "/api/v1/ingest/samples", big, 5000, "application/json", NULL, f->ingest,
	    SEND_CHUNKED, &r);
	assert_int_equal(r.status, 413);
	resp_free(&r);
	req(f, "POST", "/raw", big, 4097, "application/json", NULL, f->ingest, SEND_PLAIN, &r);
	assert_int_equal(r.status, 413);
	resp_free(&r);
	stored(f, &n1, &b1);
	assert_int_equal(n1, n0);
	assert_int_equal(b1, b0);
	/* At the limit it is taken, chunked or not. */
	memcpy(big, f->fixture, f->fixture_len);
	memset(big + f->fixture_len, ' ', 4096 - f->fixture_len);
	json_decref(submit(f, big, 4096, "application/json", 201, id));
	req(f, "POST", "/api/v1/ingest/samples", big, 4096, "application/json", NULL, f->ingest,
	    SEND_CHUNKED, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	json_t *j = wait_done(f, id);
	expect_result(j, "2019-05-01T10:00:00Z", MEAN, STD, 100);
	json_decref(j);
	free(big);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest main_tests[] = {
		cmocka_unit_test(test_fixture_processed),
		cmocka_unit_test(test_naive_time_in_zone),
		cmocka_unit_test(test_multipart_curl_form),
		cmocka_unit_test(test_multipart_quoted_boundary),
		cmocka_unit_test(test_invalid_lists_every_error),
		cmocka_unit_test(test_unauthorized_stores_nothing),
		cmocka_unit_test(test_cut_bodies_store_nothing),
		cmocka_unit_test(test_key_forms),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_stats_fields),
		cmocka_unit_test(test_compat_routes),
		cmocka_unit_test(test_catalog_lineage),
		cmocka_unit_test(test_metrics_and_tile),
		cmocka_unit_test(test_restart_keeps_everything),
	};
	const struct CMUnitTest fresh_tests[] = {
		cmocka_unit_test_setup_teardown(test_results_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup_small, teardown),
	};
	int rc = cmocka_run_group_tests_name("ingest_http", main_tests, setup, teardown);
	rc |= cmocka_run_group_tests_name("ingest_http_fresh", fresh_tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
