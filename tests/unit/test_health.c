/*
 * Unit tests for the dashboard's health history (catalog/health.c), the
 * service rules and checks of hub/health.c, and the services/bookmarks keys
 * of the config (hub/config.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/health.h"
#include "hub/config.h"
#include "hub/health.h"

#define MIN_MS (60LL * 1000)
#define HOUR_MS (60 * MIN_MS)

struct fx {
	char dir[64];
	char path[128];
	struct catalog *cat;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_health.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/catalog.db", f->dir);
	f->cat = catalog_open(f->path, err, sizeof(err));
	if (!f->cat) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	catalog_close(f->cat);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record(struct catalog_health *hs, const char *svc, long long at, const char *status,
		   double lat)
{
	char err[256] = "";
	struct catalog_health_point p = { at, status, lat, "detail" };

	if (catalog_health_record(hs, svc, &p, err, sizeof(err)) != 0)
		fail_msg("record: %s", err);
}

/* --- the history store ----------------------------------------------------------- */

static void test_buckets_and_uptime(void **state)
{
	struct fx *f = *state;
	struct catalog_health *hs = catalog_health_open(f->cat, NULL, NULL, 0);
	struct catalog_health_summary sum;
	json_t *hist = NULL, *b;
	long long to = (now_ms() / HOUR_MS) * HOUR_MS, from = to - 4 * HOUR_MS;

	assert_non_null(hs);
	/* Bucket 0 (hours of width 1): all up, latencies 10 and 20. */
	record(hs, "db", from + 1 * MIN_MS, "up", 10);
	record(hs, "db", from + 2 * MIN_MS, "up", 20);
	/* Bucket 1: one up, one down: degraded; the down one measured nothing. */
	record(hs, "db", from + HOUR_MS + MIN_MS, "up", 30);
	record(hs, "db", from + HOUR_MS + 2 * MIN_MS, "down", -1);
	/* Bucket 2 is empty; bucket 3 is all down. */
	record(hs, "db", from + 3 * HOUR_MS + 5 * MIN_MS, "down", 5);
	/* Outside the window, and another service: not counted. */
	record(hs, "db", from - MIN_MS, "down", 1);
	record(hs, "cache", from + MIN_MS, "down", 1);

	assert_int_equal(catalog_health_buckets(hs, "db", from, to, 4, &hist, &sum), 0);
	assert_int_equal(json_array_size(hist), 3);
	b = json_array_get(hist, 0);
	assert_string_equal(json_string_value(json_object_get(b, "status")), "up");
	assert_true(json_real_value(json_object_get(b, "latency_ms")) == 15.0);
	assert_int_equal(json_integer_value(json_object_get(b, "checks")), 2);
	assert_true(json_real_value(json_object_get(b, "uptime")) == 1.0);
	b = json_array_get(hist, 1);
	assert_string_equal(json_string_value(json_object_get(b, "status")), "degraded");
	assert_true(json_real_value(json_object_get(b, "latency_ms")) == 30.0);
	assert_true(json_real_value(json_object_get(b, "uptime")) == 0.5);
	b = json_array_get(hist, 2);
	assert_string_equal(json_string_value(json_object_get(b, "status")), "down");
	assert_true(json_real_value(json_object_get(b, "uptime")) == 0.0);
	/* The bucket's time is its start: the window's start plus 3 hours. */
	char want[64];
	time_t secs = (time_t)((from + 3 * HOUR_MS) / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	assert_string_equal(json_string_value(json_object_get(b, "t")), want);
	json_decref(hist);

	assert_int_equal(sum.points, 5);
	assert_int_equal(sum.up, 3);
	assert_true(sum.uptime > 0.599 && sum.uptime < 0.601);
	assert_int_equal(sum.last_at, from + 3 * HOUR_MS + 5 * MIN_MS);

	/* No points: no buckets, uptime -1 (shown as null). */
	assert_int_equal(catalog_health_buckets(hs, "nobody", from, to, 48, &hist, &sum), 0);
	assert_int_equal(json_array_size(hist), 0);
	assert_true(sum.uptime < 0);
	json_decref(hist);
	/* Bad arguments. */
	assert_int_equal(catalog_health_buckets(hs, "db", to, from, 4, NULL, NULL), CATALOG_EINVAL);
	assert_int_equal(catalog_health_buckets(hs, "", from, to, 4, NULL, NULL), CATALOG_EINVAL);
	catalog_health_close(hs);
}

static void test_points_newest_last_and_bounded(void **state)
{
	struct fx *f = *state;
	struct catalog_health_limits lim = { .max_points = 5 };
	struct catalog_health *hs = catalog_health_open(f->cat, &lim, NULL, 0);
	long long t0 = now_ms() - HOUR_MS;
	json_t *pts = NULL;

	assert_non_null(hs);
	for (int i = 0; i < 12; i++)
		record(hs, "web", t0 + i * 1000, i % 3 == 0 ? "down" : "up", i);
	record(hs, "other", t0, "up", 1);
	/* Only the newest 5 of "web" are kept, whatever the window asked. */
	assert_int_equal(catalog_health_points(hs, "web", 0, 100, &pts), 0);
	assert_int_equal(json_array_size(pts), 5);
	assert_true(json_real_value(json_object_get(json_array_get(pts, 0), "latency_ms")) == 7.0);
	assert_true(json_real_value(json_object_get(json_array_get(pts, 4), "latency_ms")) == 11.0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(pts, 4), "detail")),
			    "detail");
	json_decref(pts);
	/* LIMIT takes the newest, still oldest first. */
	assert_int_equal(catalog_health_points(hs, "web", 0, 2, &pts), 0);
	assert_int_equal(json_array_size(pts), 2);
	assert_true(json_real_value(json_object_get(json_array_get(pts, 1), "latency_ms")) == 11.0);
	json_decref(pts);
	/* SINCE cuts older points. */
	assert_int_equal(catalog_health_points(hs, "web", t0 + 10 * 1000, 100, &pts), 0);
	assert_int_equal(json_array_size(pts), 2);
	json_decref(pts);
	/* A point measured nothing: latency null. */
	record(hs, "web", t0 + 20 * 1000, "down", -1);
	assert_int_equal(catalog_health_points(hs, "web", 0, 100, &pts), 0);
	assert_true(json_is_null(json_object_get(json_array_get(pts, 4), "latency_ms")));
	json_decref(pts);
	/* The other service was not pruned by web's writes. */
	assert_int_equal(catalog_health_points(hs, "other", 0, 100, &pts), 0);
	assert_int_equal(json_array_size(pts), 1);
	json_decref(pts);
	assert_int_equal(catalog_health_points(hs, "web", 0, CATALOG_HEALTH_POINTS_MAX + 1, &pts),
			 CATALOG_EINVAL);
	catalog_health_close(hs);
}

