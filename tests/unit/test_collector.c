/*
 * Unit tests for the Lua collector runtime (hub/collector.c, hub/luaapi.c)
 * and the scheduler (hub/sched.c): what a collector emits lands in the
 * catalog as one snapshot of source "collector:<name>"; a failing run changes
 * nothing; forbidden capabilities and runaway scripts fail the run with their
 * reason; edits take effect at the next run; test files; back-off, disable
 * after max_failures, run-now, persisted state and shutdown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <sys/stat.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "hub/collector.h"
#include "hub/sched.h"
#include "hub/strbuf.h"

struct fx {
	char dir[64];
	char coll[128];    /* DIR/lua/collectors */
	char lib[128];     /* DIR/lua/lib */
	struct catalog *cat;
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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[192], err[256] = "";

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/terrarium-collector-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/lua", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(f->coll, sizeof(f->coll), "%s/lua/collectors", f->dir);
	snprintf(f->lib, sizeof(f->lib), "%s/lua/lib", f->dir);
	assert_int_equal(mkdir(f->coll, 0700), 0);
	assert_int_equal(mkdir(f->lib, 0700), 0);
	snprintf(path, sizeof(path), "%s/catalog.db", f->dir);
	f->cat = catalog_open(path, err, sizeof(err));
	if (!f->cat)
		fail_msg("catalog_open: %s", err);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	catalog_close(f->cat);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Write DIR/lua/collectors/NAME.lua (or, with LIB, DIR/lua/lib/NAME.lua). */
static void write_lua(struct fx *f, int lib, const char *name, const char *code)
{
	char path[256], tmp[300];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.lua", lib ? f->lib : f->coll, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(code, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, path), 0);
}

/* Run collector NAME once with SETTINGS (JSON text, NULL for {}); DRY: no catalog. */
static int run_opt(struct fx *f, const char *name, const char *settings, int dry,
		   struct collector_result *r)
{
	char path[256], err[256] = "";
	json_t *set = settings ? json_loads(settings, 0, NULL) : NULL;
	struct collector_spec spec = { .name = name, .path = path, .lib_dir = f->lib };
	struct collector_env env = { .cat = dry ? NULL : f->cat };
	int rc;

	if (settings && !set)
		fail_msg("bad settings JSON in the test: %s", settings);
	snprintf(path, sizeof(path), "%s/%s.lua", f->coll, name);
	spec.settings = set;
	if (collector_settings_parse(set, &spec.set, err, sizeof(err)) != 0)
		fail_msg("settings: %s", err);
	rc = collector_run(&spec, &env, r);
	json_decref(set);
	return rc;
}

static int run(struct fx *f, const char *name, const char *settings, struct collector_result *r)
{
	return run_opt(f, name, settings, 0, r);
}

/* Run CODE as collector "demo"; it must fail with an error holding WANT. */
static void expect_fail(struct fx *f, const char *settings, const char *code, const char *want)
{
	struct collector_result r;

	write_lua(f, 0, "demo", code);
	if (run(f, "demo", settings, &r) == 0)
		fail_msg("ran without error:\n%s", code);
	assert_false(r.ok);
	if (!strstr(r.error, want))
		fail_msg("error '%s' lacks '%s' for:\n%s", r.error, want, code);
	collector_result_release(&r);
}

/* The entity ID (new reference), or NULL. */
static json_t *entity(struct fx *f, const char *id)
{
	json_t *doc = NULL;

	if (catalog_entity_get(f->cat, id, &doc) != 0)
		return NULL;
	return doc;
}

static int is_stale(struct fx *f, const char *id)
{
	json_t *doc = entity(f, id);
	int stale;

	if (!doc)
		fail_msg("no entity '%s'", id);
	stale = json_is_true(json_object_get(doc, "stale"));
	json_decref(doc);
	return stale;
}

/* --- the API ---------------------------------------------------------------------------- */

#define ORDERS "dataset:postgres://db:5432:shop.public.orders"
#define ITEMS "dataset:postgres://db:5432:shop.public.items"
#define LOADER "job:airflow://sched:etl.load"

static const char demo_collector[] =
	"log.info('starting', { servers = #config.servers })\n"
	"local ns = config.servers[1].ns\n"
	"local orders = emit.dataset{ namespace = ns, name = 'shop.public.orders',\n"
	"  subtype = 'table', description = 'orders placed', tags = { 'core' },\n"
	"  properties = { rows = 42, vacuumed = true },\n"
	"  fields = { { name = 'id', type = 'integer', nullable = false },\n"
	"             { name = 'total', type = 'numeric' } } }\n"
	"local items = emit.entity{ kind = 'dataset', namespace = ns, name = 'shop.public.items',\n"
	"  fields = {} }\n"
	"local job = emit.job{ namespace = 'airflow://sched', name = 'etl.load' }\n"
	"assert(orders == emit.id('dataset', ns, 'shop.public.orders'))\n"
	"emit.edge(orders, job)\n"
	"emit.edge(job, items, 'lineage', { via = 'copy' })\n"
	"emit.edge(items, orders, 'relationship')\n"
	"tile{ status = 'up', title = 'shop db', numbers = { tables = 2, version = '15.4' } }\n"
	"metric('tables', 2, { db = 'shop' })\n"
	"metric('tables', 3, { db = 'shop' })\n"
	"metric('up', 1)\n"
	"log.warn('slow table', { table = 'orders', ms = 1200 })\n"
	"print('printed', 7)\n";

