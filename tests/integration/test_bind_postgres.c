/*
 * The postgres binding (plugins/postgres) against a real PostgreSQL server
 * (tests/lib/pg.h starts one on loopback): connect by DSN, URI and table,
 * parameterised queries, NULLs, SQL errors with their SQLSTATE, a role
 * without privileges, refused and unanswered connections, query timeouts
 * with cancel, and no password in any error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "hub/plugins.h"
#include "tests/lib/pg.h"

extern const struct trm_plugin postgres_plugin;

static struct pg_test_server pg;

struct fixture {
	char dir[64];
	struct plugins *plugins;
	lua_State *L;
	int silent_fd;      /* a listening socket that never accepts */
	int silent_port;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int l_now(lua_State *L)
{
	lua_pushnumber(L, now_s());
	return 1;
}

static int l_require(lua_State *L)
{
	struct plugins *p = lua_touserdata(L, lua_upvalueindex(1));
	const char *name = luaL_checkstring(L, 1);
	int rc = plugins_lua_require(p, name, L);
	if (rc < 0)
		return luaL_error(L, "module '%s' not available (%d)", name, rc);
	return 1;
}

/* Bind 127.0.0.1:0; with LISTEN, listen and keep it (never accepting);
 * else close it: a port where nothing listens. */
static int loopback_port(int listen_too, int *fd_out)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int port = -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	if (listen_too && port > 0 && listen(fd, 8) == 0) {
		*fd_out = fd;
		return port;
	}
	close(fd);
	return port;
}

