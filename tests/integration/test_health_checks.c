/*
 * Dashboard health checks end to end: the real binary checks services on
 * real servers (PostgreSQL, redis-server, librdkafka's mock Kafka cluster, an
 * HTTP server in this process answering Airflow's recorded /health JSON and
 * MLflow's "OK", a port that refuses), and GET /api/v1/services shows what
 * it found, with history, uptime, secrets kept back; stopping Redis turns its
 * tile down; a discovered service is added and deleted with an admin token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hub/health.h"
#include "tests/lib/harness.h"
#include "tests/lib/kafkamock.h"
#include "tests/lib/pg.h"
#include "tests/lib/redis.h"

#define AIRFLOW_HEALTH "../shared/fixtures/airflow/health.json"
#define WAIT_MS 20000

static struct pg_test_server pg;
static struct redis_test_server rs;
static struct kafkamock *kafka;
static struct mg_context *web;
static int web_port, closed_port;
static char *airflow_ok, *airflow_sick, *airflow_nodb;
static struct th_server srv;
static char tok_admin[64], tok_read[64], tok_write[64];

/* --- a small HTTP server: /ok, /fail, Airflow's and MLflow's /health ------------ */

static void answer(struct mg_connection *c, int status, const char *ctype, const char *body)
{
	mg_printf(c,
		  "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		  "Connection: close\r\n\r\n%s",
		  status, ctype, strlen(body), body);
}

static int web_handler(struct mg_connection *c, void *ud)
{
	const char *uri = mg_get_request_info(c)->local_uri;

	(void)ud;
	if (strcmp(uri, "/ok") == 0)
		answer(c, 200, "text/plain", "all is fine here");
	else if (strcmp(uri, "/fail") == 0)
		answer(c, 503, "text/plain", "fine");
	/* Airflow answers 200 whatever its state: the JSON alone tells. */
	else if (strcmp(uri, "/af/health") == 0)
		answer(c, 200, "application/json", airflow_ok);
	else if (strcmp(uri, "/afsick/health") == 0)
		answer(c, 200, "application/json", airflow_sick);
	else if (strcmp(uri, "/afnodb/health") == 0)
		answer(c, 503, "application/json", airflow_nodb);
	else if (strcmp(uri, "/ml/health") == 0)
		answer(c, 200, "text/plain; charset=utf-8", "OK");
	else
		answer(c, 404, "text/plain", "no such page");
	return 200;
}

