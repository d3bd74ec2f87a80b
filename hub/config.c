/*
 * The configuration file, evaluated in a sandbox.  See config.h.
 *
 * The file runs with a globals table whose metatable sends every assignment
 * to a separate table of values (so each assignment, the first or a later
 * one, goes through __newindex) and records the line it was made on.  After
 * the run the values are read back in line order, checked, and copied into a
 * struct config; the first bad one gives the error, with its line.
 *
 * Lua reports the line an assignment's store runs on, which for a table
 * written over several lines is the line of its closing brace.  Errors name
 * the line the statement starts on instead: the nearest line at or above it
 * that begins with "NAME =" (or "_G.NAME ="); and a bad field of lineage,
 * http or tls names the first line in the statement that assigns it.
 */
#include "hub/config.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/health.h"
#include "hub/log.h"
#include "hub/sandbox.h"

#define CONFIG_FILE_MAX (1024 * 1024)  /* the config file, and what file() reads */
#define CONFIG_DEPTH_MAX 32           /* nesting of tables in services and plugins */
#define CONFIG_KEY_MAX 256            /* a key path in an error message */

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_DATA_DIR "./data"
#define DEFAULT_MAX_BODY (8LL * 1024 * 1024)

/* Registry keys of the values table and of the lines table. */
static const char values_key = 'v';
static const char lines_key = 'l';

struct cfg_ctx {
	const char *path;
	const char *code;         /* the file's text, for finding lines */
	size_t len;
	size_t *line_at;          /* offset of each line's start; [0] is line 1 */
	int nlines;
	int cur_start, cur_end;   /* lines of the assignment being checked */
	char dir[PATH_MAX];       /* the config's directory, for file(); "" for cwd */
	struct config *n;         /* what is being filled */
	char *err;
	size_t errlen;
	int failed;
};

void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen = strdup(DEFAULT_LISTEN);
	c->data_dir = strdup(DEFAULT_DATA_DIR);
	c->anonymous_reads = 1;
	c->log_level = LOG_INFO;
	c->lineage_max_depth = 10;
	c->lineage_hop_cap = 100;
	c->http_threads = 64;
	c->max_body = DEFAULT_MAX_BODY;
	c->services = json_array();
	c->bookmarks = json_array();
	c->plugins = json_object();
}

void config_release(struct config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->listen);
	free(c->data_dir);
	free(c->tls_cert);
	free(c->tls_key);
	json_decref(c->services);
	json_decref(c->bookmarks);
	json_decref(c->plugins);
	memset(c, 0, sizeof(*c));
}

/* --- parsing of values ------------------------------------------------------ */

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int is_hex(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int is_name_char(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '.' ||
	       ch == '-' || ch == '_';
}

int config_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
	const char *h, *p, *colon;
	size_t hl, i;
	int v = 0, ndig = 0, colons = 0;

	if (s == NULL)
		return -1;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
		for (i = 0; i < hl; i++) {
			if (h[i] == ':')
				colons++;
			else if (!is_hex(h[i]) && h[i] != '.')
				return -1;
		}
		if (colons < 2)
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		h = s;
		hl = (size_t)(colon - s);
		for (i = 0; i < hl; i++)
			if (!is_name_char(h[i]))
				return -1;
	}
	if (hl == 0)
		return -1;
	for (p = colon + 1; *p; p++) {
		if (!is_digit(*p) || ++ndig > 5)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (ndig == 0 || v > 65535)
		return -1;
	if (host) {
		if (hl + 1 > hostlen)
			return -1;
		memcpy(host, h, hl);
		host[hl] = '\0';
	}
	if (port)
		*port = v;
	return 0;
}

