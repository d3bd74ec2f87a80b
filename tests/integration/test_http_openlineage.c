/*
 * POST /api/v1/lineage with OpenLineage events shaped as real producers send
 * them (Airflow's provider, Spark, dbt-ol; tests/data/openlineage-http/), then
 * what a user sees: entities, fields from the schema facet, run states, and
 * lineage across producers.  Malformed events are refused whole.
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

#include "tests/lib/harness.h"

#define DATA "tests/data/openlineage-http/"

#define AF_JOB "job:default:etl_orders.build_customer_orders"
#define ORDERS "dataset:postgres://db.local:5432:shop.public.orders"
#define CUSTOMERS "dataset:postgres://db.local:5432:shop.public.customers"
#define CUST_ORDERS "dataset:postgres://db.local:5432:shop.analytics.customer_orders"
#define DBT_JOB "job:dbt-prod:shop.analytics.shop_analytics.revenue_by_customer"
#define DBT_PARENT "job:dbt-prod:dbt-run-shop_analytics"
#define REVENUE "dataset:postgres://db.local:5432:shop.analytics.revenue_by_customer"
#define SPARK_JOB \
	"job:default:orders_nightly.execute_insert_into_hadoop_fs_relation_command." \
	"warehouse_orders_by_day"
#define S3_IN "dataset:s3://raw-landing:orders/2024-05-13"
#define HDFS_IN "dataset:hdfs://namenode:8020:/warehouse/customers"
#define HDFS_OUT "dataset:hdfs://namenode:8020:/warehouse/orders_by_day"
#define REFUNDS "dataset:postgres://db.local:5432:shop.public.refunds"

static struct th_server srv;
static char tok_write[64], tok_read[64];

/* --- helpers ---------------------------------------------------------------------- */

static long post_raw(const char *body, const char *token, json_t **reply)
{
	struct th_resp r;
	int rc = th_req(&srv, "POST", "/api/v1/lineage", body, strlen(body), NULL, token, &r);
	assert_int_equal(rc, 0);
	if (reply)
		*reply = json_loadb(r.body, r.len, 0, NULL);
	if (r.status >= 500 || r.status == 0)
		fprintf(stderr, "POST /api/v1/lineage: %ld %.500s\n", r.status, r.body);
	long st = r.status;
	th_resp_free(&r);
	return st;
}

/* POST the event in tests/data/openlineage-http/NAME; asserts 201. */
static void post_file(const char *name)
{
	char path[256];
	json_t *reply = NULL;
	snprintf(path, sizeof(path), DATA "%s", name);
	char *body = th_read_file(path, NULL);
	if (!body)
		fprintf(stderr, "cannot read %s (tests run from the repository root)\n", path);
	assert_non_null(body);
	long st = post_raw(body, tok_write, &reply);
	if (st != 201)
		fprintf(stderr, "%s: status %ld\n", name, st);
	assert_int_equal(st, 201);
	assert_non_null(reply); /* a JSON body */
	json_decref(reply);
	free(body);
}

static json_t *get_json(const char *path, long want)
{
	long st = 0;
	json_t *doc = NULL;
	assert_int_equal(th_json(&srv, "GET", path, NULL, NULL, &st, &doc), 0);
	if (st != want)
		fprintf(stderr, "GET %s: status %ld, wanted %ld\n", path, st, want);
	assert_int_equal(st, want);
	assert_non_null(doc);
	return doc;
}

