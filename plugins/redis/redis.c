/*
 * plugins/redis/redis.c - the Redis client binding for Lua collectors:
 * `local redis = require "redis"` (module registered by the built-in plugin
 * "lua_redis"), on hiredis (0.14 in Debian 12).
 *
 *   conn, err = redis.connect(target [, { timeout = 10, max_bytes = 64 MiB }])
 *       TARGET is a URL or a table:
 *         "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"   (userinfo percent-decoded;
 *                                                        "[::1]" for IPv6)
 *         "unix:///run/redis.sock[?db=N]"
 *         { host = "127.0.0.1", port = 6379, path = "/run/redis.sock",
 *           username = "terrarium", password = "...", db = 0 }
 *       With a password it sends AUTH (AUTH USER PASSWORD when a username is
 *       given: Redis 6 ACL users), then SELECT DB when DB is not 0.
 *       "rediss://" (TLS) is refused: hiredis 0.14 has no TLS.
 *       TIMEOUT (seconds, default 10) bounds the connection attempt and every
 *       command or pipeline as a whole (our own deadline, with poll(), around
 *       hiredis's buffer reads and writes).  Name resolution happens before
 *       it, inside hiredis.  MAX_BYTES bounds the bytes one command or
 *       pipeline may read (hiredis builds replies in C memory, outside the
 *       collector's memory cap).
 *   value, err = conn:command(NAME, ARG...)
 *       Arguments are strings or numbers (integers as such, others "%.17g").
 *       The reply as a Lua value: a bulk or status string as a string, an
 *       integer as an integer, an array as a table 1..n (a nil element is
 *       redis.null), a nil reply as nil (and no error).  An error reply gives
 *       nil, "redis: ERR ..." and the connection stays usable.
 *   replies, err = conn:pipeline({ { NAME, ARG... }, ... })
 *       Sends every command, then reads every reply: one round trip.  REPLIES
 *       holds one value per command, as command() gives them, except that a
 *       nil reply is redis.null and an error reply is false, its message in
 *       replies.errors[i] ("redis: ERR ...").  At most 100,000 commands.
 *   conn:close()   (also on garbage collection and for `local c <close>`)
 *   redis.null     the value of a nil inside arrays and pipelines (the same
 *                  value as json.null)
 *
 * Failures of the connection (refused, timed out, closed by the server, a
 * protocol error, a reply over MAX_BYTES) return nil and a message naming
 * the server: "redis: connection refused (127.0.0.1:6379)", "redis: timeout
 * after 2 s (127.0.0.1:6379)"; the connection is then closed, and using it
 * again raises.  Authentication failures are the server's words:
 * "redis: WRONGPASS invalid username-password pair or user is disabled.
 * (127.0.0.1:6379)".  The password never appears in messages.  Wrong
 * arguments raise a Lua error.
 *
 * Every C resource (the hiredis context, a reply being converted) is owned
 * by the connection userdata, whose __gc frees it, so a Lua error in the
 * middle (a memory limit) leaks nothing; replies left unread by such an
 * error make the connection unusable, and the next call closes it and
 * raises.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <lauxlib.h>
#include <lua.h>

#include "hub/plugin.h"

#define DEFAULT_TIMEOUT 10.0
#define MAX_TIMEOUT 3600.0
#define DEFAULT_MAX_BYTES (64LL * 1024 * 1024)
#define MAX_PIPELINE 100000
#define MAX_ARGS 1048576
#define CONN_MT "terrarium.redis.conn"

struct rconn {
	redisContext *rc;
	redisReply *reply;    /* the reply being converted (freed by __gc on an error) */
	const char **argv;    /* arguments of the command being appended */
	size_t *argl;
	double timeout;
	long long max_bytes;
	int unread;           /* replies still owed by the server after a Lua error */
	char where[300];      /* "host:port" or the socket path, for messages */
	char err[600];
};

/* --- helpers ----------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void conn_release(struct rconn *c)
{
	if (c->reply)
		freeReplyObject(c->reply);
	c->reply = NULL;
	free(c->argv);
	c->argv = NULL;
	free(c->argl);
	c->argl = NULL;
	if (c->rc)
		redisFree(c->rc);
	c->rc = NULL;
	c->unread = 0;
}

static int conn_gc(lua_State *L)
{
	conn_release(luaL_checkudata(L, 1, CONN_MT));
	return 0;
}

static void set_err(struct rconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(struct rconn *c, const char *fmt, ...)
{
	char what[500];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->err, sizeof(c->err), "redis: %s", what);
}

/* hiredis's error as a lowercase phrase ("Connection refused" -> "connection
 * refused"), for the context's I/O failures. */
