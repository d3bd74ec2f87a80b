/* Unit tests for catalog/search.c: ranking, prefixes, filters, facets, paging, highlights. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "catalog/search.h"

#define PG "postgres://db.local:5432"
#define KAFKA "kafka://broker1:9092"
#define AIRFLOW "airflow://scheduler"

struct fixture {
	char dir[64];
	char path[128];
	struct catalog *cat;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_search.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/catalog.db", f->dir);
	f->cat = catalog_open(f->path, err, sizeof(err));
	if (!f->cat) {
		fprintf(stderr, "catalog_open: %s\n", err);
		nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	catalog_close(f->cat);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Commit the entity documents DOCS (stolen) as SOURCE in one batch. */
static void put_docs(struct catalog *cat, const char *source, int snapshot, json_t **docs,
		     size_t n)
{
	struct catalog_batch *b = catalog_batch_begin(cat, source, snapshot);
	char err[256] = "";

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(docs[i]);
		if (catalog_batch_entity(b, docs[i], err, sizeof(err)) != 0)
			fail_msg("catalog_batch_entity: %s", err);
		json_decref(docs[i]);
	}
	if (catalog_batch_commit(b, NULL, err, sizeof(err)) != 0)
		fail_msg("catalog_batch_commit: %s", err);
}

static json_t *ent(const char *kind, const char *ns, const char *name, const char *desc)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "kind", kind, "namespace", ns, "name", name,
			 "description", desc ? desc : "");
}

static void put1(struct catalog *cat, json_t *doc)
{
	put_docs(cat, "test", 0, &doc, 1);
}

/* Run a search; the result must succeed. */
static json_t *run(struct catalog *cat, const struct search_query *q)
{
	json_t *out = NULL;
	char err[256] = "";
	int rc = search_run(cat, q, &out, err, sizeof(err));

	if (rc != 0)
		fail_msg("search_run('%s'): %d %s", q->q ? q->q : "", rc, err);
	assert_non_null(out);
	return out;
}

static json_t *search_text(struct catalog *cat, const char *text)
{
	struct search_query q = { .q = text, .stale = -1 };

	return run(cat, &q);
}

static const char *hit_id(json_t *res, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(res, "hits"), i),
						 "id"));
}

static size_t n_hits(json_t *res)
{
	return json_array_size(json_object_get(res, "hits"));
}

static long long total(json_t *res)
{
	return json_integer_value(json_object_get(res, "total"));
}

/* The position of ID among the hits, or -1. */
static int hit_pos(json_t *res, const char *id)
{
	for (size_t i = 0; i < n_hits(res); i++)
		if (strcmp(hit_id(res, i), id) == 0)
			return (int)i;
	return -1;
}

static long long facet(json_t *res, const char *name, const char *value)
{
	json_t *v = json_object_get(json_object_get(json_object_get(res, "facets"), name), value);

	return v ? json_integer_value(v) : 0;
}

/* --- search_fts_expr ---------------------------------------------------------------- */

static void expr_is(const char *text, const char *want)
{
	char out[256];

	assert_int_equal(search_fts_expr(text, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_fts_expr(void **state)
{
	char small[8];

	(void)state;
	expr_is("orde", "\"orde\"*");
	expr_is("shop.public.orders", "\"shop\" \"public\" \"orders\"*");
	expr_is("  customer_orders  ", "\"customer_orders\"*");
	/* A one-character last term is matched whole, not as a prefix. */
	expr_is("a\"b AND (c", "\"a\" \"b\" \"AND\" \"c\"");
	expr_is("models/churn/9", "\"models\" \"churn\" \"9\"");
	expr_is("x", "\"x\"");
	expr_is("ab", "\"ab\"*");
	/* Characters, not bytes: a two-byte letter alone is one character. */
	expr_is("\xc3\xa9", "\"\xc3\xa9\"");
	expr_is("\xc3\xa9t", "\"\xc3\xa9t\"*");
	expr_is("NEAR(x y)", "\"NEAR\" \"x\" \"y\"");
	expr_is("NEAR(x yz)", "\"NEAR\" \"x\" \"yz\"*");
	expr_is("caf\xc3\xa9 cr\xc3\xa8me", "\"caf\xc3\xa9\" \"cr\xc3\xa8me\"*");
	expr_is("", "");
	expr_is("*** () \"\" :^-", "");
	expr_is(NULL, "");
	/* "abcdef" needs 10 bytes with its quotes, star and NUL. */
	assert_int_equal(search_fts_expr("abcdef", small, sizeof(small)), CATALOG_EINVAL);
	assert_int_equal(search_fts_expr("abcd", small, sizeof(small)), 0);
	assert_string_equal(small, "\"abcd\"*");
}

/* --- ranking ------------------------------------------------------------------------------ */

static void load_orders(struct catalog *cat)
{
	json_t *docs[6];
	json_t *noisy = ent("dataset", PG, "shop.public.order_notes",
			    "orders orders orders orders orders orders orders orders");

	json_object_set_new(noisy, "fields",
			    json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s}]", "name", "orders",
				      "description", "orders orders", "name", "orders_id",
				      "description", "orders of orders", "name", "orders_total"));
	docs[0] = ent("dataset", PG, "shop.public.orders_archive", "old orders");
	docs[1] = ent("dataset", PG, "shop.public.customer_orders", "orders per customer");
	docs[2] = noisy;
	docs[3] = ent("dataset", PG, "shop.public.orders", "one row per order");
	docs[4] = ent("dataset", PG, "shop.public.customers", "people who buy things");
	docs[5] = ent("job", AIRFLOW, "etl.load_orders", "loads orders into the warehouse");
	put_docs(cat, "postgres", 0, docs, 6);
}

