/*
 * plugins/ingest/ingest.c - the ingest/stats pipeline as a native plugin
 * (hub/plugin.h only): routes, the processor task, metrics, the dashboard
 * tile and the catalog entries.  See docs/ingest.md.
 *
 *   POST   /api/v1/ingest/samples            (ingest)  201 {"submission_id"} | 400 | 413
 *   GET    /api/v1/ingest/samples/{id}       (ingest)  status, result, errors
 *   GET    /api/v1/ingest/samples/{id}/raw   (ingest)  the bytes sent, their content type
 *   DELETE /api/v1/ingest/samples/{id}       (admin)   204
 *   GET    /api/v1/ingest/results?limit=&offset=&from=&to=   (ingest)
 *   GET    /api/v1/ingest/stats              (ingest)
 *   POST /raw, GET /raw/{id}, GET /processed/fetch?limit=&offset=   (ingest; compatibility)
 *
 * A POST streams the body in chunks into the store's writer and into the
 * body parser at once (O(1) memory in the body's size), answers only once
 * the raw record is durable, and wakes the processor, which records the
 * outcome.  For a valid sample the POST's own parse already computed it
 * and hands it over in memory (early.h); otherwise, and after a restart,
 * the processor reads the raw bytes back and parses them again.
 *
 * Settings (plugins = { ingest = { ... } }):
 *   max_body = "64MiB"         largest body, bytes or "NKiB|MiB|GiB" (413 past it)
 *   zone = "America/New_York"  zone of time stamps without an offset
 *   retention_days = 0         0 keeps everything
 *   segment_bytes = "256MiB"   size at which raw segments roll (same forms)
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub/plugin.h"

#include "body.h"
#include "early.h"
#include "jsonw.h"
#include "store.h"
#include "ts.h"
#include "uuid.h"

#define DEFAULT_MAX_BODY (64ll << 20)
#define READ_CHUNK (16 * 1024)
#define BATCH 256
#define IDLE_SLEEP_MS 200
#define GATHER_MS 1
#define TILE_EVERY_S 2.0
#define SYNC_EVERY_S 1.0
#define PRUNE_EVERY_S 60.0
#define RESULTS_DEFAULT 100
#define RESULTS_MAX 10000
#define REPLY_MAX (64u << 20)
#define QUEUE_DEGRADED 100000
#define EARLY_SLOTS 8192  /* results handed from POSTs to the processor (half used at most) */

#define NS "terrarium://ingest"
#define RAW_ID "dataset:" NS ":raw_samples"
#define JOB_ID "job:" NS ":processor"
#define RESULTS_ID "dataset:" NS ":results"

/* The outcome of a sample parsed successfully. */
static void outcome_of(const struct ingest_sample_result *res, struct ingest_outcome *out)
{
	const char *dot = strchr(res->time_stamp_utc, '.');
	memset(out, 0, sizeof(*out));
	out->status = INGEST_PROCESSED;
	out->ts_sec = res->epoch_sec;
	out->ts_nsec = res->epoch_nsec;
	out->ts_frac = dot ? (int)(strlen(dot) - 2) : 0;
	out->count = res->count;
	out->mean = res->mean;
	out->std = res->std;
}

/* ---- rates and latencies ---- */

#define RING_S 300        /* per-second counts kept */
#define LAT_SLOTS 6       /* one-minute latency histograms kept */
#define LAT_BUCKETS 128   /* four per doubling, from 1 us */

/* Prometheus histogram bounds, seconds. */
static const double prom_le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
				  0.25,  0.5,    1,     2.5,  5,     10,   30,  60 };
#define PROM_N (sizeof(prom_le) / sizeof(prom_le[0]))

struct lat {
	/* windowed, under mu */
	int64_t slot_min[LAT_SLOTS];
	uint32_t slot[LAT_SLOTS][LAT_BUCKETS];
	/* cumulative, under mu */
	uint64_t prom[PROM_N + 1];
	double sum_s;
	uint64_t count;
};

struct ingest {
	const struct trm_api *api;
	struct trm_plugin_ctx *ctx;
	struct ingest_store *st;
	struct ingest_early *early;
	struct ingest_ts_zone *zone;
	struct ingest_sample_opts sopts;
	long long max_body;
	long long retention_days;
	char zone_name[INGEST_TS_ZONE_NAME_MAX + 1];
	double started_mono;

	atomic_ullong n_accepted, n_rejected, n_too_large, n_error;    /* POST answers */
	atomic_ullong n_processed, n_proc_rejected, n_proc_failed;     /* processor outcomes */
	atomic_ullong bytes_received;
	atomic_int idle;            /* the processor is about to sleep or asleep */

	pthread_mutex_t mu;
	int64_t ring_sec[RING_S];
	uint32_t ring_acks[RING_S];
	uint32_t ring_done[RING_S];
	struct lat e2e, ack;
};

