/*
 * Unit tests for hub/openlineage.c: events shaped as Airflow's provider,
 * Spark's listener and dbt-ol send them (the files in tests/data/openlineage), the
 * spec 2.x DatasetEvent and JobEvent, and malformed events.
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
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/lineage.h"
#include "hub/openlineage.h"

/* tests/data/openlineage/, found from this file's path (the build runs from the top). */
static char data_dir[1024];

struct fixture {
	char dir[256];
	struct catalog *cat;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[300], err[256] = "";
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/terrarium-ol-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/catalog.db", f->dir);
	f->cat = catalog_open(path, err, sizeof(err));
	if (!f->cat)
		fprintf(stderr, "catalog_open: %s\n", err);
	assert_non_null(f->cat);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[300];
	catalog_close(f->cat);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

static json_t *load(const char *file)
{
	char path[1200];
	json_error_t jerr;
	snprintf(path, sizeof(path), "%s%s", data_dir, file);
	json_t *ev = json_load_file(path, 0, &jerr);
	if (!ev)
		fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
	assert_non_null(ev);
	return ev;
}

static void ingest_ok(struct catalog *cat, json_t *ev)
{
	char err[512] = "";
	int rc = openlineage_ingest(cat, ev, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "openlineage_ingest: %d %s\n", rc, err);
	assert_int_equal(rc, 0);
}

static void ingest_file(struct catalog *cat, const char *file)
{
	json_t *ev = load(file);
	ingest_ok(cat, ev);
	json_decref(ev);
}

static json_t *entity(struct catalog *cat, const char *id)
{
	json_t *doc = NULL;
	int rc = catalog_entity_get(cat, id, &doc);
	if (rc != 0)
		fprintf(stderr, "no entity '%s' (%d)\n", id, rc);
	assert_int_equal(rc, 0);
	assert_non_null(doc);
	return doc;
}

static const char *str(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);
	return json_is_string(v) ? json_string_value(v) : "";
}

/* The field NAME of DOC, or NULL. */
static json_t *field(json_t *doc, const char *name)
{
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(doc, "fields"), i, f)
		if (strcmp(str(f, "name"), name) == 0)
			return f;
	return NULL;
}

/* Whether DOC's direct edges on SIDE ("upstream"/"downstream") include ID of KIND. */
static int has_edge(json_t *doc, const char *side, const char *id, const char *kind)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(doc, side), i, e)
		if (strcmp(str(e, "id"), id) == 0 && (!kind || strcmp(str(e, "kind"), kind) == 0))
			return 1;
	return 0;
}

