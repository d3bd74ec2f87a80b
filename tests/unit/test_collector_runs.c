/*
 * Unit tests for catalog/collector_runs.c: a version-1 catalog is upgraded on
 * open and keeps its entities; runs are recorded, listed newest first and
 * trimmed to the newest CATALOG_COLLECTOR_RUNS_KEEP; the last run of each
 * collector; the stored collector state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"

struct fx {
	char dir[64];
	char path[128];
	struct catalog *cat;
};

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

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/terrarium-runs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/catalog.db", f->dir);
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

static void open_cat(struct fx *f)
{
	char err[256] = "";

	f->cat = catalog_open(f->path, err, sizeof(err));
	if (!f->cat)
		fail_msg("catalog_open: %s", err);
}

static int user_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void record(struct fx *f, const char *name, long long started, const char *status,
		   const char *error, long entities, const char *log)
{
	char err[256] = "";
	json_t *counts = json_pack("{s:i, s:i, s:i}", "entities", (int)entities, "edges", 1,
				   "fields", 2);
	struct catalog_collector_run run = {
		.collector = name,
		.started_at = started,
		.ended_at = started + 250,
		.status = status,
		.error = error,
		.counts = counts,
		.log = log,
	};
	long long id = 0;

	if (catalog_collector_run_record(f->cat, &run, &id, err, sizeof(err)) != 0)
		fail_msg("record: %s", err);
	assert_true(id > 0);
	json_decref(counts);
}

static void test_upgrade_from_version_1(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = NULL;
	json_t *doc = NULL, *runs = NULL;
	struct catalog_collector_state st;

	/* a file exactly as a version-1 terrarium left it, with one entity */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, catalog_migrations[0], NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "PRAGMA user_version = 1;"
				      "INSERT INTO entities(id, kind, namespace, name, name_lc,"
				      " short_lc, created_at, updated_at) VALUES("
				      "'dataset:pg://h:5432:db.s.t', 'dataset', 'pg://h:5432',"
				      " 'db.s.t', 'db.s.t', 't', 1000, 1000)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT * FROM collector_runs", NULL, NULL, NULL),
			 SQLITE_ERROR);
	sqlite3_close(db);
	assert_int_equal(user_version(f->path), 1);

	open_cat(f);
	assert_int_equal(user_version(f->path), CATALOG_SCHEMA_VERSION);
	assert_true(CATALOG_SCHEMA_VERSION >= 2);
	assert_int_equal(catalog_entity_get(f->cat, "dataset:pg://h:5432:db.s.t", &doc), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "name")), "db.s.t");
	json_decref(doc);
	/* the new tables work */
	record(f, "pg", 5000, "ok", NULL, 3, "one\ntwo\n");
	assert_int_equal(catalog_collector_runs(f->cat, "pg", 10, &runs), 0);
	assert_int_equal(json_array_size(runs), 1);
	json_decref(runs);
	assert_int_equal(catalog_collector_state_get(f->cat, "pg", &st), CATALOG_ENOTFOUND);
	/* and a second open finds nothing to do */
	catalog_close(f->cat);
	open_cat(f);
	assert_int_equal(catalog_collector_runs(f->cat, "pg", 10, &runs), 0);
	assert_int_equal(json_array_size(runs), 1);
	json_decref(runs);
}