static struct ingest *the; /* for fini */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int lat_bucket(double secs)
{
	double us = secs * 1e6;
	if (!(us > 1))
		return 0;
	int b = (int)(4 * log2(us)) + 1;
	return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

/* Upper bound of bucket B, in milliseconds. */
static double lat_bucket_ms(int b)
{
	return b == 0 ? 0.001 : pow(2, b / 4.0) / 1000.0;
}

static void lat_add(struct lat *l, double secs, int64_t minute)
{
	int s = (int)(minute % LAT_SLOTS);
	if (l->slot_min[s] != minute) {
		memset(l->slot[s], 0, sizeof(l->slot[s]));
		l->slot_min[s] = minute;
	}
	l->slot[s][lat_bucket(secs)]++;
	size_t b = 0;
	while (b < PROM_N && secs > prom_le[b])
		b++;
	l->prom[b]++;
	l->sum_s += secs;
	l->count++;
}

/* Percentiles over the last five minutes (mu held).  Count of samples. */
static uint64_t lat_pct(const struct lat *l, int64_t minute, const double *q, double *out, int nq)
{
	uint64_t sum[LAT_BUCKETS] = { 0 }, n = 0;
	for (int s = 0; s < LAT_SLOTS; s++) {
		if (l->slot_min[s] <= minute - 5 || l->slot_min[s] > minute)
			continue;
		for (int b = 0; b < LAT_BUCKETS; b++) {
			sum[b] += l->slot[s][b];
			n += l->slot[s][b];
		}
	}
	for (int i = 0; i < nq; i++) {
		out[i] = 0;
		if (!n)
			continue;
		uint64_t rank = (uint64_t)ceil(q[i] * (double)n), acc = 0;
		if (rank == 0)
			rank = 1;
		for (int b = 0; b < LAT_BUCKETS; b++) {
			acc += sum[b];
			if (acc >= rank) {
				out[i] = lat_bucket_ms(b);
				break;
			}
		}
	}
	return n;
}

static void ring_note(struct ingest *g, int64_t sec, uint32_t acks, uint32_t done)
{
	int i = (int)(sec % RING_S);
	if (g->ring_sec[i] != sec) {
		g->ring_sec[i] = sec;
		g->ring_acks[i] = 0;
		g->ring_done[i] = 0;
	}
	g->ring_acks[i] += acks;
	g->ring_done[i] += done;
}

/* Per-second rates over the last WINDOW seconds (mu held). */
static void ring_rate(const struct ingest *g, int64_t now, int window, double uptime, double *acks,
		      double *done)
{
	uint64_t a = 0, d = 0;
	for (int i = 0; i < RING_S; i++) {
		if (g->ring_sec[i] > now - window && g->ring_sec[i] <= now) {
			a += g->ring_acks[i];
			d += g->ring_done[i];
		}
	}
	double span = uptime < window ? (uptime > 1 ? uptime : 1) : window;
	*acks = (double)a / span;
	*done = (double)d / span;
}

/* ---- replies ---- */

static void reply_json(struct ingest *g, struct trm_req *req, int status, struct ingest_jw *w)
{
	size_t len;
	const char *text = ingest_jw_text(w, &len);
	if (!text)
		g->api->reply_error(req, 500, "internal", "cannot encode the reply");
	else
		g->api->reply(req, status, "application/json", text, len,
			      "Cache-Control: no-store\r\n");
	ingest_jw_release(w);
}

static void jw_time(struct ingest_jw *w, int64_t ns, int digits)
{
	char buf[INGEST_TS_UTC_MAX];
	int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
	if (nsec < 0) {
		sec--;
		nsec += 1000000000;
	}
	if (ingest_ts_format(sec, (int32_t)nsec, digits, buf, sizeof(buf)) < 0)
		ingest_jw_lit(w, "null");
	else
		ingest_jw_str(w, buf, strlen(buf));
}

/* "errors": the problems of R as JSON array text into W. */
static void jw_errors(struct ingest_jw *w, const struct ingest_sample_result *r)
{
	ingest_jw_lit(w, "[");
	for (unsigned i = 0; i < r->n_errors; i++) {
		if (i)
			ingest_jw_lit(w, ",");
		ingest_jw_str(w, r->errors[i], strnlen(r->errors[i], INGEST_SAMPLE_ERROR_MAX));
	}
	ingest_jw_lit(w, "]");
}

static int parse_id(struct ingest *g, struct trm_req *req, uint8_t id[16])
{
	const char *p = g->api->req_param(req, 0);
	if (p && ingest_uuid_parse(p, strlen(p), id) == 0)
		return 0;
	g->api->reply_error(req, 404, "not found", "no submission with that id");
	return -1;
}

/* ---- POST ---- */

static void post_sample(struct trm_req *req, void *ud)
{
	struct ingest *g = ud;
	const struct trm_api *api = g->api;
	int64_t received_at = now_ns();
	double t0 = mono_s();
	struct ingest_body_parser *bp = NULL;
	struct ingest_sample_result *res = NULL;
	struct ingest_write w;
	struct ingest_jw errs, out;
	char detail[160];
	char buf[READ_CHUNK];
	int status = 0;
	ingest_write_init(&w, g->st);
	ingest_jw_init(&errs, INGEST_STORE_ERRORS_MAX);
	ingest_jw_init(&out, REPLY_MAX);

	const char *ctype = api->req_header(req, "Content-Type");
	if (!ctype)
		ctype = "";
	if (strlen(ctype) > INGEST_STORE_CTYPE_MAX) {
		api->reply_error(req, 400, "bad request", "the Content-Type header is too long");
		goto fail;
	}
	long long declared = api->req_content_length(req);
	if (declared > g->max_body) {
		snprintf(detail, sizeof(detail), "the body is %lld bytes; the limit is %lld",
			 declared, g->max_body);
		api->reply_error(req, 413, "payload too large", detail);
		atomic_fetch_add(&g->n_too_large, 1);
		goto out;
	}
	bp = ingest_body_parser_create(ctype, &g->sopts);
	res = malloc(sizeof(*res));
	if (!bp || !res) {
		api->reply_error(req, 500, "internal", "out of memory");
		goto fail;
	}
	uint64_t total = 0;
	for (;;) {
		long n = api->req_read(req, buf, sizeof(buf));
		if (n < 0) {
			api->reply_error(req, 400, "bad request", "cannot read the request body");
			goto fail;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if ((long long)total > g->max_body) {
			snprintf(detail, sizeof(detail), "the body is over the limit of %lld bytes",
				 g->max_body);
			api->reply_error(req, 413, "payload too large", detail);
			atomic_fetch_add(&g->n_too_large, 1);
			goto out;
		}
		ingest_body_parser_feed(bp, buf, (size_t)n);
		int rc = ingest_write_add(&w, buf, (size_t)n);
		if (rc < 0) {
			snprintf(detail, sizeof(detail), "cannot stage the body: %s", strerror(-rc));
			api->reply_error(req, rc == -ENOSPC ? 507 : 500, "internal", detail);
			goto fail;
		}
	}
	if (declared >= 0 && total != (uint64_t)declared) {
		api->reply_error(req, 400, "bad request", "the body ended before its Content-Length");
		goto fail;
	}
	int valid = ingest_body_parser_finish(bp, res) == 0;
	if (!valid)
		jw_errors(&errs, res);
	struct ingest_submit sub = {
		.ctype = ctype,
		.received_at = received_at,
		.status = valid ? INGEST_ACCEPTED : INGEST_REJECTED,
		.errors = valid ? NULL : ingest_jw_text(&errs, NULL),
	};
	if (!valid && !sub.errors)
		sub.errors = "[\"too many problems to list\"]";
	if (ingest_uuid_v4(sub.id) < 0) {
		api->reply_error(req, 500, "internal", "cannot make a submission id");
		goto fail;
	}
	int early = 0;
	if (valid) {
		struct ingest_outcome o;
		outcome_of(res, &o);
		early = ingest_early_put(g->early, sub.id, &o) == 0;
	}
	int rc = ingest_store_commit(g->st, &w, &sub);
	if (rc < 0) {
		if (early)
			ingest_early_drop(g->early, sub.id);
		snprintf(detail, sizeof(detail), "cannot store the submission: %s", strerror(-rc));
		api->reply_error(req, rc == -ENOSPC ? 507 : 503, "unavailable", detail);
		goto fail;
	}
	char idtext[INGEST_UUID_TEXT];
	ingest_uuid_format(sub.id, idtext);
	ingest_jw_lit(&out, "{\"submission_id\":\"");
	ingest_jw_lit(&out, idtext);
	ingest_jw_lit(&out, "\"");
	if (!valid) {
		ingest_jw_lit(&out, ",\"errors\":");
		ingest_jw_lit(&out, sub.errors);
	}
	ingest_jw_lit(&out, "}");
	status = valid ? 201 : 400;
	reply_json(g, req, status, &out);
	if (atomic_exchange(&g->idle, 0))
		api->task_wake(g->ctx);
	atomic_fetch_add(valid ? &g->n_accepted : &g->n_rejected, 1);
	atomic_fetch_add(&g->bytes_received, total);
	double secs = mono_s() - t0;
	pthread_mutex_lock(&g->mu);
	ring_note(g, received_at / 1000000000, 1, 0);
	lat_add(&g->ack, secs, received_at / 60000000000);
	pthread_mutex_unlock(&g->mu);
	goto out;
fail:
	atomic_fetch_add(&g->n_error, 1);
out:
	ingest_jw_release(&out);
	ingest_jw_release(&errs);
	ingest_write_release(&w);
	ingest_body_parser_destroy(bp);
	free(res);
}

/* ---- GET ---- */

static void jw_result(struct ingest_jw *w, const struct ingest_info *in)
{
	char ts[INGEST_TS_UTC_MAX];
	ingest_jw_lit(w, "{\"time_stamp_utc\":");
	if (ingest_ts_format(in->ts_sec, in->ts_nsec, in->ts_frac, ts, sizeof(ts)) < 0)
		ingest_jw_lit(w, "null");
	else
		ingest_jw_str(w, ts, strlen(ts));
	ingest_jw_lit(w, ",\"mean\":");
	ingest_jw_num(w, in->mean);
	ingest_jw_lit(w, ",\"standard_deviation\":");
	ingest_jw_num(w, in->std);
	ingest_jw_lit(w, ",\"count\":");
	ingest_jw_u64(w, in->count);
	ingest_jw_lit(w, "}");
}

static void get_sample(struct trm_req *req, void *ud)
{
	struct ingest *g = ud;
	uint8_t id[16];
	struct ingest_info in;
	struct ingest_jw w;
	char idtext[INGEST_UUID_TEXT];
	if (parse_id(g, req, id) < 0)
		return;
	if (ingest_store_get(g->st, id, &in) < 0) {
		g->api->reply_error(req, 404, "not found", "no submission with that id");
		return;
	}
	ingest_uuid_format(id, idtext);
	ingest_jw_init(&w, REPLY_MAX);
	ingest_jw_lit(&w, "{\"submission_id\":\"");
	ingest_jw_lit(&w, idtext);
	ingest_jw_lit(&w, "\",\"status\":\"");
	ingest_jw_lit(&w, ingest_status_name(in.status));
	ingest_jw_lit(&w, "\",\"received_at\":");
	jw_time(&w, in.received_at, 6);
	ingest_jw_lit(&w, ",\"processed_at\":");
	if (in.processed_at)
		jw_time(&w, in.processed_at, 6);
	else
		ingest_jw_lit(&w, "null");
	ingest_jw_lit(&w, ",\"size\":");
	ingest_jw_u64(&w, in.body_len);
	ingest_jw_lit(&w, ",\"result\":");
	if (in.status == INGEST_PROCESSED)
		jw_result(&w, &in);
	else
		ingest_jw_lit(&w, "null");
	ingest_jw_lit(&w, ",\"errors\":");
	ingest_jw_lit(&w, in.errors ? in.errors : "[]");
	ingest_jw_lit(&w, "}");
	free(in.errors);
	reply_json(g, req, 200, &w);
}

static void get_raw(struct trm_req *req, void *ud)
{
	struct ingest *g = ud;
	uint8_t id[16];
	struct ingest_raw raw;
	if (parse_id(g, req, id) < 0)
		return;
	int rc = ingest_store_raw(g->st, id, &raw);
	if (rc == -ENOENT) {
		g->api->reply_error(req, 404, "not found", "no submission with that id");
		return;
	}
	if (rc < 0) {
		g->api->reply_error(req, 500, "internal",
				    "the raw bytes cannot be read back (damaged on disk)");
		return;
	}
	g->api->reply(req, 200, raw.ctype[0] ? raw.ctype : "application/octet-stream", raw.body,
		      (size_t)raw.len, "Cache-Control: no-store\r\n");
	ingest_raw_release(&raw);
}

static void delete_sample(struct trm_req *req, void *ud)
{
	struct ingest *g = ud;
	uint8_t id[16];
	if (parse_id(g, req, id) < 0)
		return;
	int rc = ingest_store_delete(g->st, id);
	if (rc == -ENOENT)
		g->api->reply_error(req, 404, "not found", "no submission with that id");
	else if (rc < 0)
		g->api->reply_error(req, 500, "internal", "cannot delete the submission");
	else
		g->api->reply(req, 204, "application/json", "", 0, NULL);
}

/* Query parameter NAME as an integer in [0, MAX]; DEF when absent.  -1 after
 * replying 400. */
static int query_count(struct ingest *g, struct trm_req *req, const char *name, long max,
		       long def, long *out)
{
	char buf[32], *end;
	int n = g->api->req_query(req, name, buf, sizeof(buf));
	if (n == -1) {
		*out = def;
		return 0;
	}
	errno = 0;
	long v = n > 0 ? strtol(buf, &end, 10) : -1;
	if (n <= 0 || errno || *end || v < 0 || v > max) {
		char detail[128];
		snprintf(detail, sizeof(detail), "%s: expected an integer from 0 to %ld", name, max);
		g->api->reply_error(req, 400, "bad parameter", detail);
		return -1;
	}
	*out = v;
	return 0;
}

/* Query parameter NAME as a time stamp.  0 (absent: *HAS = 0), or -1 after
 * replying 400. */
static int query_time(struct ingest *g, struct trm_req *req, const char *name, int *has,
		      int64_t *sec, int32_t *nsec)
{
	char buf[INGEST_SAMPLE_TS_MAX], err[128], detail[256];
	struct ingest_ts ts;
	int n = g->api->req_query(req, name, buf, sizeof(buf));
	*has = 0;
	if (n == -1)
		return 0;
	if (n < 0) {
		snprintf(err, sizeof(err), "too long");
	} else if (ingest_ts_parse(buf, (size_t)n, g->zone, &ts, err, sizeof(err)) == 0) {
		*has = 1;
		*sec = ts.sec;
		*nsec = ts.nsec;
		return 0;
	}
	snprintf(detail, sizeof(detail), "%s: expected a time stamp such as "
					 "2019-05-01T06:00:00-04:00 (%s)", name, err);
	g->api->reply_error(req, 400, "bad parameter", detail);
	return -1;
}

static void get_results(struct trm_req *req, void *ud)
{
	struct ingest *g = ud;
	long limit, offset;
	struct ingest_range rg = { 0 };
	struct ingest_info *rows = NULL;
	struct ingest_jw w;
	if (query_count(g, req, "limit", RESULTS_MAX, RESULTS_DEFAULT, &limit) < 0 ||
	    query_count(g, req, "offset", 1000000000L, 0, &offset) < 0 ||
	    query_time(g, req, "from", &rg.has_from, &rg.from_sec, &rg.from_nsec) < 0 ||
	    query_time(g, req, "to", &rg.has_to, &rg.to_sec, &rg.to_nsec) < 0)
		return;
	rows = calloc(limit ? (size_t)limit : 1, sizeof(*rows));
	if (!rows) {
		g->api->reply_error(req, 500, "internal", "out of memory");
		return;
	}
	size_t n = ingest_store_results(g->st, &rg, (size_t)offset, rows, (size_t)limit);
	ingest_jw_init(&w, REPLY_MAX);
	ingest_jw_lit(&w, "[");
	for (size_t i = 0; i < n; i++) {
		char idtext[INGEST_UUID_TEXT];
		ingest_uuid_format(rows[i].id, idtext);
		ingest_jw_lit(&w, i ? ",{\"submission_id\":\"" : "{\"submission_id\":\"");
		ingest_jw_lit(&w, idtext);
		ingest_jw_lit(&w, "\",\"received_at\":");
		jw_time(&w, rows[i].received_at, 6);
		ingest_jw_lit(&w, ",\"processed_at\":");
		jw_time(&w, rows[i].processed_at, 6);
		ingest_jw_lit(&w, ",\"result\":");
		jw_result(&w, &rows[i]);
		ingest_jw_lit(&w, "}");
	}
	ingest_jw_lit(&w, "]");
	free(rows);
	reply_json(g, req, 200, &w);
}

/* ---- stats, metrics, tile ---- */

struct snapshot {
	struct ingest_counts c;
	double rate1, rate5, done1, done5;
	double e2e[4], ack[4];      /* p50 p90 p99 p999, ms */
	uint64_t e2e_n, ack_n;
};

static void snapshot(struct ingest *g, struct snapshot *s)
{
	static const double q[4] = { 0.5, 0.9, 0.99, 0.999 };
	int64_t now = now_ns();
	double up = mono_s() - g->started_mono;
	ingest_store_counts(g->st, &s->c);
	pthread_mutex_lock(&g->mu);
	ring_rate(g, now / 1000000000, 60, up, &s->rate1, &s->done1);
	ring_rate(g, now / 1000000000, 300, up, &s->rate5, &s->done5);
	s->e2e_n = lat_pct(&g->e2e, now / 60000000000, q, s->e2e, 4);
	s->ack_n = lat_pct(&g->ack, now / 60000000000, q, s->ack, 4);
	pthread_mutex_unlock(&g->mu);
}

static void jw_pct(struct ingest_jw *w, const double *p, uint64_t n)
{
	static const char *const names[4] = { "p50", "p90", "p99", "p999" };
	ingest_jw_lit(w, "{");
	for (int i = 0; i < 4; i++) {
		ingest_jw_lit(w, i ? ",\"" : "\"");
		ingest_jw_lit(w, names[i]);
		ingest_jw_lit(w, "\":");
		ingest_jw_num(w, round(p[i] * 1000) / 1000); /* ms to the microsecond */
	}
	ingest_jw_lit(w, ",\"samples\":");
	ingest_jw_u64(w, n);
	ingest_jw_lit(w, ",\"window_seconds\":300}");
}

static void get_stats(struct trm_req *req, void *ud)
{
	struct ingest *g = ud;
	struct snapshot s;
	struct ingest_jw w;
	snapshot(g, &s);
	ingest_jw_init(&w, REPLY_MAX);
	ingest_jw_lit(&w, "{\"totals\":{");
	for (int i = 0; i < INGEST_NSTATUS; i++) {
		ingest_jw_lit(&w, i ? ",\"" : "\"");
		ingest_jw_lit(&w, ingest_status_name((enum ingest_status)i));
		ingest_jw_lit(&w, "\":");
		ingest_jw_u64(&w, s.c.by_status[i]);
	}
	ingest_jw_lit(&w, "},\"since_start\":{\"accepted\":");
	ingest_jw_u64(&w, atomic_load(&g->n_accepted));
	ingest_jw_lit(&w, ",\"rejected\":");
	ingest_jw_u64(&w, atomic_load(&g->n_rejected));
	ingest_jw_lit(&w, ",\"too_large\":");
	ingest_jw_u64(&w, atomic_load(&g->n_too_large));
	ingest_jw_lit(&w, ",\"errors\":");
	ingest_jw_u64(&w, atomic_load(&g->n_error));
	ingest_jw_lit(&w, ",\"processed\":");
	ingest_jw_u64(&w, atomic_load(&g->n_processed));
	ingest_jw_lit(&w, ",\"failed\":");
	ingest_jw_u64(&w, atomic_load(&g->n_proc_failed));
	ingest_jw_lit(&w, ",\"bytes_received\":");
	ingest_jw_u64(&w, atomic_load(&g->bytes_received));
	ingest_jw_lit(&w, "},\"rates_per_second\":{\"submitted_1m\":");
	ingest_jw_num(&w, s.rate1);
	ingest_jw_lit(&w, ",\"submitted_5m\":");
	ingest_jw_num(&w, s.rate5);
	ingest_jw_lit(&w, ",\"processed_1m\":");
	ingest_jw_num(&w, s.done1);
	ingest_jw_lit(&w, ",\"processed_5m\":");
	ingest_jw_num(&w, s.done5);
	ingest_jw_lit(&w, "},\"latency_ms\":{\"end_to_end\":");
	jw_pct(&w, s.e2e, s.e2e_n);
	ingest_jw_lit(&w, ",\"acknowledge\":");
	jw_pct(&w, s.ack, s.ack_n);
	ingest_jw_lit(&w, "},\"queue_depth\":");
	ingest_jw_u64(&w, s.c.queued);
	ingest_jw_lit(&w, ",\"bytes_stored\":");
	ingest_jw_u64(&w, s.c.raw_bytes + s.c.results_bytes);
	ingest_jw_lit(&w, ",\"raw_bytes\":");
	ingest_jw_u64(&w, s.c.raw_bytes);
	ingest_jw_lit(&w, ",\"results_bytes\":");
	ingest_jw_u64(&w, s.c.results_bytes);
	ingest_jw_lit(&w, ",\"segments\":");
	ingest_jw_u64(&w, s.c.segments);
	ingest_jw_lit(&w, ",\"store_failed\":");
	ingest_jw_lit(&w, s.c.failed ? "true" : "false");
	ingest_jw_lit(&w, ",\"max_body\":");
	ingest_jw_u64(&w, (uint64_t)g->max_body);
	ingest_jw_lit(&w, ",\"zone\":");
	ingest_jw_str(&w, g->zone_name, strlen(g->zone_name));
	ingest_jw_lit(&w, ",\"retention_days\":");
	ingest_jw_u64(&w, (uint64_t)g->retention_days);
	ingest_jw_lit(&w, "}");
	reply_json(g, req, 200, &w);
}

static void prom_hist(struct trm_buf *out, const struct ingest *g, const char *name,
		      const struct lat *l)
{
	uint64_t cum = 0;
	for (size_t b = 0; b <= PROM_N; b++) {
		cum += l->prom[b];
		if (b < PROM_N)
			g->api->buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, prom_le[b],
					   (unsigned long long)cum);
		else
			g->api->buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
					   (unsigned long long)cum);
	}
	g->api->buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, l->sum_s, name,
			   (unsigned long long)l->count);
}