static void test_prune_by_age(void **state)
{
	struct fx *f = *state;
	struct catalog_health_limits lim = { .keep_ms = 2 * HOUR_MS };
	struct catalog_health *hs = catalog_health_open(f->cat, &lim, NULL, 0);
	long long now = now_ms();
	json_t *pts = NULL;

	assert_non_null(hs);
	record(hs, "a", now - 3 * HOUR_MS, "up", 1);   /* older than keep: dropped at once */
	record(hs, "b", now - 3 * HOUR_MS, "up", 1);   /* the same, for b */
	record(hs, "a", now - HOUR_MS, "up", 2);
	assert_int_equal(catalog_health_points(hs, "a", 0, 100, &pts), 0);
	assert_int_equal(json_array_size(pts), 1);
	json_decref(pts);
	catalog_health_close(hs);

	/* Sneak an old point in for "c", which nothing writes any more: opening
	 * the store drops it. */
	sqlite3 *db = NULL;
	char sql[256];

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO health_points(service, at, status) VALUES('c', %lld, 'up')",
		 now - 3 * HOUR_MS);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	hs = catalog_health_open(f->cat, &lim, NULL, 0);
	assert_non_null(hs);
	assert_int_equal(catalog_health_points(hs, "c", 0, 100, &pts), 0);
	assert_int_equal(json_array_size(pts), 0);
	json_decref(pts);
	catalog_health_close(hs);
}

