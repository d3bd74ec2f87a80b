/*
 * Lua collectors in the real server: GET /api/v1/plugins lists them beside
 * the native plugins; POST /api/v1/plugins/{name}/run runs one and GET
 * .../runs shows the run with its counts and log; a collector that loops
 * forever and one that eats memory are stopped and recorded as failed while
 * the server keeps answering /healthz; auth and unknown names; and the CLI
 * (`terrarium collect`, `plugin new`, `plugin test`) on the same files.
 *
 * Collectors live in DATA_DIR/collectors (the second place the server looks,
 * after lua/collectors), so the server is started once to make its data
 * directory, stopped, given the files, and started again.
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
#include <sys/stat.h>
#include <time.h>

#include "tests/lib/harness.h"

static struct th_server srv;
static char tok_read[64], tok_write[64];

static const char config[] =
	"plugins = {\n"
	"  itest_ok = { interval = 3600, shop = 'itest', password = 'never-shown',\n"
	"               url = 'postgres://app:hunter2@db:5432/shop' },\n"
	"  itest_spin = { interval = 3600, timeout = 2 },\n"
	"  itest_bomb = { interval = 3600, mem_max = '8MiB' },\n"
	"}\n";

static const char ok_collector[] =
	"local ns = 'postgres://db.itest:5432'\n"
	"local t = emit.dataset{ namespace = ns, name = config.shop .. '.public.orders',\n"
	"  fields = { { name = 'id', type = 'integer' } } }\n"
	"local j = emit.job{ namespace = 'airflow://itest', name = 'load' }\n"
	"emit.edge(t, j)\n"
	"tile{ status = 'up', title = 'itest shop', numbers = { tables = 1 } }\n"
	"metric('tables', 1)\n"
	"log.info('hello from the collector', { tables = 1 })\n"
	"log.warn('second line')\n";

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

static void write_collector(const char *name, const char *code)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/collectors/%s.lua", srv.dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(code, f);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	char dir[512];

	(void)state;
	if (th_start(&srv, config, NULL) != 0)
		return -1;
	if (th_token(&srv, "read", tok_read) != 0 || th_token(&srv, "write", tok_write) != 0)
		return -1;
	th_terminate(&srv);
	snprintf(dir, sizeof(dir), "%s/collectors", srv.dir);
	if (mkdir(dir, 0755) != 0)
		return -1;
	write_collector("itest_ok", ok_collector);
	write_collector("itest_spin", "while true do end\n");
	write_collector("itest_bomb",
			"local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('m', 4096) .. i end\n");
	return th_restart(&srv);
}

static int teardown(void **state)
{
	(void)state;
	th_stop(&srv);
	return 0;
}

static json_t *get_json(const char *path, const char *token, long want)
{
	long status = 0;
	json_t *doc = NULL;

	assert_int_equal(th_json(&srv, "GET", path, NULL, token, &status, &doc), 0);
	if (status != want)
		fail_msg("GET %s: status %ld, wanted %ld", path, status, want);
	assert_non_null(doc);
	return doc;
}

/* Collector NAME in GET /api/v1/plugins (new reference), or NULL. */
static json_t *listed(const char *name)
{
	json_t *doc = get_json("/api/v1/plugins", NULL, 200);
	json_t *found = NULL, *p;
	size_t i;

	json_array_foreach(json_object_get(doc, "plugins"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
			found = json_incref(p);
	json_decref(doc);
	return found;
}

/* Wait (at most 30 s) until NAME has at least N runs; its runs, newest first. */
static json_t *wait_runs(const char *name, size_t n)
{
	char path[256];

	snprintf(path, sizeof(path), "/api/v1/plugins/%s/runs?limit=10", name);
	for (int i = 0; i < 600; i++) {
		json_t *doc = get_json(path, NULL, 200);

		if (json_array_size(json_object_get(doc, "runs")) >= n)
			return doc;
		json_decref(doc);
		sleep_ms(50);
	}
	fail_msg("collector '%s' did not reach %zu runs", name, n);
	return NULL;
}

static void test_listed(void **state)
{
	json_t *c, *doc, *p, *settings;
	size_t i;
	int natives = 0;
	char *text;

	(void)state;
	json_decref(wait_runs("itest_ok", 1));
	c = listed("itest_ok");
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "type")), "collector");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "ok");
	assert_true(json_is_string(json_object_get(c, "last_run")));
	assert_true(json_is_string(json_object_get(c, "next_run")));
	assert_true(json_is_integer(json_object_get(c, "duration_ms")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "counts"),
							    "entities")),
			 2);
	assert_true(json_is_null(json_object_get(c, "error")));
	/* settings are shown without their secrets */
	settings = json_object_get(c, "settings");
	assert_string_equal(json_string_value(json_object_get(settings, "shop")), "itest");
	assert_string_equal(json_string_value(json_object_get(settings, "password")), "***");
	assert_string_equal(json_string_value(json_object_get(settings, "url")), "***");
	json_decref(c);
	/* the native plugins are still there */
	doc = get_json("/api/v1/plugins", NULL, 200);
	text = json_dumps(doc, 0);
	assert_null(strstr(text, "hunter2"));
	assert_null(strstr(text, "never-shown"));
	free(text);
	json_array_foreach(json_object_get(doc, "plugins"), i, p) {
		const char *type = json_string_value(json_object_get(p, "type"));

		assert_non_null(type);
		natives += strcmp(type, "native") == 0;
	}
	assert_true(natives >= 1);
	json_decref(doc);
	/* what it emitted is in the catalog, from its source */
	doc = get_json("/api/v1/entities/dataset:postgres://db.itest:5432:itest.public.orders",
		       NULL, 200);
	assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "sources"), 0)),
			    "collector:itest_ok");
	json_decref(doc);
}