static void io_err(struct rconn *c)
{
	char msg[160];
	const char *s = c->rc && c->rc->errstr[0] ? c->rc->errstr : "connection lost";
	if (c->rc && c->rc->err == REDIS_ERR_EOF)
		s = "connection closed by the server";
	snprintf(msg, sizeof(msg), "%s", s);
	if (msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a' && msg[1] <= 'z')
		msg[0] = (char)(msg[0] - 'A' + 'a');
	set_err(c, "%s (%s)", msg, c->where);
}

/* A failure of the connection: close it, push nil and the message. */
static int fail_conn(lua_State *L, struct rconn *c)
{
	conn_release(c);
	lua_pushnil(L);
	lua_pushstring(L, c->err);
	return 2;
}

/* Wait for EVENTS on the socket until DEADLINE.  1 ready, 0 timed out, -1
 * error (C->err set). */
static int wait_socket(struct rconn *c, short events, double deadline)
{
	for (;;) {
		double left = deadline - now_s();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = c->rc->fd, .events = events };
		int r = poll(&p, 1, (int)ceil(left * 1000.0));
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR) {
			set_err(c, "poll: %s (%s)", strerror(errno), c->where);
			return -1;
		}
	}
}

/*
 * hiredis writes with write(), so a server gone away raises SIGPIPE, which
 * kills a process that does not ignore it (the offline commands do not).  As
 * libpq does: block SIGPIPE in this thread while writing, then consume one
 * that was raised meanwhile (unless one was already pending).
 */
