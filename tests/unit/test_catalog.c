/*
 * Unit tests of the catalog core (catalog/catalog.c): identity, documents,
 * merge rules, snapshots, history, export/import, migrations, threads.
 * Each test opens a fresh catalog in its own mkdtemp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h" /* catalog_format_time, catalog_short_name, reader pool */
#include "catalog/lineage.h"
#include "catalog/search.h"

struct fx {
	char dir[64];
	char path[128];
	struct catalog *cat;
};

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char err[256];

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/test_catalog.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof f->path, "%s/catalog.db", f->dir);
	f->cat = catalog_open(f->path, err, sizeof err);
	if (!f->cat) {
		print_error("catalog_open: %s\n", err);
		rm_dir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	catalog_close(f->cat);
	rm_dir(f->dir);
	free(f);
	return 0;
}

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	if (!j)
		fail_msg("bad test json: %s: %s", e.text, text);
	return j;
}

/* Upsert DOCS (JSON texts) in one batch of SOURCE; returns the stats. */
static struct catalog_batch_stats put_many(struct catalog *cat, const char *source, int snapshot,
					   const char *const *docs, size_t n)
{
	struct catalog_batch *b = catalog_batch_begin(cat, source, snapshot);
	struct catalog_batch_stats st;
	char err[256] = "";

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		json_t *d = J(docs[i]);
		int rc = catalog_batch_entity(b, d, err, sizeof err);

		if (rc)
			fail_msg("batch_entity(%s): %d %s", docs[i], rc, err);
		json_decref(d);
	}
	assert_int_equal(catalog_batch_commit(b, &st, err, sizeof err), 0);
	return st;
}

static struct catalog_batch_stats put(struct catalog *cat, const char *source, int snapshot,
				      const char *doc)
{
	return put_many(cat, source, snapshot, &doc, 1);
}

static json_t *get(struct catalog *cat, const char *id)
{
	json_t *doc = NULL;

	assert_int_equal(catalog_entity_get(cat, id, &doc), 0);
	assert_non_null(doc);
	return doc;
}

static const char *gs(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	if (!s)
		fail_msg("no string '%s' in document", key);
	return s;
}

static json_t *history(struct catalog *cat, const char *id)
{
	json_t *h = NULL;

	assert_int_equal(catalog_entity_history(cat, id, 100, 0, &h), 0);
	return h;
}

/* The newest change CHANGE in history H, or NULL. */
static json_t *change_of(json_t *h, const char *change)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(h, "changes"), i, c) {
		if (strcmp(json_string_value(json_object_get(c, "change")), change) == 0)
			return c;
	}
	return NULL;
}

static int count_changes(json_t *h, const char *change)
{
	size_t i;
	json_t *c;
	int n = 0;

	json_array_foreach(json_object_get(h, "changes"), i, c)
		n += strcmp(json_string_value(json_object_get(c, "change")), change) == 0;
	return n;
}

static void assert_json_eq(json_t *got, const char *want_text)
{
	json_t *want = J(want_text);

	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

		fail_msg("got %s, want %s", g ? g : "(null)", want_text);
	}
	json_decref(want);
}

static json_t *field_named(json_t *doc, const char *name)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(doc, "fields"), i, f) {
		if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
			return f;
	}
	return NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* --- identity -------------------------------------------------------------- */

static void check_id(const char *id, const char *kind, const char *ns, const char *name)
{
	struct catalog_id p;
	char again[CATALOG_ID_MAX + 1];

	if (catalog_id_parse(id, &p) != 0)
		fail_msg("catalog_id_parse rejected '%s'", id);
	assert_string_equal(p.kind, kind);
	assert_string_equal(p.namespace_, ns);
	assert_string_equal(p.name, name);
	assert_int_equal(catalog_id_format(p.kind, p.namespace_, p.name, again, sizeof again), 0);
	assert_string_equal(again, id);
}

static void test_id_parse(void **state)
{
	static const char *const bad[] = {
		"",
		"dataset",
		"dataset:",
		"dataset:ns",
		"dataset:ns:",
		"Dataset:ns:x",
		":ns:x",
		"data-set:ns:x",
		"dataset::x",
		"dataset:postgres://db.local",
		"dataset:postgres://db.local:5432:",
		"dataset:postgres://[::1:5432:x",
		"dataset:ns:a\nb",
		"dataset:ns:a\tb",
		"abcdefghijklmnopqrstuvwxyzabcdef:ns:x", /* kind of 32 */
		NULL,
	};
	struct catalog_id p;
	char big[CATALOG_ID_MAX + 16], out[64];

	(void)state;
	check_id("dataset:postgres://db.local:5432:shop.public.orders", "dataset",
		 "postgres://db.local:5432", "shop.public.orders");
	check_id("dataset:kafka://broker1:9092:orders", "dataset", "kafka://broker1:9092", "orders");
	check_id("dataset:redis://cache:6379:0/session:*", "dataset", "redis://cache:6379",
		 "0/session:*");
	check_id("dataset:redis://cache:6379:0/orders:stream", "dataset", "redis://cache:6379",
		 "0/orders:stream");
	check_id("job:airflow://scheduler-host:etl_orders.load_orders", "job",
		 "airflow://scheduler-host", "etl_orders.load_orders");
	check_id("model:mlflow://mlflow.local:5000:models/churn/3", "model",
		 "mlflow://mlflow.local:5000", "models/churn/3");
	check_id("job:food_delivery:etl.load_orders", "job", "food_delivery", "etl.load_orders");
	check_id("job:food_delivery:a:b:c", "job", "food_delivery", "a:b:c");
	check_id("dataset:postgres://[::1]:5432:db.t", "dataset", "postgres://[::1]:5432", "db.t");
	check_id("dataset:s3://bucket:path/to/file.csv", "dataset", "s3://bucket",
		 "path/to/file.csv");

	for (int i = 0; bad[i]; i++)
		if (catalog_id_parse(bad[i], &p) != CATALOG_EINVAL)
			fail_msg("catalog_id_parse accepted '%s'", bad[i]);
	memset(big, 'a', sizeof big);
	memcpy(big, "dataset:ns:", 11);
	big[CATALOG_ID_MAX + 1] = '\0';
	assert_int_equal(catalog_id_parse(big, &p), CATALOG_EINVAL);
	assert_int_equal(catalog_id_parse(NULL, &p), CATALOG_EINVAL);

	assert_int_equal(catalog_id_format("dataset", "ns", "x", out, sizeof out), 0);
	assert_string_equal(out, "dataset:ns:x");
	assert_int_equal(catalog_id_format("dataset", "ns", "a-name-that-does-not-fit-here", out, 16),
			 CATALOG_EINVAL);

	catalog_platform_of("postgres://db:5432", out, sizeof out);
	assert_string_equal(out, "postgres");
	catalog_platform_of("Kafka://b:9092", out, sizeof out);
	assert_string_equal(out, "kafka");
	catalog_platform_of("food_delivery", out, sizeof out);
	assert_string_equal(out, "");
}