static void test_exact_name_first(void **state)
{
	struct fixture *f = *state;
	json_t *res;

	load_orders(f->cat);
	res = search_text(f->cat, "orders");
	assert_true(n_hits(res) >= 5);
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":shop.public.orders");
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(res, "hits"), 0),
						 "exact")));
	/* Only the one exact match is marked exact. */
	assert_false(json_is_true(json_object_get(json_array_get(json_object_get(res, "hits"), 1),
						  "exact")));
	/* The noisy description does not buy a place above the exact name. */
	assert_true(hit_pos(res, "dataset:" PG ":shop.public.order_notes") > 0);
	assert_int_equal(hit_pos(res, "dataset:" PG ":shop.public.customers"), -1);
	json_decref(res);

	res = search_text(f->cat, "shop.public.orders");
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":shop.public.orders");
	json_decref(res);

	res = search_text(f->cat, "SHOP.PUBLIC.ORDERS");
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":shop.public.orders");
	json_decref(res);

	/* The full id is an exact match too. */
	res = search_text(f->cat, "dataset:" PG ":shop.public.orders");
	assert_true(n_hits(res) >= 1);
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":shop.public.orders");
	json_decref(res);
}

static void test_name_ranks_above_mentions(void **state)
{
	struct fixture *f = *state;
	json_t *docs[22];
	char name[64];
	json_t *res;

	/* Enough unrelated entities that "payments" is a rare word (bm25 idf > 0). */
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "filler.table_%02d", i);
		docs[i] = ent("dataset", PG, name, "nothing of interest here");
	}
	docs[20] = ent("dataset", PG, "ledger.other", "payments are recorded here");
	docs[21] = ent("dataset", PG, "ledger.payments_v2", "the second version");
	put_docs(f->cat, "postgres", 0, docs, 22);

	res = search_text(f->cat, "payments");
	assert_int_equal(total(res), 2);
	/* Neither is exact; the name match outranks the description match. */
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":ledger.payments_v2");
	assert_string_equal(hit_id(res, 1), "dataset:" PG ":ledger.other");
	assert_false(json_is_true(json_object_get(json_array_get(json_object_get(res, "hits"), 0),
						  "exact")));
	assert_true(json_real_value(json_object_get(json_array_get(json_object_get(res, "hits"), 0),
						    "score")) >
		    json_real_value(json_object_get(json_array_get(json_object_get(res, "hits"), 1),
						    "score")));
	json_decref(res);
}

static void test_rare_term_weighs_more(void **state)
{
	struct fixture *f = *state;
	json_t *docs[32];
	char name[64];
	json_t *res;

	/* "common" is in thirty names, "rare" in two rows. */
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "common.t%02d", i);
		docs[i] = ent("dataset", PG, name, "");
	}
	docs[30] = ent("dataset", PG, "rare.a", "common");
	/* Newer, so it would come first on a tie. */
	docs[31] = ent("dataset", PG, "common.b", "rare");
	put_docs(f->cat, "postgres", 0, docs, 32);

	/* Both rows hold both terms, one in the name and one in the description:
	 * the one whose name holds the rare term ranks first, as with bm25. */
	res = search_text(f->cat, "common rare");
	assert_int_equal(total(res), 2);
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":rare.a");
	assert_string_equal(hit_id(res, 1), "dataset:" PG ":common.b");
	json_decref(res);
	res = search_text(f->cat, "rare common");
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":rare.a");
	json_decref(res);
}

static void test_prefix(void **state)
{
	struct fixture *f = *state;
	json_t *res;

	load_orders(f->cat);
	res = search_text(f->cat, "ord");
	assert_true(hit_pos(res, "dataset:" PG ":shop.public.orders") >= 0);
	assert_true(hit_pos(res, "dataset:" PG ":shop.public.orders_archive") >= 0);
	assert_int_equal(hit_pos(res, "dataset:" PG ":shop.public.customers"), -1);
	json_decref(res);

	res = search_text(f->cat, "shop ord");
	assert_true(hit_pos(res, "dataset:" PG ":shop.public.orders") >= 0);
	/* Every term must match: the job has no "shop". */
	assert_int_equal(hit_pos(res, "job:" AIRFLOW ":etl.load_orders"), -1);
	json_decref(res);

	res = search_text(f->cat, "zzzz");
	assert_int_equal(total(res), 0);
	assert_int_equal(n_hits(res), 0);
	json_decref(res);
}

