/*
 * plugins/postgres/postgres.c - the PostgreSQL client binding for Lua
 * collectors: `local pg = require "postgres"` (module registered by the
 * built-in plugin "lua_postgres"), on libpq.
 *
 *   conn, err = pg.connect(dsn_or_params [, { timeout = 10 }])
 *       DSN: "host=... port=... dbname=... user=... password=..." or a
 *       "postgresql://user:pass@host:port/db?sslmode=..." URI; PARAMS: a
 *       table of libpq keywords ({ host = , port = , dbname = , user = ,
 *       password = , sslmode = , ... }; values strings or numbers).
 *       TIMEOUT (seconds, default 10) bounds the connection (our own
 *       deadline around a non-blocking connect; name resolution happens
 *       before it, inside libpq) and every query: the session's
 *       statement_timeout is set to it, and a query still running at the
 *       deadline is cancelled.
 *   rows, err = conn:query(sql [, params])
 *       One statement, parameterised ($1, $2, ...) with PARAMS, an array of
 *       strings, numbers, booleans or json.null/nil for NULL (nil holes are
 *       NULLs up to the highest index; or PARAMS.n gives the count).
 *       ROWS is an array of tables keyed by column name, values strings
 *       (PostgreSQL's text form) or nil for NULL; rows.columns is the list
 *       of column names in order; rows.count is the number of rows, or for a
 *       command (INSERT, UPDATE, ...) the number of rows it affected.
 *       Rows are read one at a time (libpq single-row mode), so the result
 *       is held in Lua memory, under the collector's memory cap.
 *   conn:close()   (also on garbage collection and for `local c <close>`)
 *
 * Failures return nil and a message starting "postgres: ":
 *   "postgres: connection refused (127.0.0.1:5432)"
 *   "postgres: permission denied for table secrets (SQLSTATE 42501)"
 *   "postgres: timeout after 1 s (127.0.0.1:5432)"
 * The password never appears in them.  Wrong arguments, and using a closed
 * connection, raise a Lua error.  After a query timed out and could not be
 * cancelled cleanly, the connection is closed.
 *
 * Every C resource is owned by the connection userdata (its __gc frees
 * them), so a Lua error in the middle (a memory limit) leaks nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <libpq-fe.h>
#include <lua.h>

#include "hub/plugin.h"

#define DEFAULT_TIMEOUT 10.0
#define MAX_TIMEOUT 3600.0
#define MAX_CONN_PARAMS 64
#define MAX_QUERY_PARAMS 65535
#define CANCEL_DRAIN_MS 2000
#define CONN_MT "terrarium.postgres.conn"

struct pgconn {
	PGconn *pg;
	PGresult *res;        /* the result being read, cleared by __gc on an error */
	const char **pvals;   /* query parameter values (point into Lua strings) */
	double timeout;
	int busy;             /* a query was interrupted by a Lua error */
	char where[300];      /* "host:port" for messages */
	char *password;       /* kept out of messages */
	char err[1024];
};

/* --- helpers ----------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void conn_release(struct pgconn *c)
{
	PQclear(c->res);
	c->res = NULL;
	free(c->pvals);
	c->pvals = NULL;
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	if (c->password) {
		memset(c->password, 0, strlen(c->password));
		free(c->password);
	}
	c->password = NULL;
}

static int conn_gc(lua_State *L)
{
	conn_release(luaL_checkudata(L, 1, CONN_MT));
	return 0;
}

/* Replace the password in C->err by "***". */
static void scrub(struct pgconn *c)
{
	size_t n = c->password ? strlen(c->password) : 0;
	char *p;
	if (n < 3)
		return;
	while ((p = strstr(c->err, c->password))) {
		memmove(p + 3, p + n, strlen(p + n) + 1);
		memcpy(p, "***", 3);
	}
}

/* The first line of libpq's (possibly multi-line) message MSG into OUT:
 * whitespace runs become one space, the "connection to server at ...
 * failed: " and "FATAL:" prefixes go, the first letter is lowercased. */
static void one_line(const char *msg, char *out, size_t outlen)
{
	size_t n = 0;
	const char *p = msg ? msg : "";
	const char *f = strstr(p, " failed: ");
	if (f && strncmp(p, "connection to server", 20) == 0)
		p = f + 9;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (strncmp(p, "FATAL:", 6) == 0 || strncmp(p, "ERROR:", 6) == 0)
			p += 6;
		else
			break;
	}
	int space = 0;
	for (; *p && *p != '\n' && n + 1 < outlen; p++) {
		if (isspace((unsigned char)*p)) {
			space = 1;
			continue;
		}
		if (space && n > 0)
			out[n++] = ' ';
		space = 0;
		if (n + 1 < outlen)
			out[n++] = *p;
	}
	out[n] = '\0';
	if (n > 1 && isupper((unsigned char)out[0]) && islower((unsigned char)out[1]))
		out[0] = (char)tolower((unsigned char)out[0]);
}