int config_parse_size(const char *s, long long *out)
{
	static const struct {
		const char *unit;
		long long mult;
	} units[] = {
		{"", 1}, {"B", 1}, {"KiB", 1024LL}, {"MiB", 1024LL * 1024}, {"GiB", 1024LL * 1024 * 1024},
	};
	const char *p = s;
	long long v = 0;
	size_t i;

	if (s == NULL || !is_digit(*p))
		return -1;
	for (; is_digit(*p); p++) {
		if (v > (LLONG_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (*p == ' ' && p[1] != '\0')
		p++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (v > LLONG_MAX / units[i].mult)
			return -1;
		if (out)
			*out = v * units[i].mult;
		return 0;
	}
	return -1;
}

/* --- functions the file may call -------------------------------------------- */

/* env(NAME): the variable's value, or nil. */
static int cfg_env(lua_State *L)
{
	const char *v;

	luaL_checktype(L, 1, LUA_TSTRING);
	v = getenv(lua_tostring(L, 1));
	if (v)
		lua_pushstring(L, v);
	else
		lua_pushnil(L);
	return 1;
}

/* file(PATH): a regular file's content, at most CONFIG_FILE_MAX bytes, less
 * one trailing newline.  A relative PATH is taken from the config's directory. */
static int cfg_file(lua_State *L)
{
	const struct cfg_ctx *ctx = lua_touserdata(L, lua_upvalueindex(1));
	char full[PATH_MAX];
	const char *name;
	const char *problem = NULL;
	size_t namelen, got = 0;
	luaL_Buffer b;
	char *buf;
	struct stat st;
	int fd, e = 0;

	luaL_checktype(L, 1, LUA_TSTRING);
	name = lua_tolstring(L, 1, &namelen);
	if (namelen == 0 || strlen(name) != namelen)
		return luaL_error(L, "file: bad path");
	if (name[0] != '/' && ctx->dir[0] != '\0') {
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", ctx->dir, name) >= sizeof(full))
			return luaL_error(L, "file: path too long");
	} else if ((size_t)snprintf(full, sizeof(full), "%s", name) >= sizeof(full)) {
		return luaL_error(L, "file: path too long");
	}
	/* Every Lua allocation happens before the file is open or after it is
	 * closed, so an error cannot leak the descriptor. */
	luaL_buffinit(L, &b);
	buf = luaL_prepbuffsize(&b, CONFIG_FILE_MAX + 1);
	fd = open(full, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		problem = "not a regular file";
		goto out;
	}
	while (got <= CONFIG_FILE_MAX) {
		ssize_t n = read(fd, buf + got, CONFIG_FILE_MAX + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > CONFIG_FILE_MAX)
		problem = "larger than 1 MiB";
out:
	if (fd >= 0)
		close(fd);
	if (e)
		return luaL_error(L, "cannot read file '%s': %s", full, strerror(e));
	if (problem)
		return luaL_error(L, "cannot read file '%s': %s", full, problem);
	if (got > 0 && buf[got - 1] == '\n') {
		got--;
		if (got > 0 && buf[got - 1] == '\r')
			got--;
	}
	luaL_addsize(&b, got);
	luaL_pushresult(&b);
	return 1;
}

/* __newindex of the globals: store in the values table, note the line. */
static int cfg_newindex(lua_State *L)
{
	lua_Debug ar;
	int line = 0;

	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar) && ar.currentline > 0)
		line = ar.currentline;
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	lua_rawset(L, lua_upvalueindex(1));
	lua_pushvalue(L, 2);
	lua_pushinteger(L, line);
	lua_rawset(L, lua_upvalueindex(2));
	return 0;
}

/* Install env(), file() and the recording metatable; runs protected. */
static int cfg_setup(lua_State *L)
{
	struct cfg_ctx *ctx = lua_touserdata(L, 1);

	lua_pushglobaltable(L);
	lua_pushcfunction(L, cfg_env);
	lua_setfield(L, -2, "env");
	lua_pushlightuserdata(L, ctx);
	lua_pushcclosure(L, cfg_file, 1);
	lua_setfield(L, -2, "file");

	lua_newtable(L); /* values */
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &values_key);
	lua_newtable(L); /* lines */
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &lines_key);

	lua_createtable(L, 0, 2); /* the globals' metatable */
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, -3);
	lua_pushvalue(L, -3);
	lua_pushcclosure(L, cfg_newindex, 2);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, -4);
	lua_pop(L, 3);
	return 0;
}

/* --- reading the values back ------------------------------------------------ */

static int is_ident(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

/* Offsets of line starts in ctx->code. */
static int cfg_index_lines(struct cfg_ctx *ctx)
{
	size_t i, n = 1;

	for (i = 0; i < ctx->len; i++)
		if (ctx->code[i] == '\n')
			n++;
	ctx->line_at = malloc(n * sizeof(*ctx->line_at));
	if (ctx->line_at == NULL)
		return -1;
	ctx->line_at[0] = 0;
	ctx->nlines = 1;
	for (i = 0; i < ctx->len; i++)
		if (ctx->code[i] == '\n')
			ctx->line_at[ctx->nlines++] = i + 1;
	return 0;
}

/* Whether NAME at P (bounded by END) is followed by blanks and a single '='. */
static int assigns_at(const char *p, const char *end, const char *name)
{
	size_t nl = strlen(name);

	if ((size_t)(end - p) < nl || memcmp(p, name, nl) != 0)
		return 0;
	p += nl;
	if (p < end && is_ident(*p))
		return 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p < end && *p == '=' && (p + 1 >= end || p[1] != '=');
}

/* The bounds of line LN (1-based) in ctx->code. */
static void cfg_line(const struct cfg_ctx *ctx, int ln, const char **b, const char **e)
{
	*b = ctx->code + ctx->line_at[ln - 1];
	*e = ln < ctx->nlines ? ctx->code + ctx->line_at[ln] : ctx->code + ctx->len;
}

/* The line, at or above END, where the statement assigning NAME starts. */
static int cfg_stmt_line(const struct cfg_ctx *ctx, int end, const char *name)
{
	const char *b, *e;
	int ln;

	if (ctx->line_at == NULL || end < 1 || end > ctx->nlines)
		return end;
	for (ln = end; ln >= 1; ln--) {
		cfg_line(ctx, ln, &b, &e);
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		if (assigns_at(b, e, name))
			return ln;
		if ((size_t)(e - b) > 3 && memcmp(b, "_G.", 3) == 0 && assigns_at(b + 3, e, name))
			return ln;
	}
	return end;
}

/* The first line of the current statement that assigns field NAME. */
static int cfg_sub_line(const struct cfg_ctx *ctx, const char *name)
{
	const char *b, *e, *p;
	int ln;

	if (ctx->line_at == NULL || ctx->cur_start < 1 || ctx->cur_end > ctx->nlines)
		return ctx->cur_start;
	for (ln = ctx->cur_start; ln <= ctx->cur_end; ln++) {
		cfg_line(ctx, ln, &b, &e);
		for (p = b; p < e; p++)
			if ((p == b || !is_ident(p[-1])) && assigns_at(p, e, name))
				return ln;
	}
	return ctx->cur_start;
}

static int cfg_fail(struct cfg_ctx *ctx, int line, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(ctx->err, ctx->errlen, "%s:%d: key '%s': %s", ctx->path, line, key, msg);
	else
		snprintf(ctx->err, ctx->errlen, "%s: key '%s': %s", ctx->path, key, msg);
	ctx->failed = 1;
	return -1;
}

/* A short description of the value at IDX for "got ..." (into BUF). */
static const char *cfg_got(lua_State *L, int idx, char *buf, size_t len)
{
	size_t sl;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &sl);
		if (sl > 64)
			snprintf(buf, len, "'%.64s...'", s);
		else
			snprintf(buf, len, "'%s'", s);
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			snprintf(buf, len, "%lld", (long long)lua_tointeger(L, idx));
		else
			snprintf(buf, len, "%.14g", (double)lua_tonumber(L, idx));
		break;
	case LUA_TBOOLEAN:
		snprintf(buf, len, "%s", lua_toboolean(L, idx) ? "true" : "false");
		break;
	default:
		snprintf(buf, len, "%s", luaL_typename(L, idx));
		break;
	}
	return buf;
}

