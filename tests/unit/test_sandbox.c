/* Unit tests for hub/sandbox.c: what a script may not reach, and the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub/sandbox.h"

#define MiB ((size_t)1024 * 1024)

static struct sandbox *make(size_t mem, long instr, long wall)
{
	struct sandbox_limits lim = {.mem_max = mem, .instr_max = instr, .wall_ms = wall};
	char err[256] = "";
	struct sandbox *sb = sandbox_create(&lim, err, sizeof(err));

	if (sb == NULL)
		fail_msg("sandbox_create: %s", err);
	return sb;
}

/* Run CODE; return its rc, the error in ERR, and pop the one result. */
static int run(struct sandbox *sb, const char *code, char *err, size_t errlen)
{
	int rc;

	err[0] = '\0';
	rc = sandbox_run(sb, code, strlen(code), "=test", 1, err, errlen);
	if (rc == 0)
		lua_pop(sandbox_state(sb), 1);
	return rc;
}

/* Run CODE, which must succeed and return a string; compare it to WANT. */
static void expect_str(struct sandbox *sb, const char *code, const char *want)
{
	char err[512];
	lua_State *L = sandbox_state(sb);
	int top = lua_gettop(L);

	if (sandbox_run(sb, code, strlen(code), "=test", 1, err, sizeof(err)) != 0)
		fail_msg("%s: unexpected error: %s", code, err);
	assert_int_equal(lua_gettop(L), top + 1);
	if (lua_type(L, -1) != LUA_TSTRING)
		fail_msg("%s: returned a %s", code, luaL_typename(L, -1));
	assert_string_equal(lua_tostring(L, -1), want);
	lua_pop(L, 1);
}