static int has_string(json_t *array, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(array, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* The state of run RUN_ID of JOB_ID, or "" if it is not listed. */
static void run_state(struct catalog *cat, const char *job_id, const char *run_id, char *out,
		      size_t outlen)
{
	json_t *runs = NULL, *r;
	size_t i;
	out[0] = '\0';
	assert_int_equal(catalog_runs_of(cat, job_id, 50, &runs), 0);
	json_array_foreach(runs, i, r)
		if (strcmp(str(r, "run_id"), run_id) == 0)
			snprintf(out, outlen, "%s", str(r, "state"));
	json_decref(runs);
}

#define AF_JOB "job:default:etl_orders.load_orders"
#define AF_RUN "0192f9c4-5b2a-7c61-9d3e-4b1f0a6c2e10"
#define AF_IN "dataset:postgres://db.local:5432:shop.public.orders"
#define AF_OUT "dataset:postgres://db.local:5432:shop.public.daily_totals"

static void test_airflow_start_then_complete(void **state)
{
	struct fixture *f = *state;
	char st[32];

	ingest_file(f->cat, "airflow_start.json");
	run_state(f->cat, AF_JOB, AF_RUN, st, sizeof(st));
	assert_string_equal(st, "START");

	ingest_file(f->cat, "airflow_complete.json");
	run_state(f->cat, AF_JOB, AF_RUN, st, sizeof(st));
	assert_string_equal(st, "COMPLETE");

	/* the task: kind/subtype from jobType, platform from its integration */
	json_t *job = entity(f->cat, AF_JOB);
	assert_string_equal(str(job, "kind"), "job");
	assert_string_equal(str(job, "namespace"), "default");
	assert_string_equal(str(job, "name"), "etl_orders.load_orders");
	assert_string_equal(str(job, "subtype"), "task");
	assert_string_equal(str(job, "platform"), "airflow");
	assert_string_equal(str(job, "description"),
			    "Sums yesterday's orders per day into daily_totals.");
	assert_true(has_string(json_object_get(job, "owners"), "data-team"));
	json_t *props = json_object_get(job, "properties");
	assert_non_null(strstr(str(props, "sql"), "INSERT INTO public.daily_totals"));
	assert_string_equal(str(props, "parent"), "job:default:etl_orders");
	assert_string_equal(str(props, "last_run_state"), "COMPLETE");
	/* input -> job -> output; the DAG is the task's parent */
	assert_true(has_edge(job, "upstream", AF_IN, "lineage"));
	assert_true(has_edge(job, "downstream", AF_OUT, "lineage"));
	assert_true(has_edge(job, "upstream", "job:default:etl_orders", "relationship"));
	json_decref(job);

	/* the tables: fields from the schema facet, the same ids a postgres crawl makes */
	json_t *in = entity(f->cat, AF_IN);
	assert_string_equal(str(in, "kind"), "dataset");
	assert_string_equal(str(in, "platform"), "postgres");
	assert_string_equal(str(in, "subtype"), "dataset");
	assert_int_equal(json_array_size(json_object_get(in, "fields")), 4);
	assert_non_null(field(in, "amount"));
	assert_string_equal(str(field(in, "amount"), "type"), "numeric");
	assert_string_equal(str(field(in, "created_at"), "type"), "timestamptz");
	assert_true(has_edge(in, "downstream", AF_JOB, "lineage"));
	assert_non_null(json_object_get(json_object_get(in, "properties"), "facets.dataSource"));
	json_decref(in);

	json_t *out = entity(f->cat, AF_OUT);
	assert_int_equal(json_array_size(json_object_get(out, "fields")), 3);
	assert_string_equal(str(field(out, "revenue"), "type"), "numeric");
	assert_true(has_edge(out, "upstream", AF_JOB, "lineage"));
	props = json_object_get(out, "properties");
	assert_non_null(json_object_get(props, "facets.columnLineage"));
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(props, "facets.outputStatistics"), "rowCount")), 1);
	json_decref(out);

	/* the parent DAG exists, linked to its task */
	json_t *dag = entity(f->cat, "job:default:etl_orders");
	assert_true(has_edge(dag, "downstream", AF_JOB, "relationship"));
	json_decref(dag);

	/* the lineage graph: orders -> task -> daily_totals, two hops; the DAG is
	 * not lineage */
	struct lineage_query q = { .node_id = AF_IN, .depth = 2, .direction = LINEAGE_DOWNSTREAM,
				   .hop_cap = 100 };
	struct lineage_graph *g = NULL;
	char err[256] = "";
	assert_int_equal(lineage_query(f->cat, &q, &g, err, sizeof(err)), 0);
	assert_int_equal(g->n_nodes, 3);
	assert_int_equal(g->n_edges, 2);
	int seen = 0;
	for (size_t i = 0; i < g->n_nodes; i++) {
		if (strcmp(g->nodes[i].id, AF_JOB) == 0 && g->nodes[i].depth == 1)
			seen |= 1;
		if (strcmp(g->nodes[i].id, AF_OUT) == 0 && g->nodes[i].depth == 2)
			seen |= 2;
	}
	assert_int_equal(seen, 3);
	lineage_graph_destroy(g);
}

static void test_airflow_fail_recorded(void **state)
{
	struct fixture *f = *state;
	const char *run = "0192feea-a1c3-7d20-b6a4-3c5e8d9f0a21";
	char st[32];
	json_t *ev = load("airflow_fail.json");
	json_t *start = json_deep_copy(ev);
	json_object_set_new(start, "eventType", json_string("START"));
	json_object_set_new(start, "eventTime", json_string("2024-11-06T06:00:02.000+00:00"));
	json_object_del(json_object_get(json_object_get(start, "run"), "facets"), "errorMessage");
	ingest_ok(f->cat, start);
	run_state(f->cat, AF_JOB, run, st, sizeof(st));
	assert_string_equal(st, "START");
	ingest_ok(f->cat, ev);
	run_state(f->cat, AF_JOB, run, st, sizeof(st));
	assert_string_equal(st, "FAIL");
	json_t *job = entity(f->cat, AF_JOB);
	assert_string_equal(str(json_object_get(job, "properties"), "last_run_state"), "FAIL");
	json_decref(job);
	json_decref(start);
	json_decref(ev);
}

#define SP_JOB "job:spark_integration:orders_etl.execute_insert_into_hadoop_fs_relation_command." \
	       "warehouse_daily_orders"

