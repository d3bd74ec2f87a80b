/*
 * The PostgreSQL collector (lua/collectors/postgres.lua) against a real
 * PostgreSQL (tests/lib/pg.h) loaded with tests/data/postgres/schema.sql,
 * run the way a user runs it: `terrarium collect postgres --config CFG --data
 * DIR` with the real binary ($TERRARIUM_BIN, default build/terrarium).  What
 * it wrote is read back from DIR/catalog.db through the catalog API.
 *
 * In order (the tests share the server and the catalog):
 *   1. a crawl as the superuser: datasets, fields, keys, comments,
 *      descriptions, view lineage with columns, foreign keys, odd names,
 *      row estimates, sizes, owners, the service entity and the tile;
 *   2. a table is dropped: the next crawl marks it stale;
 *   3. a crawl as a role with no table privileges: it succeeds, and warns
 *      that it may not connect to the database it lacks CONNECT on;
 *   4. the server is stopped: the crawl fails naming the connection, and the
 *      catalog is unchanged.
 * First, lua/collectors/postgres_test.lua (the collector on a fake binding)
 * runs through `terrarium plugin test`.
 * Every process started is bounded in time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "tests/lib/collect.h"
#include "tests/lib/pg.h"

#define SCHEMA_SQL "tests/data/postgres/schema.sql"
#define RUN_MS 120000   /* one `terrarium collect` */
#define PSQL_MS 120000  /* loading the fixture */

static struct pg_test_server pg;
static int pg_up;
static struct tc_dirs td;      /* the temporary directory, the data dir, outputs */
static char cfg_super[300], cfg_reader[300];
static char ns[64];            /* "postgres://127.0.0.1:PORT" */

/* --- processes ---------------------------------------------------------------------- */

/*
 * `terrarium collect postgres --json --config CFG --data DATA_DIR`: the exit
 * status.  *OUT (may be NULL) gets what it printed on standard output (the
 * batch with tile, metrics and log, as JSON), *ERRTEXT (may be NULL) what it
 * printed on standard error (the log lines and the reason of a failure);
 * both malloc'd.  Tests run from the repository root, where the binary finds
 * lua/collectors/postgres.lua.
 */
static int collect(const char *cfg, char **out, char **errtext)
{
	return tc_collect(&td, "postgres", cfg, RUN_MS, out, errtext);
}

/* Run SQL in database DB as the superuser. */
static void exec_in(const char *db, const char *sql)
{
	char conninfo[600];
	PGconn *c;
	PGresult *r;

	snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", pg.dsn, db);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", db, PQerrorMessage(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

/* A config for the collector connecting as USER. */
static void write_config(const char *path, const char *user)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "-- written by test_collector_postgres\n"
		 "plugins = {\n"
		 "  postgres = { timeout = 100, query_timeout = 30,\n"
		 "               dsn = \"host=127.0.0.1 port=%d user=%s dbname=postgres\" },\n"
		 "}\n",
		 pg.port, user);
	tc_write_file(path, text);
}

/* --- the catalog -------------------------------------------------------------------- */

/* The id of dataset NAME (db.schema.table) on the test server. */
static const char *ds(const char *name)
{
	return tc_id("dataset", ns, name);
}

