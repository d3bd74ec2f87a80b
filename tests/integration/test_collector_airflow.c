/*
 * The Airflow collector (lua/collectors/airflow.lua) against the answers of a
 * real Airflow 2.5.3 webserver (../shared/fixtures/airflow, /api/v1 with
 * basic auth), replayed over real HTTP by tests/lib/replay.h, run the way a
 * user runs it: `terrarium collect airflow --json --config CFG --data DIR`
 * with the real binary ($TERRARIUM_BIN, default build/terrarium).  What it
 * wrote is read back from DIR/catalog.db through the catalog API.
 *
 *   1. a crawl with one DAG and one dataset per page: DAGs with owners,
 *      schedule, tags, paused and their recent runs; tasks and their
 *      dependencies; datasets with the task that produces them and the DAG
 *      that consumes them (producer_orders.publish_orders ->
 *      s3://demo-bucket/raw/orders.parquet -> consumer_reporting); the health
 *      and version on the tile; the requests it made (paging, auth);
 *   2. without credentials, or with a wrong password: the recorded 401;
 *   3. health read from the JSON, never from the HTTP status, and failed runs
 *      on the tile: answers derived from the recordings by changing one value
 *      (a state, a status), added as routes of the replay server;
 *   4. bad peers (garbage, truncated JSON, a cut connection, a 500, a slow
 *      answer, no answer, health that is not JSON, nothing listening): the run
 *      fails within its timeout naming the reason, the catalog is unchanged;
 *   5. the collector's own Lua tests (Airflow 3's /api/v2, odd answers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/lineage.h"
#include "tests/lib/replay.h"

#define FIXTURES "../shared/fixtures/airflow"
#define RUN_MS 60000   /* one `terrarium collect` */
#define CREDS "user = \"admin\", password = \"admin\""

static struct replay_server *srv;
static char dir[256];
static char data_dir[300];
static char cfg_path[300];
static char ns[64];            /* "airflow://127.0.0.1:PORT" */
static char out_path[300], err_path[300];

/* --- processes ---------------------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run ARGV with stdout into OUT_FILE and stderr into ERR_FILE, at most
 * LIMIT_MS (then killed).  The exit status, or -1. */
static int run_bounded(const char *const *argv, const char *out_file, const char *err_file,
		       long limit_ms)
{
	long long deadline = now_ms() + limit_ms;
	int status = 0, fd;
	pid_t pid, w;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		close(fd);
		fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, 2);
		close(fd);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0)
			return -1;
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "%s: killed after %ld ms\n", argv[0], limit_ms);
			return -1;
		}
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf)
			buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

static const char *bin(void)
{
	const char *b = getenv("TERRARIUM_BIN");

	return b && *b ? b : "build/terrarium";
}

/* `terrarium collect airflow --json --config CFG_PATH --data DATA_DIR`: the exit
 * status; *OUT and *ERRTEXT (may be NULL) get stdout and stderr, malloc'd. */
static int collect(char **out, char **errtext)
{
	const char *argv[] = { bin(), "collect", "airflow", "--json", "--config", cfg_path, "--data",
			       data_dir, NULL };
	int rc = run_bounded(argv, out_path, err_path, RUN_MS);
	char *text = slurp(out_path), *etext = slurp(err_path);

	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "terrarium collect airflow exited %d:\n%s\n", rc, etext ? etext : "");
	if (out)
		*out = text;
	else
		free(text);
	if (errtext)
		*errtext = etext;
	else
		free(etext);
	return rc;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* The config: the replay server's URL plus EXTRA keys (Lua). */
static void write_config(const char *url, const char *extra)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "-- written by test_collector_airflow\n"
		 "plugins = {\n"
		 "  airflow = { timeout = 50, url = \"%s\", %s },\n"
		 "}\n",
		 url, extra ? extra : "");
	write_file(cfg_path, text);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* --- the catalog -------------------------------------------------------------------- */

static struct catalog *open_catalog(void)
{
	char path[400], err[256] = "";
	struct catalog *cat;

	snprintf(path, sizeof(path), "%s/catalog.db", data_dir);
	cat = catalog_open(path, err, sizeof(err));
	if (!cat)
		fail_msg("cannot open %s: %s", path, err);
	return cat;
}

/* "KIND:airflow://127.0.0.1:PORT:NAME" (one of 8 rotating buffers). */
static const char *mid(const char *kind, const char *name)
{
	static char ids[8][CATALOG_ID_MAX + 1];
	static int next;
	char *id = ids[next++ % 8];

	snprintf(id, CATALOG_ID_MAX + 1, "%s:%s:%s", kind, ns, name);
	return id;
}