static void test_spark(void **state)
{
	struct fixture *f = *state;
	char st[32];
	ingest_file(f->cat, "spark_complete.json");
	run_state(f->cat, SP_JOB, "01907e54-1606-7d8e-90b4-54d26da1c0e2", st, sizeof(st));
	assert_string_equal(st, "COMPLETE");

	json_t *job = entity(f->cat, SP_JOB);
	assert_string_equal(str(job, "subtype"), "sql_job");
	assert_string_equal(str(job, "platform"), "spark");
	assert_string_equal(str(json_object_get(job, "properties"), "parent"),
			    "job:spark_integration:orders_etl");
	assert_true(has_edge(job, "upstream", "dataset:s3://raw-events:orders/2024/07", "lineage"));
	assert_true(has_edge(job, "upstream",
			     "dataset:hdfs://namenode:8020:/user/hive/warehouse/dim.db/customers",
			     "lineage"));
	assert_true(has_edge(job, "downstream", "dataset:file:/warehouse/daily_orders", "lineage"));
	/* run facets stay with the run, not on the job */
	assert_null(json_object_get(json_object_get(job, "properties"), "facets.spark_version"));
	json_decref(job);

	/* nested struct fields are flattened as parent.child */
	json_t *s3 = entity(f->cat, "dataset:s3://raw-events:orders/2024/07");
	assert_string_equal(str(s3, "platform"), "s3");
	assert_int_equal(json_array_size(json_object_get(s3, "fields")), 8);
	assert_non_null(field(s3, "customer"));
	assert_non_null(field(s3, "customer.id"));
	assert_non_null(field(s3, "customer.address"));
	assert_string_equal(str(field(s3, "customer.address.city"), "description"), "Billing city");
	assert_string_equal(str(field(s3, "customer.address.zip"), "type"), "string");
	assert_null(field(s3, "city"));
	json_decref(s3);

	/* a Hive table read through HDFS: the symlink says it is a table */
	json_t *hdfs = entity(f->cat,
			      "dataset:hdfs://namenode:8020:/user/hive/warehouse/dim.db/customers");
	assert_string_equal(str(hdfs, "subtype"), "table");
	assert_string_equal(str(hdfs, "platform"), "hdfs");
	json_t *sym = json_object_get(json_object_get(hdfs, "properties"), "facets.symlinks");
	assert_non_null(sym);
	assert_string_equal(str(json_array_get(json_object_get(sym, "identifiers"), 0), "name"),
			    "dim.customers");
	json_decref(hdfs);

	/* "file": a namespace without a scheme is the platform */
	json_t *file = entity(f->cat, "dataset:file:/warehouse/daily_orders");
	assert_string_equal(str(file, "platform"), "file");
	assert_int_equal(json_array_size(json_object_get(file, "fields")), 3);
	assert_string_equal(str(json_object_get(json_object_get(file, "properties"),
						"facets.lifecycleStateChange"),
				"lifecycleStateChange"),
			    "OVERWRITE");
	json_decref(file);
}

#define DBT_MODEL "job:dbt:warehouse.analytics.jaffle_shop.orders"
#define DBT_OUT "dataset:postgres://warehouse.internal:5432:warehouse.analytics.orders"

static void test_dbt(void **state)
{
	struct fixture *f = *state;
	ingest_file(f->cat, "dbt_model_complete.json");
	ingest_file(f->cat, "dbt_test_complete.json");

	json_t *model = entity(f->cat, DBT_MODEL);
	assert_string_equal(str(model, "subtype"), "model");
	assert_string_equal(str(model, "platform"), "dbt");
	assert_non_null(strstr(str(json_object_get(model, "properties"), "sql"),
			       "from orders left join payments"));
	assert_true(has_edge(model, "upstream",
			     "dataset:postgres://warehouse.internal:5432:warehouse.analytics.stg_orders",
			     "lineage"));
	assert_true(has_edge(model, "upstream",
			     "dataset:postgres://warehouse.internal:5432:"
			     "warehouse.analytics.stg_payments", "lineage"));
	assert_true(has_edge(model, "downstream", DBT_OUT, "lineage"));
	assert_true(has_edge(model, "upstream", "job:dbt:dbt-run-jaffle_shop", "relationship"));
	json_decref(model);

	/* the model's table: documented fields and description; the test read it */
	json_t *out = entity(f->cat, DBT_OUT);
	assert_string_equal(str(out, "description"), "This table has basic information about "
			    "orders, as well as some derived facts based on payments");
	assert_int_equal(json_array_size(json_object_get(out, "fields")), 5);
	assert_string_equal(str(field(out, "amount"), "description"),
			    "Total amount (AUD) of the order");
	json_t *dq = json_object_get(json_object_get(out, "properties"),
				     "facets.dataQualityAssertions");
	assert_non_null(dq);
	assert_int_equal(json_array_size(json_object_get(dq, "assertions")), 3);
	assert_true(has_edge(out, "downstream", "job:dbt:warehouse.analytics.jaffle_shop.orders.test",
			     "lineage"));
	json_decref(out);

	json_t *test = entity(f->cat, "job:dbt:warehouse.analytics.jaffle_shop.orders.test");
	assert_string_equal(str(test, "subtype"), "test");
	json_decref(test);
}