/* Run CODE, which must fail with an error containing WANT. */
static void expect_err(struct sandbox *sb, const char *code, const char *want)
{
	char err[512];

	if (run(sb, code, err, sizeof(err)) == 0)
		fail_msg("%s: ran without error", code);
	if (strstr(err, want) == NULL)
		fail_msg("%s: error '%s' lacks '%s'", code, err, want);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_runs_code(void **state)
{
	struct sandbox *sb = make(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char err[256];

	(void)state;
	expect_str(sb, "return string.upper('ok') .. tostring(math.floor(2.5)) .. "
		       "table.concat({1, 2}, ',') .. utf8.char(72)",
		   "OK21,2H");
	expect_str(sb, "local co = coroutine.wrap(function() coroutine.yield('y') end) return co()",
		   "y");
	/* Globals persist between runs. */
	expect_str(sb, "counter = 41 return 'set'", "set");
	expect_str(sb, "return tostring(counter + 1)", "42");
	/* sandbox_call with arguments. */
	lua_getglobal(L, "string");
	lua_getfield(L, -1, "rep");
	lua_remove(L, -2);
	lua_pushstring(L, "ab");
	lua_pushinteger(L, 3);
	assert_int_equal(sandbox_call(sb, 2, 1, err, sizeof(err)), 0);
	assert_string_equal(lua_tostring(L, -1), "ababab");
	lua_pop(L, 1);
	assert_int_equal(lua_gettop(L), 0);
	assert_false(sandbox_stopped(sb));
	sandbox_destroy(sb);
	sandbox_destroy(NULL);
}

static void test_error_messages(void **state)
{
	struct sandbox *sb = make(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char err[256];
	const char *code = "local x = 1\nerror('boom')\n";

	(void)state;
	assert_int_equal(sandbox_run(sb, code, strlen(code), "@conf.lua", 0, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "conf.lua:2: boom");
	assert_int_equal(lua_gettop(L), 0);
	code = "local t = nil\nreturn t.x";
	assert_int_equal(sandbox_run(sb, code, strlen(code), "@conf.lua", 0, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "conf.lua:2: attempt to index a nil value"));
	expect_err(sb, "return 1 +", "test:1: unexpected symbol near <eof>");
	expect_err(sb, "error(setmetatable({}, {__tostring = function() return 'custom' end}))",
		   "custom");
	expect_err(sb, "error({})", "(error object is a table value)");
	expect_err(sb, "error(42)", "42");
	/* An error is not a stop: the sandbox goes on. */
	assert_false(sandbox_stopped(sb));
	expect_str(sb, "return 'still here'", "still here");
	assert_int_equal(lua_gettop(L), 0);
	sandbox_destroy(sb);
}

static void test_forbidden_globals(void **state)
{
	struct sandbox *sb = make(0, 0, 0);
	static const char *const absent[] = {
		"io", "debug", "package", "require", "dofile", "loadfile", "string.dump",
		"os.execute", "os.getenv", "os.remove", "os.rename", "os.exit", "os.tmpname",
		"os.setlocale", "getmetatable('').__index.dump",
	};
	size_t i;
	char code[256];

	(void)state;
	for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		snprintf(code, sizeof(code), "return tostring(%s == nil)", absent[i]);
		expect_str(sb, code, "true");
	}
	expect_err(sb, "return io.open('/etc/passwd')", "attempt to index a nil value (global 'io')");
	expect_err(sb, "return os.execute('true')", "attempt to call a nil value (field 'execute')");
	expect_err(sb, "return os.getenv('HOME')", "attempt to call a nil value (field 'getenv')");
	expect_err(sb, "return loadfile('/etc/passwd')", "attempt to call a nil value");
	expect_err(sb, "return dofile('/etc/passwd')", "attempt to call a nil value");
	expect_err(sb, "return require('io')", "attempt to call a nil value");
	expect_err(sb, "return debug.getinfo(1)", "attempt to index a nil value (global 'debug')");
	expect_err(sb, "return package.loadlib('libc.so.6', 'system')",
		   "attempt to index a nil value (global 'package')");
	expect_err(sb, "return string.dump(function() end)", "attempt to call a nil value");
	expect_err(sb, "return ('x'):dump()", "attempt to call a nil value (method 'dump')");
	/* What is left of os works. */
	expect_str(sb, "return math.type(os.time()) .. type(os.clock()) .. os.date('!%Y', 0) .. "
		       "tostring(os.difftime(5, 3))",
		   "integernumber19702.0");
	sandbox_destroy(sb);
}

/* Bytecode made by an ordinary Lua state, outside any sandbox. */
struct dumpbuf {
	char data[4096];
	size_t len;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
	struct dumpbuf *b = ud;

	(void)L;
	if (sz > sizeof(b->data) - b->len)
		return 1;
	memcpy(b->data + b->len, p, sz);
	b->len += sz;
	return 0;
}

static void test_bytecode_refused(void **state)
{
	struct sandbox *sb = make(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	lua_State *host = luaL_newstate();
	struct dumpbuf b = {.len = 0};
	const char *bc;
	size_t bclen;
	char err[256];

	(void)state;
	assert_non_null(host);
	assert_int_equal(luaL_loadstring(host, "return 'from bytecode'"), LUA_OK);
	assert_int_equal(lua_dump(host, dump_writer, &b, 0), 0);
	bc = b.data;
	bclen = b.len;
	assert_true(bclen > 4);
	assert_memory_equal(bc, "\033Lua", 4);
	/* The bytecode is good: an ordinary state runs it. */
	assert_int_equal(luaL_loadbufferx(host, bc, bclen, "=bc", "b"), LUA_OK);
	assert_int_equal(lua_pcall(host, 0, 1, 0), LUA_OK);
	assert_string_equal(lua_tostring(host, -1), "from bytecode");

	/* Bytecode given to sandbox_run directly. */
	assert_int_equal(sandbox_run(sb, bc, bclen, "=bc", 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "attempt to load a binary chunk"));

	/* Bytecode given to load() in every mode. */
	lua_pushlstring(L, bc, bclen);
	lua_setglobal(L, "bc");
	expect_str(sb, "local f, e = load(bc) return tostring(f) .. ' ' .. e",
		   "nil attempt to load a binary chunk (mode is 't')");
	expect_str(sb, "local f, e = load(bc, 'x', 'b') return tostring(f) .. ' ' .. e",
		   "nil attempt to load a binary chunk (mode is 't')");
	expect_str(sb, "local f, e = load(bc, 'x', 'bt', {}) return tostring(f) .. ' ' .. e",
		   "nil attempt to load a binary chunk (mode is 't')");
	expect_str(sb, "local f = load(function() local s = bc; bc = nil; return s end) "
		       "return tostring(f)",
		   "nil");
	expect_str(sb, "local f = load('\\27Lua garbage') return tostring(f)", "nil");
	/* Text still loads, in the sandbox's globals by default or in ENV. */
	expect_str(sb, "x = 'glob' return load('return x')()", "glob");
	expect_str(sb, "return load('return x', 'c', 't', {x = 'env'})()", "env");
	lua_close(host);
	sandbox_destroy(sb);
}

static void test_collectgarbage_restricted(void **state)
{
	struct sandbox *sb = make(4 * MiB, 0, 0);
	char err[256];

	(void)state;
	expect_str(sb, "return math.type(collectgarbage('count'))", "float");
	expect_str(sb, "collectgarbage() collectgarbage('collect') collectgarbage('step') "
		       "return tostring(collectgarbage('isrunning'))",
		   "true");
	expect_err(sb, "collectgarbage('stop')", "option 'stop' is not allowed");
	expect_err(sb, "collectgarbage('generational')", "option 'generational' is not allowed");
	expect_err(sb, "collectgarbage('setpause', 1000)", "option 'setpause' is not allowed");
	/* Whatever the script tries, a bomb is still stopped by the cap. */
	assert_int_equal(run(sb, "pcall(collectgarbage, 'stop') pcall(collectgarbage, 'incremental', "
				 "1000, 1) local t = {} for i = 1, 1e8 do t[i] = {} end",
			     err, sizeof(err)),
			 -1);
	assert_string_equal(err, "stopped: out of memory (limit 4194304 bytes)");
	assert_true(sandbox_mem_peak(sb) <= 4 * MiB);
	sandbox_destroy(sb);
}

static void test_memory_bombs(void **state)
{
	static const char *const bombs[] = {
		"local t = {} for i = 1, 1e9 do t[i] = i end",
		"local s = 'x' while true do s = s .. s end",
		"local s = string.rep('x', 1024) local t = {} while true do t[#t + 1] = s .. #t end",
		"return string.rep('x', 1 << 30)",
		/* The script catches the memory error and returns normally. */
		"local ok = pcall(function() local s = 'x' while true do s = s .. s end end) "
		"return 'survived'",
		"local t = {} local ok, e = pcall(function() for i = 1, 1e9 do t[i] = i end end) "
		"t = nil collectgarbage() return 'survived'",
	};
	size_t i;
	char err[256];

	(void)state;
	for (i = 0; i < sizeof(bombs) / sizeof(bombs[0]); i++) {
		struct sandbox *sb = make(8 * MiB, 0, 0);

		if (run(sb, bombs[i], err, sizeof(err)) == 0)
			fail_msg("bomb %zu ran to its end", i);
		if (strcmp(err, "stopped: out of memory (limit 8388608 bytes)") != 0)
			fail_msg("bomb %zu: %s", i, err);
		assert_true(sandbox_stopped(sb));
		assert_true(sandbox_mem_peak(sb) <= 8 * MiB);
		assert_true(sandbox_mem_used(sb) <= 8 * MiB);
		sandbox_destroy(sb);
	}
}

static void test_memory_near_limit_not_stopped(void **state)
{
	/* The live set is small but garbage piles up past the cap: Lua's
	 * emergency collection frees it and the script goes on. */
	struct sandbox *sb = make(2 * MiB, 0, 0);
	char err[256];

	(void)state;
	if (run(sb, "local keep = string.rep('k', 800000) local n = 0 "
		    "for i = 1, 2000 do local g = string.rep('g', 150000) .. i n = n + #g end "
		    "return n",
		err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_false(sandbox_stopped(sb));
	/* It did run up to the cap. */
	assert_true(sandbox_mem_peak(sb) >= 3 * MiB / 2);
	assert_true(sandbox_mem_peak(sb) <= 2 * MiB);
	expect_str(sb, "return 'alive'", "alive");
	sandbox_destroy(sb);
}

static void test_memory_accounting(void **state)
{
	struct sandbox *sb = make(0, 0, 0);
	size_t before = sandbox_mem_used(sb);

	(void)state;
	assert_true(before > 0);
	expect_str(sb, "big = string.rep('x', 3000000) return 'ok'", "ok");
	assert_true(sandbox_mem_used(sb) >= before + 3000000);
	expect_str(sb, "big = nil collectgarbage() return 'ok'", "ok");
	assert_true(sandbox_mem_used(sb) < before + 3000000);
	assert_true(sandbox_mem_peak(sb) >= before + 3000000);
	sandbox_destroy(sb);
}

static void test_instruction_limit(void **state)
{
	static const char *const loops[] = {
		"while true do end",
		"local ok, e = pcall(function() while true do end end) return 'escaped'",
		"while true do pcall(function() while true do end end) end",
		"local ok = xpcall(function() while true do end end, function(m) return m end) "
		"return 'escaped'",
		"local co = coroutine.wrap(function() while true do end end) pcall(co) "
		"return 'escaped'",
		"local function f() return f() end f()",
		"for i = 1, 10 do pcall(error, 'x') end local t = {} "
		"setmetatable(t, {__index = function(t, k) return t[k + 1] end}) return t[1]",
	};
	size_t i;
	char err[256];

	(void)state;
	for (i = 0; i < sizeof(loops) / sizeof(loops[0]); i++) {
		struct sandbox *sb = make(0, 1000000, 60000);
		double t0 = now_s();
		int rc = run(sb, loops[i], err, sizeof(err));

		if (rc == 0)
			fail_msg("loop %zu returned normally", i);
		/* The __index chain overflows the C stack before the limit. */
		if (i == 6) {
			if (strstr(err, "stack overflow") == NULL &&
			    strstr(err, "instruction limit") == NULL)
				fail_msg("loop %zu: %s", i, err);
		} else if (strcmp(err, "stopped: instruction limit of 1000000 exceeded") != 0) {
			fail_msg("loop %zu: %s", i, err);
		}
		assert_true(now_s() - t0 < 10);
		sandbox_destroy(sb);
	}
}

static void test_limits_rearmed_per_run(void **state)
{
	/* Each run gets the whole budget: three runs of 0.6 of it pass. */
	struct sandbox *sb = make(0, 1000000, 60000);
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		expect_str(sb, "local n = 0 for i = 1, 150000 do n = n + 1 end return 'done'",
			   "done");
	expect_err(sb, "local n = 0 for i = 1, 1e7 do n = n + 1 end return 'done'",
		   "stopped: instruction limit of 1000000 exceeded");
	sandbox_destroy(sb);
}

static void test_wall_clock_limit(void **state)
{
	struct sandbox *sb = make(0, 1000000000000L, 300);
	char err[256];
	double t0 = now_s(), dt;

	(void)state;
	assert_int_equal(run(sb, "local ok = pcall(function() while true do end end) "
				 "while true do end",
			     err, sizeof(err)),
			 -1);
	dt = now_s() - t0;
	assert_string_equal(err, "stopped: wall-clock limit of 300 ms exceeded");
	assert_true(dt >= 0.29);
	assert_true(dt < 5);
	sandbox_destroy(sb);
}

static void test_stopped_sandbox_refuses(void **state)
{
	struct sandbox *sb = make(0, 100000, 60000);
	lua_State *L;
	char err[256];

	(void)state;
	assert_int_equal(run(sb, "while true do end", err, sizeof(err)), -1);
	assert_true(sandbox_stopped(sb));
	L = sandbox_state(sb);
	assert_int_equal(lua_gettop(L), 0);
	assert_int_equal(run(sb, "return 1", err, sizeof(err)), -1);
	assert_string_equal(err, "sandbox stopped (stopped: instruction limit of 100000 exceeded)");
	lua_getglobal(L, "tostring");
	lua_pushinteger(L, 1);
	assert_int_equal(sandbox_call(sb, 1, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sandbox stopped"));
	assert_int_equal(lua_gettop(L), 0);
	sandbox_destroy(sb);
}

static void test_deep_recursion(void **state)
{
	struct sandbox *sb = make(256 * MiB, 0, 0);
	char err[256];

	(void)state;
	/* Lua-to-Lua recursion a million deep: the Lua stack's limit. */
	assert_int_equal(run(sb, "local function f(n) if n == 0 then return 0 end "
				 "return 1 + f(n - 1) end return f(1e6)",
			     err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "stack overflow"));
	assert_false(sandbox_stopped(sb));
	/* Recursion through pcall: the C stack's limit, reported cleanly. */
	expect_str(sb, "local depth = 0 local function f() depth = depth + 1 pcall(f) end f() "
		       "return depth > 100 and 'deep' or 'shallow'",
		   "deep");
	expect_err(sb, "local function f() local ok, e = pcall(f) error(e, 0) end f()",
		   "stack overflow");
	/* coroutine.wrap prefixes each level's position to the message. */
	expect_str(sb, "local function f() coroutine.wrap(f)() end local ok, e = pcall(f) "
		       "return tostring(ok) .. ' ' .. tostring(e:find('stack overflow') ~= nil)",
		   "false true");
	expect_err(sb, "local t = setmetatable({}, {__index = function(t, k) return t[k] end}) "
		       "return t.x",
		   "stack overflow");
	expect_err(sb, "local function f(s) return string.gsub(s, '.', f) end f('ab')",
		   "stack overflow");
	expect_str(sb, "return 'usable'", "usable");
	sandbox_destroy(sb);
}

static void test_deep_recursion_small_memory(void **state)
{
	/* With the default cap the million frames may run out of memory first:
	 * either way an error, not a crash. */
	struct sandbox *sb = make(16 * MiB, 0, 0);
	char err[256];

	(void)state;
	assert_int_equal(run(sb, "local function f(n) if n == 0 then return 0 end "
				 "return 1 + f(n - 1) end return f(1e6)",
			     err, sizeof(err)),
			 -1);
	assert_true(strstr(err, "stack overflow") || strstr(err, "out of memory"));
	sandbox_destroy(sb);
}

static void test_finalizers_refused(void **state)
{
	struct sandbox *sb = make(0, 1000000000000L, 600000);
	double t0 = now_s();

	(void)state;
	/* A finalizer would run with hooks off: an endless one would hang. */
	expect_err(sb, "setmetatable({}, {__gc = function() while true do end end}) "
		       "collectgarbage() return 'ok'",
		   "__gc metamethods are not allowed");
	expect_err(sb, "setmetatable({}, {__gc = true})", "__gc metamethods are not allowed");
	/* __gc added after setmetatable does not mark the object. */
	expect_str(sb, "local mt = {} local t = setmetatable({}, mt) "
		       "mt.__gc = function() ran = true while true do end end "
		       "t = nil collectgarbage() collectgarbage() return tostring(ran)",
		   "nil");
	/* Other metatables still work. */
	expect_str(sb, "return setmetatable({}, {__index = function() return 'meta' end}).x",
		   "meta");
	sandbox_destroy(sb);
	assert_true(now_s() - t0 < 5);
}

static void test_tiny_memory_cap(void **state)
{
	struct sandbox_limits lim = {.mem_max = 2000};
	char err[256] = "";

	(void)state;
	assert_null(sandbox_create(&lim, err, sizeof(err)));
	assert_string_equal(err, "cannot create sandbox: out of memory (limit 2000 bytes)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_code),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_forbidden_globals),
		cmocka_unit_test(test_bytecode_refused),
		cmocka_unit_test(test_collectgarbage_restricted),
		cmocka_unit_test(test_memory_bombs),
		cmocka_unit_test(test_memory_near_limit_not_stopped),
		cmocka_unit_test(test_memory_accounting),
		cmocka_unit_test(test_instruction_limit),
		cmocka_unit_test(test_limits_rearmed_per_run),
		cmocka_unit_test(test_wall_clock_limit),
		cmocka_unit_test(test_stopped_sandbox_refuses),
		cmocka_unit_test(test_deep_recursion),
		cmocka_unit_test(test_deep_recursion_small_memory),
		cmocka_unit_test(test_finalizers_refused),
		cmocka_unit_test(test_tiny_memory_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