static void test_time_and_names(void **state)
{
	char buf[40];

	(void)state;
	catalog_format_time(0, buf, sizeof buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	catalog_format_time(1700000000123LL, buf, sizeof buf);
	assert_string_equal(buf, "2023-11-14T22:13:20.123Z");
	catalog_format_time(951782400000LL, buf, sizeof buf); /* a leap day */
	assert_string_equal(buf, "2000-02-29T00:00:00.000Z");
	catalog_format_time(-1, buf, sizeof buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	assert_true(catalog_now_ms() > 1700000000000LL);

	catalog_short_name("shop.public.Orders", buf, sizeof buf);
	assert_string_equal(buf, "orders");
	catalog_short_name("0/session:*", buf, sizeof buf);
	assert_string_equal(buf, "*");
	catalog_short_name("models/churn/3", buf, sizeof buf);
	assert_string_equal(buf, "3");
	catalog_short_name("plain", buf, sizeof buf);
	assert_string_equal(buf, "plain");
}

/* --- upsert and get -------------------------------------------------------- */

static void test_upsert_get(void **state)
{
	struct fx *f = *state;
	struct catalog_batch_stats st;
	json_t *doc, *fields;
	const char *id = "dataset:postgres://db:5432:shop.public.orders";
	uint64_t g0 = catalog_generation(f->cat);

	st = put(f->cat, "postgres", 0,
		 "{\"kind\":\"dataset\",\"namespace\":\"postgres://db:5432\","
		 "\"name\":\"shop.public.orders\",\"subtype\":\"table\",\"display_name\":\"orders\","
		 "\"description\":\"all orders\",\"properties\":{\"rows\":12,\"x\":{\"b\":1,\"a\":2}},"
		 "\"tags\":[\"pii\",\"pii\",\"finance\"],\"owners\":[\"alice\"],"
		 "\"fields\":[{\"name\":\"total\",\"type\":\"numeric\",\"ordinal\":3},"
		 "{\"name\":\"id\",\"type\":\"integer\",\"nullable\":false,\"ordinal\":1},"
		 "{\"name\":\"customer\",\"type\":\"text\",\"description\":\"who\",\"ordinal\":2}]}");
	assert_int_equal(st.entities, 1);
	assert_int_equal(st.created, 1);
	assert_true(catalog_generation(f->cat) > g0);

	doc = get(f->cat, id);
	assert_string_equal(gs(doc, "id"), id);
	assert_string_equal(gs(doc, "kind"), "dataset");
	assert_string_equal(gs(doc, "namespace"), "postgres://db:5432");
	assert_string_equal(gs(doc, "name"), "shop.public.orders");
	assert_string_equal(gs(doc, "platform"), "postgres");
	assert_string_equal(gs(doc, "subtype"), "table");
	assert_string_equal(gs(doc, "display_name"), "orders");
	assert_string_equal(gs(doc, "description"), "all orders");
	assert_false(json_is_true(json_object_get(doc, "stale")));
	assert_int_equal(strlen(gs(doc, "created_at")), 24);
	assert_int_equal(gs(doc, "created_at")[23], 'Z');
	assert_json_eq(json_object_get(doc, "sources"), "[\"postgres\"]");
	assert_json_eq(json_object_get(doc, "properties"), "{\"rows\":12,\"x\":{\"a\":2,\"b\":1}}");
	assert_json_eq(json_object_get(doc, "tags"), "[\"finance\",\"pii\"]");
	assert_json_eq(json_object_get(doc, "tag_sources"),
		       "{\"finance\":[\"postgres\"],\"pii\":[\"postgres\"]}");
	assert_json_eq(json_object_get(doc, "owners"), "[\"alice\"]");
	fields = json_object_get(doc, "fields");
	assert_int_equal(json_array_size(fields), 3);
	/* sorted by ordinal */
	assert_string_equal(gs(json_array_get(fields, 0), "name"), "id");
	assert_string_equal(gs(json_array_get(fields, 1), "name"), "customer");
	assert_string_equal(gs(json_array_get(fields, 2), "name"), "total");
	assert_string_equal(gs(json_array_get(fields, 0), "source"), "postgres");
	assert_true(json_is_false(json_object_get(json_array_get(fields, 0), "nullable")));
	assert_true(json_is_null(json_object_get(json_array_get(fields, 2), "nullable")));
	assert_string_equal(gs(json_array_get(fields, 1), "description"), "who");
	assert_int_equal(json_integer_value(json_object_get(doc, "upstream_total")), 0);
	json_decref(doc);

	/* the id alone also names an entity */
	put(f->cat, "api", 0, "{\"id\":\"job:food_delivery:etl.load\",\"description\":\"loads\"}");
	doc = get(f->cat, "job:food_delivery:etl.load");
	assert_string_equal(gs(doc, "namespace"), "food_delivery");
	assert_string_equal(gs(doc, "platform"), "");
	json_decref(doc);

	doc = NULL;
	assert_int_equal(catalog_entity_get(f->cat, "dataset:ns:nope", &doc), CATALOG_ENOTFOUND);
	assert_null(doc);
}

/* --- merge rules ------------------------------------------------------------- */

static void test_merge_rules(void **state)
{
	struct fx *f = *state;
	const char *id = "dataset:postgres://db:5432:shop.public.users";
	char err[256];
	json_t *doc, *p;

	put(f->cat, "postgres", 0,
	    "{\"id\":\"dataset:postgres://db:5432:shop.public.users\",\"description\":\"from pg\","
	    "\"properties\":{\"rows\":1,\"team\":\"core\"},"
	    "\"fields\":[{\"name\":\"id\",\"type\":\"int\"},{\"name\":\"name\",\"type\":\"text\"}]}");
	put(f->cat, "dbt", 0,
	    "{\"id\":\"dataset:postgres://db:5432:shop.public.users\",\"properties\":{\"rows\":2},"
	    "\"fields\":[{\"name\":\"name\",\"type\":\"varchar\"},{\"name\":\"email\"}]}");
	doc = get(f->cat, id);
	/* each property key: the latest assertion wins; other keys stay */
	assert_json_eq(json_object_get(doc, "properties"), "{\"rows\":2,\"team\":\"core\"}");
	assert_json_eq(json_object_get(doc, "property_sources"),
		       "{\"rows\":\"dbt\",\"team\":\"postgres\"}");
	/* fields merge by name */
	assert_int_equal(json_array_size(json_object_get(doc, "fields")), 3);
	assert_string_equal(gs(field_named(doc, "name"), "type"), "varchar");
	assert_string_equal(gs(field_named(doc, "name"), "source"), "dbt");
	assert_string_equal(gs(field_named(doc, "id"), "source"), "postgres");
	assert_non_null(field_named(doc, "email"));
	assert_json_eq(json_object_get(doc, "sources"), "[\"dbt\",\"postgres\"]");
	json_decref(doc);

	/* the user's description wins over the collector's and survives its updates */
	p = J("{\"description\":\"curated by people\",\"tags\":[\"gold\"]}");
	assert_int_equal(catalog_entity_patch(f->cat, id, p, "alice", err, sizeof err), 0);
	json_decref(p);
	put(f->cat, "postgres", 1,
	    "{\"id\":\"dataset:postgres://db:5432:shop.public.users\",\"description\":\"pg v2\","
	    "\"tags\":[\"pii\"],\"properties\":{\"team\":\"core\"},"
	    "\"fields\":[{\"name\":\"id\",\"type\":\"int\"}]}");
	doc = get(f->cat, id);
	assert_string_equal(gs(doc, "description"), "curated by people");
	assert_string_equal(gs(doc, "source_description"), "pg v2");
	/* tags are a set: the user's survive a collector snapshot */
	assert_json_eq(json_object_get(doc, "tags"), "[\"gold\",\"pii\"]");
	assert_json_eq(json_object_get(doc, "tag_sources"),
		       "{\"gold\":[\"user\"],\"pii\":[\"postgres\"]}");
	/* "rows" is dbt's now: postgres's snapshot without it leaves it alone */
	assert_json_eq(json_object_get(doc, "properties"), "{\"rows\":2,\"team\":\"core\"}");
	/* "name" is dbt's field now; postgres still asserts "id" */
	assert_non_null(field_named(doc, "id"));
	assert_non_null(field_named(doc, "name"));
	json_decref(doc);

	/* a snapshot without tags withdraws that source's tags only */
	put(f->cat, "postgres", 1, "{\"id\":\"dataset:postgres://db:5432:shop.public.users\"}");
	doc = get(f->cat, id);
	assert_json_eq(json_object_get(doc, "tags"), "[\"gold\"]");
	assert_null(field_named(doc, "id"));            /* postgres's field withdrawn */
	assert_non_null(field_named(doc, "name"));      /* dbt's stays */
	assert_json_eq(json_object_get(doc, "properties"), "{\"rows\":2}");
	json_decref(doc);

	/* clearing the user's description shows the collector's again */
	p = J("{\"description\":null}");
	assert_int_equal(catalog_entity_patch(f->cat, id, p, "alice", err, sizeof err), 0);
	json_decref(p);
	doc = get(f->cat, id);
	assert_string_equal(gs(doc, "description"), "pg v2");
	json_decref(doc);

	/* patch errors */
	p = J("{\"name\":\"x\"}");
	assert_int_equal(catalog_entity_patch(f->cat, id, p, "alice", err, sizeof err),
			 CATALOG_EINVAL);
	assert_non_null(strstr(err, "name"));
	json_decref(p);
	p = J("{\"description\":\"x\"}");
	assert_int_equal(catalog_entity_patch(f->cat, "dataset:ns:none", p, "alice", err, sizeof err),
			 CATALOG_ENOTFOUND);
	json_decref(p);
}

/* --- snapshots ----------------------------------------------------------------- */

static void test_snapshot_stale(void **state)
{
	struct fx *f = *state;
	static const char *const ab[] = {
		"{\"id\":\"dataset:postgres://db:5432:s.a\"}",
		"{\"id\":\"dataset:postgres://db:5432:s.b\"}",
	};
	const char *b_id = "dataset:postgres://db:5432:s.b";
	struct catalog_batch_stats st;
	struct catalog_batch *b;
	char err[256];
	json_t *doc, *h;

	st = put_many(f->cat, "postgres", 1, ab, 2);
	assert_int_equal(st.created, 2);
	assert_int_equal(st.staled, 0);
	b = catalog_batch_begin(f->cat, "postgres", 1);
	assert_non_null(b);
	assert_int_equal(catalog_batch_edge(b, "dataset:postgres://db:5432:s.a", b_id, NULL, NULL,
					    err, sizeof err),
			 0);
	assert_int_equal(catalog_batch_commit(b, &st, err, sizeof err), 0);
	/* that snapshot named neither entity: both are stale now */
	assert_int_equal(st.staled, 2);

	st = put_many(f->cat, "postgres", 1, ab, 2);
	assert_int_equal(st.staled, 0);
	doc = get(f->cat, b_id);
	assert_false(json_is_true(json_object_get(doc, "stale")));
	/* the edge was not asserted again: kept, but stale */
	assert_int_equal(json_array_size(json_object_get(doc, "upstream")), 1);
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(doc, "upstream"), 0),
						 "stale")));
	json_decref(doc);
	h = history(f->cat, "dataset:postgres://db:5432:s.a");
	assert_non_null(change_of(h, "edge_added"));
	assert_non_null(change_of(h, "edge_removed"));
	assert_json_eq(json_object_get(change_of(h, "edge_removed"), "detail"),
		       "{\"dst\":\"dataset:postgres://db:5432:s.b\",\"kind\":\"lineage\"}");
	json_decref(h);

	/* the source reports only A: B goes stale */
	st = put(f->cat, "postgres", 1, ab[0]);
	assert_int_equal(st.staled, 1);
	doc = get(f->cat, b_id);
	assert_true(json_is_true(json_object_get(doc, "stale")));
	json_decref(doc);
	doc = get(f->cat, "dataset:postgres://db:5432:s.a");
	assert_false(json_is_true(json_object_get(doc, "stale")));
	json_decref(doc);
	h = history(f->cat, b_id);
	assert_string_equal(gs(json_array_get(json_object_get(h, "changes"), 0), "change"), "stale");
	assert_string_equal(gs(json_array_get(json_object_get(h, "changes"), 0), "source"),
			    "postgres");
	json_decref(h);

	/* a non-snapshot source asserting B does not make it fresh */
	put(f->cat, "openlineage", 0, ab[1]);
	doc = get(f->cat, b_id);
	assert_true(json_is_true(json_object_get(doc, "stale")));
	json_decref(doc);

	/* reporting B again clears the mark */
	st = put_many(f->cat, "postgres", 1, ab, 2);
	assert_int_equal(st.staled, 0);
	assert_int_equal(st.changed, 1);
	doc = get(f->cat, b_id);
	assert_false(json_is_true(json_object_get(doc, "stale")));
	json_decref(doc);
	h = history(f->cat, b_id);
	assert_string_equal(gs(json_array_get(json_object_get(h, "changes"), 0), "change"), "fresh");
	assert_int_equal(count_changes(h, "stale"), 2);
	json_decref(h);

	/* another source's snapshot does not touch postgres's entities */
	st = put(f->cat, "kafka", 1, "{\"id\":\"dataset:kafka://k:9092:orders\"}");
	assert_int_equal(st.staled, 0);
	st = put(f->cat, "kafka", 1, "{\"id\":\"dataset:kafka://k:9092:payments\"}");
	assert_int_equal(st.staled, 1);
	doc = get(f->cat, b_id);
	assert_false(json_is_true(json_object_get(doc, "stale")));
	json_decref(doc);
}