/* Spec 2.x: a DatasetEvent describes a dataset; a JobEvent a job with no run. */
static void test_dataset_and_job_events(void **state)
{
	struct fixture *f = *state;
	json_error_t jerr;
	json_t *ds = json_loads(
		"{\"eventTime\": \"2024-03-01T10:00:00Z\","
		" \"producer\": \"https://example.com/catalog-sync\","
		" \"schemaURL\": \"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent\","
		" \"dataset\": {\"namespace\": \"kafka://broker1:9092\", \"name\": \"orders\","
		"   \"facets\": {\"schema\": {\"fields\": [{\"name\": \"order_id\", \"type\": \"long\"}]},"
		"               \"datasetType\": {\"datasetType\": \"TOPIC\"},"
		"               \"tags\": {\"tags\": [{\"key\": \"pii\", \"value\": \"true\"},"
		"                                    {\"key\": \"tier\", \"value\": \"gold\"},"
		"                                    {\"key\": \"masked\", \"value\": \"yes\", \"field\": \"order_id\"}]}}}}",
		0, &jerr);
	assert_non_null(ds);
	ingest_ok(f->cat, ds);
	json_t *topic = entity(f->cat, "dataset:kafka://broker1:9092:orders");
	assert_string_equal(str(topic, "subtype"), "topic");
	assert_string_equal(str(topic, "platform"), "kafka");
	assert_string_equal(str(field(topic, "order_id"), "type"), "long");
	assert_true(has_string(json_object_get(topic, "tags"), "pii"));
	assert_true(has_string(json_object_get(topic, "tags"), "tier:gold"));
	assert_false(has_string(json_object_get(topic, "tags"), "masked:yes"));
	json_decref(topic);
	json_decref(ds);

	json_t *jobev = json_loads(
		"{\"eventTime\": \"2024-03-01T10:05:00+01:00\","
		" \"producer\": \"https://example.com/static\","
		" \"job\": {\"namespace\": \"flink://jobmanager:8081\", \"name\": \"enrich_orders\"},"
		" \"inputs\": [{\"namespace\": \"kafka://broker1:9092\", \"name\": \"orders\"}],"
		" \"outputs\": [{\"namespace\": \"kafka://broker1:9092\", \"name\": \"orders_enriched\"}]}",
		0, &jerr);
	assert_non_null(jobev);
	ingest_ok(f->cat, jobev);
	json_t *job = entity(f->cat, "job:flink://jobmanager:8081:enrich_orders");
	assert_string_equal(str(job, "platform"), "flink");
	assert_string_equal(str(job, "subtype"), "job");
	assert_true(has_edge(job, "upstream", "dataset:kafka://broker1:9092:orders", "lineage"));
	assert_true(has_edge(job, "downstream", "dataset:kafka://broker1:9092:orders_enriched",
			     "lineage"));
	json_decref(job);
	json_t *runs = NULL;
	assert_int_equal(catalog_runs_of(f->cat, "job:flink://jobmanager:8081:enrich_orders", 10,
					 &runs), 0);
	assert_int_equal(json_array_size(runs), 0);
	json_decref(runs);
	/* the topic keeps what the DatasetEvent said */
	topic = entity(f->cat, "dataset:kafka://broker1:9092:orders");
	assert_string_equal(str(topic, "subtype"), "topic");
	json_decref(topic);
	json_decref(jobev);
}