static void test_runs(void **state)
{
	struct fx *f = *state;
	json_t *runs = NULL, *run, *last = NULL;
	char err[256] = "";

	open_cat(f);
	record(f, "pg", 1715655600000LL, "ok", NULL, 3, "2024 info first\n2024 info second\n");
	record(f, "pg", 1715655660000LL, "failed", "pg.lua:3: boom", 0, "");
	record(f, "redis", 1715655600500LL, "ok", NULL, 7, NULL);
	assert_int_equal(catalog_collector_runs(f->cat, "pg", 10, &runs), 0);
	assert_int_equal(json_array_size(runs), 2);
	/* newest first */
	run = json_array_get(runs, 0);
	assert_string_equal(json_string_value(json_object_get(run, "status")), "failed");
	assert_string_equal(json_string_value(json_object_get(run, "error")), "pg.lua:3: boom");
	assert_string_equal(json_string_value(json_object_get(run, "started_at")),
			    "2024-05-14T03:01:00.000Z");
	assert_int_equal(json_integer_value(json_object_get(run, "duration_ms")), 250);
	assert_int_equal(json_array_size(json_object_get(run, "log")), 0);
	run = json_array_get(runs, 1);
	assert_string_equal(json_string_value(json_object_get(run, "status")), "ok");
	assert_true(json_is_null(json_object_get(run, "error")));
	assert_string_equal(json_string_value(json_object_get(run, "collector")), "pg");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "counts"),
							    "entities")),
			 3);
	assert_int_equal(json_array_size(json_object_get(run, "log")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(run, "log"), 1)),
			    "2024 info second");
	json_decref(runs);
	/* limit, unknown collector, bad limit */
	assert_int_equal(catalog_collector_runs(f->cat, "pg", 1, &runs), 0);
	assert_int_equal(json_array_size(runs), 1);
	json_decref(runs);
	assert_int_equal(catalog_collector_runs(f->cat, "nobody", 10, &runs), 0);
	assert_int_equal(json_array_size(runs), 0);
	json_decref(runs);
	assert_int_equal(catalog_collector_runs(f->cat, "pg", 0, &runs), CATALOG_EINVAL);
	/* the last run of each */
	assert_int_equal(catalog_collector_last_runs(f->cat, &last), 0);
	assert_int_equal(json_object_size(last), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(last, "pg"),
							      "status")),
			    "failed");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(last, "redis"), "counts"),
				 "entities")),
			 7);
	json_decref(last);
	/* refused input */
	{
		struct catalog_collector_run bad = { .collector = "pg", .status = "maybe" };

		assert_int_equal(catalog_collector_run_record(f->cat, &bad, NULL, err, sizeof(err)),
				 CATALOG_EINVAL);
		bad.collector = "";
		bad.status = "ok";
		assert_int_equal(catalog_collector_run_record(f->cat, &bad, NULL, err, sizeof(err)),
				 CATALOG_EINVAL);
	}
}

static void test_runs_trimmed(void **state)
{
	struct fx *f = *state;
	json_t *runs = NULL;

	open_cat(f);
	for (int i = 0; i < CATALOG_COLLECTOR_RUNS_KEEP + 15; i++)
		record(f, "pg", 1000000LL + i * 1000, "ok", NULL, i, "x\n");
	record(f, "other", 5, "ok", NULL, 1, NULL);
	assert_int_equal(catalog_collector_runs(f->cat, "pg", 1000, &runs), 0);
	assert_int_equal(json_array_size(runs), CATALOG_COLLECTOR_RUNS_KEEP);
	/* the newest are kept */
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_array_get(runs, 0), "counts"), "entities")),
			 CATALOG_COLLECTOR_RUNS_KEEP + 14);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_array_get(runs, CATALOG_COLLECTOR_RUNS_KEEP - 1),
						 "counts"),
				 "entities")),
			 15);
	json_decref(runs);
	assert_int_equal(catalog_collector_runs(f->cat, "other", 10, &runs), 0);
	assert_int_equal(json_array_size(runs), 1);
	json_decref(runs);
}

static void test_state(void **state)
{
	struct fx *f = *state;
	struct catalog_collector_state st = { .failures = 3, .disabled = 1, .next_run = 0 };
	struct catalog_collector_state got;
	char err[256] = "";

	open_cat(f);
	st.tile = json_pack("{s:s, s:s}", "status", "down", "title", "db");
	assert_int_equal(catalog_collector_state_put(f->cat, "pg", &st, err, sizeof(err)), 0);
	json_decref(st.tile);
	assert_int_equal(catalog_collector_state_get(f->cat, "pg", &got), 0);
	assert_int_equal(got.failures, 3);
	assert_int_equal(got.disabled, 1);
	assert_int_equal(got.next_run, 0);
	assert_string_equal(json_string_value(json_object_get(got.tile, "status")), "down");
	json_decref(got.tile);
	/* replaced, tile dropped */
	st.failures = 0;
	st.disabled = 0;
	st.next_run = 1715655600000LL;
	st.tile = NULL;
	assert_int_equal(catalog_collector_state_put(f->cat, "pg", &st, err, sizeof(err)), 0);
	assert_int_equal(catalog_collector_state_get(f->cat, "pg", &got), 0);
	assert_int_equal(got.failures, 0);
	assert_int_equal(got.disabled, 0);
	assert_true(got.next_run == 1715655600000LL);
	assert_null(got.tile);
	assert_int_equal(catalog_collector_state_get(f->cat, "redis", &got), CATALOG_ENOTFOUND);
	assert_int_equal(catalog_collector_state_put(f->cat, "", &st, err, sizeof(err)),
			 CATALOG_EINVAL);
	/* kept across a reopen */
	catalog_close(f->cat);
	open_cat(f);
	assert_int_equal(catalog_collector_state_get(f->cat, "pg", &got), 0);
	assert_true(got.next_run == 1715655600000LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upgrade_from_version_1, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_runs, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_runs_trimmed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_state, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