static void test_busy_catalog_queues(void **state)
{
	struct fx *f = *state;
	struct catalog_health_limits lim = { .write_wait_ms = 50, .max_pending = 3 };
	struct catalog_health *hs = catalog_health_open(f->cat, &lim, NULL, 0);
	struct catalog_health_point p = { now_ms(), "up", 1, "" };
	sqlite3 *db = NULL;
	json_t *pts = NULL;
	char err[256] = "";

	assert_non_null(hs);
	/* Someone else holds the write lock (as an import would). */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 5; i++) {
		p.at = now_ms() - 10000 + i;
		p.latency_ms = i;
		assert_int_equal(catalog_health_record(hs, "q", &p, err, sizeof(err)), CATALOG_EIO);
	}
	assert_non_null(strstr(err, "cannot write health history"));
	/* The queue is bounded: the oldest went first. */
	assert_int_equal(catalog_health_pending(hs), 3);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(catalog_health_flush(hs, err, sizeof(err)), 0);
	assert_int_equal(catalog_health_pending(hs), 0);
	assert_int_equal(catalog_health_points(hs, "q", 0, 100, &pts), 0);
	assert_int_equal(json_array_size(pts), 3);
	assert_true(json_real_value(json_object_get(json_array_get(pts, 0), "latency_ms")) == 2.0);
	json_decref(pts);
	/* Bad input is refused without queueing. */
	p.status = "sideways";
	assert_int_equal(catalog_health_record(hs, "q", &p, NULL, 0), CATALOG_EINVAL);
	p.status = "up";
	assert_int_equal(catalog_health_record(hs, "bad\nid", &p, NULL, 0), CATALOG_EINVAL);
	assert_int_equal(catalog_health_pending(hs), 0);
	catalog_health_close(hs);
}