static void test_fields_and_description_searchable(void **state)
{
	struct fixture *f = *state;
	json_t *doc = ent("dataset", PG, "crm.public.accounts", "refunds are processed nightly");
	json_t *res;

	json_object_set_new(doc, "fields",
			    json_pack("[{s:s, s:s}, {s:s, s:s, s:s}]", "name", "id", "type",
				      "integer", "name", "billing_postcode", "type", "text",
				      "description", "where invoices go"));
	put1(f->cat, doc);
	put1(f->cat, ent("dataset", PG, "crm.public.contacts", "people"));

	res = search_text(f->cat, "billing_postcode");
	assert_int_equal(total(res), 1);
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":crm.public.accounts");
	json_decref(res);

	res = search_text(f->cat, "invoices");
	assert_int_equal(total(res), 1);
	json_decref(res);

	res = search_text(f->cat, "nightly");
	assert_int_equal(total(res), 1);
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":crm.public.accounts");
	json_decref(res);
}

/* --- facets and filters ---------------------------------------------------------------- */

/* Six "sales" entities: 3 postgres tables, 2 kafka topics, 1 airflow job; tags,
 * owners, and one stale table (dropped from the postgres snapshot). */
static void load_sales(struct catalog *cat)
{
	json_t *docs[4];

	docs[0] = json_pack("{s:s, s:s, s:s, s:s, s:[s,s], s:[s]}", "kind", "dataset",
			    "namespace", PG, "name", "dw.public.sales", "description",
			    "all sales", "tags", "pii", "gold", "owners", "alice");
	docs[1] = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[s]}", "kind", "dataset",
			    "namespace", PG, "name", "dw.public.sales_daily", "description",
			    "sales per day", "tags", "gold", "owners", "bob");
	docs[2] = json_pack("{s:s, s:s, s:s, s:s}", "kind", "dataset", "namespace", PG, "name",
			    "dw.public.sales_old", "description", "legacy sales");
	docs[3] = json_pack("{s:s, s:s, s:s, s:s}", "kind", "dataset", "namespace", PG, "name",
			    "dw.public.unrelated", "description", "nothing to see");
	put_docs(cat, "postgres", 1, docs, 4);
	/* The next snapshot no longer has sales_old: it goes stale. */
	docs[0] = json_pack("{s:s, s:s, s:s, s:s, s:[s,s], s:[s]}", "kind", "dataset",
			    "namespace", PG, "name", "dw.public.sales", "description",
			    "all sales", "tags", "pii", "gold", "owners", "alice");
	docs[1] = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[s]}", "kind", "dataset",
			    "namespace", PG, "name", "dw.public.sales_daily", "description",
			    "sales per day", "tags", "gold", "owners", "bob");
	docs[2] = json_pack("{s:s, s:s, s:s, s:s}", "kind", "dataset", "namespace", PG, "name",
			    "dw.public.unrelated", "description", "nothing to see");
	put_docs(cat, "postgres", 1, docs, 3);

	docs[0] = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[s]}", "kind", "dataset",
			    "namespace", KAFKA, "name", "sales", "description", "sales events",
			    "tags", "pii", "owners", "alice");
	docs[1] = json_pack("{s:s, s:s, s:s, s:s}", "kind", "dataset", "namespace", KAFKA,
			    "name", "sales_dlq", "description", "failed sales events");
	docs[2] = json_pack("{s:s, s:s, s:s, s:s, s:[s]}", "kind", "job", "namespace", AIRFLOW,
			    "name", "etl.load_sales", "description", "loads sales", "owners",
			    "bob");
	put_docs(cat, "kafka", 0, docs, 3);
}

static void test_facets(void **state)
{
	struct fixture *f = *state;
	json_t *res;

	load_sales(f->cat);
	res = search_text(f->cat, "sales");
	assert_int_equal(total(res), 6);
	assert_false(json_is_true(json_object_get(res, "total_capped")));
	assert_false(json_is_true(json_object_get(res, "facets_capped")));
	assert_int_equal(facet(res, "kind", "dataset"), 5);
	assert_int_equal(facet(res, "kind", "job"), 1);
	assert_int_equal(facet(res, "platform", "postgres"), 3);
	assert_int_equal(facet(res, "platform", "kafka"), 2);
	assert_int_equal(facet(res, "platform", "airflow"), 1);
	assert_int_equal(facet(res, "tag", "pii"), 2);
	assert_int_equal(facet(res, "tag", "gold"), 2);
	assert_int_equal(facet(res, "owner", "alice"), 2);
	assert_int_equal(facet(res, "owner", "bob"), 2);
	assert_int_equal(facet(res, "stale", "true"), 1);
	assert_int_equal(facet(res, "stale", "false"), 5);
	json_decref(res);
}

static void assert_filtered(struct catalog *cat, struct search_query *q, long long want,
			    const char *must)
{
	json_t *res = run(cat, q);

	assert_int_equal(total(res), want);
	assert_int_equal(n_hits(res), want);
	if (must)
		assert_true(hit_pos(res, must) >= 0);
	json_decref(res);
}