static json_t *entity(const char *id)
{
	char enc[2048], path[2200];
	th_urlencode(id, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/entities/%s", enc);
	return get_json(path, 200);
}

static void expect_absent(const char *id)
{
	char enc[2048], path[2200];
	th_urlencode(id, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/entities/%s", enc);
	json_decref(get_json(path, 404));
}

static json_t *lineage(const char *id, const char *extra)
{
	char enc[2048], path[2400];
	th_urlencode(id, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s%s", enc, extra);
	return get_json(path, 200);
}

static json_t *find_by(json_t *arr, const char *key, const char *val)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(json_object_get(v, key));
		if (s && strcmp(s, val) == 0)
			return v;
	}
	return NULL;
}

static int node_depth(json_t *g, const char *id)
{
	json_t *n = find_by(json_object_get(g, "nodes"), "id", id);
	return n ? (int)json_integer_value(json_object_get(n, "depth")) : -100;
}

static int has_edge(json_t *g, const char *src, const char *dst)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(g, "edges"), i, e) {
		const char *s = json_string_value(json_object_get(e, "src"));
		const char *d = json_string_value(json_object_get(e, "dst"));
		if (s && d && strcmp(s, src) == 0 && strcmp(d, dst) == 0)
			return 1;
	}
	return 0;
}

/* The type of field NAME of entity E, or NULL; asserts the field exists. */
static const char *field_type(json_t *e, const char *name)
{
	json_t *f = find_by(json_object_get(e, "fields"), "name", name);
	if (!f)
		fprintf(stderr, "%s has no field '%s'\n",
			json_string_value(json_object_get(e, "id")), name);
	assert_non_null(f);
	return json_string_value(json_object_get(f, "type"));
}

static const char *prop_str(json_t *e, const char *key)
{
	return json_string_value(json_object_get(json_object_get(e, "properties"), key));
}