/* The recorded Airflow answer with COMPONENT's status set to STATUS. */
static char *airflow_with(const char *component, const char *status)
{
	json_error_t je;
	json_t *doc = json_load_file(AIRFLOW_HEALTH, 0, &je);
	char *text;

	if (!doc)
		fail_msg("cannot read %s: %s", AIRFLOW_HEALTH, je.text);
	if (component)
		json_object_set_new(json_object_get(doc, component), "status", json_string(status));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

/* A port of 127.0.0.1 that nothing listens on. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- setup ---------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	char err[512], cfg[8192];
	const char *opts[] = { "listening_ports", "127.0.0.1:0", "num_threads", "4", NULL };
	struct mg_callbacks cb;
	struct mg_server_port sp[2];

	(void)state;
	if (pg_test_start(&pg, err, sizeof(err)) < 0) {
		fprintf(stderr, "postgres: %s\n", err);
		return -1;
	}
	if (redis_test_start(&rs, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "redis: %s\n", err);
		return -1;
	}
	kafka = kafkamock_start(1, err, sizeof(err));
	if (!kafka) {
		fprintf(stderr, "kafka: %s\n", err);
		return -1;
	}
	airflow_ok = airflow_with(NULL, NULL);
	airflow_sick = airflow_with("scheduler", "unhealthy");
	airflow_nodb = airflow_with("metadatabase", "unhealthy");
	memset(&cb, 0, sizeof(cb));
	web = mg_start(&cb, NULL, opts);
	if (!web || mg_get_server_ports(web, 2, sp) < 1) {
		fprintf(stderr, "cannot start the test's HTTP server\n");
		return -1;
	}
	web_port = sp[0].port;
	mg_set_request_handler(web, "/", web_handler, NULL);
	closed_port = free_port();
	snprintf(cfg, sizeof(cfg),
		 "local web = 'http://127.0.0.1:%d'\n"
		 "services = {\n"
		 "  { name = 'Orders DB', group = 'Databases', icon = 'postgres', collector = 'postgres',\n"
		 "    description = 'the shop', href = 'http://127.0.0.1:%d/ok',\n"
		 "    password = 'neverleaks-1',\n"
		 "    check = { type = 'postgres', dsn = '%s password=neverleaks-2', interval = 1,\n"
		 "              timeout = 5 } },\n"
		 "  { name = 'Cache', group = 'Caches',\n"
		 "    check = { type = 'redis', url = '%s', interval = 1, timeout = 2 } },\n"
		 "  { name = 'Kafka', group = 'Streaming',\n"
		 "    check = { type = 'kafka', brokers = '%s', interval = 2, timeout = 5 } },\n"
		 "  { name = 'Kafka Gone', group = 'Streaming',\n"
		 "    check = { type = 'kafka', brokers = '127.0.0.1:%d', interval = 5, timeout = 1 } },\n"
		 "  { name = 'Refused', group = 'Web',\n"
		 "    check = { type = 'tcp', host = '127.0.0.1', port = %d, interval = 1 } },\n"
		 "  { name = 'Site', group = 'Web', url = 'http://bob:neverleaks-3@127.0.0.1/',\n"
		 "    check = { type = 'http', url = web .. '/ok', expect_status = { 200 },\n"
		 "              expect_body = 'fine', interval = 1 } },\n"
		 "  { name = 'Site 503', group = 'Web',\n"
		 "    check = { type = 'http', url = web .. '/fail', interval = 1 } },\n"
		 "  { name = 'Airflow', group = 'Pipelines',\n"
		 "    check = { type = 'airflow', url = web .. '/af/', interval = 1 } },\n"
		 "  { name = 'Airflow Sick', group = 'Pipelines',\n"
		 "    check = { type = 'airflow', url = web .. '/afsick', interval = 1 } },\n"
		 "  { name = 'Airflow No DB', group = 'Pipelines',\n"
		 "    check = { type = 'airflow', url = web .. '/afnodb', interval = 1 } },\n"
		 "  { name = 'MLflow', group = 'Pipelines',\n"
		 "    check = { type = 'mlflow', url = web .. '/ml', interval = 1 } },\n"
		 "  { name = 'Docs', href = 'https://docs.example' },\n"
		 "}\n"
		 "bookmarks = { { group = 'Links', name = 'Runbook', href = 'https://runbook.example',\n"
		 "                icon = 'book' } }\n",
		 web_port, web_port, pg.dsn, rs.url, kafkamock_bootstraps(kafka), closed_port,
		 closed_port);
	if (th_start(&srv, cfg, NULL) < 0) {
		fprintf(stderr, "cannot start terrarium\n");
		return -1;
	}
	if (th_token(&srv, "admin", tok_admin) < 0 || th_token(&srv, "read", tok_read) < 0 ||
	    th_token(&srv, "write", tok_write) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	th_stop(&srv);
	if (web)
		mg_stop(web);
	kafkamock_stop(kafka);
	redis_test_stop(&rs);
	pg_test_stop(&pg);
	free(airflow_ok);
	free(airflow_sick);
	free(airflow_nodb);
	return 0;
}

/* --- helpers -------------------------------------------------------------------------- */

static json_t *get_json(const char *path, long want)
{
	long status = 0;
	json_t *doc = NULL;

	assert_int_equal(th_json(&srv, "GET", path, NULL, NULL, &status, &doc), 0);
	if (status != want)
		fail_msg("GET %s: status %ld, wanted %ld", path, status, want);
	assert_non_null(doc);
	return doc;
}

static json_t *find_service(json_t *doc, const char *id)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(doc, "services"), i, s)
		if (strcmp(json_string_value(json_object_get(s, "id")), id) == 0)
			return s;
	return NULL;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (!s)
		fail_msg("no string '%s'", k);
	return s;
}

