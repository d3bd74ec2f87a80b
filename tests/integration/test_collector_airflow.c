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

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/lineage.h"
#include "tests/lib/collect.h"
#include "tests/lib/replay.h"

#define FIXTURES "../shared/fixtures/airflow"
#define RUN_MS 60000   /* one `terrarium collect` */
#define CREDS "user = \"admin\", password = \"admin\""

static struct replay_server *srv;
static struct tc_dirs td;      /* the temporary directory, the data dir, outputs */
static char cfg_path[300];
static char ns[64];            /* "airflow://127.0.0.1:PORT" */

/* `terrarium collect airflow --json --config CFG_PATH --data DATA_DIR`: the exit
 * status; *OUT and *ERRTEXT (may be NULL) get stdout and stderr, malloc'd. */
static int collect(char **out, char **errtext)
{
	return tc_collect(&td, "airflow", cfg_path, RUN_MS, out, errtext);
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
	tc_write_file(cfg_path, text);
}

/* "KIND:airflow://127.0.0.1:PORT:NAME". */
static const char *mid(const char *kind, const char *name)
{
	return tc_id(kind, ns, name);
}

/* --- setup ---------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct replay_config rc = { .flavor = REPLAY_AIRFLOW, .dir = FIXTURES, .user = "admin",
				    .password = "admin" };
	char err[512] = "";
	(void)state;

	if (tc_dirs_make(&td, "airflow") < 0)
		return -1;
	td.quiet = 1;
	snprintf(cfg_path, sizeof(cfg_path), "%s/terrarium.lua", td.dir);
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
	tc_dirs_remove(&td);
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
	cat = tc_open_catalog(td.data_dir);

	/* a DAG: owners, schedule, tags, paused, recent runs */
	d = tc_entity(cat, mid("job", "producer_orders"));
	assert_string_equal(tc_str(d, "subtype"), "dag");
	assert_string_equal(tc_str(d, "platform"), "airflow");
	assert_string_equal(tc_str(d, "description"), "Extracts orders and writes the raw orders dataset");
	tc_assert_json_eq(json_object_get(d, "owners"), "[\"data-eng\"]");
	tc_assert_json_eq(json_object_get(d, "tags"), "[\"demo\", \"producer\"]");
	tc_assert_json_eq(tc_prop(d, "paused"), "false");
	tc_assert_json_eq(tc_prop(d, "schedule"), "\"@daily\"");
	tc_assert_json_eq(tc_prop(d, "fileloc"), "\"/opt/airflow/dags/producer_orders.py\"");
	tc_assert_json_eq(tc_prop(d, "last_run_state"), "\"success\"");
	tc_assert_json_eq(tc_prop(d, "last_run_id"), "\"scheduled__2026-11-20T00:00:00+00:00\"");
	tc_assert_json_eq(tc_prop(d, "recent_runs"), "{\"success\": 2}");
	assert_true(tc_linked(d, "downstream", mid("job", "producer_orders.extract_orders"),
			   "relationship"));
	json_decref(d);
	d = tc_entity(cat, mid("job", "consumer_reporting"));
	tc_assert_json_eq(json_object_get(d, "owners"), "[\"analytics\"]");
	tc_assert_json_eq(tc_prop(d, "schedule"), "\"Dataset\"");
	tc_assert_json_eq(tc_prop(d, "timetable"), "\"Triggered by datasets\"");
	json_decref(d);

	/* tasks and their dependency */
	snprintf(extract, sizeof(extract), "%s", mid("job", "producer_orders.extract_orders"));
	snprintf(publish, sizeof(publish), "%s", mid("job", "producer_orders.publish_orders"));
	snprintf(consumer, sizeof(consumer), "%s", mid("job", "consumer_reporting"));
	d = tc_entity(cat, extract);
	assert_string_equal(tc_str(d, "subtype"), "task");
	assert_string_equal(tc_str(d, "display_name"), "extract_orders");
	tc_assert_json_eq(tc_prop(d, "operator"), "\"BashOperator\"");
	tc_assert_json_eq(tc_prop(d, "downstream_task_ids"), "[\"publish_orders\"]");
	tc_assert_json_eq(json_object_get(d, "owners"), "[\"data-eng\"]");
	assert_true(tc_linked(d, "downstream", publish, "lineage"));
	json_decref(d);
	d = tc_entity(cat, publish);
	tc_assert_json_eq(tc_prop(d, "operator"), "\"PythonOperator\"");
	json_decref(d);

	/* the datasets: producer task -> dataset -> consumer DAG */
	snprintf(orders, sizeof(orders), "dataset:s3://demo-bucket:raw/orders.parquet");
	d = tc_entity(cat, orders);
	assert_string_equal(tc_str(d, "namespace"), "s3://demo-bucket");
	assert_string_equal(tc_str(d, "name"), "raw/orders.parquet");
	assert_string_equal(tc_str(d, "platform"), "s3");
	tc_assert_json_eq(tc_prop(d, "airflow_uri"), "\"s3://demo-bucket/raw/orders.parquet\"");
	tc_assert_json_eq(tc_prop(d, "extra"), "{\"format\": \"parquet\"}");
	assert_true(tc_linked(d, "upstream", publish, "lineage"));
	assert_true(tc_linked(d, "downstream", consumer, "lineage"));
	json_decref(d);
	d = tc_entity(cat, "dataset:s3://demo-bucket:reports/daily_revenue.csv");
	assert_true(tc_linked(d, "upstream", mid("job", "consumer_reporting.build_report"), "lineage"));
	json_decref(d);
	/* one lineage path: extract_orders -> publish_orders -> orders.parquet -> consumer_reporting */
	assert_true(in_lineage(cat, extract, LINEAGE_DOWNSTREAM, 3, consumer, 3));
	assert_true(in_lineage(cat, orders, LINEAGE_BOTH, 1, publish, -1));

	/* the webserver */
	d = tc_entity(cat, mid("service", "server"));
	tc_assert_json_eq(tc_prop(d, "version"), "\"2.5.3\"");
	tc_assert_json_eq(tc_prop(d, "api"), "\"v1\"");
	json_decref(d);
	catalog_close(cat);

	/* the tile */
	tile = json_object_get(batch, "tile");
	num = json_object_get(tile, "numbers");
	assert_string_equal(tc_str(tile, "status"), "up");
	tc_assert_json_eq(num, "{\"version\": \"2.5.3\", \"dags\": 2, \"paused\": 0, \"tasks\": 3, "
			    "\"datasets\": 2, \"failed_runs\": 0, \"import_errors\": 0, "
			    "\"scheduler\": \"healthy\", \"metadatabase\": \"healthy\", "
			    "\"heartbeat\": \"2026-11-21T17:51:33.968Z\"}");
	assert_string_equal(tc_str(json_object_get(batch, "run"), "status"), "ok");
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

	before = tc_export_text(td.data_dir);
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
	after = tc_export_text(td.data_dir);
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
	assert_string_equal(tc_str(tile, "status"), "up");
	json_decref(tile);

	/* a 200 whose JSON says the scheduler is unhealthy: degraded */
	doc = recorded("health.json");
	json_object_set_new(json_object_get(doc, "scheduler"), "status", json_string("unhealthy"));
	route_json("/api/v1/health", 200, doc);
	tile = crawl_tile();
	assert_string_equal(tc_str(tile, "status"), "degraded");
	assert_string_equal(tc_str(json_object_get(tile, "numbers"), "scheduler"), "unhealthy");
	assert_non_null(strstr(tc_str(tile, "description"), "unhealthy: scheduler unhealthy"));
	json_decref(tile);

	/* the metadatabase unhealthy: down */
	doc = recorded("health.json");
	json_object_set_new(json_object_get(doc, "metadatabase"), "status", json_string("unhealthy"));
	route_json("/api/v1/health", 200, doc);
	tile = crawl_tile();
	assert_string_equal(tc_str(tile, "status"), "down");
	json_decref(tile);
	route_json("/api/v1/health", 200, recorded("health.json"));

	/* the newest run of producer_orders failed: on the tile and on the DAG */
	doc = recorded("dags_producer_orders_dagRuns.json");
	json_object_set_new(json_array_get(json_object_get(doc, "dag_runs"), 0), "state",
			    json_string("failed"));
	route_json("/api/v1/dags/producer_orders/dagRuns", 200, doc);
	tile = crawl_tile();
	assert_string_equal(tc_str(tile, "status"), "up");
	tc_assert_json_eq(json_object_get(json_object_get(tile, "numbers"), "failed_runs"), "1");
	assert_non_null(strstr(tc_str(tile, "description"), "failed runs in producer_orders"));
	json_decref(tile);
	cat = tc_open_catalog(td.data_dir);
	d = tc_entity(cat, mid("job", "producer_orders"));
	tc_assert_json_eq(tc_prop(d, "last_run_state"), "\"failed\"");
	tc_assert_json_eq(tc_prop(d, "recent_runs"), "{\"failed\": 1, \"success\": 1}");
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
	before = tc_export_text(td.data_dir);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long t0 = tc_now_ms();
		int rc;

		replay_fault(srv, cases[i].fault, cases[i].match, 300);
		rc = collect(NULL, &etext);
		replay_fault(srv, REPLAY_OK, NULL, 0);
		if (rc != 1 || !etext || !strstr(etext, "collector 'airflow' failed: airflow: ") ||
		    !strstr(etext, cases[i].reason))
			fail_msg("%s: exit %d, wanted 1 with '%s':\n%s", cases[i].what, rc,
				 cases[i].reason, etext ? etext : "");
		if (tc_now_ms() - t0 > 15000)
			fail_msg("%s: the failed run took %lld ms", cases[i].what, tc_now_ms() - t0);
		free(etext);
		etext = NULL;
		after = tc_export_text(td.data_dir);
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
		after = tc_export_text(td.data_dir);
		assert_string_equal(before, after);
		free(after);
	}
	free(before);
}

/* --- 5. the collector's Lua tests ------------------------------------------------------------ */

static void test_lua_tests(void **state)
{
	(void)state;
	tc_plugin_test(&td, "lua/collectors/airflow_test.lua", RUN_MS);
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