static void set_err(struct pgconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(struct pgconn *c, const char *fmt, ...)
{
	char what[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->err, sizeof(c->err), "postgres: %s", what);
	scrub(c);
}

static void set_where(struct pgconn *c)
{
	const char *host = c->pg ? PQhost(c->pg) : NULL;
	const char *port = c->pg ? PQport(c->pg) : NULL;
	snprintf(c->where, sizeof(c->where), "%s:%s", host && *host ? host : "localhost",
		 port && *port ? port : "5432");
}

/* Wait for EVENTS on the connection's socket until DEADLINE.  1 ready, 0
 * timed out, -1 error (C->err set). */
static int wait_socket(struct pgconn *c, short events, double deadline)
{
	for (;;) {
		int fd = PQsocket(c->pg);
		if (fd < 0) {
			char line[700];
			one_line(PQerrorMessage(c->pg), line, sizeof(line));
			set_err(c, "%s (%s)", line[0] ? line : "connection lost", c->where);
			return -1;
		}
		double left = deadline - now_s();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int ms = (int)ceil(left * 1000.0);
		int r = poll(&p, 1, ms);
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

static void push_fail(lua_State *L, struct pgconn *c)
{
	lua_pushnil(L);
	lua_pushstring(L, c->err);
}

/* --- connect ------------------------------------------------------------------------ */

static double read_timeout(lua_State *L, int idx)
{
	double t = DEFAULT_TIMEOUT;
	if (lua_isnoneornil(L, idx))
		return t;
	luaL_checktype(L, idx, LUA_TTABLE);
	if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
		int isnum;
		t = lua_tonumberx(L, -1, &isnum);
		if (!isnum || !(t > 0) || t > MAX_TIMEOUT)
			luaL_error(L, "postgres: timeout must be a number of seconds in (0, %d]",
				   (int)MAX_TIMEOUT);
	}
	lua_pop(L, 1);
	return t;
}

/* Remember the password named in a DSN string (for scrubbing).  0, or -1
 * when libpq cannot parse the string. */
static int dsn_password(struct pgconn *c, const char *dsn)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
	if (!opts) {
		PQfreemem(errmsg);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && !c->password)
			c->password = strdup(o->val);
	PQconninfoFree(opts);
	return 0;
}

/* Run SQL (no parameters, no rows wanted) on a fresh connection. */
static int simple_command(struct pgconn *c, const char *sql, double deadline);

static int l_connect(lua_State *L)
{
	const char *kw[MAX_CONN_PARAMS + 4];
	const char *vals[MAX_CONN_PARAMS + 4];
	int n = 0, has_timeout = 0;
	char timeout_s[32];
	lua_settop(L, 2);
	int is_table = lua_istable(L, 1);
	if (!is_table && lua_type(L, 1) != LUA_TSTRING)
		return luaL_typeerror(L, 1, "connection string or table");
	double timeout = read_timeout(L, 2);
	struct pgconn *c = lua_newuserdatauv(L, sizeof(*c), 0);
	memset(c, 0, sizeof(*c));
	luaL_setmetatable(L, CONN_MT);
	int anchor = lua_gettop(L) + 1;
	lua_newtable(L); /* keeps converted strings alive */
	c->timeout = timeout;
	snprintf(timeout_s, sizeof(timeout_s), "%d", (int)ceil(timeout) < 2 ? 2 : (int)ceil(timeout));

	if (is_table) {
		lua_pushnil(L);
		while (lua_next(L, 1)) {
			if (lua_type(L, -2) != LUA_TSTRING ||
			    (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
				return luaL_error(L, "postgres: connection parameters must map names to "
						     "strings or numbers");
			if (n == MAX_CONN_PARAMS)
				return luaL_error(L, "postgres: more than %d connection parameters",
						  MAX_CONN_PARAMS);
			const char *k = lua_tostring(L, -2);
			const char *v = lua_tostring(L, -1); /* a copy on the stack */
			lua_pushvalue(L, -1);
			lua_rawseti(L, anchor, n + 1);
			if (strcmp(k, "password") == 0 && !c->password) {
				c->password = strdup(v);
				if (!c->password)
					return luaL_error(L, "postgres: out of memory");
			}
			if (strcmp(k, "connect_timeout") == 0)
				has_timeout = 1;
			kw[n] = k;
			vals[n] = v;
			n++;
			lua_pop(L, 1);
		}
		if (!has_timeout) {
			kw[n] = "connect_timeout";
			vals[n++] = timeout_s;
		}
	} else {
		const char *dsn = lua_tostring(L, 1);
		int looks = strchr(dsn, '=') || strncmp(dsn, "postgresql://", 13) == 0 ||
			    strncmp(dsn, "postgres://", 11) == 0;
		if (looks && dsn_password(c, dsn) < 0) {
			/* libpq's message may quote pieces of the string: give none. */
			lua_pushnil(L);
			lua_pushliteral(L, "postgres: cannot parse the connection string (want "
					   "\"key=value ...\" or a postgresql:// URI)");
			return 2;
		}
		/* Earlier entries are defaults the expanded DSN overrides. */
		kw[n] = "connect_timeout";
		vals[n++] = timeout_s;
		kw[n] = "dbname";
		vals[n++] = dsn;
	}
	kw[n] = "fallback_application_name";
	vals[n++] = "terrarium";
	kw[n] = NULL;
	vals[n] = NULL;

	double deadline = now_s() + timeout;
	c->pg = PQconnectStartParams(kw, vals, is_table ? 0 : 1);
	if (!c->pg)
		return luaL_error(L, "postgres: out of memory");
	set_where(c);
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		char line[700];
		one_line(PQerrorMessage(c->pg), line, sizeof(line));
		set_err(c, "%s (%s)", line, c->where);
		goto fail;
	}
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			char line[700];
			set_where(c);
			one_line(PQerrorMessage(c->pg), line, sizeof(line));
			set_err(c, "%s (%s)", line, c->where);
			goto fail;
		}
		int w = wait_socket(c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
		if (w < 0)
			goto fail;
		if (w == 0) {
			set_where(c);
			set_err(c, "timeout after %g s connecting (%s)", timeout, c->where);
			goto fail;
		}
		st = PQconnectPoll(c->pg);
	}
	set_where(c);
	if (PQsetnonblocking(c->pg, 1) != 0) {
		set_err(c, "cannot make the connection non-blocking (%s)", c->where);
		goto fail;
	}
	char sql[64];
	snprintf(sql, sizeof(sql), "SET statement_timeout = %ld",
		 (long)ceil(timeout * 1000.0));
	if (simple_command(c, sql, deadline + timeout) < 0)
		goto fail;
	lua_pop(L, 1); /* the anchor */
	return 1;
fail:
	conn_release(c);
	push_fail(L, c);
	return 2;
}

/* --- queries ------------------------------------------------------------------------- */

/* Send the query's remaining output.  0, or -1 (C->err), or -2 timed out. */
static int flush(struct pgconn *c, double deadline)
{
	for (;;) {
		int f = PQflush(c->pg);
		if (f == 0)
			return 0;
		if (f < 0) {
			char line[700];
			one_line(PQerrorMessage(c->pg), line, sizeof(line));
			set_err(c, "%s (%s)", line, c->where);
			return -1;
		}
		int w = wait_socket(c, POLLIN | POLLOUT, deadline);
		if (w < 0)
			return -1;
		if (w == 0)
			return -2;
		if (PQconsumeInput(c->pg) == 0) {
			char line[700];
			one_line(PQerrorMessage(c->pg), line, sizeof(line));
			set_err(c, "%s (%s)", line, c->where);
			return -1;
		}
	}
}

/* Wait until a result can be read without blocking.  0, -1 (C->err), -2
 * timed out. */
static int wait_result(struct pgconn *c, double deadline)
{
	while (PQisBusy(c->pg)) {
		int w = wait_socket(c, POLLIN, deadline);
		if (w < 0)
			return -1;
		if (w == 0)
			return -2;
		if (PQconsumeInput(c->pg) == 0) {
			char line[700];
			one_line(PQerrorMessage(c->pg), line, sizeof(line));
			set_err(c, "%s (%s)", line, c->where);
			return -1;
		}
	}
	return 0;
}

/* Error text of RES: "message (SQLSTATE xxxxx)". */
static void result_error(struct pgconn *c, const PGresult *res)
{
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char line[700];
	if (state && strcmp(state, "57014") == 0 && primary && strstr(primary, "statement timeout")) {
		set_err(c, "timeout after %g s (%s)", c->timeout, c->where);
		return;
	}
	one_line(primary ? primary : PQresultErrorMessage(res), line, sizeof(line));
	if (state && *state)
		set_err(c, "%s (SQLSTATE %s)", line[0] ? line : "error", state);
	else
		set_err(c, "%s (%s)", line[0] ? line : "error", c->where);
}

/* The query ran past its deadline: cancel it and drain, or close the
 * connection when that does not finish soon. */
static void cancel_query(struct pgconn *c)
{
	char buf[256];
	PGcancel *cancel = PQgetCancel(c->pg);
	int ok = cancel && PQcancel(cancel, buf, sizeof(buf));
	PQfreeCancel(cancel);
	double deadline = now_s() + CANCEL_DRAIN_MS / 1000.0;
	if (ok) {
		for (;;) {
			if (wait_result(c, deadline) != 0) {
				ok = 0;
				break;
			}
			PGresult *r = PQgetResult(c->pg);
			if (!r)
				break;
			PQclear(r);
		}
	}
	if (!ok) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
}

static int simple_command(struct pgconn *c, const char *sql, double deadline)
{
	int got = 0, bad = 0;
	if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0)) {
		char line[700];
		one_line(PQerrorMessage(c->pg), line, sizeof(line));
		set_err(c, "%s (%s)", line, c->where);
		return -1;
	}
	int f = flush(c, deadline);
	while (f == 0) {
		f = wait_result(c, deadline);
		if (f != 0)
			break;
		PGresult *r = PQgetResult(c->pg);
		if (!r)
			break;
		got = 1;
		ExecStatusType st = PQresultStatus(r);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !bad) {
			result_error(c, r);
			bad = 1;
		}
		PQclear(r);
	}
	if (f == -2)
		set_err(c, "timeout after %g s (%s)", c->timeout, c->where);
	return f == 0 && got && !bad ? 0 : -1;
}