static void metrics(struct trm_buf *out, void *ud)
{
	struct ingest *g = ud;
	const struct trm_api *api = g->api;
	struct ingest_counts c;
	struct lat e2e, ack;
	ingest_store_counts(g->st, &c);
	pthread_mutex_lock(&g->mu);
	memcpy(e2e.prom, g->e2e.prom, sizeof(e2e.prom));
	e2e.sum_s = g->e2e.sum_s;
	e2e.count = g->e2e.count;
	memcpy(ack.prom, g->ack.prom, sizeof(ack.prom));
	ack.sum_s = g->ack.sum_s;
	ack.count = g->ack.count;
	pthread_mutex_unlock(&g->mu);
	api->buf_printf(out,
			"# HELP terrarium_ingest_submissions_total POSTed submissions by answer.\n"
			"# TYPE terrarium_ingest_submissions_total counter\n"
			"terrarium_ingest_submissions_total{status=\"accepted\"} %llu\n"
			"terrarium_ingest_submissions_total{status=\"rejected\"} %llu\n"
			"terrarium_ingest_submissions_total{status=\"too_large\"} %llu\n"
			"terrarium_ingest_submissions_total{status=\"error\"} %llu\n",
			atomic_load(&g->n_accepted), atomic_load(&g->n_rejected),
			atomic_load(&g->n_too_large), atomic_load(&g->n_error));
	api->buf_printf(out,
			"# HELP terrarium_ingest_processed_total Submissions the processor "
			"finished, by outcome.\n"
			"# TYPE terrarium_ingest_processed_total counter\n"
			"terrarium_ingest_processed_total{status=\"processed\"} %llu\n"
			"terrarium_ingest_processed_total{status=\"rejected\"} %llu\n"
			"terrarium_ingest_processed_total{status=\"failed\"} %llu\n",
			atomic_load(&g->n_processed), atomic_load(&g->n_proc_rejected),
			atomic_load(&g->n_proc_failed));
	api->buf_printf(out, "# HELP terrarium_ingest_samples Stored submissions by status.\n"
			     "# TYPE terrarium_ingest_samples gauge\n");
	for (int i = 0; i < INGEST_NSTATUS; i++)
		api->buf_printf(out, "terrarium_ingest_samples{status=\"%s\"} %llu\n",
				ingest_status_name((enum ingest_status)i),
				(unsigned long long)c.by_status[i]);
	api->buf_printf(out,
			"# HELP terrarium_ingest_queue_depth Submissions waiting for the processor.\n"
			"# TYPE terrarium_ingest_queue_depth gauge\n"
			"terrarium_ingest_queue_depth %llu\n"
			"# HELP terrarium_ingest_stored_bytes Bytes on disk.\n"
			"# TYPE terrarium_ingest_stored_bytes gauge\n"
			"terrarium_ingest_stored_bytes{kind=\"raw\"} %llu\n"
			"terrarium_ingest_stored_bytes{kind=\"results\"} %llu\n"
			"# HELP terrarium_ingest_received_bytes_total Body bytes stored since start.\n"
			"# TYPE terrarium_ingest_received_bytes_total counter\n"
			"terrarium_ingest_received_bytes_total %llu\n"
			"# HELP terrarium_ingest_store_failed 1 once a sync failed (no more writes).\n"
			"# TYPE terrarium_ingest_store_failed gauge\n"
			"terrarium_ingest_store_failed %d\n",
			(unsigned long long)c.queued, (unsigned long long)c.raw_bytes,
			(unsigned long long)c.results_bytes, atomic_load(&g->bytes_received),
			c.failed);
	api->buf_printf(out, "# HELP terrarium_ingest_latency_seconds From receipt to processed.\n"
			     "# TYPE terrarium_ingest_latency_seconds histogram\n");
	prom_hist(out, g, "terrarium_ingest_latency_seconds", &e2e);
	api->buf_printf(out, "# HELP terrarium_ingest_ack_seconds From receipt to the durable "
			     "answer.\n# TYPE terrarium_ingest_ack_seconds histogram\n");
	prom_hist(out, g, "terrarium_ingest_ack_seconds", &ack);
}