struct sigpipe_guard {
	sigset_t old;
	int was_pending;
	int blocked;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t pipe, pending;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	g->blocked = pthread_sigmask(SIG_BLOCK, &pipe, &g->old) == 0;
	g->was_pending = 0;
	if (g->blocked && sigpending(&pending) == 0)
		g->was_pending = sigismember(&pending, SIGPIPE);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	sigset_t pipe, pending;
	if (!g->blocked)
		return;
	if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
		struct timespec zero = { 0, 0 };
		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Write the whole output buffer by DEADLINE.  0, -1 (C->err). */
static int flush_out(struct rconn *c, double deadline)
{
	int done = 0;
	while (!done) {
		int w = wait_socket(c, POLLOUT, deadline);
		if (w < 0)
			return -1;
		if (w == 0) {
			set_err(c, "timeout after %g s (%s)", c->timeout, c->where);
			return -1;
		}
		struct sigpipe_guard g;
		sigpipe_block(&g);
		int w_ok = redisBufferWrite(c->rc, &done) == REDIS_OK;
		sigpipe_restore(&g);
		if (!w_ok) {
			io_err(c);
			return -1;
		}
	}
	return 0;
}

/* The next reply into C->reply by DEADLINE, counting the bytes read in
 * *BYTES.  0, -1 (C->err). */
static int read_reply(struct rconn *c, double deadline, long long *bytes)
{
	void *r = NULL;
	for (;;) {
		if (redisGetReplyFromReader(c->rc, &r) != REDIS_OK) {
			io_err(c);
			return -1;
		}
		if (r) {
			c->reply = r;
			return 0;
		}
		int w = wait_socket(c, POLLIN, deadline);
		if (w < 0)
			return -1;
		if (w == 0) {
			set_err(c, "timeout after %g s (%s)", c->timeout, c->where);
			return -1;
		}
		size_t before = c->rc->reader->len;
		if (redisBufferRead(c->rc) != REDIS_OK) {
			io_err(c);
			return -1;
		}
		size_t after = c->rc->reader->len;
		*bytes += (long long)(after >= before ? after - before : after);
		if (*bytes > c->max_bytes) {
			set_err(c, "the reply is larger than %lld bytes (%s)", c->max_bytes,
				c->where);
			return -1;
		}
	}
}

/* Push reply R as a Lua value; a nil as NIL_VALUE (nil, or redis.null inside
 * arrays). */
static void push_reply(lua_State *L, const redisReply *r, int nil_as_null)
{
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		lua_pushlstring(L, r->str, (size_t)r->len);
		break;
	case REDIS_REPLY_INTEGER:
		lua_pushinteger(L, (lua_Integer)r->integer);
		break;
	case REDIS_REPLY_ARRAY:
		luaL_checkstack(L, 4, "redis: reply nested too deeply");
		lua_createtable(L, r->elements > 1000000 ? 1000000 : (int)r->elements, 0);
		for (size_t i = 0; i < r->elements; i++) {
			push_reply(L, r->element[i], 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	default: /* REDIS_REPLY_NIL */
		if (nil_as_null)
			lua_pushlightuserdata(L, NULL);
		else
			lua_pushnil(L);
		break;
	}
}

/* "redis: ERR ..." of an error reply, with the server named. */
static void push_reply_error(lua_State *L, const redisReply *r)
{
	lua_pushfstring(L, "redis: %s", r->str ? r->str : "error");
}

/* --- arguments ----------------------------------------------------------------------- */

/* Make room for N arguments. */
static void want_args(lua_State *L, struct rconn *c, size_t n)
{
	free(c->argv);
	free(c->argl);
	c->argv = calloc(n ? n : 1, sizeof(*c->argv));
	c->argl = calloc(n ? n : 1, sizeof(*c->argl));
	if (!c->argv || !c->argl)
		luaL_error(L, "redis: out of memory");
}

/* Argument I of a command: the value at stack index IDX as a string (numbers
 * converted in place, which keeps the text alive while it is on the stack). */
static void take_arg(lua_State *L, struct rconn *c, int idx, size_t i, const char *what)
{
	int t = lua_type(L, idx);
	if (t == LUA_TNUMBER) {
		if (lua_isinteger(L, idx)) {
			lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
		} else {
			char buf[64];
			double d = lua_tonumber(L, idx);
			if (!isfinite(d))
				luaL_error(L, "redis: %s argument %d is not a finite number", what,
					   (int)i + 1);
			snprintf(buf, sizeof(buf), "%.17g", d);
			lua_pushstring(L, buf);
		}
		lua_replace(L, idx);
	} else if (t != LUA_TSTRING) {
		luaL_error(L, "redis: %s argument %d is a %s (want a string or number)", what,
			   (int)i + 1, luaL_typename(L, idx));
	}
	c->argv[i] = lua_tolstring(L, idx, &c->argl[i]);
}

static struct rconn *check_open(lua_State *L)
{
	struct rconn *c = luaL_checkudata(L, 1, CONN_MT);
	if (c->unread) {
		conn_release(c);
		luaL_error(L, "redis: the connection was left in the middle of a reply by an "
			      "error; connect again");
	}
	if (!c->rc)
		luaL_error(L, "redis: the connection is closed");
	if (c->reply) {
		freeReplyObject(c->reply);
		c->reply = NULL;
	}
	return c;
}

/* --- connect ------------------------------------------------------------------------ */

struct target {
	char host[256];
	int port;
	char path[256];       /* a Unix socket instead of host:port */
	char user[256];
	char password[512];
	long long db;
	int has_user, has_password;
};

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode S[0..N) into OUT.  0, or -1 when it does not fit or holds a
 * bad escape or a NUL. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];
		if (ch == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexval((unsigned char)s[i + 1]);
			int lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (ch == 0 || j + 1 >= outlen)
			return -1;
		out[j++] = (char)ch;
	}
	out[j] = '\0';
	return 0;
}

static int parse_db(const char *s, size_t n, long long *db)
{
	long long v = 0;
	if (n == 0 || n > 6)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*db = v;
	return 0;
}

/* Parse URL into T.  0, or -1 with a message in ERR (which never quotes the
 * userinfo). */
