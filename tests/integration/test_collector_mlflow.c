/*
 * The MLflow collector (lua/collectors/mlflow.lua) against the answers of a
 * real MLflow 2.10.2 tracking server (../shared/fixtures/mlflow), replayed
 * over real HTTP by tests/lib/replay.h, run the way a user runs it:
 * `terrarium collect mlflow --json --config CFG --data DIR` with the real
 * binary ($TERRARIUM_BIN, default build/terrarium).  What it wrote is read
 * back from DIR/catalog.db through the catalog API.
 *
 *   1. a crawl with one item per page: experiments, the run with its params,
 *      metrics, tags, status and duration, the dataset it used (named from
 *      its source URI), the registered model and its version with stage and
 *      aliases, the lineage dataset -> run -> version, the tile, and the
 *      requests it made (POST where MLflow wants POST, GET where it wants GET,
 *      the next page asked for with the token of the last);
 *   2. basic auth and a bearer token: refused without, crawled with;
 *   3. bad peers (garbage, truncated JSON, a cut connection, a 500, a slow
 *      answer, no answer, nothing listening): the run fails within its
 *      timeout naming the reason, and the catalog is unchanged;
 *   4. the collector's own Lua tests (names.from_uri, odd answers).
 * MLflow's /health ("OK", text/plain) is not among the recordings; the
 * replay server is given that one route.
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

#define FIXTURES "../shared/fixtures/mlflow"
#define RUN_MS 60000   /* one `terrarium collect` */
#define RUN_ID "4a6fd7b2525c4fc88b36a774adecf363"

static struct replay_server *srv;
static struct tc_dirs td;      /* the temporary directory, the data dir, outputs */
static char cfg_path[300];
static char ns[64];            /* "mlflow://127.0.0.1:PORT" */

/* `terrarium collect mlflow --json --config CFG_PATH --data DATA_DIR`: the exit
 * status; *OUT and *ERRTEXT (may be NULL) get stdout and stderr, malloc'd. */
static int collect(char **out, char **errtext)
{
	return tc_collect(&td, "mlflow", cfg_path, RUN_MS, out, errtext);
}

/* The config: the replay server's URL plus EXTRA keys (Lua). */
static void write_config(const char *url, const char *extra)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "-- written by test_collector_mlflow\n"
		 "plugins = {\n"
		 "  mlflow = { timeout = 50, url = \"%s\", %s },\n"
		 "}\n",
		 url, extra ? extra : "");
	tc_write_file(cfg_path, text);
}

/* "KIND:mlflow://127.0.0.1:PORT:NAME". */
static const char *mid(const char *kind, const char *name)
{
	return tc_id(kind, ns, name);
}

/* --- setup ---------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct replay_config rc = { .flavor = REPLAY_MLFLOW, .dir = FIXTURES };
	char err[512] = "";
	(void)state;

	if (tc_dirs_make(&td, "mlflow") < 0)
		return -1;
	td.quiet = 1;
	snprintf(cfg_path, sizeof(cfg_path), "%s/terrarium.lua", td.dir);
	srv = replay_start(&rc, err, sizeof(err));
	if (!srv) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (replay_add(srv, "GET", "/health", 200, "text/plain; charset=utf-8", "OK", 2) < 0)
		return -1;
	snprintf(ns, sizeof(ns), "mlflow://127.0.0.1:%d", replay_port(srv));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	replay_stop(srv);
	tc_dirs_remove(&td);
	return 0;
}

/* --- 1. the crawl ----------------------------------------------------------------------- */