static void tile_refresh(struct ingest *g)
{
	struct snapshot s;
	struct ingest_jw w;
	char desc[160];
	snapshot(g, &s);
	uint64_t errors = s.c.by_status[INGEST_REJECTED] + s.c.by_status[INGEST_FAILED];
	const char *status = s.c.failed ? "down"
			     : s.c.queued > QUEUE_DEGRADED || s.c.by_status[INGEST_FAILED] ? "degraded"
											    : "up";
	snprintf(desc, sizeof(desc), "%llu samples processed, %llu waiting",
		 (unsigned long long)s.c.by_status[INGEST_PROCESSED], (unsigned long long)s.c.queued);
	ingest_jw_init(&w, 4096);
	ingest_jw_lit(&w, "{\"title\":\"Ingest pipeline\",\"status\":\"");
	ingest_jw_lit(&w, status);
	ingest_jw_lit(&w, "\",\"description\":");
	ingest_jw_str(&w, desc, strlen(desc));
	ingest_jw_lit(&w, ",\"numbers\":{\"rate_per_s\":");
	ingest_jw_num(&w, round(s.rate1 * 10) / 10);
	ingest_jw_lit(&w, ",\"latency_p99_ms\":");
	ingest_jw_num(&w, round(s.e2e[2] * 100) / 100);
	ingest_jw_lit(&w, ",\"queue_depth\":");
	ingest_jw_u64(&w, s.c.queued);
	ingest_jw_lit(&w, ",\"errors\":");
	ingest_jw_u64(&w, errors);
	ingest_jw_lit(&w, "}}");
	const char *text = ingest_jw_text(&w, NULL);
	if (text)
		g->api->tile_set(g->ctx, text);
	ingest_jw_release(&w);
}