static int group_setup(void **state)
{
	(void)state;
	char err[2048];
	if (pg_test_start(&pg, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot start PostgreSQL: %s\n", err);
		return -1;
	}
	const char *sql =
		"create table orders (id int primary key, name text not null, note text);"
		"insert into orders values (1, 'first', null), (2, 'second', 'x');"
		"create table secrets (v text);"
		"insert into secrets values ('hidden');"
		"create role reader login password 'rd-pass-77';"
		"grant select on orders to reader;";
	if (pg_test_exec(&pg, sql, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot set up the database: %s\n", err);
		pg_test_stop(&pg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	pg_test_stop(&pg);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];
	snprintf(f->dir, sizeof(f->dir), "/tmp/terrarium-bind-pg-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	struct plugins_env env = { .data_dir = f->dir };
	f->plugins = plugins_create(&env);
	assert_non_null(f->plugins);
	assert_int_equal(plugins_add(f->plugins, &postgres_plugin, err, sizeof(err)), 0);
	f->silent_fd = -1;
	f->silent_port = loopback_port(1, &f->silent_fd);
	assert_true(f->silent_port > 0);

	lua_State *L = f->L = luaL_newstate();
	assert_non_null(L);
	luaL_openlibs(L);
	lua_pushlightuserdata(L, f->plugins);
	lua_pushcclosure(L, l_require, 1);
	lua_setglobal(L, "require");
	lua_pushcfunction(L, l_now);
	lua_setglobal(L, "now");
	lua_pushstring(L, pg.dsn);
	lua_setglobal(L, "DSN");
	lua_pushinteger(L, pg.port);
	lua_setglobal(L, "PORT");
	lua_pushinteger(L, loopback_port(0, NULL));
	lua_setglobal(L, "CLOSED_PORT");
	lua_pushinteger(L, f->silent_port);
	lua_setglobal(L, "SILENT_PORT");
	lua_newtable(L);
	lua_pushlightuserdata(L, NULL);
	lua_setfield(L, -2, "null");
	lua_setglobal(L, "json");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	lua_close(f->L);
	plugins_destroy(f->plugins);
	if (f->silent_fd >= 0)
		close(f->silent_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

static void run(struct fixture *f, const char *code)
{
	lua_State *L = f->L;
	if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK)
		fail_msg("lua: %s", lua_tostring(L, -1));
}

static void run_raises(struct fixture *f, const char *code, const char *want)
{
	lua_State *L = f->L;
	assert_int_equal(luaL_loadstring(L, code), LUA_OK);
	if (lua_pcall(L, 0, 0, 0) == LUA_OK)
		fail_msg("expected an error from: %s", code);
	const char *msg = lua_tostring(L, -1);
	if (!msg || !strstr(msg, want))
		fail_msg("error '%s' does not hold '%s'", msg ? msg : "", want);
	lua_pop(L, 1);
}

/* --- tests ------------------------------------------------------------------------- */

static void test_connect_and_query(void **state)
{
	run(*state,
	    "local pg = require 'postgres'\n"
	    "local conn, err = pg.connect(DSN, { timeout = 5 })\n"
	    "assert(conn, err)\n"
	    "local rows, err = conn:query('select $1::int + 1 as n, $2::text as t, "
	    "null::text as z, true as b', { 41, 'hi' })\n"
	    "assert(rows, err)\n"
	    "assert(rows.count == 1 and #rows == 1)\n"
	    "assert(rows[1].n == '42', 'values are strings')\n"
	    "assert(rows[1].t == 'hi' and rows[1].z == nil and rows[1].b == 't')\n"
	    "assert(#rows.columns == 4 and rows.columns[1] == 'n' and rows.columns[3] == 'z' and "
	    "rows.columns[4] == 'b')\n"
	    "rows = assert(conn:query('select id, name, note from orders order by id'))\n"
	    "assert(rows.count == 2)\n"
	    "assert(rows[1].id == '1' and rows[1].name == 'first' and rows[1].note == nil)\n"
	    "assert(rows[2].note == 'x')\n"
	    "rows = assert(conn:query('select name from orders where id = $1', { 99 }))\n"
	    "assert(rows.count == 0 and #rows == 0 and rows.columns[1] == 'name', 'empty result "
	    "keeps its columns')\n"
	    "local st = assert(conn:query('show statement_timeout'))\n"
	    "assert(st[1].statement_timeout == '5s', st[1].statement_timeout)\n"
	    "conn:close()\n");
}

static void test_connect_forms(void **state)
{
	run(*state,
	    "local pg = require 'postgres'\n"
	    "local c = assert(pg.connect({ host = '127.0.0.1', port = PORT, dbname = 'postgres',\n"
	    "  user = 'postgres', sslmode = 'disable' }))\n"
	    "local r = assert(c:query('select current_user as u, current_database() as d'))\n"
	    "assert(r[1].u == 'postgres' and r[1].d == 'postgres')\n"
	    "c:close()\n"
	    "c = assert(pg.connect('postgresql://postgres@127.0.0.1:' .. PORT .. "
	    "'/postgres?sslmode=disable'))\n"
	    "r = assert(c:query('select 1 as one'))\n"
	    "assert(r[1].one == '1')\n"
	    "r = assert(c:query(\"select current_setting('application_name') as a\"))\n"
	    "assert(r[1].a == 'terrarium', r[1].a)\n"
	    "c:close()\n");
}

static void test_params_and_commands(void **state)
{
	run(*state,
	    "local pg = require 'postgres'\n"
	    "local c = assert(pg.connect(DSN))\n"
	    "assert(c:query('create temp table t (a int, b text, c text)'))\n"
	    "local r = assert(c:query('insert into t values ($1, $2, $3), ($1, $3, $2)', "
	    "{ 7, nil, 'x', n = 3 }))\n"
	    "assert(r.count == 2 and #r == 0 and #r.columns == 0, 'count is rows affected')\n"
	    "r = assert(c:query('insert into t values ($1, $2, $3)', { 8, json.null, 'y' }))\n"
	    "assert(r.count == 1)\n"
	    "r = assert(c:query('select count(*) as n, count(b) as nb from t'))\n"
	    "assert(r[1].n == '3' and r[1].nb == '1', r[1].n .. ' ' .. r[1].nb)\n"
	    "r = assert(c:query('select $1::float8 as f, $2::bool as b, $3 as s', { 0.5, false, "
	    "\"o'brien; drop table t\" }))\n"
	    "assert(r[1].f == '0.5' and r[1].b == 'f' and r[1].s == \"o'brien; drop table t\")\n"
	    "r = assert(c:query('select count(*) as n from t'))\n"
	    "assert(r[1].n == '3', 'parameters are never SQL')\n"
	    "c:close()\n");
}

static void test_sql_error(void **state)
{
	run(*state,
	    "local pg = require 'postgres'\n"
	    "local c = assert(pg.connect(DSN))\n"
	    "local r, err = c:query('select * from nope')\n"
	    "assert(r == nil)\n"
	    "assert(err == 'postgres: relation \"nope\" does not exist (SQLSTATE 42P01)', err)\n"
	    "r, err = c:query('select 1/0')\n"
	    "assert(err == 'postgres: division by zero (SQLSTATE 22012)', err)\n"
	    "r, err = c:query('select 1; select 2')\n"
	    "assert(r == nil and err:find('SQLSTATE 42601', 1, true), err)\n"
	    "r = assert(c:query('select 3 as x'))\n"
	    "assert(r[1].x == '3', 'the connection works after errors')\n"
	    "c:close()\n");
}

static void test_permission_denied(void **state)
{
	run(*state,
	    "local pg = require 'postgres'\n"
	    "local dsn = 'host=127.0.0.1 port=' .. PORT .. ' dbname=postgres user=reader "
	    "password=rd-pass-77'\n"
	    "local c = assert(pg.connect(dsn))\n"
	    "local r = assert(c:query('select count(*) as n from orders'))\n"
	    "assert(r[1].n == '2')\n"
	    "local r, err = c:query('select * from secrets')\n"
	    "assert(r == nil)\n"
	    "assert(err == 'postgres: permission denied for table secrets (SQLSTATE 42501)', err)\n"
	    "assert(not err:find('rd-pass-77', 1, true))\n"
	    "c:close()\n");
}

static void test_refused(void **state)
{
	run(*state,
	    "local pg = require 'postgres'\n"
	    "local t0 = now()\n"
	    "local c, err = pg.connect('host=127.0.0.1 port=' .. CLOSED_PORT .. ' dbname=x "
	    "user=u password=pw-secret-1', { timeout = 5 })\n"
	    "assert(c == nil)\n"
	    "assert(err == 'postgres: connection refused (127.0.0.1:' .. CLOSED_PORT .. ')', err)\n"
	    "assert(now() - t0 < 2, 'refused at once')\n");
}

static void test_connect_timeout(void **state)
{
	run(*state,
	    "local pg = require 'postgres'\n"
	    "local t0 = now()\n"
	    "local c, err = pg.connect({ host = '127.0.0.1', port = SILENT_PORT, dbname = 'x',\n"
	    "  user = 'u', password = 'pw-secret-2' }, { timeout = 1 })\n"
	    "local took = now() - t0\n"
	    "assert(c == nil)\n"
	    "assert(err == 'postgres: timeout after 1 s connecting (127.0.0.1:' .. SILENT_PORT .. "
	    "')', err)\n"
	    "assert(took >= 0.9 and took < 2.5, 'took ' .. took)\n");
}

static void test_query_timeout(void **state)
{
	run(*state,
	    "local pg = require 'postgres'\n"
	    "local c = assert(pg.connect(DSN, { timeout = 1 }))\n"
	    "local t0 = now()\n"
	    "local r, err = c:query('select pg_sleep(5)')\n"
	    "local took = now() - t0\n"
	    "assert(r == nil)\n"
	    "assert(err == 'postgres: timeout after 1 s (127.0.0.1:' .. PORT .. ')', err)\n"
	    "assert(took >= 0.9 and took < 2.5, 'took ' .. took)\n"
	    "r = assert(c:query('select 1 as x'))\n"
	    "assert(r[1].x == '1', 'usable after the server cancelled')\n"
	    /* Without the server's statement_timeout, our deadline cancels it. */
	    "assert(c:query('set statement_timeout = 0'))\n"
	    "t0 = now()\n"
	    "r, err = c:query('select pg_sleep(5)')\n"
	    "took = now() - t0\n"
	    "assert(r == nil)\n"
	    "assert(err == 'postgres: timeout after 1 s (127.0.0.1:' .. PORT .. ')', err)\n"
	    "assert(took >= 0.9 and took < 3.5, 'took ' .. took)\n"
	    "r = assert(c:query('select 2 as x'))\n"
	    "assert(r[1].x == '2', 'usable after our cancel')\n"
	    "c:close()\n");
}

static void test_no_password_in_errors(void **state)
{
	run(*state,
	    "local pg = require 'postgres'\n"
	    "local function clean(err)\n"
	    "  assert(type(err) == 'string' and err:find('^postgres: '), tostring(err))\n"
	    "  for _, s in ipairs({ 'pw-secret-3', 'rd-pass-77', 'sekrit99' }) do\n"
	    "    assert(not err:find(s, 1, true), 'password in: ' .. err)\n"
	    "  end\n"
	    "end\n"
	    "local c, err = pg.connect('host=127.0.0.1 port=' .. PORT .. ' dbname=nope_db "
	    "user=postgres password=pw-secret-3')\n"
	    "assert(c == nil) clean(err)\n"
	    "assert(err:find('database \"nope_db\" does not exist', 1, true), err)\n"
	    "c, err = pg.connect('postgresql://postgres:pw-secret-3@127.0.0.1:' .. CLOSED_PORT .. "
	    "'/postgres')\n"
	    "assert(c == nil) clean(err)\n"
	    "c, err = pg.connect('host=127.0.0.1 password=sekrit99 garbage')\n"
	    "assert(c == nil) clean(err)\n"
	    "assert(err:find('cannot parse the connection string', 1, true), err)\n"
	    "c, err = pg.connect({ host = '127.0.0.1', port = PORT, user = 'no_such_role',\n"
	    "  dbname = 'postgres', password = 'pw-secret-3' })\n"
	    "assert(c == nil) clean(err)\n"
	    "assert(err:find('role \"no_such_role\" does not exist', 1, true), err)\n"
	    "c, err = pg.connect({ host = '127.0.0.1', port = PORT, bogus_option = 'pw-secret-3' })\n"
	    "assert(c == nil) clean(err)\n");
}

static void test_close_and_gc(void **state)
{
	struct fixture *f = *state;
	run(f,
	    "local pg = require 'postgres'\n"
	    "conn = assert(pg.connect(DSN))\n"
	    "assert(tostring(conn):find('postgres connection (127.0.0.1:', 1, true))\n"
	    "conn:close()\n"
	    "conn:close()\n"
	    "assert(tostring(conn) == 'postgres connection (closed)')\n"
	    "do local c <close> = assert(pg.connect(DSN)) assert(c:query('select 1')) end\n"
	    "for i = 1, 5 do local c = assert(pg.connect(DSN)) end\n"
	    "collectgarbage() collectgarbage()\n");
	run_raises(f, "conn:query('select 1')", "postgres: the connection is closed");
	/* Connections the collector forgot are closed by the GC: the server
	 * sees only this one left. */
	run(f,
	    "local pg = require 'postgres'\n"
	    "local c = assert(pg.connect(DSN))\n"
	    "local q = \"select count(*) as n from pg_stat_activity where "
	    "application_name = 'terrarium'\"\n"
	    /* Backends exit a moment after their client hangs up: wait up to 5 s. */
	    "local r\n"
	    "for i = 1, 50 do\n"
	    "  r = assert(c:query(q))\n"
	    "  if r[1].n == '1' then break end\n"
	    "  assert(c:query('select pg_sleep(0.1)'))\n"
	    "end\n"
	    "assert(r[1].n == '1', 'open connections: ' .. r[1].n)\n"
	    "c:close()\n");
}

static void test_wrong_arguments(void **state)
{
	struct fixture *f = *state;
	run(f, "pg = require 'postgres' c = assert(pg.connect(DSN))");
	run_raises(f, "pg.connect(42)", "connection string or table");
	run_raises(f, "pg.connect(DSN, { timeout = 0 })", "timeout must be");
	run_raises(f, "pg.connect({ host = {} })", "connection parameters");
	run_raises(f, "c:query()", "string expected");
	run_raises(f, "c:query('select $1', { print })", "parameter $1 is a function");
	run_raises(f, "c:query('select $1', { x = 1 })", "params must be an array");
	run_raises(f, "c:query('select $1', { 0/0 })", "not a finite number");
	run_raises(f, "c.query({}, 'select 1')", "expected, got table");
	run(f, "c:close()");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_and_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params_and_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sql_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permission_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_password_in_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_and_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_arguments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