static void test_abort_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct catalog_batch *b;
	struct catalog_counts c;
	char err[256];
	json_t *d, *doc = NULL;
	uint64_t g;

	put(f->cat, "postgres", 1, "{\"id\":\"dataset:pg:a\",\"description\":\"one\"}");
	g = catalog_generation(f->cat);
	b = catalog_batch_begin(f->cat, "postgres", 1);
	assert_non_null(b);
	d = J("{\"id\":\"dataset:pg:b\",\"tags\":[\"t\"]}");
	assert_int_equal(catalog_batch_entity(b, d, err, sizeof err), 0);
	json_decref(d);
	d = J("{\"id\":\"dataset:pg:a\",\"description\":\"two\"}");
	assert_int_equal(catalog_batch_entity(b, d, err, sizeof err), 0);
	json_decref(d);
	assert_int_equal(catalog_batch_edge(b, "dataset:pg:a", "dataset:pg:c", NULL, NULL, err,
					    sizeof err),
			 0);
	catalog_batch_abort(b);
	catalog_batch_abort(NULL);

	assert_int_equal(catalog_generation(f->cat), g);
	assert_int_equal(catalog_entity_get(f->cat, "dataset:pg:b", &doc), CATALOG_ENOTFOUND);
	assert_int_equal(catalog_entity_get(f->cat, "dataset:pg:c", &doc), CATALOG_ENOTFOUND);
	doc = get(f->cat, "dataset:pg:a");
	assert_string_equal(gs(doc, "description"), "one");
	json_decref(doc);
	assert_int_equal(catalog_counts(f->cat, &c), 0);
	assert_int_equal(c.entities, 1);
	assert_int_equal(c.edges, 0);
	assert_int_equal(c.history, 1);
	/* the writer is free again */
	put(f->cat, "postgres", 0, "{\"id\":\"dataset:pg:d\"}");
}

static void test_edge_placeholders(void **state)
{
	struct fx *f = *state;
	struct catalog_batch *b;
	struct catalog_batch_stats st;
	char err[256];
	json_t *doc, *props = J("{\"via\":\"fk\"}");

	b = catalog_batch_begin(f->cat, "openlineage", 0);
	assert_non_null(b);
	assert_int_equal(catalog_batch_edge(b, "dataset:kafka://k:9092:orders",
					    "job:airflow://sched:etl.load", NULL, NULL, err,
					    sizeof err),
			 0);
	assert_int_equal(catalog_batch_edge(b, "job:airflow://sched:etl.load",
					    "dataset:postgres://db:5432:shop.public.orders",
					    "lineage", NULL, err, sizeof err),
			 0);
	assert_int_equal(catalog_batch_edge(b, "dataset:postgres://db:5432:shop.public.orders",
					    "dataset:postgres://db:5432:shop.public.users",
					    "relationship", props, err, sizeof err),
			 0);
	assert_int_equal(catalog_batch_edge(b, "nonsense", "dataset:a:b", NULL, NULL, err,
					    sizeof err),
			 CATALOG_EINVAL);
	assert_non_null(strstr(err, "src"));
	assert_int_equal(catalog_batch_edge(b, "dataset:a:b", "dataset:a:c", "Bad Kind", NULL, err,
					    sizeof err),
			 CATALOG_EINVAL);
	assert_int_equal(catalog_batch_commit(b, &st, err, sizeof err), 0);
	assert_int_equal(st.edges, 3);
	json_decref(props);

	doc = get(f->cat, "job:airflow://sched:etl.load");
	assert_string_equal(gs(doc, "kind"), "job");
	assert_string_equal(gs(doc, "namespace"), "airflow://sched");
	assert_string_equal(gs(doc, "name"), "etl.load");
	assert_string_equal(gs(doc, "platform"), "airflow");
	assert_string_equal(gs(doc, "description"), "");
	assert_int_equal(json_array_size(json_object_get(doc, "fields")), 0);
	assert_json_eq(json_object_get(doc, "upstream"),
		       "[{\"id\":\"dataset:kafka://k:9092:orders\",\"kind\":\"lineage\","
		       "\"source\":\"openlineage\",\"stale\":false}]");
	assert_json_eq(json_object_get(doc, "downstream"),
		       "[{\"id\":\"dataset:postgres://db:5432:shop.public.orders\","
		       "\"kind\":\"lineage\",\"source\":\"openlineage\",\"stale\":false}]");
	assert_int_equal(json_integer_value(json_object_get(doc, "upstream_total")), 1);
	json_decref(doc);
	doc = get(f->cat, "dataset:postgres://db:5432:shop.public.orders");
	assert_int_equal(json_integer_value(json_object_get(doc, "downstream_total")), 1);
	assert_string_equal(gs(json_array_get(json_object_get(doc, "downstream"), 0), "kind"),
			    "relationship");
	json_decref(doc);

	/* describing a placeholder later fills it in */
	put(f->cat, "airflow", 0,
	    "{\"id\":\"job:airflow://sched:etl.load\",\"description\":\"loads orders\"}");
	doc = get(f->cat, "job:airflow://sched:etl.load");
	assert_string_equal(gs(doc, "description"), "loads orders");
	json_decref(doc);
}

/* --- history ----------------------------------------------------------------- */

static void test_history_diff(void **state)
{
	struct fx *f = *state;
	const char *id = "dataset:pg:t";
	json_t *h, *c;

	put(f->cat, "postgres", 0,
	    "{\"id\":\"dataset:pg:t\",\"description\":\"x\",\"tags\":[\"t1\"],"
	    "\"properties\":{\"k1\":1,\"k2\":2},"
	    "\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"int\"}]}");
	h = history(f->cat, id);
	assert_int_equal(json_integer_value(json_object_get(h, "total")), 1);
	assert_string_equal(gs(json_array_get(json_object_get(h, "changes"), 0), "change"),
			    "created");
	json_decref(h);
	sleep_ms(2);

	put(f->cat, "postgres", 0,
	    "{\"id\":\"dataset:pg:t\",\"description\":\"y\",\"tags\":[\"t2\"],"
	    "\"display_name\":\"T\",\"properties\":{\"k1\":1,\"k2\":3,\"k3\":true},"
	    "\"fields\":[{\"name\":\"b\",\"type\":\"bigint\"},{\"name\":\"c\",\"type\":\"text\"}]}");
	h = history(f->cat, id);
	assert_int_equal(json_integer_value(json_object_get(h, "total")), 6);
	c = change_of(h, "fields");
	assert_non_null(c);
	assert_json_eq(json_object_get(c, "detail"),
		       "{\"added\":[\"c\"],\"removed\":[\"a\"],\"changed\":[\"b\"]}");
	assert_string_equal(gs(c, "source"), "postgres");
	c = change_of(h, "description");
	assert_json_eq(json_object_get(c, "detail"), "{\"from\":\"x\",\"to\":\"y\"}");
	c = change_of(h, "tags");
	assert_json_eq(json_object_get(c, "detail"), "{\"added\":[\"t2\"],\"removed\":[\"t1\"]}");
	c = change_of(h, "properties");
	assert_json_eq(json_object_get(c, "detail"),
		       "{\"added\":[\"k3\"],\"removed\":[],\"changed\":[\"k2\"]}");
	c = change_of(h, "attributes");
	assert_json_eq(json_object_get(c, "detail"),
		       "{\"display_name\":{\"from\":\"\",\"to\":\"T\"}}");
	/* newest first: "created" is last */
	assert_string_equal(gs(json_array_get(json_object_get(h, "changes"), 5), "change"),
			    "created");
	json_decref(h);

	/* paging */
	assert_int_equal(catalog_entity_history(f->cat, id, 2, 4, &h), 0);
	assert_int_equal(json_array_size(json_object_get(h, "changes")), 2);
	assert_int_equal(json_integer_value(json_object_get(h, "total")), 6);
	assert_string_equal(gs(json_array_get(json_object_get(h, "changes"), 1), "change"),
			    "created");
	json_decref(h);
	assert_int_equal(catalog_entity_history(f->cat, "dataset:pg:none", 10, 0, &h),
			 CATALOG_ENOTFOUND);

	/* the user's edits are recorded under the actor's name */
	h = J("{\"owners\":[\"bob\"]}");
	assert_int_equal(catalog_entity_patch(f->cat, id, h, "token:ops", NULL, 0), 0);
	json_decref(h);
	h = history(f->cat, id);
	c = json_array_get(json_object_get(h, "changes"), 0);
	assert_string_equal(gs(c, "change"), "owners");
	assert_string_equal(gs(c, "source"), "token:ops");
	assert_json_eq(json_object_get(c, "detail"), "{\"added\":[\"bob\"],\"removed\":[]}");
	json_decref(h);
}