static void test_crawl(void **state)
{
	struct catalog *cat;
	json_t *d, *batch, *tile, *num, *f, *tok;
	struct replay_request rq;
	char *out = NULL, run_id[200], ver_id[200], model_id[200], ds_id[200];
	size_t i, n_exp_posts = 0;
	int second_page_asked = 0;
	(void)state;

	write_config(replay_url(srv), "page_size = 1, request_timeout = 5");
	replay_clear(srv);
	assert_int_equal(collect(&out, NULL), 0);
	batch = json_loads(out, 0, NULL);
	if (!batch)
		fail_msg("`terrarium collect --json` printed no JSON:\n%s", out);
	free(out);
	cat = tc_open_catalog(td.data_dir);

	/* experiments */
	d = tc_entity(cat, mid("job", "experiments/1"));
	assert_string_equal(tc_str(d, "subtype"), "experiment");
	assert_string_equal(tc_str(d, "platform"), "mlflow");
	assert_string_equal(tc_str(d, "display_name"), "collector-demo");
	tc_assert_json_eq(tc_prop(d, "tags"), "{\"team\": \"data-platform\"}");
	tc_assert_json_eq(tc_prop(d, "artifact_location"), "\"mlflow-artifacts:/1\"");
	json_decref(d);
	d = tc_entity(cat, mid("job", "experiments/0"));
	assert_string_equal(tc_str(d, "display_name"), "Default");
	json_decref(d);

	/* the run: params, metrics, tags, status, duration, owner */
	snprintf(run_id, sizeof(run_id), "%s", mid("job", "experiments/1/runs/" RUN_ID));
	d = tc_entity(cat, run_id);
	assert_string_equal(tc_str(d, "subtype"), "run");
	assert_string_equal(tc_str(d, "display_name"), "train-logreg");
	tc_assert_json_eq(tc_prop(d, "params"), "{\"C\": \"1.0\", \"solver\": \"lbfgs\"}");
	tc_assert_json_eq(tc_prop(d, "metrics"), "{\"loss\": 0.4, \"accuracy\": 0.75}");
	tc_assert_json_eq(tc_prop(d, "tags"), "{\"stage\": \"dev\"}");
	tc_assert_json_eq(tc_prop(d, "status"), "\"FINISHED\"");
	tc_assert_json_eq(tc_prop(d, "duration_s"), "0.635");
	tc_assert_json_eq(tc_prop(d, "start_time"), "\"2026-11-21T17:44:02.394Z\"");
	tc_assert_json_eq(tc_prop(d, "source_name"), "\"populate_mlflow.py\"");
	tc_assert_json_eq(json_object_get(d, "owners"), "[\"root\"]");
	assert_true(tc_linked(d, "upstream", mid("job", "experiments/1"), "relationship"));
	json_decref(d);

	/* the dataset it used, named from its source URI, with its schema */
	snprintf(ds_id, sizeof(ds_id), "dataset:file:/srv/ml/data/train.csv");
	d = tc_entity(cat, ds_id);
	assert_string_equal(tc_str(d, "namespace"), "file");
	assert_string_equal(tc_str(d, "name"), "/srv/ml/data/train.csv");
	assert_string_equal(tc_str(d, "platform"), "file");
	assert_string_equal(tc_str(d, "display_name"), "train-data");
	tc_assert_json_eq(tc_prop(d, "digest"), "\"3345df87\"");
	tc_assert_json_eq(tc_prop(d, "profile"), "{\"num_rows\": 4, \"num_elements\": 12}");
	assert_int_equal(json_array_size(json_object_get(d, "fields")), 3);
	f = tc_field(d, "y");
	assert_string_equal(tc_str(f, "type"), "long");
	assert_true(json_is_false(json_object_get(f, "nullable")));
	assert_string_equal(tc_str(tc_field(d, "x1"), "type"), "double");
	assert_true(tc_linked(d, "downstream", run_id, "lineage"));
	json_decref(d);

	/* the registered model and its version */
	snprintf(model_id, sizeof(model_id), "%s", mid("model", "models/collector-demo-model"));
	snprintf(ver_id, sizeof(ver_id), "%s", mid("model", "models/collector-demo-model/1"));
	d = tc_entity(cat, model_id);
	assert_string_equal(tc_str(d, "subtype"), "registered_model");
	tc_assert_json_eq(tc_prop(d, "aliases"), "{\"champion\": \"1\"}");
	tc_assert_json_eq(tc_prop(d, "tags"), "{\"owner\": \"alice\"}");
	json_decref(d);
	d = tc_entity(cat, ver_id);
	assert_string_equal(tc_str(d, "kind"), "model");
	assert_string_equal(tc_str(d, "subtype"), "model_version");
	tc_assert_json_eq(tc_prop(d, "stage"), "\"None\"");
	tc_assert_json_eq(tc_prop(d, "status"), "\"READY\"");
	tc_assert_json_eq(tc_prop(d, "aliases"), "[\"champion\"]");
	tc_assert_json_eq(tc_prop(d, "run_id"), "\"" RUN_ID "\"");
	assert_true(tc_linked(d, "upstream", run_id, "lineage"));
	assert_true(tc_linked(d, "upstream", model_id, "relationship"));
	json_decref(d);

	/* one lineage path: dataset -> run -> model version */
	{
		struct lineage_query q = { .node_id = ds_id, .depth = 2,
					   .direction = LINEAGE_DOWNSTREAM, .hop_cap = 100 };
		struct lineage_graph *g = NULL;
		char err[256] = "";
		int found = 0;

		assert_int_equal(lineage_query(cat, &q, &g, err, sizeof(err)), 0);
		for (i = 0; i < g->n_nodes; i++)
			if (strcmp(g->nodes[i].id, ver_id) == 0 && g->nodes[i].depth == 2)
				found = 1;
		lineage_graph_destroy(g);
		assert_true(found);
	}
	catalog_close(cat);

	/* the tile */
	tile = json_object_get(batch, "tile");
	num = json_object_get(tile, "numbers");
	assert_string_equal(tc_str(tile, "status"), "up");
	tc_assert_json_eq(num, "{\"experiments\": 2, \"runs\": 1, \"failed_runs\": 0, \"models\": 1, "
			    "\"versions\": 1, \"health\": \"OK\"}");
	assert_string_equal(tc_str(json_object_get(batch, "run"), "status"), "ok");
	json_decref(batch);

	/* the requests: the methods MLflow wants, and paging by token */
	assert_int_equal(replay_matching(srv, "GET", "/runs/search"), 0);
	assert_int_equal(replay_matching(srv, "POST", "/registered-models/search"), 0);
	assert_int_equal(replay_matching(srv, "POST", "/model-versions/search"), 0);
	assert_true(replay_matching(srv, "GET", "/registered-models/search?") >= 1);
	tok = json_string("eyJvZmZzZXQiOiAxfQ==");   /* base64 of {"offset": 1} */
	assert_non_null(tok);
	for (i = 0; replay_request(srv, i, &rq) == 0; i++) {
		if (strcmp(rq.method, "POST") != 0 || !strstr(rq.target, "/experiments/search"))
			continue;
		n_exp_posts++;
		json_t *body = json_loads(rq.body, 0, NULL);
		assert_non_null(body);
		tc_assert_json_eq(json_object_get(body, "max_results"), "1");
		/* the second page is asked for with the token the first answer gave */
		if (n_exp_posts == 2 &&
		    json_equal(json_object_get(body, "page_token"), tok))
			second_page_asked = 1;
		json_decref(body);
	}
	json_decref(tok);
	assert_int_equal(n_exp_posts, 2);
	assert_true(second_page_asked);
}

