/*
 * Crash safety of the ingest pipeline, against the real binary: in several
 * cycles, client threads submit as fast as they can (JSON, multipart and
 * bodies large enough to be spilled to a temporary file, over segment rolls),
 * the server is killed with SIGKILL in the middle, restarted on the same data
 * directory, and every submission that was acknowledged (201) before the
 * kill must still be there with its exact bytes, and reach "processed".
 *
 * Every loop is bounded in count and time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/lib/harness.h"

#define CYCLES 4
#define THREADS 8
#define PER_THREAD 300
#define BIG_NUMBERS 40000 /* ~0.5 MB: past the store's in-memory staging */

struct sub {
	char id[37];
	int cycle, t, i;
};

struct worker {
	struct th_server *s;
	const char *token;
	int cycle, t;
	atomic_int *acked;
	struct sub *subs;     /* PER_THREAD */
	int nsubs;
	int errors;           /* transport errors (the kill) */
	char bad[256];        /* an unexpected answer (checked by the main thread) */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The body of submission (cycle, t, i), deterministic; malloc'd. */
static char *make_body(int cycle, int t, int i, size_t *len, const char **ctype)
{
	size_t n = i % 50 == 49 ? BIG_NUMBERS : 64 + (size_t)(i % 13);
	size_t cap = n * 24 + 512;
	char *b = malloc(cap);
	size_t o = 0;
	int form = i % 7 == 3;
	if (form)
		o += (size_t)snprintf(b + o, cap - o,
				      "--xXx%d\r\nContent-Disposition: form-data; name=\"file_upload\"; "
				      "filename=\"s.json\"\r\nContent-Type: application/json\r\n\r\n",
				      i);
	o += (size_t)snprintf(b + o, cap - o,
			      "{\"time_stamp\": \"2019-05-01T06:00:%02d-04:00\", \"who\": \"%d-%d-%d\", "
			      "\"data\": [", i % 60, cycle, t, i);
	for (size_t k = 0; k < n; k++)
		o += (size_t)snprintf(b + o, cap - o, "%s%d.%03d", k ? ", " : "",
				      (int)((k * 7 + (size_t)i) % 100), (int)((k * 31 + (size_t)t) % 1000));
	o += (size_t)snprintf(b + o, cap - o, "]}");
	if (form)
		o += (size_t)snprintf(b + o, cap - o, "\r\n--xXx%d--\r\n", i);
	static _Thread_local char ct[64];
	if (form) {
		snprintf(ct, sizeof(ct), "multipart/form-data; boundary=xXx%d", i);
		*ctype = ct;
	} else {
		*ctype = "application/json";
	}
	*len = o;
	return b;
}

struct buf {
	char *p;
	size_t len;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t len = sz * n;
	char *nb = realloc(b->p, b->len + len + 1);
	if (!nb)
		return 0;
	b->p = nb;
	memcpy(b->p + b->len, p, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

/* One request on handle C; the status, or -1 on a transport error. */
static long do_req(CURL *c, const char *url, const char *method, const char *body, size_t len,
		   const char *ctype, const char *token, struct buf *out)
{
	char auth[128], ct[128];
	struct curl_slist *h = NULL;
	long status = -1;
	out->len = 0;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Expect:");
	if (ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		h = curl_slist_append(h, ct);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	return status;
}

static void *submitter(void *arg)
{
	struct worker *w = arg;
	char url[128];
	struct buf out = { 0 };
	CURL *c = curl_easy_init();
	snprintf(url, sizeof(url), "%s/api/v1/ingest/samples", w->s->base);
	for (int i = 0; i < PER_THREAD; i++) {
		size_t len;
		const char *ctype;
		char *body = make_body(w->cycle, w->t, i, &len, &ctype);
		long st = do_req(c, url, "POST", body, len, ctype, w->token, &out);
		free(body);
		if (st < 0) {
			w->errors++;
			break; /* the server is gone */
		}
		json_t *j = st == 201 ? json_loadb(out.p, out.len, 0, NULL) : NULL;
		const char *id = json_string_value(json_object_get(j, "submission_id"));
		if (!id) {
			snprintf(w->bad, sizeof(w->bad), "POST answered %ld: %.200s", st,
				 out.p ? out.p : "");
			json_decref(j);
			break;
		}
		struct sub *s = &w->subs[w->nsubs++];
		snprintf(s->id, sizeof(s->id), "%s", id);
		s->cycle = w->cycle;
		s->t = w->t;
		s->i = i;
		json_decref(j);
		atomic_fetch_add(w->acked, 1);
	}
	free(out.p);
	curl_easy_cleanup(c);
	return NULL;
}

/* Every acknowledged submission is there, byte for byte, and gets processed. */
static void verify(struct th_server *s, const char *token, struct sub *subs, int n)
{
	char url[256];
	struct buf out = { 0 };
	CURL *c = curl_easy_init();
	int processed = 0;
	for (int k = 0; k < n; k++) {
		size_t len;
		const char *ctype;
		char *body = make_body(subs[k].cycle, subs[k].t, subs[k].i, &len, &ctype);
		snprintf(url, sizeof(url), "%s/raw/%s", s->base, subs[k].id);
		long st = do_req(c, url, "GET", NULL, 0, NULL, token, &out);
		if (st != 200)
			fail_msg("acknowledged %s (cycle %d) lost: GET raw %ld", subs[k].id,
				 subs[k].cycle, st);
		if (out.len != len || memcmp(out.p, body, len) != 0)
			fail_msg("acknowledged %s: raw bytes differ (%zu vs %zu)", subs[k].id,
				 out.len, len);
		char *ct = NULL;
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		assert_non_null(ct);
		assert_string_equal(ct, ctype);
		free(body);
	}
	/* Processed within a few seconds (all of them, pending ones included). */
	double deadline = now_s() + 20;
	for (int k = 0; k < n; k++) {
		snprintf(url, sizeof(url), "%s/api/v1/ingest/samples/%s", s->base, subs[k].id);
		for (;;) {
			long st = do_req(c, url, "GET", NULL, 0, NULL, token, &out);
			assert_int_equal(st, 200);
			json_t *j = json_loadb(out.p, out.len, 0, NULL);
			const char *status = json_string_value(json_object_get(j, "status"));
			assert_non_null(status);
			if (strcmp(status, "processed") == 0) {
				json_decref(j);
				processed++;
				break;
			}
			if (strcmp(status, "accepted") != 0)
				fail_msg("%s is %s: %s", subs[k].id, status, out.p);
			json_decref(j);
			if (now_s() > deadline)
				fail_msg("%s not processed after restart", subs[k].id);
			sleep_ms(20);
		}
	}
	assert_int_equal(processed, n);
	free(out.p);
	curl_easy_cleanup(c);
}

static void test_kill_during_submissions(void **state)
{
	(void)state;
	struct th_server s;
	char token[64];
	struct sub *all = calloc((size_t)CYCLES * THREADS * PER_THREAD, sizeof(*all));
	int nall = 0;
	assert_int_equal(th_start(&s, "plugins = { ingest = { segment_bytes = \"1MiB\" } }\n"
				      "http = { threads = 24 }\n", NULL), 0);
	assert_int_equal(th_token(&s, "ingest", token), 0);
	srand((unsigned)time(NULL));
	for (int cycle = 0; cycle < CYCLES; cycle++) {
		atomic_int acked = 0;
		pthread_t th[THREADS];
		struct worker w[THREADS];
		int target = 150 + rand() % 600;
		for (int t = 0; t < THREADS; t++) {
			w[t] = (struct worker){ .s = &s, .token = token, .cycle = cycle, .t = t,
						.acked = &acked,
						.subs = calloc(PER_THREAD, sizeof(struct sub)) };
			assert_int_equal(pthread_create(&th[t], NULL, submitter, &w[t]), 0);
		}
		double until = now_s() + 15;
		while (atomic_load(&acked) < target && now_s() < until)
			sleep_ms(1);
		int at_kill = atomic_load(&acked);
		int st;
		kill(s.pid, SIGKILL);
		waitpid(s.pid, &st, 0);
		s.pid = 0;
		int cycle_acked = 0, errors = 0;
		for (int t = 0; t < THREADS; t++) {
			pthread_join(th[t], NULL);
			memcpy(all + nall, w[t].subs, (size_t)w[t].nsubs * sizeof(struct sub));
			nall += w[t].nsubs;
			cycle_acked += w[t].nsubs;
			errors += w[t].errors;
			free(w[t].subs);
			if (w[t].bad[0])
				fail_msg("thread %d: %s", t, w[t].bad);
		}
		print_message("cycle %d: killed at %d acknowledged (%d in all, %d cut off)\n", cycle,
			      at_kill, cycle_acked, errors);
		assert_true(cycle_acked >= at_kill);
		assert_true(errors > 0); /* the kill did land in the middle */
		assert_int_equal(th_restart(&s), 0);
		verify(&s, token, all, nall);
	}
	/* The stats agree: nothing acknowledged is missing, none failed. */
	struct th_resp r;
	char path[160];
	snprintf(path, sizeof(path), "/api/v1/ingest/stats?key=%s", token);
	assert_int_equal(th_req(&s, "GET", path, NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	json_t *j = json_loadb(r.body, r.len, 0, NULL);
	json_t *tot = json_object_get(j, "totals");
	assert_true(json_integer_value(json_object_get(tot, "processed")) >= nall);
	assert_int_equal(json_integer_value(json_object_get(tot, "failed")), 0);
	assert_int_equal(json_integer_value(json_object_get(tot, "rejected")), 0);
	json_decref(j);
	th_resp_free(&r);
	th_stop(&s);
	free(all);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_during_submissions),
	};
	int rc = cmocka_run_group_tests_name("ingest_crash", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