/* Wait until service ID has status STATUS (new reference to the whole answer). */
static json_t *wait_status(const char *id, const char *status, long max_ms)
{
	long long end = mono_ms() + max_ms;
	json_t *doc = NULL, *s;

	for (;;) {
		doc = get_json("/api/v1/services", 200);
		s = find_service(doc, id);
		if (s && strcmp(str(s, "status"), status) == 0)
			return doc;
		if (mono_ms() > end)
			fail_msg("service %s is %s (%s), not %s after %ld ms", id,
				 s ? str(s, "status") : "missing", s ? str(s, "detail") : "", status,
				 max_ms);
		json_decref(doc);
		sleep_ms(200);
	}
}

/* Wait until every service with a check was checked at least MIN times. */
static json_t *wait_all_checked(int min)
{
	long long end = mono_ms() + WAIT_MS;

	for (;;) {
		json_t *doc = get_json("/api/v1/services", 200), *s;
		size_t i;
		int ready = 1;

		json_array_foreach(json_object_get(doc, "services"), i, s) {
			json_t *h = json_object_get(s, "history"), *b;
			size_t k;
			long n = 0;

			if (json_is_null(json_object_get(s, "interval_s")))
				continue;
			json_array_foreach(h, k, b)
				n += (long)json_integer_value(json_object_get(b, "checks"));
			if (n < min)
				ready = 0;
		}
		if (ready)
			return doc;
		if (mono_ms() > end)
			fail_msg("not every service was checked %d times in %d ms", min, WAIT_MS);
		json_decref(doc);
		sleep_ms(200);
	}
}

static void expect(json_t *doc, const char *id, const char *status, const char *detail)
{
	json_t *s = find_service(doc, id);

	if (!s)
		fail_msg("no service %s", id);
	if (strcmp(str(s, "status"), status) != 0)
		fail_msg("%s: status %s (%s), wanted %s", id, str(s, "status"), str(s, "detail"),
			 status);
	if (detail && !strstr(str(s, "detail"), detail))
		fail_msg("%s: detail '%s' lacks '%s'", id, str(s, "detail"), detail);
	if (strcmp(status, "unknown") != 0) {
		assert_true(json_is_number(json_object_get(s, "latency_ms")));
		assert_true(json_number_value(json_object_get(s, "latency_ms")) >= 0);
		assert_true(json_is_string(json_object_get(s, "checked_at")));
	}
}

/* --- tests ---------------------------------------------------------------------------- */