static const char demo_settings[] =
	"{\"interval\": 60, \"servers\": [{\"ns\": \"postgres://db:5432\", \"password\": \"pw\"}]}";

static void test_emit_to_catalog(void **state)
{
	struct fx *f = *state;
	struct collector_result r;
	json_t *doc, *v;
	size_t i;
	int found = 0;

	write_lua(f, 0, "demo", demo_collector);
	if (run(f, "demo", demo_settings, &r) != 0)
		fail_msg("run failed: %s", r.error);
	assert_true(r.ok);
	assert_string_equal(r.error, "");
	assert_int_equal(r.entities, 3);
	assert_int_equal(r.edges, 3);
	assert_int_equal(r.fields, 2);
	assert_int_equal(r.stats.created, 3);
	assert_true(r.ended_at >= r.started_at);

	doc = entity(f, ORDERS);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "description")),
			    "orders placed");
	assert_int_equal(json_array_size(json_object_get(doc, "fields")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "properties"),
							    "rows")),
			 42);
	v = json_object_get(doc, "sources");
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "collector:demo");
	json_array_foreach(json_object_get(doc, "downstream"), i, v)
		found += strcmp(json_string_value(json_object_get(v, "id")), LOADER) == 0;
	assert_int_equal(found, 1);
	json_decref(doc);
	doc = entity(f, LOADER);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "kind")), "job");
	json_decref(doc);

	/* the tile, the metrics (the second value of a series wins), the log */
	assert_non_null(r.tile);
	assert_string_equal(json_string_value(json_object_get(r.tile, "status")), "up");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.tile, "numbers"),
							    "tables")),
			 2);
	assert_int_equal(json_array_size(r.metrics), 2);
	v = json_array_get(r.metrics, 0);
	assert_string_equal(json_string_value(json_object_get(v, "name")), "tables");
	assert_true(json_number_value(json_object_get(v, "value")) == 3.0);
	assert_int_equal(r.log_lines, 3);
	assert_non_null(strstr(r.log, " info starting servers=1\n"));
	assert_non_null(strstr(r.log, " warn slow table"));
	assert_non_null(strstr(r.log, "table=orders"));
	assert_non_null(strstr(r.log, " info printed 7\n"));
	/* the settings' secret never shows in the log */
	assert_null(strstr(r.log, "pw"));
	assert_string_equal(json_string_value(json_object_get(r.batch, "source")),
			    "collector:demo");
	collector_result_release(&r);
}

static void test_snapshot_marks_stale(void **state)
{
	struct fx *f = *state;
	struct collector_result r;

	write_lua(f, 0, "demo", demo_collector);
	assert_int_equal(run(f, "demo", demo_settings, &r), 0);
	collector_result_release(&r);
	assert_false(is_stale(f, ITEMS));
	/* the same collector without items */
	write_lua(f, 0, "demo",
		  "emit.dataset{ namespace = 'postgres://db:5432', name = 'shop.public.orders' }\n"
		  "emit.job{ namespace = 'airflow://sched', name = 'etl.load' }\n");
	if (run(f, "demo", demo_settings, &r) != 0)
		fail_msg("second run failed: %s", r.error);
	assert_int_equal(r.stats.staled, 1);
	collector_result_release(&r);
	assert_true(is_stale(f, ITEMS));
	assert_false(is_stale(f, ORDERS));
	assert_false(is_stale(f, LOADER));
}

static void test_failed_run_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct collector_result r;
	json_t *doc;
	uint64_t gen;

	write_lua(f, 0, "demo", demo_collector);
	assert_int_equal(run(f, "demo", demo_settings, &r), 0);
	collector_result_release(&r);
	gen = catalog_generation(f->cat);
	write_lua(f, 0, "demo",
		  "emit.dataset{ namespace = 'postgres://db:5432', name = 'shop.public.new' }\n"
		  "tile{ status = 'down' }\n"
		  "error('boom')\n");
	assert_int_equal(run(f, "demo", demo_settings, &r), -1);
	assert_false(r.ok);
	assert_string_equal(r.error, "demo.lua:3: boom");
	/* what it emitted before failing is reported but not written */
	assert_int_equal(r.entities, 1);
	assert_int_equal(r.stats.created, 0);
	collector_result_release(&r);
	assert_int_equal(catalog_generation(f->cat), gen);
	assert_null(entity(f, "dataset:postgres://db:5432:shop.public.new"));
	assert_false(is_stale(f, ITEMS));
	doc = entity(f, ORDERS);
	assert_string_equal(json_string_value(json_object_get(doc, "description")),
			    "orders placed");
	json_decref(doc);

	/* an error object that is not a string, and a missing file */
	expect_fail(f, NULL, "error({ code = 7 })", "error object is a table");
	{
		struct collector_result r2;

		assert_int_equal(run(f, "missing", NULL, &r2), -1);
		assert_non_null(strstr(r2.error, "cannot read"));
		assert_non_null(strstr(r2.error, "missing.lua"));
		collector_result_release(&r2);
	}
}

