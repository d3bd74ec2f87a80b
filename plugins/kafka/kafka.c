/*
 * plugins/kafka/kafka.c - the Kafka client binding for Lua collectors:
 * `local kafka = require "kafka"` (module registered by the built-in plugin
 * "lua_kafka"), on librdkafka (2.0.2 and later).
 *
 *   client, err = kafka.connect(bootstrap [, opts])
 *       BOOTSTRAP: "host:port[,host:port...]".  OPTS = { timeout = 10 (s,
 *       the default bound of every call of this client), properties = {
 *       ["security.protocol"] = "SASL_SSL", ["sasl.username"] = ..., ... } }
 *       (librdkafka configuration properties, passed through as they are;
 *       the binding sets bootstrap.servers, group.id and enable.auto.commit
 *       itself).  Connecting asks the cluster for its broker list, so an
 *       unreachable cluster fails here.
 *   md, err = client:metadata([opts])
 *       { cluster_id = "...", controller = 1 (absent when unknown),
 *         brokers = { { id = 1, host = "h", port = 9092 }, ... },
 *         topics = { { name = "t", error = "..." (absent when fine),
 *                      partitions = { { id = 0, leader = 1, replicas = {1, 2},
 *                                       isr = {1, 2}, error = "..." }, ... } }, ... } }
 *   wm, err = client:watermarks({ [topic] = { partition ids } } [, opts])
 *       { [topic] = { [partition] = { low = 0, high = 42 } or { error = "..." } } }
 *       Two bulk ListOffsets rounds (earliest, latest) for all partitions.
 *   offs, err = client:committed(group, { [topic] = { partition ids } } [, opts])
 *       { [topic] = { [partition] = offset } }: only partitions with a
 *       committed offset (OffsetFetch, through a short-lived consumer with
 *       that group.id that never joins the group).
 *   groups, err = client:groups([opts])
 *       { { id = "g", state = "Stable", protocol_type = "consumer",
 *           protocol = "range", coordinator = 2, simple = false,
 *           members = { { client_id = , consumer_id = , host = ,
 *                         assignment = { [topic] = { partitions } } } } }, ... }
 *       (the classic ListGroups + DescribeGroups of every broker);
 *       groups.errors holds the error when only some brokers answered.
 *   desc, err = client:describe_groups({ "g", ... } [, opts])
 *       { [group] = { state = , protocol = , coordinator = ,
 *                     members = { { client_id = , host = , topics = {...} } } } }
 *       The admin API's view (client:groups() has most of it already).
 *       Only after client:groups() succeeded on this client: on librdkafka
 *       2.0.2, a DescribeGroups the brokers do not support can wedge the
 *       handle it ran on for every later call (and its destruction), so it
 *       runs on a handle of its own, never reused, destroyed on a detached
 *       thread; a broker that does not answer ListGroups is never asked.
 *   cfgs, err = client:configs({ "topic", ... } [, opts])
 *       { [topic] = { [name] = { value = "...", source = "DYNAMIC_TOPIC_CONFIG",
 *                                default = false, sensitive = false } } or
 *                   { error = "..." } } (DescribeConfigs, sent to one broker).
 *   client:close()   (also on garbage collection and for `local c <close>`)
 *
 * Every call is bounded by its timeout (opts.timeout, else the client's).
 * Failures return nil and a message starting "kafka: ", e.g.
 *   "kafka: cannot reach 127.0.0.1:1 within 3 s (connect to ipv4#127.0.0.1:1 failed: Connection refused)"
 *   "kafka: ListGroups is not supported by the brokers (Local: Required feature not supported by broker)"
 * Wrong arguments raise a Lua error.  Values of properties named like
 * secrets (password, secret) never appear in messages.
 *
 * Every C resource of a call is owned by a guard userdata with a __gc
 * metamethod, so a Lua error in the middle (a memory limit) leaks nothing.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <librdkafka/rdkafka.h>
#include <lua.h>

#include "hub/plugin.h"

#define DEFAULT_TIMEOUT 10.0
#define MAX_TIMEOUT 3600.0
#define MAX_PROPS 64
#define MAX_BOOTSTRAP 2048
#define CLIENT_MT "terrarium.kafka.client"
#define GUARD_MT "terrarium.kafka.guard"
#define GUARD_SLOTS 8

struct kclient {
	rd_kafka_t *rk;
	double timeout;
	int groups_listed;          /* ListGroups answered: DescribeGroups may be tried */
	char bootstrap[MAX_BOOTSTRAP];
	char *props[2 * MAX_PROPS]; /* key, value, ... (copies, for short-lived handles) */
	int nprops;
	pthread_mutex_t lock;       /* guards last_log (written by librdkafka threads) */
	int lock_ok;
	char last_log[400];
};

/* --- the guard: C resources freed on return or by __gc ----------------------------- */

struct guard {
	struct {
		void (*fn)(void *);
		void *p;
	} slot[GUARD_SLOTS];
};

/* Free what G holds now (the guard is then empty). */
static void guard_run(struct guard *g)
{
	for (int i = GUARD_SLOTS - 1; i >= 0; i--) {
		if (g->slot[i].fn && g->slot[i].p)
			g->slot[i].fn(g->slot[i].p);
		g->slot[i].fn = NULL;
		g->slot[i].p = NULL;
	}
}

static int guard_gc(lua_State *L)
{
	guard_run(luaL_checkudata(L, 1, GUARD_MT));
	return 0;
}

