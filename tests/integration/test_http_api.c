/*
 * The REST API over loopback, against the real binary: probes, metrics,
 * entities (ids with "://", ':' and '/' in the path, raw and percent-encoded),
 * history, PATCH, search, lineage as JSON/SVG/DOT with the render cache,
 * services, the static UI, auth scopes, tokens, and the error replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/harness.h"

#define ORDERS "dataset:postgres://db.local:5432:shop.public.orders"
#define ITEMS "dataset:postgres://db.local:5432:shop.public.order_items"
#define CUSTOMERS "dataset:postgres://db.local:5432:shop.public.customers"
#define SESSIONS "dataset:redis://cache:6379:0/session:*"
#define LOAD_JOB "job:airflow://scheduler.local:etl_orders.load_orders"
#define TOPIC "dataset:kafka://broker1:9092:orders_enriched"
#define AGG_JOB "job:airflow://scheduler.local:etl_orders.aggregate_daily"
#define DAILY "dataset:postgres://db.local:5432:shop.analytics.revenue_daily"
#define AUDIT "dataset:s3://audit-bucket:exports/history"
#define DEEP_NAME "/user/hive/warehouse/sales.db/orders/region=eu/country=de/year=2024/month=05/" \
		  "day=14/hour=03"
#define DEEP "dataset:hdfs://namenode:8020:" DEEP_NAME

/* The catalog every test of the "api" group starts from. */
static const char fixture[] =
	"{\"entities\": ["
	" {\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
	"  \"name\": \"shop.public.orders\", \"subtype\": \"table\","
	"  \"description\": \"One row per order placed in the web shop\","
	"  \"tags\": [\"pii\", \"core\"], \"owners\": [\"alice\"],"
	"  \"properties\": {\"rows\": 120000},"
	"  \"fields\": ["
	"   {\"name\": \"order_id\", \"type\": \"integer\", \"nullable\": false, \"ordinal\": 1},"
	"   {\"name\": \"customer_email\", \"type\": \"text\", \"ordinal\": 2,"
	"    \"description\": \"who ordered\"},"
	"   {\"name\": \"amount_cents\", \"type\": \"bigint\", \"ordinal\": 3}]},"
	" {\"id\": \"" ITEMS "\", \"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
	"  \"name\": \"shop.public.order_items\", \"subtype\": \"table\","
	"  \"fields\": [{\"name\": \"order_id\", \"type\": \"integer\"},"
	"             {\"name\": \"sku\", \"type\": \"text\"}]},"
	" {\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
	"  \"name\": \"shop.public.customers\", \"subtype\": \"table\","
	"  \"fields\": [{\"name\": \"customer_id\", \"type\": \"integer\"}]},"
	" {\"kind\": \"dataset\", \"namespace\": \"redis://cache:6379\", \"name\": \"0/session:*\","
	"  \"subtype\": \"keyspace\", \"description\": \"Web sessions\"},"
	" {\"kind\": \"job\", \"namespace\": \"airflow://scheduler.local\","
	"  \"name\": \"etl_orders.load_orders\", \"subtype\": \"task\", \"owners\": [\"data-eng\"]},"
	" {\"kind\": \"dataset\", \"namespace\": \"kafka://broker1:9092\", \"name\": \"orders_enriched\","
	"  \"subtype\": \"topic\"},"
	" {\"kind\": \"job\", \"namespace\": \"airflow://scheduler.local\","
	"  \"name\": \"etl_orders.aggregate_daily\", \"subtype\": \"task\"},"
	" {\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
	"  \"name\": \"shop.analytics.revenue_daily\", \"subtype\": \"table\"}],"
	" \"edges\": ["
	"  {\"src\": \"" ORDERS "\", \"dst\": \"" LOAD_JOB "\"},"
	"  {\"src\": \"" ITEMS "\", \"dst\": \"" LOAD_JOB "\"},"
	"  {\"src\": \"" CUSTOMERS "\", \"dst\": \"" LOAD_JOB "\", \"kind\": \"lineage\"},"
	"  {\"src\": \"" LOAD_JOB "\", \"dst\": \"" TOPIC "\"},"
	"  {\"src\": \"" LOAD_JOB "\", \"dst\": \"" SESSIONS "\"},"
	"  {\"src\": \"" TOPIC "\", \"dst\": \"" AGG_JOB "\"},"
	"  {\"src\": \"" AGG_JOB "\", \"dst\": \"" DAILY "\"},"
	"  {\"src\": \"" ITEMS "\", \"dst\": \"" ORDERS "\", \"kind\": \"relationship\"}]}";

static const char main_config[] =
	"services = {\n"
	"  { name = \"orders-db\", group = \"Databases\", type = \"postgres\",\n"
	"    url = \"postgres://127.0.0.1:5432\", password = \"pw-never-leaves\" },\n"
	"  { name = \"cache\", group = \"Caches\", type = \"redis\", url = \"redis://127.0.0.1:6379\" },\n"
	"}\n"
	"http = { max_body = \"64KiB\" }\n";

static struct th_server srv;        /* anonymous reads on (the default) */
static struct th_server closed_srv; /* anonymous_reads = false */
static char tok_read[64], tok_write[64], tok_admin[64], tok_ingest[64];
static char ctok_read[64], ctok_write[64];
static json_t *batch_reply;

/* --- helpers ------------------------------------------------------------------- */

/* One request; asserts the transport worked and the status is WANT; returns
 * the body parsed as JSON (asserted to be JSON). */