static void test_forbidden(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *code, *want;
	} cases[] = {
		{ "io.open('/etc/passwd')", "global 'io'" },
		{ "io.popen('id')", "global 'io'" },
		{ "os.execute('true')", "field 'execute'" },
		{ "os.exit(1)", "field 'exit'" },
		{ "os.getenv('HOME')", "field 'getenv'" },
		{ "os.remove('/tmp/x')", "field 'remove'" },
		{ "loadfile('/etc/passwd')", "global 'loadfile'" },
		{ "dofile('/etc/passwd')", "global 'dofile'" },
		{ "require 'io'", "require: no module 'io'" },
		{ "require 'os'", "require: no module 'os'" },
		{ "require 'debug'", "require: no module 'debug'" },
		{ "require 'socket.core'", "require: no module 'socket.core'" },
		{ "require 'lfs'", "require: no module 'lfs'" },
		{ "require '../../../etc/passwd'", "require: no module" },
		{ "package.loadlib('libc.so.6', 'system')", "global 'package'" },
		{ "string.dump(function() end)", "field 'dump'" },
		{ "local s = ''; s:dump()", "method 'dump'" },
		{ "assert(load('\\27Lua\\84\\0'))", "attempt to load a binary chunk" },
		{ "assert(load(function() return '\\27Lua' end))", "binary chunk" },
		{ "debug.getinfo(1)", "global 'debug'" },
		{ "debug.sethook()", "global 'debug'" },
		{ "collectgarbage('stop')", "is not allowed" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_fail(f, NULL, cases[i].code, cases[i].want);
	/* the "boom" collector's neighbours are untouched: nothing was written */
	assert_null(entity(f, ORDERS));
}

static void test_limits(void **state)
{
	struct fx *f = *state;
	double t0 = now_s();

	/* memory */
	expect_fail(f, "{\"mem_max\": \"8MiB\"}",
		    "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n",
		    "stopped: out of memory (limit 8388608 bytes)");
	expect_fail(f, "{\"mem_max\": 8388608}",
		    "local s = 'x'\nwhile true do s = s .. s end\n", "stopped: out of memory");
	/* time: instructions, then the wall clock */
	expect_fail(f, "{\"instr_max\": 20000000}", "while true do end\n",
		    "stopped: instruction limit of 20000000 exceeded");
	expect_fail(f, "{\"timeout\": 0.3}", "while true do end\n",
		    "stopped: wall-clock limit of 300 ms exceeded");
	/* a loop inside pcall cannot swallow the stop */
	expect_fail(f, "{\"timeout\": 0.3}",
		    "while true do pcall(function() while true do end end) end\n",
		    "stopped: wall-clock limit of 300 ms exceeded");
	expect_fail(f, "{\"timeout\": 0.3}",
		    "local ok, e = pcall(function() while true do end end)\n"
		    "emit.dataset{ namespace = 'x://y', name = 'after' }\n",
		    "stopped: wall-clock limit");
	/* deep recursion, in Lua and through a metamethod (C stack) */
	expect_fail(f, NULL, "local function f(n) return 1 + f(n + 1) end\nf(1)\n",
		    "stack overflow");
	expect_fail(f, NULL,
		    "local t = setmetatable({}, { __index = function(t, k) return t[k] end })\n"
		    "local x = t.a\n",
		    "stack overflow");
	/* coroutines are counted too */
	expect_fail(f, "{\"timeout\": 0.3}",
		    "local co = coroutine.wrap(function() while true do end end)\nco()\n",
		    "stopped: wall-clock limit");
	assert_null(entity(f, "dataset:x://y:after"));
	/* all of that took seconds, not minutes */
	assert_true(now_s() - t0 < 60);
}

static void test_bad_emits(void **state)
{
	struct fx *f = *state;

	expect_fail(f, NULL, "emit.entity{ name = 'x' }",
		    "demo.lua:1: emit.entity: kind, namespace and name are required");
	expect_fail(f, NULL, "emit.dataset{ kind = 'job', namespace = 'a://b', name = 'x' }",
		    "emit.dataset: kind must be 'dataset'");
	expect_fail(f, NULL, "emit.entity('x')", "bad argument #1 to 'entity' (table expected");
	expect_fail(f, NULL,
		    "emit.dataset{ namespace = 'a://b', name = 'x', properties = { f = print } }",
		    "emit.dataset: properties.f: cannot encode a function");
	expect_fail(f, NULL,
		    "local t = {}\nt.t = t\nemit.dataset{ namespace = 'a://b', name = 'x', "
		    "properties = t }",
		    "nested too deeply");
	expect_fail(f, NULL, "emit.dataset{ namespace = 'a://b', name = 'x\\255' }",
		    "not valid UTF-8");
	expect_fail(f, NULL, "emit.edge('a:b:c', 'd:e:f', 'owns')", "expected \"lineage\" or");
	expect_fail(f, NULL, "emit.edge('a:b:c')", "bad argument #2 to 'edge'");
	expect_fail(f, NULL, "tile{ status = 'green' }", "tile: status: expected up, down");
	expect_fail(f, NULL, "tile{ colour = 'red' }", "tile: unknown key 'colour'");
	expect_fail(f, NULL, "metric('bad name', 1)", "bad argument #1 to 'metric'");
	expect_fail(f, NULL, "metric('x', 0/0)", "expected a finite number");
	expect_fail(f, NULL, "metric('x', 1, { collector = 'y' })", "label name 'collector'");
	expect_fail(f, NULL, "log.info('x', { 1, 2 })", "fields: expected a table of name");
	/* a document the catalog refuses fails the run, naming where it was emitted */
	expect_fail(f, NULL,
		    "emit.dataset{ namespace = 'a://b', name = 'ok' }\n"
		    "emit.dataset{ namespace = 'a://b', name = 'x', fields = 'id' }\n",
		    "demo.lua:2: emitted entity 'x' was refused: fields");
	assert_null(entity(f, "dataset:a://b:ok"));
}

static void test_json_and_time(void **state)
{
	struct fx *f = *state;
	struct collector_result r;

	write_lua(f, 0, "demo",
		  "local v = json.decode('{\"a\": [1, 2.5, \"x\", null, true], \"b\": {}}')\n"
		  "assert(v.a[1] == 1 and math.type(v.a[1]) == 'integer')\n"
		  "assert(v.a[2] == 2.5 and v.a[3] == 'x' and v.a[4] == json.null)\n"
		  "assert(v.a[5] == true and next(v.b) == nil)\n"
		  "assert(json.encode({ b = 1, a = { 1, 2 }, c = json.null }) ==\n"
		  "       '{\"a\":[1,2],\"b\":1,\"c\":null}')\n"
		  "assert(json.encode('x') == '\"x\"' and json.encode({}) == '{}')\n"
		  "assert(json.encode({ [1] = 'a', [3] = 'c' }) == '{\"1\":\"a\",\"3\":\"c\"}')\n"
		  "local bad, err = json.decode('{\"a\": ')\n"
		  "assert(bad == nil and err:find('^json: '))\n"
		  "assert(not pcall(json.encode, { f = print }))\n"
		  "assert(time.iso(0) == '1970-01-01T00:00:00Z')\n"
		  "assert(time.iso(1715655600.25) == '2024-05-14T03:00:00.250Z')\n"
		  "assert(time.parse('2024-05-14T03:00:00Z') == 1715655600)\n"
		  "assert(time.parse('2024-05-14T05:00:00+02:00') == 1715655600)\n"
		  "assert(time.parse('2024-05-14 03:00:00.5') == 1715655600.5)\n"
		  "assert(time.parse('2024-05-14') == 1715644800)\n"
		  "local t, e = time.parse('2024-02-30T00:00:00Z')\n"
		  "assert(t == nil and e:find('not an RFC 3339 time'))\n"
		  "assert(time.parse(time.iso(1234567890)) == 1234567890)\n"
		  "assert(math.abs(time.now() - os.time()) < 5)\n");
	if (run(f, "demo", NULL, &r) != 0)
		fail_msg("run failed: %s", r.error);
	collector_result_release(&r);
}

static void test_edit_between_runs(void **state)
{
	struct fx *f = *state;
	struct collector_result r;

	write_lua(f, 0, "demo", "emit.dataset{ namespace = 'x://h', name = 'first' }\n");
	assert_int_equal(run(f, "demo", NULL, &r), 0);
	collector_result_release(&r);
	write_lua(f, 0, "demo", "emit.dataset{ namespace = 'x://h', name = 'second' }\n");
	assert_int_equal(run(f, "demo", NULL, &r), 0);
	collector_result_release(&r);
	assert_true(is_stale(f, "dataset:x://h:first"));
	assert_false(is_stale(f, "dataset:x://h:second"));
	/* a syntax error in the edited file fails the next run and changes nothing */
	write_lua(f, 0, "demo", "emit.dataset{ namespace = 'x://h', name = 'third' \n");
	assert_int_equal(run(f, "demo", NULL, &r), -1);
	assert_non_null(strstr(r.error, "demo.lua:"));
	assert_non_null(strstr(r.error, "expected"));
	collector_result_release(&r);
	assert_false(is_stale(f, "dataset:x://h:second"));
}

static void test_require_lib(void **state)
{
	struct fx *f = *state;
	struct collector_result r;

	write_lua(f, 1, "helper",
		  "local M = { loads = (HELPER_LOADS or 0) + 1 }\nHELPER_LOADS = M.loads\n"
		  "function M.table(name) return emit.dataset{ namespace = 'x://lib', name = name } "
		  "end\nreturn M\n");
	write_lua(f, 0, "demo",
		  "local h = require 'helper'\nlocal h2 = require 'helper'\n"
		  "assert(h == h2 and h.loads == 1)\nh.table('from_lib')\n");
	if (run(f, "demo", NULL, &r) != 0)
		fail_msg("run failed: %s", r.error);
	collector_result_release(&r);
	assert_false(is_stale(f, "dataset:x://lib:from_lib"));
	/* an error inside a helper names the helper's file */
	write_lua(f, 1, "broken", "local x = nil\nreturn x.y\n");
	expect_fail(f, NULL, "require 'broken'", "broken.lua:2:");
	/* ...every time it is required, not "a loop" the second time */
	expect_fail(f, NULL,
		    "local ok, e = pcall(require, 'broken')\nassert(not ok)\nrequire 'broken'\n",
		    "broken.lua:2:");
	/* a helper that requires itself */
	write_lua(f, 1, "loop", "return require 'loop'\n");
	expect_fail(f, NULL, "require 'loop'", "requires itself");
}

static void test_log_bounds(void **state)
{
	struct fx *f = *state;
	struct collector_result r;

	write_lua(f, 0, "demo",
		  "for i = 1, 1000 do log.info('line ' .. i) end\n"
		  "log.error('with\\ncontrol\\1chars')\n");
	assert_int_equal(run(f, "demo", NULL, &r), 0);
	assert_int_equal(r.log_lines, COLLECTOR_LOG_LINES_MAX);
	assert_int_equal(r.log_dropped, 1001 - COLLECTOR_LOG_LINES_MAX);
	assert_non_null(strstr(r.log, "line 200\n"));
	assert_null(strstr(r.log, "line 201\n"));
	collector_result_release(&r);

	write_lua(f, 0, "demo",
		  "log.error('with\\ncontrol\\1chars and \\255 bad')\n"
		  "log.info(string.rep('y', 100000))\n");
	assert_int_equal(run(f, "demo", NULL, &r), 0);
	assert_non_null(strstr(r.log, "with\\ncontrol\\x01chars and ? bad\n"));
	assert_true(strlen(r.log) < 8192);
	collector_result_release(&r);
}

static void test_dry_run(void **state)
{
	struct fx *f = *state;
	struct collector_result r;

	write_lua(f, 0, "demo", demo_collector);
	assert_int_equal(run_opt(f, "demo", demo_settings, 1, &r), 0);
	assert_int_equal(json_array_size(json_object_get(r.batch, "entities")), 3);
	assert_int_equal(json_array_size(json_object_get(r.batch, "edges")), 3);
	assert_int_equal(r.stats.created, 0);
	collector_result_release(&r);
	assert_null(entity(f, ORDERS));
}

static void test_settings_and_redact(void **state)
{
	struct collector_settings set;
	char err[256];
	json_t *in, *out;

	(void)state;
	assert_int_equal(collector_settings_parse(NULL, &set, err, sizeof(err)), 0);
	assert_int_equal(set.interval_ms, 300000);
	assert_int_equal(set.timeout_ms, 60000);
	assert_int_equal(set.max_failures, 5);
	assert_true(set.mem_max == 64u * 1024 * 1024);
	assert_true(set.enabled);
	in = json_pack("{s:f, s:s, s:i, s:b}", "interval", 0.25, "mem_max", "16MiB",
		       "max_failures", 2, "enabled", 0);
	assert_int_equal(collector_settings_parse(in, &set, err, sizeof(err)), 0);
	assert_int_equal(set.interval_ms, 250);
	assert_true(set.mem_max == 16u * 1024 * 1024);
	assert_int_equal(set.max_failures, 2);
	assert_false(set.enabled);
	json_decref(in);
	in = json_pack("{s:s}", "interval", "often");
	assert_int_equal(collector_settings_parse(in, &set, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "interval: expected a number of seconds"));
	json_decref(in);
	in = json_pack("{s:i}", "max_failures", 0);
	assert_int_equal(collector_settings_parse(in, &set, err, sizeof(err)), -1);
	json_decref(in);

	in = json_loads("{\"password\": \"p\", \"db_password\": \"p2\", \"DSN\": \"host=x\","
			" \"url\": \"postgres://u:secret@db:5432/x\", \"plain\": \"http://db/x\","
			" \"servers\": [{\"api_key\": \"k\", \"host\": \"h\"}], \"n\": 3}",
			0, NULL);
	out = collector_redact(in);
	assert_string_equal(json_string_value(json_object_get(out, "password")), "***");
	assert_string_equal(json_string_value(json_object_get(out, "db_password")), "***");
	assert_string_equal(json_string_value(json_object_get(out, "DSN")), "***");
	assert_string_equal(json_string_value(json_object_get(out, "url")), "***");
	assert_string_equal(json_string_value(json_object_get(out, "plain")), "http://db/x");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(out, "servers"), 0), "api_key")),
			    "***");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(out, "servers"), 0), "host")),
			    "h");
	assert_int_equal(json_integer_value(json_object_get(out, "n")), 3);
	json_decref(in);
	json_decref(out);

	{
		char lib[256];

		assert_int_equal(collector_lib_dir("lua/collectors/pg.lua", lib, sizeof(lib)), 0);
		assert_string_equal(lib, "lua/lib");
		assert_int_equal(collector_lib_dir("/d/collectors/pg.lua", lib, sizeof(lib)), 0);
		assert_string_equal(lib, "/d/lib");
	}
	assert_true(collector_name_valid("postgres_2"));
	assert_false(collector_name_valid("Postgres"));
	assert_false(collector_name_valid("../x"));
	assert_false(collector_name_valid(""));
}