/* ---- the processor ---- */

struct proc {
	struct ingest *g;
	char ctype[INGEST_STORE_CTYPE_MAX + 1];
	struct ingest_body_parser *bp;
	int oom;
};

static int proc_feed(void *ud, const char *buf, size_t len)
{
	struct proc *p = ud;
	if (!p->bp) {
		p->bp = ingest_body_parser_create(p->ctype, &p->g->sopts);
		if (!p->bp)
			return -ENOMEM;
	}
	ingest_body_parser_feed(p->bp, buf, len);
	return 0;
}

/* Process one job into OUT; *ERRORS gets malloc'd JSON text or NULL. */
static void process_one(struct ingest *g, const struct ingest_job *job,
			struct ingest_sample_result *res, struct ingest_outcome *out, char **errors)
{
	struct proc p = { .g = g };
	struct ingest_jw w;
	*errors = NULL;
	if (ingest_early_take(g->early, job->id, out)) {
		out->processed_at = now_ns();
		return;
	}
	ingest_jw_init(&w, INGEST_STORE_ERRORS_MAX);
	memset(out, 0, sizeof(*out));
	int rc = ingest_store_read(g->st, job, p.ctype, proc_feed, &p);
	if (rc == 0 && !p.bp)
		rc = proc_feed(&p, "", 0); /* an empty body */
	if (rc == 0) {
		if (ingest_body_parser_finish(p.bp, res) == 0) {
			outcome_of(res, out);
		} else {
			out->status = INGEST_REJECTED;
			jw_errors(&w, res);
		}
	} else {
		out->status = INGEST_FAILED;
		ingest_jw_lit(&w, rc == -EBADMSG ? "[\"raw record damaged: CRC mismatch\"]"
			      : rc == -ENOMEM ? "[\"out of memory processing the sample\"]"
					      : "[\"raw record cannot be read back\"]");
	}
	out->processed_at = now_ns();
	const char *text = ingest_jw_text(&w, NULL);
	if (out->status != INGEST_PROCESSED && text)
		*errors = strdup(text);
	out->errors = *errors;
	ingest_jw_release(&w);
	ingest_body_parser_destroy(p.bp);
}