static void test_noop_reassert(void **state)
{
	struct fx *f = *state;
	const char *doc_text =
		"{\"id\":\"dataset:pg:n\",\"description\":\"same\",\"tags\":[\"a\",\"b\"],"
		"\"owners\":[\"o\"],\"properties\":{\"p\":{\"y\":1,\"x\":[1,2.5]}},"
		"\"fields\":[{\"name\":\"f\",\"type\":\"int\",\"nullable\":true,"
		"\"properties\":{\"pk\":true}}]}";
	struct catalog_batch_stats st;
	json_t *before, *after, *h;
	char *ub;
	uint64_t g;
	long total;

	put(f->cat, "postgres", 1, doc_text);
	before = get(f->cat, "dataset:pg:n");
	ub = strdup(gs(before, "updated_at"));
	h = history(f->cat, "dataset:pg:n");
	total = (long)json_integer_value(json_object_get(h, "total"));
	json_decref(h);
	g = catalog_generation(f->cat);
	sleep_ms(5);

	st = put(f->cat, "postgres", 1, doc_text);
	assert_int_equal(st.entities, 1);
	assert_int_equal(st.changed, 0);
	st = put(f->cat, "postgres", 0, doc_text);
	assert_int_equal(st.changed, 0);
	assert_int_equal(catalog_generation(f->cat), g);
	after = get(f->cat, "dataset:pg:n");
	assert_string_equal(gs(after, "updated_at"), ub);
	assert_true(json_equal(before, after));
	h = history(f->cat, "dataset:pg:n");
	assert_int_equal(json_integer_value(json_object_get(h, "total")), total);
	json_decref(h);

	/* a real change does move both */
	st = put(f->cat, "postgres", 0, "{\"id\":\"dataset:pg:n\",\"description\":\"new\"}");
	assert_int_equal(st.changed, 1);
	assert_true(catalog_generation(f->cat) > g);
	json_decref(after);
	after = get(f->cat, "dataset:pg:n");
	assert_string_not_equal(gs(after, "updated_at"), ub);
	free(ub);
	json_decref(before);
	json_decref(after);
}

/* --- bad documents ------------------------------------------------------------- */

static void expect_reject(struct catalog_batch *b, const char *text, const char *msg)
{
	char err[256] = "";
	json_t *d = J(text);
	int rc = catalog_batch_entity(b, d, err, sizeof err);

	json_decref(d);
	if (rc != CATALOG_EINVAL)
		fail_msg("accepted %s (rc %d)", text, rc);
	if (!strstr(err, msg))
		fail_msg("for %s: error '%s' does not say '%s'", text, err, msg);
}

static void test_bad_documents(void **state)
{
	struct fx *f = *state;
	struct catalog_batch *b = catalog_batch_begin(f->cat, "api", 0);
	struct catalog_batch_stats st;
	char big[CATALOG_TEXT_MAX + 64];
	char err[256];
	json_t *d;

	assert_non_null(b);
	expect_reject(b, "[]", "document: must be an object");
	expect_reject(b, "{\"namespace\":\"ns\",\"name\":\"x\"}", "kind: missing");
	expect_reject(b, "{\"kind\":\"dataset\",\"name\":\"x\"}", "namespace: missing");
	expect_reject(b, "{\"kind\":\"dataset\",\"namespace\":\"ns\"}", "name: missing");
	expect_reject(b, "{\"kind\":\"Data\",\"namespace\":\"ns\",\"name\":\"x\"}", "kind:");
	expect_reject(b, "{\"id\":\"nonsense\"}", "id: malformed");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"name\":\"y\"}", "id: does not match");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"colour\":\"red\"}", "colour: unknown key");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"description\":5}",
		      "description: must be a string");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"tags\":\"pii\"}", "tags: must be an array");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"tags\":[\"a\",\"\"]}", "tags[1]");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"owners\":[3]}", "owners[0]");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"properties\":[]}",
		      "properties: must be an object");
	expect_reject(b,
		      "{\"id\":\"dataset:ns:x\",\"fields\":[{\"name\":\"a\"},{\"name\":\"b\"},"
		      "{\"name\":\"c\"},{\"type\":\"int\"}]}",
		      "fields[3].name: missing");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"fields\":[{\"name\":\"\"}]}", "fields[0].name");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"fields\":[\"a\"]}",
		      "fields[0]: must be an object");
	expect_reject(b,
		      "{\"id\":\"dataset:ns:x\",\"fields\":[{\"name\":\"a\"},{\"name\":\"b\"},"
		      "{\"name\":\"a\"}]}",
		      "fields[2].name: duplicate 'a'");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"fields\":[{\"name\":\"a\",\"ordinal\":\"1\"}]}",
		      "fields[0].ordinal");
	expect_reject(b, "{\"id\":\"dataset:ns:x\",\"fields\":[{\"name\":\"a\",\"colour\":1}]}",
		      "fields[0].colour: unknown key");
	expect_reject(b, "{\"kind\":\"dataset\",\"namespace\":\"a:b\",\"name\":\"x\"}",
		      "ambiguous");
	memset(big, 'x', sizeof big);
	big[sizeof big - 1] = '\0';
	d = json_pack("{s:s, s:s}", "id", "dataset:ns:x", "description", big);
	assert_int_equal(catalog_batch_entity(b, d, err, sizeof err), CATALOG_EINVAL);
	assert_non_null(strstr(err, "description: too long"));
	json_decref(d);

	/* the batch is still usable */
	d = J("{\"kind\":\"dataset\",\"namespace\":\"ns\",\"name\":\"ok\"}");
	assert_int_equal(catalog_batch_entity(b, d, err, sizeof err), 0);
	json_decref(d);
	assert_int_equal(catalog_batch_commit(b, &st, err, sizeof err), 0);
	assert_int_equal(st.entities, 1);
	d = get(f->cat, "dataset:ns:ok");
	json_decref(d);

	/* sources are checked */
	assert_null(catalog_batch_begin(f->cat, "", 0));
	assert_null(catalog_batch_begin(f->cat, NULL, 0));
}

/* --- export / import --------------------------------------------------------- */