static struct guard *guard_push(lua_State *L)
{
	struct guard *g = lua_newuserdatauv(L, sizeof(*g), 0);
	memset(g, 0, sizeof(*g));
	luaL_setmetatable(L, GUARD_MT);
	return g;
}

/* Hand P to G (slot I) to be freed by FN. */
static void guard_set(struct guard *g, int i, void (*fn)(void *), void *p)
{
	g->slot[i].fn = fn;
	g->slot[i].p = p;
}

static void free_list(void *p)
{
	rd_kafka_topic_partition_list_destroy(p);
}

static void free_metadata(void *p)
{
	rd_kafka_metadata_destroy(p);
}

static void free_queue(void *p)
{
	rd_kafka_queue_destroy(p);
}

static void free_event(void *p)
{
	rd_kafka_event_destroy(p);
}

static void free_adminopts(void *p)
{
	rd_kafka_AdminOptions_destroy(p);
}

static void free_consumer(void *p)
{
	rd_kafka_destroy_flags(p, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

static void free_cfgres(void *p)
{
	rd_kafka_ConfigResource_t **res = p;
	for (size_t i = 0; res[i]; i++)
		rd_kafka_ConfigResource_destroy(res[i]);
	free(res);
}

/* --- helpers -------------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ms_of(double s)
{
	double ms = ceil(s * 1000.0);
	if (ms < 1)
		ms = 1;
	if (ms > 3600000.0)
		ms = 3600000.0;
	return (int)ms;
}

static double read_timeout(lua_State *L, int idx, double def)
{
	double t = def;
	if (lua_isnoneornil(L, idx))
		return t;
	luaL_checktype(L, idx, LUA_TTABLE);
	if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
		int isnum;
		t = lua_tonumberx(L, -1, &isnum);
		if (!isnum || !(t > 0) || t > MAX_TIMEOUT)
			luaL_error(L, "kafka: timeout must be a number of seconds in (0, %d]",
				   (int)MAX_TIMEOUT);
	}
	lua_pop(L, 1);
	return t;
}

static int fail(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(lua_State *L, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lua_pushnil(L);
	lua_pushfstring(L, "kafka: %s", msg);
	return 2;
}

static int gfail(lua_State *L, struct guard *g, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* fail(), after freeing what G holds. */
static int gfail(lua_State *L, struct guard *g, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	/* the message first: its arguments may point into what G holds */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	guard_run(g);
	return fail(L, "%s", msg);
}

static int secret_key(const char *k)
{
	return strstr(k, "password") || strstr(k, "secret") || strstr(k, "pem") ||
	       strstr(k, "jaas") || strstr(k, "token");
}

/* librdkafka's log lines: kept (the last warning or worse) for messages,
 * never printed.  Called on librdkafka's threads. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct kclient *c = rd_kafka_opaque(rk);
	(void)fac;
	if (!c || level > 4 || !c->lock_ok)
		return;
	pthread_mutex_lock(&c->lock);
	/* "[thrd:...]: " prefixes say nothing to a user */
	const char *p = strstr(buf, "]: ");
	p = p ? p + 3 : buf;
	snprintf(c->last_log, sizeof(c->last_log), "%s", p);
	/* the first letter lowercased, as our messages are */
	if (isupper((unsigned char)c->last_log[0]) && islower((unsigned char)c->last_log[1]))
		c->last_log[0] = (char)tolower((unsigned char)c->last_log[0]);
	pthread_mutex_unlock(&c->lock);
}

static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

static void last_log(struct kclient *c, char *out, size_t outlen)
{
	out[0] = '\0';
	if (!c->lock_ok)
		return;
	pthread_mutex_lock(&c->lock);
	snprintf(out, outlen, "%s", c->last_log);
	pthread_mutex_unlock(&c->lock);
}

/* A configuration for a handle of client C: bootstrap, properties, timeouts.
 * NULL with ERR on a property librdkafka refuses. */
static rd_kafka_conf_t *make_conf(struct kclient *c, int quiet, char *err, size_t errlen)
{
	char e[512], ms[32];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(ms, sizeof(ms), "%d", ms_of(c->timeout));
	if (rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, e, sizeof(e)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "socket.timeout.ms", ms, e, sizeof(e)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "socket.connection.setup.timeout.ms", ms, e, sizeof(e)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "log.connection.close", "false", e, sizeof(e)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "client.id", "terrarium", e, sizeof(e)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "%s", e);
		goto bad;
	}
	for (int i = 0; i < c->nprops; i++) {
		const char *k = c->props[2 * i], *v = c->props[2 * i + 1];
		if (rd_kafka_conf_set(conf, k, v, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
			if (secret_key(k))
				snprintf(err, errlen, "property '%s' is not accepted by librdkafka", k);
			else
				snprintf(err, errlen, "property '%s': %s", k, e);
			goto bad;
		}
	}
	if (quiet) {
		rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
	} else {
		rd_kafka_conf_set_opaque(conf, c);
		rd_kafka_conf_set_log_cb(conf, log_cb);
	}
	return conf;
bad:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* --- the client ------------------------------------------------------------------------ */

static void client_release(struct kclient *c)
{
	if (c->rk)
		rd_kafka_destroy(c->rk);
	c->rk = NULL;
	for (int i = 0; i < 2 * c->nprops; i++) {
		if (c->props[i]) {
			memset(c->props[i], 0, strlen(c->props[i]));
			free(c->props[i]);
		}
		c->props[i] = NULL;
	}
	c->nprops = 0;
	if (c->lock_ok)
		pthread_mutex_destroy(&c->lock);
	c->lock_ok = 0;
}

static int client_gc(lua_State *L)
{
	client_release(luaL_checkudata(L, 1, CLIENT_MT));
	return 0;
}

static struct kclient *check_open(lua_State *L)
{
	struct kclient *c = luaL_checkudata(L, 1, CLIENT_MT);
	if (!c->rk)
		luaL_error(L, "kafka: the client is closed");
	return c;
}

/* Whether ERR says the cluster could not be reached at all. */
static int unreachable(rd_kafka_resp_err_t err)
{
	return err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
	       err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__RESOLVE;
}

static int reach_fail(lua_State *L, struct kclient *c, rd_kafka_resp_err_t err, double timeout,
		      const char *what)
{
	char logline[400];
	last_log(c, logline, sizeof(logline));
	if (unreachable(err))
		return fail(L, "cannot reach %s within %g s%s%s%s", c->bootstrap, timeout,
			    logline[0] ? " (" : "", logline, logline[0] ? ")" : "");
	return fail(L, "%s: %s (%s)", what, rd_kafka_err2str(err), c->bootstrap);
}

static int l_connect(lua_State *L)
{
	size_t blen;
	const char *bootstrap = luaL_checklstring(L, 1, &blen);
	char err[600];
	lua_settop(L, 2);
	if (blen == 0 || blen >= MAX_BOOTSTRAP || strlen(bootstrap) != blen)
		return luaL_argerror(L, 1, "bootstrap servers: \"host:port[,host:port]\"");
	double timeout = read_timeout(L, 2, DEFAULT_TIMEOUT);
	struct kclient *c = lua_newuserdatauv(L, sizeof(*c), 0);
	memset(c, 0, sizeof(*c));
	luaL_setmetatable(L, CLIENT_MT);
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		return luaL_error(L, "kafka: cannot create a mutex");
	c->lock_ok = 1;
	c->timeout = timeout;
	snprintf(c->bootstrap, sizeof(c->bootstrap), "%s", bootstrap);
	if (lua_istable(L, 2) && lua_getfield(L, 2, "properties") != LUA_TNIL) {
		int t = lua_gettop(L);
		if (!lua_istable(L, t))
			return luaL_error(L, "kafka: opts.properties must be a table of name = value");
		lua_pushnil(L);
		while (lua_next(L, t)) {
			if (lua_type(L, -2) != LUA_TSTRING ||
			    (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER &&
			     lua_type(L, -1) != LUA_TBOOLEAN))
				return luaL_error(L, "kafka: opts.properties must map names to strings, "
						     "numbers or booleans");
			const char *k = lua_tostring(L, -2);
			if (strcmp(k, "bootstrap.servers") == 0 || strcmp(k, "group.id") == 0 ||
			    strcmp(k, "enable.auto.commit") == 0)
				return luaL_error(L, "kafka: property '%s' is set by the binding", k);
			if (c->nprops == MAX_PROPS)
				return luaL_error(L, "kafka: more than %d properties", MAX_PROPS);
			const char *v;
			if (lua_type(L, -1) == LUA_TBOOLEAN)
				v = lua_toboolean(L, -1) ? "true" : "false";
			else
				v = lua_tostring(L, -1); /* converts a number in place: a copy is on the stack */
			c->props[2 * c->nprops] = strdup(k);
			c->props[2 * c->nprops + 1] = strdup(v);
			c->nprops++;
			if (!c->props[2 * c->nprops - 2] || !c->props[2 * c->nprops - 1])
				return luaL_error(L, "kafka: out of memory");
			lua_pop(L, 1);
		}
	}
	lua_settop(L, 3);
	rd_kafka_conf_t *conf = make_conf(c, 0, err, sizeof(err));
	if (!conf)
		return fail(L, "%s", err);
	c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!c->rk) {
		rd_kafka_conf_destroy(conf);
		return fail(L, "cannot create a client: %s", err);
	}
	/* Reach the cluster now: an unreachable one fails here. */
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e = rd_kafka_metadata(c->rk, 0, NULL, &md, ms_of(timeout));
	if (e) {
		int r = reach_fail(L, c, e, timeout, "metadata");
		client_release(c);
		return r;
	}
	rd_kafka_metadata_destroy(md);
	lua_settop(L, 3);
	return 1;
}

static void push_int_array(lua_State *L, const int32_t *v, int n)
{
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		lua_pushinteger(L, v[i]);
		lua_rawseti(L, -2, i + 1);
	}
}