/* --- test files --------------------------------------------------------------------------- */

static void test_test_files(void **state)
{
	struct fx *f = *state;
	struct collector_spec spec = { .name = "demo", .lib_dir = f->lib };
	struct collector_env env = { 0 };
	struct collector_test_result tr;
	char path[256], tpath[256], err[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/demo.lua", f->coll);
	snprintf(tpath, sizeof(tpath), "%s/demo_test.lua", f->coll);
	spec.path = path;
	assert_int_equal(collector_settings_parse(NULL, &spec.set, err, sizeof(err)), 0);
	write_lua(f, 0, "demo",
		  "local http = require 'http'\n"
		  "local doc = assert(http.get_json(config.url))\n"
		  "for _, t in ipairs(doc.tables) do\n"
		  "  emit.dataset{ namespace = 'x://h', name = t }\n"
		  "end\n"
		  "tile{ status = #doc.tables > 0 and 'up' or 'degraded' }\n"
		  "log.info('done', { n = #doc.tables })\n"
		  "if config.fail then error('asked to fail') end\n");
	write_lua(f, 0, "demo_test",
		  "mock('http', { get_json = function(url)\n"
		  "  assert_eq(url, 'http://fake/tables')\n"
		  "  return { tables = { 'a', 'b' } }\n"
		  "end })\n"
		  "test('emits a dataset per table', function()\n"
		  "  local out = assert(run_collector{ url = 'http://fake/tables' })\n"
		  "  assert_eq(#out.entities, 2)\n"
		  "  local e = expect_emit(out, { kind = 'dataset', name = 'b' })\n"
		  "  assert_eq(e.namespace, 'x://h')\n"
		  "  assert_eq(out.tile, { status = 'up' })\n"
		  "  assert_eq(out.logs[1].fields, { n = 2 })\n"
		  "end)\n"
		  "test('reports the error', function()\n"
		  "  local out, err, partial = run_collector{ url = 'http://fake/tables', fail = true }\n"
		  "  assert_eq(out, nil)\n"
		  "  assert_match(err, 'asked to fail')\n"
		  "  assert_eq(#partial.entities, 2)\n"
		  "end)\n"
		  "test('a failing assertion', function()\n"
		  "  local out = run_collector{ url = 'http://fake/tables' }\n"
		  "  expect_emit(out, { name = 'zzz' })\n"
		  "end)\n"
		  "test('deep inequality', function() assert_eq({ a = { 1, 2 } }, { a = { 1, 3 } }) "
		  "end)\n"
		  "log.info('the test file logs too')\n");
	assert_int_equal(collector_test(&spec, tpath, &env, &tr), -1);
	assert_int_equal(tr.passed, 2);
	assert_int_equal(tr.failed, 2);
	assert_string_equal(tr.error, "");
	assert_non_null(strstr(tr.output, "ok 1 - emits a dataset per table\n"));
	assert_non_null(strstr(tr.output, "ok 2 - reports the error\n"));
	assert_non_null(strstr(tr.output, "not ok 3 - a failing assertion: demo_test.lua:21: "
					  "expected an emitted entity like {name = \"zzz\"}"));
	assert_non_null(strstr(tr.output, "not ok 4 - deep inequality: demo_test.lua:23: expected"
					  " {a = {1, 3}}, got {a = {1, 2}}"));
	assert_non_null(strstr(tr.output, "# "));
	assert_non_null(strstr(tr.output, "the test file logs too"));
	assert_non_null(strstr(tr.output, "2 passed, 2 failed"));
	collector_test_release(&tr);

	/* all passing */
	fp = fopen(tpath, "w");
	assert_non_null(fp);
	fputs("mock('http', { get_json = function() return { tables = {} } end })\n"
	      "test('empty', function()\n"
	      "  local out = assert(run_collector{ url = 'u' })\n"
	      "  assert_eq(#out.entities, 0)\n"
	      "  assert_eq(out.tile.status, 'degraded')\n"
	      "end)\n",
	      fp);
	fclose(fp);
	assert_int_equal(collector_test(&spec, tpath, &env, &tr), 0);
	assert_int_equal(tr.passed, 1);
	assert_int_equal(tr.failed, 0);
	collector_test_release(&tr);

	/* an error outside test() stops the file; a runaway test is stopped */
	fp = fopen(tpath, "w");
	assert_non_null(fp);
	fputs("test('spins', function() while true do end end)\n", fp);
	fclose(fp);
	spec.set.timeout_ms = 300;
	assert_int_equal(collector_test(&spec, tpath, &env, &tr), -1);
	assert_non_null(strstr(tr.error, "stopped: wall-clock limit"));
	collector_test_release(&tr);
	/* a test file never writes to the catalog */
	assert_null(entity(f, "dataset:x://h:a"));
}

/* --- the scheduler -------------------------------------------------------------------------- */

static struct sched *make_sched(struct fx *f, json_t *plugins_cfg)
{
	const char *dirs[] = { f->coll, NULL };
	struct sched_env env = {
		.cat = f->cat,
		.plugins_cfg = plugins_cfg,
		.dirs = dirs,
		.workers = 2,
		.min_interval_ms = 10,
		.min_backoff_ms = 10,
		.max_backoff_ms = 2000,
	};
	char err[256] = "";
	struct sched *s = sched_create(&env, err, sizeof(err));

	if (!s)
		fail_msg("sched_create: %s", err);
	return s;
}

/* The field KEY of collector NAME in S's list (new reference). */
static json_t *info(struct sched *s, const char *name)
{
	json_t *c = sched_get(s, name);

	if (!c)
		fail_msg("no collector '%s'", name);
	return c;
}

static const char *status_of(json_t *c)
{
	return json_string_value(json_object_get(c, "status"));
}

/* Wait (at most 20 s) until NAME's status is WANT and at least RUNS ran. */
static json_t *wait_status(struct sched *s, const char *name, const char *want, long runs)
{
	for (int i = 0; i < 2000; i++) {
		json_t *c = info(s, name);

		if (strcmp(status_of(c), want) == 0 &&
		    json_integer_value(json_object_get(c, "runs")) >= runs)
			return c;
		json_decref(c);
		sleep_ms(10);
	}
	fail_msg("collector '%s' never reached status '%s' after %ld runs", name, want, runs);
	return NULL;
}

static long long run_start_ms(json_t *run)
{
	struct tm tm = { 0 };
	int ms = 0;
	const char *s = json_string_value(json_object_get(run, "started_at"));

	assert_non_null(s);
	assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
				&tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
			 7);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000 + ms;
}

