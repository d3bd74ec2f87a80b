/* JSON (jansson) to Lua values and back; see luajson.h. */
#include "luajson.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

void luajson_push_null(lua_State *L)
{
	if (lua_getglobal(L, "json") == LUA_TTABLE) {
		lua_getfield(L, -1, "null");
		lua_remove(L, -2);
		if (!lua_isnil(L, -1))
			return;
	}
	lua_pop(L, 1);
	lua_pushlightuserdata(L, NULL);
}

int luajson_depth_ok(const json_t *v, int max)
{
	if (max < 1)
		return 0;
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			if (!luajson_depth_ok(json_array_get(v, i), max - 1))
				return 0;
	} else if (json_is_object(v)) {
		const char *key;
		json_t *m;
		json_object_foreach((json_t *)v, key, m)
			if (!luajson_depth_ok(m, max - 1))
				return 0;
	}
	return 1;
}

void luajson_push(lua_State *L, const json_t *v, int null_idx)
{
	luaL_checkstack(L, 4, "JSON nesting");
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		size_t klen;
		json_t *m;
		lua_createtable(L, 0, (int)(json_object_size(v) < 1u << 20 ? json_object_size(v) : 0));
		json_object_keylen_foreach((json_t *)v, key, klen, m) {
			lua_pushlstring(L, key, klen);
			luajson_push(L, m, null_idx);
			lua_rawset(L, -3);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v);
		lua_createtable(L, n < 1u << 20 ? (int)n : 0, 0);
		for (size_t i = 0; i < n; i++) {
			luajson_push(L, json_array_get(v, i), null_idx);
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
	case JSON_NULL:
	default:
		lua_pushvalue(L, null_idx);
		break;
	}
}

/* --- Lua -> JSON ----------------------------------------------------------------- */

struct build {
	lua_State *L;
	int null_idx;
	char path[160];
	char *err;
	size_t errlen;
};

static int is_null(struct build *b, int idx)
{
	if (lua_isnil(b->L, idx) || lua_rawequal(b->L, idx, b->null_idx))
		return 1;
	return lua_type(b->L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(b->L, idx) == NULL;
}

static json_t *fail(struct build *b, const char *what)
{
	snprintf(b->err, b->errlen, "cannot encode %s at %s", what, b->path[0] ? b->path : "the top");
	return NULL;
}

/* Append ".key" or "[i]" to the path; returns the old length to restore. */
static size_t path_key(struct build *b, const char *key)
{
	size_t old = strlen(b->path);
	snprintf(b->path + old, sizeof(b->path) - old, ".%s", key);
	return old;
}

static size_t path_index(struct build *b, lua_Integer i)
{
	size_t old = strlen(b->path);
	snprintf(b->path + old, sizeof(b->path) - old, "[%lld]", (long long)i);
	return old;
}

static json_t *build(struct build *b, int idx, int depth);

static json_t *build_table(struct build *b, int idx, int depth)
{
	lua_State *L = b->L;
	lua_Integer n = 0, max = 0;
	int array = 1;
	json_t *out = NULL;
	if (depth > LUAJSON_MAX_DEPTH)
		return fail(b, "a table nested too deep (or a cycle)");
	if (!lua_checkstack(L, 4))
		return fail(b, "a table (Lua stack full)");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (array && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
			lua_Integer k = lua_tointeger(L, -1);
			n++;
			if (k > max)
				max = k;
		} else {
			array = 0;
		}
	}
	if (array && n > 0 && n == max) {
		out = json_array();
		if (!out)
			return fail(b, "an array (out of memory)");
		for (lua_Integer i = 1; i <= n; i++) {
			size_t old = path_index(b, i);
			lua_rawgeti(L, idx, i);
			json_t *e = build(b, lua_gettop(L), depth + 1);
			lua_pop(L, 1);
			if (!e || json_array_append_new(out, e) < 0)
				goto bad;
			b->path[old] = '\0';
		}
		return out;
	}
	out = json_object();
	if (!out)
		return fail(b, "an object (out of memory)");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		size_t klen;
		char num[32];
		const char *key;
		if (lua_type(L, -2) == LUA_TSTRING) {
			key = lua_tolstring(L, -2, &klen);
		} else if (lua_isinteger(L, -2)) {
			klen = (size_t)snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, -2));
			key = num;
		} else {
			lua_pop(L, 2);
			fail(b, "a table with keys that are neither strings nor integers");
			goto bad;
		}
		size_t old = path_key(b, key);
		json_t *m = build(b, lua_gettop(L), depth + 1);
		lua_pop(L, 1);
		if (!m) {
			lua_pop(L, 1);
			goto bad;
		}
		if (json_object_setn_new(out, key, klen, m) < 0) {
			lua_pop(L, 1);
			fail(b, "a key that is not valid UTF-8");
			goto bad;
		}
		b->path[old] = '\0';
	}
	return out;
bad:
	json_decref(out);
	return NULL;
}

static json_t *build(struct build *b, int idx, int depth)
{
	lua_State *L = b->L;
	json_t *v = NULL;
	if (is_null(b, idx))
		v = json_null();
	else
		switch (lua_type(L, idx)) {
		case LUA_TBOOLEAN:
			v = json_boolean(lua_toboolean(L, idx));
			break;
		case LUA_TNUMBER:
			if (lua_isinteger(L, idx)) {
				v = json_integer((json_int_t)lua_tointeger(L, idx));
			} else {
				double d = lua_tonumber(L, idx);
				if (!isfinite(d))
					return fail(b, "a number that is not finite");
				v = json_real(d);
			}
			break;
		case LUA_TSTRING: {
			size_t len;
			const char *s = lua_tolstring(L, idx, &len);
			v = json_stringn(s, len);
			if (!v)
				return fail(b, "a string that is not valid UTF-8");
			break;
		}
		case LUA_TTABLE:
			return build_table(b, idx, depth);
		default: {
			char what[64];
			snprintf(what, sizeof(what), "a %s", lua_typename(L, lua_type(L, idx)));
			return fail(b, what);
		}
		}
	if (!v)
		return fail(b, "a value (out of memory)");
	return v;
}

json_t *luajson_build(lua_State *L, int idx, int null_idx, char *err, size_t errlen)
{
	struct build b = { .L = L, .null_idx = null_idx, .err = err, .errlen = errlen };
	return build(&b, idx, 1);
}
