/*
 * A sandboxed Lua 5.4 state: capped memory, capped time, a short list of
 * libraries.  See sandbox.h.
 *
 * Memory.  sb_alloc() counts every byte the state holds and refuses growth
 * past mem_max.  Lua answers a refusal with an emergency collection and asks
 * again for the same block; only when that second request is refused too (or
 * no retry comes) has the script really run out of memory, and the sandbox is
 * then stopped.  A refusal that the collection cures is not a stop.
 *
 * Time.  sb_hook() runs every HOOK_EVERY VM instructions of every thread (a
 * coroutine inherits its creator's hook), adds them to the run's count and
 * looks at the monotonic clock.  Once a limit is hit the sandbox is stopped:
 * the hook is set to fire on every instruction and raises each time, so a
 * pcall in the script catches the error only to be stopped again at its next
 * instruction.  A stopped sandbox stays stopped; it must be destroyed.
 *
 * Finalizers.  Lua calls __gc metamethods with hooks switched off, so a
 * finalizer would run beyond the limits: setmetatable() refuses a metatable
 * with a __gc field (see sb_setmetatable()).
 */
#include "hub/sandbox.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOOK_EVERY 1000
#define DEFAULT_MEM_MAX ((size_t)64 * 1024 * 1024)
#define DEFAULT_INSTR_MAX 1000000000L
#define DEFAULT_WALL_MS 30000L

enum sb_stop {
	SB_RUNNING = 0,
	SB_STOP_INSTR,
	SB_STOP_MEM,
	SB_STOP_WALL,
	SB_STOP_CLOSING,
};

struct sandbox {
	lua_State *L;
	struct sandbox_limits lim;
	size_t used;
	size_t peak;
	/* a refused allocation that Lua may still retry after its emergency GC */
	int pending;
	void *pending_ptr;
	size_t pending_osize;
	size_t pending_nsize;
	enum sb_stop stopped;
	long instr;              /* instructions counted in this run */
	struct timespec deadline;
};

static void sb_stop(struct sandbox *sb, enum sb_stop why)
{
	if (sb->stopped == SB_RUNNING)
		sb->stopped = why;
}

/*
 * The allocator.  Frees and shrinks always succeed.  For a NULL block, OSIZE
 * is a type tag, not a size.
 */
static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct sandbox *sb = ud;
	size_t old = ptr ? osize : 0;
	void *np;

	if (nsize == 0) {
		free(ptr);
		sb->used -= old;
		return NULL;
	}
	if (nsize > old) {
		int retry = sb->pending && sb->pending_ptr == ptr && sb->pending_osize == osize &&
			    sb->pending_nsize == nsize;
		/* A growth that is not the retry of the refused one: that refusal
		 * was final, and Lua raised a memory error. */
		if (sb->pending && !retry)
			sb_stop(sb, SB_STOP_MEM);
		sb->pending = 0;
		if (nsize - old > sb->lim.mem_max || sb->used + (nsize - old) > sb->lim.mem_max) {
			if (retry) {
				sb_stop(sb, SB_STOP_MEM);
			} else {
				sb->pending = 1;
				sb->pending_ptr = ptr;
				sb->pending_osize = osize;
				sb->pending_nsize = nsize;
			}
			return NULL;
		}
	}
	np = realloc(ptr, nsize);
	if (np == NULL) {
		if (nsize > old)
			sb_stop(sb, SB_STOP_MEM);
		return NULL;
	}
	sb->used = sb->used - old + nsize;
	if (sb->used > sb->peak)
		sb->peak = sb->used;
	return np;
}

static struct sandbox *sb_of(lua_State *L)
{
	void *ud = NULL;

	lua_getallocf(L, &ud);
	return ud;
}