static void test_filters(void **state)
{
	struct fixture *f = *state;
	struct search_query q = { .q = "sales", .stale = -1 };
	json_t *res;

	load_sales(f->cat);
	q.kind = "job";
	assert_filtered(f->cat, &q, 1, "job:" AIRFLOW ":etl.load_sales");
	q.kind = "dataset";
	q.platform = "kafka";
	assert_filtered(f->cat, &q, 2, "dataset:" KAFKA ":sales_dlq");
	q.kind = q.platform = NULL;
	q.tag = "pii";
	assert_filtered(f->cat, &q, 2, "dataset:" KAFKA ":sales");
	q.tag = "gold";
	q.owner = "bob";
	assert_filtered(f->cat, &q, 1, "dataset:" PG ":dw.public.sales_daily");
	q.tag = q.owner = NULL;
	q.stale = 1;
	assert_filtered(f->cat, &q, 1, "dataset:" PG ":dw.public.sales_old");
	q.stale = 0;
	assert_filtered(f->cat, &q, 5, "dataset:" PG ":dw.public.sales");
	q.stale = -1;
	q.kind = "model";
	assert_filtered(f->cat, &q, 0, NULL);

	/* Filters apply to exact matches too: "sales" is exact for the topic. */
	q.kind = NULL;
	q.platform = "postgres";
	res = run(f->cat, &q);
	assert_int_equal(hit_pos(res, "dataset:" KAFKA ":sales"), -1);
	/* dw.public.sales is exact by its last segment, and first. */
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":dw.public.sales");
	json_decref(res);

	/* Facets count the filtered hits. */
	q.platform = NULL;
	q.owner = "alice";
	res = run(f->cat, &q);
	assert_int_equal(facet(res, "platform", "kafka"), 1);
	assert_int_equal(facet(res, "platform", "postgres"), 1);
	assert_int_equal(facet(res, "platform", "airflow"), 0);
	json_decref(res);
}

/* --- paging -------------------------------------------------------------------------------- */

static void test_paging(void **state)
{
	struct fixture *f = *state;
	json_t *docs[25];
	char name[64], desc[64];
	char *seen[25];
	size_t n_seen = 0;

	for (int i = 0; i < 25; i++) {
		snprintf(name, sizeof(name), "warehouse.t%02d", i);
		/* Differing lengths make differing scores; some tie. */
		snprintf(desc, sizeof(desc), "inventory%s", i % 3 == 0 ? "" : " counts and more");
		docs[i] = ent("dataset", PG, name, desc);
	}
	put_docs(f->cat, "postgres", 0, docs, 25);
	for (int off = 0; off < 30; off += 10) {
		struct search_query q = { .q = "inventory", .stale = -1, .limit = 10,
					  .offset = off };
		json_t *res = run(f->cat, &q), *again = run(f->cat, &q);

		assert_int_equal(total(res), 25);
		assert_int_equal(n_hits(res), off < 20 ? 10 : 5);
		assert_int_equal(json_integer_value(json_object_get(res, "offset")), off);
		assert_int_equal(json_integer_value(json_object_get(res, "limit")), 10);
		for (size_t i = 0; i < n_hits(res); i++) {
			/* The same query gives the same page. */
			assert_string_equal(hit_id(res, i), hit_id(again, i));
			for (size_t k = 0; k < n_seen; k++)
				if (strcmp(seen[k], hit_id(res, i)) == 0)
					fail_msg("%s on two pages", seen[k]);
			seen[n_seen++] = strdup(hit_id(res, i));
		}
		json_decref(res);
		json_decref(again);
	}
	assert_int_equal(n_seen, 25);
	for (size_t k = 0; k < n_seen; k++)
		free(seen[k]);

	/* Past the end: no hits, the total still right. */
	{
		struct search_query q = { .q = "inventory", .stale = -1, .offset = 100 };
		json_t *res = run(f->cat, &q);

		assert_int_equal(total(res), 25);
		assert_int_equal(n_hits(res), 0);
		assert_int_equal(json_integer_value(json_object_get(res, "limit")),
				 SEARCH_LIMIT_DEFAULT);
		json_decref(res);
	}
}

/* A doc named NAME with TAGS (comma-separated) and OWNER, or none. */
static json_t *tagged(const char *name, const char *desc, const char *tag1, const char *tag2,
		      const char *owner)
{
	json_t *doc = ent("dataset", PG, name, desc);
	json_t *tags = json_array(), *owners = json_array();

	if (tag1)
		json_array_append_new(tags, json_string(tag1));
	if (tag2)
		json_array_append_new(tags, json_string(tag2));
	if (owner)
		json_array_append_new(owners, json_string(owner));
	json_object_set_new(doc, "tags", tags);
	json_object_set_new(doc, "owners", owners);
	return doc;
}

/*
 * Tag and owner facets count each hit once per value, whether the hits lie
 * close together (read as one eid range) or far apart (looked up), and a value
 * two sources give the same entity counts once.
 */