static int l_metadata(lua_State *L)
{
	struct kclient *c = check_open(L);
	double timeout = read_timeout(L, 2, c->timeout);
	double deadline = now_s() + timeout;
	const struct rd_kafka_metadata *md = NULL;
	lua_settop(L, 2);
	struct guard *g = guard_push(L);
	rd_kafka_resp_err_t e = rd_kafka_metadata(c->rk, 1, NULL, &md, ms_of(timeout));
	if (e)
		return (guard_run(g), reach_fail(L, c, e, timeout, "metadata"));
	guard_set(g, 0, free_metadata, (void *)md);

	lua_createtable(L, 0, 4);
	lua_createtable(L, md->broker_cnt, 0);
	for (int i = 0; i < md->broker_cnt; i++) {
		lua_createtable(L, 0, 3);
		lua_pushinteger(L, md->brokers[i].id);
		lua_setfield(L, -2, "id");
		lua_pushstring(L, md->brokers[i].host);
		lua_setfield(L, -2, "host");
		lua_pushinteger(L, md->brokers[i].port);
		lua_setfield(L, -2, "port");
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "brokers");
	lua_createtable(L, md->topic_cnt, 0);
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];
		lua_createtable(L, 0, 3);
		lua_pushstring(L, t->topic);
		lua_setfield(L, -2, "name");
		if (t->err) {
			lua_pushstring(L, rd_kafka_err2str(t->err));
			lua_setfield(L, -2, "error");
		}
		lua_createtable(L, t->partition_cnt, 0);
		for (int j = 0; j < t->partition_cnt; j++) {
			const struct rd_kafka_metadata_partition *p = &t->partitions[j];
			lua_createtable(L, 0, 5);
			lua_pushinteger(L, p->id);
			lua_setfield(L, -2, "id");
			lua_pushinteger(L, p->leader);
			lua_setfield(L, -2, "leader");
			push_int_array(L, p->replicas, p->replica_cnt);
			lua_setfield(L, -2, "replicas");
			push_int_array(L, p->isrs, p->isr_cnt);
			lua_setfield(L, -2, "isr");
			if (p->err) {
				lua_pushstring(L, rd_kafka_err2str(p->err));
				lua_setfield(L, -2, "error");
			}
			lua_rawseti(L, -2, j + 1);
		}
		lua_setfield(L, -2, "partitions");
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "topics");

	/* The cluster id and the controller come from a cached Metadata answer. */
	double left = deadline - now_s();
	if (left > 0.001) {
		char *cid = rd_kafka_clusterid(c->rk, ms_of(left < 1 ? left : 1));
		if (cid) {
			lua_pushstring(L, cid);
			rd_kafka_mem_free(c->rk, cid);
			lua_setfield(L, -2, "cluster_id");
		}
	}
	left = deadline - now_s();
	if (left > 0.001) {
		int32_t ctl = rd_kafka_controllerid(c->rk, ms_of(left < 1 ? left : 1));
		for (int i = 0; ctl >= 0 && i < md->broker_cnt; i++) {
			if (md->brokers[i].id == ctl) {
				lua_pushinteger(L, ctl);
				lua_setfield(L, -2, "controller");
				break;
			}
		}
	}
	guard_run(g);
	return 1;
}

