/*
 * Lineage across platforms, end to end: the real server crawls a real
 * PostgreSQL, librdkafka's mock Kafka cluster (with Kafka Connect answers)
 * and a real Redis, and replays MLflow's and Airflow's recorded answers over
 * HTTP; then one connected lineage path must cross at least three
 * platforms, found over the public API the way the UI finds it.
 *
 * The path, each hop asserted by a different collector:
 *
 *   airflow  job      producer_orders.publish_orders      (Airflow: producing task)
 *     -> postgres dataset postgres.public.orders          (Airflow dataset URI; PostgreSQL crawl)
 *     -> kafka-connect job orders-cdc                     (Kafka Connect: Debezium source)
 *     -> kafka  dataset shop.public.orders                (Kafka crawl: the topic)
 *     -> kafka  job consumer-group/billing                (Kafka crawl: committed offsets)
 *   and postgres.public.orders -> postgres.public.orders_daily (PostgreSQL: a view)
 *
 * Names follow OpenLineage (docs/identity.md), which is what makes the nodes
 * meet: the Airflow dataset postgres://127.0.0.1:P/postgres/public/orders and
 * the Debezium connector's database.hostname/port/dbname both land on the
 * table the PostgreSQL collector crawled.
 *
 * What is recorded and what is derived: MLflow and Airflow answer from
 * ../shared/fixtures (real servers' answers).  Airflow's /datasets is the
 * recorded answer with one change, made here mechanically: the first
 * dataset's URI becomes the PostgreSQL table's URI (the recording's is an s3
 * path no other collector crawls).  Kafka Connect's answers are written here
 * in the shape its REST API documents (there is no recording of one).
 *
 * The collectors run on the server's scheduler (each runs once at start on a
 * fresh catalog); the test waits for every run to succeed, bounded in time.
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
#include <time.h>
#include <unistd.h>

#include "tests/lib/harness.h"
#include "tests/lib/kafkamock.h"
#include "tests/lib/pg.h"
#include "tests/lib/redis.h"
#include "tests/lib/replay.h"

#define RUNS_WAIT_S 90   /* every collector's first run */
#define TOPIC "shop.public.orders"

static struct pg_test_server pg;
static struct redis_test_server rs;
static struct kafkamock *km;
static struct replay_server *mlflow, *airflow, *kconnect;
static struct th_server srv;
static int pg_up, rs_up, srv_up;

static const char *const collectors[] = { "postgres", "kafka", "redis", "mlflow", "airflow" };
#define N_COLLECTORS (sizeof(collectors) / sizeof(collectors[0]))

/* --- the peers ------------------------------------------------------------------------- */

static int start_pg(char *err, size_t errlen)
{
	if (pg_test_start(&pg, err, errlen) < 0)
		return -1;
	pg_up = 1;
	return pg_test_exec(&pg,
			    "create table public.orders (id int primary key, amount numeric);"
			    "insert into public.orders values (1, 9.5), (2, 20);"
			    "create view public.orders_daily as select count(*) as n, sum(amount) "
			    "as total from public.orders;",
			    err, errlen);
}

static int start_kafka(char *err, size_t errlen)
{
	km = kafkamock_start(1, err, errlen);
	if (!km)
		return -1;
	if (kafkamock_topic(km, TOPIC, 2, err, errlen) < 0 ||
	    kafkamock_produce(km, TOPIC, 0, 10, err, errlen) < 0 ||
	    kafkamock_produce(km, TOPIC, 1, 5, err, errlen) < 0 ||
	    kafkamock_commit(km, "billing", TOPIC, 0, 4, err, errlen) < 0 ||
	    kafkamock_commit(km, "billing", TOPIC, 1, 5, err, errlen) < 0)
		return -1;
	return 0;
}

/* Kafka Connect with one Debezium PostgreSQL source connector reading the
 * crawled table into TOPIC. */