static void test_sched_backoff_and_disable(void **state)
{
	struct fx *f = *state;
	json_t *cfg = json_loads("{\"flaky\": {\"interval\": 0.2, \"max_failures\": 3},"
				 " \"good\": {\"interval\": 3600},"
				 " \"nofile\": {}, \"Bad-Name\": {}}",
				 0, NULL);
	struct sched *s;
	json_t *c, *runs = NULL;
	long long t[3];
	struct strbuf sb;

	write_lua(f, 0, "flaky", "error('database unreachable')\n");
	write_lua(f, 0, "good", "emit.dataset{ namespace = 'x://g', name = 'g' }\n"
				"tile{ status = 'up', title = 'good' }\nmetric('things', 4)\n");
	s = make_sched(f, cfg);
	/* only entries with a file are collectors */
	assert_int_equal(sched_count(s), 2);
	c = info(s, "flaky");
	assert_string_equal(status_of(c), "never");
	json_decref(c);
	assert_int_equal(sched_start(s), 0);

	c = wait_status(s, "flaky", "disabled", 3);
	assert_int_equal(json_integer_value(json_object_get(c, "failures")), 3);
	assert_string_equal(json_string_value(json_object_get(c, "error")),
			    "flaky.lua:1: database unreachable");
	assert_true(json_is_null(json_object_get(c, "next_run")));
	json_decref(c);
	/* the waits grew: one interval, then two */
	assert_int_equal(catalog_collector_runs(f->cat, "flaky", 10, &runs), 0);
	assert_int_equal(json_array_size(runs), 3);
	for (int i = 0; i < 3; i++)
		t[i] = run_start_ms(json_array_get(runs, (size_t)(2 - i)));
	assert_true(t[1] - t[0] >= 190);
	assert_true(t[2] - t[1] >= 390);
	assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "status")),
			    "failed");
	json_decref(runs);
	/* disabled: no more runs */
	sleep_ms(700);
	c = info(s, "flaky");
	assert_int_equal(json_integer_value(json_object_get(c, "runs")), 3);
	json_decref(c);

	/* the other collector ran once and keeps its tile and metrics */
	c = wait_status(s, "good", "ok", 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "counts"),
							    "entities")),
			 1);
	json_decref(c);
	c = sched_tiles(s);
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "plugin")),
			    "good");
	json_decref(c);
	strbuf_init(&sb, 1 << 20);
	sched_metrics(s, &sb);
	assert_non_null(strstr(sb.buf, "terrarium_collector_things{collector=\"good\"} 4\n"));
	assert_non_null(strstr(sb.buf, "terrarium_scheduler_runs_total{collector=\"flaky\","
					"status=\"failed\"} 3\n"));
	assert_non_null(strstr(sb.buf, "terrarium_scheduler_disabled{collector=\"flaky\"} 1\n"));
	strbuf_release(&sb);

	/* a manual run that succeeds enables it again */
	write_lua(f, 0, "flaky", "emit.dataset{ namespace = 'x://f', name = 'fixed' }\n");
	assert_int_equal(sched_run_now(s, "flaky"), SCHED_OK);
	c = wait_status(s, "flaky", "ok", 4);
	assert_int_equal(json_integer_value(json_object_get(c, "failures")), 0);
	assert_false(json_is_null(json_object_get(c, "next_run")));
	json_decref(c);
	assert_int_equal(sched_run_now(s, "nofile"), SCHED_ENOTFOUND);
	assert_int_equal(sched_run_now(s, "nope"), SCHED_ENOTFOUND);
	sched_destroy(s);

	/* the state survives a restart */
	write_lua(f, 0, "flaky", "error('down again')\n");
	{
		struct catalog_collector_state st;

		assert_int_equal(catalog_collector_state_get(f->cat, "flaky", &st), 0);
		assert_int_equal(st.failures, 0);
		assert_false(st.disabled);
		json_decref(st.tile);
		assert_int_equal(catalog_collector_state_get(f->cat, "good", &st), 0);
		assert_non_null(st.tile);
		json_decref(st.tile);
	}
	s = make_sched(f, cfg);
	c = info(s, "good");
	/* it ran less than an hour ago: not due, and its last run is known */
	assert_string_equal(status_of(c), "ok");
	assert_false(json_is_null(json_object_get(c, "last_run")));
	json_decref(c);
	c = sched_tiles(s);
	assert_int_equal(json_array_size(c), 1);
	json_decref(c);
	sched_destroy(s);
	json_decref(cfg);
}