static int cfg_string(struct cfg_ctx *ctx, lua_State *L, int idx, int line, const char *key,
		      char **out)
{
	const char *s;
	size_t len;
	char *dup;

	if (lua_type(L, idx) != LUA_TSTRING)
		return cfg_fail(ctx, line, key, "expected a string, got %s", luaL_typename(L, idx));
	s = lua_tolstring(L, idx, &len);
	if (len == 0 || strlen(s) != len)
		return cfg_fail(ctx, line, key, "expected a non-empty string without NUL bytes");
	dup = strdup(s);
	if (dup == NULL)
		return cfg_fail(ctx, line, key, "out of memory");
	free(*out);
	*out = dup;
	return 0;
}

static int cfg_int(struct cfg_ctx *ctx, lua_State *L, int idx, int line, const char *key,
		   long long lo, long long hi, long long *out)
{
	char got[96];
	lua_Integer v;
	int isint = 0;

	if (lua_type(L, idx) != LUA_TNUMBER)
		return cfg_fail(ctx, line, key, "expected an integer, got %s", luaL_typename(L, idx));
	v = lua_tointegerx(L, idx, &isint);
	if (!isint)
		return cfg_fail(ctx, line, key, "expected an integer, got %s",
				cfg_got(L, idx, got, sizeof(got)));
	if (v < lo || v > hi)
		return cfg_fail(ctx, line, key, "expected an integer from %lld to %lld, got %lld", lo,
				hi, (long long)v);
	*out = v;
	return 0;
}

/*
 * The Lua value at IDX as JSON into *OUT.  KEY is its path for messages
 * (KEYLEN bytes, extended in place for nested values).
 */
static int cfg_json(struct cfg_ctx *ctx, lua_State *L, int idx, int line, char *key, size_t keylen,
		    int depth, json_t **out);

