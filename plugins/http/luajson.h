/*
 * plugins/http/luajson.h - JSON (jansson) to Lua values and back, for the
 * http binding's get_json/post_json.
 *
 * Mapping, JSON -> Lua:
 *   object -> table with string keys
 *   array  -> sequence, 1-based
 *   null   -> the null sentinel (in objects and arrays alike, so members
 *             stay present and positions do not move; as the runtime's
 *             json.decode does)
 *   string -> string (may hold NUL bytes); true/false -> boolean;
 *   integer -> Lua integer; real -> float
 * The null sentinel is `json.null` when the state has a global table `json`
 * with a non-nil field `null` (the collector runtime sets one), otherwise a
 * light userdata NULL.
 *
 * Lua -> JSON:
 *   nil, the null sentinel (either kind) -> null
 *   a table whose keys are exactly 1..n (n >= 1) -> array
 *   any other table -> object; its keys must be strings or integers (these
 *             become their decimal text); an empty table is {}
 *   boolean, integer, float (finite), string (valid UTF-8)
 *   anything else (functions, NaN, ...) is an error.
 *
 * Nesting is bounded both ways (LUAJSON_MAX_DEPTH).
 */
#ifndef HTTP_LUAJSON_H
#define HTTP_LUAJSON_H

#include <jansson.h>
#include <lua.h>
#include <stddef.h>

#define LUAJSON_MAX_DEPTH 200

/* Push the null sentinel described above. */
void luajson_push_null(lua_State *L);

/* Whether V nests no deeper than MAX levels (a scalar is level 1). */
int luajson_depth_ok(const json_t *v, int max);

/*
 * Push the Lua value of V (borrowed).  NULL_IDX is the absolute stack index
 * of the null sentinel.  V must have passed luajson_depth_ok() with
 * LUAJSON_MAX_DEPTH.  Raises only a Lua memory error.
 */
void luajson_push(lua_State *L, const json_t *v, int null_idx);

/*
 * The JSON value of the Lua value at index IDX (absolute), a new reference
 * the caller owns; NULL_IDX as above.  Never raises: NULL with ERR ("cannot
 * encode a function at .items[3]") on a value that has no JSON form, too deep
 * a nesting, or out of memory.
 */
json_t *luajson_build(lua_State *L, int idx, int null_idx, char *err, size_t errlen);

#endif