static char *slurp(FILE *fp, size_t *len)
{
	char *buf;
	long n;

	fflush(fp);
	n = ftell(fp);
	assert_true(n >= 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	rewind(fp);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static void populate(struct catalog *cat)
{
	static const char *const pg[] = {
		"{\"id\":\"dataset:postgres://db:5432:shop.public.orders\",\"subtype\":\"table\","
		"\"description\":\"orders \\u00e9t\\u00e9\",\"properties\":{\"rows\":12,"
		"\"ratio\":0.1,\"nested\":{\"z\":null,\"a\":[1,\"two\"]}},\"tags\":[\"pii\"],"
		"\"owners\":[\"alice\"],\"fields\":[{\"name\":\"id\",\"type\":\"int\","
		"\"nullable\":false,\"ordinal\":1,\"properties\":{\"pk\":true}},"
		"{\"name\":\"total\",\"type\":\"numeric\",\"description\":\"sum\",\"ordinal\":2}]}",
		"{\"id\":\"dataset:postgres://db:5432:shop.public.users\",\"subtype\":\"table\"}",
		"{\"id\":\"dataset:postgres://db:5432:shop.public.old\"}",
	};
	struct catalog_batch *b;
	char err[256];
	json_t *p;

	put_many(cat, "postgres", 1, pg, 3);
	b = catalog_batch_begin(cat, "postgres", 1);
	assert_non_null(b);
	for (int i = 0; i < 2; i++) {
		p = J(pg[i]);
		assert_int_equal(catalog_batch_entity(b, p, err, sizeof err), 0);
		json_decref(p);
	}
	p = J("{\"fk\":\"user_id\"}");
	assert_int_equal(catalog_batch_edge(b, "dataset:postgres://db:5432:shop.public.orders",
					    "dataset:postgres://db:5432:shop.public.users",
					    "relationship", p, err, sizeof err),
			 0);
	json_decref(p);
	assert_int_equal(catalog_batch_commit(b, NULL, err, sizeof err), 0);
	put(cat, "dbt", 0,
	    "{\"id\":\"dataset:postgres://db:5432:shop.public.orders\",\"tags\":[\"pii\",\"gold\"],"
	    "\"properties\":{\"rows\":13}}");
	p = J("{\"description\":\"curated\",\"tags\":[\"gold\",\"reviewed\"]}");
	assert_int_equal(catalog_entity_patch(cat, "dataset:postgres://db:5432:shop.public.orders",
					      p, "alice", err, sizeof err),
			 0);
	json_decref(p);
	b = catalog_batch_begin(cat, "openlineage", 0);
	assert_non_null(b);
	assert_int_equal(catalog_batch_edge(b, "dataset:postgres://db:5432:shop.public.orders",
					    "job:airflow://sched:etl.report", NULL, NULL, err,
					    sizeof err),
			 0);
	assert_int_equal(catalog_batch_commit(b, NULL, err, sizeof err), 0);
	p = J("{\"eventType\":\"START\",\"run\":{\"runId\":\"r1\"}}");
	assert_int_equal(catalog_run_record(cat, "0b7d2c3e-1", "job:airflow://sched:etl.report",
					    "START", "2024-05-01T12:00:00.5+02:00", p, err,
					    sizeof err),
			 0);
	json_decref(p);
	assert_int_equal(catalog_run_record(cat, "0b7d2c3e-1", "job:airflow://sched:etl.report",
					    "COMPLETE", "2024-05-01T10:05:00Z", NULL, err,
					    sizeof err),
			 0);
	assert_int_equal(catalog_token_put(cat, "ab12", "admin", "ops token"), 0);
}

static void test_export_import_roundtrip(void **state)
{
	struct fx *f = *state;
	struct fx g;
	char err[256] = "", *a, *b2;
	size_t alen, blen;
	long n, m;
	FILE *fa = tmpfile(), *fb = tmpfile();
	json_t *doc, *h;
	char scope[32];

	assert_non_null(fa);
	assert_non_null(fb);
	populate(f->cat);
	n = catalog_export(f->cat, fa, err, sizeof err);
	assert_true(n > 10);
	a = slurp(fa, &alen);
	assert_non_null(strstr(a, "{\"type\":\"entity\""));
	assert_non_null(strstr(a, "\"_sources\""));
	assert_non_null(strstr(a, "{\"type\":\"edge\""));
	assert_non_null(strstr(a, "{\"type\":\"history\""));
	assert_non_null(strstr(a, "{\"type\":\"run\""));
	assert_non_null(strstr(a, "{\"type\":\"token\""));

	/* into an empty catalog */
	strcpy(g.dir, "/tmp/test_catalog.XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	snprintf(g.path, sizeof g.path, "%s/b.db", g.dir);
	g.cat = catalog_open(g.path, err, sizeof err);
	assert_non_null(g.cat);
	rewind(fa);
	m = catalog_import(g.cat, fa, err, sizeof err);
	if (m != n)
		fail_msg("import: %ld (%s), want %ld", m, err, n);
	assert_int_equal(catalog_export(g.cat, fb, err, sizeof err), n);
	b2 = slurp(fb, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b2, alen);

	/* what a user checks: the merged entity, its history, runs, tokens */
	doc = get(g.cat, "dataset:postgres://db:5432:shop.public.orders");
	assert_string_equal(gs(doc, "description"), "curated");
	assert_json_eq(json_object_get(doc, "tags"), "[\"gold\",\"pii\",\"reviewed\"]");
	assert_json_eq(json_object_get(json_object_get(doc, "tag_sources"), "gold"),
		       "[\"dbt\",\"user\"]");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "properties"),
							    "rows")),
			 13);
	json_decref(doc);
	doc = get(g.cat, "dataset:postgres://db:5432:shop.public.old");
	assert_true(json_is_true(json_object_get(doc, "stale")));
	json_decref(doc);
	h = history(g.cat, "dataset:postgres://db:5432:shop.public.orders");
	assert_non_null(change_of(h, "description"));
	json_decref(h);
	assert_int_equal(catalog_runs_of(g.cat, "job:airflow://sched:etl.report", 10, &h), 0);
	assert_int_equal(json_array_size(h), 1);
	assert_string_equal(gs(json_array_get(h, 0), "state"), "COMPLETE");
	json_decref(h);
	assert_int_equal(catalog_token_get(g.cat, "ab12", scope, sizeof scope), 0);
	assert_string_equal(scope, "admin");

	/* importing again merges: nothing new */
	rewind(fa);
	assert_int_equal(catalog_import(g.cat, fa, err, sizeof err), n);
	doc = get(g.cat, "dataset:postgres://db:5432:shop.public.orders");
	assert_json_eq(json_object_get(doc, "tags"), "[\"gold\",\"pii\",\"reviewed\"]");
	json_decref(doc);

	catalog_close(g.cat);
	rm_dir(g.dir);
	free(a);
	free(b2);
	fclose(fa);
	fclose(fb);
}