static void test_sched_busy_and_shutdown(void **state)
{
	struct fx *f = *state;
	json_t *cfg = json_loads("{\"spin\": {\"interval\": 3600, \"timeout\": 1.0},"
				 " \"broken\": {\"interval\": \"soon\"}}",
				 0, NULL);
	struct sched *s;
	json_t *c, *runs = NULL;
	double t0;

	write_lua(f, 0, "spin", "while true do end\n");
	write_lua(f, 0, "broken", "emit.dataset{ namespace = 'x://b', name = 'b' }\n");
	s = make_sched(f, cfg);
	c = info(s, "broken");
	assert_string_equal(status_of(c), "failed");
	assert_non_null(strstr(json_string_value(json_object_get(c, "error")), "settings: interval"));
	json_decref(c);
	assert_int_equal(sched_run_now(s, "broken"), SCHED_EINVAL);
	assert_int_equal(sched_start(s), 0);
	json_decref(wait_status(s, "spin", "running", 0));
	assert_int_equal(sched_run_now(s, "spin"), SCHED_EBUSY);
	/* shutdown waits for the run, which its own timeout bounds */
	t0 = now_s();
	sched_destroy(s);
	assert_true(now_s() - t0 < 5.0);
	assert_int_equal(catalog_collector_runs(f->cat, "spin", 10, &runs), 0);
	assert_int_equal(json_array_size(runs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "error")),
			    "stopped: wall-clock limit of 1000 ms exceeded");
	json_decref(runs);
	assert_int_equal(catalog_collector_runs(f->cat, "broken", 10, &runs), 0);
	assert_int_equal(json_array_size(runs), 0);
	json_decref(runs);
	json_decref(cfg);
}