static void test_facets_dense_and_sparse(void **state)
{
	struct fixture *f = *state;
	json_t *docs[3], *res;
	char name[64];

	/* Dense: two matching entities with one that does not match between them
	 * (its tag and owner are in the range read, and must not count). */
	docs[0] = tagged("dw.public.ledger_a", "needle", "pii", "gold", "alice");
	docs[1] = tagged("dw.public.unrelated", "hay", "pii", NULL, "alice");
	docs[2] = tagged("dw.public.ledger_b", "needle", "pii", NULL, "bob");
	put_docs(f->cat, "postgres", 0, docs, 3);
	/* Another source tags ledger_a pii and gold as well, and owns it too. */
	docs[0] = tagged("dw.public.ledger_a", "needle", "pii", "gold", "alice");
	put_docs(f->cat, "manual", 0, docs, 1);
	res = search_text(f->cat, "needle");
	assert_int_equal(total(res), 2);
	assert_int_equal(facet(res, "tag", "pii"), 2);
	assert_int_equal(facet(res, "tag", "gold"), 1);
	assert_int_equal(facet(res, "owner", "alice"), 1);
	assert_int_equal(facet(res, "owner", "bob"), 1);
	/* Most frequent first. */
	assert_string_equal(json_object_iter_key(json_object_iter(
				    json_object_get(json_object_get(res, "facets"), "tag"))),
			    "pii");
	json_decref(res);

	/* Sparse: 60 other entities between the first matches and a new one. */
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "dw.public.filler_%02d", i);
		put1(f->cat, tagged(name, "hay", "pii", NULL, "carol"));
	}
	docs[0] = tagged("dw.public.ledger_c", "needle", "gold", NULL, "bob");
	put_docs(f->cat, "postgres", 0, docs, 1);
	res = search_text(f->cat, "needle");
	assert_int_equal(total(res), 3);
	assert_int_equal(facet(res, "tag", "pii"), 2);
	assert_int_equal(facet(res, "tag", "gold"), 2);
	assert_int_equal(facet(res, "owner", "alice"), 1);
	assert_int_equal(facet(res, "owner", "bob"), 2);
	assert_int_equal(facet(res, "owner", "carol"), 0);
	json_decref(res);
}

/* Prefixes of every length as typed, served by the prefix indexes (2-6
 * characters) or, longer, by the whole word when it fills the scan. */
static void test_prefix_lengths(void **state)
{
	struct fixture *f = *state;
	static const char *const typed[] = { "wa", "war", "ware", "wareh", "wareho", "warehou",
					     "warehous", "warehouse" };
	json_t *res;

	put1(f->cat, ent("dataset", PG, "inventory.raw.warehouses", "stock per warehouse"));
	put1(f->cat, ent("dataset", PG, "inventory.raw.wares", "goods"));
	put1(f->cat, ent("dataset", PG, "inventory.raw.bins", "shelves"));
	for (size_t i = 0; i < sizeof(typed) / sizeof(typed[0]); i++) {
		res = search_text(f->cat, typed[i]);
		assert_true(hit_pos(res, "dataset:" PG ":inventory.raw.warehouses") >= 0);
		assert_int_equal(hit_pos(res, "dataset:" PG ":inventory.raw.bins"), -1);
		/* "wares" shares the first four characters only. */
		if (strlen(typed[i]) <= 4)
			assert_true(hit_pos(res, "dataset:" PG ":inventory.raw.wares") >= 0);
		else
			assert_int_equal(hit_pos(res, "dataset:" PG ":inventory.raw.wares"), -1);
		json_decref(res);
	}
	/* A long prefix is still a prefix when the whole word does not fill the scan. */
	res = search_text(f->cat, "inventory warehous");
	assert_int_equal(total(res), 1);
	json_decref(res);
}

/* A catalog of schema 3 (prefix indexes of 2 and 3 characters only) is rebuilt
 * once on open: same rows, searchable by every prefix, and schema 4 after. */