/* Every entity's search-index row, as "id|name|display|...". */
static char *fts_rows(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t cap = 1 << 16, len = 0;
	char *out = calloc(1, cap);

	assert_non_null(out);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT e.id, f.name, f.display, f.namespace,"
					    " f.description, f.fields, f.tags, f.owners"
					    " FROM entities e JOIN entity_fts f ON f.rowid = e.eid"
					    " ORDER BY e.id",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < 8; i++) {
			const char *t = (const char *)sqlite3_column_text(st, i);
			int n = snprintf(out + len, cap - len, "%s%c", t ? t : "(null)",
					 i == 7 ? '\n' : '|');

			assert_true(n > 0 && (size_t)n < cap - len);
			len += (size_t)n;
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* An import builds index rows from the documents: they must equal the ones a batch builds. */
static void test_import_search_rows(void **state)
{
	struct fx *f = *state;
	struct fx g;
	char err[256] = "", *a, *b;
	FILE *fp = tmpfile();
	json_t *p;

	assert_non_null(fp);
	put(f->cat, "pg", 0,
	    "{\"id\":\"dataset:postgres://db:5432:s.t\",\"display_name\":\"T\",\"subtype\":\"view\","
	    "\"description\":\"collector words\",\"tags\":[\"zeta\",\"alpha\",\"zeta\"],"
	    "\"owners\":[\"bob\"],\"fields\":[{\"name\":\"a\",\"description\":\"first\"},"
	    "{\"name\":\"b\"},{\"name\":\"c\",\"description\":\"third one\"}]}");
	put(f->cat, "pg", 0, "{\"id\":\"job:af:j\",\"subtype\":\"task\"}");
	put(f->cat, "pg", 0, "{\"id\":\"dataset:ns:bare\"}");
	p = J("{\"description\":\"user words\",\"owners\":[\"carol\"]}");
	assert_int_equal(catalog_entity_patch(f->cat, "job:af:j", p, NULL, err, sizeof err), 0);
	json_decref(p);
	assert_true(catalog_export(f->cat, fp, err, sizeof err) > 0);

	strcpy(g.dir, "/tmp/test_catalog.XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	snprintf(g.path, sizeof g.path, "%s/b.db", g.dir);
	g.cat = catalog_open(g.path, err, sizeof err);
	assert_non_null(g.cat);
	rewind(fp);
	assert_true(catalog_import(g.cat, fp, err, sizeof err) > 0);
	catalog_close(g.cat);
	a = fts_rows(f->path);
	b = fts_rows(g.path);
	assert_non_null(strstr(a, "user words"));
	assert_non_null(strstr(a, "|alpha zeta|"));
	assert_string_equal(a, b);
	free(a);
	free(b);
	rm_dir(g.dir);
	fclose(fp);
}

static void test_import_bad_line(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	json_t *doc = NULL;
	FILE *in = tmpfile();

	assert_non_null(in);
	fputs("{\"type\":\"entity\",\"id\":\"dataset:ns:a\"}\n"
	      "\n"
	      "{\"type\":\"entity\",\"id\":\"dataset:ns:b\",\"fields\":[{\"type\":\"int\"}]}\n",
	      in);
	rewind(in);
	assert_int_equal(catalog_import(f->cat, in, err, sizeof err), CATALOG_EINVAL);
	assert_non_null(strstr(err, "line 3: fields[0].name: missing"));
	/* atomic: line 1 was rolled back */
	assert_int_equal(catalog_entity_get(f->cat, "dataset:ns:a", &doc), CATALOG_ENOTFOUND);

	rewind(in);
	assert_int_equal(ftruncate(fileno(in), 0), 0);
	fputs("{\"type\":\"entity\",\"id\":\"dataset:ns:a\"}\nnot json\n", in);
	rewind(in);
	assert_int_equal(catalog_import(f->cat, in, err, sizeof err), CATALOG_EINVAL);
	assert_non_null(strstr(err, "line 2: invalid json"));

	rewind(in);
	assert_int_equal(ftruncate(fileno(in), 0), 0);
	fputs("{\"type\":\"gizmo\"}\n", in);
	rewind(in);
	assert_int_equal(catalog_import(f->cat, in, err, sizeof err), CATALOG_EINVAL);
	assert_non_null(strstr(err, "line 1: type: unknown 'gizmo'"));

	rewind(in);
	assert_int_equal(ftruncate(fileno(in), 0), 0);
	fputs("{\"type\":\"history\",\"id\":\"dataset:ns:zz\",\"at\":\"2024-01-01T00:00:00Z\","
	      "\"source\":\"x\",\"change\":\"created\"}\n",
	      in);
	rewind(in);
	assert_int_equal(catalog_import(f->cat, in, err, sizeof err), CATALOG_EINVAL);
	assert_non_null(strstr(err, "line 1: id: no entity"));

	/* the writer is free and the catalog usable afterwards */
	put(f->cat, "api", 0, "{\"id\":\"dataset:ns:c\"}");
	fclose(in);
}

/* Input that is not a regular file is parsed by the writer itself. */
static void test_import_stream(void **state)
{
	struct fx *f = *state;
	static char good[] = "{\"type\":\"entity\",\"id\":\"dataset:ns:m1\",\"tags\":[\"x\"]}\n"
			     "{\"type\":\"entity\",\"id\":\"dataset:ns:m2\"}\n"
			     "{\"type\":\"edge\",\"src\":\"dataset:ns:m1\",\"dst\":\"dataset:ns:m2\","
			     "\"kind\":\"lineage\",\"source\":\"s\"}";
	static char bad[] = "{\"type\":\"entity\",\"id\":\"dataset:ns:m3\"}\n{\"type\":1}\n";
	char err[256] = "";
	json_t *doc = NULL;
	FILE *in = fmemopen(good, strlen(good), "r");

	assert_non_null(in);
	assert_int_equal(catalog_import(f->cat, in, err, sizeof err), 3);
	fclose(in);
	doc = get(f->cat, "dataset:ns:m2");
	assert_json_eq(json_object_get(doc, "upstream"),
		       "[{\"id\":\"dataset:ns:m1\",\"kind\":\"lineage\",\"source\":\"s\","
		       "\"stale\":false}]");
	json_decref(doc);
	in = fmemopen(bad, strlen(bad), "r");
	assert_non_null(in);
	assert_int_equal(catalog_import(f->cat, in, err, sizeof err), CATALOG_EINVAL);
	assert_non_null(strstr(err, "line 2: type: missing"));
	fclose(in);
	assert_int_equal(catalog_entity_get(f->cat, "dataset:ns:m3", &doc), CATALOG_ENOTFOUND);
}

/* More lines than the parsing ring holds, in a regular file. */
static void test_import_many_lines(void **state)
{
	struct fx *f = *state;
	struct catalog_counts c;
	char err[256] = "";
	FILE *in = tmpfile();

	assert_non_null(in);
	for (int i = 0; i < 3000; i++)
		fprintf(in, "{\"type\":\"entity\",\"id\":\"dataset:ns:e%d\",\"fields\":[{\"name\":\"a\"}]}\n",
			i);
	for (int i = 1; i < 3000; i++)
		fprintf(in, "{\"type\":\"edge\",\"src\":\"dataset:ns:e%d\",\"dst\":\"dataset:ns:e%d\","
			    "\"kind\":\"lineage\",\"source\":\"s\"}\n",
			i - 1, i);
	rewind(in);
	assert_int_equal(catalog_import(f->cat, in, err, sizeof err), 5999);
	assert_int_equal(catalog_counts(f->cat, &c), 0);
	assert_int_equal(c.entities, 3000);
	assert_int_equal(c.fields, 3000);
	assert_int_equal(c.edges, 2999);
	/* an error late in a long file */
	rewind(in);
	assert_int_equal(ftruncate(fileno(in), 0), 0);
	for (int i = 0; i < 2000; i++)
		fprintf(in, "{\"type\":\"entity\",\"id\":\"dataset:ns:x%d\"}\n", i);
	fputs("{\"type\":\"entity\",\"id\":\"bad\"}\n", in);
	rewind(in);
	assert_int_equal(catalog_import(f->cat, in, err, sizeof err), CATALOG_EINVAL);
	assert_non_null(strstr(err, "line 2001: id: malformed"));
	assert_int_equal(catalog_counts(f->cat, &c), 0);
	assert_int_equal(c.entities, 3000);
	fclose(in);
}

/* --- runs and tokens --------------------------------------------------------- */

static void test_runs_tokens(void **state)
{
	struct fx *f = *state;
	const char *job = "job:airflow://sched:dag.task";
	char err[256], scope[16];
	json_t *runs, *doc;

	assert_int_equal(catalog_run_record(f->cat, "r1", job, "START", "2024-05-01T10:00:00Z", NULL,
					    err, sizeof err),
			 0);
	assert_int_equal(catalog_run_record(f->cat, "r1", job, "COMPLETE", "2024-05-01T10:05:00Z",
					    NULL, err, sizeof err),
			 0);
	/* a late, older event does not undo the run's state */
	assert_int_equal(catalog_run_record(f->cat, "r1", job, "RUNNING", "2024-05-01T10:01:00Z",
					    NULL, err, sizeof err),
			 0);
	assert_int_equal(catalog_run_record(f->cat, "r2", job, "FAIL", "2024-05-02T00:00:00+01:00",
					    NULL, err, sizeof err),
			 0);
	assert_int_equal(catalog_run_record(f->cat, "r3", job, "DONE", "2024-05-01T10:00:00Z", NULL,
					    err, sizeof err),
			 CATALOG_EINVAL);
	assert_int_equal(catalog_run_record(f->cat, "r3", job, "START", "yesterday", NULL, err,
					    sizeof err),
			 CATALOG_EINVAL);
	assert_non_null(strstr(err, "eventTime"));

	assert_int_equal(catalog_runs_of(f->cat, job, 10, &runs), 0);
	assert_int_equal(json_array_size(runs), 2);
	assert_string_equal(gs(json_array_get(runs, 0), "run_id"), "r2");
	assert_string_equal(gs(json_array_get(runs, 0), "state"), "FAIL");
	assert_string_equal(gs(json_array_get(runs, 0), "ended_at"), "2024-05-01T23:00:00.000Z");
	assert_true(json_is_null(json_object_get(json_array_get(runs, 0), "started_at")));
	assert_string_equal(gs(json_array_get(runs, 1), "state"), "COMPLETE");
	assert_string_equal(gs(json_array_get(runs, 1), "started_at"), "2024-05-01T10:00:00.000Z");
	assert_string_equal(gs(json_array_get(runs, 1), "ended_at"), "2024-05-01T10:05:00.000Z");
	json_decref(runs);

	doc = get(f->cat, job);
	assert_json_eq(json_object_get(doc, "properties"),
		       "{\"last_run_at\":\"2024-05-01T23:00:00.000Z\",\"last_run_state\":\"FAIL\"}");
	json_decref(doc);
	assert_int_equal(catalog_runs_of(f->cat, "job:ns:none", 10, &runs), CATALOG_ENOTFOUND);

	assert_int_equal(catalog_token_put(f->cat, "deadbeef", "write", "ci"), 0);
	assert_int_equal(catalog_token_get(f->cat, "deadbeef", scope, sizeof scope), 0);
	assert_string_equal(scope, "write");
	assert_int_equal(catalog_token_get(f->cat, "feed", scope, sizeof scope), CATALOG_ENOTFOUND);
	assert_int_equal(catalog_token_put(f->cat, "deadbeef", "read", "ci"), 0);
	assert_int_equal(catalog_token_get(f->cat, "deadbeef", scope, sizeof scope), 0);
	assert_string_equal(scope, "read");
}

static void test_counts_and_search_index(void **state)
{
	struct fx *f = *state;
	static const char *const docs[] = {
		"{\"id\":\"dataset:pg:a\",\"fields\":[{\"name\":\"x\"},{\"name\":\"y\"}]}",
		"{\"id\":\"job:af:b\"}",
		"{\"id\":\"model:ml:c\"}",
		"{\"id\":\"service:h:d\"}",
		"{\"id\":\"dashboard:mb:e\",\"description\":\"weekly revenue\"}",
	};
	struct catalog_counts c;
	sqlite3 *db;
	sqlite3_stmt *st;
	json_t *p;
	char err[256];
	int hits = 0;

	put_many(f->cat, "t", 0, docs, 5);
	assert_int_equal(catalog_counts(f->cat, &c), 0);
	assert_int_equal(c.entities, 5);
	assert_int_equal(c.fields, 2);
	assert_int_equal(c.stale, 0);
	assert_int_equal(c.history, 5);
	assert_int_equal(c.by_kind_dataset, 1);
	assert_int_equal(c.by_kind_job, 1);
	assert_int_equal(c.by_kind_model, 1);
	assert_int_equal(c.by_kind_service, 1);
	assert_int_equal(c.by_kind_other, 1);
	assert_true(c.file_bytes > 0);

	/* the full-text index follows the user's description */
	p = J("{\"description\":\"quarterly zebra numbers\",\"tags\":[\"finance\"]}");
	assert_int_equal(catalog_entity_patch(f->cat, "dashboard:mb:e", p, NULL, err, sizeof err),
			 0);
	json_decref(p);
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT e.id, f.description, f.tags FROM entity_fts f"
					    " JOIN entities e ON e.eid = f.rowid"
					    " WHERE entity_fts MATCH ?1",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, "zebra", -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "dashboard:mb:e");
		assert_string_equal((const char *)sqlite3_column_text(st, 2), "finance");
		hits++;
	}
	assert_int_equal(hits, 1);
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, "weekly", -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* --- migrations ----------------------------------------------------------------- */

static int file_user_version(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void test_migrations(void **state)
{
	struct fx *f = *state;
	char path[160], err[256] = "", want[256];
	struct catalog *cat;
	sqlite3 *db;
	FILE *fp;

	/* an empty file is version 0 and is migrated */
	snprintf(path, sizeof path, "%s/empty.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	cat = catalog_open(path, err, sizeof err);
	assert_non_null(cat);
	assert_string_equal(catalog_path(cat), path);
	put(cat, "t", 0, "{\"id\":\"dataset:ns:x\"}");
	catalog_close(cat);
	assert_int_equal(file_user_version(path), CATALOG_SCHEMA_VERSION);
	/* reopening keeps the data */
	cat = catalog_open(path, err, sizeof err);
	assert_non_null(cat);
	json_decref(get(cat, "dataset:ns:x"));
	catalog_close(cat);

	/* a file from a newer terrarium is refused */
	snprintf(path, sizeof path, "%s/newer.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cat = catalog_open(path, err, sizeof err);
	assert_null(cat);
	snprintf(want, sizeof want,
		 "catalog '%s' has schema version 99, newer than this terrarium (%d)", path,
		 CATALOG_SCHEMA_VERSION);
	assert_string_equal(err, want);
	assert_int_equal(file_user_version(path), 99);

	/* not a database at all */
	snprintf(path, sizeof path, "%s/junk.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is not an sqlite file, not at all, no; it is just text...........", fp);
	fclose(fp);
	assert_null(catalog_open(path, err, sizeof err));
	assert_non_null(strstr(err, "cannot open catalog"));
	assert_null(catalog_open(":memory:", err, sizeof err));
}

/* --- threads ------------------------------------------------------------------ */

struct reader_arg {
	struct catalog *cat;
	atomic_int *stop;
	long reads;
	int errors;
};

static void *reader_main(void *p)
{
	struct reader_arg *a = p;
	struct catalog_counts c;
	json_t *doc;

	while (!atomic_load(a->stop) || a->reads < 50) {
		if (catalog_entity_get(a->cat, "dataset:pg:hot", &doc) == 0) {
			if (!json_is_array(json_object_get(doc, "fields")))
				a->errors++;
			json_decref(doc);
		} else {
			a->errors++;
		}
		if (catalog_counts(a->cat, &c) != 0 || c.entities < 1)
			a->errors++;
		if (catalog_entity_history(a->cat, "dataset:pg:hot", 5, 0, &doc) == 0)
			json_decref(doc);
		else
			a->errors++;
		a->reads++;
	}
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	struct fx *f = *state;
	pthread_t th[4];
	struct reader_arg args[4];
	atomic_int stop = 0;
	char text[256];
	json_t *doc;

	put(f->cat, "pg", 0, "{\"id\":\"dataset:pg:hot\",\"fields\":[{\"name\":\"a\"}]}");
	for (int i = 0; i < 4; i++) {
		args[i] = (struct reader_arg){ .cat = f->cat, .stop = &stop };
		assert_int_equal(pthread_create(&th[i], NULL, reader_main, &args[i]), 0);
	}
	for (int i = 0; i < 60; i++) {
		snprintf(text, sizeof text,
			 "{\"id\":\"dataset:pg:hot\",\"description\":\"v%d\","
			 "\"fields\":[{\"name\":\"a\"},{\"name\":\"f%d\"}]}",
			 i, i);
		put(f->cat, "pg", i % 2, text);
		snprintf(text, sizeof text, "{\"id\":\"dataset:pg:n%d\"}", i);
		put(f->cat, "other", 0, text);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].errors, 0);
		assert_true(args[i].reads >= 50);
	}
	doc = get(f->cat, "dataset:pg:hot");
	assert_string_equal(gs(doc, "description"), "v59");
	json_decref(doc);
}

struct commit_arg {
	struct catalog_batch *b;
	int rc;
};

static void *commit_main(void *p)
{
	struct commit_arg *a = p;

	a->rc = catalog_batch_commit(a->b, NULL, NULL, 0);
	return NULL;
}

/* A thread that holds the writer gets an error rather than a deadlock; a
 * batch may be committed by another thread. */
static void test_writer_lock(void **state)
{
	struct fx *f = *state;
	struct catalog_batch *b = catalog_batch_begin(f->cat, "t", 0);
	struct commit_arg a;
	pthread_t th;
	char err[256] = "";
	json_t *d = J("{\"id\":\"dataset:ns:w\"}"), *p = J("{\"description\":\"x\"}");

	assert_non_null(b);
	assert_int_equal(catalog_batch_entity(b, d, err, sizeof err), 0);
	assert_null(catalog_batch_begin(f->cat, "t", 0));
	assert_int_equal(catalog_entity_patch(f->cat, "dataset:ns:w", p, NULL, err, sizeof err),
			 CATALOG_EINVAL);
	assert_non_null(strstr(err, "already holds the writer"));
	assert_int_equal(catalog_token_put(f->cat, "aa", "read", ""), CATALOG_EINVAL);
	a = (struct commit_arg){ .b = b, .rc = -100 };
	assert_int_equal(pthread_create(&th, NULL, commit_main, &a), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(a.rc, 0);
	/* released: this thread may write again */
	assert_int_equal(catalog_entity_patch(f->cat, "dataset:ns:w", p, NULL, err, sizeof err), 0);
	json_decref(d);
	json_decref(p);
	d = get(f->cat, "dataset:ns:w");
	assert_string_equal(gs(d, "description"), "x");
	json_decref(d);
}

/* Readers cached for one catalog are not reused for the next one. */
static void test_reopen_same_thread(void **state)
{
	struct fx *f = *state;
	char path[160], err[256];
	struct catalog *other;
	json_t *doc = NULL;

	put(f->cat, "t", 0, "{\"id\":\"dataset:ns:first\"}");
	json_decref(get(f->cat, "dataset:ns:first"));
	snprintf(path, sizeof path, "%s/other.db", f->dir);
	for (int i = 0; i < 3; i++) {
		other = catalog_open(path, err, sizeof err);
		assert_non_null(other);
		assert_int_equal(catalog_entity_get(other, "dataset:ns:first", &doc),
				 CATALOG_ENOTFOUND);
		put(other, "t", 0, "{\"id\":\"dataset:ns:second\"}");
		json_decref(get(other, "dataset:ns:second"));
		catalog_close(other);
	}
	assert_int_equal(catalog_entity_get(f->cat, "dataset:ns:second", &doc), CATALOG_ENOTFOUND);
}

/* --- the reader pool ------------------------------------------------------------ */

/* File descriptors of this process open on PATH itself (not -wal, -shm). */
static int fds_on(const char *path)
{
	char real[4096], link[320], target[4096];
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(realpath(path, real));
	d = opendir("/proc/self/fd");
	assert_non_null(d);
	while ((de = readdir(d))) {
		ssize_t len;

		snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
		len = readlink(link, target, sizeof target - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, real) == 0;
	}
	closedir(d);
	return n;
}

struct search_arg {
	struct catalog *cat;
	pthread_barrier_t *start;
	int rounds;
	int failures;
	int hits;
};

static void *search_main(void *p)
{
	struct search_arg *a = p;
	struct search_query q = { .q = "pool", .stale = -1 };
	char err[256];

	pthread_barrier_wait(a->start);
	for (int i = 0; i < a->rounds; i++) {
		json_t *out = NULL;

		if (search_run(a->cat, &q, &out, err, sizeof err) != 0) {
			a->failures++;
			continue;
		}
		a->hits = (int)json_integer_value(json_object_get(out, "total"));
		json_decref(out);
	}
	return NULL;
}

/* Open the catalog at F->path with TERRARIUM_CATALOG_READERS=READERS (NULL: unset). */
static struct catalog *open_with_readers(struct fx *f, const char *readers)
{
	char err[256];
	struct catalog *cat;

	if (readers)
		setenv("TERRARIUM_CATALOG_READERS", readers, 1);
	else
		unsetenv("TERRARIUM_CATALOG_READERS");
	cat = catalog_open(f->path, err, sizeof err);
	unsetenv("TERRARIUM_CATALOG_READERS");
	if (!cat)
		fail_msg("catalog_open: %s", err);
	return cat;
}

/* THREADS searchers at once on CAT, ROUNDS searches each; every one finds 3 hits. */
static void search_from_threads(struct catalog *cat, int threads, int rounds)
{
	pthread_t th[16];
	struct search_arg args[16];
	pthread_barrier_t start;

	assert_true(threads <= 16);
	assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned)threads), 0);
	for (int i = 0; i < threads; i++) {
		args[i] = (struct search_arg){ .cat = cat, .start = &start, .rounds = rounds };
		assert_int_equal(pthread_create(&th[i], NULL, search_main, &args[i]), 0);
	}
	for (int i = 0; i < threads; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
		assert_int_equal(args[i].hits, 3);
	}
	pthread_barrier_destroy(&start);
}