static json_t *entity(struct catalog *cat, const char *id)
{
	json_t *doc = NULL;
	int rc = catalog_entity_get(cat, id, &doc);

	if (rc != 0)
		fail_msg("entity '%s' not in the catalog (%d)", id, rc);
	return doc;
}

static const char *str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("'%s' is not a string", key);
	return json_string_value(v);
}

static json_t *prop(const json_t *doc, const char *key)
{
	return json_object_get(json_object_get(doc, "properties"), key);
}

static int linked(const json_t *doc, const char *key, const char *id, const char *kind)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(doc, key), i, e)
		if (strcmp(str(e, "id"), id) == 0 && strcmp(str(e, "kind"), kind) == 0)
			return 1;
	return 0;
}

static void assert_json_eq(const json_t *got, const char *want_text)
{
	json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);

	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		fail_msg("expected %s, got %s", want_text, g ? g : "(nothing)");
	}
	json_decref(want);
}

/* The whole catalog as catalog_export() writes it (malloc'd). */
static char *export_text(void)
{
	struct catalog *cat = open_catalog();
	char err[256] = "", *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (catalog_export(cat, f, err, sizeof(err)) < 0)
		fail_msg("export: %s", err);
	fclose(f);
	catalog_close(cat);
	return buf;
}

/* --- setup ---------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct replay_config rc = { .flavor = REPLAY_AIRFLOW, .dir = FIXTURES, .user = "admin",
				    .password = "admin" };
	char err[512] = "";
	(void)state;

	snprintf(dir, sizeof(dir), "/tmp/terrarium-airflow-XXXXXX");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	snprintf(out_path, sizeof(out_path), "%s/collect.out", dir);
	snprintf(err_path, sizeof(err_path), "%s/collect.err", dir);
	snprintf(cfg_path, sizeof(cfg_path), "%s/terrarium.lua", dir);
	srv = replay_start(&rc, err, sizeof(err));
	if (!srv) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	snprintf(ns, sizeof(ns), "airflow://127.0.0.1:%d", replay_port(srv));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	replay_stop(srv);
	if (dir[0] && !getenv("TEST_KEEP"))
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* Serve GET TARGET with STATUS and DOC (its reference is taken). */
static void route_json(const char *target, int status, json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2));

	assert_non_null(text);
	assert_int_equal(replay_add(srv, "GET", target, status, "application/json", text,
				    strlen(text)), 0);
	free(text);
	json_decref(doc);
}

/* A recorded answer, to edit (new reference). */
static json_t *recorded(const char *file)
{
	char path[300];
	json_error_t jerr;
	json_t *doc;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, file);
	doc = json_load_file(path, 0, &jerr);
	if (!doc)
		fail_msg("%s: %s", path, jerr.text);
	return doc;
}

/* Whether the lineage around ROOT (DIRECTION, DEPTH) holds ID at DEPTH_OF_ID. */
static int in_lineage(struct catalog *cat, const char *root, enum lineage_direction direction,
		      int depth, const char *id, int depth_of_id)
{
	struct lineage_query q = { .node_id = root, .depth = depth, .direction = direction,
				   .hop_cap = 100 };
	struct lineage_graph *g = NULL;
	char err[256] = "";
	int found = 0;

	if (lineage_query(cat, &q, &g, err, sizeof(err)) != 0)
		fail_msg("lineage of %s: %s", root, err);
	for (size_t i = 0; i < g->n_nodes; i++)
		if (strcmp(g->nodes[i].id, id) == 0 && g->nodes[i].depth == depth_of_id)
			found = 1;
	lineage_graph_destroy(g);
	return found;
}

/* --- 1. the crawl ----------------------------------------------------------------------- */

