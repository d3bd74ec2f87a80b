/*
 * The `json` and `time` globals of the collector API and the Lua <-> JSON
 * conversions; see luaapi.h.
 *
 * C memory held while Lua may raise (a memory error longjmps out of any
 * allocating Lua call) is kept in a "box": a full userdata whose __gc frees
 * it, so an error never leaks it.
 */
#include "hub/luaapi.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BOX_META "terrarium.jsonbox"
#define DECODE_MAX ((size_t)32 * 1024 * 1024)
#define PATH_MAX_LEN 256

/* --- UTF-8 ---------------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at S (N bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);

		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

size_t luaapi_clean_line(const char *s, size_t len, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;

	if (outlen == 0)
		return 0;
	while (i < len) {
		char tmp[8];
		size_t k = utf8_seq(p + i, len - i), n;

		if (k == 0) {
			tmp[0] = '?';
			n = 1;
			k = 1;
		} else if (k == 1 && (p[i] < 0x20 || p[i] == 0x7f)) {
			if (p[i] == '\n')
				n = (size_t)snprintf(tmp, sizeof(tmp), "\\n");
			else if (p[i] == '\t')
				n = (size_t)snprintf(tmp, sizeof(tmp), "\\t");
			else if (p[i] == '\r')
				n = (size_t)snprintf(tmp, sizeof(tmp), "\\r");
			else
				n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
		} else {
			memcpy(tmp, p + i, k);
			n = k;
		}
		/* Leave room for "..." and the NUL. */
		if (o + n + 4 > outlen) {
			if (outlen >= 4) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
		i += k;
	}
	out[o] = '\0';
	return o;
}

/* --- Lua to JSON ------------------------------------------------------------------ */

struct conv {
	lua_State *L;
	size_t bytes;
	char *err;
	size_t errlen;
	char path[PATH_MAX_LEN];
	size_t plen;
};

static json_t *conv_fail(struct conv *c, const char *msg)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s%s%s", c->path, c->plen ? ": " : "", msg);
	return NULL;
}

/* Append TEXT to the path (cut at its end); returns the old length to restore. */
static size_t path_add(struct conv *c, const char *text)
{
	size_t old = c->plen;
	size_t room = sizeof(c->path) - 1 - c->plen;
	size_t n = strlen(text);

	if (n > room)
		n = room;
	memcpy(c->path + c->plen, text, n);
	c->plen += n;
	c->path[c->plen] = '\0';
	return old;
}

/* Append ".KEY" (or "KEY" at the start). */
static size_t path_key(struct conv *c, const char *key)
{
	size_t old = c->plen;

	if (c->plen)
		path_add(c, ".");
	path_add(c, key);
	return old;
}

/* Append "[I]". */
static size_t path_index(struct conv *c, long long i)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "[%lld]", i);
	return path_add(c, buf);
}