static void test_statuses(void **state)
{
	json_t *doc, *s, *g;
	struct th_resp r;

	(void)state;
	doc = wait_all_checked(1);
	expect(doc, "orders-db", "up", "SELECT 1 ok");
	expect(doc, "cache", "up", "PONG");
	expect(doc, "kafka", "up", "1 broker");
	expect(doc, "kafka-gone", "down", "no broker answered within 1000 ms");
	expect(doc, "refused", "down", "connection refused");
	expect(doc, "site", "up", "HTTP 200");
	expect(doc, "site-503", "down", "HTTP 503");
	expect(doc, "airflow", "up", "scheduler and metadatabase healthy");
	expect(doc, "airflow-sick", "degraded", "scheduler unhealthy");
	expect(doc, "airflow-no-db", "down", "metadatabase unhealthy");
	expect(doc, "mlflow", "up", "OK");
	expect(doc, "docs", "unknown", "no check configured");
	/* A dead Kafka is given up on within its timeout, not sooner. */
	s = find_service(doc, "kafka-gone");
	assert_true(json_number_value(json_object_get(s, "latency_ms")) >= 900);
	assert_true(json_number_value(json_object_get(s, "latency_ms")) < 5000);

	/* The tile's fields. */
	s = find_service(doc, "orders-db");
	assert_string_equal(str(s, "name"), "Orders DB");
	assert_string_equal(str(s, "group"), "Databases");
	assert_string_equal(str(s, "icon"), "postgres");
	assert_string_equal(str(s, "type"), "postgres");
	assert_string_equal(str(s, "origin"), "config");
	assert_string_equal(str(s, "description"), "the shop");
	assert_string_equal(str(s, "collector"), "postgres");
	assert_true(json_is_object(json_object_get(s, "numbers")));
	assert_string_equal(str(find_service(doc, "site"), "url"), "http://127.0.0.1/");
	s = find_service(doc, "docs");
	assert_string_equal(str(s, "href"), "https://docs.example");
	assert_true(json_is_null(json_object_get(s, "uptime_24h")));
	assert_true(json_is_null(json_object_get(s, "checked_at")));

	/* Groups in the order of the config, with the same services. */
	g = json_object_get(doc, "groups");
	assert_int_equal(json_array_size(g), 6);
	assert_string_equal(str(json_array_get(g, 0), "name"), "Databases");
	assert_string_equal(str(json_array_get(g, 3), "name"), "Web");
	assert_int_equal(json_array_size(json_object_get(json_array_get(g, 3), "services")), 3);
	assert_string_equal(str(json_array_get(g, 5), "name"), "Services");
	assert_int_equal(json_array_size(json_object_get(doc, "services")), 12);
	assert_string_equal(str(json_array_get(json_object_get(doc, "bookmarks"), 0), "href"),
			    "https://runbook.example");
	assert_true(json_is_array(json_object_get(doc, "tiles")));
	json_decref(doc);

	/* Secrets never leave the server. */
	assert_int_equal(th_req(&srv, "GET", "/api/v1/services", NULL, 0, NULL, NULL, &r), 0);
	assert_null(strstr(r.body, "neverleaks"));
	assert_null(strstr(r.body, "password"));
	th_resp_free(&r);

	/* /metrics. */
	assert_int_equal(th_req(&srv, "GET", "/metrics", NULL, 0, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "terrarium_service_up{service=\"orders-db\"} 1\n"));
	assert_non_null(strstr(r.body, "terrarium_service_up{service=\"refused\"} 0\n"));
	assert_non_null(strstr(r.body, "terrarium_service_up{service=\"airflow-sick\"} 0\n"));
	assert_non_null(strstr(r.body, "terrarium_service_check_seconds{service=\"kafka\"} "));
	assert_null(strstr(r.body, "service=\"docs\""));
	th_resp_free(&r);

	/* `terrarium check` runs the same checks once from the command line. */
	char cfg[300], *out = NULL;
	snprintf(cfg, sizeof(cfg), "%s/terrarium.lua", srv.dir);
	const char *const args[] = { "check", "refused", "mlflow", "--config", cfg, NULL };
	assert_int_equal(th_cli(&srv, &out, args), 1); /* one of them is down */
	assert_non_null(out);
	assert_non_null(strstr(out, "refused"));
	assert_non_null(strstr(out, "connection refused"));
	assert_non_null(strstr(out, "mlflow"));
	assert_null(strstr(out, "orders-db"));
	free(out);
}