/* The edge SRC -> DST of KIND from the export (new reference), or NULL. */
static json_t *export_edge(const char *text, const char *src, const char *dst, const char *kind)
{
	const char *line = text;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		json_t *j = json_loadb(line, n, 0, NULL);

		if (j && strcmp(tc_str(j, "type"), "edge") == 0 && strcmp(tc_str(j, "src"), src) == 0 &&
		    strcmp(tc_str(j, "dst"), dst) == 0 && strcmp(tc_str(j, "kind"), kind) == 0)
			return j;
		json_decref(j);
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

/* Whether TEXT holds S, as it is or with its quotes escaped (\") as the
 * process log writes them. */
static int mentions(const char *text, const char *s)
{
	char esc[512];
	size_t j = 0;

	for (size_t i = 0; s[i] && j + 2 < sizeof(esc); i++) {
		if (s[i] == '"')
			esc[j++] = '\\';
		esc[j++] = s[i];
	}
	esc[j] = '\0';
	return strstr(text, s) != NULL || strstr(text, esc) != NULL;
}

/* --- setup ---------------------------------------------------------------------------- */

static int setup(void **state)
{
	char err[1024] = "", psql[300], log_path[400];
	(void)state;

	if (tc_dirs_make(&td, "pgcoll") < 0)
		return -1;
	snprintf(cfg_super, sizeof(cfg_super), "%s/super.lua", td.dir);
	snprintf(cfg_reader, sizeof(cfg_reader), "%s/reader.lua", td.dir);
	if (pg_test_start(&pg, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot start PostgreSQL: %s\n", err);
		return -1;
	}
	pg_up = 1;
	snprintf(ns, sizeof(ns), "postgres://127.0.0.1:%d", pg.port);
	snprintf(psql, sizeof(psql), "%s/psql", pg.bindir);
	snprintf(log_path, sizeof(log_path), "%s/psql.out", td.dir);
	const char *argv[] = { psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.dsn, "-f",
			       SCHEMA_SQL, NULL };
	if (tc_run(argv, NULL, NULL, log_path, NULL, PSQL_MS) != 0) {
		char *text = tc_slurp(log_path);
		fprintf(stderr, "loading %s failed:\n%s\n", SCHEMA_SQL, text ? text : "");
		free(text);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (pg_up)
		pg_test_stop(&pg);
	tc_dirs_remove(&td);
	return 0;
}

/* --- 1. the first crawl ---------------------------------------------------------------- */

static void test_crawl(void **state)
{
	struct catalog *cat;
	json_t *d, *f, *e, *batch, *tile, *num;
	char *out = NULL, *text;
	(void)state;

	write_config(cfg_super, "postgres");
	assert_int_equal(collect(cfg_super, &out, NULL), 0);
	batch = json_loads(out, 0, NULL);
	if (!batch)
		fail_msg("`terrarium collect --json` printed no JSON:\n%s", out);
	free(out);
	cat = tc_open_catalog(td.data_dir);

	/* a table: kind, subtype, platform, description, owner, rows, size, keys */
	d = tc_entity(cat, ds("shop.public.customers"));
	assert_string_equal(tc_str(d, "kind"), "dataset");
	assert_string_equal(tc_str(d, "namespace"), ns);
	assert_string_equal(tc_str(d, "name"), "shop.public.customers");
	assert_string_equal(tc_str(d, "subtype"), "table");
	assert_string_equal(tc_str(d, "platform"), "postgres");
	assert_string_equal(tc_str(d, "display_name"), "customers");
	assert_string_equal(tc_str(d, "description"), "People who bought something");
	assert_false(json_is_true(json_object_get(d, "stale")));
	tc_assert_json_eq(tc_prop(d, "owner"), "\"postgres\"");
	tc_assert_json_eq(json_object_get(d, "owners"), "[\"postgres\"]");
	tc_assert_json_eq(tc_prop(d, "rows"), "120");
	assert_true(json_integer_value(tc_prop(d, "size_bytes")) >= 8192);
	tc_assert_json_eq(tc_prop(d, "primary_key"), "[\"id\"]");
	tc_assert_json_eq(tc_prop(d, "database"), "\"shop\"");
	tc_assert_json_eq(tc_prop(d, "schema"), "\"public\"");
	assert_int_equal(json_array_size(json_object_get(d, "fields")), 4);
	f = tc_field(d, "id");
	assert_string_equal(tc_str(f, "type"), "integer");
	assert_true(json_is_false(json_object_get(f, "nullable")));
	tc_assert_json_eq(json_object_get(f, "ordinal"), "1");
	tc_assert_json_eq(json_object_get(json_object_get(f, "properties"), "primary_key"), "true");
	f = tc_field(d, "email");
	assert_string_equal(tc_str(f, "description"), "login and contact address");
	assert_true(json_is_false(json_object_get(f, "nullable")));
	tc_assert_json_eq(json_object_get(json_object_get(f, "properties"), "unique"), "true");
	f = tc_field(d, "name");
	assert_string_equal(tc_str(f, "type"), "character varying(100)");
	assert_true(json_is_true(json_object_get(f, "nullable")));
	f = tc_field(d, "created_at");
	assert_string_equal(tc_str(f, "type"), "timestamp with time zone");
	tc_assert_json_eq(json_object_get(json_object_get(f, "properties"), "default"), "\"now()\"");
	/* the order table points at it (foreign key) */
	assert_true(tc_linked(d, "upstream", ds("shop.sales.orders"), "relationship"));
	json_decref(d);

	/* another owner, an identity column, defaults, a column comment, a reference */
	d = tc_entity(cat, ds("shop.sales.orders"));
	assert_string_equal(tc_str(d, "description"), "One row per order");
	tc_assert_json_eq(tc_prop(d, "owner"), "\"shop_owner\"");
	tc_assert_json_eq(tc_prop(d, "rows"), "500");
	tc_assert_json_eq(json_object_get(json_object_get(tc_field(d, "id"), "properties"), "identity"),
		       "\"always\"");
	f = tc_field(d, "amount");
	assert_string_equal(tc_str(f, "type"), "numeric(12,2)");
	assert_string_equal(tc_str(f, "description"), "total in EUR");
	tc_assert_json_eq(json_object_get(json_object_get(f, "properties"), "default"), "\"0\"");
	tc_assert_json_eq(json_object_get(json_object_get(tc_field(d, "status"), "properties"), "default"),
		       "\"'new'::text\"");
	assert_true(json_is_true(json_object_get(tc_field(d, "note"), "nullable")));
	tc_assert_json_eq(json_object_get(json_object_get(tc_field(d, "customer_id"), "properties"),
				       "references"),
		       "\"shop.public.customers.id\"");
	assert_true(tc_linked(d, "downstream", ds("shop.public.customers"), "relationship"));
	assert_true(tc_linked(d, "downstream", ds("shop.sales.order_totals"), "lineage"));
	json_decref(d);

	/* a view on the table, a view on that view, a materialized view on both */
	d = tc_entity(cat, ds("shop.sales.order_totals"));
	assert_string_equal(tc_str(d, "subtype"), "view");
	assert_string_equal(tc_str(d, "description"), "Spend per customer");
	assert_true(tc_linked(d, "upstream", ds("shop.sales.orders"), "lineage"));
	tc_assert_json_eq(json_object_get(d, "upstream_total"), "1");
	assert_non_null(strstr(json_string_value(tc_prop(d, "definition")), "sum(o.amount)"));
	assert_string_equal(tc_str(tc_field(d, "total"), "type"), "numeric");
	json_decref(d);
	d = tc_entity(cat, ds("shop.sales.big_spenders"));
	assert_string_equal(tc_str(d, "subtype"), "view");
	assert_true(tc_linked(d, "upstream", ds("shop.sales.order_totals"), "lineage"));
	tc_assert_json_eq(json_object_get(d, "upstream_total"), "1");
	json_decref(d);
	d = tc_entity(cat, ds("shop.sales.customer_report"));
	assert_string_equal(tc_str(d, "subtype"), "materialized_view");
	assert_true(tc_linked(d, "upstream", ds("shop.sales.big_spenders"), "lineage"));
	assert_true(tc_linked(d, "upstream", ds("shop.public.customers"), "lineage"));
	tc_assert_json_eq(json_object_get(d, "upstream_total"), "2");
	tc_assert_json_eq(tc_prop(d, "rows"), "70");
	json_decref(d);

	/* a partitioned table and its partition; an unlogged table */
	d = tc_entity(cat, ds("shop.public.events"));
	assert_string_equal(tc_str(d, "subtype"), "partitioned_table");
	tc_assert_json_eq(tc_prop(d, "partition_key"), "\"RANGE (at)\"");
	json_decref(d);
	d = tc_entity(cat, ds("shop.public.events_2024"));
	assert_string_equal(tc_str(d, "subtype"), "table");
	tc_assert_json_eq(tc_prop(d, "partition_of"), "\"shop.public.events\"");
	json_decref(d);
	d = tc_entity(cat, ds("shop.public.scratch"));
	tc_assert_json_eq(tc_prop(d, "persistence"), "\"unlogged\"");
	json_decref(d);

	/* odd names are data, stored exactly */
	d = tc_entity(cat, ds("shop.Odd Schema.we\"ird <script>alert(1)</script> tâble ☃"));
	assert_string_equal(tc_str(d, "display_name"), "we\"ird <script>alert(1)</script> tâble ☃");
	assert_string_equal(tc_str(d, "description"), "<img src=x onerror=alert(1)> & \"quotes\"");
	tc_assert_json_eq(tc_prop(d, "schema"), "\"Odd Schema\"");
	f = tc_field(d, "ĉu \"quoted\"?");
	tc_assert_json_eq(json_object_get(json_object_get(f, "properties"), "default"),
		       "\"'<b>x</b>'::text\"");
	assert_string_equal(tc_str(tc_field(d, "col with space"), "type"), "integer");
	json_decref(d);

	/* the second database */
	d = tc_entity(cat, ds("analytics.marts.daily_revenue"));
	assert_string_equal(tc_str(tc_field(d, "revenue"), "description"), "sum of order amounts");
	json_decref(d);
	d = tc_entity(cat, ds("analytics.marts.weekly_revenue"));
	assert_true(tc_linked(d, "upstream", ds("analytics.marts.daily_revenue"), "lineage"));
	json_decref(d);

	/* no system catalogs */
	d = NULL;
	assert_int_equal(catalog_entity_get(cat, ds("shop.pg_catalog.pg_class"), &d),
			 CATALOG_ENOTFOUND);
	assert_int_equal(catalog_entity_get(cat, ds("shop.information_schema.tables"), &d),
			 CATALOG_ENOTFOUND);

	/* the server */
	char sid[200];
	snprintf(sid, sizeof(sid), "service:%s:server", ns);
	d = tc_entity(cat, sid);
	assert_string_equal(tc_str(d, "kind"), "service");
	assert_string_equal(tc_str(d, "platform"), "postgres");
	assert_non_null(strchr(json_string_value(tc_prop(d, "version")), '.'));
	tc_assert_json_eq(tc_prop(d, "databases"), "[\"analytics\", \"postgres\", \"shop\"]");

	/* the tile: version, databases, tables, connections, size */
	tile = json_object_get(batch, "tile");
	num = json_object_get(tile, "numbers");
	assert_string_equal(tc_str(tile, "status"), "up");
	assert_string_equal(tc_str(num, "version"), json_string_value(tc_prop(d, "version")));
	json_decref(d);
	tc_assert_json_eq(json_object_get(num, "databases"), "3");
	/* customers orders products order_lines we"ird events events_2024 scratch doomed
	 * daily_revenue; order_totals big_spenders customer_report weekly_revenue */
	tc_assert_json_eq(json_object_get(num, "tables"), "10");
	tc_assert_json_eq(json_object_get(num, "views"), "4");
	assert_true(json_integer_value(json_object_get(num, "connections")) >= 1);
	assert_non_null(strstr(tc_str(num, "size"), "MiB"));
	assert_string_equal(tc_str(json_object_get(batch, "run"), "status"), "ok");
	json_decref(batch);
	catalog_close(cat);

	/* edge properties: the columns a view reads, the column pairs of a foreign key */
	text = tc_export_text(td.data_dir);
	e = export_edge(text, ds("shop.sales.orders"), ds("shop.sales.order_totals"), "lineage");
	assert_non_null(e);
	assert_string_equal(tc_str(e, "source"), "collector:postgres");
	tc_assert_json_eq(json_object_get(e, "properties"), "{\"columns\": [\"amount\", \"customer_id\"]}");
	json_decref(e);
	e = export_edge(text, ds("shop.public.customers"), ds("shop.sales.customer_report"),
			"lineage");
	assert_non_null(e);
	tc_assert_json_eq(json_object_get(e, "properties"), "{\"columns\": [\"email\", \"id\"]}");
	json_decref(e);
	e = export_edge(text, ds("shop.sales.orders"), ds("shop.public.customers"), "relationship");
	assert_non_null(e);
	tc_assert_json_eq(json_object_get(e, "properties"),
		       "{\"columns\": [[\"customer_id\", \"id\"]], \"constraints\": [{\"name\": "
		       "\"orders_customer_fk\", \"on_delete\": \"cascade\", \"on_update\": "
		       "\"no action\"}]}");
	json_decref(e);
	e = export_edge(text, ds("shop.sales.order_lines"), ds("shop.sales.products"),
			"relationship");
	assert_non_null(e);
	tc_assert_json_eq(json_object_get(json_object_get(e, "properties"), "columns"),
		       "[[\"sku\", \"sku\"], [\"region\", \"region\"]]");
	json_decref(e);
	/* a foreign key is not lineage */
	assert_null(export_edge(text, ds("shop.sales.orders"), ds("shop.public.customers"),
				"lineage"));
	free(text);
}

/* --- 2. a dropped table is stale ---------------------------------------------------------- */

static void test_dropped_table_is_stale(void **state)
{
	struct catalog *cat;
	json_t *d;
	(void)state;

	cat = tc_open_catalog(td.data_dir);
	d = tc_entity(cat, ds("shop.public.doomed"));
	assert_false(json_is_true(json_object_get(d, "stale")));
	json_decref(d);
	catalog_close(cat);

	exec_in("shop", "DROP TABLE public.doomed");
	assert_int_equal(collect(cfg_super, NULL, NULL), 0);

	cat = tc_open_catalog(td.data_dir);
	d = tc_entity(cat, ds("shop.public.doomed"));
	assert_true(json_is_true(json_object_get(d, "stale")));
	json_decref(d);
	d = tc_entity(cat, ds("shop.public.customers"));
	assert_false(json_is_true(json_object_get(d, "stale")));
	json_decref(d);
	catalog_close(cat);
}

/* --- 3. a read-only role ---------------------------------------------------------------------- */

static void test_read_only_role(void **state)
{
	struct catalog *cat;
	json_t *d, *runs = NULL, *log;
	char *errtext = NULL, *all;
	size_t i, n = 1;
	(void)state;

	write_config(cfg_reader, "reader");
	assert_int_equal(collect(cfg_reader, NULL, &errtext), 0);

	/* the warnings name the missing privilege, in the run's recorded log... */
	cat = tc_open_catalog(td.data_dir);
	assert_int_equal(catalog_collector_runs(cat, "postgres", 1, &runs), 0);
	assert_int_equal(json_array_size(runs), 1);
	assert_string_equal(tc_str(json_array_get(runs, 0), "status"), "ok");
	log = json_object_get(json_array_get(runs, 0), "log");
	for (i = 0; i < json_array_size(log); i++)
		n += strlen(json_string_value(json_array_get(log, i))) + 1;
	all = calloc(1, n);
	assert_non_null(all);
	for (i = 0; i < json_array_size(log); i++) {
		strcat(all, json_string_value(json_array_get(log, i)));
		strcat(all, "\n");
	}
	if (!mentions(all, "warn postgres: 127.0.0.1:") ||
	    !mentions(all, "/analytics: missing privilege: CONNECT on database \"analytics\"; its "
			   "tables are not crawled"))
		fail_msg("no warning naming CONNECT on analytics in the run's log:\n%s", all);
	/* its size needs CONNECT too */
	assert_true(mentions(all, "missing privilege: CONNECT on database \"analytics\" (or "
				  "membership in pg_read_all_stats), to read its size"));
	/* and nothing is said of what the role may do */
	assert_false(mentions(all, "database \"shop\""));
	assert_false(mentions(all, "database \"postgres\""));
	/* ...and on standard error as they happen */
	assert_non_null(errtext);
	assert_true(mentions(errtext, "missing privilege: CONNECT on database \"analytics\""));
	free(all);
	free(errtext);
	json_decref(runs);

	/* shop is crawled in full without any table privilege... */
	d = tc_entity(cat, ds("shop.sales.orders"));
	assert_false(json_is_true(json_object_get(d, "stale")));
	tc_assert_json_eq(tc_prop(d, "rows"), "500");
	assert_string_equal(tc_str(tc_field(d, "amount"), "description"), "total in EUR");
	assert_true(tc_linked(d, "downstream", ds("shop.sales.order_totals"), "lineage"));
	json_decref(d);
	/* ...and analytics, which it may not connect to, is no longer seen */
	d = tc_entity(cat, ds("analytics.marts.daily_revenue"));
	assert_true(json_is_true(json_object_get(d, "stale")));
	json_decref(d);
	catalog_close(cat);
}

/* --- 4. the server is down --------------------------------------------------------------- */

static void test_server_down(void **state)
{
	char *before, *after, *out = NULL;
	(void)state;

	/* back to the full view first, so that a failed run has something to keep */
	assert_int_equal(collect(cfg_super, NULL, NULL), 0);
	before = tc_export_text(td.data_dir);
	pg_test_stop(&pg);
	pg_up = 0;

	assert_int_equal(collect(cfg_super, NULL, &out), 1);
	assert_non_null(out);
	if (!strstr(out, "failed: postgres: cannot connect to 127.0.0.1:"))
		fail_msg("the failure does not name the connection:\n%s", out);
	free(out);
	after = tc_export_text(td.data_dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* --- 5. the collector's own tests, on a fake binding -------------------------------------- */

/* lua/collectors/postgres_test.lua covers what a real server makes awkward
 * (URIs, IPv6, sockets, old versions, refused connections); run it the way a
 * collector author does. */
static void test_lua_tests(void **state)
{
	(void)state;
	tc_plugin_test(&td, "lua/collectors/postgres_test.lua", RUN_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lua_tests),
		cmocka_unit_test(test_crawl),
		cmocka_unit_test(test_dropped_table_is_stale),
		cmocka_unit_test(test_read_only_role),
		cmocka_unit_test(test_server_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