static int start_connect(char *err, size_t errlen)
{
	struct replay_config rc = { .flavor = REPLAY_PLAIN };
	kconnect = replay_start(&rc, err, errlen);
	if (!kconnect)
		return -1;
	char port[16];
	snprintf(port, sizeof(port), "%d", pg.port);
	json_t *config = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "connector.class",
		"io.debezium.connector.postgresql.PostgresConnector", "name", "orders-cdc",
		"database.hostname", "127.0.0.1", "database.port", port, "database.user", "postgres",
		"database.dbname", "postgres", "topic.prefix", "shop", "table.include.list",
		"public.orders", "tasks.max", "1");
	json_t *all = json_pack(
		"{s:{s:{s:s, s:o, s:[{s:s, s:i}], s:s}, s:{s:s, s:{s:s, s:s}, s:[{s:i, s:s, s:s}], "
		"s:s}}}",
		"orders-cdc", "info", "name", "orders-cdc", "config", config, "tasks", "connector",
		"orders-cdc", "task", 0, "type", "source", "status", "name", "orders-cdc", "connector",
		"state", "RUNNING", "worker_id", "10.0.0.7:8083", "tasks", "id", 0, "state", "RUNNING",
		"worker_id", "10.0.0.7:8083", "type", "source");
	json_t *topics = json_pack("{s:{s:[s]}}", "orders-cdc", "topics", TOPIC);
	char *a = json_dumps(all, JSON_COMPACT), *t = json_dumps(topics, JSON_COMPACT);
	int rc2 = a && t &&
			  replay_add(kconnect, "GET", "/connectors?expand=info&expand=status", 200, NULL,
				     a, strlen(a)) == 0 &&
			  replay_add(kconnect, "GET", "/connectors/orders-cdc/topics", 200, NULL, t,
				     strlen(t)) == 0
		  ? 0
		  : -1;
	if (rc2 < 0)
		snprintf(err, errlen, "cannot add the Kafka Connect answers");
	free(a);
	free(t);
	json_decref(all);
	json_decref(topics);
	return rc2;
}

static int start_mlflow(char *err, size_t errlen)
{
	struct replay_config rc = { .flavor = REPLAY_MLFLOW, .dir = "../shared/fixtures/mlflow" };
	mlflow = replay_start(&rc, err, errlen);
	if (!mlflow)
		return -1;
	/* MLflow 2.x answers its health check with "OK" (not in the recordings). */
	return replay_add(mlflow, "GET", "/health", 200, "text/plain; charset=utf-8", "OK", 2);
}

/* Airflow, with the recorded /datasets changed as the header says. */
static int start_airflow(char *err, size_t errlen)
{
	struct replay_config rc = { .flavor = REPLAY_AIRFLOW, .dir = "../shared/fixtures/airflow",
				    .user = "admin", .password = "admin" };
	airflow = replay_start(&rc, err, errlen);
	if (!airflow)
		return -1;
	json_error_t jerr;
	json_t *doc = json_load_file("../shared/fixtures/airflow/datasets.json", 0, &jerr);
	json_t *first = json_array_get(json_object_get(doc, "datasets"), 0);
	if (!first || !json_is_string(json_object_get(first, "uri"))) {
		snprintf(err, errlen, "the recorded datasets.json has no first dataset with a uri");
		json_decref(doc);
		return -1;
	}
	char uri[128];
	snprintf(uri, sizeof(uri), "postgres://127.0.0.1:%d/postgres/public/orders", pg.port);
	json_object_set_new(first, "uri", json_string(uri));
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	int rc2 = text ? replay_add(airflow, "GET", "/api/v1/datasets", 200, NULL, text,
				    strlen(text))
		       : -1;
	free(text);
	if (rc2 < 0)
		snprintf(err, errlen, "cannot add the derived /datasets answer");
	return rc2;
}