static int array_has_string(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* Whether the JSON text of V mentions NEEDLE. */
static int mentions(json_t *v, const char *needle)
{
	char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
	int found = text && strstr(text, needle) != NULL;
	free(text);
	return found;
}

static int setup(void **state)
{
	(void)state;
	if (th_start(&srv, NULL, NULL) != 0)
		return -1;
	if (th_token(&srv, "write", tok_write) || th_token(&srv, "read", tok_read))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_stop(&srv);
	return 0;
}

/* --- Airflow -------------------------------------------------------------------------- */

static void test_airflow_start(void **state)
{
	(void)state;
	post_file("airflow_start.json");
	json_t *job = entity(AF_JOB);
	assert_string_equal(json_string_value(json_object_get(job, "kind")), "job");
	assert_string_equal(json_string_value(json_object_get(job, "namespace")), "default");
	assert_string_equal(json_string_value(json_object_get(job, "name")),
			    "etl_orders.build_customer_orders");
	assert_string_equal(prop_str(job, "last_run_state"), "START");
	assert_non_null(json_object_get(json_object_get(job, "properties"), "last_run_at"));
	/* documentation facet -> description, ownership facet -> owners */
	assert_string_equal(json_string_value(json_object_get(job, "description")),
			    "Joins each day's orders with their customers");
	assert_true(array_has_string(json_object_get(job, "owners"), "data-eng"));
	/* the parent run facet names the DAG */
	json_t *parent = json_object_get(json_object_get(job, "properties"), "parent");
	assert_non_null(parent);
	assert_true(mentions(parent, "etl_orders"));
	assert_false(mentions(parent, "build_customer_orders"));
	/* the job's other facets are kept */
	assert_non_null(json_object_get(json_object_get(job, "properties"), "facets.jobType"));
	json_decref(job);

	/* inputs with their schema facets */
	json_t *orders = entity(ORDERS);
	assert_string_equal(json_string_value(json_object_get(orders, "platform")), "postgres");
	assert_int_equal(json_array_size(json_object_get(orders, "fields")), 4);
	assert_string_equal(field_type(orders, "order_id"), "int4");
	assert_string_equal(field_type(orders, "placed_at"), "timestamptz");
	assert_non_null(find_by(json_object_get(orders, "downstream"), "id", AF_JOB));
	json_decref(orders);
	json_t *cust = entity(CUSTOMERS);
	assert_string_equal(field_type(cust, "email"), "text");
	json_decref(cust);
	/* the output is known, without a schema yet */
	json_t *out = entity(CUST_ORDERS);
	assert_int_equal(json_array_size(json_object_get(out, "fields")), 0);
	assert_non_null(find_by(json_object_get(out, "upstream"), "id", AF_JOB));
	json_decref(out);
}

static void test_airflow_complete(void **state)
{
	(void)state;
	post_file("airflow_complete.json");
	json_t *job = entity(AF_JOB);
	assert_string_equal(prop_str(job, "last_run_state"), "COMPLETE");
	json_decref(job);
	json_t *out = entity(CUST_ORDERS);
	assert_int_equal(json_array_size(json_object_get(out, "fields")), 4);
	assert_string_equal(field_type(out, "revenue_cents"), "numeric");
	json_decref(out);

	json_t *g = lineage(AF_JOB, "&depth=2");
	assert_int_equal(node_depth(g, AF_JOB), 0);
	assert_int_equal(node_depth(g, ORDERS), -1);
	assert_int_equal(node_depth(g, CUSTOMERS), -1);
	assert_int_equal(node_depth(g, CUST_ORDERS), 1);
	assert_true(has_edge(g, ORDERS, AF_JOB));
	assert_true(has_edge(g, CUSTOMERS, AF_JOB));
	assert_true(has_edge(g, AF_JOB, CUST_ORDERS));
	assert_int_equal(json_array_size(json_object_get(g, "edges")), 3);
	json_t *gj = find_by(json_object_get(g, "graph"), "id", AF_JOB);
	assert_non_null(gj);
	assert_string_equal(json_string_value(json_object_get(gj, "type")), "JOB");
	assert_int_equal(json_array_size(json_object_get(gj, "inEdges")), 2);
	assert_int_equal(json_array_size(json_object_get(gj, "outEdges")), 1);
	json_decref(g);

	/* The same event again adds no edges. */
	post_file("airflow_complete.json");
	g = lineage(AF_JOB, "&depth=2");
	assert_int_equal(json_array_size(json_object_get(g, "edges")), 3);
	json_decref(g);
}

/* --- dbt-ol: a second job reading what Airflow wrote -------------------------------------- */

static void test_dbt_chain(void **state)
{
	(void)state;
	post_file("dbt_run_start.json");
	post_file("dbt_model_complete.json");
	json_t *job = entity(DBT_JOB);
	assert_string_equal(prop_str(job, "last_run_state"), "COMPLETE");
	json_t *parent = json_object_get(json_object_get(job, "properties"), "parent");
	assert_true(mentions(parent, "dbt-run-shop_analytics"));
	json_decref(job);
	job = entity(DBT_PARENT);
	assert_string_equal(prop_str(job, "last_run_state"), "START");
	json_decref(job);

	json_t *rev = entity(REVENUE);
	assert_string_equal(json_string_value(json_object_get(rev, "description")),
			    "Revenue per customer in euros");
	json_t *f = find_by(json_object_get(rev, "fields"), "name", "revenue");
	assert_non_null(f);
	assert_string_equal(json_string_value(json_object_get(f, "description")),
			    "Sum of all orders, in euros");
	json_decref(rev);

	/* orders -> airflow task -> customer_orders -> dbt model -> revenue: four hops */
	json_t *g = lineage(ORDERS, "&depth=4&direction=downstream");
	assert_int_equal(node_depth(g, AF_JOB), 1);
	assert_int_equal(node_depth(g, CUST_ORDERS), 2);
	assert_int_equal(node_depth(g, DBT_JOB), 3);
	assert_int_equal(node_depth(g, REVENUE), 4);
	assert_true(has_edge(g, CUST_ORDERS, DBT_JOB));
	assert_true(has_edge(g, DBT_JOB, REVENUE));
	json_decref(g);
	g = lineage(ORDERS, "&depth=3&direction=downstream");
	assert_int_equal(node_depth(g, DBT_JOB), 3);
	assert_int_equal(node_depth(g, REVENUE), -100);
	json_decref(g);
	g = lineage(REVENUE, "&depth=4&direction=upstream");
	assert_int_equal(node_depth(g, ORDERS), -4);
	assert_int_equal(node_depth(g, CUSTOMERS), -4);
	json_decref(g);
}

/* --- Spark: paths in hdfs:// and s3:// namespaces ----------------------------------------- */

static void test_spark(void **state)
{
	(void)state;
	post_file("spark_start.json");
	json_t *job = entity(SPARK_JOB);
	assert_string_equal(prop_str(job, "last_run_state"), "START");
	json_decref(job);
	post_file("spark_complete.json");
	job = entity(SPARK_JOB);
	assert_string_equal(prop_str(job, "last_run_state"), "COMPLETE");
	assert_non_null(find_by(json_object_get(job, "upstream"), "id", S3_IN));
	assert_non_null(find_by(json_object_get(job, "upstream"), "id", HDFS_IN));
	assert_non_null(find_by(json_object_get(job, "downstream"), "id", HDFS_OUT));
	json_decref(job);

	json_t *s3 = entity(S3_IN);
	assert_string_equal(json_string_value(json_object_get(s3, "namespace")), "s3://raw-landing");
	assert_string_equal(json_string_value(json_object_get(s3, "name")), "orders/2024-05-13");
	assert_string_equal(json_string_value(json_object_get(s3, "platform")), "s3");
	assert_string_equal(field_type(s3, "order_id"), "long");
	assert_non_null(json_object_get(json_object_get(s3, "properties"), "facets.symlinks"));
	json_decref(s3);
	json_t *out = entity(HDFS_OUT);
	assert_string_equal(json_string_value(json_object_get(out, "namespace")),
			    "hdfs://namenode:8020");
	assert_string_equal(json_string_value(json_object_get(out, "name")),
			    "/warehouse/orders_by_day");
	assert_string_equal(json_string_value(json_object_get(out, "platform")), "hdfs");
	assert_int_equal(json_array_size(json_object_get(out, "fields")), 3);
	assert_string_equal(field_type(out, "day"), "date");
	json_decref(out);

	json_t *g = lineage(HDFS_OUT, "&depth=2&direction=upstream");
	assert_int_equal(node_depth(g, SPARK_JOB), -1);
	assert_int_equal(node_depth(g, S3_IN), -2);
	assert_int_equal(node_depth(g, HDFS_IN), -2);
	assert_true(has_edge(g, S3_IN, SPARK_JOB));
	assert_true(has_edge(g, SPARK_JOB, HDFS_OUT));
	json_decref(g);
}

static void test_dataset_event(void **state)
{
	(void)state;
	post_file("dataset_event.json");
	json_t *e = entity(REFUNDS);
	assert_string_equal(field_type(e, "refund_id"), "int4");
	json_decref(e);
}

/* --- refusals --------------------------------------------------------------------------- */

/* POST BODY; expect 400 whose detail mentions every one of the NULL-ended
 * strings after it. */
static void expect_refused(const char *body, ...)
{
	json_t *reply = NULL;
	long st = post_raw(body, tok_write, &reply);
	if (st != 400)
		fprintf(stderr, "wanted 400 for: %.300s\n", body);
	assert_int_equal(st, 400);
	assert_non_null(reply);
	assert_non_null(json_string_value(json_object_get(reply, "error")));
	const char *detail = json_string_value(json_object_get(reply, "detail"));
	assert_non_null(detail);
	va_list ap;
	va_start(ap, body);
	const char *want;
	while ((want = va_arg(ap, const char *))) {
		if (!strstr(detail, want))
			fprintf(stderr, "detail '%s' does not name '%s'\n", detail, want);
		assert_non_null(strstr(detail, want));
	}
	va_end(ap);
	json_decref(reply);
}

#define EV_HEAD \
	"{\"eventType\": \"COMPLETE\", \"eventTime\": \"2024-05-14T06:00:00Z\"," \
	" \"producer\": \"https://example.com/test\"," \
	" \"schemaURL\": \"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent\"," \
	" \"run\": {\"runId\": \"018f7600-0000-7000-8000-000000000001\"},"
#define NEVER_IN "{\"namespace\": \"postgres://db.local:5432\", \"name\": \"shop.public.never_in\"}"
#define NEVER_OUT "{\"namespace\": \"postgres://db.local:5432\", \"name\": \"shop.public.never_out\"}"

static void test_malformed(void **state)
{
	(void)state;
	expect_refused(EV_HEAD " \"job\": {\"namespace\": \"default\"},"
		       " \"inputs\": [" NEVER_IN "], \"outputs\": [" NEVER_OUT "]}",
		       "job.name", NULL);
	expect_refused(EV_HEAD " \"job\": {\"namespace\": \"default\", \"name\": 42},"
		       " \"inputs\": [" NEVER_IN "], \"outputs\": []}",
		       "job.name", NULL);
	expect_refused(EV_HEAD " \"job\": {\"name\": \"never.job1\"},"
		       " \"inputs\": [" NEVER_IN "], \"outputs\": []}",
		       "job.namespace", NULL);
	expect_refused(EV_HEAD " \"job\": \"never.job2\", \"inputs\": [" NEVER_IN "]}", "job", NULL);
	expect_refused(EV_HEAD " \"job\": {\"namespace\": \"default\", \"name\": \"never.job3\"},"
		       " \"inputs\": " NEVER_IN ", \"outputs\": [" NEVER_OUT "]}",
		       "inputs", NULL);
	/* the second input has no name: the first input, the output and the job stay unwritten */
	expect_refused(EV_HEAD " \"job\": {\"namespace\": \"default\", \"name\": \"never.job4\"},"
		       " \"inputs\": [" NEVER_IN ", {\"namespace\": \"postgres://db.local:5432\"}],"
		       " \"outputs\": [" NEVER_OUT "]}",
		       "inputs[1]", "name", NULL);
	expect_refused(EV_HEAD " \"job\": {\"namespace\": \"default\", \"name\": \"never.job5\"},"
		       " \"inputs\": [], \"outputs\": [{\"name\": \"shop.public.never_out\"}]}",
		       "outputs[0]", "namespace", NULL);
	expect_refused("[]", NULL);
	expect_refused("\"START\"", NULL);
	expect_refused("{\"eventType\": \"START\", ", NULL);

	expect_absent("dataset:postgres://db.local:5432:shop.public.never_in");
	expect_absent("dataset:postgres://db.local:5432:shop.public.never_out");
	for (int i = 1; i <= 5; i++) {
		char id[64];
		snprintf(id, sizeof(id), "job:default:never.job%d", i);
		expect_absent(id);
	}
	json_t *res = get_json("/api/v1/search?q=never", 200);
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 0);
	json_decref(res);
}

static void test_needs_write_scope(void **state)
{
	(void)state;
	static const char ev[] = EV_HEAD " \"job\": {\"namespace\": \"default\", \"name\": \"auth.job\"},"
				 " \"inputs\": [], \"outputs\": []}";
	assert_int_equal(post_raw(ev, NULL, NULL), 401);
	assert_int_equal(post_raw(ev, tok_read, NULL), 403);
	expect_absent("job:default:auth.job");
	assert_int_equal(post_raw(ev, tok_write, NULL), 201);
	json_t *e = entity("job:default:auth.job");
	assert_string_equal(prop_str(e, "last_run_state"), "COMPLETE");
	json_decref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_airflow_start),
		cmocka_unit_test(test_airflow_complete),
		cmocka_unit_test(test_dbt_chain),
		cmocka_unit_test(test_spark),
		cmocka_unit_test(test_dataset_event),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_needs_write_scope),
	};
	return cmocka_run_group_tests_name("http_openlineage", tests, setup, teardown) ? 1 : 0;
}