/* --- 2. authentication --------------------------------------------------------------------- */

static void test_auth(void **state)
{
	struct replay_config rc = { .flavor = REPLAY_MLFLOW, .dir = FIXTURES, .user = "alice",
				    .password = "s3cret-pw", .bearer = "tok-12345" };
	struct replay_server *auth;
	struct replay_request rq;
	char err[256] = "", *etext = NULL, *out = NULL;
	(void)state;

	auth = replay_start(&rc, err, sizeof(err));
	assert_non_null(auth);
	assert_int_equal(replay_add(auth, "GET", "/health", 200, "text/plain", "OK", 2), 0);

	/* without credentials: refused, and the run says so */
	write_config(replay_url(auth), "request_timeout = 5");
	assert_int_equal(collect(NULL, &etext), 1);
	assert_non_null(etext);
	if (!strstr(etext, "mlflow: cannot read experiments from 127.0.0.1:") ||
	    !strstr(etext, "status 401"))
		fail_msg("no 401 in the failure:\n%s", etext);
	free(etext);

	/* basic auth; the password never shows */
	write_config(replay_url(auth), "request_timeout = 5, user = \"alice\", password = \"s3cret-pw\"");
	assert_int_equal(collect(&out, &etext), 0);
	assert_null(strstr(out, "s3cret-pw"));
	assert_null(strstr(etext, "s3cret-pw"));
	free(out);
	free(etext);
	assert_int_equal(replay_request(auth, replay_count(auth) - 1, &rq), 0);
	assert_int_equal(strncmp(rq.authorization, "Basic ", 6), 0);

	/* a bearer token */
	write_config(replay_url(auth), "request_timeout = 5, token = \"tok-12345\"");
	assert_int_equal(collect(NULL, NULL), 0);
	assert_int_equal(replay_request(auth, replay_count(auth) - 1, &rq), 0);
	assert_string_equal(rq.authorization, "Bearer tok-12345");
	replay_stop(auth);
}