/* Sixteen threads searching at once share the configured number of connections. */
static void test_reader_pool_bounded(void **state)
{
	struct fx *f = *state;
	struct catalog *cat;

	put(f->cat, "pg", 0, "{\"id\":\"dataset:pg:pool_a\",\"description\":\"in the pool\"}");
	put(f->cat, "pg", 0, "{\"id\":\"dataset:pg:pool_b\"}");
	put(f->cat, "pg", 0, "{\"id\":\"dataset:pg:c\",\"fields\":[{\"name\":\"pool\"}]}");
	put(f->cat, "pg", 0, "{\"id\":\"dataset:pg:other\"}");
	catalog_close(f->cat);
	f->cat = NULL;

	cat = open_with_readers(f, "2");
	assert_int_equal(catalog_readers_max(cat), 2);
	assert_int_equal(catalog_readers_open(cat), 0);
	search_from_threads(cat, 16, 20);
	assert_true(catalog_readers_open(cat) >= 1);
	assert_true(catalog_readers_open(cat) <= 2);
	/* What the process holds on the file: the writer and at most 2 readers
	 * (a connection per searching thread would be 17). */
	assert_true(fds_on(f->path) <= 3);
	/* Later searches from new threads reuse them. */
	search_from_threads(cat, 8, 5);
	assert_true(catalog_readers_open(cat) <= 2);
	assert_true(fds_on(f->path) <= 3);
	catalog_close(cat);
	assert_int_equal(fds_on(f->path), 0);

	/* A bad value falls back to the default: one per online CPU, 2 to 4. */
	cat = open_with_readers(f, "lots");
	{
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		int want = cpus < 2 ? 2 : cpus > 4 ? 4 : (int)cpus;

		assert_int_equal(catalog_readers_max(cat), want);
		search_from_threads(cat, 12, 5);
		assert_true(catalog_readers_open(cat) <= want);
		assert_true(fds_on(f->path) <= want + 1);
	}
	catalog_close(cat);
	/* 4 may be asked for on any machine; 1 is allowed. */
	cat = open_with_readers(f, "4");
	assert_int_equal(catalog_readers_max(cat), 4);
	search_from_threads(cat, 12, 5);
	assert_true(catalog_readers_open(cat) <= 4);
	assert_true(fds_on(f->path) <= 5);
	catalog_close(cat);
	cat = open_with_readers(f, "1");
	assert_int_equal(catalog_readers_max(cat), 1);
	search_from_threads(cat, 6, 5);
	assert_int_equal(catalog_readers_open(cat), 1);
	f->cat = cat;
}