static int cfg_json_table(struct cfg_ctx *ctx, lua_State *L, int idx, int line, char *key,
			  size_t keylen, int depth, json_t **out)
{
	size_t base = strlen(key);
	lua_Integer n = 0, count = 0, i;
	int array = 1;
	json_t *j = NULL, *v = NULL;
	int rc = -1;

	if (depth >= CONFIG_DEPTH_MAX) {
		cfg_fail(ctx, line, key, "tables nested deeper than %d levels", CONFIG_DEPTH_MAX);
		goto out;
	}
	if (!lua_checkstack(L, 4)) {
		cfg_fail(ctx, line, key, "out of memory");
		goto out;
	}
	/* An array if its keys are exactly 1..n (n > 0). */
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		count++;
		if (lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
			if (lua_tointeger(L, -1) > n)
				n = lua_tointeger(L, -1);
		} else {
			array = 0;
		}
	}
	array = array && count > 0 && n == count;
	if (array) {
		j = json_array();
		if (j == NULL) {
			cfg_fail(ctx, line, key, "out of memory");
			goto out;
		}
		for (i = 1; i <= n; i++) {
			snprintf(key + base, keylen - base, "[%lld]", (long long)i);
			lua_rawgeti(L, idx, i);
			rc = cfg_json(ctx, L, lua_gettop(L), line, key, keylen, depth + 1, &v);
			lua_pop(L, 1);
			if (rc < 0)
				goto out;
			rc = -1;
			if (json_array_append_new(j, v) < 0) {
				cfg_fail(ctx, line, key, "out of memory");
				goto out;
			}
			v = NULL;
		}
	} else {
		j = json_object();
		if (j == NULL) {
			cfg_fail(ctx, line, key, "out of memory");
			goto out;
		}
		lua_pushnil(L);
		while (lua_next(L, idx) != 0) {
			char name[64];
			const char *k;

			if (lua_type(L, -2) == LUA_TSTRING) {
				size_t kl;

				k = lua_tolstring(L, -2, &kl);
				if (strlen(k) != kl) {
					key[base] = '\0';
					lua_pop(L, 2);
					cfg_fail(ctx, line, key, "a key holds a NUL byte");
					goto out;
				}
			} else if (lua_type(L, -2) == LUA_TNUMBER && lua_isinteger(L, -2)) {
				snprintf(name, sizeof(name), "%lld", (long long)lua_tointeger(L, -2));
				k = name;
			} else {
				key[base] = '\0';
				cfg_fail(ctx, line, key, "a table key must be a string or an integer, "
							 "not a %s",
					 luaL_typename(L, -2));
				lua_pop(L, 2);
				goto out;
			}
			snprintf(key + base, keylen - base, "%s%s", base ? "." : "", k);
			if (json_object_get(j, k) != NULL) {
				lua_pop(L, 2);
				cfg_fail(ctx, line, key, "given twice (as a string and as a number)");
				goto out;
			}
			rc = cfg_json(ctx, L, lua_gettop(L), line, key, keylen, depth + 1, &v);
			lua_pop(L, 1);
			if (rc < 0) {
				lua_pop(L, 1);
				goto out;
			}
			rc = -1;
			if (json_object_set_new(j, k, v) < 0) {
				v = NULL;
				lua_pop(L, 1);
				cfg_fail(ctx, line, key, "key is not valid UTF-8");
				goto out;
			}
			v = NULL;
		}
	}
	key[base] = '\0';
	*out = j;
	j = NULL;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

static int cfg_json(struct cfg_ctx *ctx, lua_State *L, int idx, int line, char *key, size_t keylen,
		    int depth, json_t **out)
{
	json_t *j = NULL;
	const char *s;
	size_t len;

	*out = NULL;
	switch (lua_type(L, idx)) {
	case LUA_TBOOLEAN:
		j = json_boolean(lua_toboolean(L, idx));
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			j = json_integer((json_int_t)lua_tointeger(L, idx));
		} else {
			double d = (double)lua_tonumber(L, idx);

			if (!isfinite(d))
				return cfg_fail(ctx, line, key, "not a finite number");
			j = json_real(d);
		}
		break;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		j = json_stringn(s, len);
		if (j == NULL)
			return cfg_fail(ctx, line, key, "string is not valid UTF-8");
		break;
	case LUA_TTABLE:
		return cfg_json_table(ctx, L, idx, line, key, keylen, depth, out);
	default:
		return cfg_fail(ctx, line, key,
				"expected a string, number, boolean or table, got %s",
				luaL_typename(L, idx));
	}
	if (j == NULL)
		return cfg_fail(ctx, line, key, "out of memory");
	*out = j;
	return 0;
}

/* Check that the table at IDX has no keys but those in ALLOWED. */
static int cfg_only(struct cfg_ctx *ctx, lua_State *L, int idx, int line, const char *name,
		    const char *const *allowed)
{
	char key[CONFIG_KEY_MAX];
	int i;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (lua_type(L, -1) == LUA_TSTRING) {
			const char *k = lua_tostring(L, -1);

			for (i = 0; allowed[i]; i++)
				if (strcmp(k, allowed[i]) == 0)
					break;
			if (allowed[i] == NULL) {
				snprintf(key, sizeof(key), "%s.%s", name, k);
				line = cfg_sub_line(ctx, k); /* K stays alive in the table */
				lua_pop(L, 1);
				return cfg_fail(ctx, line, key, "unknown key");
			}
		} else {
			char got[96];

			snprintf(key, sizeof(key), "%s.%s", name, cfg_got(L, -1, got, sizeof(got)));
			lua_pop(L, 1);
			return cfg_fail(ctx, line, key, "unknown key");
		}
	}
	return 0;
}

/* Push T[FIELD] (raw); returns its type. */
static int cfg_field(lua_State *L, int t, const char *field)
{
	lua_pushstring(L, field);
	return lua_rawget(L, t);
}

static int cfg_table(struct cfg_ctx *ctx, lua_State *L, int idx, int line, const char *key)
{
	if (lua_type(L, idx) != LUA_TTABLE)
		return cfg_fail(ctx, line, key, "expected a table, got %s", luaL_typename(L, idx));
	return 0;
}

static int key_listen(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	char got[96];

	if (lua_type(L, v) != LUA_TSTRING ||
	    config_parse_listen(lua_tostring(L, v), NULL, 0, NULL) < 0)
		return cfg_fail(ctx, line, "listen", "expected HOST:PORT, got %s",
				cfg_got(L, v, got, sizeof(got)));
	return cfg_string(ctx, L, v, line, "listen", &ctx->n->listen);
}

