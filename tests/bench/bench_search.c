/*
 * bench_search: time a set of search queries three ways, for tests/bench/run.sh.
 *
 *   bench_search sql  CATALOG.DB QUERIES [-t THREADS] [-r REPS | -d SECONDS]
 *   bench_search sqlall CATALOG.DB QUERIES [-t THREADS] [-r REPS | -d SECONDS]
 *   bench_search api  CATALOG.DB QUERIES [-t THREADS] [-r REPS | -d SECONDS]
 *   bench_search http BASE_URL   QUERIES [-t THREADS] [-r REPS | -d SECONDS]
 *
 * QUERIES holds one query text a line.  Each mode first runs every query once
 * (warm-up, not counted), then each thread cycles through the queries (thread
 * k starting at query k) REPS times, or for SECONDS.
 *
 *  sql   the FTS5 query run directly on the file with the SQLite library, no
 *        Terrarium code in the loop except search_fts_expr(), which builds the
 *        same MATCH expression the server does, bounded as the server bounds
 *        it: the exact-name lookup the server makes, then the newest
 *        SEARCH_FACET_SCAN matches joined to entities, of which the best 20
 *        by FTS5's own bm25() with the server's column weights:
 *          SELECT eid FROM entities WHERE name_lc = ?1 OR short_lc = ?1 OR id = ?2 LIMIT 20
 *          SELECT id, name, description FROM (SELECT e.id, e.name, e.description,
 *            bm25(entity_fts, 10, 6, 1, 3, 4, 2, 2) AS score FROM entity_fts
 *            JOIN entities e ON e.eid = entity_fts.rowid WHERE entity_fts MATCH ?1
 *            ORDER BY entity_fts.rowid DESC LIMIT SEARCH_FACET_SCAN)
 *          ORDER BY score LIMIT 20
 *        (no facets, highlights or exact-first order: less than the server does)
 *  sqlall  the same, ranking every match by bm25() (no bound: what a
 *        hand-written query does; the baseline before the scan was bounded)
 *  api   search_run_text() in this process: everything the server does for
 *        /api/v1/search except HTTP (the answer's JSON text included).
 *  http  GET BASE_URL/api/v1/search?q=... over keep-alive connections (libcurl).
 *
 * Prints one line per query (median and p99 over its samples, and the hit
 * count the mode saw), then a line the script parses:
 *   summary mode=sql threads=1 samples=N p50_ms=X p99_ms=Y max_ms=Z qps=Q cpu_ms_per_q=C
 * where C is this process's CPU time (user + system, all threads) over the
 * timed part divided by the samples: in the sql and api modes it is the cost
 * of a query without the waiting a busy machine adds to the latencies.
 * Exit status 0, 1 on any failure (an HTTP status other than 200 included).
 */
#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "catalog/catalog.h"
#include "catalog/search.h"

#define MAX_QUERIES 256
#define MAX_THREADS 64

enum mode { M_SQL, M_SQLALL, M_API, M_HTTP };

struct sample {
	double ms;
	int query;
};

struct shared {
	enum mode mode;
	const char *target;            /* catalog path or base URL */
	struct catalog *cat;           /* api mode */
	char *queries[MAX_QUERIES];
	int n_queries;
	long reps;                     /* per thread, or 0 with seconds */
	double seconds;
	double t_end;
	long hits[MAX_QUERIES];        /* from the warm-up pass */
};