static void test_discovered_services_store(void **state)
{
	struct fx *f = *state;
	struct catalog_health *hs = catalog_health_open(f->cat, NULL, NULL, 0);
	json_t *list = NULL, *doc = json_pack("{s:s}", "name", "Cache");
	json_t *pts = NULL;

	assert_non_null(hs);
	assert_int_equal(catalog_health_service_put(hs, "cache", doc, NULL, 0), 0);
	json_object_set_new(doc, "group", json_string("Caches"));
	assert_int_equal(catalog_health_service_put(hs, "cache", doc, NULL, 0), 0); /* replaces */
	assert_int_equal(catalog_health_service_put(hs, "web", doc, NULL, 0), 0);
	assert_int_equal(catalog_health_services(hs, &list), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")),
			    "cache");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(list, 0), "doc"), "group")),
			    "Caches");
	json_decref(list);
	record(hs, "cache", now_ms(), "up", 1);
	assert_int_equal(catalog_health_service_delete(hs, "cache"), 0);
	assert_int_equal(catalog_health_service_delete(hs, "cache"), CATALOG_ENOTFOUND);
	assert_int_equal(catalog_health_points(hs, "cache", 0, 10, &pts), 0);
	assert_int_equal(json_array_size(pts), 0); /* its history went with it */
	json_decref(pts);
	assert_int_equal(catalog_health_services(hs, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	json_decref(doc);
	catalog_health_close(hs);
}

/* --- service rules ---------------------------------------------------------------- */

static void test_slug(void **state)
{
	char out[HEALTH_ID_MAX + 1], small[4];

	(void)state;
	assert_int_equal(health_slug("Orders DB", out, sizeof(out)), 0);
	assert_string_equal(out, "orders-db");
	assert_int_equal(health_slug("  --Kafka__(prod)!! ", out, sizeof(out)), 0);
	assert_string_equal(out, "kafka-prod");
	assert_int_equal(health_slug("Données 2", out, sizeof(out)), 0);
	assert_string_equal(out, "donn-es-2");
	assert_int_equal(health_slug("!!!", out, sizeof(out)), -1);
	assert_int_equal(health_slug("abcd", small, sizeof(small)), -1);
}

/* Validate TEXT (JSON) and expect KEY: MSG, or success when KEY is NULL. */
static void expect_valid(const char *text, int strict, const char *key, const char *msg)
{
	json_error_t je;
	json_t *svc = json_loads(text, 0, &je);
	char k[96] = "", m[256] = "";
	int rc;

	if (!svc)
		fail_msg("bad test JSON %s: %s", text, je.text);
	rc = health_service_validate(svc, strict, k, sizeof(k), m, sizeof(m));
	json_decref(svc);
	if (!key) {
		if (rc != 0)
			fail_msg("%s: %s: %s", text, k, m);
		return;
	}
	if (rc == 0)
		fail_msg("accepted: %s", text);
	assert_string_equal(k, key);
	assert_string_equal(m, msg);
}

static void test_validate(void **state)
{
	(void)state;
	expect_valid("{\"name\": \"DB\", \"check\": {\"type\": \"postgres\", \"dsn\": \"x\"}}", 1,
		     NULL, NULL);
	expect_valid("{\"name\": \"K\", \"check\": {\"type\": \"kafka\", \"brokers\": "
		     "[\"a:1\", \"b:2\"], \"interval\": 1.5, \"timeout\": 0.5}}", 1, NULL, NULL);
	expect_valid("{\"name\": \"Docs\", \"href\": \"/docs\"}", 1, NULL, NULL);
	expect_valid("{\"name\": \"X\", \"weight\": 2}", 0, NULL, NULL);
	expect_valid("{\"name\": \"X\", \"weight\": 2}", 1, "weight", "unknown key");
	expect_valid("{\"group\": \"G\"}", 0, "name", "missing");
	expect_valid("{\"name\": \"--\"}", 0, "name",
		     "needs a letter or a digit (the id is made of them)");
	expect_valid("{\"name\": \"X\", \"href\": \"javascript:alert(1)\"}", 0, "href",
		     "expected an http:// or https:// URL or a path starting with /");
	expect_valid("{\"name\": \"X\", \"icon\": 3}", 0, "icon", "expected a string, got a number");
	expect_valid("{\"name\": \"X\", \"check\": {}}", 0, "check.type",
		     "missing (tcp, http, postgres, redis, kafka, airflow or mlflow)");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"ftp\"}}", 0, "check.type",
		     "expected tcp, http, postgres, redis, kafka, airflow or mlflow, got 'ftp'");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"tcp\", \"host\": \"h\", "
		     "\"port\": 0}}", 0, "check.port", "expected an integer from 1 to 65535, got 0");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"tcp\", \"port\": 22}}", 0,
		     "check.host", "missing");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"tcp\", \"host\": \"h\", "
		     "\"port\": 22, \"url\": \"http://h\"}}", 0, "check.url",
		     "unknown key for a tcp check");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"http\", \"url\": \"ftp://h\"}}", 0,
		     "check.url", "expected an http:// or https:// URL");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"http\", \"url\": \"http://h\", "
		     "\"expect_status\": [200, 700]}}", 0, "check.expect_status",
		     "expected HTTP statuses from 100 to 599");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"http\", \"url\": \"http://h\", "
		     "\"tls_verify\": \"no\"}}", 0, "check.tls_verify",
		     "expected true or false, got a string");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"mlflow\", \"url\": \"http://h\", "
		     "\"interval\": 0.5}}", 0, "check.interval", "expected 1 to 86400 seconds, got 0.5");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"redis\"}}", 0, "check.url",
		     "missing (redis://host:port, or host and port)");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"redis\", \"url\": "
		     "\"rediss://h\"}}", 0, "check.url",
		     "expected a redis:// URL (rediss:// is not supported)");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"kafka\", \"brokers\": []}}", 0,
		     "check.brokers", "expected \"host:port,host:port\" or a list of them");
	expect_valid("{\"name\": \"X\", \"check\": {\"type\": \"kafka\", \"brokers\": "
		     "\"a:1;rm\"}}", 0, "check.brokers", "expected host:port pairs separated by commas");
}

/* --- checks run once ---------------------------------------------------------------- */