static int key_data_dir(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	return cfg_string(ctx, L, v, line, "data_dir", &ctx->n->data_dir);
}

static int key_tls(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	static const char *const allowed[] = {"cert", "key", NULL};
	int rc;

	if (cfg_table(ctx, L, v, line, "tls") < 0 || cfg_only(ctx, L, v, line, "tls", allowed) < 0)
		return -1;
	if (cfg_field(L, v, "cert") == LUA_TNIL)
		rc = cfg_fail(ctx, line, "tls.cert", "missing (tls needs cert and key)");
	else
		rc = cfg_string(ctx, L, lua_gettop(L), cfg_sub_line(ctx, "cert"), "tls.cert",
				&ctx->n->tls_cert);
	lua_pop(L, 1);
	if (rc < 0)
		return rc;
	if (cfg_field(L, v, "key") == LUA_TNIL)
		rc = cfg_fail(ctx, line, "tls.key", "missing (tls needs cert and key)");
	else
		rc = cfg_string(ctx, L, lua_gettop(L), cfg_sub_line(ctx, "key"), "tls.key",
				&ctx->n->tls_key);
	lua_pop(L, 1);
	return rc;
}

static int key_anonymous_reads(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	if (lua_type(L, v) != LUA_TBOOLEAN)
		return cfg_fail(ctx, line, "anonymous_reads", "expected a boolean, got %s",
				luaL_typename(L, v));
	ctx->n->anonymous_reads = lua_toboolean(L, v);
	return 0;
}

static int key_log_level(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	char got[96];
	int level = -1;

	if (lua_type(L, v) == LUA_TSTRING)
		level = log_level_parse(lua_tostring(L, v));
	if (level < 0)
		return cfg_fail(ctx, line, "log_level", "expected debug, info, warn or error, got %s",
				cfg_got(L, v, got, sizeof(got)));
	ctx->n->log_level = level;
	return 0;
}

static int key_lineage(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	static const char *const allowed[] = {"max_depth", "hop_cap", NULL};
	long long x;
	int rc = 0;

	if (cfg_table(ctx, L, v, line, "lineage") < 0 ||
	    cfg_only(ctx, L, v, line, "lineage", allowed) < 0)
		return -1;
	if (cfg_field(L, v, "max_depth") != LUA_TNIL) {
		rc = cfg_int(ctx, L, lua_gettop(L), cfg_sub_line(ctx, "max_depth"), "lineage.max_depth", 1, 100, &x);
		if (rc == 0)
			ctx->n->lineage_max_depth = (int)x;
	}
	lua_pop(L, 1);
	if (rc < 0)
		return rc;
	if (cfg_field(L, v, "hop_cap") != LUA_TNIL) {
		rc = cfg_int(ctx, L, lua_gettop(L), cfg_sub_line(ctx, "hop_cap"), "lineage.hop_cap", 1, 100000, &x);
		if (rc == 0)
			ctx->n->lineage_hop_cap = (int)x;
	}
	lua_pop(L, 1);
	return rc;
}

static int key_http(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	static const char *const allowed[] = {"threads", "max_body", NULL};
	const long long body_max = 1024LL * 1024 * 1024;
	long long x;
	char got[96];
	int rc = 0;

	if (cfg_table(ctx, L, v, line, "http") < 0 || cfg_only(ctx, L, v, line, "http", allowed) < 0)
		return -1;
	if (cfg_field(L, v, "threads") != LUA_TNIL) {
		rc = cfg_int(ctx, L, lua_gettop(L), cfg_sub_line(ctx, "threads"), "http.threads", 1, 256, &x);
		if (rc == 0)
			ctx->n->http_threads = (int)x;
	}
	lua_pop(L, 1);
	if (rc < 0)
		return rc;
	switch (cfg_field(L, v, "max_body")) {
	case LUA_TNIL:
		break;
	case LUA_TNUMBER:
		rc = cfg_int(ctx, L, lua_gettop(L), cfg_sub_line(ctx, "max_body"), "http.max_body", 1,
			     body_max, &x);
		if (rc == 0)
			ctx->n->max_body = x;
		break;
	case LUA_TSTRING:
		if (config_parse_size(lua_tostring(L, -1), &x) < 0 || x < 1 || x > body_max)
			rc = cfg_fail(ctx, cfg_sub_line(ctx, "max_body"), "http.max_body",
				      "expected a size from 1 byte to 1GiB such as 65536, "
				      "\"64KiB\" or \"8MiB\", got %s",
				      cfg_got(L, -1, got, sizeof(got)));
		else
			ctx->n->max_body = x;
		break;
	default:
		rc = cfg_fail(ctx, cfg_sub_line(ctx, "max_body"), "http.max_body",
			      "expected a size, got %s",
			      luaL_typename(L, -1));
		break;
	}
	lua_pop(L, 1);
	return rc;
}