static json_t *call(struct th_server *s, const char *method, const char *path, const char *body,
		    const char *token, long want)
{
	struct th_resp r;
	int rc = th_req(s, method, path, body, body ? strlen(body) : 0, NULL, token, &r);
	if (rc != 0)
		fprintf(stderr, "%s %.200s: transport error\n", method, path);
	assert_int_equal(rc, 0);
	if (r.status != want)
		fprintf(stderr, "%s %.200s: status %ld, wanted %ld; body: %.600s\n", method, path,
			r.status, want, r.body);
	json_t *doc = json_loadb(r.body, r.len, 0, NULL);
	if (!doc)
		fprintf(stderr, "%s %.200s: the body is not JSON: %.300s\n", method, path, r.body);
	else if (strncmp(r.ctype, "application/json", 16) != 0)
		fprintf(stderr, "%s %.200s: content type '%s'\n", method, path, r.ctype);
	int json_ctype = strncmp(r.ctype, "application/json", 16) == 0;
	th_resp_free(&r);
	assert_int_equal(r.status, want);
	assert_non_null(doc);
	assert_true(json_ctype);
	return doc;
}

/* An error reply: {"error": non-empty, "detail": containing WANT_DETAIL (if not NULL)}. */
static void check_error(json_t *doc, const char *want_detail)
{
	const char *e = json_string_value(json_object_get(doc, "error"));
	const char *d = json_string_value(json_object_get(doc, "detail"));
	assert_non_null(e);
	assert_true(e[0] != '\0');
	assert_non_null(d);
	if (want_detail && !strstr(d, want_detail))
		fprintf(stderr, "detail '%s' does not mention '%s'\n", d, want_detail);
	if (want_detail)
		assert_non_null(strstr(d, want_detail));
}