/*
 * The argument at IDX, { [topic] = { partition ids } }, as a partition list
 * (in guard slot SLOT).  Raises a Lua error on a malformed argument.
 */
static rd_kafka_topic_partition_list_t *read_parts(lua_State *L, int idx, struct guard *g, int slot)
{
	int n = 0;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1))
			luaL_error(L, "kafka: partitions must map topic names to lists of partition ids");
		n += (int)lua_rawlen(L, -1);
		lua_pop(L, 1);
	}
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
	if (!l)
		luaL_error(L, "kafka: out of memory");
	guard_set(g, slot, free_list, l);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const char *topic = lua_tostring(L, -2);
		lua_Integer m = (lua_Integer)lua_rawlen(L, -1);
		for (lua_Integer i = 1; i <= m; i++) {
			lua_rawgeti(L, -1, i);
			int isint;
			lua_Integer p = lua_tointegerx(L, -1, &isint);
			if (!isint || p < 0 || p > INT32_MAX)
				luaL_error(L, "kafka: partition ids of '%s' must be integers >= 0", topic);
			lua_pop(L, 1);
			rd_kafka_topic_partition_list_add(l, topic, (int32_t)p);
		}
		lua_pop(L, 1);
	}
	return l;
}

/* Push the table for TOPIC in the result at index RES (created on demand). */
static void topic_table(lua_State *L, int res, const char *topic)
{
	if (lua_getfield(L, res, topic) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, res, topic);
	}
}

static int l_watermarks(lua_State *L)
{
	struct kclient *c = check_open(L);
	double timeout = read_timeout(L, 3, c->timeout);
	double deadline = now_s() + timeout;
	lua_settop(L, 3);
	struct guard *g = guard_push(L); /* 4 */
	rd_kafka_topic_partition_list_t *lo = read_parts(L, 2, g, 0);
	rd_kafka_topic_partition_list_t *hi = rd_kafka_topic_partition_list_copy(lo);
	if (!hi)
		return luaL_error(L, "kafka: out of memory");
	guard_set(g, 1, free_list, hi);
	if (lo->cnt == 0) {
		lua_newtable(L);
		return 1;
	}
	for (int i = 0; i < lo->cnt; i++) {
		lo->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING; /* ListOffsets timestamp -2 */
		hi->elems[i].offset = RD_KAFKA_OFFSET_END;       /* -1 */
	}
	rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(c->rk, lo, ms_of(timeout));
	if (!e) {
		double left = deadline - now_s();
		if (left <= 0)
			e = RD_KAFKA_RESP_ERR__TIMED_OUT;
		else
			e = rd_kafka_offsets_for_times(c->rk, hi, ms_of(left));
	}
	if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
		return gfail(L, g, "timeout after %g s reading the watermarks of %d partitions (%s)",
			    timeout, lo->cnt, c->bootstrap);
	if (e)
		return (guard_run(g), reach_fail(L, c, e, timeout, "watermarks"));
	lua_newtable(L); /* 5 */
	for (int i = 0; i < lo->cnt; i++) {
		const rd_kafka_topic_partition_t *a = &lo->elems[i];
		const rd_kafka_topic_partition_t *b = NULL;
		/* offsets_for_times keeps the order; find the twin if it did not */
		if (i < hi->cnt && hi->elems[i].partition == a->partition &&
		    strcmp(hi->elems[i].topic, a->topic) == 0)
			b = &hi->elems[i];
		else
			b = rd_kafka_topic_partition_list_find(hi, a->topic, a->partition);
		topic_table(L, 5, a->topic);
		lua_createtable(L, 0, 2);
		rd_kafka_resp_err_t pe = a->err ? a->err : (b ? b->err : RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION);
		if (pe || a->offset < 0 || !b || b->offset < 0) {
			lua_pushstring(L, pe ? rd_kafka_err2str(pe) : "no offsets answered");
			lua_setfield(L, -2, "error");
		} else {
			lua_pushinteger(L, a->offset);
			lua_setfield(L, -2, "low");
			lua_pushinteger(L, b->offset);
			lua_setfield(L, -2, "high");
		}
		lua_rawseti(L, -2, a->partition);
		lua_pop(L, 1);
	}
	guard_run(g);
	return 1;
}