static int key_services(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	char key[CONFIG_KEY_MAX], sub[96], msg[256], id[HEALTH_ID_MAX + 1];
	json_t *arr = NULL;
	size_t i, j;
	int rc = -1;

	if (cfg_table(ctx, L, v, line, "services") < 0)
		goto out;
	snprintf(key, sizeof(key), "services");
	if (cfg_json(ctx, L, v, line, key, sizeof(key), 0, &arr) < 0)
		goto out;
	if (json_is_object(arr) && json_object_size(arr) == 0) {
		json_decref(arr);
		arr = json_array();
		if (arr == NULL) {
			cfg_fail(ctx, line, "services", "out of memory");
			goto out;
		}
	}
	if (!json_is_array(arr)) {
		cfg_fail(ctx, line, "services", "expected a list of tables { name = ..., ... }");
		goto out;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *s = json_array_get(arr, i);
		json_t *name = json_object_get(s, "name");

		snprintf(key, sizeof(key), "services[%zu]", i + 1);
		if (!json_is_object(s)) {
			cfg_fail(ctx, line, key, "expected a table { name = ..., ... }");
			goto out;
		}
		snprintf(key, sizeof(key), "services[%zu].name", i + 1);
		if (name == NULL) {
			cfg_fail(ctx, line, key, "missing");
			goto out;
		}
		if (!json_is_string(name) || json_string_length(name) == 0) {
			cfg_fail(ctx, line, key, "expected a non-empty string");
			goto out;
		}
		for (j = 0; j < i; j++)
			if (json_equal(json_object_get(json_array_get(arr, j), "name"), name)) {
				cfg_fail(ctx, line, key, "duplicate service name '%s'",
					 json_string_value(name));
				goto out;
			}
		/* The dashboard's rules (hub/health.h): check, href, texts, the id. */
		if (health_service_validate(s, 0, sub, sizeof(sub), msg, sizeof(msg)) < 0) {
			snprintf(key, sizeof(key), "services[%zu]%s%s", i + 1, sub[0] ? "." : "",
				 sub);
			cfg_fail(ctx, line, key, "%s", msg);
			goto out;
		}
		health_slug(json_string_value(name), id, sizeof(id));
		for (j = 0; j < i; j++) {
			char other[HEALTH_ID_MAX + 1];

			health_slug(json_string_value(json_object_get(json_array_get(arr, j), "name")),
				    other, sizeof(other));
			if (strcmp(id, other) == 0) {
				cfg_fail(ctx, line, key,
					 "'%s' has the same id '%s' as services[%zu].name",
					 json_string_value(name), id, j + 1);
				goto out;
			}
		}
	}
	json_decref(ctx->n->services);
	ctx->n->services = arr;
	arr = NULL;
	rc = 0;
out:
	json_decref(arr);
	return rc;
}

static int key_bookmarks(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	static const char *const allowed[] = { "group", "name", "href", "icon", "description",
					       NULL };
	static const char *const required[] = { "name", "href", NULL };
	char key[CONFIG_KEY_MAX];
	json_t *arr = NULL, *b, *x;
	const char *k;
	size_t i;
	int a, rc = -1;

	if (cfg_table(ctx, L, v, line, "bookmarks") < 0)
		goto out;
	snprintf(key, sizeof(key), "bookmarks");
	if (cfg_json(ctx, L, v, line, key, sizeof(key), 0, &arr) < 0)
		goto out;
	if (json_is_object(arr) && json_object_size(arr) == 0) {
		json_decref(arr);
		arr = json_array();
		if (arr == NULL) {
			cfg_fail(ctx, line, "bookmarks", "out of memory");
			goto out;
		}
	}
	if (!json_is_array(arr)) {
		cfg_fail(ctx, line, "bookmarks", "expected a list of tables { name = ..., href = ... }");
		goto out;
	}
	json_array_foreach(arr, i, b) {
		snprintf(key, sizeof(key), "bookmarks[%zu]", i + 1);
		if (!json_is_object(b)) {
			cfg_fail(ctx, line, key, "expected a table { name = ..., href = ... }");
			goto out;
		}
		json_object_foreach(b, k, x) {
			for (a = 0; allowed[a]; a++)
				if (strcmp(k, allowed[a]) == 0)
					break;
			snprintf(key, sizeof(key), "bookmarks[%zu].%.64s", i + 1, k);
			if (!allowed[a]) {
				cfg_fail(ctx, line, key, "unknown key");
				goto out;
			}
			if (!json_is_string(x)) {
				cfg_fail(ctx, line, key, "expected a string");
				goto out;
			}
		}
		for (a = 0; required[a]; a++) {
			const char *s = json_string_value(json_object_get(b, required[a]));

			snprintf(key, sizeof(key), "bookmarks[%zu].%s", i + 1, required[a]);
			if (!s || !*s) {
				cfg_fail(ctx, line, key, "missing");
				goto out;
			}
		}
		k = json_string_value(json_object_get(b, "href"));
		if (strncmp(k, "http://", 7) != 0 && strncmp(k, "https://", 8) != 0 &&
		    !(k[0] == '/' && k[1] != '/')) {
			snprintf(key, sizeof(key), "bookmarks[%zu].href", i + 1);
			cfg_fail(ctx, line, key,
				 "expected an http:// or https:// URL or a path starting with /");
			goto out;
		}
	}
	json_decref(ctx->n->bookmarks);
	ctx->n->bookmarks = arr;
	arr = NULL;
	rc = 0;
out:
	json_decref(arr);
	return rc;
}