/* The dashboard tile follows failures. */
static void test_sched_tiles_on_failure(void **state)
{
	struct fx *f = *state;
	json_t *cfg = json_loads("{\"tiled\": {\"interval\": 3600}}", 0, NULL);
	struct sched *s;
	json_t *tiles, *t;

	write_lua(f, 0, "tiled", "tile{ status = 'up', title = 'db', numbers = { n = 1 } }\n");
	s = make_sched(f, cfg);
	assert_int_equal(sched_start(s), 0);
	json_decref(wait_status(s, "tiled", "ok", 1));
	tiles = sched_tiles(s);
	t = json_array_get(tiles, 0);
	assert_string_equal(json_string_value(json_object_get(t, "status")), "up");
	assert_null(json_object_get(t, "error"));
	json_decref(tiles);
	/* a failed run that says "down" */
	write_lua(f, 0, "tiled", "tile{ status = 'down', title = 'db' }\nerror('refused')\n");
	assert_int_equal(sched_run_now(s, "tiled"), SCHED_OK);
	json_decref(wait_status(s, "tiled", "failed", 2));
	tiles = sched_tiles(s);
	t = json_array_get(tiles, 0);
	assert_string_equal(json_string_value(json_object_get(t, "status")), "down");
	assert_string_equal(json_string_value(json_object_get(t, "error")), "tiled.lua:2: refused");
	json_decref(tiles);
	/* a failed run that says nothing: the last tile, status unknown */
	write_lua(f, 0, "tiled", "error('again')\n");
	assert_int_equal(sched_run_now(s, "tiled"), SCHED_OK);
	json_decref(wait_status(s, "tiled", "failed", 3));
	tiles = sched_tiles(s);
	t = json_array_get(tiles, 0);
	assert_string_equal(json_string_value(json_object_get(t, "status")), "unknown");
	assert_string_equal(json_string_value(json_object_get(t, "title")), "db");
	assert_string_equal(json_string_value(json_object_get(t, "error")), "tiled.lua:1: again");
	json_decref(tiles);
	sched_destroy(s);
	json_decref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_emit_to_catalog, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_marks_stale, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failed_run_changes_nothing, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_forbidden, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_limits, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_emits, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_json_and_time, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edit_between_runs, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_require_lib, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_log_bounds, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_dry_run, fx_setup, fx_teardown),
		cmocka_unit_test(test_settings_and_redact),
		cmocka_unit_test_setup_teardown(test_test_files, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sched_backoff_and_disable, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_sched_busy_and_shutdown, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sched_tiles_on_failure, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