static int setup(void **state)
{
	(void)state;
	char err[1024] = "";
	if (start_pg(err, sizeof(err)) < 0 || start_kafka(err, sizeof(err)) < 0 ||
	    start_connect(err, sizeof(err)) < 0 || start_mlflow(err, sizeof(err)) < 0 ||
	    start_airflow(err, sizeof(err)) < 0) {
		fprintf(stderr, "e2e setup: %s\n", err);
		return -1;
	}
	if (redis_test_start(&rs, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "e2e setup: %s\n", err);
		return -1;
	}
	rs_up = 1;
	char out[256];
	if (redis_test_cmd(&rs, out, sizeof(out), err, sizeof(err), "XADD orders:stream * id 1") <
		    0 ||
	    redis_test_cmd(&rs, out, sizeof(out), err, sizeof(err),
			   "XGROUP CREATE orders:stream shipping 0") < 0 ||
	    redis_test_cmd(&rs, out, sizeof(out), err, sizeof(err), "SET session:abc x") < 0) {
		fprintf(stderr, "e2e setup: redis: %s\n", err);
		return -1;
	}

	static char cfg[4096];
	snprintf(cfg, sizeof(cfg),
		 "plugins = {\n"
		 "  postgres = { interval = 3600, dsn = \"%s\" },\n"
		 "  kafka = { interval = 3600, bootstrap = \"%s\", groups = { \"billing\" },\n"
		 "            connect = { url = \"%s\" } },\n"
		 "  redis = { interval = 3600, url = \"redis://127.0.0.1:%d\" },\n"
		 "  mlflow = { interval = 3600, url = \"%s\" },\n"
		 "  airflow = { interval = 3600, url = \"%s\", user = \"admin\", password = \"admin\" },\n"
		 "}\n",
		 pg.dsn, kafkamock_bootstraps(km), replay_url(kconnect), rs.port, replay_url(mlflow),
		 replay_url(airflow));
	if (th_start(&srv, cfg, NULL) < 0) {
		fprintf(stderr, "e2e setup: the server did not start\n");
		return -1;
	}
	srv_up = 1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (srv_up)
		th_stop(&srv);
	replay_stop(airflow);
	replay_stop(mlflow);
	replay_stop(kconnect);
	kafkamock_stop(km);
	if (rs_up)
		redis_test_stop(&rs);
	if (pg_up)
		pg_test_stop(&pg);
	return 0;
}

/* --- helpers ---------------------------------------------------------------------------- */

static json_t *get(const char *path)
{
	long status = 0;
	json_t *doc = NULL;
	assert_int_equal(th_json(&srv, "GET", path, NULL, NULL, &status, &doc), 0);
	if (status != 200)
		fail_msg("GET %s: %ld", path, status);
	assert_non_null(doc);
	return doc;
}

/* Wait until every collector's first run ended; fail naming any that failed. */
static void wait_for_runs(void)
{
	time_t deadline = time(NULL) + RUNS_WAIT_S;
	for (;;) {
		json_t *doc = get("/api/v1/plugins");
		json_t *list = json_object_get(doc, "plugins"), *p;
		size_t i, done = 0;
		char failed[2048] = "";
		json_array_foreach(list, i, p) {
			const char *name = json_string_value(json_object_get(p, "name"));
			const char *status = json_string_value(json_object_get(p, "status"));
			if (!name || !status)
				continue;
			for (size_t k = 0; k < N_COLLECTORS; k++) {
				if (strcmp(name, collectors[k]) != 0)
					continue;
				if (strcmp(status, "ok") == 0)
					done++;
				else if (strcmp(status, "failed") == 0 || strcmp(status, "disabled") == 0) {
					const char *e = json_string_value(json_object_get(p, "error"));
					size_t n = strlen(failed);
					snprintf(failed + n, sizeof(failed) - n, "%s: %s; ", name,
						 e ? e : "?");
				}
			}
		}
		json_decref(doc);
		if (failed[0])
			fail_msg("collector runs failed: %s", failed);
		if (done == N_COLLECTORS)
			return;
		if (time(NULL) > deadline)
			fail_msg("after %d s only %zu of %zu collectors had run", RUNS_WAIT_S, done,
				 N_COLLECTORS);
		usleep(200 * 1000);
	}
}

/* Whether the lineage graph DOC has an edge SRC -> DST. */
static int has_edge(json_t *doc, const char *src, const char *dst)
{
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(doc, "edges"), i, e) {
		const char *s = json_string_value(json_object_get(e, "src"));
		const char *d = json_string_value(json_object_get(e, "dst"));
		if (s && d && strcmp(s, src) == 0 && strcmp(d, dst) == 0)
			return 1;
	}
	return 0;
}