static void test_run_now(void **state)
{
	long status = 0;
	json_t *doc = NULL, *run, *log;
	size_t before;
	char *text;

	(void)state;
	doc = wait_runs("itest_ok", 1);
	before = json_array_size(json_object_get(doc, "runs"));
	json_decref(doc);
	assert_int_equal(th_json(&srv, "POST", "/api/v1/plugins/itest_ok/run", NULL, tok_write,
				 &status, &doc),
			 0);
	assert_int_equal(status, 202);
	assert_true(json_is_true(json_object_get(doc, "queued")));
	json_decref(doc);
	doc = wait_runs("itest_ok", before + 1);
	assert_string_equal(json_string_value(json_object_get(doc, "collector")), "itest_ok");
	run = json_array_get(json_object_get(doc, "runs"), 0);
	assert_string_equal(json_string_value(json_object_get(run, "status")), "ok");
	assert_true(json_is_null(json_object_get(run, "error")));
	assert_true(json_is_string(json_object_get(run, "started_at")));
	assert_true(json_is_string(json_object_get(run, "ended_at")));
	assert_true(json_integer_value(json_object_get(run, "duration_ms")) >= 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "counts"),
							    "entities")),
			 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "counts"),
							    "edges")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "counts"),
							    "fields")),
			 1);
	log = json_object_get(run, "log");
	assert_int_equal(json_array_size(log), 2);
	assert_non_null(strstr(json_string_value(json_array_get(log, 0)),
			       "info hello from the collector tables=1"));
	assert_non_null(strstr(json_string_value(json_array_get(log, 1)), "warn second line"));
	text = json_dumps(doc, 0);
	assert_null(strstr(text, "never-shown"));
	free(text);
	json_decref(doc);
	/* limit */
	doc = get_json("/api/v1/plugins/itest_ok/runs?limit=1", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(doc, "runs")), 1);
	json_decref(doc);
	doc = get_json("/api/v1/plugins/itest_ok/runs?limit=0", NULL, 400);
	json_decref(doc);
}

/* Healthz answers within a second, COUNT times in a row. */
static void healthz_quick(int count)
{
	for (int i = 0; i < count; i++) {
		double t0 = now_s();
		struct th_resp r;

		assert_int_equal(th_req(&srv, "GET", "/healthz", NULL, 0, NULL, NULL, &r), 0);
		assert_int_equal(r.status, 200);
		th_resp_free(&r);
		if (now_s() - t0 > 1.0)
			fail_msg("/healthz took %.2f s while collectors ran", now_s() - t0);
		sleep_ms(20);
	}
}

static void test_runaway_collectors(void **state)
{
	long status = 0;
	json_t *doc = NULL, *run, *c = NULL;
	int running = 0;

	(void)state;
	/* both ran at start; the server answered meanwhile */
	healthz_quick(10);
	doc = wait_runs("itest_spin", 1);
	run = json_array_get(json_object_get(doc, "runs"), 0);
	assert_string_equal(json_string_value(json_object_get(run, "status")), "failed");
	assert_string_equal(json_string_value(json_object_get(run, "error")),
			    "stopped: wall-clock limit of 2000 ms exceeded");
	json_decref(doc);
	doc = wait_runs("itest_bomb", 1);
	run = json_array_get(json_object_get(doc, "runs"), 0);
	assert_string_equal(json_string_value(json_object_get(run, "status")), "failed");
	assert_string_equal(json_string_value(json_object_get(run, "error")),
			    "stopped: out of memory (limit 8388608 bytes)");
	json_decref(doc);
	c = listed("itest_bomb");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "failed");
	assert_int_equal(json_integer_value(json_object_get(c, "failures")), 1);
	json_decref(c);

	/* run the spinner again: while it runs, a second request is refused */
	assert_int_equal(th_json(&srv, "POST", "/api/v1/plugins/itest_spin/run", NULL, tok_write,
				 &status, &doc),
			 0);
	assert_int_equal(status, 202);
	json_decref(doc);
	for (int i = 0; i < 200 && !running; i++) {
		c = listed("itest_spin");
		running = strcmp(json_string_value(json_object_get(c, "status")), "running") == 0;
		json_decref(c);
		if (!running)
			sleep_ms(10);
	}
	assert_true(running);
	assert_int_equal(th_json(&srv, "POST", "/api/v1/plugins/itest_spin/run", NULL, tok_write,
				 &status, &doc),
			 0);
	assert_int_equal(status, 409);
	assert_non_null(strstr(json_string_value(json_object_get(doc, "detail")), "running"));
	json_decref(doc);
	healthz_quick(10);
	doc = wait_runs("itest_spin", 2);
	run = json_array_get(json_object_get(doc, "runs"), 0);
	assert_string_equal(json_string_value(json_object_get(run, "error")),
			    "stopped: wall-clock limit of 2000 ms exceeded");
	json_decref(doc);
}