static void test_history(void **state)
{
	json_t *doc, *s, *pts, *p, *last = NULL;
	size_t i;

	(void)state;
	doc = wait_all_checked(3);
	s = find_service(doc, "refused");
	assert_true(json_number_value(json_object_get(s, "uptime_24h")) == 0.0);
	assert_string_equal(str(json_array_get(json_object_get(s, "history"), 0), "status"),
			    "down");
	assert_true(json_array_size(json_object_get(s, "history")) <= 48);
	s = find_service(doc, "site");
	assert_true(json_number_value(json_object_get(s, "uptime_24h")) == 1.0);
	json_decref(doc);

	doc = get_json("/api/v1/services/refused/history?hours=1", 200);
	assert_string_equal(str(doc, "id"), "refused");
	pts = json_object_get(doc, "points");
	assert_true(json_array_size(pts) >= 3);
	json_array_foreach(pts, i, p) {
		assert_string_equal(str(p, "status"), "down");
		assert_string_equal(str(p, "detail"), "connection refused");
		if (last)
			assert_true(strcmp(str(last, "t"), str(p, "t")) < 0); /* newest last */
		last = p;
	}
	json_decref(doc);
	doc = get_json("/api/v1/services/nobody/history", 404);
	json_decref(doc);
	doc = get_json("/api/v1/services/refused/history?hours=0", 400);
	json_decref(doc);
	doc = get_json("/api/v1/services/site", 200);
	assert_string_equal(str(doc, "status"), "up");
	json_decref(doc);
}

static void test_redis_goes_down(void **state)
{
	json_t *doc, *s;
	long long t0;

	(void)state;
	doc = wait_status("cache", "up", WAIT_MS);
	json_decref(doc);
	t0 = mono_ms();
	redis_test_stop(&rs);
	/* Checked every second with a 2 s timeout: down within a few seconds. */
	doc = wait_status("cache", "down", 10000);
	fprintf(stderr, "redis seen down after %lld ms\n", mono_ms() - t0);
	s = find_service(doc, "cache");
	assert_string_equal(str(s, "detail"), "connection refused");
	/* It was up, now it is down: uptime is neither. */
	assert_true(json_number_value(json_object_get(s, "uptime_24h")) > 0.0);
	assert_true(json_number_value(json_object_get(s, "uptime_24h")) < 1.0);
	json_decref(doc);
}

static void call(const char *method, const char *path, const char *body, const char *token,
		 long want, json_t **out)
{
	long status = 0;
	json_t *doc = NULL;

	assert_int_equal(th_json(&srv, method, path, body, token, &status, &doc), 0);
	if (status != want)
		fail_msg("%s %s: status %ld, wanted %ld", method, path, status, want);
	if (out)
		*out = doc;
	else
		json_decref(doc);
}

