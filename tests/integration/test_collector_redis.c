/*
 * The Redis collector (lua/collectors/redis.lua) against a real redis-server
 * (tests/lib/redis.h), run the way a user runs it: `terrarium collect redis
 * --config CFG --data DIR` with the real binary ($TERRARIUM_BIN, default
 * build/terrarium).  What it wrote is read back from DIR/catalog.db through
 * the catalog API.
 *
 * The server holds, in db 0: 200 hashes user:N, 100 strings session:<uuid>
 * of which 75 expire, 30 sets team:N:members, a string config:flags, a
 * stream orders:stream of 10 entries with two consumer groups (billing: read
 * 4, acked 1; shipping: read 10, acked 8), and a pub/sub channel with one
 * subscriber (a second connection of the test); in db 1, 100,000 strings
 * item:N for the sampling budget.
 *
 * In order (the tests share the server and the catalog):
 *   1. the crawl: server, patterns with types, TTL ratios and fields, the
 *      budget (sampled 2000 of 100000 in db 1), streams and groups with lag,
 *      pending and lineage, the channel, the tile; never KEYS or DEBUG;
 *   2. keys deleted: their pattern turns stale;
 *   3. a password-protected server: the right password crawls it, a wrong
 *      one fails with the server's reason;
 *   4. a peer that accepts connections and never answers, and one that answers
 *      HTTP: the run fails with a timeout or a protocol error, in bounded time,
 *      and the catalog is unchanged; the ACL user of the docs crawls without
 *      warnings, and one lacking permissions gets warnings naming them;
 *   5. the server is stopped: the run fails naming the connection, and the
 *      catalog is unchanged.
 * First, lua/collectors/redis_test.lua (the collector on a fake binding)
 * runs through `terrarium plugin test`.  Every process is bounded in time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "tests/lib/collect.h"
#include "tests/lib/redis.h"

#define RUN_MS 120000     /* one `terrarium collect` */
#define BIG_KEYS 100000   /* keys in db 1 */
#define SAMPLE_KEYS 2000  /* the sampling budget per db */

static struct redis_test_server rs;
static int rs_up;
static redisContext *subscriber; /* holds a SUBSCRIBE to "notifications" */
static struct tc_dirs td;        /* temporary files, the data dir; last_ms: the last run */
static char cfg_main[300];
static char ns[64];              /* "redis://127.0.0.1:PORT" */

/* --- processes ---------------------------------------------------------------------- */

/* `terrarium collect redis --json --config CFG --data DATA_DIR`: the exit
 * status; *OUT gets standard output (the batch as JSON), *ERRTEXT standard
 * error; both malloc'd, both may be NULL. */
static int collect(const char *cfg, char **out, char **errtext)
{
	return tc_collect(&td, "redis", cfg, RUN_MS, out, errtext);
}

/* A config crawling URL, with EXTRA Lua table fields appended. */
static void write_config(const char *path, const char *url, const char *extra)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "-- written by test_collector_redis\n"
		 "plugins = {\n"
		 "  redis = { timeout = 60, url = \"%s\", sample_keys = %d, scan_count = 500,\n"
		 "            %s },\n"
		 "}\n",
		 url, SAMPLE_KEYS, extra ? extra : "");
	tc_write_file(path, text);
}

/* Run a command on the test server, failing the test on an error. */
static void cmd(char *out, size_t outlen, const char *fmt, ...)
{
	char err[512] = "";
	va_list ap;
	redisContext *c = redis_test_connect(&rs, err, sizeof(err));
	redisReply *r;

	if (!c)
		fail_msg("%s", err);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (!r || r->type == REDIS_REPLY_ERROR)
		fail_msg("%s: %s", fmt, r ? r->str : c->errstr);
	if (out && outlen)
		snprintf(out, outlen, "%.*s", r->str ? (int)r->len : 0, r->str ? r->str : "");
	freeReplyObject(r);
	redisFree(c);
}

/* --- the catalog -------------------------------------------------------------------- */

/* The id of KIND NAME on the test server. */
static const char *id_of(const char *kind, const char *name)
{
	return tc_id(kind, ns, name);
}

static long long iprop(const json_t *doc, const char *key)
{
	json_t *v = tc_prop(doc, key);

	if (!json_is_integer(v))
		fail_msg("property '%s' of %s is not an integer", key, tc_str(doc, "id"));
	return json_integer_value(v);
}

static double nprop(const json_t *doc, const char *key)
{
	json_t *v = tc_prop(doc, key);

	if (!json_is_number(v))
		fail_msg("property '%s' of %s is not a number", key, tc_str(doc, "id"));
	return json_number_value(v);
}