static int sb_past(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void sb_reason(const struct sandbox *sb, char *buf, size_t len)
{
	switch (sb->stopped) {
	case SB_STOP_INSTR:
		snprintf(buf, len, "stopped: instruction limit of %ld exceeded", sb->lim.instr_max);
		break;
	case SB_STOP_MEM:
		snprintf(buf, len, "stopped: out of memory (limit %zu bytes)", sb->lim.mem_max);
		break;
	case SB_STOP_WALL:
		snprintf(buf, len, "stopped: wall-clock limit of %ld ms exceeded", sb->lim.wall_ms);
		break;
	case SB_STOP_CLOSING:
		snprintf(buf, len, "stopped: sandbox closing");
		break;
	default:
		snprintf(buf, len, "not stopped");
		break;
	}
}

static int sb_hook_every(const struct sandbox *sb)
{
	return sb->lim.instr_max < HOOK_EVERY ? (int)sb->lim.instr_max : HOOK_EVERY;
}

static void sb_hook(lua_State *L, lua_Debug *ar)
{
	struct sandbox *sb = sb_of(L);
	char msg[128];

	(void)ar;
	if (sb->stopped == SB_RUNNING) {
		sb->instr += lua_gethookcount(L);
		if (sb->pending)
			sb_stop(sb, SB_STOP_MEM);
		else if (sb->instr >= sb->lim.instr_max)
			sb_stop(sb, SB_STOP_INSTR);
		else if (sb_past(&sb->deadline))
			sb_stop(sb, SB_STOP_WALL);
	}
	if (sb->stopped == SB_RUNNING)
		return;
	/* From now on this thread raises at every instruction. */
	lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
	sb_reason(sb, msg, sizeof(msg));
	luaL_error(L, "%s", msg);
}

/* load() for text chunks only: the mode argument is always "t". */
static int sb_load(lua_State *L)
{
	int n = lua_gettop(L);

	if (n > 4) {
		n = 4;
		lua_settop(L, n);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	if (n >= 2)
		lua_pushvalue(L, 2);
	else
		lua_pushnil(L);
	lua_pushliteral(L, "t");
	if (n >= 4)
		lua_pushvalue(L, 4);
	lua_call(L, n >= 4 ? 4 : 3, LUA_MULTRET);
	return lua_gettop(L) - n;
}

/*
 * setmetatable() refusing a metatable with a __gc field.  Lua runs finalizers
 * with hooks switched off, so a finalizer could loop forever out of reach of
 * the limits.  An object is marked for finalization only if its metatable has
 * __gc when it is set, so checking here is enough.
 */
static int sb_setmetatable(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: __gc metamethods are not allowed");
		lua_pop(L, 1);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* collectgarbage() with the options that cannot change how the host's
 * collector runs. */
static int sb_collectgarbage(lua_State *L)
{
	static const char *const allowed[] = {"collect", "count", "step", "isrunning", NULL};
	const char *opt = luaL_optstring(L, 1, "collect");
	int i;

	for (i = 0; allowed[i]; i++)
		if (strcmp(opt, allowed[i]) == 0)
			break;
	if (allowed[i] == NULL)
		return luaL_error(L, "collectgarbage: option '%s' is not allowed", opt);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* Open the allowed libraries; runs protected. */
static int sb_open(lua_State *L)
{
	static const char *const os_keep[] = {"time", "clock", "date", "difftime", NULL};
	int i;

	luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
	lua_pop(L, 1);
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
	lua_pop(L, 1);
	luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
	lua_pop(L, 1);
	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
	lua_pop(L, 1);
	luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
	lua_pop(L, 1);
	luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 1);
	lua_pop(L, 1);

	lua_pushglobaltable(L);
	lua_pushnil(L);
	lua_setfield(L, -2, "dofile");
	lua_pushnil(L);
	lua_setfield(L, -2, "loadfile");
	lua_pushnil(L);
	lua_setfield(L, -2, "require");

	lua_getfield(L, -1, "load");
	lua_pushcclosure(L, sb_load, 1);
	lua_setfield(L, -2, "load");

	lua_getfield(L, -1, "setmetatable");
	lua_pushcclosure(L, sb_setmetatable, 1);
	lua_setfield(L, -2, "setmetatable");

	lua_getfield(L, -1, "collectgarbage");
	lua_pushcclosure(L, sb_collectgarbage, 1);
	lua_setfield(L, -2, "collectgarbage");

	/* string.dump: the string metatable's __index is this same table. */
	lua_getfield(L, -1, LUA_STRLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	lua_pop(L, 1);

	/* os: the clock functions only, copied from a full os table that is
	 * then dropped (it is not registered anywhere). */
	lua_pushcfunction(L, luaopen_os);
	lua_call(L, 0, 1);
	lua_createtable(L, 0, 4);
	for (i = 0; os_keep[i]; i++) {
		lua_getfield(L, -2, os_keep[i]);
		lua_setfield(L, -2, os_keep[i]);
	}
	lua_setfield(L, -3, LUA_OSLIBNAME);
	lua_pop(L, 2);
	return 0;
}

static void sb_arm(struct sandbox *sb)
{
	long ms = sb->lim.wall_ms;

	sb->instr = 0;
	clock_gettime(CLOCK_MONOTONIC, &sb->deadline);
	sb->deadline.tv_sec += ms / 1000;
	sb->deadline.tv_nsec += (ms % 1000) * 1000000L;
	if (sb->deadline.tv_nsec >= 1000000000L) {
		sb->deadline.tv_sec++;
		sb->deadline.tv_nsec -= 1000000000L;
	}
	lua_sethook(sb->L, sb_hook, LUA_MASKCOUNT, sb_hook_every(sb));
}

/* The error object at index 1 as a string, run protected: converting a
 * number allocates, and a __tostring metamethod is Lua code.  As lua.c does,
 * an object without __tostring is described by its type. */
static int sb_tostring(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TNUMBER || luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL)
		luaL_tolstring(L, 1, NULL);
	else
		lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	return 1;
}

/* Describe the error object at the top of the stack into ERR. */
static void sb_errmsg(struct sandbox *sb, char *err, size_t errlen)
{
	lua_State *L = sb->L;
	int t = lua_type(L, -1);

	if (t == LUA_TSTRING) {
		snprintf(err, errlen, "%s", lua_tostring(L, -1));
		return;
	}
	snprintf(err, errlen, "(error object is a %s value)", lua_typename(L, t));
	if (!lua_checkstack(L, 2))
		return;
	lua_pushcfunction(L, sb_tostring);
	lua_pushvalue(L, -2);
	if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
		snprintf(err, errlen, "%s", lua_tostring(L, -1));
	lua_pop(L, 1);
}

struct sandbox *sandbox_create(const struct sandbox_limits *lim, char *err, size_t errlen)
{
	struct sandbox *sb = NULL;
	struct sandbox *ret = NULL;

	sb = calloc(1, sizeof(*sb));
	if (sb == NULL) {
		snprintf(err, errlen, "cannot create sandbox: out of memory");
		goto out;
	}
	if (lim)
		sb->lim = *lim;
	if (sb->lim.mem_max == 0)
		sb->lim.mem_max = DEFAULT_MEM_MAX;
	if (sb->lim.instr_max <= 0)
		sb->lim.instr_max = DEFAULT_INSTR_MAX;
	if (sb->lim.wall_ms <= 0)
		sb->lim.wall_ms = DEFAULT_WALL_MS;
	sb->L = lua_newstate(sb_alloc, sb);
	if (sb->L == NULL) {
		snprintf(err, errlen, "cannot create sandbox: out of memory (limit %zu bytes)",
			 sb->lim.mem_max);
		goto out;
	}
	lua_setwarnf(sb->L, NULL, NULL);
	sb_arm(sb);
	lua_pushcfunction(sb->L, sb_open);
	if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK || sb->stopped || sb->pending) {
		snprintf(err, errlen, "cannot create sandbox: out of memory (limit %zu bytes)",
			 sb->lim.mem_max);
		goto out;
	}
	ret = sb;
	sb = NULL;
out:
	sandbox_destroy(sb);
	return ret;
}

void sandbox_destroy(struct sandbox *sb)
{
	if (sb == NULL)
		return;
	if (sb->L) {
		/* Finalizers run by lua_close() must not run script code. */
		sb_stop(sb, SB_STOP_CLOSING);
		lua_sethook(sb->L, sb_hook, LUA_MASKCOUNT, 1);
		lua_close(sb->L);
	}
	free(sb);
}

lua_State *sandbox_state(struct sandbox *sb)
{
	return sb->L;
}

int sandbox_call(struct sandbox *sb, int nargs, int nresults, char *err, size_t errlen)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs - 1;
	int rc = -1;

	if (base < 0) {
		snprintf(err, errlen, "sandbox_call: no function on the stack");
		goto out;
	}
	if (sb->stopped) {
		char why[128];

		sb_reason(sb, why, sizeof(why));
		snprintf(err, errlen, "sandbox stopped (%s)", why);
		lua_settop(L, base);
		goto out;
	}
	sb_arm(sb);
	if (lua_pcall(L, nargs, nresults, 0) != LUA_OK) {
		if (sb->pending)
			sb_stop(sb, SB_STOP_MEM);
		if (sb->stopped)
			sb_reason(sb, err, errlen);
		else
			sb_errmsg(sb, err, errlen);
		lua_settop(L, base);
		goto out;
	}
	if (sb->pending)
		sb_stop(sb, SB_STOP_MEM);
	if (sb->stopped) {
		/* The script swallowed the stop; it failed all the same. */
		sb_reason(sb, err, errlen);
		lua_settop(L, base);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int sandbox_run(struct sandbox *sb, const char *code, size_t len, const char *chunkname,
		int nresults, char *err, size_t errlen)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L);
	int rc = -1;

	if (sb->stopped) {
		char why[128];

		sb_reason(sb, why, sizeof(why));
		snprintf(err, errlen, "sandbox stopped (%s)", why);
		goto out;
	}
	sb_arm(sb);
	if (!lua_checkstack(L, 2)) {
		snprintf(err, errlen, "stopped: out of memory (limit %zu bytes)", sb->lim.mem_max);
		goto out;
	}
	if (luaL_loadbufferx(L, code, len, chunkname, "t") != LUA_OK) {
		if (sb->pending)
			sb_stop(sb, SB_STOP_MEM);
		if (sb->stopped)
			sb_reason(sb, err, errlen);
		else
			sb_errmsg(sb, err, errlen);
		lua_settop(L, base);
		goto out;
	}
	rc = sandbox_call(sb, 0, nresults, err, errlen);
out:
	return rc;
}

size_t sandbox_mem_used(const struct sandbox *sb)
{
	return sb->used;
}

size_t sandbox_mem_peak(const struct sandbox *sb)
{
	return sb->peak;
}

int sandbox_stopped(const struct sandbox *sb)
{
	return sb->stopped != SB_RUNNING;
}