static void test_crawl(void **state)
{
	struct catalog *cat;
	json_t *d, *batch, *tile, *num;
	struct replay_request rq;
	char *out = NULL, orders[200], publish[200], extract[200], consumer[200];
	size_t i;
	(void)state;

	write_config(replay_url(srv), CREDS ", page_size = 1, dag_runs = 5, request_timeout = 5");
	replay_clear(srv);
	assert_int_equal(collect(&out, NULL), 0);
	batch = json_loads(out, 0, NULL);
	if (!batch)
		fail_msg("`terrarium collect --json` printed no JSON:\n%s", out);
	free(out);
	cat = open_catalog();

	/* a DAG: owners, schedule, tags, paused, recent runs */
	d = entity(cat, mid("job", "producer_orders"));
	assert_string_equal(str(d, "subtype"), "dag");
	assert_string_equal(str(d, "platform"), "airflow");
	assert_string_equal(str(d, "description"), "Extracts orders and writes the raw orders dataset");
	assert_json_eq(json_object_get(d, "owners"), "[\"data-eng\"]");
	assert_json_eq(json_object_get(d, "tags"), "[\"demo\", \"producer\"]");
	assert_json_eq(prop(d, "paused"), "false");
	assert_json_eq(prop(d, "schedule"), "\"@daily\"");
	assert_json_eq(prop(d, "fileloc"), "\"/opt/airflow/dags/producer_orders.py\"");
	assert_json_eq(prop(d, "last_run_state"), "\"success\"");
	assert_json_eq(prop(d, "last_run_id"), "\"scheduled__2026-11-20T00:00:00+00:00\"");
	assert_json_eq(prop(d, "recent_runs"), "{\"success\": 2}");
	assert_true(linked(d, "downstream", mid("job", "producer_orders.extract_orders"),
			   "relationship"));
	json_decref(d);
	d = entity(cat, mid("job", "consumer_reporting"));
	assert_json_eq(json_object_get(d, "owners"), "[\"analytics\"]");
	assert_json_eq(prop(d, "schedule"), "\"Dataset\"");
	assert_json_eq(prop(d, "timetable"), "\"Triggered by datasets\"");
	json_decref(d);

	/* tasks and their dependency */
	snprintf(extract, sizeof(extract), "%s", mid("job", "producer_orders.extract_orders"));
	snprintf(publish, sizeof(publish), "%s", mid("job", "producer_orders.publish_orders"));
	snprintf(consumer, sizeof(consumer), "%s", mid("job", "consumer_reporting"));
	d = entity(cat, extract);
	assert_string_equal(str(d, "subtype"), "task");
	assert_string_equal(str(d, "display_name"), "extract_orders");
	assert_json_eq(prop(d, "operator"), "\"BashOperator\"");
	assert_json_eq(prop(d, "downstream_task_ids"), "[\"publish_orders\"]");
	assert_json_eq(json_object_get(d, "owners"), "[\"data-eng\"]");
	assert_true(linked(d, "downstream", publish, "lineage"));
	json_decref(d);
	d = entity(cat, publish);
	assert_json_eq(prop(d, "operator"), "\"PythonOperator\"");
	json_decref(d);

	/* the datasets: producer task -> dataset -> consumer DAG */
	snprintf(orders, sizeof(orders), "dataset:s3://demo-bucket:raw/orders.parquet");
	d = entity(cat, orders);
	assert_string_equal(str(d, "namespace"), "s3://demo-bucket");
	assert_string_equal(str(d, "name"), "raw/orders.parquet");
	assert_string_equal(str(d, "platform"), "s3");
	assert_json_eq(prop(d, "airflow_uri"), "\"s3://demo-bucket/raw/orders.parquet\"");
	assert_json_eq(prop(d, "extra"), "{\"format\": \"parquet\"}");
	assert_true(linked(d, "upstream", publish, "lineage"));
	assert_true(linked(d, "downstream", consumer, "lineage"));
	json_decref(d);
	d = entity(cat, "dataset:s3://demo-bucket:reports/daily_revenue.csv");
	assert_true(linked(d, "upstream", mid("job", "consumer_reporting.build_report"), "lineage"));
	json_decref(d);
	/* one lineage path: extract_orders -> publish_orders -> orders.parquet -> consumer_reporting */
	assert_true(in_lineage(cat, extract, LINEAGE_DOWNSTREAM, 3, consumer, 3));
	assert_true(in_lineage(cat, orders, LINEAGE_BOTH, 1, publish, -1));

	/* the webserver */
	d = entity(cat, mid("service", "server"));
	assert_json_eq(prop(d, "version"), "\"2.5.3\"");
	assert_json_eq(prop(d, "api"), "\"v1\"");
	json_decref(d);
	catalog_close(cat);

	/* the tile */
	tile = json_object_get(batch, "tile");
	num = json_object_get(tile, "numbers");
	assert_string_equal(str(tile, "status"), "up");
	assert_json_eq(num, "{\"version\": \"2.5.3\", \"dags\": 2, \"paused\": 0, \"tasks\": 3, "
			    "\"datasets\": 2, \"failed_runs\": 0, \"import_errors\": 0, "
			    "\"scheduler\": \"healthy\", \"metadatabase\": \"healthy\", "
			    "\"heartbeat\": \"2026-11-21T17:51:33.968Z\"}");
	assert_string_equal(str(json_object_get(batch, "run"), "status"), "ok");
	json_decref(batch);

	/* the requests: paging by limit/offset, recent runs newest first, basic auth */
	assert_int_equal(replay_matching(srv, "GET", "/api/v1/dags?limit=1&offset=0"), 1);
	assert_int_equal(replay_matching(srv, "GET", "/api/v1/dags?limit=1&offset=1"), 1);
	assert_int_equal(replay_matching(srv, "GET", "/api/v1/datasets?limit=1&offset=1"), 1);
	assert_int_equal(replay_matching(srv, "GET",
					 "/api/v1/dags/producer_orders/dagRuns?limit=5&order_by="
					 "-execution_date"), 1);
	for (i = 0; replay_request(srv, i, &rq) == 0; i++) {
		if (strstr(rq.target, "/health") || strstr(rq.target, "/version"))
			continue;
		if (rq.status != 200 || strncmp(rq.authorization, "Basic ", 6) != 0)
			fail_msg("%s %s: status %d, authorization '%s'", rq.method, rq.target,
				 rq.status, rq.authorization);
	}
}