static int has_field(const json_t *doc, const char *name)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(doc, "fields"), i, f)
		if (strcmp(tc_str(f, "name"), name) == 0)
			return 1;
	return 0;
}

/* The status and error of the newest recorded run. */
static void last_run(char *status, size_t slen, char *error, size_t elen)
{
	struct catalog *cat = tc_open_catalog(td.data_dir);
	json_t *runs = NULL, *r, *e;

	assert_int_equal(catalog_collector_runs(cat, "redis", 1, &runs), 0);
	assert_int_equal(json_array_size(runs), 1);
	r = json_array_get(runs, 0);
	snprintf(status, slen, "%s", tc_str(r, "status"));
	e = json_object_get(r, "error");
	snprintf(error, elen, "%s", json_is_string(e) ? json_string_value(e) : "");
	json_decref(runs);
	catalog_close(cat);
}

/* --- setup ---------------------------------------------------------------------------- */

/* 100,000 strings item:N in db 1, MSET 1000 at a time, pipelined. */
static int load_big(char *err, size_t errlen)
{
	redisContext *c = redis_test_connect(&rs, err, errlen);
	redisReply *r = NULL;
	int rc = -1, sent = 0;
	static const char *argv[2001];
	static size_t lens[2001];
	static char bufs[2000][24];

	if (!c)
		return -1;
	r = redisCommand(c, "SELECT 1");
	if (!r || r->type == REDIS_REPLY_ERROR)
		goto out;
	freeReplyObject(r);
	r = NULL;
	for (int base = 0; base < BIG_KEYS; base += 1000) {
		int n = 0;
		argv[n] = "MSET";
		lens[n++] = 4;
		for (int i = 0; i < 1000; i++) {
			snprintf(bufs[i * 2], sizeof(bufs[0]), "item:%d", base + i);
			snprintf(bufs[i * 2 + 1], sizeof(bufs[0]), "v%d", base + i);
			argv[n] = bufs[i * 2];
			lens[n++] = strlen(bufs[i * 2]);
			argv[n] = bufs[i * 2 + 1];
			lens[n++] = strlen(bufs[i * 2 + 1]);
		}
		/* redisAppendCommandArgv copies the arguments */
		if (redisAppendCommandArgv(c, n, argv, lens) != REDIS_OK)
			goto out;
		sent++;
	}
	for (int i = 0; i < sent; i++) {
		void *reply = NULL;
		if (redisGetReply(c, &reply) != REDIS_OK)
			goto out;
		r = reply;
		if (r->type == REDIS_REPLY_ERROR)
			goto out;
		freeReplyObject(r);
		r = NULL;
	}
	rc = 0;
out:
	if (rc < 0)
		snprintf(err, errlen, "loading db 1 failed: %s", r && r->str ? r->str : c->errstr);
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return rc;
}