struct worker {
	struct shared *sh;
	int index;
	struct sample *s;
	size_t n, cap;
	int failed;
	pthread_t th;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char sql_exact[] =
	"SELECT eid FROM entities WHERE name_lc = ?1 OR short_lc = ?1 OR id = ?2 LIMIT 20";
static const char sql_fts_all[] =
	"SELECT e.id, e.name, e.description FROM entity_fts JOIN entities e"
	" ON e.eid = entity_fts.rowid WHERE entity_fts MATCH ?1"
	" ORDER BY bm25(entity_fts, 10.0, 6.0, 1.0, 3.0, 4.0, 2.0, 2.0) LIMIT 20";
static const char sql_fts_bounded[] =
	"SELECT id, name, description FROM (SELECT e.id, e.name, e.description,"
	" bm25(entity_fts, 10.0, 6.0, 1.0, 3.0, 4.0, 2.0, 2.0) AS score FROM entity_fts"
	" JOIN entities e ON e.eid = entity_fts.rowid WHERE entity_fts MATCH ?1"
	" ORDER BY entity_fts.rowid DESC LIMIT ?2) ORDER BY score LIMIT 20";

/* One connection's worth of state for a mode. */
struct conn {
	sqlite3 *db;
	sqlite3_stmt *exact, *fts;
	CURL *curl;
	size_t body;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct conn *c = ud;