static int l_committed(lua_State *L)
{
	struct kclient *c = check_open(L);
	size_t glen;
	const char *group = luaL_checklstring(L, 2, &glen);
	double timeout = read_timeout(L, 4, c->timeout);
	char err[600];
	lua_settop(L, 4);
	if (glen == 0 || strlen(group) != glen)
		return luaL_argerror(L, 2, "a group id");
	struct guard *g = guard_push(L); /* 5 */
	rd_kafka_topic_partition_list_t *l = read_parts(L, 3, g, 0);
	if (l->cnt == 0) {
		lua_newtable(L);
		return 1;
	}
	rd_kafka_conf_t *conf = make_conf(c, 1, err, sizeof(err));
	if (!conf)
		return gfail(L, g, "%s", err);
	if (rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return gfail(L, g, "group '%s': %s", group, err);
	}
	rd_kafka_t *co = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!co) {
		rd_kafka_conf_destroy(conf);
		return gfail(L, g, "cannot create a consumer for group '%s': %s", group, err);
	}
	guard_set(g, 1, free_consumer, co);
	rd_kafka_resp_err_t e = rd_kafka_committed(co, l, ms_of(timeout));
	if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
		return gfail(L, g, "timeout after %g s reading the committed offsets of group '%s' (%s)",
			    timeout, group, c->bootstrap);
	if (e)
		return gfail(L, g, "committed offsets of group '%s': %s (%s)", group, rd_kafka_err2str(e),
			    c->bootstrap);
	lua_newtable(L); /* 6 */
	for (int i = 0; i < l->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &l->elems[i];
		if (p->err || p->offset < 0)
			continue;
		topic_table(L, 6, p->topic);
		lua_pushinteger(L, p->offset);
		lua_rawseti(L, -2, p->partition);
		lua_pop(L, 1);
	}
	guard_run(g);
	return 1;
}

/* Wait for the admin result of type TYPE on Q until the deadline: the event
 * (in guard slot SLOT) or NULL (timed out). */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type, double deadline,
				    struct guard *g, int slot)
{
	for (;;) {
		double left = deadline - now_s();
		if (left <= 0)
			return NULL;
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ms_of(left));
		if (!ev)
			continue;
		if (rd_kafka_event_type(ev) == type) {
			guard_set(g, slot, free_event, ev);
			return ev;
		}
		rd_kafka_event_destroy(ev);
	}
}

static const char *group_state(rd_kafka_consumer_group_state_t s)
{
	const char *name = rd_kafka_consumer_group_state_name(s);
	return name ? name : "Unknown";
}

static void free_grouplist(void *p)
{
	rd_kafka_group_list_destroy(p);
}

/* Big-endian reads for the consumer protocol's Assignment. */
static int rd16(const unsigned char **p, const unsigned char *end, int *v)
{
	if (end - *p < 2)
		return -1;
	*v = (int16_t)(((*p)[0] << 8) | (*p)[1]);
	*p += 2;
	return 0;
}

static int rd32(const unsigned char **p, const unsigned char *end, int32_t *v)
{
	if (end - *p < 4)
		return -1;
	*v = (int32_t)(((uint32_t)(*p)[0] << 24) | ((uint32_t)(*p)[1] << 16) |
		       ((uint32_t)(*p)[2] << 8) | (uint32_t)(*p)[3]);
	*p += 4;
	return 0;
}

/*
 * Push { [topic] = { partitions } } from a "consumer" protocol member
 * assignment (version int16, [topic string, [partition int32]], user data):
 * an empty table when it cannot be parsed.
 */
static void push_assignment(lua_State *L, const void *buf, int size)
{
	const unsigned char *p = buf, *end = p + (size > 0 ? size : 0);
	int version, tlen;
	int32_t ntopics, nparts, part = 0;
	lua_newtable(L);
	int t = lua_gettop(L);
	if (!buf || rd16(&p, end, &version) < 0 || rd32(&p, end, &ntopics) < 0 || ntopics < 0)
		return;
	for (int32_t i = 0; i < ntopics; i++) {
		if (rd16(&p, end, &tlen) < 0 || tlen < 0 || end - p < tlen)
			return;
		lua_pushlstring(L, (const char *)p, (size_t)tlen);
		p += tlen;
		if (rd32(&p, end, &nparts) < 0 || nparts < 0 || (end - p) / 4 < nparts) {
			lua_pop(L, 1);
			return;
		}
		lua_createtable(L, nparts, 0);
		for (int32_t j = 0; j < nparts; j++) {
			rd32(&p, end, &part);
			lua_pushinteger(L, part);
			lua_rawseti(L, -2, j + 1);
		}
		lua_rawset(L, t);
	}
}