static int setup(void **state)
{
	char err[1024] = "";
	(void)state;

	if (tc_dirs_make(&td, "rediscoll") < 0)
		return -1;
	snprintf(cfg_main, sizeof(cfg_main), "%s/main.lua", td.dir);
	if (redis_test_start(&rs, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot start redis-server: %s\n", err);
		return -1;
	}
	rs_up = 1;
	snprintf(ns, sizeof(ns), "redis://127.0.0.1:%d", rs.port);

	redisContext *c = redis_test_connect(&rs, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	/* db 0: hashes, strings (75 of 100 expiring), sets, a stream with groups */
	for (int i = 1; i <= 200; i++)
		redisAppendCommand(c, "HSET user:%d name user%d email u%d@example.org plan free", i, i,
				   i);
	for (int i = 0; i < 100; i++) {
		char uuid[40];
		snprintf(uuid, sizeof(uuid), "%08x-%04x-4%03x-a%03x-%012x", 0x1000u + (unsigned)i,
			 (unsigned)i * 7u, (unsigned)i, (unsigned)i * 3u, 0xabcdefu + (unsigned)i);
		if (i < 75)
			redisAppendCommand(c, "SET session:%s token%d EX 3600", uuid, i);
		else
			redisAppendCommand(c, "SET session:%s token%d", uuid, i);
	}
	for (int i = 1; i <= 30; i++)
		redisAppendCommand(c, "SADD team:%d:members ann bob", i);
	redisAppendCommand(c, "SET config:flags on");
	for (int i = 1; i <= 10; i++)
		redisAppendCommand(c, "XADD orders:stream * order_id %d amount %d", i, i * 10);
	redisAppendCommand(c, "XGROUP CREATE orders:stream billing 0");
	redisAppendCommand(c, "XGROUP CREATE orders:stream shipping 0");
	int n = 200 + 100 + 30 + 1 + 10 + 2;
	for (int i = 0; i < n; i++) {
		void *reply = NULL;
		if (redisGetReply(c, &reply) != REDIS_OK || !reply ||
		    ((redisReply *)reply)->type == REDIS_REPLY_ERROR) {
			fprintf(stderr, "loading db 0 failed at reply %d: %s\n", i,
				reply ? ((redisReply *)reply)->str : c->errstr);
			return -1;
		}
		freeReplyObject(reply);
	}
	/* billing reads 4 and acks 1: pending 3, lag 6; shipping reads 10, acks 8 */
	redisReply *r = redisCommand(c, "XREADGROUP GROUP billing b1 COUNT 4 STREAMS orders:stream >");
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		fprintf(stderr, "XREADGROUP failed\n");
		return -1;
	}
	char first_id[64];
	snprintf(first_id, sizeof(first_id), "%s",
		 r->element[0]->element[1]->element[0]->element[0]->str);
	freeReplyObject(r);
	freeReplyObject(redisCommand(c, "XACK orders:stream billing %s", first_id));
	r = redisCommand(c, "XREADGROUP GROUP shipping s1 COUNT 10 STREAMS orders:stream >");
	if (!r || r->type != REDIS_REPLY_ARRAY || r->element[0]->element[1]->elements != 10) {
		fprintf(stderr, "XREADGROUP shipping failed\n");
		return -1;
	}
	for (int i = 0; i < 8; i++)
		freeReplyObject(redisCommand(c, "XACK orders:stream shipping %s",
					     r->element[0]->element[1]->element[i]->element[0]->str));
	freeReplyObject(r);
	redisFree(c);
	if (load_big(err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	/* a subscriber, held open for the whole test */
	subscriber = redis_test_connect(&rs, err, sizeof(err));
	if (!subscriber) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	r = redisCommand(subscriber, "SUBSCRIBE notifications");
	if (!r) {
		fprintf(stderr, "SUBSCRIBE failed\n");
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (subscriber)
		redisFree(subscriber);
	subscriber = NULL;
	if (rs_up)
		redis_test_stop(&rs);
	rs_up = 0;
	tc_dirs_remove(&td);
	return 0;
}

/* --- 1. the crawl ---------------------------------------------------------------------- */

static void test_crawl(void **state)
{
	struct catalog *cat;
	json_t *d, *batch, *tile, *num;
	char *out = NULL, version[32] = "", stats[8192] = "", err[256];
	(void)state;

	write_config(cfg_main, rs.url, NULL);
	cmd(NULL, 0, "CONFIG RESETSTAT");
	assert_int_equal(collect(cfg_main, &out, NULL), 0);
	/* well inside the run's timeout (60 s) and the budget's scale */
	assert_true(td.last_ms < 30000);
	batch = json_loads(out, 0, NULL);
	if (!batch)
		fail_msg("`terrarium collect --json` printed no JSON:\n%s", out);
	free(out);

	/* the crawl never ran KEYS (or DEBUG) and sampled with SCAN */
	assert_int_equal(redis_test_cmd(&rs, stats, sizeof(stats), err, sizeof(err),
					"INFO commandstats"), 0);
	assert_null(strstr(stats, "cmdstat_keys:"));
	assert_null(strstr(stats, "cmdstat_debug:"));
	assert_non_null(strstr(stats, "cmdstat_scan:"));

	cat = tc_open_catalog(td.data_dir);

	/* the server */
	d = tc_entity(cat, id_of("service", "server"));
	assert_string_equal(tc_str(d, "platform"), "redis");
	assert_string_equal(tc_str(d, "subtype"), "server");
	assert_int_equal(redis_test_cmd(&rs, stats, sizeof(stats), err, sizeof(err), "INFO server"),
			 0);
	sscanf(strstr(stats, "redis_version:"), "redis_version:%31s", version);
	assert_string_equal(tc_str(json_object_get(d, "properties"), "version"), version);
	tc_assert_json_eq(tc_prop(d, "role"), "\"master\"");
	tc_assert_json_eq(tc_prop(d, "mode"), "\"standalone\"");
	tc_assert_json_eq(tc_prop(d, "databases"), "[0, 1]");
	tc_assert_json_eq(tc_prop(d, "keyspaces"), "[{\"db\": 0, \"keys\": 332, \"expires\": 75},"
					     " {\"db\": 1, \"keys\": 100000, \"expires\": 0}]");
	json_decref(d);

	/* hashes: every key of db 0 sampled (332 < the budget), fields from HSCAN */
	d = tc_entity(cat, id_of("dataset", "0/user:*"));
	assert_string_equal(tc_str(d, "kind"), "dataset");
	assert_string_equal(tc_str(d, "subtype"), "key_pattern");
	assert_string_equal(tc_str(d, "platform"), "redis");
	assert_string_equal(tc_str(d, "display_name"), "user:*");
	tc_assert_json_eq(tc_prop(d, "type"), "\"hash\"");
	tc_assert_json_eq(tc_prop(d, "types"), "{\"hash\": 200}");
	assert_int_equal(iprop(d, "sampled_keys"), 200);
	assert_int_equal(iprop(d, "estimated_keys"), 200);
	tc_assert_json_eq(tc_prop(d, "sampled"), "\"332 of 332 keys\"");
	assert_true(json_is_true(tc_prop(d, "sample_complete")));
	assert_true(nprop(d, "ttl_ratio") == 0.0);
	assert_null(tc_prop(d, "avg_ttl_seconds"));
	assert_true(iprop(d, "avg_memory_bytes") > 0);
	assert_true(has_field(d, "name") && has_field(d, "email") && has_field(d, "plan"));
	assert_int_equal(json_array_size(json_object_get(d, "fields")), 3);
	json_decref(d);

	/* strings with a UUID segment, 75 % expiring within the hour */
	d = tc_entity(cat, id_of("dataset", "0/session:*"));
	tc_assert_json_eq(tc_prop(d, "type"), "\"string\"");
	assert_int_equal(iprop(d, "sampled_keys"), 100);
	assert_true(nprop(d, "ttl_ratio") == 0.75);
	assert_true(iprop(d, "avg_ttl_seconds") > 3000 && iprop(d, "avg_ttl_seconds") <= 3600);
	json_decref(d);

	/* a numeric segment in the middle; a literal key is its own pattern */
	d = tc_entity(cat, id_of("dataset", "0/team:*:members"));
	tc_assert_json_eq(tc_prop(d, "types"), "{\"set\": 30}");
	json_decref(d);
	d = tc_entity(cat, id_of("dataset", "0/config:flags"));
	tc_assert_json_eq(tc_prop(d, "type"), "\"string\"");
	json_decref(d);
	/* no pattern per user id */
	d = NULL;
	assert_int_equal(catalog_entity_get(cat, id_of("dataset", "0/user:1"), &d),
			 CATALOG_ENOTFOUND);

	/* the budget: db 1 is sampled, 2000 of 100000 keys, and extrapolated */
	d = tc_entity(cat, id_of("dataset", "1/item:*"));
	tc_assert_json_eq(tc_prop(d, "sampled"), "\"2000 of 100000 keys\"");
	assert_int_equal(iprop(d, "sample_size"), SAMPLE_KEYS);
	assert_int_equal(iprop(d, "sampled_keys"), SAMPLE_KEYS);
	assert_int_equal(iprop(d, "db_keys"), BIG_KEYS);
	assert_int_equal(iprop(d, "estimated_keys"), BIG_KEYS);
	assert_true(json_is_false(tc_prop(d, "sample_complete")));
	assert_true(iprop(d, "estimated_memory_bytes") >= 100LL * BIG_KEYS / 4);
	json_decref(d);

	/* the stream and its consumer groups, lag and pending as set up */
	d = tc_entity(cat, id_of("dataset", "0/orders:stream"));
	assert_string_equal(tc_str(d, "subtype"), "stream");
	assert_int_equal(iprop(d, "length"), 10);
	assert_int_equal(iprop(d, "groups"), 2);
	assert_true(has_field(d, "order_id") && has_field(d, "amount"));
	assert_true(tc_linked(d, "downstream",
			   id_of("job", "0/orders:stream/consumer-group/billing"), "lineage"));
	json_decref(d);
	d = tc_entity(cat, id_of("job", "0/orders:stream/consumer-group/billing"));
	assert_string_equal(tc_str(d, "kind"), "job");
	assert_string_equal(tc_str(d, "subtype"), "consumer_group");
	assert_int_equal(iprop(d, "lag"), 6);
	assert_int_equal(iprop(d, "pending"), 3);
	assert_int_equal(iprop(d, "consumers"), 1);
	assert_true(json_is_true(tc_prop(d, "lag_known")));
	assert_true(tc_linked(d, "upstream", id_of("dataset", "0/orders:stream"), "lineage"));
	json_decref(d);
	d = tc_entity(cat, id_of("job", "0/orders:stream/consumer-group/shipping"));
	assert_int_equal(iprop(d, "lag"), 0);
	assert_int_equal(iprop(d, "pending"), 2);
	json_decref(d);

	/* the channel with its subscriber */
	d = tc_entity(cat, id_of("dataset", "pubsub/notifications"));
	assert_string_equal(tc_str(d, "subtype"), "channel");
	assert_int_equal(iprop(d, "subscribers"), 1);
	json_decref(d);

	/* the tile */
	tile = json_object_get(batch, "tile");
	num = json_object_get(tile, "numbers");
	assert_string_equal(tc_str(tile, "status"), "up");
	assert_string_equal(tc_str(num, "version"), version);
	assert_string_equal(tc_str(num, "role"), "master");
	tc_assert_json_eq(json_object_get(num, "keys"), "100332");
	/* user:* session:* team:*:members config:flags item:* */
	tc_assert_json_eq(json_object_get(num, "patterns"), "5");
	tc_assert_json_eq(json_object_get(num, "streams"), "1");
	assert_true(json_integer_value(json_object_get(num, "clients")) >= 2);
	assert_non_null(strstr(tc_str(num, "memory"), "iB"));
	assert_non_null(json_object_get(num, "ops/s"));
	assert_string_equal(tc_str(json_object_get(batch, "run"), "status"), "ok");
	json_decref(batch);
	catalog_close(cat);
}

/* --- 2. deleted keys: their pattern turns stale ----------------------------------------- */

static void test_deleted_pattern_is_stale(void **state)
{
	struct catalog *cat;
	json_t *d;
	(void)state;

	for (int i = 1; i <= 30; i++)
		cmd(NULL, 0, "DEL team:%d:members", i);
	assert_int_equal(collect(cfg_main, NULL, NULL), 0);
	cat = tc_open_catalog(td.data_dir);
	d = tc_entity(cat, id_of("dataset", "0/team:*:members"));
	assert_true(json_is_true(json_object_get(d, "stale")));
	json_decref(d);
	d = tc_entity(cat, id_of("dataset", "0/user:*"));
	assert_false(json_is_true(json_object_get(d, "stale")));
	json_decref(d);
	catalog_close(cat);
}

/* --- 3. a password-protected server ------------------------------------------------------- */

static void test_password(void **state)
{
	struct redis_test_server locked;
	char err[512] = "", cfg[300], url[128], status[32], reason[512];
	char *text = NULL, *out = NULL;
	struct catalog *cat;
	json_t *d;
	(void)state;

	if (redis_test_start(&locked, "s3cret-pw", err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(redis_test_cmd(&locked, NULL, 0, err, sizeof(err), "SET k:1 v"), 0);
	snprintf(cfg, sizeof(cfg), "%s/locked.lua", td.dir);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", locked.port);

	/* the right password, given apart from the URL (as env() would give it) */
	write_config(cfg, url, "password = \"s3cret-pw\"");
	assert_int_equal(collect(cfg, NULL, NULL), 0);
	cat = tc_open_catalog(td.data_dir);
	char id[200];
	snprintf(id, sizeof(id), "service:redis://127.0.0.1:%d:server", locked.port);
	d = tc_entity(cat, id);
	json_decref(d);
	catalog_close(cat);

	/* a wrong one: the server's reason, never the password */
	write_config(cfg, url, "password = \"wrong-pw\"");
	assert_int_equal(collect(cfg, &out, &text), 1);
	last_run(status, sizeof(status), reason, sizeof(reason));
	assert_string_equal(status, "failed");
	if (!strstr(reason, "redis: cannot connect to 127.0.0.1:") || !strstr(reason, "WRONGPASS"))
		fail_msg("the failure does not say the password was refused: %s", reason);
	assert_null(strstr(reason, "wrong-pw"));
	assert_non_null(text);
	assert_null(strstr(text, "wrong-pw"));
	assert_non_null(strstr(text, "WRONGPASS"));
	free(text);
	free(out);

	/* no password at all: the server says it wants one */
	write_config(cfg, url, NULL);
	assert_int_equal(collect(cfg, NULL, NULL), 1);
	last_run(status, sizeof(status), reason, sizeof(reason));
	if (!strstr(reason, "NOAUTH"))
		fail_msg("the failure does not say authentication is required: %s", reason);
	redis_test_stop(&locked);
}

/* --- 4. a peer that never answers ------------------------------------------------------- */

static void test_silent_peer(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	char cfg[300], url[128], status[32], reason[512], *before, *after;
	int fd;
	(void)state;

	/* a listening socket that nobody accepts on: connections complete, no reply ever */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(listen(fd, 8), 0);
	snprintf(cfg, sizeof(cfg), "%s/silent.lua", td.dir);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(a.sin_port));
	write_config(cfg, url, "query_timeout = 1");

	before = tc_export_text(td.data_dir);
	assert_int_equal(collect(cfg, NULL, NULL), 1);
	assert_true(td.last_ms < 10000);
	last_run(status, sizeof(status), reason, sizeof(reason));
	assert_string_equal(status, "failed");
	if (!strstr(reason, "timeout after 1 s"))
		fail_msg("the failure does not name the timeout: %s", reason);
	after = tc_export_text(td.data_dir);
	/* the failed run is recorded, nothing else changes */
	assert_string_equal(before, after);
	free(before);
	free(after);
	close(fd);
}

/* --- 4b. a peer that answers garbage ----------------------------------------------------- */

static void test_garbage_peer(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	char cfg[300], url[128], status[32], reason[512], *before, *after;
	int fd, st;
	pid_t pid;
	(void)state;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(listen(fd, 8), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* an HTTP server where Redis should be: every connection gets a 400 */
		alarm(20);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				_exit(0);
			static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
			if (write(c, reply, sizeof(reply) - 1) < 0)
				_exit(1);
			close(c);
		}
	}
	snprintf(cfg, sizeof(cfg), "%s/garbage.lua", td.dir);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(a.sin_port));
	write_config(cfg, url, "query_timeout = 2");
	before = tc_export_text(td.data_dir);
	assert_int_equal(collect(cfg, NULL, NULL), 1);
	assert_true(td.last_ms < 10000);
	last_run(status, sizeof(status), reason, sizeof(reason));
	assert_string_equal(status, "failed");
	if (!strstr(reason, "cannot read INFO: protocol error"))
		fail_msg("the failure does not say the answer was not Redis: %s", reason);
	after = tc_export_text(td.data_dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(fd);
}

/* --- 4c. the ACL user of docs/collectors/redis.md is enough ------------------------------- */

static void test_documented_acl(void **state)
{
	char cfg[300], url[128], *text = NULL, *out = NULL;
	json_t *batch, *log;
	size_t i;
	(void)state;

	cmd(NULL, 0, "ACL SETUSER terrarium reset on >acl-pw ~* &* -@all +info +select +scan +type "
		     "+pttl +memory|usage +hscan +xinfo +pubsub|channels +pubsub|numsub "
		     "+pubsub|numpat +ping");
	snprintf(cfg, sizeof(cfg), "%s/acl.lua", td.dir);
	snprintf(url, sizeof(url), "redis://terrarium:acl-pw@127.0.0.1:%d", rs.port);
	write_config(cfg, url, NULL);
	assert_int_equal(collect(cfg, &out, &text), 0);
	batch = json_loads(out, 0, NULL);
	assert_non_null(batch);
	log = json_object_get(json_object_get(batch, "run"), "log");
	assert_true(json_array_size(log) > 0);
	for (i = 0; i < json_array_size(log); i++)
		if (strstr(json_string_value(json_array_get(log, i)), " warn "))
			fail_msg("a warning with the documented permissions: %s",
				 json_string_value(json_array_get(log, i)));
	/* the same crawl as the default user's: every key, the stream, the channel */
	tc_assert_json_eq(json_object_get(json_object_get(json_object_get(batch, "tile"), "numbers"),
				       "keys"), "100302");
	tc_assert_json_eq(json_object_get(json_object_get(json_object_get(batch, "tile"), "numbers"),
				       "streams"), "1");
	json_decref(batch);
	free(out);
	free(text);

	/* without +memory|usage and +xinfo: warnings that name what to grant, and no failure */
	cmd(NULL, 0, "ACL SETUSER terrarium -memory|usage -xinfo");
	assert_int_equal(collect(cfg, NULL, &text), 0);
	assert_non_null(text);
	if (!strstr(text, "grant +memory|usage") || !strstr(text, "grant +xinfo"))
		fail_msg("no warnings naming the missing permissions:\n%s", text);
	free(text);
	/* without +scan the crawl cannot work: it fails with the server's NOPERM */
	cmd(NULL, 0, "ACL SETUSER terrarium -scan");
	assert_int_equal(collect(cfg, NULL, &text), 1);
	if (!strstr(text, "NOPERM"))
		fail_msg("the failure does not quote NOPERM:\n%s", text);
	free(text);
}

/* --- 5. the server is down -------------------------------------------------------------- */

static void test_server_down(void **state)
{
	char *before, *after, *errtext = NULL, status[32], reason[512];
	(void)state;

	before = tc_export_text(td.data_dir);
	redisFree(subscriber);
	subscriber = NULL;
	redis_test_stop(&rs);
	rs_up = 0;

	assert_int_equal(collect(cfg_main, NULL, &errtext), 1);
	assert_non_null(errtext);
	if (!strstr(errtext, "redis: cannot connect to 127.0.0.1:") ||
	    !strstr(errtext, "connection refused"))
		fail_msg("the failure does not name the connection:\n%s", errtext);
	free(errtext);
	last_run(status, sizeof(status), reason, sizeof(reason));
	assert_string_equal(status, "failed");
	after = tc_export_text(td.data_dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* --- 0b. the binding itself ----------------------------------------------------------------- */

/* A collector that checks the redis binding against the real server with
 * assert(): values, nil, binary data, error replies, pipelines, bad
 * arguments, the reply size bound, databases, URLs, close, timeouts. */
static const char binding_lua[] =
	"local redis = require 'redis'\n"
	"local url = config.url\n"
	"local c = assert(redis.connect(url, { timeout = 5 }))\n"
	"assert(c:command('SET', 'bind:s', 'v') == 'OK')\n"
	"assert(c:command('GET', 'bind:s') == 'v')\n"
	"local v, e = c:command('GET', 'bind:none')\n"
	"assert(v == nil and e == nil, 'a nil reply is nil without an error')\n"
	"assert(c:command('INCRBY', 'bind:n', 5) == 5)\n"
	"assert(math.type(c:command('INCRBY', 'bind:n', 1)) == 'integer')\n"
	"assert(c:command('SET', 'bind:f', 1.5) == 'OK' and c:command('GET', 'bind:f') == '1.5')\n"
	"local bin = 'a\\0b\\255'\n"
	"c:command('SET', 'bind:bin', bin)\n"
	"assert(c:command('GET', 'bind:bin') == bin, 'binary safe')\n"
	"local m = c:command('MGET', 'bind:s', 'bind:none')\n"
	"assert(m[1] == 'v' and m[2] == redis.null and m[2] == json.null and #m == 2)\n"
	"local x, err = c:command('HGET', 'bind:s', 'f')\n"
	"assert(x == nil and err:match('^redis: WRONGTYPE'), err)\n"
	"assert(c:command('PING') == 'PONG', 'an error reply leaves the connection usable')\n"
	"local r = c:pipeline({ { 'PING' }, { 'HGET', 'bind:s', 'f' }, { 'GET', 'bind:none' },\n"
	"                       { 'TYPE', 'bind:s' } })\n"
	"assert(#r == 4 and r[1] == 'PONG' and r[2] == false and r.errors[2]:match('WRONGTYPE')\n"
	"       and r[3] == redis.null and r[4] == 'string')\n"
	"assert(#c:pipeline({}) == 0)\n"
	"local cmds = {}\n"
	"for i = 1, 5000 do cmds[i] = { 'SET', 'bind:k' .. i, i } end\n"
	"local rr = c:pipeline(cmds)\n"
	"assert(#rr == 5000 and rr[5000] == 'OK' and rr.errors == nil)\n"
	"assert(c:command('GET', 'bind:k4999') == '4999')\n"
	"assert(not pcall(c.command, c))\n"
	"assert(not pcall(c.command, c, 'GET', {}))\n"
	"assert(not pcall(c.pipeline, c, { 'GET' }))\n"
	"assert(not pcall(redis.connect, url, { timeout = -1 }))\n"
	"assert(not pcall(redis.connect, { host = 'x', bogus = 1 }))\n"
	"assert(c:command('PING') == 'PONG', 'bad arguments leave the connection usable')\n"
	"local small = assert(redis.connect(url, { max_bytes = 1024 }))\n"
	"small:command('SET', 'bind:big', string.rep('x', 5000))\n"
	"local b, berr = small:command('GET', 'bind:big')\n"
	"assert(b == nil and berr:match('larger than 1024 bytes'), berr)\n"
	"assert(not pcall(small.command, small, 'PING'), 'closed after an I/O failure')\n"
	"local d3 = assert(redis.connect((url:gsub('/2$', '/3'))))\n"
	"d3:command('SET', 'bind:db3', 'x')\n"
	"local t = assert(redis.connect({ host = '127.0.0.1', port = config.port, db = 3 }))\n"
	"assert(t:command('GET', 'bind:db3') == 'x')\n"
	"assert(c:command('GET', 'bind:db3') == nil)\n"
	"local n1, e1 = redis.connect('http://x')\n"
	"assert(n1 == nil and e1:match('cannot use the URL'))\n"
	"local n2, e2 = redis.connect('rediss://x')\n"
	"assert(n2 == nil and e2:match('no TLS'))\n"
	"local n3, e3 = redis.connect('redis://:nopw@127.0.0.1:' .. config.port)\n"
	"assert(n3 == nil and e3:match('^redis: ERR AUTH'), e3)\n"
	"c:close()\n"
	"assert(not pcall(c.command, c, 'PING'), 'a closed connection raises')\n"
	"local slow = assert(redis.connect(url, { timeout = 0.3 }))\n"
	"local t0 = time.now()\n"
	"local s1, s2 = slow:command('BLPOP', 'bind:never', 5)\n"
	"assert(s1 == nil and s2:match('timeout after 0.3 s'), tostring(s2))\n"
	"assert(time.now() - t0 < 2)\n"
	/* The peer may reset the connection before connect() returns, or
	 * hang up during the pipeline: either fails cleanly. */
	"local p, perr = redis.connect('redis://127.0.0.1:' .. config.closing_port)\n"
	"if p then\n"
	"  local big = {}\n"
	"  for i = 1, 2000 do big[i] = { 'SET', 'k' .. i, string.rep('x', 4096) } end\n"
	"  local pr\n"
	"  pr, perr = p:pipeline(big)\n"
	"  assert(pr == nil, 'a pipeline to a peer that hangs up succeeded')\n"
	"end\n"
	"assert(perr:match('^redis: '), 'a peer that hangs up: ' .. tostring(perr))\n"
	"tile { status = 'up', title = 'binding ok' }\n";

static void test_binding(void **state)
{
	char bdir[400], path[500], cfg[500], text[600], *out = NULL;
	json_t *batch;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int lfd, st;
	pid_t peer;
	(void)state;

	/* a peer that hangs up on every connection at once (RST): a pipeline of
	 * 8 MB to it fails with a message, and the process goes on */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(listen(lfd, 8), 0);
	fflush(NULL);
	peer = fork();
	assert_true(peer >= 0);
	if (peer == 0) {
		alarm(30);
		for (;;) {
			int c = accept(lfd, NULL, NULL);
			struct linger lg = { 1, 0 };
			if (c < 0)
				_exit(0);
			setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(c);
		}
	}

	snprintf(bdir, sizeof(bdir), "%s/bind", td.dir);
	snprintf(path, sizeof(path), "%s/collectors", bdir);
	assert_int_equal(mkdir(bdir, 0700), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/collectors/redisbind.lua", bdir);
	tc_write_file(path, binding_lua);
	snprintf(cfg, sizeof(cfg), "%s/bind.lua", td.dir);
	snprintf(text, sizeof(text),
		 "plugins = { redisbind = { timeout = 30, url = \"%s/2\", port = %d, "
		 "closing_port = %d } }\n",
		 rs.url, rs.port, ntohs(a.sin_port));
	tc_write_file(cfg, text);

	const char *argv[] = { tc_bin(), "collect", "redisbind", "--json", "--dry-run", "--config",
			       cfg, "--data", bdir, NULL };
	int rc = tc_run(argv, NULL, NULL, td.out_path, td.err_path, RUN_MS);
	kill(peer, SIGKILL);
	waitpid(peer, &st, 0);
	close(lfd);
	/* the crawl tests expect dbs 0 and 1 only */
	char err[256];
	redisContext *c = redis_test_connect(&rs, err, sizeof(err));
	if (!c)
		fail_msg("%s", err);
	for (int db = 2; db <= 3; db++) {
		freeReplyObject(redisCommand(c, "SELECT %d", db));
		freeReplyObject(redisCommand(c, "FLUSHDB"));
	}
	redisFree(c);
	out = tc_slurp(td.out_path);
	if (rc != 0) {
		char *e = tc_slurp(td.err_path);
		fail_msg("the binding checks failed (%d):\n%s", rc, e ? e : "");
	}
	batch = json_loads(out, 0, NULL);
	assert_non_null(batch);
	assert_string_equal(tc_str(json_object_get(batch, "tile"), "title"), "binding ok");
	json_decref(batch);
	free(out);
}

/* --- 0. the collector's own tests, on a fake binding -------------------------------------- */

static void test_lua_tests(void **state)
{
	(void)state;
	tc_plugin_test(&td, "lua/collectors/redis_test.lua", RUN_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lua_tests),
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_crawl),
		cmocka_unit_test(test_deleted_pattern_is_stale),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_silent_peer),
		cmocka_unit_test(test_garbage_peer),
		cmocka_unit_test(test_documented_acl),
		cmocka_unit_test(test_server_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