/* --- 2. credentials ------------------------------------------------------------------------ */

static void test_unauthorized(void **state)
{
	char *etext = NULL, *before, *after;
	(void)state;

	before = export_text();
	write_config(replay_url(srv), "request_timeout = 5");
	assert_int_equal(collect(NULL, &etext), 1);
	if (!strstr(etext, "airflow: cannot read DAGs from 127.0.0.1:") ||
	    !strstr(etext, "status 401") || !strstr(etext, "Unauthorized"))
		fail_msg("no 401 in the failure:\n%s", etext);
	free(etext);
	write_config(replay_url(srv), "request_timeout = 5, user = \"admin\", password = \"wrong-pw\"");
	assert_int_equal(collect(NULL, &etext), 1);
	assert_non_null(strstr(etext, "status 401"));
	assert_null(strstr(etext, "wrong-pw"));
	free(etext);
	after = export_text();
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* --- 3. health from the JSON, failed runs ----------------------------------------------------- */

static json_t *crawl_tile(void)
{
	char *out = NULL;
	json_t *batch, *tile;

	assert_int_equal(collect(&out, NULL), 0);
	batch = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(batch);
	tile = json_incref(json_object_get(batch, "tile"));
	json_decref(batch);
	return tile;
}

static void test_health_and_failed_runs(void **state)
{
	struct catalog *cat;
	json_t *doc, *tile, *d;
	(void)state;

	write_config(replay_url(srv), CREDS ", request_timeout = 5");

	/* a 500 whose JSON says healthy: up (the status says nothing) */
	route_json("/api/v1/health", 500, recorded("health.json"));
	tile = crawl_tile();
	assert_string_equal(str(tile, "status"), "up");
	json_decref(tile);

	/* a 200 whose JSON says the scheduler is unhealthy: degraded */
	doc = recorded("health.json");
	json_object_set_new(json_object_get(doc, "scheduler"), "status", json_string("unhealthy"));
	route_json("/api/v1/health", 200, doc);
	tile = crawl_tile();
	assert_string_equal(str(tile, "status"), "degraded");
	assert_string_equal(str(json_object_get(tile, "numbers"), "scheduler"), "unhealthy");
	assert_non_null(strstr(str(tile, "description"), "unhealthy: scheduler unhealthy"));
	json_decref(tile);

	/* the metadatabase unhealthy: down */
	doc = recorded("health.json");
	json_object_set_new(json_object_get(doc, "metadatabase"), "status", json_string("unhealthy"));
	route_json("/api/v1/health", 200, doc);
	tile = crawl_tile();
	assert_string_equal(str(tile, "status"), "down");
	json_decref(tile);
	route_json("/api/v1/health", 200, recorded("health.json"));

	/* the newest run of producer_orders failed: on the tile and on the DAG */
	doc = recorded("dags_producer_orders_dagRuns.json");
	json_object_set_new(json_array_get(json_object_get(doc, "dag_runs"), 0), "state",
			    json_string("failed"));
	route_json("/api/v1/dags/producer_orders/dagRuns", 200, doc);
	tile = crawl_tile();
	assert_string_equal(str(tile, "status"), "up");
	assert_json_eq(json_object_get(json_object_get(tile, "numbers"), "failed_runs"), "1");
	assert_non_null(strstr(str(tile, "description"), "failed runs in producer_orders"));
	json_decref(tile);
	cat = open_catalog();
	d = entity(cat, mid("job", "producer_orders"));
	assert_json_eq(prop(d, "last_run_state"), "\"failed\"");
	assert_json_eq(prop(d, "recent_runs"), "{\"failed\": 1, \"success\": 1}");
	json_decref(d);
	catalog_close(cat);
	route_json("/api/v1/dags/producer_orders/dagRuns", 200,
		   recorded("dags_producer_orders_dagRuns.json"));
}

/* --- 4. bad peers ----------------------------------------------------------------------------- */

struct bad_case {
	const char *what;
	enum replay_fault fault;
	const char *match;        /* which requests go wrong (NULL: all) */
	const char *reason;       /* must appear in the failure */
};

static void test_bad_peers(void **state)
{
	static const struct bad_case cases[] = {
		{ "garbage", REPLAY_GARBAGE, "/api/v1/dags?", "cannot read DAGs from" },
		{ "truncated JSON", REPLAY_TRUNCATED, "/api/v1/datasets", "invalid JSON" },
		{ "a cut connection", REPLAY_CUT, "/tasks", "cannot read tasks of DAG" },
		{ "a 500", REPLAY_500, "/dagRuns", "status 500" },
		{ "a slow answer", REPLAY_SLOW, "/api/v1/dags?", "timeout after 1 s" },
		{ "no answer", REPLAY_HANG, NULL, "timeout after 1 s" },
		{ "health that is not JSON", REPLAY_GARBAGE, "/health",
		  "/api/v1/health: the answer is not JSON" },
	};
	char *before, *after, *etext = NULL;
	(void)state;

	write_config(replay_url(srv), CREDS ", request_timeout = 1");
	assert_int_equal(collect(NULL, NULL), 0);
	before = export_text();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long t0 = now_ms();
		int rc;

		replay_fault(srv, cases[i].fault, cases[i].match, 300);
		rc = collect(NULL, &etext);
		replay_fault(srv, REPLAY_OK, NULL, 0);
		if (rc != 1 || !etext || !strstr(etext, "collector 'airflow' failed: airflow: ") ||
		    !strstr(etext, cases[i].reason))
			fail_msg("%s: exit %d, wanted 1 with '%s':\n%s", cases[i].what, rc,
				 cases[i].reason, etext ? etext : "");
		if (now_ms() - t0 > 15000)
			fail_msg("%s: the failed run took %lld ms", cases[i].what, now_ms() - t0);
		free(etext);
		etext = NULL;
		after = export_text();
		if (strcmp(before, after) != 0)
			fail_msg("%s: the catalog changed", cases[i].what);
		free(after);
	}

	/* nothing listening at all */
	{
		struct replay_config rc = { .flavor = REPLAY_PLAIN };
		char err[256] = "", url[64];
		struct replay_server *gone = replay_start(&rc, err, sizeof(err));

		assert_non_null(gone);
		snprintf(url, sizeof(url), "%s", replay_url(gone));
		replay_stop(gone);
		write_config(url, CREDS ", request_timeout = 1");
		assert_int_equal(collect(NULL, &etext), 1);
		if (!strstr(etext, "airflow: cannot reach 127.0.0.1:") ||
		    !strstr(etext, "connection refused"))
			fail_msg("refused: %s", etext);
		free(etext);
		after = export_text();
		assert_string_equal(before, after);
		free(after);
	}
	free(before);
}

/* --- 5. the collector's Lua tests ------------------------------------------------------------ */

static void test_lua_tests(void **state)
{
	const char *argv[] = { bin(), "plugin", "test", "lua/collectors/airflow_test.lua", NULL };
	char *text;
	int rc;
	(void)state;

	rc = run_bounded(argv, out_path, err_path, RUN_MS);
	text = slurp(out_path);
	assert_non_null(text);
	if (rc != 0 || strstr(text, "not ok") || !strstr(text, " passed, 0 failed"))
		fail_msg("terrarium plugin test exited %d:\n%s", rc, text);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lua_tests),
		cmocka_unit_test(test_crawl),
		cmocka_unit_test(test_unauthorized),
		cmocka_unit_test(test_health_and_failed_runs),
		cmocka_unit_test(test_bad_peers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