static void processor(struct trm_task *task, void *ud)
{
	struct ingest *g = ud;
	const struct trm_api *api = g->api;
	struct ingest_job *jobs = calloc(BATCH, sizeof(*jobs));
	struct ingest_outcome *outs = calloc(BATCH, sizeof(*outs));
	char **errs = calloc(BATCH, sizeof(*errs));
	struct ingest_sample_result *res = malloc(sizeof(*res));
	double last_tile = 0, last_sync = mono_s(), last_prune = 0;
	if (!jobs || !outs || !errs || !res) {
		api->log(g->ctx, TRM_LOG_ERROR, "processor out of memory", NULL);
		goto out;
	}
	while (!api->task_should_stop(task)) {
		size_t n = ingest_store_take(g->st, jobs, BATCH);
		for (size_t i = 0; i < n; i++)
			process_one(g, &jobs[i], res, &outs[i], &errs[i]);
		if (n && ingest_store_done(g->st, jobs, outs, n) < 0)
			api->log(g->ctx, TRM_LOG_WARN, "cannot append to the results log", NULL);
		if (n) {
			int64_t now = now_ns();
			uint64_t ok = 0, bad = 0, failed = 0;
			pthread_mutex_lock(&g->mu);
			for (size_t i = 0; i < n; i++) {
				ok += outs[i].status == INGEST_PROCESSED;
				bad += outs[i].status == INGEST_REJECTED;
				failed += outs[i].status == INGEST_FAILED;
				if (outs[i].status == INGEST_PROCESSED)
					lat_add(&g->e2e,
						(double)(outs[i].processed_at - jobs[i].received_at) /
							1e9,
						now / 60000000000);
			}
			ring_note(g, now / 1000000000, 0, (uint32_t)(ok + bad + failed));
			pthread_mutex_unlock(&g->mu);
			atomic_fetch_add(&g->n_processed, ok);
			atomic_fetch_add(&g->n_proc_rejected, bad);
			atomic_fetch_add(&g->n_proc_failed, failed);
			for (size_t i = 0; i < n; i++) {
				free(errs[i]);
				errs[i] = NULL;
			}
		}
		double t = mono_s();
		if (t - last_sync >= SYNC_EVERY_S && ingest_store_sync(g->st) == 0)
			last_sync = t;
		if (t - last_tile >= TILE_EVERY_S) {
			tile_refresh(g);
			last_tile = t;
		}
		if (g->retention_days > 0 && t - last_prune >= PRUNE_EVERY_S) {
			uint64_t removed = 0;
			int64_t cutoff = now_ns() - g->retention_days * 86400ll * 1000000000ll;
			if (ingest_store_prune(g->st, cutoff, &removed) < 0)
				api->log(g->ctx, TRM_LOG_WARN, "cannot prune old submissions", NULL);
			else if (removed) {
				char nb[32];
				snprintf(nb, sizeof(nb), "%llu", (unsigned long long)removed);
				api->log(g->ctx, TRM_LOG_INFO, "pruned old submissions", "removed",
					 nb, NULL);
			}
			last_prune = t;
		}
		if (n == 0) {
			/* POSTs wake the processor only when it says it is idle; the
			 * queue is looked at again after saying so. */
			atomic_store(&g->idle, 1);
			if (ingest_store_queued(g->st) == 0)
				api->task_sleep(task, IDLE_SLEEP_MS);
			atomic_store(&g->idle, 0);
		} else if (n < BATCH) {
			api->task_sleep(task, GATHER_MS);
		}
	}
	ingest_store_sync(g->st);
out:
	free(jobs);
	free(outs);
	free(errs);
	free(res);
}