static void test_discovered(void **state)
{
	char body[1024];
	json_t *doc = NULL;

	(void)state;
	snprintf(body, sizeof(body),
		 "{\"name\": \"Extra Web\", \"group\": \"Found\", \"icon\": \"web\","
		 " \"check\": {\"type\": \"tcp\", \"host\": \"127.0.0.1\", \"port\": %d,"
		 " \"interval\": 1}}",
		 web_port);
	/* Only with an admin token. */
	call("POST", "/api/v1/services", body, NULL, 401, NULL);
	call("POST", "/api/v1/services", body, tok_read, 403, NULL);
	call("POST", "/api/v1/services", body, tok_write, 403, NULL);
	call("POST", "/api/v1/services", body, tok_admin, 201, &doc);
	assert_string_equal(str(doc, "id"), "extra-web");
	assert_string_equal(str(doc, "origin"), "discovered");
	assert_string_equal(str(doc, "group"), "Found");
	json_decref(doc);
	call("POST", "/api/v1/services", body, tok_admin, 409, NULL);
	call("POST", "/api/v1/services", "{\"name\": \"ORDERS db\"}", tok_admin, 409, NULL);
	call("POST", "/api/v1/services",
	     "{\"name\": \"Bad\", \"check\": {\"type\": \"tcp\", \"host\": \"h\", \"port\": 0}}",
	     tok_admin, 400, &doc);
	assert_non_null(strstr(str(doc, "detail"), "check.port"));
	json_decref(doc);
	call("POST", "/api/v1/services", "{\"name\": \"Bad\", \"dsn\": \"x\"}", tok_admin, 400,
	     NULL);
	call("POST", "/api/v1/services", "[1]", tok_admin, 400, NULL);

	/* It is checked like the configured ones, and listed in its group. */
	doc = wait_status("extra-web", "up", WAIT_MS);
	json_t *g = json_object_get(doc, "groups");
	assert_string_equal(str(json_array_get(g, json_array_size(g) - 1), "name"), "Found");
	json_decref(doc);

	/* From a catalog entity: its name and description. */
	call("POST", "/api/v1/entities",
	     "{\"kind\": \"service\", \"namespace\": \"redis://cache.local:6379\", \"name\": \"0\","
	     " \"display_name\": \"Session cache\", \"description\": \"sessions of the shop\"}",
	     tok_write, 200, NULL);
	call("POST", "/api/v1/services",
	     "{\"entity\": \"service:redis://cache.local:6379:0\", \"href\": \"/entity/x\"}",
	     tok_admin, 201, &doc);
	assert_string_equal(str(doc, "id"), "session-cache");
	assert_string_equal(str(doc, "description"), "sessions of the shop");
	assert_string_equal(str(doc, "status"), "unknown");
	json_decref(doc);
	call("POST", "/api/v1/services", "{\"entity\": \"service:nope:x\"}", tok_admin, 400, NULL);

	/* Deleting: discovered ones only, with an admin token. */
	call("DELETE", "/api/v1/services/orders-db", NULL, tok_admin, 409, NULL);
	call("DELETE", "/api/v1/services/extra-web", NULL, NULL, 401, NULL);
	call("DELETE", "/api/v1/services/extra-web", NULL, tok_read, 403, NULL);
	call("DELETE", "/api/v1/services/extra-web", NULL, tok_admin, 200, NULL);
	call("DELETE", "/api/v1/services/extra-web", NULL, tok_admin, 404, NULL);
	call("GET", "/api/v1/services/extra-web", NULL, NULL, 404, NULL);

	/* What is stored survives a restart, with its history. */
	assert_int_equal(th_terminate(&srv), 0);
	assert_int_equal(th_restart(&srv), 0);
	doc = get_json("/api/v1/services", 200);
	assert_non_null(find_service(doc, "session-cache"));
	assert_null(find_service(doc, "extra-web"));
	/* The last status is known before the first check after the restart (that
	 * of kafka-gone takes a second to fail). */
	assert_string_equal(str(find_service(doc, "kafka-gone"), "status"), "down");
	json_decref(doc);
}

/* Redis with a password: AUTH before PING (the check run in this process). */
static void test_redis_auth(void **state)
{
	struct redis_test_server sec;
	struct health_result r;
	char err[512], url[600];
	json_t *svc;

	(void)state;
	memset(&sec, 0, sizeof(sec));
	if (redis_test_start(&sec, "s3cret-pw", err, sizeof(err)) < 0)
		fail_msg("redis: %s", err);
	svc = json_pack("{s:s, s:{s:s, s:s, s:i}}", "name", "Secured", "check", "type", "redis",
			"url", sec.url, "timeout", 2);
	assert_int_equal(health_check_once(svc, &r), 0);
	assert_string_equal(r.status, "up");
	assert_string_equal(r.detail, "PONG");
	json_decref(svc);
	/* The password given apart from the URL, wrong. */
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", sec.port);
	svc = json_pack("{s:s, s:{s:s, s:s, s:s}}", "name", "Secured", "check", "type", "redis",
			"url", url, "password", "wrong-pw");
	assert_int_equal(health_check_once(svc, &r), 0);
	assert_string_equal(r.status, "down");
	assert_non_null(strstr(r.detail, "AUTH refused"));
	assert_null(strstr(r.detail, "wrong-pw"));
	json_decref(svc);
	/* No password at all: PING is refused. */
	svc = json_pack("{s:s, s:{s:s, s:s}}", "name", "Secured", "check", "type", "redis", "url",
			url);
	assert_int_equal(health_check_once(svc, &r), 0);
	assert_string_equal(r.status, "down");
	assert_non_null(strstr(r.detail, "PING"));
	json_decref(svc);
	redis_test_stop(&sec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_redis_goes_down),
		cmocka_unit_test(test_discovered),
		cmocka_unit_test(test_redis_auth),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