static int key_plugins(struct cfg_ctx *ctx, lua_State *L, int v, int line)
{
	char key[CONFIG_KEY_MAX];
	json_t *obj = NULL;
	const char *name;
	json_t *settings;
	int rc = -1;

	if (cfg_table(ctx, L, v, line, "plugins") < 0)
		goto out;
	/* Each value must be a table: checked on the Lua side, where the type
	 * is still known. */
	lua_pushnil(L);
	while (lua_next(L, v) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TTABLE) {
			char got[96];

			if (lua_type(L, -2) == LUA_TSTRING)
				snprintf(key, sizeof(key), "plugins.%s", lua_tostring(L, -2));
			else
				snprintf(key, sizeof(key), "plugins[%s]",
					 cfg_got(L, -2, got, sizeof(got)));
			cfg_fail(ctx, line, key, "expected a table of settings, got %s",
				 luaL_typename(L, -1));
			lua_pop(L, 2);
			goto out;
		}
		lua_pop(L, 1);
	}
	snprintf(key, sizeof(key), "plugins");
	if (cfg_json(ctx, L, v, line, key, sizeof(key), 0, &obj) < 0)
		goto out;
	if (!json_is_object(obj)) {
		cfg_fail(ctx, line, "plugins", "expected a table of name = { settings }");
		goto out;
	}
	json_object_foreach(obj, name, settings) {
		if (json_is_array(settings)) {
			snprintf(key, sizeof(key), "plugins.%s", name);
			cfg_fail(ctx, line, key, "expected a table of settings, got a list");
			goto out;
		}
	}
	json_decref(ctx->n->plugins);
	ctx->n->plugins = obj;
	obj = NULL;
	rc = 0;
out:
	json_decref(obj);
	return rc;
}

static const struct {
	const char *name;
	int (*fn)(struct cfg_ctx *ctx, lua_State *L, int v, int line);
} config_keys[] = {
	{"listen", key_listen},
	{"data_dir", key_data_dir},
	{"tls", key_tls},
	{"anonymous_reads", key_anonymous_reads},
	{"log_level", key_log_level},
	{"lineage", key_lineage},
	{"http", key_http},
	{"services", key_services},
	{"bookmarks", key_bookmarks},
	{"plugins", key_plugins},
};

struct cfg_assign {
	int line;        /* where the statement starts */
	int end;         /* where Lua stored the value */
	int known;       /* index in config_keys, or -1 */
	const char *name;
};

static int cfg_assign_cmp(const void *a, const void *b)
{
	const struct cfg_assign *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Read the assigned values back into ctx->n, in line order; runs protected. */
static int cfg_collect(lua_State *L)
{
	struct cfg_ctx *ctx = lua_touserdata(L, 1);
	struct cfg_assign *as = NULL;
	size_t n = 0, cap = 0, i, k;
	int values, lines;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &values_key);
	values = lua_gettop(L);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &lines_key);
	lines = lua_gettop(L);

	lua_pushnil(L);
	while (lua_next(L, values) != 0) {
		int line;

		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_rawget(L, lines);
		line = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING) {
			char got[96];

			cfg_fail(ctx, line, cfg_got(L, -1, got, sizeof(got)), "unknown key");
			lua_pop(L, 1);
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct cfg_assign *na = realloc(as, ncap * sizeof(*na));

			if (na == NULL) {
				lua_pop(L, 1);
				cfg_fail(ctx, line, lua_tostring(L, -1), "out of memory");
				goto out;
			}
			as = na;
			cap = ncap;
		}
		as[n].end = line;
		as[n].name = lua_tostring(L, -1); /* held by the values table */
		as[n].line = cfg_stmt_line(ctx, line, as[n].name);
		as[n].known = -1;
		for (k = 0; k < sizeof(config_keys) / sizeof(config_keys[0]); k++)
			if (strcmp(as[n].name, config_keys[k].name) == 0)
				as[n].known = (int)k;
		n++;
	}
	if (n > 0)
		qsort(as, n, sizeof(*as), cfg_assign_cmp);
	for (i = 0; i < n; i++) {
		if (as[i].known < 0) {
			cfg_fail(ctx, as[i].line, as[i].name, "unknown key");
			goto out;
		}
		ctx->cur_start = as[i].line;
		ctx->cur_end = as[i].end;
		cfg_field(L, values, as[i].name);
		if (config_keys[as[i].known].fn(ctx, L, lua_gettop(L), as[i].line) < 0)
			goto out;
		lua_pop(L, 1);
	}
out:
	free(as);
	return 0;
}

/* --- loading ---------------------------------------------------------------- */