/* ---- the catalog ---- */

static void emit_catalog(struct ingest *g)
{
	char err[512];
	struct ingest_jw w;
	const char *dir = g->api->data_dir(g->ctx);
	ingest_jw_init(&w, 65536);
	ingest_jw_lit(&w,
		"{\"entities\":["
		"{\"kind\":\"dataset\",\"namespace\":\"" NS "\",\"name\":\"raw_samples\","
		"\"platform\":\"terrarium\",\"subtype\":\"raw\",\"display_name\":\"Raw samples\","
		"\"description\":\"Every submission exactly as it was sent, durably stored before "
		"it is acknowledged (POST /api/v1/ingest/samples).\","
		"\"properties\":{\"path\":");
	ingest_jw_str(&w, dir, strlen(dir));
	ingest_jw_lit(&w, ",\"max_body\":");
	ingest_jw_u64(&w, (uint64_t)g->max_body);
	ingest_jw_lit(&w, ",\"retention_days\":");
	ingest_jw_u64(&w, (uint64_t)g->retention_days);
	ingest_jw_lit(&w,
		"},\"fields\":["
		"{\"name\":\"submission_id\",\"type\":\"uuid\",\"nullable\":false,\"ordinal\":1,"
		"\"description\":\"random (v4) id given in the 201 answer\"},"
		"{\"name\":\"received_at\",\"type\":\"timestamp\",\"nullable\":false,\"ordinal\":2},"
		"{\"name\":\"content_type\",\"type\":\"string\",\"ordinal\":3},"
		"{\"name\":\"body\",\"type\":\"bytes\",\"nullable\":false,\"ordinal\":4,"
		"\"description\":\"JSON sample, or multipart form data holding it\"}]},"
		"{\"kind\":\"job\",\"namespace\":\"" NS "\",\"name\":\"processor\","
		"\"platform\":\"terrarium\",\"subtype\":\"task\",\"display_name\":\"Ingest processor\","
		"\"description\":\"Reads each raw sample back, validates it, normalises its time "
		"stamp to UTC and computes the mean and population standard deviation of data.\","
		"\"properties\":{\"zone\":");
	ingest_jw_str(&w, g->zone_name, strlen(g->zone_name));
	ingest_jw_lit(&w,
		"}},"
		"{\"kind\":\"dataset\",\"namespace\":\"" NS "\",\"name\":\"results\","
		"\"platform\":\"terrarium\",\"subtype\":\"table\",\"display_name\":\"Sample results\","
		"\"description\":\"One row per processed sample (GET /api/v1/ingest/results).\","
		"\"fields\":["
		"{\"name\":\"submission_id\",\"type\":\"uuid\",\"nullable\":false,\"ordinal\":1},"
		"{\"name\":\"time_stamp_utc\",\"type\":\"timestamp\",\"nullable\":false,\"ordinal\":2},"
		"{\"name\":\"mean\",\"type\":\"double\",\"nullable\":false,\"ordinal\":3},"
		"{\"name\":\"standard_deviation\",\"type\":\"double\",\"nullable\":false,"
		"\"ordinal\":4,\"description\":\"population standard deviation\"},"
		"{\"name\":\"count\",\"type\":\"integer\",\"nullable\":false,\"ordinal\":5},"
		"{\"name\":\"processed_at\",\"type\":\"timestamp\",\"nullable\":false,"
		"\"ordinal\":6}]}],"
		"\"edges\":["
		"{\"src\":\"" RAW_ID "\",\"dst\":\"" JOB_ID "\",\"kind\":\"lineage\"},"
		"{\"src\":\"" JOB_ID "\",\"dst\":\"" RESULTS_ID "\",\"kind\":\"lineage\"}]}");
	const char *text = ingest_jw_text(&w, NULL);
	if (!text || g->api->emit(g->ctx, text, err, sizeof(err)) < 0)
		g->api->log(g->ctx, TRM_LOG_WARN, "cannot describe the pipeline in the catalog",
			    "detail", text ? err : "out of memory", NULL);
	ingest_jw_release(&w);
}

/* ---- the descriptor ---- */

/*
 * Setting KEY as a size: an integer (bytes) or a string "65536", "64KiB",
 * "8MiB", "1GiB" (as http.max_body takes).  DEF when absent; -1 when it is
 * a string that is not a size.
 */