/* An event without facets does not turn a crawled table back into a "dataset". */
static void test_subtype_of_crawled_entity_kept(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct catalog_batch *b = catalog_batch_begin(f->cat, "postgres", 0);
	assert_non_null(b);
	json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "kind", "dataset", "namespace",
				"postgres://db.local:5432", "name", "shop.public.orders", "subtype",
				"table");
	assert_int_equal(catalog_batch_entity(b, doc, err, sizeof(err)), 0);
	assert_int_equal(catalog_batch_commit(b, NULL, err, sizeof(err)), 0);
	json_decref(doc);

	ingest_file(f->cat, "airflow_start.json");
	json_t *in = entity(f->cat, AF_IN);
	assert_string_equal(str(in, "subtype"), "table");
	assert_int_equal(json_array_size(json_object_get(in, "fields")), 4);
	json_decref(in);
	/* the new output had no subtype: it gets the generic one */
	json_t *out = entity(f->cat, AF_OUT);
	assert_string_equal(str(out, "subtype"), "dataset");
	json_decref(out);
}

/* A facet over 64 KiB is not kept; a small one next to it is; "_deleted" ones are not. */
static void test_facet_bounds(void **state)
{
	struct fixture *f = *state;
	json_t *ev = load("airflow_start.json");
	json_t *facets = json_object_get(json_object_get(ev, "job"), "facets");
	char *big = malloc(70 * 1024);
	assert_non_null(big);
	memset(big, 'x', 70 * 1024 - 1);
	big[70 * 1024 - 1] = '\0';
	json_object_set_new(facets, "huge", json_pack("{s:s}", "blob", big));
	json_object_set_new(facets, "small", json_pack("{s:i}", "n", 42));
	json_object_set_new(facets, "gone", json_pack("{s:b}", "_deleted", 1));
	free(big);
	ingest_ok(f->cat, ev);
	json_t *job = entity(f->cat, AF_JOB);
	json_t *props = json_object_get(job, "properties");
	assert_null(json_object_get(props, "facets.huge"));
	assert_null(json_object_get(props, "facets.gone"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(props, "facets.small"),
							    "n")), 42);
	/* the mapped facets are not duplicated as properties */
	assert_null(json_object_get(props, "facets.sql"));
	assert_null(json_object_get(props, "facets.documentation"));
	json_decref(job);
	json_decref(ev);
}

/* The time is normalised to UTC: an offset is applied. */
static void test_event_time_offsets(void **state)
{
	struct fixture *f = *state;
	json_t *ev = load("airflow_start.json");
	json_object_set_new(ev, "eventTime", json_string("2024-11-05T08:30:00.5+02:30"));
	ingest_ok(f->cat, ev);
	json_t *job = entity(f->cat, AF_JOB);
	assert_string_equal(str(json_object_get(job, "properties"), "last_run_at"),
			    "2024-11-05T06:00:00.500Z");
	json_decref(job);
	json_decref(ev);
}

struct bad_case {
	const char *what;
	const char *json;   /* NULL: take airflow_start.json and apply EDIT */
	void (*edit)(json_t *ev);
	const char *key;    /* the error must name this */
};

static void no_job_name(json_t *ev) { json_object_del(json_object_get(ev, "job"), "name"); }
static void empty_job_ns(json_t *ev)
{
	json_object_set_new(json_object_get(ev, "job"), "namespace", json_string(""));
}
static void bad_time(json_t *ev) { json_object_set_new(ev, "eventTime", json_string("yesterday")); }
static void naive_time(json_t *ev)
{
	json_object_set_new(ev, "eventTime", json_string("2024-11-05T06:00:04.512311"));
}
static void feb_30(json_t *ev)
{
	json_object_set_new(ev, "eventTime", json_string("2024-02-30T06:00:04Z"));
}
static void inputs_object(json_t *ev)
{
	json_object_set_new(ev, "inputs", json_pack("{s:s}", "namespace", "postgres://x:1"));
}
static void output_no_ns(json_t *ev)
{
	json_t *o = json_array_get(json_object_get(ev, "outputs"), 0);
	json_object_del(o, "namespace");
	json_t *outs = json_object_get(ev, "outputs");
	json_array_insert_new(outs, 0, json_pack("{s:s, s:s}", "namespace", "pg://a:1", "name", "t"));
}
static void no_run_id(json_t *ev) { json_object_del(json_object_get(ev, "run"), "runId"); }
static void bad_run_id(json_t *ev)
{
	json_object_set_new(json_object_get(ev, "run"), "runId", json_string("run-42"));
}
static void bad_type(json_t *ev) { json_object_set_new(ev, "eventType", json_string("DONE")); }
static void control_name(json_t *ev)
{
	json_object_set_new(json_array_get(json_object_get(ev, "inputs"), 0), "name",
			    json_string("shop.public.or\nders"));
}
static void facets_array(json_t *ev)
{
	json_object_set_new(json_object_get(ev, "job"), "facets", json_array());
}