static int parse_url(const char *url, struct target *t, char *err, size_t errlen)
{
	const char *p;
	if (strncmp(url, "rediss://", 9) == 0) {
		snprintf(err, errlen, "TLS (rediss://) is not supported: this build's hiredis "
				      "(%d.%d) has no TLS", HIREDIS_MAJOR, HIREDIS_MINOR);
		return -1;
	}
	if (strncmp(url, "unix://", 7) == 0) {
		p = url + 7;
		const char *q = strchr(p, '?');
		size_t n = q ? (size_t)(q - p) : strlen(p);
		if (n == 0 || p[0] != '/' || pct_decode(p, n, t->path, sizeof(t->path)) < 0) {
			snprintf(err, errlen, "a unix:// URL needs an absolute socket path");
			return -1;
		}
		if (q) {
			if (strncmp(q, "?db=", 4) != 0 || parse_db(q + 4, strlen(q + 4), &t->db) < 0) {
				snprintf(err, errlen, "a unix:// URL takes only ?db=N");
				return -1;
			}
		}
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errlen, "want a redis:// or unix:// URL");
		return -1;
	}
	p = url + 8;
	size_t alen = strcspn(p, "/?#");
	const char *rest = p + alen;
	const char *at = NULL;
	for (const char *s = p; s < rest; s++)
		if (*s == '@')
			at = s;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			if (colon > p) {
				if (pct_decode(p, (size_t)(colon - p), t->user, sizeof(t->user)) < 0)
					goto bad_userinfo;
				t->has_user = 1;
			}
			if (pct_decode(colon + 1, (size_t)(at - colon - 1), t->password,
				       sizeof(t->password)) < 0)
				goto bad_userinfo;
			t->has_password = 1;
		} else if (at > p) {
			/* redis://PASSWORD@host, as redis-cli -u takes it */
			if (pct_decode(p, (size_t)(at - p), t->password, sizeof(t->password)) < 0)
				goto bad_userinfo;
			t->has_password = 1;
		}
		p = at + 1;
	}
	const char *hend;
	const char *port = NULL;
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(rest - p));
		if (!hend || (size_t)(hend - p - 1) >= sizeof(t->host) || hend == p + 1) {
			snprintf(err, errlen, "bad IPv6 address in the URL");
			return -1;
		}
		memcpy(t->host, p + 1, (size_t)(hend - p - 1));
		t->host[hend - p - 1] = '\0';
		if (hend + 1 < rest) {
			if (hend[1] != ':') {
				snprintf(err, errlen, "bad host in the URL");
				return -1;
			}
			port = hend + 2;
		}
	} else {
		hend = memchr(p, ':', (size_t)(rest - p));
		if (hend)
			port = hend + 1;
		else
			hend = rest;
		if ((size_t)(hend - p) >= sizeof(t->host)) {
			snprintf(err, errlen, "the host in the URL is too long");
			return -1;
		}
		memcpy(t->host, p, (size_t)(hend - p));
		t->host[hend - p] = '\0';
	}
	if (port) {
		long v = 0;
		if (port >= rest) {
			snprintf(err, errlen, "empty port in the URL");
			return -1;
		}
		for (const char *s = port; s < rest; s++) {
			if (*s < '0' || *s > '9' || v > 65535) {
				snprintf(err, errlen, "bad port in the URL");
				return -1;
			}
			v = v * 10 + (*s - '0');
		}
		if (v < 1 || v > 65535) {
			snprintf(err, errlen, "bad port in the URL");
			return -1;
		}
		t->port = (int)v;
	}
	if (*rest == '/') {
		const char *e = rest + 1 + strcspn(rest + 1, "?#");
		if (e > rest + 1 && parse_db(rest + 1, (size_t)(e - rest - 1), &t->db) < 0) {
			snprintf(err, errlen, "the URL's path must be a database number");
			return -1;
		}
		rest = e;
	}
	if (*rest) {
		snprintf(err, errlen, "the URL takes no query or fragment");
		return -1;
	}
	return 0;
bad_userinfo:
	snprintf(err, errlen, "bad user or password in the URL (percent-encode special "
			      "characters)");
	return -1;
}

/* A string field KEY of the table at IDX into OUT (numbers allowed when
 * NUMOK); 1 when present. */
static int field_string(lua_State *L, int idx, const char *key, char *out, size_t outlen)
{
	int present = 0;
	int t = lua_getfield(L, idx, key);
	if (t == LUA_TSTRING || t == LUA_TNUMBER) {
		size_t n;
		const char *s = lua_tolstring(L, -1, &n);
		if (n >= outlen || strlen(s) != n)
			luaL_error(L, "redis: connection field '%s' is too long or holds a NUL", key);
		memcpy(out, s, n + 1);
		present = 1;
	} else if (t != LUA_TNIL) {
		luaL_error(L, "redis: connection field '%s' must be a string", key);
	}
	lua_pop(L, 1);
	return present;
}

