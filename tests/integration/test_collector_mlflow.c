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

#define FIXTURES "../shared/fixtures/mlflow"
#define RUN_MS 60000   /* one `terrarium collect` */
#define RUN_ID "4a6fd7b2525c4fc88b36a774adecf363"

static struct replay_server *srv;
static char dir[256];
static char data_dir[300];
static char cfg_path[300];
static char ns[64];            /* "mlflow://127.0.0.1:PORT" */
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

/* `terrarium collect mlflow --json --config CFG_PATH --data DATA_DIR`: the exit
 * status; *OUT and *ERRTEXT (may be NULL) get stdout and stderr, malloc'd. */
static int collect(char **out, char **errtext)
{
	const char *argv[] = { bin(), "collect", "mlflow", "--json", "--config", cfg_path, "--data",
			       data_dir, NULL };
	int rc = run_bounded(argv, out_path, err_path, RUN_MS);
	char *text = slurp(out_path), *etext = slurp(err_path);

	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "terrarium collect mlflow exited %d:\n%s\n", rc, etext ? etext : "");
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
		 "-- written by test_collector_mlflow\n"
		 "plugins = {\n"
		 "  mlflow = { timeout = 50, url = \"%s\", %s },\n"
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

/* "KIND:mlflow://127.0.0.1:PORT:NAME" (one of 8 rotating buffers). */
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