static void expect_error(struct th_server *s, const char *method, const char *path,
			 const char *body, const char *token, long want, const char *want_detail)
{
	json_t *doc = call(s, method, path, body, token, want);
	check_error(doc, want_detail);
	json_decref(doc);
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

/* The object in ARR whose KEY is the string VAL, or NULL. */
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

/* Whether EDGES (lineage JSON "edges") holds SRC -> DST. */
static int has_edge(json_t *edges, const char *src, const char *dst)
{
	size_t i;
	json_t *e;
	json_array_foreach(edges, i, e) {
		const char *s = json_string_value(json_object_get(e, "src"));
		const char *d = json_string_value(json_object_get(e, "dst"));
		if (s && d && strcmp(s, src) == 0 && strcmp(d, dst) == 0)
			return 1;
	}
	return 0;
}

static json_int_t int_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *str_of(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	if (!s)
		fprintf(stderr, "no string '%s' in the document\n", key);
	assert_non_null(s);
	return s;
}

static json_t *get_entity(const char *id)
{
	char path[4096];
	snprintf(path, sizeof(path), "/api/v1/entities/%s", id);
	return call(&srv, "GET", path, NULL, NULL, 200);
}

static json_t *search(const char *query)
{
	char path[2048];
	snprintf(path, sizeof(path), "/api/v1/search?%s", query);
	return call(&srv, "GET", path, NULL, NULL, 200);
}

static int hits_have(json_t *res, const char *id)
{
	return find_by(json_object_get(res, "hits"), "id", id) != NULL;
}

static json_t *lineage(const char *node, const char *extra)
{
	char enc[1024], path[2048];
	th_urlencode(node, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s%s", enc, extra);
	return call(&srv, "GET", path, NULL, NULL, 200);
}

/* The depth of node ID in a lineage reply, or -100 when it is absent. */
static int node_depth(json_t *g, const char *id)
{
	json_t *n = find_by(json_object_get(g, "nodes"), "id", id);
	return n ? (int)json_integer_value(json_object_get(n, "depth")) : -100;
}

/* The value of the metric line that starts with SERIES (name and labels), or -1. */
static double metric(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;
	while (p && *p) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static char *get_metrics(void)
{
	struct th_resp r;
	assert_int_equal(th_req(&srv, "GET", "/metrics", NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.ctype, "text/plain"));
	return r.body; /* the caller frees */
}

/* --- setup ------------------------------------------------------------------------ */

static int setup_main(void **state)
{
	(void)state;
	long st = 0;
	if (th_start(&srv, main_config, NULL) != 0)
		return -1;
	if (th_token(&srv, "read", tok_read) || th_token(&srv, "write", tok_write) ||
	    th_token(&srv, "admin", tok_admin) || th_token(&srv, "ingest", tok_ingest)) {
		fprintf(stderr, "cannot create tokens\n");
		return -1;
	}
	if (th_json(&srv, "POST", "/api/v1/entities", fixture, tok_write, &st, &batch_reply) != 0 ||
	    st != 200 || !batch_reply) {
		fprintf(stderr, "the fixture batch was refused: status %ld\n", st);
		return -1;
	}
	return 0;
}

static int teardown_main(void **state)
{
	(void)state;
	json_decref(batch_reply);
	th_stop(&srv);
	return 0;
}

static int setup_closed(void **state)
{
	(void)state;
	if (th_start(&closed_srv, "anonymous_reads = false\n", NULL) != 0)
		return -1;
	if (th_token(&closed_srv, "read", ctok_read) || th_token(&closed_srv, "write", ctok_write))
		return -1;
	return 0;
}

static int teardown_closed(void **state)
{
	(void)state;
	th_stop(&closed_srv);
	return 0;
}

/* --- probes, metrics, openapi --------------------------------------------------------- */

static void test_healthz(void **state)
{
	(void)state;
	json_t *doc = call(&srv, "GET", "/healthz", NULL, NULL, 200);
	assert_string_equal(str_of(doc, "status"), "ok");
	json_decref(doc);
}

static void test_readyz(void **state)
{
	(void)state;
	json_t *doc = call(&srv, "GET", "/readyz", NULL, NULL, 200);
	assert_non_null(json_object_get(doc, "status"));
	json_decref(doc);
}

static void test_metrics(void **state)
{
	(void)state;
	static const char hz[] =
		"terrarium_http_requests_total{route=\"/healthz\",method=\"GET\",code=\"2xx\"}";
	char *before = get_metrics();
	assert_non_null(strstr(before, "terrarium_http_requests_total{"));
	assert_non_null(strstr(before, "terrarium_http_request_duration_seconds_bucket{"));
	assert_non_null(strstr(before, "route=\"/api/v1/search\""));
	assert_non_null(strstr(before, "le=\"+Inf\""));
	assert_non_null(strstr(before, "terrarium_catalog_entities{"));
	/* The fixture holds six datasets and two jobs. */
	assert_true(metric(before, "terrarium_catalog_entities{kind=\"dataset\"}") >= 6);
	assert_true(metric(before, "terrarium_catalog_entities{kind=\"job\"}") >= 2);
	double n0 = metric(before, hz);
	assert_true(n0 >= 1); /* the harness waited on /healthz */
	for (int i = 0; i < 3; i++) {
		json_t *doc = call(&srv, "GET", "/healthz", NULL, NULL, 200);
		json_decref(doc);
	}
	char *after = get_metrics();
	assert_true(metric(after, hz) == n0 + 3);
	/* The latency histogram counted them too. */
	double c = metric(after, "terrarium_http_request_duration_seconds_count{route=\"/healthz\","
				 "method=\"GET\"}");
	assert_true(c == n0 + 3);
	free(before);
	free(after);
}

static void test_openapi(void **state)
{
	(void)state;
	/* web/openapi.json is written by the docs; until it lands this answers 404. */
	json_t *doc = call(&srv, "GET", "/api/v1/openapi.json", NULL, NULL, 200);
	assert_true(json_is_string(json_object_get(doc, "openapi")));
	assert_non_null(json_object_get(doc, "paths"));
	json_decref(doc);
}

/* --- entities ------------------------------------------------------------------------- */

static void test_batch_counts(void **state)
{
	(void)state;
	assert_int_equal(int_of(batch_reply, "entities"), 8);
	assert_int_equal(int_of(batch_reply, "created"), 8);
	assert_int_equal(int_of(batch_reply, "edges"), 8);
	assert_int_equal(int_of(batch_reply, "staled"), 0);
	/* The same batch again creates and changes nothing. */
	json_t *again = call(&srv, "POST", "/api/v1/entities", fixture, tok_write, 200);
	assert_int_equal(int_of(again, "entities"), 8);
	assert_int_equal(int_of(again, "created"), 0);
	assert_int_equal(int_of(again, "changed"), 0);
	json_decref(again);
}

static void check_orders(json_t *e)
{
	assert_string_equal(str_of(e, "id"), ORDERS);
	assert_string_equal(str_of(e, "kind"), "dataset");
	assert_string_equal(str_of(e, "namespace"), "postgres://db.local:5432");
	assert_string_equal(str_of(e, "name"), "shop.public.orders");
	assert_string_equal(str_of(e, "platform"), "postgres");
	json_t *fields = json_object_get(e, "fields");
	assert_int_equal(json_array_size(fields), 3);
	json_t *f = find_by(fields, "name", "customer_email");
	assert_non_null(f);
	assert_string_equal(str_of(f, "type"), "text");
	f = find_by(fields, "name", "order_id");
	assert_non_null(f);
	assert_string_equal(str_of(f, "type"), "integer");
	assert_true(json_is_false(json_object_get(f, "nullable")));
	assert_true(array_has_string(json_object_get(e, "tags"), "pii"));
	assert_true(array_has_string(json_object_get(e, "tags"), "core"));
	assert_true(array_has_string(json_object_get(e, "owners"), "alice"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "properties"),
							    "rows")), 120000);
	/* Direct edges: orders feeds the load job; order_items relates to it. */
	assert_non_null(find_by(json_object_get(e, "downstream"), "id", LOAD_JOB));
	assert_null(find_by(json_object_get(e, "downstream"), "id", TOPIC));
	assert_non_null(find_by(json_object_get(e, "upstream"), "id", ITEMS));
}

static void test_entity_raw_id(void **state)
{
	(void)state;
	json_t *e = get_entity(ORDERS);
	check_orders(e);
	assert_string_equal(str_of(e, "description"), "One row per order placed in the web shop");
	json_decref(e);

	e = get_entity(SESSIONS);
	assert_string_equal(str_of(e, "id"), SESSIONS);
	assert_string_equal(str_of(e, "namespace"), "redis://cache:6379");
	assert_string_equal(str_of(e, "name"), "0/session:*");
	assert_string_equal(str_of(e, "platform"), "redis");
	assert_non_null(find_by(json_object_get(e, "upstream"), "id", LOAD_JOB));
	json_decref(e);

	e = get_entity(LOAD_JOB);
	json_t *up = json_object_get(e, "upstream"), *down = json_object_get(e, "downstream");
	assert_non_null(find_by(up, "id", ORDERS));
	assert_non_null(find_by(up, "id", ITEMS));
	assert_non_null(find_by(up, "id", CUSTOMERS));
	assert_non_null(find_by(down, "id", TOPIC));
	assert_non_null(find_by(down, "id", SESSIONS));
	assert_int_equal(int_of(e, "upstream_total"), 3);
	assert_int_equal(int_of(e, "downstream_total"), 2);
	json_decref(e);
}

static void test_entity_encoded_id(void **state)
{
	(void)state;
	char enc[1024], path[1200];
	th_urlencode(ORDERS, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/entities/%s", enc);
	json_t *e = call(&srv, "GET", path, NULL, NULL, 200);
	check_orders(e);
	json_decref(e);

	th_urlencode(SESSIONS, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/entities/%s", enc);
	e = call(&srv, "GET", path, NULL, NULL, 200);
	assert_string_equal(str_of(e, "id"), SESSIONS);
	json_decref(e);

	snprintf(path, sizeof(path), "/api/v1/entities/%s/history", enc);
	e = call(&srv, "GET", path, NULL, NULL, 200);
	assert_string_equal(str_of(e, "id"), SESSIONS);
	json_decref(e);
}

/* An entity whose name ends in "/history" can still be read, percent-encoded. */
static void test_entity_named_history(void **state)
{
	(void)state;
	char enc[1024], path[1200];
	json_t *r = call(&srv, "POST", "/api/v1/entities",
			 "{\"kind\": \"dataset\", \"namespace\": \"s3://audit-bucket\","
			 " \"name\": \"exports/history\", \"description\": \"audit exports\"}",
			 tok_write, 200);
	json_decref(r);
	th_urlencode(AUDIT, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/entities/%s", enc);
	json_t *e = call(&srv, "GET", path, NULL, NULL, 200);
	assert_string_equal(str_of(e, "id"), AUDIT);
	json_decref(e);
}

/* A partitioned HDFS path, many levels deep, is one entity id like any other. */
static void test_entity_deep_path(void **state)
{
	(void)state;
	char enc[1024], path[1200];
	json_t *r = call(&srv, "POST", "/api/v1/entities",
			 "{\"kind\": \"dataset\", \"namespace\": \"hdfs://namenode:8020\","
			 " \"name\": \"" DEEP_NAME "\"}", tok_write, 200);
	json_decref(r);
	json_t *e = call(&srv, "GET", "/api/v1/entities/" DEEP, NULL, NULL, 200);
	assert_string_equal(str_of(e, "id"), DEEP);
	assert_string_equal(str_of(e, "name"), DEEP_NAME);
	json_decref(e);
	th_urlencode(DEEP, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/entities/%s/history", enc);
	e = call(&srv, "GET", path, NULL, NULL, 200);
	assert_string_equal(str_of(e, "id"), DEEP);
	json_decref(e);
}

static void test_history_created(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "/api/v1/entities/%s/history", ORDERS);
	json_t *h = call(&srv, "GET", path, NULL, NULL, 200);
	assert_string_equal(str_of(h, "id"), ORDERS);
	json_t *changes = json_object_get(h, "changes");
	assert_true(json_array_size(changes) >= 1);
	assert_true(int_of(h, "total") >= 1);
	json_t *c = find_by(changes, "change", "created");
	assert_non_null(c);
	assert_string_equal(str_of(c, "source"), "api");
	assert_non_null(json_object_get(c, "at"));
	json_decref(h);
	/* limit/offset page the history */
	snprintf(path, sizeof(path), "/api/v1/entities/%s/history?limit=1", ORDERS);
	h = call(&srv, "GET", path, NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(h, "changes")), 1);
	json_decref(h);
}

static void test_patch(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "/api/v1/entities/%s", ORDERS);
	const char *patch = "{\"description\": \"Curated orders, one row per order\","
			    " \"tags\": [\"gold\"], \"owners\": [\"bob\"]}";
	/* needs a write token */
	expect_error(&srv, "PATCH", path, patch, NULL, 401, NULL);
	expect_error(&srv, "PATCH", path, patch, tok_read, 403, NULL);
	json_t *e = call(&srv, "PATCH", path, patch, tok_write, 200);
	assert_string_equal(str_of(e, "description"), "Curated orders, one row per order");
	json_decref(e);

	e = get_entity(ORDERS);
	assert_string_equal(str_of(e, "description"), "Curated orders, one row per order");
	json_t *tags = json_object_get(e, "tags"), *owners = json_object_get(e, "owners");
	assert_true(array_has_string(tags, "gold"));
	assert_true(array_has_string(tags, "pii")); /* the collector's tags stay */
	assert_true(array_has_string(owners, "bob"));
	assert_true(array_has_string(owners, "alice"));
	assert_int_equal(json_array_size(json_object_get(e, "fields")), 3);
	json_decref(e);

	snprintf(path, sizeof(path), "/api/v1/entities/%s/history", ORDERS);
	json_t *h = call(&srv, "GET", path, NULL, NULL, 200);
	json_t *c = find_by(json_object_get(h, "changes"), "source", "user");
	assert_non_null(c);
	json_decref(h);

	/* A collector's later description does not override the user's. */
	json_t *r = call(&srv, "POST", "/api/v1/entities",
			 "{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
			 " \"name\": \"shop.public.orders\", \"description\": \"orders v2\"}",
			 tok_write, 200);
	json_decref(r);
	e = get_entity(ORDERS);
	assert_string_equal(str_of(e, "description"), "Curated orders, one row per order");
	assert_string_equal(str_of(e, "source_description"), "orders v2");
	json_decref(e);
}

static void test_patch_errors(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "/api/v1/entities/%s", ORDERS);
	expect_error(&srv, "PATCH", path, "{\"name\": \"renamed\"}", tok_write, 400, "name");
	expect_error(&srv, "PATCH", path, "[1, 2]", tok_write, 400, NULL);
	expect_error(&srv, "PATCH", path, "{\"tags\": ", tok_write, 400, NULL);
	expect_error(&srv, "PATCH", "/api/v1/entities/dataset:postgres://db.local:5432:shop.x.none",
		     "{\"description\": \"x\"}", tok_write, 404, NULL);
	json_t *e = get_entity(ORDERS);
	assert_string_equal(str_of(e, "name"), "shop.public.orders");
	json_decref(e);
}

/* --- search ------------------------------------------------------------------------------ */

static void test_search_exact_first(void **state)
{
	(void)state;
	json_t *res = search("q=orders");
	json_t *hits = json_object_get(res, "hits");
	assert_true(json_array_size(hits) >= 3);
	json_t *first = json_array_get(hits, 0);
	assert_string_equal(str_of(first, "id"), ORDERS);
	assert_true(json_is_true(json_object_get(first, "exact")));
	const char *hl = json_string_value(json_object_get(json_object_get(first, "highlights"),
							   "name"));
	assert_non_null(hl);
	assert_non_null(strstr(hl, "<mark>"));
	assert_true(int_of(res, "total") >= 3);
	json_t *facets = json_object_get(res, "facets");
	assert_true(json_is_object(json_object_get(facets, "kind")));
	assert_true(int_of(json_object_get(facets, "kind"), "dataset") >= 1);
	assert_true(json_is_object(json_object_get(facets, "platform")));
	assert_true(int_of(json_object_get(facets, "platform"), "postgres") >= 1);
	json_decref(res);
}

static void test_search_prefix_and_column(void **state)
{
	(void)state;
	json_t *res = search("q=ord");
	assert_true(hits_have(res, ORDERS));
	json_decref(res);
	/* A column name finds its table. */
	res = search("q=amount_cents");
	assert_true(hits_have(res, ORDERS));
	assert_false(hits_have(res, ITEMS));
	json_decref(res);
	res = search("q=no_such_thing_anywhere");
	assert_int_equal(int_of(res, "total"), 0);
	assert_int_equal(json_array_size(json_object_get(res, "hits")), 0);
	json_decref(res);
}

static void test_search_filters(void **state)
{
	(void)state;
	size_t i;
	json_t *h;
	json_t *res = search("q=orders&kind=job");
	assert_true(json_array_size(json_object_get(res, "hits")) >= 1);
	assert_true(hits_have(res, LOAD_JOB));
	json_array_foreach(json_object_get(res, "hits"), i, h)
		assert_string_equal(str_of(h, "kind"), "job");
	json_decref(res);

	res = search("q=orders&platform=kafka");
	assert_true(hits_have(res, TOPIC));
	json_array_foreach(json_object_get(res, "hits"), i, h)
		assert_string_equal(str_of(h, "platform"), "kafka");
	json_decref(res);

	res = search("q=orders&tag=pii");
	assert_true(hits_have(res, ORDERS));
	assert_false(hits_have(res, ITEMS));
	json_decref(res);
}

static void test_search_paging(void **state)
{
	(void)state;
	json_t *a = search("limit=3&offset=0");
	json_t *b = search("limit=3&offset=3");
	json_t *ha = json_object_get(a, "hits"), *hb = json_object_get(b, "hits");
	assert_int_equal(json_array_size(ha), 3);
	assert_int_equal(json_array_size(hb), 3);
	assert_int_equal(int_of(a, "limit"), 3);
	assert_int_equal(int_of(b, "offset"), 3);
	assert_true(int_of(a, "total") >= 8);
	assert_int_equal(int_of(a, "total"), int_of(b, "total"));
	size_t i;
	json_t *h;
	json_array_foreach(ha, i, h)
		assert_null(find_by(hb, "id", str_of(h, "id")));
	json_decref(a);
	json_decref(b);
}

static void test_search_bad_params(void **state)
{
	(void)state;
	expect_error(&srv, "GET", "/api/v1/search?q=orders&limit=0", NULL, NULL, 400, "limit");
	expect_error(&srv, "GET", "/api/v1/search?q=orders&limit=abc", NULL, NULL, 400, "limit");
	expect_error(&srv, "GET", "/api/v1/search?q=orders&limit=100000", NULL, NULL, 400, "limit");
	expect_error(&srv, "GET", "/api/v1/search?q=orders&offset=-1", NULL, NULL, 400, "offset");
	expect_error(&srv, "GET", "/api/v1/search?stale=maybe", NULL, NULL, 400, "stale");
	char path[1200] = "/api/v1/search?q=";
	size_t n = strlen(path);
	memset(path + n, 'a', 600);
	path[n + 600] = '\0';
	expect_error(&srv, "GET", path, NULL, NULL, 400, "q");
}

/* --- lineage ----------------------------------------------------------------------------- */

static void test_lineage_json(void **state)
{
	(void)state;
	json_t *g = lineage(ORDERS, "&depth=2&direction=downstream");
	assert_string_equal(str_of(g, "root"), ORDERS);
	assert_int_equal(int_of(g, "depth"), 2);
	assert_string_equal(str_of(g, "direction"), "downstream");
	assert_int_equal(node_depth(g, ORDERS), 0);
	assert_int_equal(node_depth(g, LOAD_JOB), 1);
	assert_int_equal(node_depth(g, TOPIC), 2);
	assert_int_equal(node_depth(g, SESSIONS), 2);
	assert_int_equal(node_depth(g, AGG_JOB), -100); /* three hops away */
	assert_int_equal(node_depth(g, ITEMS), -100);   /* upstream, not asked for */
	json_t *edges = json_object_get(g, "edges");
	assert_true(has_edge(edges, ORDERS, LOAD_JOB));
	assert_true(has_edge(edges, LOAD_JOB, TOPIC));
	assert_false(has_edge(edges, ITEMS, ORDERS)); /* a relationship, not lineage */

	/* Marquez's shape */
	json_t *graph = json_object_get(g, "graph");
	assert_int_equal(json_array_size(graph), json_array_size(json_object_get(g, "nodes")));
	json_t *job = find_by(graph, "id", LOAD_JOB);
	assert_non_null(job);
	assert_string_equal(str_of(job, "type"), "JOB");
	assert_string_equal(str_of(json_object_get(job, "data"), "namespace"),
			    "airflow://scheduler.local");
	assert_string_equal(str_of(json_object_get(job, "data"), "name"), "etl_orders.load_orders");
	json_t *in = find_by(json_object_get(job, "inEdges"), "origin", ORDERS);
	assert_non_null(in);
	assert_string_equal(str_of(in, "destination"), LOAD_JOB);
	assert_non_null(find_by(json_object_get(job, "outEdges"), "destination", TOPIC));
	json_t *ds = find_by(graph, "id", TOPIC);
	assert_non_null(ds);
	assert_string_equal(str_of(ds, "type"), "DATASET");
	json_decref(g);

	/* Every hop counts, jobs included: revenue_daily is four hops down. */
	g = lineage(ORDERS, "&depth=4&direction=downstream");
	assert_int_equal(node_depth(g, AGG_JOB), 3);
	assert_int_equal(node_depth(g, DAILY), 4);
	json_decref(g);
	g = lineage(DAILY, "&depth=4&direction=upstream");
	assert_int_equal(node_depth(g, DAILY), 0);
	assert_int_equal(node_depth(g, AGG_JOB), -1);
	assert_int_equal(node_depth(g, ORDERS), -4);
	assert_int_equal(node_depth(g, CUSTOMERS), -4);
	assert_int_equal(node_depth(g, SESSIONS), -100); /* downstream of the job */
	json_decref(g);
	/* both directions, the default depth (3) */
	g = lineage(TOPIC, "");
	assert_int_equal(node_depth(g, LOAD_JOB), -1);
	assert_int_equal(node_depth(g, ORDERS), -2);
	assert_int_equal(node_depth(g, DAILY), 2);
	json_decref(g);
}

static void svg_request(const char *extra, struct th_resp *r)
{
	char enc[1024], path[2048];
	th_urlencode(ORDERS, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&format=svg%s", enc, extra);
	assert_int_equal(th_req(&srv, "GET", path, NULL, 0, NULL, NULL, r), 0);
	if (r->status != 200)
		fprintf(stderr, "svg: status %ld: %.300s\n", r->status, r->body);
	assert_int_equal(r->status, 200);
	assert_non_null(strstr(r->ctype, "image/svg+xml"));
	assert_non_null(strstr(r->body, "<svg"));
}

static void test_lineage_svg_cache(void **state)
{
	(void)state;
	struct th_resp a, b, c;
	char h[64];
	svg_request("&depth=2&direction=downstream", &a);
	assert_int_equal(th_header(&a, "X-Terrarium-Cache", h, sizeof(h)), 0);
	assert_string_equal(h, "miss");
	assert_non_null(strstr(a.body, "orders_enriched"));
	svg_request("&depth=2&direction=downstream", &b);
	assert_int_equal(th_header(&b, "X-Terrarium-Cache", h, sizeof(h)), 0);
	assert_string_equal(h, "hit");
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.body, b.body, a.len);
	/* A change to the catalog makes the cached drawing stale. */
	json_t *r = call(&srv, "POST", "/api/v1/entities",
			 "{\"kind\": \"dataset\", \"namespace\": \"kafka://broker1:9092\","
			 " \"name\": \"orders_enriched\", \"description\": \"enriched orders\"}",
			 tok_write, 200);
	json_decref(r);
	svg_request("&depth=2&direction=downstream", &c);
	assert_int_equal(th_header(&c, "X-Terrarium-Cache", h, sizeof(h)), 0);
	assert_string_equal(h, "miss");
	th_resp_free(&a);
	th_resp_free(&b);
	th_resp_free(&c);
}

static void test_lineage_dot(void **state)
{
	(void)state;
	char enc[1024], path[2048];
	struct th_resp r;
	th_urlencode(LOAD_JOB, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&format=dot&depth=1", enc);
	assert_int_equal(th_req(&srv, "GET", path, NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "digraph"));
	assert_non_null(strstr(r.body, "orders_enriched"));
	assert_non_null(strstr(r.ctype, "text/vnd.graphviz"));
	th_resp_free(&r);
}

static void test_lineage_errors(void **state)
{
	(void)state;
	char enc[1024], path[2048];
	th_urlencode(ORDERS, enc, sizeof(enc));
	expect_error(&srv, "GET", "/api/v1/lineage", NULL, NULL, 400, "nodeId");
	expect_error(&srv, "GET", "/api/v1/lineage?depth=2", NULL, NULL, 400, "nodeId");
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&depth=11", enc);
	expect_error(&srv, "GET", path, NULL, NULL, 400, "depth");
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&depth=-1", enc);
	expect_error(&srv, "GET", path, NULL, NULL, 400, "depth");
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&direction=sideways", enc);
	expect_error(&srv, "GET", path, NULL, NULL, 400, "direction");
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&format=png", enc);
	expect_error(&srv, "GET", path, NULL, NULL, 400, "format");
	th_urlencode("dataset:postgres://db.local:5432:shop.public.nope", enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s", enc);
	expect_error(&srv, "GET", path, NULL, NULL, 404, NULL);
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&format=svg", enc);
	expect_error(&srv, "GET", path, NULL, NULL, 404, NULL);
}

/* --- services, static UI, routing ------------------------------------------------------- */

static void test_services(void **state)
{
	(void)state;
	struct th_resp r;
	assert_int_equal(th_req(&srv, "GET", "/api/v1/services", NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	/* Settings that may hold secrets never leave the server. */
	assert_null(strstr(r.body, "pw-never-leaves"));
	json_t *doc = json_loadb(r.body, r.len, 0, NULL);
	th_resp_free(&r);
	assert_non_null(doc);
	json_t *list = json_object_get(doc, "services");
	assert_int_equal(json_array_size(list), 2);
	json_t *s = find_by(list, "name", "orders-db");
	assert_non_null(s);
	assert_string_equal(str_of(s, "group"), "Databases");
	assert_string_equal(str_of(s, "url"), "postgres://127.0.0.1:5432");
	assert_non_null(json_object_get(s, "status"));
	assert_non_null(find_by(list, "name", "cache"));
	json_decref(doc);
}

static void test_static_ui(void **state)
{
	(void)state;
	struct th_resp r;
	char csp[512];
	assert_int_equal(th_req(&srv, "GET", "/", NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.ctype, "text/html"));
	assert_non_null(strstr(r.body, "<html"));
	assert_int_equal(th_header(&r, "Content-Security-Policy", csp, sizeof(csp)), 0);
	assert_non_null(strstr(csp, "default-src"));
	th_resp_free(&r);
	/* The UI's own routes are served the page too. */
	assert_int_equal(th_req(&srv, "GET", "/entity/some-id", NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.ctype, "text/html"));
	th_resp_free(&r);
	/* Also the entity links of the lineage SVG, whose ids hold dots. */
	assert_int_equal(th_req(&srv, "GET",
				"/entity/dataset%3Apostgres%3A%2F%2Fdb%3A5432%3Ashop.public.orders",
				NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.ctype, "text/html"));
	th_resp_free(&r);
	assert_int_equal(th_req(&srv, "GET", "/no-such-file.js", NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 404);
	th_resp_free(&r);
}

static void test_routing_errors(void **state)
{
	(void)state;
	expect_error(&srv, "GET", "/api/v1/nope", NULL, NULL, 404, NULL);
	expect_error(&srv, "GET", "/api/v2/search", NULL, NULL, 404, NULL);
	expect_error(&srv, "POST", "/api/v1/nope", "{}", tok_write, 404, NULL);
	expect_error(&srv, "DELETE", "/api/v1/search", NULL, NULL, 405, NULL);
	expect_error(&srv, "POST", "/healthz", "{}", NULL, 405, NULL);
	char path[512];
	snprintf(path, sizeof(path), "/api/v1/entities/%s", ORDERS);
	expect_error(&srv, "PUT", path, "{}", tok_write, 405, NULL);
	expect_error(&srv, "DELETE", path, NULL, tok_admin, 405, NULL);
	/* nothing was deleted */
	json_t *e = get_entity(ORDERS);
	json_decref(e);
}

/* --- errors ---------------------------------------------------------------------------------- */

static void test_unknown_entity(void **state)
{
	(void)state;
	expect_error(&srv, "GET", "/api/v1/entities/dataset:postgres://db.local:5432:shop.x.none",
		     NULL, NULL, 404, NULL);
	expect_error(&srv, "GET",
		     "/api/v1/entities/dataset:postgres://db.local:5432:shop.x.none/history", NULL,
		     NULL, 404, NULL);
}

static void test_malformed_json(void **state)
{
	(void)state;
	expect_error(&srv, "POST", "/api/v1/entities", "{\"kind\": \"dataset\", \"name\": ", tok_write,
		     400, "line");
	expect_error(&srv, "POST", "/api/v1/entities", "42", tok_write, 400, NULL);
	expect_error(&srv, "POST", "/api/v1/entities", "", tok_write, 400, NULL);
}

static void test_missing_name_writes_nothing(void **state)
{
	(void)state;
	static const char bad[] =
		"{\"entities\": ["
		" {\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
		"  \"name\": \"shop.staging.zebra_alpha\"},"
		" {\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
		"  \"description\": \"has no name\"},"
		" {\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
		"  \"name\": \"shop.staging.zebra_gamma\"}]}";
	json_t *doc = call(&srv, "POST", "/api/v1/entities", bad, tok_write, 400);
	check_error(doc, "name");
	check_error(doc, "entities[1]");
	json_decref(doc);
	json_t *res = search("q=zebra");
	assert_int_equal(int_of(res, "total"), 0);
	json_decref(res);
	expect_error(&srv, "GET", "/api/v1/entities/dataset:postgres://db.local:5432:shop.staging."
		     "zebra_alpha", NULL, NULL, 404, NULL);

	/* A bad edge also rejects the whole batch. */
	static const char bad_edge[] =
		"{\"entities\": [{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
		"  \"name\": \"shop.staging.zebra_delta\"}],"
		" \"edges\": [{\"src\": \"" ORDERS "\"}]}";
	doc = call(&srv, "POST", "/api/v1/entities", bad_edge, tok_write, 400);
	check_error(doc, "edges[0]");
	json_decref(doc);
	res = search("q=zebra");
	assert_int_equal(int_of(res, "total"), 0);
	json_decref(res);
}

static void test_body_limit(void **state)
{
	(void)state;
	/* max_body is 64 KiB: 100 KiB is refused, 60 KiB is not. */
	size_t big = 100 * 1024;
	char *body = malloc(big + 256);
	assert_non_null(body);
	int n = snprintf(body, 256, "{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
				    " \"name\": \"shop.staging.big\", \"description\": \"");
	memset(body + n, 'x', big);
	strcpy(body + n + big, "\"}");
	json_t *doc = call(&srv, "POST", "/api/v1/entities", body, tok_write, 413);
	check_error(doc, NULL);
	json_decref(doc);
	expect_error(&srv, "GET", "/api/v1/entities/dataset:postgres://db.local:5432:shop.staging.big",
		     NULL, NULL, 404, NULL);
	strcpy(body + n + 60 * 1024, "\"}");
	doc = call(&srv, "POST", "/api/v1/entities", body, tok_write, 200);
	json_decref(doc);
	doc = get_entity("dataset:postgres://db.local:5432:shop.staging.big");
	assert_int_equal(strlen(str_of(doc, "description")), 60 * 1024);
	json_decref(doc);
	free(body);
}

/* --- auth ------------------------------------------------------------------------------------- */

static void test_auth_default(void **state)
{
	(void)state;
	static const char one[] = "{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
				  " \"name\": \"shop.auth.t1\"}";
	json_t *d = call(&srv, "GET", "/api/v1/search?q=orders", NULL, NULL, 200);
	json_decref(d);
	d = call(&srv, "GET", "/api/v1/entities/" ORDERS, NULL, NULL, 200);
	json_decref(d);
	expect_error(&srv, "POST", "/api/v1/entities", one, NULL, 401, NULL);
	expect_error(&srv, "POST", "/api/v1/entities", one, tok_read, 403, NULL);
	expect_error(&srv, "POST", "/api/v1/entities", one, tok_ingest, 403, NULL);
	expect_error(&srv, "POST", "/api/v1/entities", one, "trm_notavalidtokenatallnotavalidtokenatall00",
		     401, NULL);
	expect_error(&srv, "GET", "/api/v1/search?q=orders", NULL, "trm_bogus", 401, NULL);
	d = call(&srv, "GET", "/api/v1/entities/dataset:postgres://db.local:5432:shop.auth.t1", NULL,
		 NULL, 404);
	json_decref(d);
	d = call(&srv, "POST", "/api/v1/entities", one, tok_admin, 200);
	assert_int_equal(int_of(d, "created"), 1);
	json_decref(d);
	d = call(&srv, "GET", "/api/v1/search?q=orders", NULL, tok_write, 200);
	json_decref(d);
	d = call(&srv, "GET", "/api/v1/search?q=orders", NULL, tok_admin, 200);
	json_decref(d);
}

static void test_auth_closed(void **state)
{
	(void)state;
	static const char one[] = "{\"kind\": \"dataset\", \"namespace\": \"postgres://db.local:5432\","
				  " \"name\": \"shop.auth.closed\"}";
	expect_error(&closed_srv, "GET", "/api/v1/search?q=closed", NULL, NULL, 401, NULL);
	expect_error(&closed_srv, "GET", "/api/v1/entities/" ORDERS, NULL, NULL, 401, NULL);
	expect_error(&closed_srv, "GET", "/api/v1/search?q=closed", NULL, "trm_bogus", 401, NULL);
	json_t *d = call(&closed_srv, "GET", "/api/v1/search?q=closed", NULL, ctok_read, 200);
	json_decref(d);
	expect_error(&closed_srv, "POST", "/api/v1/entities", one, ctok_read, 403, NULL);
	expect_error(&closed_srv, "POST", "/api/v1/entities", one, NULL, 401, NULL);
	d = call(&closed_srv, "POST", "/api/v1/entities", one, ctok_write, 200);
	json_decref(d);
	d = call(&closed_srv, "GET", "/api/v1/search?q=closed", NULL, ctok_read, 200);
	assert_int_equal(int_of(d, "total"), 1);
	json_decref(d);
	/* probes stay open */
	d = call(&closed_srv, "GET", "/healthz", NULL, NULL, 200);
	json_decref(d);
	/* the token may come as X-API-Key too */
	char raw[512], *reply = NULL;
	int n = snprintf(raw, sizeof(raw),
			 "GET /api/v1/search?q=closed HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "X-API-Key: %s\r\nConnection: close\r\n\r\n", ctok_read);
	assert_true(th_raw(&closed_srv, raw, (size_t)n, 0, 3000, &reply) > 0);
	assert_int_equal(th_raw_status(reply), 200);
	free(reply);
}

static int file_contains(const char *path, const char *needle)
{
	size_t len = 0;
	char *buf = th_read_file(path, &len);
	int found = buf && memmem(buf, len, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static void test_token_cli(void **state)
{
	(void)state;
	char *out = NULL;
	const char *args[] = { "token", "create", "--scope", "read", "--label", "ci", NULL };
	assert_int_equal(th_cli(&srv, &out, args), 0);
	assert_non_null(out);
	size_t len = strlen(out);
	assert_true(len > 0 && out[len - 1] == '\n');
	out[--len] = '\0';
	char *last = strrchr(out, '\n');
	last = last ? last + 1 : out;
	assert_int_equal(strlen(last), 47);
	assert_memory_equal(last, "trm_", 4);
	for (const char *p = last + 4; *p; p++)
		assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
	/* it works */
	json_t *d = call(&srv, "GET", "/api/v1/search?q=orders", NULL, last, 200);
	json_decref(d);
	/* The catalog keeps the hash (hex SHA-256), never the token. */
	unsigned char md[32];
	unsigned int mdlen = 0;
	char hex[65], db[400], wal[400];
	assert_int_equal(EVP_Digest(last, strlen(last), md, &mdlen, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	snprintf(db, sizeof(db), "%s/catalog.db", srv.dir);
	snprintf(wal, sizeof(wal), "%s/catalog.db-wal", srv.dir);
	assert_false(file_contains(db, last));
	assert_false(file_contains(wal, last));
	assert_true(file_contains(db, hex) || file_contains(wal, hex));
	free(out);

	const char *bad[] = { "token", "create", "--scope", "root", NULL };
	assert_int_equal(th_cli(&srv, NULL, bad), 2);
}

int main(void)
{
	const struct CMUnitTest api[] = {
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_readyz),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_openapi),
		cmocka_unit_test(test_batch_counts),
		cmocka_unit_test(test_entity_raw_id),
		cmocka_unit_test(test_entity_encoded_id),
		cmocka_unit_test(test_entity_named_history),
		cmocka_unit_test(test_entity_deep_path),
		cmocka_unit_test(test_history_created),
		cmocka_unit_test(test_patch),
		cmocka_unit_test(test_patch_errors),
		cmocka_unit_test(test_search_exact_first),
		cmocka_unit_test(test_search_prefix_and_column),
		cmocka_unit_test(test_search_filters),
		cmocka_unit_test(test_search_paging),
		cmocka_unit_test(test_search_bad_params),
		cmocka_unit_test(test_lineage_json),
		cmocka_unit_test(test_lineage_dot),
		cmocka_unit_test(test_lineage_errors),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_static_ui),
		cmocka_unit_test(test_routing_errors),
		cmocka_unit_test(test_unknown_entity),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_missing_name_writes_nothing),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_auth_default),
		cmocka_unit_test(test_token_cli),
		cmocka_unit_test(test_lineage_svg_cache),
	};
	const struct CMUnitTest closed[] = {
		cmocka_unit_test(test_auth_closed),
	};
	int failed = cmocka_run_group_tests_name("http_api", api, setup_main, teardown_main);
	failed += cmocka_run_group_tests_name("http_api_closed", closed, setup_closed,
					      teardown_closed);
	return failed ? 1 : 0;
}