/*
 * Groups through the classic ListGroups + DescribeGroups requests
 * (rd_kafka_list_groups): bounded by its timeout, and on librdkafka 2.0.2 it
 * neither leaks nor wedges when the brokers do not support them, which the
 * admin ListConsumerGroups does (a reference per call).
 */
static int l_groups(lua_State *L)
{
	struct kclient *c = check_open(L);
	double timeout = read_timeout(L, 2, c->timeout);
	const struct rd_kafka_group_list *gl = NULL;
	lua_settop(L, 2);
	struct guard *g = guard_push(L); /* 3 */
	rd_kafka_resp_err_t e = rd_kafka_list_groups(c->rk, NULL, &gl, ms_of(timeout));
	if (gl)
		guard_set(g, 0, free_grouplist, (void *)gl);
	if (e == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE || e == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION)
		return gfail(L, g, "ListGroups is not supported by the brokers (%s)", rd_kafka_err2str(e));
	if (e == RD_KAFKA_RESP_ERR__TIMED_OUT && (!gl || gl->group_cnt == 0))
		return gfail(L, g, "timeout after %g s listing consumer groups (%s)", timeout,
			     c->bootstrap);
	if (e && e != RD_KAFKA_RESP_ERR__PARTIAL && e != RD_KAFKA_RESP_ERR__TIMED_OUT)
		return gfail(L, g, "ListGroups: %s (%s)", rd_kafka_err2str(e), c->bootstrap);
	int n = gl ? gl->group_cnt : 0;
	lua_createtable(L, n, 1);
	for (int i = 0; i < n; i++) {
		const struct rd_kafka_group_info *gi = &gl->groups[i];
		lua_createtable(L, 0, 6);
		lua_pushstring(L, gi->group);
		lua_setfield(L, -2, "id");
		if (gi->err) {
			lua_pushstring(L, rd_kafka_err2str(gi->err));
			lua_setfield(L, -2, "error");
		}
		if (gi->state && *gi->state) {
			lua_pushstring(L, gi->state);
			lua_setfield(L, -2, "state");
		}
		if (gi->protocol_type && *gi->protocol_type) {
			lua_pushstring(L, gi->protocol_type);
			lua_setfield(L, -2, "protocol_type");
		}
		if (gi->protocol && *gi->protocol) {
			lua_pushstring(L, gi->protocol);
			lua_setfield(L, -2, "protocol");
		}
		lua_pushinteger(L, gi->broker.id);
		lua_setfield(L, -2, "coordinator");
		lua_pushboolean(L, !gi->protocol_type || !*gi->protocol_type);
		lua_setfield(L, -2, "simple");
		lua_createtable(L, gi->member_cnt, 0);
		for (int j = 0; j < gi->member_cnt; j++) {
			const struct rd_kafka_group_member_info *m = &gi->members[j];
			lua_createtable(L, 0, 4);
			lua_pushstring(L, m->member_id ? m->member_id : "");
			lua_setfield(L, -2, "consumer_id");
			lua_pushstring(L, m->client_id ? m->client_id : "");
			lua_setfield(L, -2, "client_id");
			lua_pushstring(L, m->client_host ? m->client_host : "");
			lua_setfield(L, -2, "host");
			if (gi->protocol_type && strcmp(gi->protocol_type, "consumer") == 0)
				push_assignment(L, m->member_assignment, m->member_assignment_size);
			else
				lua_newtable(L);
			lua_setfield(L, -2, "assignment");
			lua_rawseti(L, -2, j + 1);
		}
		lua_setfield(L, -2, "members");
		lua_rawseti(L, -2, i + 1);
	}
	if (e) {
		lua_createtable(L, 1, 0);
		lua_pushstring(L, rd_kafka_err2str(e));
		lua_rawseti(L, -2, 1);
		lua_setfield(L, -2, "errors");
	}
	c->groups_listed = 1;
	guard_run(g);
	return 1;
}

/* A handle used for DescribeGroups is destroyed here, off the collector's
 * thread: its destruction can hang when the call wedged it. */
static void *destroy_later(void *p)
{
	rd_kafka_destroy(p);
	return NULL;
}

static void abandon_handle(void *p)
{
	pthread_t t;
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) != 0)
		return; /* leaked rather than risk a hang */
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, destroy_later, p) != 0) {
		/* leaked rather than risk a hang */
	}
	pthread_attr_destroy(&attr);
}