/* Read the whole file at PATH (at most CONFIG_FILE_MAX bytes) into *OUT. */
static int read_config(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	FILE *fp = NULL;
	char *buf = NULL;
	size_t len = 0, n;
	int rc = -1;

	fp = fopen(path, "rb");
	if (fp == NULL) {
		snprintf(err, errlen, "cannot read config '%s': %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "cannot read config '%s': out of memory", path);
		goto out;
	}
	while ((n = fread(buf + len, 1, CONFIG_FILE_MAX + 1 - len, fp)) > 0) {
		len += n;
		if (len > CONFIG_FILE_MAX)
			break;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "cannot read config '%s': %s", path, strerror(errno));
		goto out;
	}
	if (len > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "cannot read config '%s': larger than 1 MiB", path);
		goto out;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	if (fp)
		fclose(fp);
	free(buf);
	return rc;
}

/* A deep copy of C into N (N's previous content is not freed). */
static int config_copy(struct config *n, const struct config *c)
{
	memset(n, 0, sizeof(*n));
	*n = *c;
	n->path = c->path ? strdup(c->path) : NULL;
	n->listen = strdup(c->listen ? c->listen : DEFAULT_LISTEN);
	n->data_dir = strdup(c->data_dir ? c->data_dir : DEFAULT_DATA_DIR);
	n->tls_cert = c->tls_cert ? strdup(c->tls_cert) : NULL;
	n->tls_key = c->tls_key ? strdup(c->tls_key) : NULL;
	n->services = c->services ? json_deep_copy(c->services) : json_array();
	n->bookmarks = c->bookmarks ? json_deep_copy(c->bookmarks) : json_array();
	n->plugins = c->plugins ? json_deep_copy(c->plugins) : json_object();
	if ((c->path && !n->path) || !n->listen || !n->data_dir || (c->tls_cert && !n->tls_cert) ||
	    (c->tls_key && !n->tls_key) || !n->services || !n->bookmarks || !n->plugins)
		return -1;
	return 0;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct sandbox_limits lim = {
		.mem_max = 16 * 1024 * 1024,
		.instr_max = 10000000,
		.wall_ms = 2000,
	};
	struct config n;
	struct cfg_ctx ctx;
	struct sandbox *sb = NULL;
	lua_State *L;
	char *code = NULL;
	char *chunkname = NULL;
	char lerr[1024];
	size_t len = 0;
	const char *slash;
	int rc = -1;

	memset(&n, 0, sizeof(n));
	memset(&ctx, 0, sizeof(ctx));
	if (read_config(path, &code, &len, err, errlen) < 0)
		goto out;
	if (config_copy(&n, c) < 0) {
		snprintf(err, errlen, "cannot load config '%s': out of memory", path);
		goto out;
	}
	ctx.path = path;
	ctx.code = code;
	ctx.len = len;
	if (cfg_index_lines(&ctx) < 0) {
		snprintf(err, errlen, "cannot load config '%s': out of memory", path);
		goto out;
	}
	ctx.n = &n;
	ctx.err = err;
	ctx.errlen = errlen;
	slash = strrchr(path, '/');
	if (slash && (size_t)(slash - path) + 1 < sizeof(ctx.dir)) {
		size_t dl = slash == path ? 1 : (size_t)(slash - path);

		memcpy(ctx.dir, path, dl);
		ctx.dir[dl] = '\0';
	}
	chunkname = malloc(strlen(path) + 2);
	if (chunkname == NULL) {
		snprintf(err, errlen, "cannot load config '%s': out of memory", path);
		goto out;
	}
	chunkname[0] = '@';
	strcpy(chunkname + 1, path);

	sb = sandbox_create(&lim, lerr, sizeof(lerr));
	if (sb == NULL) {
		snprintf(err, errlen, "cannot load config '%s': %s", path, lerr);
		goto out;
	}
	L = sandbox_state(sb);
	lua_pushcfunction(L, cfg_setup);
	lua_pushlightuserdata(L, &ctx);
	if (sandbox_call(sb, 1, 0, lerr, sizeof(lerr)) < 0) {
		snprintf(err, errlen, "cannot load config '%s': %s", path, lerr);
		goto out;
	}
	if (sandbox_run(sb, code, len, chunkname, 0, lerr, sizeof(lerr)) < 0) {
		if (strncmp(lerr, "stopped: ", 9) == 0)
			snprintf(err, errlen, "%s: %s", path, lerr);
		else
			snprintf(err, errlen, "%s", lerr);
		goto out;
	}
	lua_pushcfunction(L, cfg_collect);
	lua_pushlightuserdata(L, &ctx);
	if (sandbox_call(sb, 1, 0, lerr, sizeof(lerr)) < 0) {
		snprintf(err, errlen, "cannot load config '%s': %s", path, lerr);
		goto out;
	}
	if (ctx.failed)
		goto out;
	free(n.path);
	n.path = strdup(path);
	if (n.path == NULL) {
		snprintf(err, errlen, "cannot load config '%s': out of memory", path);
		goto out;
	}
	config_release(c);
	*c = n;
	memset(&n, 0, sizeof(n));
	rc = 0;
out:
	sandbox_destroy(sb);
	config_release(&n);
	free(ctx.line_at);
	free(chunkname);
	free(code);
	return rc;
}