static void parse_table(lua_State *L, int idx, struct target *t)
{
	static const char *const known[] = { "host", "port", "path", "username", "user",
					     "password", "db", NULL };
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		int ok = 0;
		if (lua_type(L, -2) == LUA_TSTRING)
			for (int i = 0; known[i]; i++)
				if (strcmp(lua_tostring(L, -2), known[i]) == 0)
					ok = 1;
		if (!ok)
			luaL_error(L, "redis: unknown connection field '%s' (want host, port, path, "
				      "username, password, db)",
				   lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
		lua_pop(L, 1);
	}
	field_string(L, idx, "host", t->host, sizeof(t->host));
	field_string(L, idx, "path", t->path, sizeof(t->path));
	t->has_user = field_string(L, idx, "username", t->user, sizeof(t->user)) ||
		      field_string(L, idx, "user", t->user, sizeof(t->user));
	t->has_password = field_string(L, idx, "password", t->password, sizeof(t->password));
	if (lua_getfield(L, idx, "port") != LUA_TNIL) {
		int isnum;
		lua_Integer v = lua_tointegerx(L, -1, &isnum);
		if (!isnum || v < 1 || v > 65535)
			luaL_error(L, "redis: connection field 'port' must be a port number");
		t->port = (int)v;
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "db") != LUA_TNIL) {
		int isnum;
		lua_Integer v = lua_tointegerx(L, -1, &isnum);
		if (!isnum || v < 0 || v > 999999)
			luaL_error(L, "redis: connection field 'db' must be a database number");
		t->db = v;
	}
	lua_pop(L, 1);
	if (t->path[0] && t->path[0] != '/')
		luaL_error(L, "redis: connection field 'path' must be an absolute socket path");
}

/* Read the options table at IDX. */
static void read_opts(lua_State *L, int idx, double *timeout, long long *max_bytes)
{
	*timeout = DEFAULT_TIMEOUT;
	*max_bytes = DEFAULT_MAX_BYTES;
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
		int isnum;
		double t = lua_tonumberx(L, -1, &isnum);
		if (!isnum || !(t > 0) || t > MAX_TIMEOUT)
			luaL_error(L, "redis: timeout must be a number of seconds in (0, %d]",
				   (int)MAX_TIMEOUT);
		*timeout = t;
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "max_bytes") != LUA_TNIL) {
		int isnum;
		lua_Integer v = lua_tointegerx(L, -1, &isnum);
		if (!isnum || v < 1024)
			luaL_error(L, "redis: max_bytes must be an integer of at least 1024");
		*max_bytes = (long long)v;
	}
	lua_pop(L, 1);
}

/* Run one command during connect (AUTH, SELECT): 0, or -1 with C->err. */
static int setup_command(struct rconn *c, int argc, const char **argv, double deadline)
{
	long long bytes = 0;
	size_t lens[3];
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (redisAppendCommandArgv(c->rc, argc, argv, lens) != REDIS_OK) {
		set_err(c, "out of memory");
		return -1;
	}
	if (flush_out(c, deadline) < 0 || read_reply(c, deadline, &bytes) < 0)
		return -1;
	int rc = 0;
	if (c->reply->type == REDIS_REPLY_ERROR) {
		set_err(c, "%s (%s)", c->reply->str, c->where);
		rc = -1;
	}
	freeReplyObject(c->reply);
	c->reply = NULL;
	return rc;
}