/* The value of parameter I (at the stack top) as text, anchored in the table
 * at ANCHOR; NULL for SQL NULL. */
static const char *param_text(lua_State *L, int anchor, lua_Integer i)
{
	switch (lua_type(L, -1)) {
	case LUA_TNIL:
		return NULL;
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, -1) == NULL)
			return NULL;
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, -1, &len);
		if (strlen(s) != len)
			luaL_error(L, "postgres: parameter $%d holds a NUL byte", (int)i);
		lua_pushvalue(L, -1);
		lua_rawseti(L, anchor, i);
		return s;
	}
	case LUA_TNUMBER:
		if (lua_isinteger(L, -1)) {
			lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, -1));
		} else {
			char buf[64];
			double d = lua_tonumber(L, -1);
			if (!isfinite(d))
				luaL_error(L, "postgres: parameter $%d is not a finite number", (int)i);
			snprintf(buf, sizeof(buf), "%.17g", d);
			lua_pushstring(L, buf);
		}
		break;
	case LUA_TBOOLEAN:
		lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
		break;
	default:
		break;
	}
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "postgres: parameter $%d is a %s (want a string, number, boolean or "
			      "json.null)", (int)i, luaL_typename(L, -1));
	const char *s = lua_tostring(L, -1);
	lua_rawseti(L, anchor, i);
	return s;
}