static const struct bad_case bad_cases[] = {
	{ "not an object", "[{\"eventType\": \"START\"}]", NULL, "event: not an object" },
	{ "a string", "\"START\"", NULL, "event: not an object" },
	{ "missing job.name", NULL, no_job_name, "job.name: missing" },
	{ "empty job.namespace", NULL, empty_job_ns, "job.namespace: empty" },
	{ "bad eventTime", NULL, bad_time, "eventTime: 'yesterday'" },
	{ "eventTime without offset", NULL, naive_time, "eventTime: '2024-11-05T06:00:04.512311'" },
	{ "eventTime february 30", NULL, feb_30, "eventTime:" },
	{ "inputs not an array", NULL, inputs_object, "inputs: not an array" },
	{ "output without namespace", NULL, output_no_ns, "outputs[1].namespace: missing" },
	{ "missing run.runId", NULL, no_run_id, "run.runId: missing" },
	{ "run.runId not a uuid", NULL, bad_run_id, "run.runId: 'run-42' is not a uuid" },
	{ "unknown eventType", NULL, bad_type, "eventType: 'DONE'" },
	{ "control character in a name", NULL, control_name,
	  "inputs[0].name: contains control characters" },
	{ "job.facets an array", NULL, facets_array, "job.facets: not an object" },
	{ "no job", "{\"eventTime\": \"2024-01-01T00:00:00Z\", \"producer\": \"x\"}", NULL,
	  "job: missing" },
	{ "run without job", "{\"eventType\": \"START\", \"eventTime\": \"2024-01-01T00:00:00Z\","
	  " \"run\": {\"runId\": \"0192f9c4-5b2a-7c61-9d3e-4b1f0a6c2e10\"}}", NULL,
	  "job: missing" },
	{ "eventType without run", "{\"eventType\": \"START\", \"eventTime\": \"2024-01-01T00:00:00Z\","
	  " \"job\": {\"namespace\": \"a\", \"name\": \"b\"}}", NULL, "run: missing" },
	{ "missing eventTime", "{\"job\": {\"namespace\": \"a\", \"name\": \"b\"}}", NULL,
	  "eventTime: missing" },
};

static void test_malformed_rejected(void **state)
{
	struct fixture *f = *state;
	struct catalog_counts before, after;
	assert_int_equal(catalog_counts(f->cat, &before), 0);
	uint64_t gen = catalog_generation(f->cat);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		json_t *ev;
		if (c->json) {
			json_error_t jerr;
			ev = json_loads(c->json, JSON_DECODE_ANY, &jerr);
		} else {
			ev = load("airflow_start.json");
			c->edit(ev);
		}
		assert_non_null(ev);
		char err[512] = "";
		int rc = openlineage_ingest(f->cat, ev, err, sizeof(err));
		if (rc != CATALOG_EINVAL || !strstr(err, c->key))
			fprintf(stderr, "case '%s': rc %d, err '%s', want '%s'\n", c->what, rc, err,
				c->key);
		assert_int_equal(rc, CATALOG_EINVAL);
		assert_non_null(strstr(err, c->key));
		json_decref(ev);
	}
	/* nothing was written */
	assert_int_equal(catalog_counts(f->cat, &after), 0);
	assert_int_equal(after.entities, before.entities);
	assert_int_equal(after.edges, before.edges);
	assert_int_equal(after.entities, 0);
	assert_true(catalog_generation(f->cat) == gen);
	json_t *doc = NULL;
	assert_int_equal(catalog_entity_get(f->cat, AF_JOB, &doc), CATALOG_ENOTFOUND);
	assert_int_equal(catalog_entity_get(f->cat, AF_IN, &doc), CATALOG_ENOTFOUND);
}

int main(void)
{
	snprintf(data_dir, sizeof(data_dir), "%s", __FILE__);
	char *slash = strstr(data_dir, "unit/test_openlineage.c");
	if (!slash) {
		fprintf(stderr, "cannot find tests/data from '%s'\n", __FILE__);
		return 1;
	}
	snprintf(slash, sizeof(data_dir) - (size_t)(slash - data_dir), "data/openlineage/");

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_airflow_start_then_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_airflow_fail_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataset_and_job_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subtype_of_crawled_entity_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_facet_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_time_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_rejected, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