static int l_connect(lua_State *L)
{
	struct target t;
	char perr[200];
	double timeout;
	long long max_bytes;
	int nret = 1;
	lua_settop(L, 2);
	memset(&t, 0, sizeof(t));
	int is_table = lua_istable(L, 1);
	if (!is_table && lua_type(L, 1) != LUA_TSTRING)
		return luaL_typeerror(L, 1, "URL or table");
	read_opts(L, 2, &timeout, &max_bytes);
	struct rconn *c = lua_newuserdatauv(L, sizeof(*c), 0);
	memset(c, 0, sizeof(*c));
	luaL_setmetatable(L, CONN_MT);
	c->timeout = timeout;
	c->max_bytes = max_bytes;
	if (is_table) {
		parse_table(L, 1, &t);
	} else if (parse_url(lua_tostring(L, 1), &t, perr, sizeof(perr)) < 0) {
		lua_pushnil(L);
		lua_pushfstring(L, "redis: cannot use the URL: %s", perr);
		nret = 2;
		goto out;
	}
	if (!t.host[0])
		snprintf(t.host, sizeof(t.host), "127.0.0.1");
	if (!t.port)
		t.port = 6379;
	if (t.path[0])
		snprintf(c->where, sizeof(c->where), "%s", t.path);
	else if (strchr(t.host, ':'))
		snprintf(c->where, sizeof(c->where), "[%s]:%d", t.host, t.port);
	else
		snprintf(c->where, sizeof(c->where), "%s:%d", t.host, t.port);

	double deadline = now_s() + timeout;
	struct timeval tv = { (time_t)timeout, (suseconds_t)((timeout - floor(timeout)) * 1e6) };
	c->rc = t.path[0] ? redisConnectUnixWithTimeout(t.path, tv)
			  : redisConnectWithTimeout(t.host, t.port, tv);
	if (!c->rc) {
		set_err(c, "out of memory");
		goto fail;
	}
	if (c->rc->err) {
		if (c->rc->err == REDIS_ERR_IO && (strstr(c->rc->errstr, "timed out") ||
						   strstr(c->rc->errstr, "temporarily unavailable")))
			set_err(c, "timeout after %g s connecting (%s)", timeout, c->where);
		else
			io_err(c);
		goto fail;
	}
	if (redisSetTimeout(c->rc, tv) != REDIS_OK) {
		io_err(c);
		goto fail;
	}
	if (t.has_password) {
		const char *auth[3] = { "AUTH", t.user, t.password };
		if (t.has_user)
			auth[1] = t.user, auth[2] = t.password;
		else
			auth[1] = t.password;
		if (setup_command(c, t.has_user ? 3 : 2, auth, deadline) < 0)
			goto fail;
	}
	if (t.db != 0) {
		char db[24];
		snprintf(db, sizeof(db), "%lld", t.db);
		const char *sel[2] = { "SELECT", db };
		if (setup_command(c, 2, sel, deadline) < 0)
			goto fail;
	}
	goto out;
fail:
	nret = fail_conn(L, c);
out:
	memset(&t, 0, sizeof(t)); /* the password */
	return nret;
}

/* --- commands ------------------------------------------------------------------------ */

static int l_command(lua_State *L)
{
	struct rconn *c = check_open(L);
	int top = lua_gettop(L);
	long long bytes = 0;
	if (top < 2)
		return luaL_error(L, "redis: command() needs a command name");
	size_t argc = (size_t)(top - 1);
	if (argc > MAX_ARGS)
		return luaL_error(L, "redis: more than %d arguments", MAX_ARGS);
	want_args(L, c, argc);
	for (size_t i = 0; i < argc; i++)
		take_arg(L, c, (int)i + 2, i, "command");
	c->unread = 1; /* until the reply is read, an error leaves the connection dirty */
	if (redisAppendCommandArgv(c->rc, (int)argc, c->argv, c->argl) != REDIS_OK)
		return luaL_error(L, "redis: out of memory");
	free(c->argv);
	c->argv = NULL;
	free(c->argl);
	c->argl = NULL;
	double deadline = now_s() + c->timeout;
	if (flush_out(c, deadline) < 0 || read_reply(c, deadline, &bytes) < 0)
		return fail_conn(L, c);
	c->unread = 0;
	int nret = 1;
	if (c->reply->type == REDIS_REPLY_ERROR) {
		lua_pushnil(L);
		push_reply_error(L, c->reply);
		nret = 2;
	} else {
		push_reply(L, c->reply, 0);
	}
	freeReplyObject(c->reply);
	c->reply = NULL;
	return nret;
}