struct reads_arg {
	struct catalog *cat;
	pthread_barrier_t *start;
	int rounds;
	int failures;
};

/* Every kind of read catalog/ makes, ROUNDS times; each checks what it found. */
static void *reads_main(void *p)
{
	struct reads_arg *a = p;
	struct lineage_query lq = { .node_id = "dataset:pg:r_a", .depth = 2,
				    .direction = LINEAGE_BOTH, .hop_cap = 100 };
	struct search_query sq = { .q = "reads", .stale = -1 };
	struct catalog_counts counts;
	struct catalog_collector_state cs;
	char err[256], scope[32];

	pthread_barrier_wait(a->start);
	for (int i = 0; i < a->rounds; i++) {
		struct lineage_graph *g = NULL;
		json_t *j = NULL;

		if (catalog_entity_get(a->cat, "dataset:pg:r_a", &j) != 0 ||
		    json_array_size(json_object_get(j, "downstream")) != 1)
			a->failures++;
		json_decref(j);
		j = NULL;
		if (catalog_entity_history(a->cat, "dataset:pg:r_a", 10, 0, &j) != 0 ||
		    json_integer_value(json_object_get(j, "total")) < 1)
			a->failures++;
		json_decref(j);
		j = NULL;
		if (catalog_counts(a->cat, &counts) != 0 || counts.entities != 2 ||
		    counts.edges != 1)
			a->failures++;
		if (catalog_runs_of(a->cat, "dataset:pg:r_a", 5, &j) != 0 ||
		    json_array_size(j) != 0)
			a->failures++;
		json_decref(j);
		j = NULL;
		if (catalog_token_get(a->cat, "feedface", scope, sizeof scope) != 0 ||
		    strcmp(scope, "read") != 0)
			a->failures++;
		if (catalog_ping(a->cat) != 0)
			a->failures++;
		if (catalog_collector_runs(a->cat, "nobody", 5, &j) != 0 || json_array_size(j) != 0)
			a->failures++;
		json_decref(j);
		j = NULL;
		if (catalog_collector_last_runs(a->cat, &j) != 0)
			a->failures++;
		json_decref(j);
		j = NULL;
		if (catalog_collector_state_get(a->cat, "nobody", &cs) != CATALOG_ENOTFOUND)
			a->failures++;
		if (lineage_query(a->cat, &lq, &g, err, sizeof err) != 0 || g->n_nodes != 2)
			a->failures++;
		lineage_graph_destroy(g);
		if (search_run(a->cat, &sq, &j, err, sizeof err) != 0 ||
		    json_integer_value(json_object_get(j, "total")) != 2)
			a->failures++;
		json_decref(j);
	}
	return NULL;
}

/* Every read (documents, history, counts, runs, tokens, ping, collector runs,
 * lineage, search) from sixteen threads at once borrows from the pool: the
 * process never holds more connections than the pool allows. */
static void test_reader_pool_all_reads(void **state)
{
	struct fx *f = *state;
	struct catalog_batch *b;
	struct catalog_batch_stats st;
	struct reads_arg args[16];
	pthread_t th[16];
	pthread_barrier_t start;
	struct catalog *cat;
	char err[256];
	FILE *devnull;

	put(f->cat, "pg", 0, "{\"id\":\"dataset:pg:r_a\",\"description\":\"reads here\"}");
	put(f->cat, "pg", 0, "{\"id\":\"dataset:pg:r_b\",\"fields\":[{\"name\":\"reads\"}]}");
	b = catalog_batch_begin(f->cat, "pg", 0);
	assert_non_null(b);
	assert_int_equal(catalog_batch_edge(b, "dataset:pg:r_a", "dataset:pg:r_b", NULL, NULL, err,
					    sizeof err),
			 0);
	assert_int_equal(catalog_batch_commit(b, &st, err, sizeof err), 0);
	assert_int_equal(catalog_token_put(f->cat, "feedface", "read", "pool"), 0);
	catalog_close(f->cat);
	f->cat = NULL;

	cat = open_with_readers(f, "2");
	assert_int_equal(pthread_barrier_init(&start, NULL, 16), 0);
	for (int i = 0; i < 16; i++) {
		args[i] = (struct reads_arg){ .cat = cat, .start = &start, .rounds = 5 };
		assert_int_equal(pthread_create(&th[i], NULL, reads_main, &args[i]), 0);
	}
	for (int i = 0; i < 16; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	pthread_barrier_destroy(&start);
	assert_true(catalog_readers_open(cat) >= 1);
	assert_true(catalog_readers_open(cat) <= 2);
	/* The writer and at most 2 readers (one per thread would be 17). */
	assert_true(fds_on(f->path) <= 3);
	/* An export borrows one too, and gives it back. */
	devnull = fopen("/dev/null", "w");
	assert_non_null(devnull);
	assert_true(catalog_export(cat, devnull, err, sizeof err) >= 4);
	fclose(devnull);
	assert_true(catalog_readers_open(cat) <= 2);
	assert_true(fds_on(f->path) <= 3);
	f->cat = cat;
}

/* A pooled connection sees commits made after it was opened, and one put back
 * inside a transaction is rolled back rather than left on an old snapshot. */
static void test_reader_pool_snapshot(void **state)
{
	struct fx *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int n = -1;

	put(f->cat, "pg", 0, "{\"id\":\"dataset:pg:one\"}");
	db = catalog_reader_get(f->cat);
	assert_non_null(db);
	assert_int_equal(sqlite3_exec(db, "BEGIN; SELECT count(*) FROM entities", NULL, NULL, NULL),
			 SQLITE_OK);
	catalog_reader_put(f->cat, db);
	put(f->cat, "pg", 0, "{\"id\":\"dataset:pg:two\"}");
	db = catalog_reader_get(f->cat);
	assert_non_null(db);
	assert_true(sqlite3_get_autocommit(db) != 0);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM entities", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	catalog_reader_put(f->cat, db);
	assert_int_equal(n, 2);
	assert_int_equal(catalog_readers_open(f->cat), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_parse),
		cmocka_unit_test(test_time_and_names),
		cmocka_unit_test_setup_teardown(test_upsert_get, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_merge_rules, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_stale, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_abort_changes_nothing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edge_placeholders, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_history_diff, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_noop_reassert, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_documents, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_export_import_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_search_rows, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_bad_line, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_stream, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_many_lines, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_runs_tokens, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_counts_and_search_index, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_migrations, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_writer_lock, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_same_thread, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reader_pool_bounded, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reader_pool_snapshot, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reader_pool_all_reads, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