/* --- 3. bad peers ----------------------------------------------------------------------------- */

struct bad_case {
	const char *what;
	enum replay_fault fault;
	const char *match;        /* which requests go wrong (NULL: all) */
	const char *reason;       /* must appear in the failure */
};

static void test_bad_peers(void **state)
{
	static const struct bad_case cases[] = {
		{ "garbage", REPLAY_GARBAGE, "/experiments/search", "invalid JSON" },
		{ "truncated JSON", REPLAY_TRUNCATED, "/runs/search",
		  "cannot read runs of experiment" },
		{ "a cut connection", REPLAY_CUT, "/model-versions/search",
		  "cannot read model versions" },
		{ "a 500", REPLAY_500, "/registered-models/search", "status 500" },
		{ "a slow answer", REPLAY_SLOW, "/experiments/search", "timeout after 1 s" },
		{ "no answer", REPLAY_HANG, NULL, "timeout after 1 s" },
	};
	char *before, *after, *etext = NULL;
	(void)state;

	/* a good crawl first, so that a failed run has something to keep */
	write_config(replay_url(srv), "request_timeout = 1");
	assert_int_equal(collect(NULL, NULL), 0);
	before = tc_export_text(td.data_dir);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long t0 = tc_now_ms();
		int rc;

		replay_fault(srv, cases[i].fault, cases[i].match, 300);
		rc = collect(NULL, &etext);
		replay_fault(srv, REPLAY_OK, NULL, 0);
		if (rc != 1 || !etext || !strstr(etext, "collector 'mlflow' failed: mlflow: ") ||
		    !strstr(etext, cases[i].reason))
			fail_msg("%s: exit %d, wanted 1 with '%s':\n%s", cases[i].what, rc,
				 cases[i].reason, etext ? etext : "");
		/* within its timeout: one or two requests of 1 s, plus start-up */
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
		write_config(url, "request_timeout = 1");
		assert_int_equal(collect(NULL, &etext), 1);
		if (!strstr(etext, "mlflow: cannot reach 127.0.0.1:") ||
		    !strstr(etext, "connection refused"))
			fail_msg("refused: %s", etext);
		free(etext);
		after = tc_export_text(td.data_dir);
		assert_string_equal(before, after);
		free(after);
	}
	free(before);
}

/* --- 4. the collector's Lua tests ------------------------------------------------------------ */

static void test_lua_tests(void **state)
{
	(void)state;
	tc_plugin_test(&td, "lua/collectors/mlflow_test.lua", RUN_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lua_tests),
		cmocka_unit_test(test_crawl),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_bad_peers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