static void test_run_auth_and_unknown(void **state)
{
	long status = 0;
	json_t *doc = NULL;

	(void)state;
	assert_int_equal(th_json(&srv, "POST", "/api/v1/plugins/itest_ok/run", NULL,
				 "trm_notarealtokennotarealtokennotarealtokenxxx", &status, &doc),
			 0);
	assert_int_equal(status, 401);
	json_decref(doc);
	assert_int_equal(th_json(&srv, "POST", "/api/v1/plugins/itest_ok/run", NULL, tok_read,
				 &status, &doc),
			 0);
	assert_int_equal(status, 403);
	json_decref(doc);
	assert_int_equal(th_json(&srv, "POST", "/api/v1/plugins/itest_ok/run", NULL, NULL, &status,
				 &doc),
			 0);
	assert_int_equal(status, 401);
	json_decref(doc);
	assert_int_equal(th_json(&srv, "POST", "/api/v1/plugins/nope/run", NULL, tok_write,
				 &status, &doc),
			 0);
	assert_int_equal(status, 404);
	assert_string_equal(json_string_value(json_object_get(doc, "detail")),
			    "no collector 'nope'");
	json_decref(doc);
	/* a native plugin is not a collector */
	assert_int_equal(th_json(&srv, "POST", "/api/v1/plugins/ingest/run", NULL, tok_write,
				 &status, &doc),
			 0);
	assert_int_equal(status, 404);
	json_decref(doc);
	doc = get_json("/api/v1/plugins/nope/runs", NULL, 404);
	json_decref(doc);
}

static void test_cli(void **state)
{
	char cfg[512], *out = NULL;
	json_t *doc;

	(void)state;
	snprintf(cfg, sizeof(cfg), "%s/terrarium.lua", srv.dir);
	{
		const char *args[] = { "collect", "itest_ok", "--config", cfg, "--dry-run", "--json",
				       NULL };

		assert_int_equal(th_cli(&srv, &out, args), 0);
		doc = json_loads(out, 0, NULL);
		assert_non_null(doc);
		assert_string_equal(json_string_value(json_object_get(doc, "source")),
				    "collector:itest_ok");
		assert_int_equal(json_array_size(json_object_get(doc, "entities")), 2);
		assert_string_equal(json_string_value(json_object_get(
					    json_object_get(doc, "run"), "status")),
				    "ok");
		json_decref(doc);
		free(out);
	}
	{
		const char *args[] = { "collect", "itest_bomb", "--config", cfg, NULL };

		assert_int_equal(th_cli(&srv, &out, args), 1);
		assert_non_null(strstr(out, "collector itest_bomb: failed"));
		free(out);
	}
	{
		const char *args[] = { "collect", "itest_none", "--config", cfg, NULL };

		assert_int_equal(th_cli(&srv, &out, args), 2);
		free(out);
	}
	{
		char dir[512], test[600];
		const char *args_new[] = { "plugin", "new", "itest_new", "--dir", dir, NULL };
		const char *args_test[] = { "plugin", "test", test, NULL };

		snprintf(dir, sizeof(dir), "%s/scratch/collectors", srv.dir);
		snprintf(test, sizeof(test), "%s/itest_new_test.lua", dir);
		assert_int_equal(th_cli(&srv, &out, args_new), 0);
		free(out);
		/* never over an existing file */
		assert_int_equal(th_cli(&srv, &out, args_new), 1);
		free(out);
		assert_int_equal(th_cli(&srv, &out, args_test), 0);
		assert_non_null(strstr(out, "2 passed, 0 failed"));
		free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listed),
		cmocka_unit_test(test_run_now),
		cmocka_unit_test(test_runaway_collectors),
		cmocka_unit_test(test_run_auth_and_unknown),
		cmocka_unit_test(test_cli),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