static int l_describe_groups(lua_State *L)
{
	struct kclient *c = check_open(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	double timeout = read_timeout(L, 3, c->timeout);
	double deadline = now_s() + timeout;
	char err[600];
	lua_settop(L, 3);
	if (!c->groups_listed)
		return fail(L, "DescribeGroups skipped: the brokers did not answer ListGroups on this "
			       "client (asking one that does not support it can wedge the client)");
	lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
	if (n == 0) {
		lua_newtable(L);
		return 1;
	}
	if (n > 100000)
		return luaL_error(L, "kafka: more than 100000 groups");
	struct guard *g = guard_push(L); /* 4 */
	const char **ids = lua_newuserdatauv(L, sizeof(*ids) * (size_t)n, 0); /* 5 */
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, 2, i);
		if (lua_type(L, -1) != LUA_TSTRING)
			return luaL_error(L, "kafka: describe_groups wants a list of group ids");
		ids[i - 1] = lua_tostring(L, -1); /* anchored by the argument table */
		lua_pop(L, 1);
	}
	rd_kafka_conf_t *conf = make_conf(c, 1, err, sizeof(err));
	if (!conf)
		return gfail(L, g, "%s", err);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return gfail(L, g, "cannot create a client: %s", err);
	}
	/* freed last (slot 0), after the queue, options and event */
	guard_set(g, 0, abandon_handle, rk);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	if (!q)
		return luaL_error(L, "kafka: out of memory");
	guard_set(g, 1, free_queue, q);
	rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
	if (!o)
		return luaL_error(L, "kafka: out of memory");
	guard_set(g, 2, free_adminopts, o);
	rd_kafka_AdminOptions_set_request_timeout(o, ms_of(timeout), err, sizeof(err));
	rd_kafka_DescribeConsumerGroups(rk, ids, (size_t)n, o, q);
	rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, deadline, g, 3);
	if (!ev)
		return gfail(L, g, "timeout after %g s describing %d consumer groups (%s)", timeout, (int)n,
			    c->bootstrap);
	if (rd_kafka_event_error(ev))
		return gfail(L, g, "DescribeGroups: %s (%s)", rd_kafka_event_error_string(ev), c->bootstrap);
	const rd_kafka_DescribeConsumerGroups_result_t *res =
		rd_kafka_event_DescribeConsumerGroups_result(ev);
	size_t cnt = 0;
	const rd_kafka_ConsumerGroupDescription_t **d =
		rd_kafka_DescribeConsumerGroups_result_groups(res, &cnt);
	lua_createtable(L, 0, (int)cnt); /* 6 */
	for (size_t i = 0; i < cnt; i++) {
		const rd_kafka_error_t *ge = rd_kafka_ConsumerGroupDescription_error(d[i]);
		lua_createtable(L, 0, 5);
		if (ge) {
			lua_pushstring(L, rd_kafka_error_string(ge));
			lua_setfield(L, -2, "error");
		} else {
			lua_pushstring(L, group_state(rd_kafka_ConsumerGroupDescription_state(d[i])));
			lua_setfield(L, -2, "state");
			const char *pa = rd_kafka_ConsumerGroupDescription_partition_assignor(d[i]);
			if (pa && *pa) {
				lua_pushstring(L, pa);
				lua_setfield(L, -2, "protocol");
			}
			lua_pushboolean(L, rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d[i]));
			lua_setfield(L, -2, "simple");
			const rd_kafka_Node_t *coord = rd_kafka_ConsumerGroupDescription_coordinator(d[i]);
			if (coord) {
				lua_pushinteger(L, rd_kafka_Node_id(coord));
				lua_setfield(L, -2, "coordinator");
			}
			size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d[i]);
			lua_createtable(L, (int)nm, 0);
			for (size_t j = 0; j < nm; j++) {
				const rd_kafka_MemberDescription_t *m =
					rd_kafka_ConsumerGroupDescription_member(d[i], j);
				lua_createtable(L, 0, 4);
				lua_pushstring(L, rd_kafka_MemberDescription_client_id(m));
				lua_setfield(L, -2, "client_id");
				lua_pushstring(L, rd_kafka_MemberDescription_consumer_id(m));
				lua_setfield(L, -2, "consumer_id");
				lua_pushstring(L, rd_kafka_MemberDescription_host(m));
				lua_setfield(L, -2, "host");
				const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
				const rd_kafka_topic_partition_list_t *pl =
					a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
				lua_newtable(L);
				for (int k = 0; pl && k < pl->cnt; k++) {
					topic_table(L, lua_gettop(L), pl->elems[k].topic);
					lua_pushinteger(L, pl->elems[k].partition);
					lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
					lua_pop(L, 1);
				}
				lua_setfield(L, -2, "assignment");
				lua_rawseti(L, -2, (lua_Integer)j + 1);
			}
			lua_setfield(L, -2, "members");
		}
		lua_setfield(L, 6, rd_kafka_ConsumerGroupDescription_group_id(d[i]));
	}
	guard_run(g);
	return 1;
}