static struct pgconn *check_open(lua_State *L)
{
	struct pgconn *c = luaL_checkudata(L, 1, CONN_MT);
	if (!c->pg)
		luaL_error(L, "postgres: the connection is closed");
	return c;
}

static int l_query(lua_State *L)
{
	struct pgconn *c = check_open(L);
	size_t sql_len;
	const char *sql = luaL_checklstring(L, 2, &sql_len);
	lua_Integer np = 0;
	lua_settop(L, 3);
	if (strlen(sql) != sql_len)
		return luaL_argerror(L, 2, "SQL holds a NUL byte");
	if (c->busy) {
		/* An earlier query was cut short by a Lua error: its results are
		 * unread, so the connection cannot be trusted. */
		conn_release(c);
		return luaL_error(L, "postgres: the connection was left in the middle of a query "
				     "by an error; connect again");
	}
	if (!lua_isnil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		if (lua_getfield(L, 3, "n") != LUA_TNIL) {
			np = lua_tointeger(L, -1);
			if (!lua_isinteger(L, -1) || np < 0)
				return luaL_error(L, "postgres: params.n must be a count");
		} else {
			lua_pushnil(L);
			while (lua_next(L, 3)) {
				lua_pop(L, 1);
				if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > np)
					np = lua_tointeger(L, -1);
				else if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
					return luaL_error(L, "postgres: params must be an array");
			}
		}
		lua_pop(L, 1);
	}
	if (np > MAX_QUERY_PARAMS)
		return luaL_error(L, "postgres: more than %d parameters", MAX_QUERY_PARAMS);
	int anchor = lua_gettop(L) + 1;
	lua_createtable(L, (int)np, 0);
	free(c->pvals);
	c->pvals = NULL;
	if (np > 0) {
		c->pvals = calloc((size_t)np, sizeof(*c->pvals));
		if (!c->pvals)
			return luaL_error(L, "postgres: out of memory");
		for (lua_Integer i = 1; i <= np; i++) {
			lua_rawgeti(L, 3, i);
			c->pvals[i - 1] = param_text(L, anchor, i);
			lua_pop(L, 1);
		}
	}

	double deadline = now_s() + c->timeout;
	if (!PQsendQueryParams(c->pg, sql, (int)np, NULL, c->pvals, NULL, NULL, 0)) {
		char line[700];
		one_line(PQerrorMessage(c->pg), line, sizeof(line));
		set_err(c, "%s (%s)", line, c->where);
		push_fail(L, c);
		return 2;
	}
	PQsetSingleRowMode(c->pg);
	c->busy = 1;

	int rows = lua_gettop(L) + 1, columns = rows + 1;
	lua_newtable(L);
	lua_pushnil(L); /* columns, once known */
	lua_Integer count = 0, affected = -1;
	int failed = 0;
	int f = flush(c, deadline);
	while (f == 0) {
		f = wait_result(c, deadline);
		if (f != 0)
			break;
		c->res = PQgetResult(c->pg);
		if (!c->res)
			break;
		ExecStatusType st = PQresultStatus(c->res);
		if ((st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) && lua_isnil(L, columns)) {
			int nf = PQnfields(c->res);
			lua_createtable(L, nf, 0);
			for (int j = 0; j < nf; j++) {
				lua_pushstring(L, PQfname(c->res, j));
				lua_rawseti(L, -2, j + 1);
			}
			lua_replace(L, columns);
		}
		if (st == PGRES_SINGLE_TUPLE && !failed) {
			int nf = PQnfields(c->res);
			lua_createtable(L, 0, nf);
			for (int j = 0; j < nf; j++) {
				if (PQgetisnull(c->res, 0, j))
					continue;
				lua_rawgeti(L, columns, j + 1);
				lua_pushlstring(L, PQgetvalue(c->res, 0, j),
						(size_t)PQgetlength(c->res, 0, j));
				lua_rawset(L, -3);
			}
			lua_rawseti(L, rows, ++count);
		} else if (st == PGRES_COMMAND_OK) {
			const char *t = PQcmdTuples(c->res);
			if (t && *t)
				affected = strtoll(t, NULL, 10);
		} else if (st != PGRES_TUPLES_OK && st != PGRES_SINGLE_TUPLE && !failed) {
			result_error(c, c->res);
			failed = 1;
		}
		PQclear(c->res);
		c->res = NULL;
	}
	if (f == -2) {
		cancel_query(c);
		set_err(c, "timeout after %g s (%s)", c->timeout, c->where);
		failed = 1;
	} else if (f == -1) {
		failed = 1;
	}
	c->busy = 0;
	free(c->pvals);
	c->pvals = NULL;
	if (failed) {
		push_fail(L, c);
		return 2;
	}
	if (lua_isnil(L, columns)) {
		lua_newtable(L);
		lua_replace(L, columns);
	}
	lua_pushvalue(L, columns);
	lua_setfield(L, rows, "columns");
	lua_pushinteger(L, affected >= 0 && count == 0 ? affected : count);
	lua_setfield(L, rows, "count");
	lua_pushvalue(L, rows);
	return 1;
}

static int l_close(lua_State *L)
{
	conn_release(luaL_checkudata(L, 1, CONN_MT));
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct pgconn *c = luaL_checkudata(L, 1, CONN_MT);
	if (c->pg)
		lua_pushfstring(L, "postgres connection (%s)", c->where);
	else
		lua_pushliteral(L, "postgres connection (closed)");
	return 1;
}

static int postgres_open(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "query", l_query },
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
		lua_pushliteral(L, "postgres connection");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	luaL_newlib(L, fns);
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
	return api->lua_module(ctx, "postgres", postgres_open);
}

const struct trm_plugin postgres_plugin = {
	.abi = TRM_PLUGIN_ABI,
	.name = "lua_postgres",
	.version = "1.0",
	.description = "PostgreSQL client for Lua collectors (require \"postgres\"), on libpq",
	.init = plugin_init,
	.fini = NULL,
};