static void test_migrates_fts_from_schema_3(void **state)
{
	struct fixture *f = *state;
	char err[256] = "", *sql = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	json_t *res;

	put1(f->cat, ent("dataset", PG, "inventory.raw.warehouses", "stock per warehouse"));
	put1(f->cat, ent("dataset", PG, "inventory.raw.bins", "shelves"));
	catalog_close(f->cat);
	f->cat = NULL;

	/* Back to schema 3's table, with the same text. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "BEGIN;"
			     "CREATE TEMP TABLE c AS SELECT rowid AS r, * FROM entity_fts;"
			     "DROP TABLE entity_fts;"
			     "CREATE VIRTUAL TABLE entity_fts USING fts5(name, display, namespace,"
			     " description, fields, tags, owners,"
			     " tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');"
			     "INSERT INTO entity_fts(rowid, name, display, namespace, description,"
			     " fields, tags, owners) SELECT r, name, display, namespace, description,"
			     " fields, tags, owners FROM temp.c;"
			     "PRAGMA user_version = 3; COMMIT;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	db = NULL;

	f->cat = catalog_open(f->path, err, sizeof(err));
	if (!f->cat)
		fail_msg("catalog_open: %s", err);
	res = search_text(f->cat, "wareh");
	assert_int_equal(total(res), 1);
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":inventory.raw.warehouses");
	json_decref(res);
	res = search_text(f->cat, "shelves");
	assert_int_equal(total(res), 1);
	json_decref(res);

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT (SELECT sql FROM sqlite_master WHERE name ="
					    " 'entity_fts'), (SELECT user_version FROM"
					    " pragma_user_version), (SELECT count(*) FROM"
					    " entity_fts)",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	sql = strdup((const char *)sqlite3_column_text(st, 0));
	assert_int_equal(sqlite3_column_int(st, 1), CATALOG_SCHEMA_VERSION);
	assert_int_equal(sqlite3_column_int(st, 2), 2);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_non_null(strstr(sql, "prefix = '2 3 4 5 6'"));
	free(sql);
}

/* --- bounds ------------------------------------------------------------------------------------- */

#define BULK (SEARCH_FACET_SCAN + 50)

static void test_capped(void **state)
{
	struct fixture *f = *state;
	struct catalog_batch *b = catalog_batch_begin(f->cat, "bulk", 0);
	struct search_query q = { .q = "common", .stale = -1 };
	char name[64], err[256] = "", newest[128];
	json_t *res;

	assert_non_null(b);
	for (int i = 0; i < BULK; i++) {
		json_t *doc;

		snprintf(name, sizeof(name), "lake.bulk_%05d", i);
		doc = ent("dataset", PG, name, "a common table");
		if (catalog_batch_entity(b, doc, err, sizeof(err)) != 0)
			fail_msg("catalog_batch_entity: %s", err);
		json_decref(doc);
	}
	if (catalog_batch_commit(b, NULL, err, sizeof(err)) != 0)
		fail_msg("catalog_batch_commit: %s", err);
	snprintf(newest, sizeof(newest), "dataset:" PG ":lake.bulk_%05d", BULK - 1);

	res = run(f->cat, &q);
	assert_int_equal(total(res), SEARCH_FACET_SCAN);
	assert_true(json_is_true(json_object_get(res, "total_capped")));
	assert_true(json_is_true(json_object_get(res, "facets_capped")));
	assert_int_equal(facet(res, "kind", "dataset"), SEARCH_FACET_SCAN);
	assert_int_equal(n_hits(res), SEARCH_LIMIT_DEFAULT);
	/* Equal scores: the newest entity comes first, so the scan kept the newest. */
	assert_string_equal(hit_id(res, 0), newest);
	json_decref(res);

	q.q = NULL;
	res = run(f->cat, &q);
	assert_int_equal(total(res), SEARCH_FACET_SCAN);
	assert_true(json_is_true(json_object_get(res, "total_capped")));
	assert_string_equal(hit_id(res, 0), newest);
	json_decref(res);

	/* A selective query in the same catalog is exact and uncapped. */
	q.q = "bulk_00042";
	res = run(f->cat, &q);
	assert_int_equal(total(res), 1);
	assert_false(json_is_true(json_object_get(res, "total_capped")));
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(res, "hits"), 0),
						 "exact")));
	json_decref(res);
}

/* --- highlights ------------------------------------------------------------------------------ */

static void test_highlights(void **state)
{
	struct fixture *f = *state;
	json_t *res, *hl;

	load_orders(f->cat);
	put1(f->cat, ent("dataset", PG, "crm.public.accounts",
			 "a <b>table</b> of refunds, processed nightly"));

	res = search_text(f->cat, "archive");
	hl = json_object_get(json_array_get(json_object_get(res, "hits"), 0), "highlights");
	assert_string_equal(json_string_value(json_object_get(hl, "name")),
			    "shop.public.orders_<mark>archive</mark>");
	/* "old orders" does not say archive: no description highlight. */
	assert_null(json_object_get(hl, "description"));
	json_decref(res);

	/* The exact hit marks its matching segment. */
	res = search_text(f->cat, "orders");
	hl = json_object_get(json_array_get(json_object_get(res, "hits"), 0), "highlights");
	assert_string_equal(json_string_value(json_object_get(hl, "name")),
			    "shop.public.<mark>orders</mark>");
	json_decref(res);

	res = search_text(f->cat, "shop.public.orders");
	hl = json_object_get(json_array_get(json_object_get(res, "hits"), 0), "highlights");
	assert_string_equal(json_string_value(json_object_get(hl, "name")),
			    "<mark>shop.public.orders</mark>");
	json_decref(res);

	/* The description snippet marks the words; markup in the text is not escaped. */
	res = search_text(f->cat, "refunds");
	hl = json_object_get(json_array_get(json_object_get(res, "hits"), 0), "highlights");
	assert_non_null(strstr(json_string_value(json_object_get(hl, "description")),
			       "<mark>refunds</mark>"));
	assert_non_null(strstr(json_string_value(json_object_get(hl, "description")),
			       "<b>table</b>"));
	json_decref(res);

	/* A prefix is marked on the whole token. */
	res = search_text(f->cat, "nigh");
	hl = json_object_get(json_array_get(json_object_get(res, "hits"), 0), "highlights");
	assert_non_null(strstr(json_string_value(json_object_get(hl, "description")),
			       "<mark>nightly</mark>"));
	json_decref(res);
}

/*
 * The highlights are computed in C: for every hit they must be what FTS5's
 * highlight() (name) and snippet() (description) give for the same MATCH
 * expression, across prefixes, multi-token terms, repeats, diacritics and
 * long descriptions whose best window is not their start.
 */