/* A listening socket on loopback; its port in *PORT. */
static int listener(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_tcp_check(void **state)
{
	struct health_result r;
	int port, fd = listener(&port);
	json_t *svc = json_pack("{s:s, s:{s:s, s:s, s:i}}", "name", "T", "check", "type", "tcp",
				"host", "127.0.0.1", "port", port);

	(void)state;
	assert_int_equal(health_check_once(svc, &r), 0);
	assert_string_equal(r.status, "up");
	assert_true(r.latency_ms >= 0 && r.latency_ms < 1000);
	assert_true(r.checked_at > now_ms() - 5000);
	close(fd);
	/* The port is closed now: refused. */
	assert_int_equal(health_check_once(svc, &r), 0);
	assert_string_equal(r.status, "down");
	assert_string_equal(r.detail, "connection refused");
	json_decref(svc);
	/* No check: a link tile, unknown. */
	svc = json_pack("{s:s, s:s}", "name", "Docs", "href", "https://docs");
	assert_int_equal(health_check_once(svc, &r), 0);
	assert_string_equal(r.status, "unknown");
	assert_true(r.latency_ms < 0);
	json_decref(svc);
}

/* health_list() shows no secret, and a configured name cannot be taken twice. */
static void test_list_hides_secrets(void **state)
{
	struct fx *f = *state;
	char err[300];
	json_t *services = json_loads(
		"[{\"name\": \"Orders DB\", \"group\": \"Databases\", \"password\": \"pw1secret\","
		"  \"url\": \"postgres://alice:pw2secret@db:5432/shop\", \"collector\": \"postgres\","
		"  \"check\": {\"type\": \"postgres\", \"dsn\": \"host=db password=pw3secret\"}},"
		" {\"name\": \"Cache\", \"check\": {\"type\": \"redis\","
		"  \"url\": \"redis://:pw4secret@127.0.0.1:1\", \"interval\": 60}},"
		" {\"name\": \"Docs\", \"href\": \"https://docs.example\", \"token\": \"pw5secret\"}]",
		0, NULL);
	struct health_env env = { .cat = f->cat, .services = services };
	struct health *h = health_create(&env, err, sizeof(err));
	json_t *list, *s;
	char *text;

	if (!h)
		fail_msg("%s", err);
	list = health_list(h);
	assert_non_null(list);
	text = json_dumps(list, JSON_COMPACT);
	assert_null(strstr(text, "secret"));
	free(text);
	assert_int_equal(json_array_size(list), 3);
	s = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(s, "id")), "orders-db");
	assert_string_equal(json_string_value(json_object_get(s, "type")), "postgres");
	assert_string_equal(json_string_value(json_object_get(s, "origin")), "config");
	assert_string_equal(json_string_value(json_object_get(s, "status")), "unknown");
	assert_string_equal(json_string_value(json_object_get(s, "url")), "postgres://db:5432/shop");
	assert_true(json_is_null(json_object_get(s, "checked_at")));
	assert_true(json_is_null(json_object_get(s, "uptime_24h")));
	assert_int_equal(json_array_size(json_object_get(s, "history")), 0);
	s = json_array_get(list, 2);
	assert_string_equal(json_string_value(json_object_get(s, "group")), "Services");
	assert_string_equal(json_string_value(json_object_get(s, "detail")), "no check configured");
	json_decref(list);
	health_destroy(h);

	/* "Orders DB" and "orders-db" are the same id. */
	json_array_append_new(services, json_pack("{s:s}", "name", "orders-db"));
	assert_null(health_create(&env, err, sizeof(err)));
	assert_string_equal(err, "services[4].name: the id 'orders-db' is taken");
	json_decref(services);
}

/* --- the config keys -------------------------------------------------------------- */

struct cfgfx {
	char dir[64], path[128], err[1024];
	struct config c;
};

static int load(struct cfgfx *f, const char *text)
{
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	f->err[0] = '\0';
	return config_load(&f->c, f->path, f->err, sizeof(f->err));
}

static void expect_cfg_error(struct cfgfx *f, const char *text, const char *want)
{
	char full[1200];

	if (load(f, text) == 0)
		fail_msg("config loaded: %s", text);
	snprintf(full, sizeof(full), "%s:%s", f->path, want);
	assert_string_equal(f->err, full);
}