static int l_pipeline(lua_State *L)
{
	struct rconn *c = check_open(L);
	long long bytes = 0;
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	lua_Integer n = luaL_len(L, 2);
	if (n > MAX_PIPELINE)
		return luaL_error(L, "redis: more than %d commands in a pipeline", MAX_PIPELINE);
	/* Check every entry first, so that a wrong argument raises before anything
	 * is queued on the connection. */
	for (lua_Integer k = 1; k <= n; k++) {
		if (lua_rawgeti(L, 2, k) != LUA_TTABLE)
			return luaL_error(L, "redis: pipeline entry %d is not a table of arguments",
					  (int)k);
		lua_Integer argc = luaL_len(L, -1);
		if (argc < 1)
			return luaL_error(L, "redis: pipeline entry %d has no command name", (int)k);
		if (argc > 10000)
			return luaL_error(L, "redis: pipeline entry %d has more than 10000 arguments",
					  (int)k);
		for (lua_Integer i = 1; i <= argc; i++) {
			int t = lua_rawgeti(L, -1, i);
			if (t == LUA_TNUMBER && !lua_isinteger(L, -1) && !isfinite(lua_tonumber(L, -1)))
				return luaL_error(L, "redis: pipeline entry %d argument %d is not a "
						     "finite number", (int)k, (int)i);
			if (t != LUA_TNUMBER && t != LUA_TSTRING)
				return luaL_error(L, "redis: pipeline entry %d argument %d is a %s (want a "
						     "string or number)", (int)k, (int)i,
						  luaL_typename(L, -1));
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	/* From the first command appended until the last reply is read, an error
	 * (the memory cap) leaves the connection dirty. */
	c->unread = n > 0 ? 1 : 0;
	for (lua_Integer k = 1; k <= n; k++) {
		lua_rawgeti(L, 2, k);
		int cmd = lua_gettop(L);
		lua_Integer argc = luaL_len(L, cmd);
		luaL_checkstack(L, (int)argc + 4, "redis: too many arguments");
		want_args(L, c, (size_t)argc);
		for (lua_Integer i = 1; i <= argc; i++)
			lua_rawgeti(L, cmd, i);
		for (lua_Integer i = 1; i <= argc; i++)
			take_arg(L, c, cmd + (int)i, (size_t)i - 1, "pipeline");
		if (redisAppendCommandArgv(c->rc, (int)argc, c->argv, c->argl) != REDIS_OK)
			return luaL_error(L, "redis: out of memory");
		lua_settop(L, 2);
	}
	free(c->argv);
	c->argv = NULL;
	free(c->argl);
	c->argl = NULL;
	double deadline = now_s() + c->timeout;
	if (n == 0) {
		lua_newtable(L);
		return 1;
	}
	if (flush_out(c, deadline) < 0)
		return fail_conn(L, c);
	c->unread = (int)n;
	lua_createtable(L, (int)n, 0);
	int out = lua_gettop(L);
	int errors = 0;
	for (lua_Integer k = 1; k <= n; k++) {
		if (read_reply(c, deadline, &bytes) < 0)
			return fail_conn(L, c);
		c->unread--;
		if (c->reply->type == REDIS_REPLY_ERROR) {
			if (!errors) {
				lua_newtable(L);
				errors = lua_gettop(L);
			}
			push_reply_error(L, c->reply);
			lua_rawseti(L, errors, k);
			lua_pushboolean(L, 0);
		} else {
			push_reply(L, c->reply, 1);
		}
		lua_rawseti(L, out, k);
		freeReplyObject(c->reply);
		c->reply = NULL;
	}
	if (errors) {
		lua_pushvalue(L, errors);
		lua_setfield(L, out, "errors");
	}
	lua_pushvalue(L, out);
	return 1;
}

static int l_close(lua_State *L)
{
	conn_release(luaL_checkudata(L, 1, CONN_MT));
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct rconn *c = luaL_checkudata(L, 1, CONN_MT);
	if (c->rc)
		lua_pushfstring(L, "redis connection (%s)", c->where);
	else
		lua_pushliteral(L, "redis connection (closed)");
	return 1;
}

static int redis_open(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "command", l_command },
		{ "pipeline", l_pipeline },
		{ "close", l_close },
		{ NULL, NULL },
	};
	static const luaL_Reg fns[] = {
		{ "connect", l_connect },
		{ NULL, NULL },
	};
	if (luaL_newmetatable(L, CONN_MT)) {
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, conn_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, conn_gc);
		lua_setfield(L, -2, "__close");
		lua_pushcfunction(L, l_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, "redis connection");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	luaL_newlib(L, fns);
	lua_pushlightuserdata(L, NULL);
	lua_setfield(L, -2, "null");
	return 1;
}

/* --- the plugin ---------------------------------------------------------------------- */

static int plugin_init(struct trm_plugin_ctx *ctx, const struct trm_api *api)
{
	if (api->size < offsetof(struct trm_api, lua_module) + sizeof(api->lua_module) ||
	    !api->lua_module) {
		api->log(ctx, TRM_LOG_ERROR, "this host has no Lua module registry", NULL);
		return -1;
	}
	return api->lua_module(ctx, "redis", redis_open);
}

const struct trm_plugin redis_plugin = {
	.abi = TRM_PLUGIN_ABI,
	.name = "lua_redis",
	.version = "1.0",
	.description = "Redis client for Lua collectors (require \"redis\"), on hiredis",
	.init = plugin_init,
	.fini = NULL,
};