static void test_highlights_match_fts5(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {
		"shop.public.orders", "shop.public.order_items", "crm.orders_daily",
		"Café.ventes_été", "payments.refund_issued", "gdpr.deletion_requests",
		"warehouse.stock.warehouses_2024", "a.b.c_d_e",
	};
	static const char *const descs[] = {
		"",
		"Orders placed in the shop. One row per order: refunds are tracked elsewhere.",
		"Daily snapshot of orders. The snapshot is taken at midnight: late orders move "
		"to the next day. Orders older than a year are archived by the nightly job "
		"and the archive keeps every shop order, refund and payment for audit.",
		"Ventes de l'été au café: déjà agrégées par jour. Résumé des ventes.",
		"refund refund refund issued after the payment was refunded; refund_issued is "
		"the event, refunds the table",
		"GDPR deletion requests. Each deletion request is honoured within 30 days: "
		"see the deletion runbook",
		"stock per warehouse, warehouses listed by region and warehouse size; the "
		"warehouse with the most stock is first",
		"c d e",
	};
	static const char *const queries[] = {
		"orders", "order", "shop orders", "snapshot", "snap", "nightly archive",
		"cafe", "ete", "ventes ete", "refund", "refund_issued", "refunds refund",
		"gdpr deletion", "deletion", "warehouse", "wareh", "warehouses_2024", "c_d",
		"orders orders", "the", "e",
	};
	char path[160];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int checked = 0, described = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put1(f->cat, ent("dataset", PG, names[i], descs[i]));
	snprintf(path, sizeof(path), "%s", f->path);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT highlight(entity_fts, 0, '<mark>', '</mark>'),"
					    " snippet(entity_fts, 3, '<mark>', '</mark>',"
					    " '\xe2\x80\xa6', 12)"
					    " FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid"
					    " WHERE entity_fts MATCH ?1 AND e.id = ?2",
					    -1, &st, NULL),
			 SQLITE_OK);
	for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
		char expr[256];
		json_t *res = search_text(f->cat, queries[q]);
		json_t *hits = json_object_get(res, "hits");

		assert_int_equal(search_fts_expr(queries[q], expr, sizeof(expr)), 0);
		for (size_t i = 0; i < json_array_size(hits); i++) {
			json_t *hit = json_array_get(hits, i);
			json_t *hl = json_object_get(hit, "highlights");
			const char *desc = json_string_value(json_object_get(hl, "description"));

			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, expr, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 2, json_string_value(json_object_get(hit, "id")), -1,
					  SQLITE_TRANSIENT);
			assert_int_equal(sqlite3_step(st), SQLITE_ROW);
			if (!json_is_true(json_object_get(hit, "exact")))
				assert_string_equal(json_string_value(json_object_get(hl, "name")),
						    (const char *)sqlite3_column_text(st, 0));
			if (strstr((const char *)sqlite3_column_text(st, 1), "<mark>")) {
				assert_non_null(desc);
				assert_string_equal(desc, (const char *)sqlite3_column_text(st, 1));
				described++;
			} else {
				assert_null(desc);
			}
			checked++;
		}
		json_decref(res);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* The comparisons above ran, over names and descriptions both. */
	assert_true(checked >= 30);
	assert_true(described >= 15);
}

/*
 * search_run_text() writes the JSON itself: it must be the text jansson's
 * json_dumps(JSON_COMPACT) gives for the same answer, with quotes,
 * backslashes, control characters and non-ASCII text in every field.
 */
static void test_text_is_jansson_compact(void **state)
{
	struct fixture *f = *state;
	static const char *const queries[] = { "quote", "tab", "caf", "", "ünïcode", "nothing" };

	put1(f->cat, ent("dataset", PG, "odd.\"quote\"\\back", "a \"quote\" and a \\ back\tslash"));
	put1(f->cat, ent("dataset", PG, "odd.tab_name", "tab\there, newline\nthere, bell\x07, "
			 "del\x7f, quote \" and caf\xc3\xa9"));
	put1(f->cat, ent("dataset", KAFKA, "\xc3\xbcn\xc3\xaf" "code.topic",
			 "\xe2\x80\xa8 line separator, \xf0\x9f\x98\x80 emoji: \xc3\xbcn\xc3\xaf" "code"));
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct search_query q = { .q = queries[i], .stale = -1 };
		char err[256] = "", *text = NULL, *dumped;
		size_t len = 0;
		json_t *doc;

		assert_int_equal(search_run_text(f->cat, &q, &text, &len, err, sizeof(err)), 0);
		assert_int_equal(strlen(text), len);
		doc = json_loadb(text, len, 0, NULL);
		assert_non_null(doc);
		dumped = json_dumps(doc, JSON_COMPACT);
		assert_non_null(dumped);
		assert_string_equal(text, dumped);
		if (strcmp(queries[i], "nothing") != 0)
			assert_true(json_array_size(json_object_get(doc, "hits")) > 0);
		free(dumped);
		free(text);
		json_decref(doc);
	}
}

/* --- hostile text ----------------------------------------------------------------------------- */