static long long config_size(struct ingest *g, const char *key, long long def)
{
	const char *s = g->api->config_string(g->ctx, key, NULL);
	if (!s)
		return g->api->config_int(g->ctx, key, def);
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	long long unit = 1;
	if (strcmp(end, "KiB") == 0)
		unit = 1ll << 10;
	else if (strcmp(end, "MiB") == 0)
		unit = 1ll << 20;
	else if (strcmp(end, "GiB") == 0)
		unit = 1ll << 30;
	else if (*end)
		return -1;
	if (errno || end == s || v <= 0 || v > (1ll << 50) / unit)
		return -1;
	return v * unit;
}

static int init(struct trm_plugin_ctx *ctx, const struct trm_api *api)
{
	char err[512], num[32];
	struct ingest *g = calloc(1, sizeof(*g));
	if (!g) {
		api->log(ctx, TRM_LOG_ERROR, "out of memory", NULL);
		return -1;
	}
	g->api = api;
	g->ctx = ctx;
	g->started_mono = mono_s();
	pthread_mutex_init(&g->mu, NULL);
	g->max_body = config_size(g, "max_body", DEFAULT_MAX_BODY);
	g->retention_days = api->config_int(ctx, "retention_days", 0);
	long long seg = config_size(g, "segment_bytes", (long long)INGEST_STORE_SEGMENT_DEFAULT);
	const char *zone = api->config_string(ctx, "zone", INGEST_TS_DEFAULT_ZONE);
	if (g->max_body <= 0 || g->retention_days < 0 || seg < 4096) {
		api->log(ctx, TRM_LOG_ERROR, "bad settings: max_body must be a positive size, "
					     "segment_bytes at least 4096, retention_days not negative",
			 NULL);
		goto fail;
	}
	snprintf(g->zone_name, sizeof(g->zone_name), "%s", zone);
	if (ingest_ts_zone_load(NULL, g->zone_name, &g->zone, err, sizeof(err)) < 0) {
		api->log(ctx, TRM_LOG_ERROR, "bad setting zone", "detail", err, NULL);
		goto fail;
	}
	g->sopts.zone = g->zone;
	g->early = ingest_early_create(EARLY_SLOTS);
	if (!g->early) {
		api->log(ctx, TRM_LOG_ERROR, "out of memory", NULL);
		goto fail;
	}
	struct ingest_store_opts so = { .segment_max = (uint64_t)seg };
	g->st = ingest_store_open(api->data_dir(ctx), &so, err, sizeof(err));
	if (!g->st) {
		api->log(ctx, TRM_LOG_ERROR, "cannot open the ingest store", "detail", err, NULL);
		goto fail;
	}
	struct ingest_counts c;
	ingest_store_counts(g->st, &c);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)c.queued);
	char total[32];
	snprintf(total, sizeof(total), "%llu",
		 (unsigned long long)(c.by_status[0] + c.by_status[1] + c.by_status[2] +
				      c.by_status[3]));
	api->log(ctx, TRM_LOG_INFO, "ingest store opened", "dir", api->data_dir(ctx), "samples",
		 total, "queued", num, "zone", g->zone_name, NULL);
	if (c.torn_cut || c.torn_bytes || c.damaged) {
		char cut[32], bytes[32], damaged[32];
		snprintf(cut, sizeof(cut), "%llu", (unsigned long long)c.torn_cut);
		snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)c.torn_bytes);
		snprintf(damaged, sizeof(damaged), "%llu", (unsigned long long)c.damaged);
		api->log(ctx, c.damaged ? TRM_LOG_WARN : TRM_LOG_INFO,
			 "ingest store repaired after a crash", "torn_records_cut", cut,
			 "torn_bytes_cut", bytes, "damaged_records", damaged, NULL);
	}
	/* Past this point handlers may run: on a failure the state stays. */
	the = g;
	if (api->route(ctx, "POST", "/samples", TRM_SCOPE_INGEST, post_sample, g) < 0 ||
	    api->route(ctx, "GET", "/samples/{id}", TRM_SCOPE_INGEST, get_sample, g) < 0 ||
	    api->route(ctx, "DELETE", "/samples/{id}", TRM_SCOPE_ADMIN, delete_sample, g) < 0 ||
	    api->route(ctx, "GET", "/samples/{id}/raw", TRM_SCOPE_INGEST, get_raw, g) < 0 ||
	    api->route(ctx, "GET", "/results", TRM_SCOPE_INGEST, get_results, g) < 0 ||
	    api->route(ctx, "GET", "/stats", TRM_SCOPE_INGEST, get_stats, g) < 0 ||
	    api->route(ctx, "POST", "//raw", TRM_SCOPE_INGEST, post_sample, g) < 0 ||
	    api->route(ctx, "GET", "//raw/{id}", TRM_SCOPE_INGEST, get_raw, g) < 0 ||
	    api->route(ctx, "GET", "//processed/fetch", TRM_SCOPE_INGEST, get_results, g) < 0 ||
	    api->metrics_add(ctx, metrics, g) < 0) {
		api->log(ctx, TRM_LOG_ERROR, "cannot register the ingest routes", NULL);
		return -1;
	}
	emit_catalog(g);
	tile_refresh(g);
	if (api->task_start(ctx, "ingest-processor", processor, g) < 0) {
		api->log(ctx, TRM_LOG_ERROR, "cannot start the ingest processor", NULL);
		return -1;
	}
	return 0;
fail:
	ingest_early_destroy(g->early);
	ingest_ts_zone_destroy(g->zone);
	pthread_mutex_destroy(&g->mu);
	free(g);
	return -1;
}

static void fini(struct trm_plugin_ctx *ctx)
{
	(void)ctx;
	struct ingest *g = the;
	if (!g)
		return;
	the = NULL;
	ingest_store_close(g->st);
	ingest_early_destroy(g->early);
	ingest_ts_zone_destroy(g->zone);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

const struct trm_plugin ingest_plugin = {
	.abi = TRM_PLUGIN_ABI,
	.name = "ingest",
	.version = "1.0.0",
	.description = "ingest/stats pipeline: durable raw samples, UTC time stamps, mean and "
		       "standard deviation",
	.init = init,
	.fini = fini,
};