	(void)p;
	c->body += size * n;
	return size * n;
}

static int conn_open(struct shared *sh, struct conn *c)
{
	memset(c, 0, sizeof(*c));
	if (sh->mode == M_SQL || sh->mode == M_SQLALL) {
		if (sqlite3_open_v2(sh->target, &c->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(c->db, sql_exact, -1, &c->exact, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(c->db, sh->mode == M_SQL ? sql_fts_bounded : sql_fts_all, -1,
				       &c->fts, NULL) != SQLITE_OK) {
			fprintf(stderr, "bench_search: cannot open '%s': %s\n", sh->target,
				c->db ? sqlite3_errmsg(c->db) : "no memory");
			return -1;
		}
	} else if (sh->mode == M_HTTP) {
		c->curl = curl_easy_init();
		if (!c->curl)
			return -1;
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	sqlite3_finalize(c->exact);
	sqlite3_finalize(c->fts);
	sqlite3_close(c->db);
	if (c->curl)
		curl_easy_cleanup(c->curl);
}

/* Run query Q once; *HITS gets what it found.  0 or -1. */
static int run_one(struct shared *sh, struct conn *c, const char *q, long *hits)
{
	char expr[4 * 512 + 8], lc[512 + 1];
	int rc;

	*hits = 0;
	if (sh->mode == M_SQL || sh->mode == M_SQLALL) {
		size_t i;

		for (i = 0; q[i] && i < sizeof(lc) - 1; i++)
			lc[i] = (char)(q[i] >= 'A' && q[i] <= 'Z' ? q[i] + 32 : q[i]);
		lc[i] = '\0';
		if (search_fts_expr(q, expr, sizeof(expr)) != 0)
			return -1;
		sqlite3_reset(c->exact);
		sqlite3_bind_text(c->exact, 1, lc, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(c->exact, 2, q, -1, SQLITE_TRANSIENT);
		while ((rc = sqlite3_step(c->exact)) == SQLITE_ROW)
			(*hits)++;
		if (rc != SQLITE_DONE)
			goto sqlfail;
		if (!*expr)
			return 0;
		sqlite3_reset(c->fts);
		sqlite3_bind_text(c->fts, 1, expr, -1, SQLITE_TRANSIENT);
		if (sh->mode == M_SQL)
			sqlite3_bind_int(c->fts, 2, SEARCH_FACET_SCAN);
		while ((rc = sqlite3_step(c->fts)) == SQLITE_ROW) {
			/* Touch the columns, as a caller showing the hit would. */
			(void)sqlite3_column_text(c->fts, 0);
			(void)sqlite3_column_text(c->fts, 1);
			(void)sqlite3_column_text(c->fts, 2);
			(*hits)++;
		}
		if (rc != SQLITE_DONE)
			goto sqlfail;
		return 0;
sqlfail:
		fprintf(stderr, "bench_search: query '%s': %s\n", q, sqlite3_errmsg(c->db));
		return -1;
	}
	if (sh->mode == M_API) {
		struct search_query sq = { .q = q, .stale = -1 };
		char err[256] = "", *out = NULL, *total;
		size_t len = 0;

		if (search_run_text(sh->cat, &sq, &out, &len, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_search: query '%s': %s\n", q, err);
			return -1;
		}
		/* {"query":"...","total":N,...: inside the query's string a quote is
		 * escaped, so the first ,"total": is the key. */
		total = strstr(out, ",\"total\":");
		*hits = total ? strtol(total + 9, NULL, 10) : -1;
		free(out);
		return 0;
	}
	{
		char url[4096];
		char *esc = curl_easy_escape(c->curl, q, 0);
		long status = 0;
		CURLcode cc;

		if (!esc)
			return -1;
		snprintf(url, sizeof(url), "%s/api/v1/search?q=%s", sh->target, esc);
		curl_free(esc);
		curl_easy_setopt(c->curl, CURLOPT_URL, url);
		c->body = 0;
		cc = curl_easy_perform(c->curl);
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (cc != CURLE_OK || status != 200) {
			fprintf(stderr, "bench_search: GET %s: %s, status %ld\n", url,
				curl_easy_strerror(cc), status);
			return -1;
		}
		*hits = (long)c->body; /* bytes: the HTTP mode reports response size */
		return 0;
	}
}

static int push(struct worker *w, double ms, int query)
{
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 1024;
		struct sample *ns = realloc(w->s, ncap * sizeof(*ns));

		if (!ns)
			return -1;
		w->s = ns;
		w->cap = ncap;
	}
	w->s[w->n++] = (struct sample){ ms, query };
	return 0;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct conn c;
	long hits;

	if (conn_open(sh, &c) < 0) {
		w->failed = 1;
		goto out;
	}
	for (long k = 0;; k++) {
		int q = (int)((w->index + k) % sh->n_queries);
		double t0;

		if (sh->reps ? k >= sh->reps * sh->n_queries : now_s() >= sh->t_end)
			break;
		t0 = now_s();
		if (run_one(sh, &c, sh->queries[q], &hits) < 0 ||
		    push(w, (now_s() - t0) * 1e3, q) < 0) {
			w->failed = 1;
			break;
		}
	}
out:
	conn_close(&c);
	return NULL;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted V[N]. */
static double pct(const double *v, size_t n, double p)
{
	size_t k;

	if (!n)
		return 0;
	k = (size_t)ceil(p * (double)n);
	return v[k ? k - 1 : 0];
}

static int usage(void)
{
	fputs("usage: bench_search sql|sqlall|api|http CATALOG.DB|BASE_URL QUERIES [-t THREADS]"
	      " [-r REPS | -d SECONDS]\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	static struct shared sh;
	static struct worker workers[MAX_THREADS];
	static const char *const mode_names[] = { "sql", "sqlall", "api", "http" };
	int threads = 1, rc = 1;
	double *all = NULL, *per = NULL, t0, wall, c0, cpu;
	size_t total = 0;
	FILE *f = NULL;
	char line[1024];
	char err[512];

	if (argc < 4)
		return usage();
	if (!strcmp(argv[1], "sql"))
		sh.mode = M_SQL;
	else if (!strcmp(argv[1], "sqlall"))
		sh.mode = M_SQLALL;
	else if (!strcmp(argv[1], "api"))
		sh.mode = M_API;
	else if (!strcmp(argv[1], "http"))
		sh.mode = M_HTTP;
	else
		return usage();
	sh.target = argv[2];
	sh.reps = 10;
	for (int a = 4; a < argc; a += 2) {
		if (a + 1 >= argc)
			return usage();
		if (!strcmp(argv[a], "-t"))
			threads = atoi(argv[a + 1]);
		else if (!strcmp(argv[a], "-r"))
			sh.reps = atol(argv[a + 1]), sh.seconds = 0;
		else if (!strcmp(argv[a], "-d"))
			sh.seconds = atof(argv[a + 1]), sh.reps = 0;
		else
			return usage();
	}
	if (threads < 1 || threads > MAX_THREADS || (sh.reps <= 0 && sh.seconds <= 0))
		return usage();
	if (!(f = fopen(argv[3], "r"))) {
		fprintf(stderr, "bench_search: cannot read '%s': %s\n", argv[3], strerror(errno));
		goto out;
	}
	while (fgets(line, sizeof(line), f) && sh.n_queries < MAX_QUERIES) {
		line[strcspn(line, "\r\n")] = '\0';
		if (*line && !(sh.queries[sh.n_queries++] = strdup(line)))
			goto out;
	}
	if (!sh.n_queries) {
		fprintf(stderr, "bench_search: no queries in '%s'\n", argv[3]);
		goto out;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* As `terrarium serve` does at start (hub/main.c). */
	if (sh.mode == M_API)
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (sh.mode == M_API && !(sh.cat = catalog_open(sh.target, err, sizeof(err)))) {
		fprintf(stderr, "bench_search: %s\n", err);
		goto out;
	}

	/* Warm-up: every query once, recording what it finds. */
	{
		struct conn c;

		if (conn_open(&sh, &c) < 0)
			goto out;
		for (int q = 0; q < sh.n_queries; q++)
			if (run_one(&sh, &c, sh.queries[q], &sh.hits[q]) < 0) {
				conn_close(&c);
				goto out;
			}
		conn_close(&c);
	}

	t0 = now_s();
	c0 = cpu_s();
	sh.t_end = t0 + sh.seconds;
	for (int t = 0; t < threads; t++) {
		workers[t] = (struct worker){ .sh = &sh, .index = t };
		if (pthread_create(&workers[t].th, NULL, work, &workers[t]) != 0) {
			fprintf(stderr, "bench_search: cannot start thread %d\n", t);
			threads = t;
			for (int k = 0; k < threads; k++)
				pthread_join(workers[k].th, NULL);
			goto out;
		}
	}
	for (int t = 0; t < threads; t++)
		pthread_join(workers[t].th, NULL);
	wall = now_s() - t0;
	cpu = cpu_s() - c0;
	for (int t = 0; t < threads; t++) {
		if (workers[t].failed)
			goto out;
		total += workers[t].n;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	per = malloc((total ? total : 1) * sizeof(*per));
	if (!all || !per)
		goto out;
	total = 0;
	for (int t = 0; t < threads; t++)
		for (size_t i = 0; i < workers[t].n; i++)
			all[total++] = workers[t].s[i].ms;
	qsort(all, total, sizeof(*all), cmp_double);

	printf("%-44s %9s %9s %9s\n", "query", "p50 ms", "p99 ms",
	       sh.mode == M_SQL || sh.mode == M_SQLALL ? "rows" : sh.mode == M_API ? "total" : "bytes");
	for (int q = 0; q < sh.n_queries; q++) {
		size_t n = 0;

		for (int t = 0; t < threads; t++)
			for (size_t i = 0; i < workers[t].n; i++)
				if (workers[t].s[i].query == q)
					per[n++] = workers[t].s[i].ms;
		qsort(per, n, sizeof(*per), cmp_double);
		printf("%-44.44s %9.2f %9.2f %9ld\n", sh.queries[q], pct(per, n, 0.5),
		       pct(per, n, 0.99), sh.hits[q]);
	}
	printf("summary mode=%s threads=%d samples=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "qps=%.1f cpu_ms_per_q=%.3f\n", mode_names[sh.mode], threads, total,
	       pct(all, total, 0.5), pct(all, total, 0.99), total ? all[total - 1] : 0.0,
	       (double)total / wall, total ? cpu * 1e3 / (double)total : 0.0);
	rc = 0;
out:
	if (f)
		fclose(f);
	for (int t = 0; t < MAX_THREADS; t++)
		free(workers[t].s);
	for (int q = 0; q < sh.n_queries; q++)
		free(sh.queries[q]);
	free(all);
	free(per);
	catalog_close(sh.cat);
	return rc;
}