/* The platform of node ID in DOC, or NULL. */
static const char *platform_of(json_t *doc, const char *id)
{
	json_t *n;
	size_t i;
	json_array_foreach(json_object_get(doc, "nodes"), i, n) {
		const char *nid = json_string_value(json_object_get(n, "id"));
		if (nid && strcmp(nid, id) == 0)
			return json_string_value(json_object_get(n, "platform"));
	}
	return NULL;
}

/* --- the test ---------------------------------------------------------------------------- */

static void test_one_path_across_platforms(void **state)
{
	(void)state;
	wait_for_runs();

	char table[256], view[256], task[256], job[256], topic[256], group[256], path[1024],
		enc[768];
	snprintf(table, sizeof(table), "dataset:postgres://127.0.0.1:%d:postgres.public.orders",
		 pg.port);
	snprintf(view, sizeof(view), "dataset:postgres://127.0.0.1:%d:postgres.public.orders_daily",
		 pg.port);
	snprintf(task, sizeof(task), "job:airflow://127.0.0.1:%d:producer_orders.publish_orders",
		 replay_port(airflow));
	snprintf(job, sizeof(job), "job:kafka-connect://127.0.0.1:%d:orders-cdc",
		 replay_port(kconnect));
	snprintf(topic, sizeof(topic), "dataset:kafka://%s:" TOPIC, kafkamock_first(km));
	snprintf(group, sizeof(group), "job:kafka://%s:consumer-group/billing", kafkamock_first(km));

	/* Every node of the path is a crawled entity, not only an edge's end. */
	const char *const crawled[] = { table, view, task, topic, group };
	for (size_t i = 0; i < sizeof(crawled) / sizeof(crawled[0]); i++) {
		th_urlencode(crawled[i], enc, sizeof(enc));
		snprintf(path, sizeof(path), "/api/v1/entities/%s", enc);
		json_t *e = get(path);
		json_t *fields = json_object_get(e, "fields");
		if (crawled[i] == table)
			assert_true(json_array_size(fields) == 2); /* id, amount */
		json_decref(e);
	}

	/* The whole path, from the Airflow task downstream, in one lineage answer. */
	th_urlencode(task, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/lineage?nodeId=%s&direction=downstream&depth=5", enc);
	json_t *g = get(path);
	const char *const hops[][2] = {
		{ task, table }, { table, job }, { job, topic }, { topic, group }, { table, view },
	};
	for (size_t i = 0; i < sizeof(hops) / sizeof(hops[0]); i++)
		if (!has_edge(g, hops[i][0], hops[i][1]))
			fail_msg("no lineage edge %s -> %s", hops[i][0], hops[i][1]);

	/* Platforms along it: airflow, postgres, kafka-connect, kafka. */
	const char *const path_nodes[] = { task, table, job, topic, group };
	const char *seen[8];
	size_t nseen = 0;
	for (size_t i = 0; i < sizeof(path_nodes) / sizeof(path_nodes[0]); i++) {
		const char *p = platform_of(g, path_nodes[i]);
		if (!p)
			fail_msg("node %s is not in the lineage answer", path_nodes[i]);
		size_t k = 0;
		while (k < nseen && strcmp(seen[k], p) != 0)
			k++;
		if (k == nseen)
			seen[nseen++] = p;
	}
	if (nseen < 3)
		fail_msg("the path crosses only %zu platforms", nseen);
	assert_int_equal(nseen, 4);
	json_decref(g);

	/* The other collectors' worlds are in the same catalog: MLflow's model
	 * version (with its run upstream) and Redis's stream group. */
	snprintf(path, sizeof(path), "/api/v1/search?q=train-logreg&limit=5");
	json_t *s = get(path);
	assert_true(json_integer_value(json_object_get(s, "total")) >= 1);
	json_decref(s);
	char stream_group[256];
	snprintf(stream_group, sizeof(stream_group),
		 "job:redis://127.0.0.1:%d:0/orders:stream/consumer-group/shipping", rs.port);
	th_urlencode(stream_group, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/entities/%s", enc);
	json_decref(get(path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_path_across_platforms),
	};
	return cmocka_run_group_tests_name("lineage_e2e", tests, setup, teardown);
}