static void path_pop(struct conv *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

static json_t *conv_value(struct conv *c, int idx, int depth);

static json_t *conv_table(struct conv *c, int idx, int depth)
{
	lua_State *L = c->L;
	lua_Unsigned n = lua_rawlen(L, idx);
	size_t count = 0;
	int is_array = 1;
	json_t *out = NULL;

	if (depth >= LUAAPI_DEPTH_MAX)
		return conv_fail(c, "nested too deeply (or a table that holds itself)");
	if (!lua_checkstack(L, 4))
		return conv_fail(c, "out of memory");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		count++;
		if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 ||
		    (lua_Unsigned)lua_tointeger(L, -2) > n)
			is_array = 0;
		lua_pop(L, 1);
	}
	if (is_array && n > 0 && count == n) {
		out = json_array();
		if (!out)
			return conv_fail(c, "out of memory");
		for (lua_Unsigned i = 1; i <= n; i++) {
			size_t old = path_index(c, (long long)i);
			json_t *v;

			lua_rawgeti(L, idx, (lua_Integer)i);
			v = conv_value(c, lua_gettop(L), depth + 1);
			lua_pop(L, 1);
			if (!v)
				goto fail;
			path_pop(c, old);
			if (json_array_append_new(out, v) != 0) {
				conv_fail(c, "out of memory");
				goto fail;
			}
		}
		return out;
	}
	out = json_object();
	if (!out)
		return conv_fail(c, "out of memory");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		char num[32];
		const char *key;
		size_t klen, old;
		json_t *v;

		if (lua_type(L, -2) == LUA_TSTRING) {
			key = lua_tolstring(L, -2, &klen);
			if (strlen(key) != klen || !utf8_valid(key, klen)) {
				lua_pop(L, 2);
				conv_fail(c, "a key holds a NUL byte or is not UTF-8");
				goto fail;
			}
		} else if (lua_isinteger(L, -2)) {
			snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, -2));
			key = num;
		} else {
			char msg[64];

			snprintf(msg, sizeof(msg), "a key is a %s (keys must be strings)",
				 luaL_typename(L, -2));
			lua_pop(L, 2);
			conv_fail(c, msg);
			goto fail;
		}
		c->bytes += strlen(key);
		old = path_key(c, key);
		v = conv_value(c, lua_gettop(L), depth + 1);
		if (!v) {
			lua_pop(L, 2);
			goto fail;
		}
		path_pop(c, old);
		if (json_object_set_new_nocheck(out, key, v) != 0) {
			lua_pop(L, 2);
			conv_fail(c, "out of memory");
			goto fail;
		}
		lua_pop(L, 1);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static json_t *conv_value(struct conv *c, int idx, int depth)
{
	lua_State *L = c->L;
	json_t *v = NULL;

	c->bytes += 16;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		v = json_null();
		break;
	case LUA_TBOOLEAN:
		v = json_boolean(lua_toboolean(L, idx));
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			v = json_integer((json_int_t)lua_tointeger(L, idx));
		} else {
			double d = lua_tonumber(L, idx);

			if (!isfinite(d))
				return conv_fail(c, "cannot encode NaN or infinity");
			v = json_real(d);
		}
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);

		if (!utf8_valid(s, len))
			return conv_fail(c, "a string is not valid UTF-8");
		c->bytes += len;
		v = json_stringn_nocheck(s, len);
		break;
	}
	case LUA_TTABLE:
		return conv_table(c, lua_absindex(L, idx), depth);
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == NULL) {
			v = json_null();
			break;
		}
		/* fall through */
	default: {
		char msg[64];

		snprintf(msg, sizeof(msg), "cannot encode a %s", luaL_typename(L, idx));
		return conv_fail(c, msg);
	}
	}
	if (!v)
		return conv_fail(c, "out of memory");
	return v;
}

json_t *luaapi_to_json(lua_State *L, int idx, const char *path, size_t *bytes, char *err,
		       size_t errlen)
{
	struct conv c = { .L = L, .err = err, .errlen = errlen };
	json_t *v;

	snprintf(c.path, sizeof(c.path), "%s", path ? path : "");
	c.plen = strlen(c.path);
	v = conv_value(&c, lua_absindex(L, idx), 0);
	if (bytes)
		*bytes = c.bytes;
	return v;
}

/* --- JSON to Lua ------------------------------------------------------------------ */

void luaapi_push_null(lua_State *L)
{
	lua_pushlightuserdata(L, NULL);
}

void luaapi_push_json(lua_State *L, const json_t *v)
{
	luaL_checkstack(L, 3, "json value nested too deeply");
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *item;

		lua_createtable(L, 0, (int)json_object_size(v));
		json_object_foreach((json_t *)v, key, item) {
			luaapi_push_json(L, item);
			lua_setfield(L, -2, key);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *item;

		lua_createtable(L, (int)json_array_size(v), 0);
		json_array_foreach(v, i, item) {
			luaapi_push_json(L, item);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	}
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	default:
		luaapi_push_null(L);
		break;
	}
}

/* --- boxes ------------------------------------------------------------------------- */

struct box {
	json_t *v;
	char *s;
};

static int box_gc(lua_State *L)
{
	struct box *b = luaL_testudata(L, 1, BOX_META);

	if (b) {
		json_decref(b->v);
		free(b->s);
		b->v = NULL;
		b->s = NULL;
	}
	return 0;
}

/* Push an empty box (freed by the GC if an error strikes). */
static struct box *box_new(lua_State *L)
{
	struct box *b = lua_newuserdatauv(L, sizeof(*b), 0);

	b->v = NULL;
	b->s = NULL;
	if (luaL_newmetatable(L, BOX_META)) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	return b;
}

/* Free what the box holds now. */
static void box_clear(struct box *b)
{
	json_decref(b->v);
	free(b->s);
	b->v = NULL;
	b->s = NULL;
}

/* --- json ----------------------------------------------------------------------------- */