static void test_fts_syntax_is_text(void **state)
{
	struct fixture *f = *state;
	static const char *const hostile[] = {
		"\"",         "\"\"",        "orders AND (", "*",          "NEAR(orders",
		"NEAR(orders customers, 2)", "orders)",      "^orders",   "-orders",
		"name:orders", "{name}: x",  "orders OR",    "ord*er*",   "'; DROP TABLE entities; --",
		"\xe2\x80\x94", "orders \xe2\x80\x94 archive", ":", "+",
	};
	json_t *res;

	load_orders(f->cat);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		struct search_query q = { .q = hostile[i], .stale = -1 };
		json_t *out = NULL;
		char err[256] = "";
		int rc = search_run(f->cat, &q, &out, err, sizeof(err));

		if (rc != 0)
			fail_msg("query '%s' failed: %d %s", hostile[i], rc, err);
		json_decref(out);
	}

	/* OR is a word, not an operator: nothing has the words "or" and "zzzz". */
	res = search_text(f->cat, "orders OR zzzz");
	assert_int_equal(total(res), 0);
	json_decref(res);

	/* A column filter is words too: no entity says "description". */
	res = search_text(f->cat, "description:orders");
	assert_int_equal(total(res), 0);
	json_decref(res);

	/* NOT does not exclude. */
	res = search_text(f->cat, "orders NOT archive");
	assert_int_equal(total(res), 0);
	json_decref(res);

	/* Punctuation between words: the words still match, and the catalog is intact. */
	res = search_text(f->cat, "orders \xe2\x80\x94 archive");
	assert_int_equal(total(res), 1);
	json_decref(res);
	res = search_text(f->cat, "");
	assert_int_equal(total(res), 6);
	json_decref(res);
}

/* --- validation ---------------------------------------------------------------------------------- */

static void test_validation(void **state)
{
	struct fixture *f = *state;
	struct search_query q = { .q = "x", .stale = -1 };
	json_t *out = NULL;
	char err[256] = "", longq[SEARCH_QUERY_MAX + 2];

	q.limit = SEARCH_LIMIT_MAX + 1;
	assert_int_equal(search_run(f->cat, &q, &out, err, sizeof(err)), CATALOG_EINVAL);
	assert_null(out);
	assert_string_equal(err, "limit: must be 1..200");
	q.limit = -1;
	assert_int_equal(search_run(f->cat, &q, &out, err, sizeof(err)), CATALOG_EINVAL);
	q.limit = SEARCH_LIMIT_MAX;
	assert_int_equal(search_run(f->cat, &q, &out, err, sizeof(err)), 0);
	json_decref(out);
	out = NULL;

	q.limit = 0;
	q.offset = -1;
	err[0] = '\0';
	assert_int_equal(search_run(f->cat, &q, &out, err, sizeof(err)), CATALOG_EINVAL);
	assert_non_null(strstr(err, "offset"));
	q.offset = 100001;
	assert_int_equal(search_run(f->cat, &q, &out, err, sizeof(err)), CATALOG_EINVAL);
	q.offset = 0;

	memset(longq, 'a', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	q.q = longq;
	err[0] = '\0';
	assert_int_equal(search_run(f->cat, &q, &out, err, sizeof(err)), CATALOG_EINVAL);
	assert_non_null(strstr(err, "q:"));
	longq[SEARCH_QUERY_MAX] = '\0';
	assert_int_equal(search_run(f->cat, &q, &out, err, sizeof(err)), 0);
	json_decref(out);
	out = NULL;

	q.q = "bad \xff utf8";
	assert_int_equal(search_run(f->cat, &q, &out, err, sizeof(err)), CATALOG_EINVAL);
	assert_null(out);
}

/* --- listing --------------------------------------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

static void test_empty_query_lists_newest_first(void **state)
{
	struct fixture *f = *state;
	struct search_query q = { .q = NULL, .stale = -1 };
	json_t *res;

	put1(f->cat, ent("dataset", PG, "a.first", "one"));
	sleep_ms(3);
	put1(f->cat, ent("dataset", PG, "a.second", "two"));
	sleep_ms(3);
	put1(f->cat, ent("job", AIRFLOW, "a.third", "three"));

	res = run(f->cat, &q);
	assert_int_equal(total(res), 3);
	assert_string_equal(hit_id(res, 0), "job:" AIRFLOW ":a.third");
	assert_string_equal(hit_id(res, 1), "dataset:" PG ":a.second");
	assert_string_equal(hit_id(res, 2), "dataset:" PG ":a.first");
	assert_int_equal(facet(res, "kind", "dataset"), 2);
	json_decref(res);

	/* Changing the oldest makes it the newest. */
	sleep_ms(3);
	put1(f->cat, ent("dataset", PG, "a.first", "one, rewritten"));
	q.q = "   ";
	res = run(f->cat, &q);
	assert_int_equal(total(res), 3);
	assert_string_equal(hit_id(res, 0), "dataset:" PG ":a.first");
	json_decref(res);

	/* Filters apply to the listing. */
	q.kind = "dataset";
	q.limit = 1;
	res = run(f->cat, &q);
	assert_int_equal(total(res), 2);
	assert_int_equal(n_hits(res), 1);
	json_decref(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fts_expr),
		cmocka_unit_test_setup_teardown(test_exact_name_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_ranks_above_mentions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_facets_dense_and_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_fts_from_schema_3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rare_term_weighs_more, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fields_and_description_searchable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_facets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_highlights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_highlights_match_fts5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_is_jansson_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fts_syntax_is_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_query_lists_newest_first, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
