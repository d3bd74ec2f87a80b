#ifndef TERRARIUM_LUAAPI_H
#define TERRARIUM_LUAAPI_H
/*
 * The general-purpose globals of the collector API (docs/plugin-guide.md):
 * `json` and `time`, and the conversions between Lua values and JSON that
 * the rest of the API (hub/collector.c) uses.
 *
 *   json.encode(v) -> string          compact, keys sorted; raises on values
 *                                     JSON cannot hold
 *   json.decode(s) -> value | nil, err
 *   json.null                         the value JSON null decodes to
 *   time.now() -> float seconds since the epoch
 *   time.iso([t]) -> "2024-05-14T03:00:00Z" (".123" when t has a fraction)
 *   time.parse(s) -> seconds | nil, err    RFC 3339 / ISO 8601: a date, or a
 *                                     date and time with optional fraction and
 *                                     zone (no zone means UTC)
 *
 * Lua to JSON: a table whose keys are exactly 1..n (n >= 1) is an array; any
 * other table is an object (integer keys become their decimal text; keys of
 * other types are refused); an empty table is an empty object.  Strings must
 * be UTF-8; numbers must be finite; nesting is limited to LUAAPI_DEPTH_MAX
 * (which also catches cycles).  JSON to Lua: objects and arrays are tables,
 * null is json.null (a light userdata), integers are integers.
 */
#include <jansson.h>
#include <lua.h>
#include <stddef.h>

#define LUAAPI_DEPTH_MAX 64

/*
 * The Lua value at IDX as JSON (a new reference), or NULL with ERR such as
 * "properties.rows: cannot encode a function".  PATH names the value in
 * messages ("" for none).  *BYTES (may be NULL) gets a rough size of the
 * value (string bytes plus a constant per value).  Raises no Lua error and
 * allocates nothing in L, so callers may hold C resources across it.
 */
json_t *luaapi_to_json(lua_State *L, int idx, const char *path, size_t *bytes, char *err,
		       size_t errlen);

/* Push V (borrowed) as a Lua value.  May raise a Lua memory error. */
void luaapi_push_json(lua_State *L, const json_t *v);

/* Push json.null. */
void luaapi_push_null(lua_State *L);

/* Set the globals `json` and `time` in L.  May raise a Lua memory error. */
void luaapi_open(lua_State *L);

/*
 * Copy S (LEN bytes) into OUT as one printable UTF-8 line: invalid bytes
 * become '?', control characters are written as \n, \t, \r or \xNN, and the
 * text is cut (with "...") to fit OUTLEN.  Returns the length written.
 */
size_t luaapi_clean_line(const char *s, size_t len, char *out, size_t outlen);

#endif