static int l_json_encode(lua_State *L)
{
	char err[512];
	struct box *b;

	luaL_checkany(L, 1);
	lua_settop(L, 1);
	b = box_new(L);
	b->v = luaapi_to_json(L, 1, "", NULL, err, sizeof(err));
	if (!b->v)
		return luaL_error(L, "json.encode: %s", err);
	b->s = json_dumps(b->v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!b->s)
		return luaL_error(L, "json.encode: out of memory");
	lua_pushstring(L, b->s);
	box_clear(b);
	return 1;
}

static int l_json_decode(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	json_error_t jerr;
	struct box *b;

	if (len > DECODE_MAX) {
		lua_pushnil(L);
		lua_pushfstring(L, "json: text of %I bytes is longer than the %I allowed",
				(lua_Integer)len, (lua_Integer)DECODE_MAX);
		return 2;
	}
	b = box_new(L);
	b->v = json_loadb(s, len, JSON_DECODE_ANY, &jerr);
	if (!b->v) {
		lua_pushnil(L);
		lua_pushfstring(L, "json: %s (line %d, column %d)", jerr.text, jerr.line,
				jerr.column);
		return 2;
	}
	luaapi_push_json(L, b->v);
	box_clear(b);
	return 1;
}

/* --- time ------------------------------------------------------------------------------ */

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int l_time_now(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
	return 1;
}

static int l_time_iso(lua_State *L)
{
	struct timespec ts;
	double t;
	long long secs, ms;
	time_t tt;
	struct tm tm;
	char buf[96];

	clock_gettime(CLOCK_REALTIME, &ts);
	t = luaL_optnumber(L, 1, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
	/* Years 0000..9999 only. */
	if (!isfinite(t) || t < -62167219200.0 || t >= 253402300800.0)
		return luaL_argerror(L, 1, "time out of range (years 0000 to 9999)");
	secs = (long long)floor(t);
	ms = llround((t - (double)secs) * 1000.0);
	if (ms >= 1000) {
		secs++;
		ms -= 1000;
	}
	tt = (time_t)secs;
	if (!gmtime_r(&tt, &tm))
		return luaL_argerror(L, 1, "time out of range");
	if (ms)
		snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)ms);
	else
		snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	lua_pushstring(L, buf);
	return 1;
}

/* N decimal digits at *P into *OUT; advances *P.  0 or -1. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Parse an RFC 3339 / ISO 8601 time into seconds since the epoch. */
static int parse_time(const char *s, double *out, int *fractional)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	double frac = 0;

	*fractional = 0;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec))
				return -1;
			if (*p == '.' || *p == ',') {
				double scale = 0.1;

				p++;
				if (*p < '0' || *p > '9')
					return -1;
				while (*p >= '0' && *p <= '9') {
					frac += (*p - '0') * scale;
					scale /= 10;
					p++;
				}
				*fractional = frac != 0;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p++ == '-' ? -1 : 1;
			if (digits(&p, 2, &oh))
				return -1;
			if (*p == ':')
				p++;
			if (*p >= '0' && *p <= '9' && digits(&p, 2, &om))
				return -1;
			if (oh > 23 || om > 59)
				return -1;
		}
	}
	if (*p != '\0')
		return -1;
	*out = (double)(days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL + h * 3600LL +
			mi * 60LL + sec - sign * (oh * 3600LL + om * 60LL)) +
	       frac;
	return 0;
}

static int l_time_parse(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	double t;
	int fractional;

	if (parse_time(s, &t, &fractional) < 0) {
		char shown[80];

		luaapi_clean_line(s, strlen(s), shown, sizeof(shown));
		lua_pushnil(L);
		lua_pushfstring(L, "time: '%s' is not an RFC 3339 time", shown);
		return 2;
	}
	if (fractional)
		lua_pushnumber(L, t);
	else
		lua_pushinteger(L, (lua_Integer)t);
	return 1;
}

void luaapi_open(lua_State *L)
{
	static const luaL_Reg json_fns[] = {
		{ "encode", l_json_encode },
		{ "decode", l_json_decode },
		{ NULL, NULL },
	};
	static const luaL_Reg time_fns[] = {
		{ "now", l_time_now },
		{ "iso", l_time_iso },
		{ "parse", l_time_parse },
		{ NULL, NULL },
	};

	luaL_newlib(L, json_fns);
	luaapi_push_null(L);
	lua_setfield(L, -2, "null");
	lua_setglobal(L, "json");
	luaL_newlib(L, time_fns);
	lua_setglobal(L, "time");
}
