#ifndef TERRARIUM_SANDBOX_H
#define TERRARIUM_SANDBOX_H
/*
 * A sandboxed Lua 5.4 state, for the config file and for collectors.
 *
 * Memory: the state is created with an allocator that refuses to grow past
 * MEM_MAX bytes.  Time: an instruction-count hook stops the script after
 * INSTR_MAX VM instructions or WALL_MS milliseconds, whichever comes first.
 * Once stopped, the hook fires on every instruction and raises again, so a
 * script cannot swallow the stop with pcall; running out of memory stops it
 * the same way.  Libraries: base (without dofile, loadfile, and with load()
 * taking text chunks only), string (without string.dump), table, math, utf8,
 * coroutine, and os.time/os.clock/os.date/os.difftime only.  No io, debug,
 * package, require.  Bytecode is never loaded.  collectgarbage() takes only
 * "collect", "count", "step" and "isrunning".  setmetatable() refuses a
 * metatable with __gc (Lua runs finalizers with hooks off, out of the
 * limits' reach).
 */
#include <lua.h>
#include <stddef.h>

struct sandbox_limits {
	size_t mem_max;   /* bytes; 0 means 64 MiB */
	long instr_max;   /* VM instructions per run; 0 means 1e9 */
	long wall_ms;     /* per run; 0 means 30000 */
};

struct sandbox;

/* A new sandbox.  NULL with ERR on failure. */
struct sandbox *sandbox_create(const struct sandbox_limits *lim, char *err, size_t errlen);

/* Close the state and free.  NULL does nothing. */
void sandbox_destroy(struct sandbox *sb);

/* The Lua state, borrowed, valid until sandbox_destroy().  Callers may push
 * values and register functions on it. */
lua_State *sandbox_state(struct sandbox *sb);

/*
 * Load text chunk CODE (LEN bytes, named CHUNKNAME as in "@file.lua") and
 * call it with the limits armed afresh, leaving NRESULTS results on the stack.
 * Returns 0, or -1 with ERR ("file.lua:12: attempt to ..." or
 * "stopped: instruction limit of N exceeded" / "stopped: out of memory (limit
 * N bytes)" / "stopped: wall-clock limit of N ms exceeded").  A stop is
 * reported even when the script caught the error and returned normally.
 * A stopped sandbox stays stopped: every later sandbox_run() or
 * sandbox_call() returns -1 with "sandbox stopped (<reason>)" and pops the
 * function and its arguments; destroy it and create another.
 * The time limits are checked only while Lua code runs: a C function (such as
 * a string pattern match) runs to its end before the hook can fire.
 */
int sandbox_run(struct sandbox *sb, const char *code, size_t len, const char *chunkname,
		int nresults, char *err, size_t errlen);

/* Call the function below NARGS arguments on the stack, with the limits armed
 * afresh, as sandbox_run() does. */
int sandbox_call(struct sandbox *sb, int nargs, int nresults, char *err, size_t errlen);

/* Whether a limit stopped the sandbox (see sandbox_run()). */
int sandbox_stopped(const struct sandbox *sb);

/* Bytes the state holds now, and the most it has held. */
size_t sandbox_mem_used(const struct sandbox *sb);
size_t sandbox_mem_peak(const struct sandbox *sb);

#endif