static void test_config_keys(void **state)
{
	struct cfgfx f = { 0 };
	json_t *s, *b;

	(void)state;
	snprintf(f.dir, sizeof(f.dir), "/tmp/test_health_cfg.XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	snprintf(f.path, sizeof(f.path), "%s/terrarium.lua", f.dir);
	config_init(&f.c);
	setenv("TEST_HEALTH_DSN", "host=db password=x", 1);
	if (load(&f, "services = {\n"
		     "  { name = 'Orders DB', group = 'Databases', icon = 'postgres',\n"
		     "    check = { type = 'postgres', dsn = env('TEST_HEALTH_DSN'), interval = 30,\n"
		     "              timeout = 5 }, collector = 'postgres' },\n"
		     "  { name = 'Kafka', check = { type = 'kafka', brokers = '127.0.0.1:9092' } },\n"
		     "  { name = 'Site', check = { type = 'http', url = 'https://x',\n"
		     "                             expect_status = { 200 }, expect_body = 'ok' } },\n"
		     "  { name = 'Cache', check = { type = 'redis', url = 'redis://127.0.0.1:6379' } },\n"
		     "  { name = 'Airflow', check = { type = 'airflow', url = 'http://af:8080' } },\n"
		     "  { name = 'MLflow', check = { type = 'mlflow', url = 'http://ml:5000' } },\n"
		     "  { name = 'SSH', check = { type = 'tcp', host = 'h', port = 22 } },\n"
		     "  { name = 'Docs', href = 'https://docs' },\n"
		     "}\n"
		     "bookmarks = { { group = 'Links', name = 'Runbook', href = 'https://rb',\n"
		     "                icon = 'book', description = '' } }\n") != 0)
		fail_msg("%s", f.err);
	assert_int_equal(json_array_size(f.c.services), 8);
	s = json_array_get(f.c.services, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(s, "check"), "dsn")),
			    "host=db password=x");
	assert_int_equal(json_array_size(f.c.bookmarks), 1);
	b = json_array_get(f.c.bookmarks, 0);
	assert_string_equal(json_string_value(json_object_get(b, "href")), "https://rb");

	expect_cfg_error(&f, "\nservices = {\n  { name = 'A', check = { type = 'tcp', host = 'h',"
			     " port = 70000 } },\n}\n",
			 "2: key 'services[1].check.port': expected an integer from 1 to 65535, "
			 "got 70000");
	expect_cfg_error(&f, "services = { { name = 'A' }, { name = 'B', check = { type = 'smtp' }"
			     " } }\n",
			 "1: key 'services[2].check.type': expected tcp, http, postgres, redis, "
			 "kafka, airflow or mlflow, got 'smtp'");
	expect_cfg_error(&f, "services = { { name = 'Orders DB' }, { name = 'orders-db' } }\n",
			 "1: key 'services[2].name': 'orders-db' has the same id 'orders-db' as "
			 "services[1].name");
	expect_cfg_error(&f, "services = { { name = 'A', href = 'javascript:x' } }\n",
			 "1: key 'services[1].href': expected an http:// or https:// URL or a path "
			 "starting with /");
	expect_cfg_error(&f, "services = { { name = 'A', check = { type = 'http' } } }\n",
			 "1: key 'services[1].check.url': missing");
	expect_cfg_error(&f, "bookmarks = { { name = 'A' } }\n",
			 "1: key 'bookmarks[1].href': missing");
	expect_cfg_error(&f, "bookmarks = { { name = 'A', href = 'https://a', url = 'x' } }\n",
			 "1: key 'bookmarks[1].url': unknown key");
	expect_cfg_error(&f, "bookmarks = { { name = 'A', href = 'https://a', icon = 3 } }\n",
			 "1: key 'bookmarks[1].icon': expected a string");
	expect_cfg_error(&f, "\n\nbookmarks = { { name = 'A', href = 'data:x' } }\n",
			 "3: key 'bookmarks[1].href': expected an http:// or https:// URL or a path "
			 "starting with /");
	expect_cfg_error(&f, "bookmarks = { name = 'A' }\n",
			 "1: key 'bookmarks': expected a list of tables { name = ..., href = ... }");
	/* A failed load changed nothing. */
	assert_int_equal(json_array_size(f.c.services), 8);
	assert_int_equal(json_array_size(f.c.bookmarks), 1);
	if (load(&f, "bookmarks = {}\n") != 0)
		fail_msg("%s", f.err);
	assert_true(json_is_array(f.c.bookmarks));
	assert_int_equal(json_array_size(f.c.bookmarks), 0);

	unsetenv("TEST_HEALTH_DSN");
	config_release(&f.c);
	unlink(f.path);
	rmdir(f.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_buckets_and_uptime, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_points_newest_last_and_bounded, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_prune_by_age, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_busy_catalog_queues, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_discovered_services_store, fx_setup,
						fx_teardown),
		cmocka_unit_test(test_slug),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_tcp_check),
		cmocka_unit_test_setup_teardown(test_list_hides_secrets, fx_setup, fx_teardown),
		cmocka_unit_test(test_config_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