static int l_configs(lua_State *L)
{
	struct kclient *c = check_open(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	double timeout = read_timeout(L, 3, c->timeout);
	double deadline = now_s() + timeout;
	char e[256];
	lua_settop(L, 3);
	lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
	if (n == 0) {
		lua_newtable(L);
		return 1;
	}
	if (n > 1000000)
		return luaL_error(L, "kafka: more than 1000000 topics");
	struct guard *g = guard_push(L); /* 4 */
	rd_kafka_ConfigResource_t **res = calloc((size_t)n + 1, sizeof(*res));
	if (!res)
		return luaL_error(L, "kafka: out of memory");
	guard_set(g, 0, free_cfgres, res);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, 2, i);
		if (lua_type(L, -1) != LUA_TSTRING)
			return luaL_error(L, "kafka: configs wants a list of topic names");
		res[i - 1] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, lua_tostring(L, -1));
		if (!res[i - 1])
			return luaL_error(L, "kafka: out of memory");
		lua_pop(L, 1);
	}
	/* Topic configs may be asked of any broker: name one, so that a
	 * cluster without a known controller is not waited for. */
	int32_t broker = -1;
	const struct rd_kafka_metadata *md = NULL;
	if (rd_kafka_metadata(c->rk, 0, NULL, &md, ms_of(timeout)) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (md->broker_cnt > 0)
			broker = md->orig_broker_id >= 0 ? md->orig_broker_id : md->brokers[0].id;
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
	if (!q)
		return luaL_error(L, "kafka: out of memory");
	guard_set(g, 1, free_queue, q);
	rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(c->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
	if (!o)
		return luaL_error(L, "kafka: out of memory");
	guard_set(g, 2, free_adminopts, o);
	double left = deadline - now_s();
	if (left <= 0)
		return gfail(L, g, "timeout after %g s describing topic configs (%s)", timeout, c->bootstrap);
	rd_kafka_AdminOptions_set_request_timeout(o, ms_of(left), e, sizeof(e));
	if (broker >= 0)
		rd_kafka_AdminOptions_set_broker(o, broker, e, sizeof(e));
	rd_kafka_DescribeConfigs(c->rk, res, (size_t)n, o, q);
	rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, deadline, g, 3);
	if (!ev)
		return gfail(L, g, "timeout after %g s describing topic configs (%s)", timeout, c->bootstrap);
	if (rd_kafka_event_error(ev)) {
		rd_kafka_resp_err_t ee = rd_kafka_event_error(ev);
		if (ee == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE || ee == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION)
			return gfail(L, g, "DescribeConfigs is not supported by the brokers (%s)",
				    rd_kafka_event_error_string(ev));
		return gfail(L, g, "DescribeConfigs: %s (%s)", rd_kafka_event_error_string(ev), c->bootstrap);
	}
	const rd_kafka_DescribeConfigs_result_t *r = rd_kafka_event_DescribeConfigs_result(ev);
	size_t cnt = 0;
	const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(r, &cnt);
	lua_createtable(L, 0, (int)cnt); /* 5 */
	for (size_t i = 0; i < cnt; i++) {
		lua_newtable(L);
		if (rd_kafka_ConfigResource_error(rs[i])) {
			lua_pushstring(L, rd_kafka_ConfigResource_error_string(rs[i]));
			lua_setfield(L, -2, "error");
		} else {
			size_t ne = 0;
			const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(rs[i], &ne);
			for (size_t j = 0; j < ne; j++) {
				const char *val = rd_kafka_ConfigEntry_value(ents[j]);
				int sensitive = rd_kafka_ConfigEntry_is_sensitive(ents[j]);
				lua_createtable(L, 0, 4);
				if (val && !sensitive) {
					lua_pushstring(L, val);
					lua_setfield(L, -2, "value");
				}
				lua_pushstring(L, rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(ents[j])));
				lua_setfield(L, -2, "source");
				lua_pushboolean(L, rd_kafka_ConfigEntry_is_default(ents[j]));
				lua_setfield(L, -2, "default");
				lua_pushboolean(L, sensitive);
				lua_setfield(L, -2, "sensitive");
				lua_setfield(L, -2, rd_kafka_ConfigEntry_name(ents[j]));
			}
		}
		lua_setfield(L, 5, rd_kafka_ConfigResource_name(rs[i]));
	}
	guard_run(g);
	return 1;
}

static int l_close(lua_State *L)
{
	client_release(luaL_checkudata(L, 1, CLIENT_MT));
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct kclient *c = luaL_checkudata(L, 1, CLIENT_MT);
	if (c->rk)
		lua_pushfstring(L, "kafka client (%s)", c->bootstrap);
	else
		lua_pushliteral(L, "kafka client (closed)");
	return 1;
}

static int l_version(lua_State *L)
{
	lua_pushstring(L, rd_kafka_version_str());
	return 1;
}

static int kafka_open(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "metadata", l_metadata },
		{ "watermarks", l_watermarks },
		{ "committed", l_committed },
		{ "groups", l_groups },
		{ "describe_groups", l_describe_groups },
		{ "configs", l_configs },
		{ "close", l_close },
		{ NULL, NULL },
	};
	static const luaL_Reg fns[] = {
		{ "connect", l_connect },
		{ "version", l_version },
		{ NULL, NULL },
	};
	if (luaL_newmetatable(L, GUARD_MT)) {
		lua_pushcfunction(L, guard_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "kafka guard");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, CLIENT_MT)) {
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, client_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, client_gc);
		lua_setfield(L, -2, "__close");
		lua_pushcfunction(L, l_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, "kafka client");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	luaL_newlib(L, fns);
	return 1;
}

/* --- the plugin ------------------------------------------------------------------------ */

static int plugin_init(struct trm_plugin_ctx *ctx, const struct trm_api *api)
{
	if (api->size < offsetof(struct trm_api, lua_module) + sizeof(api->lua_module) ||
	    !api->lua_module) {
		api->log(ctx, TRM_LOG_ERROR, "this host has no Lua module registry", NULL);
		return -1;
	}
	return api->lua_module(ctx, "kafka", kafka_open);
}

const struct trm_plugin kafka_plugin = {
	.abi = TRM_PLUGIN_ABI,
	.name = "lua_kafka",
	.version = "1.0",
	.description = "Kafka client for Lua collectors (require \"kafka\"), on librdkafka",
	.init = plugin_init,
	.fini = NULL,
};