static json_t *field(const json_t *doc, const char *name)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(doc, "fields"), i, f)
		if (strcmp(str(f, "name"), name) == 0)
			return f;
	fail_msg("no field '%s' in %s", name, str(doc, "id"));
	return NULL;
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
	struct replay_config rc = { .flavor = REPLAY_MLFLOW, .dir = FIXTURES };
	char err[512] = "";
	(void)state;

	snprintf(dir, sizeof(dir), "/tmp/terrarium-mlflow-XXXXXX");
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
	if (replay_add(srv, "GET", "/health", 200, "text/plain; charset=utf-8", "OK", 2) < 0)
		return -1;
	snprintf(ns, sizeof(ns), "mlflow://127.0.0.1:%d", replay_port(srv));
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
	cat = open_catalog();

	/* experiments */
	d = entity(cat, mid("job", "experiments/1"));
	assert_string_equal(str(d, "subtype"), "experiment");
	assert_string_equal(str(d, "platform"), "mlflow");
	assert_string_equal(str(d, "display_name"), "collector-demo");
	assert_json_eq(prop(d, "tags"), "{\"team\": \"data-platform\"}");
	assert_json_eq(prop(d, "artifact_location"), "\"mlflow-artifacts:/1\"");
	json_decref(d);
	d = entity(cat, mid("job", "experiments/0"));
	assert_string_equal(str(d, "display_name"), "Default");
	json_decref(d);

	/* the run: params, metrics, tags, status, duration, owner */
	snprintf(run_id, sizeof(run_id), "%s", mid("job", "experiments/1/runs/" RUN_ID));
	d = entity(cat, run_id);
	assert_string_equal(str(d, "subtype"), "run");
	assert_string_equal(str(d, "display_name"), "train-logreg");
	assert_json_eq(prop(d, "params"), "{\"C\": \"1.0\", \"solver\": \"lbfgs\"}");
	assert_json_eq(prop(d, "metrics"), "{\"loss\": 0.4, \"accuracy\": 0.75}");
	assert_json_eq(prop(d, "tags"), "{\"stage\": \"dev\"}");
	assert_json_eq(prop(d, "status"), "\"FINISHED\"");
	assert_json_eq(prop(d, "duration_s"), "0.635");
	assert_json_eq(prop(d, "start_time"), "\"2026-11-21T17:44:02.394Z\"");
	assert_json_eq(prop(d, "source_name"), "\"populate_mlflow.py\"");
	assert_json_eq(json_object_get(d, "owners"), "[\"root\"]");
	assert_true(linked(d, "upstream", mid("job", "experiments/1"), "relationship"));
	json_decref(d);

	/* the dataset it used, named from its source URI, with its schema */
	snprintf(ds_id, sizeof(ds_id), "dataset:file:/srv/ml/data/train.csv");
	d = entity(cat, ds_id);
	assert_string_equal(str(d, "namespace"), "file");
	assert_string_equal(str(d, "name"), "/srv/ml/data/train.csv");
	assert_string_equal(str(d, "platform"), "file");
	assert_string_equal(str(d, "display_name"), "train-data");
	assert_json_eq(prop(d, "digest"), "\"3345df87\"");
	assert_json_eq(prop(d, "profile"), "{\"num_rows\": 4, \"num_elements\": 12}");
	assert_int_equal(json_array_size(json_object_get(d, "fields")), 3);
	f = field(d, "y");
	assert_string_equal(str(f, "type"), "long");
	assert_true(json_is_false(json_object_get(f, "nullable")));
	assert_string_equal(str(field(d, "x1"), "type"), "double");
	assert_true(linked(d, "downstream", run_id, "lineage"));
	json_decref(d);

	/* the registered model and its version */
	snprintf(model_id, sizeof(model_id), "%s", mid("model", "models/collector-demo-model"));
	snprintf(ver_id, sizeof(ver_id), "%s", mid("model", "models/collector-demo-model/1"));
	d = entity(cat, model_id);
	assert_string_equal(str(d, "subtype"), "registered_model");
	assert_json_eq(prop(d, "aliases"), "{\"champion\": \"1\"}");
	assert_json_eq(prop(d, "tags"), "{\"owner\": \"alice\"}");
	json_decref(d);
	d = entity(cat, ver_id);
	assert_string_equal(str(d, "kind"), "model");
	assert_string_equal(str(d, "subtype"), "model_version");
	assert_json_eq(prop(d, "stage"), "\"None\"");
	assert_json_eq(prop(d, "status"), "\"READY\"");
	assert_json_eq(prop(d, "aliases"), "[\"champion\"]");
	assert_json_eq(prop(d, "run_id"), "\"" RUN_ID "\"");
	assert_true(linked(d, "upstream", run_id, "lineage"));
	assert_true(linked(d, "upstream", model_id, "relationship"));
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
	assert_string_equal(str(tile, "status"), "up");
	assert_json_eq(num, "{\"experiments\": 2, \"runs\": 1, \"failed_runs\": 0, \"models\": 1, "
			    "\"versions\": 1, \"health\": \"OK\"}");
	assert_string_equal(str(json_object_get(batch, "run"), "status"), "ok");
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
		assert_json_eq(json_object_get(body, "max_results"), "1");
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
	before = export_text();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long t0 = now_ms();
		int rc;

		replay_fault(srv, cases[i].fault, cases[i].match, 300);
		rc = collect(NULL, &etext);
		replay_fault(srv, REPLAY_OK, NULL, 0);
		if (rc != 1 || !etext || !strstr(etext, "collector 'mlflow' failed: mlflow: ") ||
		    !strstr(etext, cases[i].reason))
			fail_msg("%s: exit %d, wanted 1 with '%s':\n%s", cases[i].what, rc,
				 cases[i].reason, etext ? etext : "");
		/* within its timeout: one or two requests of 1 s, plus start-up */
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
		write_config(url, "request_timeout = 1");
		assert_int_equal(collect(NULL, &etext), 1);
		if (!strstr(etext, "mlflow: cannot reach 127.0.0.1:") ||
		    !strstr(etext, "connection refused"))
			fail_msg("refused: %s", etext);
		free(etext);
		after = export_text();
		assert_string_equal(before, after);
		free(after);
	}
	free(before);
}

/* --- 4. the collector's Lua tests ------------------------------------------------------------ */

static void test_lua_tests(void **state)
{
	const char *argv[] = { bin(), "plugin", "test", "lua/collectors/mlflow_test.lua", NULL };
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
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_bad_peers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
