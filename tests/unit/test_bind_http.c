/*
 * The http binding (plugins/http): a small HTTP server on 127.0.0.1 (a thread
 * per connection, canned answers) and Lua code calling require "http" in a
 * plain lua_State and in a sandbox, the module got through the plugin host.
 * Every call carries a timeout; the slow answer sleeps past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "hub/plugins.h"
#include "hub/sandbox.h"

extern const struct trm_plugin http_plugin;

/* --- the test server ------------------------------------------------------------ */

#define CONNS_MAX 64

struct server {
	int fd;
	int port;
	volatile int stop;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int active;            /* connection threads running (detached) */
};

static struct server srv;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void reply(int fd, const char *status, const char *extra, const char *ctype,
		  const char *body, long len)
{
	char head[2048];
	if (len < 0)
		len = (long)strlen(body);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nConnection: close\r\nContent-Type: %s\r\n"
			 "Content-Length: %ld\r\n%s\r\n",
			 status, ctype, len, extra ? extra : "");
	if (write_all(fd, head, (size_t)n) == 0)
		write_all(fd, body, (size_t)len);
}

/* The value of header NAME in the raw request head, into OUT. */
static void req_header(const char *head, const char *name, char *out, size_t outlen)
{
	out[0] = '\0';
	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		size_t n = strlen(name);
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			size_t len = strcspn(v, "\r");
			if (len >= outlen)
				len = outlen - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return;
		}
	}
}

/* JSON-escape S into OUT (enough for the test's values). */
static void jesc(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	for (; *s && n + 7 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, outlen - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
}

static void handle(int fd)
{
	static char head[65536];
	char *buf = malloc(1 << 20);
	size_t len = 0;
	char *end = NULL;
	if (!buf)
		goto out;
	/* Read the head, then the body by Content-Length (bounded). */
	while (!end && len < (1 << 20) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			goto out;
		ssize_t n = recv(fd, buf + len, (1 << 20) - 1 - len, 0);
		if (n <= 0)
			goto out;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (!end)
		goto out;
	size_t head_len = (size_t)(end - buf) + 4;
	char cl[32];
	*end = '\0';
	snprintf(head, sizeof(head), "%s", buf);
	*end = '\r';
	req_header(head, "Content-Length", cl, sizeof(cl));
	size_t want = head_len + (size_t)atol(cl);
	while (len < want && len < (1 << 20) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			goto out;
		ssize_t n = recv(fd, buf + len, (1 << 20) - 1 - len, 0);
		if (n <= 0)
			goto out;
		len += (size_t)n;
	}
	buf[len] = '\0';
	const char *body = buf + head_len;

	char method[16] = "", target[4096] = "";
	sscanf(head, "%15s %4095s", method, target);
	char path[4096];
	snprintf(path, sizeof(path), "%s", target);
	path[strcspn(path, "?")] = '\0';

	if (strcmp(path, "/json") == 0) {
		reply(fd, "200 OK", NULL, "application/json",
		      "{\"name\":\"orders\",\"n\":42,\"f\":1.5,\"list\":[1,null,\"three\"],"
		      "\"obj\":{\"a\":null,\"b\":true},\"nested\":{\"deep\":[{\"k\":\"v\"}]},"
		      "\"u\":\"caf\\u00e9\"}",
		      -1);
	} else if (strcmp(path, "/status500") == 0) {
		reply(fd, "500 Internal Server Error", NULL, "text/plain", "boom: db down", -1);
	} else if (strcmp(path, "/garbage") == 0) {
		reply(fd, "200 OK", NULL, "application/json", "<html>not json</html>", -1);
	} else if (strcmp(path, "/truncated") == 0) {
		reply(fd, "200 OK", NULL, "application/json", "{\"a\": [1, 2, {\"b\":", -1);
	} else if (strcmp(path, "/slow") == 0) {
		for (int i = 0; i < 40 && !srv.stop; i++)
			sleep_ms(100);
		reply(fd, "200 OK", NULL, "application/json", "{\"late\":true}", -1);
	} else if (strcmp(path, "/huge") == 0 || strcmp(path, "/huge_nolen") == 0) {
		/* 2 MiB of JSON-ish text; /huge_nolen without Content-Length. */
		size_t big = 2u << 20;
		char *b = malloc(big);
		if (b) {
			memset(b, 'x', big);
			if (strcmp(path, "/huge") == 0) {
				reply(fd, "200 OK", NULL, "text/plain", b, (long)big);
			} else {
				const char *h = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
						"Content-Type: text/plain\r\n\r\n";
				if (write_all(fd, h, strlen(h)) == 0)
					write_all(fd, b, big);
			}
			free(b);
		}
	} else if (strcmp(path, "/redirect") == 0) {
		reply(fd, "302 Found", "Location: /json\r\n", "text/plain", "", 0);
	} else if (strcmp(path, "/loop") == 0) {
		reply(fd, "302 Found", "Location: /loop\r\n", "text/plain", "", 0);
	} else if (strcmp(path, "/to_file") == 0) {
		reply(fd, "302 Found", "Location: file:///etc/passwd\r\n", "text/plain", "", 0);
	} else if (strcmp(path, "/auth") == 0 || strcmp(path, "/echo") == 0) {
		char auth[512], ctype[256], accept[256], custom[256], out[32768];
		char e_auth[1100], e_ctype[600], e_accept[600], e_custom[600], e_target[8192],
			e_body[4096];
		req_header(head, "Authorization", auth, sizeof(auth));
		req_header(head, "Content-Type", ctype, sizeof(ctype));
		req_header(head, "Accept", accept, sizeof(accept));
		req_header(head, "X-Custom", custom, sizeof(custom));
		if (strcmp(path, "/auth") == 0 && !auth[0]) {
			reply(fd, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"t\"\r\n",
			      "text/plain", "who are you", -1);
			goto out;
		}
		jesc(auth, e_auth, sizeof(e_auth));
		jesc(ctype, e_ctype, sizeof(e_ctype));
		jesc(accept, e_accept, sizeof(e_accept));
		jesc(custom, e_custom, sizeof(e_custom));
		jesc(target, e_target, sizeof(e_target));
		jesc(body, e_body, sizeof(e_body));
		snprintf(out, sizeof(out),
			 "{\"method\":\"%s\",\"target\":\"%s\",\"authorization\":\"%s\","
			 "\"ctype\":\"%s\",\"accept\":\"%s\",\"custom\":\"%s\",\"body\":\"%s\"}",
			 method, e_target, e_auth, e_ctype, e_accept, e_custom, e_body);
		reply(fd, "200 OK", NULL, "application/json", out, -1);
	} else if (strcmp(path, "/headers") == 0) {
		reply(fd, "200 OK", "X-Multi: a\r\nX-Multi: b\r\nX-Test: Yes\r\n", "text/plain",
		      "ok", -1);
	} else if (strcmp(path, "/page") == 0) {
		const char *q = strstr(target, "n=");
		int n = q ? atoi(q + 2) : 1;
		char out[256];
		if (n < 3)
			snprintf(out, sizeof(out), "{\"n\":%d,\"items\":[%d,%d],\"next\":\"/page?n=%d\"}",
				 n, 2 * n - 1, 2 * n, n + 1);
		else
			snprintf(out, sizeof(out), "{\"n\":%d,\"items\":[%d]}", n, 2 * n - 1);
		reply(fd, "200 OK", NULL, "application/json", out, -1);
	} else if (strcmp(path, "/nocontent") == 0) {
		const char *h = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
		write_all(fd, h, strlen(h));
	} else if (strcmp(path, "/deep") == 0) {
		char out[1024];
		memset(out, '[', 300);
		memset(out + 300, ']', 300);
		reply(fd, "200 OK", NULL, "application/json", out, 600);
	} else if (strcmp(path, "/scalar") == 0) {
		reply(fd, "200 OK", NULL, "application/json", "null", -1);
	} else {
		reply(fd, "404 Not Found", NULL, "text/plain", "no such path", -1);
	}
out:
	free(buf);
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	handle(fd);
	shutdown(fd, SHUT_WR);
	/* Drain briefly so the client sees the whole answer before the close. */
	char tmp[4096];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (poll(&p, 1, 200) > 0 && recv(fd, tmp, sizeof(tmp), 0) > 0)
		;
	close(fd);
	pthread_mutex_lock(&srv.lock);
	srv.active--;
	pthread_cond_broadcast(&srv.idle);
	pthread_mutex_unlock(&srv.lock);
	return NULL;
}

static void *accept_main(void *arg)
{
	(void)arg;
	while (!srv.stop) {
		struct pollfd p = { .fd = srv.fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int fd = accept(srv.fd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_mutex_lock(&srv.lock);
		while (srv.active == CONNS_MAX)
			pthread_cond_wait(&srv.idle, &srv.lock);
		if (pthread_create(&t, &attr, conn_main, (void *)(intptr_t)fd) != 0)
			close(fd);
		else
			srv.active++;
		pthread_mutex_unlock(&srv.lock);
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

static int server_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.lock, NULL);
	pthread_cond_init(&srv.idle, NULL);
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(srv.fd, 64) < 0 || getsockname(srv.fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	srv.port = ntohs(a.sin_port);
	return pthread_create(&srv.thread, NULL, accept_main, NULL) == 0 ? 0 : -1;
}

static void server_stop(void)
{
	srv.stop = 1;
	pthread_join(srv.thread, NULL);
	pthread_mutex_lock(&srv.lock);
	while (srv.active > 0)
		pthread_cond_wait(&srv.idle, &srv.lock);
	pthread_mutex_unlock(&srv.lock);
	close(srv.fd);
	pthread_cond_destroy(&srv.idle);
	pthread_mutex_destroy(&srv.lock);
}

/* A port where nothing listens. */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* --- the Lua side --------------------------------------------------------------------- */

struct fixture {
	char dir[64];
	struct plugins *plugins;
	lua_State *L;
};

static int l_now(lua_State *L)
{
	lua_pushnumber(L, now_s());
	return 1;
}

/* require(name) through the plugin host, as the collector runtime does. */
static int l_require(lua_State *L)
{
	struct plugins *p = lua_touserdata(L, lua_upvalueindex(1));
	const char *name = luaL_checkstring(L, 1);
	int rc = plugins_lua_require(p, name, L);
	if (rc == -1)
		return luaL_error(L, "module '%s' not found", name);
	if (rc < 0)
		return luaL_error(L, "module '%s' failed to load", name);
	return 1;
}

static void install_globals(struct fixture *f, lua_State *L)
{
	lua_pushlightuserdata(L, f->plugins);
	lua_pushcclosure(L, l_require, 1);
	lua_setglobal(L, "require");
	lua_pushcfunction(L, l_now);
	lua_setglobal(L, "now");
	lua_pushfstring(L, "http://127.0.0.1:%d", srv.port);
	lua_setglobal(L, "BASE");
	lua_pushfstring(L, "http://127.0.0.1:%d", closed_port());
	lua_setglobal(L, "CLOSED");
	/* json.null as the collector runtime sets it (a light userdata NULL). */
	lua_newtable(L);
	lua_pushlightuserdata(L, NULL);
	lua_setfield(L, -2, "null");
	lua_setglobal(L, "json");
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];
	snprintf(f->dir, sizeof(f->dir), "/tmp/terrarium-bind-http-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	struct plugins_env env = { .srv = NULL, .cat = NULL, .cfg = NULL, .data_dir = f->dir };
	f->plugins = plugins_create(&env);
	assert_non_null(f->plugins);
	assert_int_equal(plugins_add(f->plugins, &http_plugin, err, sizeof(err)), 0);
	f->L = luaL_newstate();
	assert_non_null(f->L);
	luaL_openlibs(f->L);
	install_globals(f, f->L);
	*state = f;
	return 0;
}

static int rm_tree(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	lua_close(f->L);
	plugins_destroy(f->plugins);
	rm_tree(f->dir);
	free(f);
	return 0;
}

/* Run CODE; fail the test with Lua's message if it raises. */
static void run(struct fixture *f, const char *code)
{
	lua_State *L = f->L;
	if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK)
		fail_msg("lua: %s", lua_tostring(L, -1));
}

/* Run CODE, expecting it to raise; the message goes into OUT. */
static void run_raises(struct fixture *f, const char *code, char *out, size_t outlen)
{
	lua_State *L = f->L;
	assert_int_equal(luaL_loadstring(L, code), LUA_OK);
	if (lua_pcall(L, 0, 0, 0) == LUA_OK)
		fail_msg("expected an error from: %s", code);
	snprintf(out, outlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
	lua_pop(L, 1);
}

/* --- tests -------------------------------------------------------------------------- */

static void test_get_json(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local v, err = http.get_json(BASE .. '/json', { timeout = 5 })\n"
	    "assert(v, err)\n"
	    "assert(v.name == 'orders')\n"
	    "assert(v.n == 42 and math.type(v.n) == 'integer')\n"
	    "assert(v.f == 1.5 and math.type(v.f) == 'float')\n"
	    "assert(#v.list == 3 and v.list[1] == 1 and v.list[3] == 'three')\n"
	    "assert(v.list[2] == json.null, 'null in an array is json.null')\n"
	    "assert(v.obj.a == json.null and v.obj.b == true)\n"
	    "assert(v.nested.deep[1].k == 'v')\n"
	    "assert(v.u == 'caf\\xc3\\xa9')\n"
	    "local s, e2 = http.get_json(BASE .. '/scalar', { timeout = 5 })\n"
	    "assert(s == json.null and e2 == nil, 'top-level null is json.null, not an error')\n");
}

static void test_get_response(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local r, err = http.get(BASE .. '/json', { timeout = 5 })\n"
	    "assert(r, err)\n"
	    "assert(r.status == 200)\n"
	    "assert(r.headers['content-type'] == 'application/json', r.headers['content-type'])\n"
	    "assert(r.body:sub(1, 16) == '{\"name\":\"orders\"')\n"
	    "local h = assert(http.get(BASE .. '/headers', { timeout = 5 }))\n"
	    "assert(h.headers['x-multi'] == 'a, b', h.headers['x-multi'])\n"
	    "assert(h.headers['x-test'] == 'Yes')\n"
	    "assert(h.body == 'ok')\n"
	    "local nf = assert(http.get(BASE .. '/nowhere', { timeout = 5 }))\n"
	    "assert(nf.status == 404 and nf.body == 'no such path')\n");
}

static void test_status_500(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local r, err = http.get(BASE .. '/status500', { timeout = 5 })\n"
	    "assert(r and r.status == 500 and r.body == 'boom: db down', 'a 500 is a response')\n"
	    "local v, err = http.get_json(BASE .. '/status500', { timeout = 5 })\n"
	    "assert(v == nil)\n"
	    "local want = 'http: status 500: boom: db down (GET ' .. BASE .. '/status500)'\n"
	    "assert(err == want, err)\n");
}

static void test_bad_json(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local v, err = http.get_json(BASE .. '/garbage', { timeout = 5 })\n"
	    "assert(v == nil and err:find('^http: invalid JSON at line 1'), err)\n"
	    "assert(err:find('(GET ' .. BASE .. '/garbage)', 1, true), err)\n"
	    "v, err = http.get_json(BASE .. '/truncated', { timeout = 5 })\n"
	    "assert(v == nil and err:find('^http: invalid JSON'), err)\n"
	    "v, err = http.get_json(BASE .. '/deep', { timeout = 5 })\n"
	    "assert(v == nil and err:find('^http: JSON nested deeper than 200 levels'), err)\n"
	    "v, err = http.get_json(BASE .. '/nocontent', { timeout = 5 })\n"
	    "assert(v == json.null and err == nil, '204 is null')\n");
}

static void test_timeout(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local t0 = now()\n"
	    "local v, err = http.get_json(BASE .. '/slow', { timeout = 1 })\n"
	    "local took = now() - t0\n"
	    "assert(v == nil)\n"
	    "assert(err == 'http: timeout after 1 s (GET ' .. BASE .. '/slow)', err)\n"
	    "assert(took >= 0.9 and took < 2.5, 'took ' .. took)\n"
	    "t0 = now()\n"
	    "local r, err2 = http.get(BASE .. '/slow', { timeout = 0.3 })\n"
	    "took = now() - t0\n"
	    "assert(r == nil and err2:find('timeout after 0.3 s', 1, true), err2)\n"
	    "assert(took < 1.5, 'took ' .. took)\n");
}

static void test_max_bytes(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "for _, p in ipairs({ '/huge', '/huge_nolen' }) do\n"
	    "  local r, err = http.get(BASE .. p, { timeout = 10, max_bytes = 1048576 })\n"
	    "  assert(r == nil)\n"
	    "  assert(err == 'http: response over 1048576 bytes (GET ' .. BASE .. p .. ')', err)\n"
	    "end\n"
	    "local r, err = http.get(BASE .. '/huge', { timeout = 10 })\n"
	    "assert(r and #r.body == 2 * 1048576, 'under the default 64 MiB bound')\n");
}

static void test_redirects(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local v, err = http.get_json(BASE .. '/redirect', { timeout = 5 })\n"
	    "assert(v and v.name == 'orders', err)\n"
	    "v, err = http.get_json(BASE .. '/loop', { timeout = 5 })\n"
	    "assert(v == nil and err == 'http: too many redirects (more than 5) (GET ' .. BASE .. "
	    "'/loop)', err)\n"
	    "local r\n"
	    "r, err = http.get(BASE .. '/to_file', { timeout = 5 })\n"
	    "assert(r == nil and err:find('^http: unsupported protocol'), err)\n"
	    "r, err = http.get('ftp://127.0.0.1/x', { timeout = 5 })\n"
	    "assert(r == nil and err:find('^http: unsupported protocol'), err)\n");
}

static void test_auth(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local v, err = http.get_json(BASE .. '/auth', { timeout = 5 })\n"
	    "assert(v == nil and err:find('^http: status 401'), err)\n"
	    "v, err = http.get_json(BASE .. '/auth', { timeout = 5, basic = { 'alice', 's3cret' } })\n"
	    "assert(v, err)\n"
	    "assert(v.authorization == 'Basic YWxpY2U6czNjcmV0', v.authorization)\n"
	    "v = assert(http.get_json(BASE .. '/auth', { basic = { user = 'alice', password = "
	    "'s3cret' } }))\n"
	    "assert(v.authorization == 'Basic YWxpY2U6czNjcmV0')\n"
	    "v = assert(http.get_json(BASE .. '/auth', { timeout = 5, bearer = 'tok-123456' }))\n"
	    "assert(v.authorization == 'Bearer tok-123456', v.authorization)\n"
	    "local u = BASE:gsub('http://', 'http://bob:hunter22@')\n"
	    "v = assert(http.get_json(u .. '/auth', { timeout = 5 }))\n"
	    "assert(v.authorization == 'Basic Ym9iOmh1bnRlcjIy', 'userinfo is sent')\n");
}

static void test_no_credentials_in_errors(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local function clean(err)\n"
	    "  for _, s in ipairs({ 's3cret', 'hunter22', 'tok-123456', 'k3yvalue', 'bob:' }) do\n"
	    "    assert(not err:find(s, 1, true), 'secret in: ' .. err)\n"
	    "  end\n"
	    "end\n"
	    "local u = BASE:gsub('http://', 'http://bob:hunter22@')\n"
	    "local v, err = http.get_json(u .. '/status500', { timeout = 5 })\n"
	    "assert(v == nil) clean(err)\n"
	    "assert(err:find('(GET ' .. BASE .. '/status500)', 1, true), err)\n"
	    "v, err = http.get_json(BASE .. '/status500', { basic = { 'alice', 's3cret' } })\n"
	    "assert(v == nil) clean(err)\n"
	    "v, err = http.get_json(CLOSED .. '/x', { timeout = 5, bearer = 'tok-123456' })\n"
	    "assert(v == nil) clean(err)\n"
	    "v, err = http.get_json(BASE .. '/garbage', { timeout = 5, query = { api_key = "
	    "'k3yvalue', page = 2 } })\n"
	    "assert(v == nil) clean(err)\n"
	    "assert(err:find('/garbage?api_key=***&page=2)', 1, true), err)\n"
	    "v, err = http.get_json(BASE .. '/garbage?access_token=k3yvalue&x=1', { timeout = 5 })\n"
	    "assert(v == nil) clean(err)\n"
	    "assert(err:find('access_token=***&x=1', 1, true), err)\n");
}

static void test_connection_refused(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local t0 = now()\n"
	    "local r, err = http.get(CLOSED .. '/x', { timeout = 5 })\n"
	    "assert(r == nil and err:find('^http: connection refused'), err)\n"
	    "assert(err:find('(GET ' .. CLOSED .. '/x)', 1, true), err)\n"
	    "assert(now() - t0 < 2, 'refused at once')\n");
}

static void test_post(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local r, err = http.post(BASE .. '/echo', 'a=1&b=2', { timeout = 5,\n"
	    "  headers = { ['Content-Type'] = 'text/plain', ['X-Custom'] = 'yes 1' } })\n"
	    "assert(r and r.status == 200, err)\n"
	    "local v = assert(http.get_json(BASE .. '/echo', { headers = { ['X-Custom'] = 7 } }))\n"
	    "assert(v.method == 'GET' and v.custom == '7' and v.accept == 'application/json')\n"
	    "local e = assert(http.post_json(BASE .. '/echo', { name = 'x', tags = { 'a', 'b' },\n"
	    "  n = 3, f = 0.5, ok = false, none = json.null, empty = {} }, { timeout = 5 }))\n"
	    "assert(e.method == 'POST')\n"
	    "assert(e.ctype == 'application/json', e.ctype)\n"
	    "assert(e.body == '{\"empty\":{},\"f\":0.5,\"n\":3,\"name\":\"x\",\"none\":null,"
	    "\"ok\":false,\"tags\":[\"a\",\"b\"]}', e.body)\n"
	    "local p = assert(http.post(BASE .. '/echo', 'raw body', { timeout = 5 }))\n"
	    "local pv = assert(http.post_json(BASE .. '/echo', { 1, 2, 3 }))\n"
	    "assert(pv.body == '[1,2,3]', pv.body)\n");
	/* The echo of the first post, checked through get on its body. */
	run(*state,
	    "local http = require 'http'\n"
	    "local r = assert(http.post(BASE .. '/echo', 'a=1&b=2', { timeout = 5,\n"
	    "  headers = { ['Content-Type'] = 'text/plain', ['X-Custom'] = 'yes 1' } }))\n"
	    "assert(r.body:find('\"body\":\"a=1&b=2\"', 1, true), r.body)\n"
	    "assert(r.body:find('\"ctype\":\"text/plain\"', 1, true), r.body)\n"
	    "assert(r.body:find('\"custom\":\"yes 1\"', 1, true), r.body)\n");
}

static void test_query(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local v = assert(http.get_json(BASE .. '/echo', { timeout = 5,\n"
	    "  query = { q = 'a b&c=d', n = 2, tag = { 'x', 'y/z' }, on = true } }))\n"
	    "assert(v.target == '/echo?n=2&on=true&q=a%20b%26c%3Dd&tag=x&tag=y%2Fz', v.target)\n"
	    "v = assert(http.get_json(BASE .. '/echo?fixed=1', { query = { more = 'yes' } }))\n"
	    "assert(v.target == '/echo?fixed=1&more=yes', v.target)\n");
}

static void test_pages(void **state)
{
	run(*state,
	    "local http = require 'http'\n"
	    "local seen, urls = {}, {}\n"
	    "for page in http.pages(BASE .. '/page?n=1', { timeout = 5 }, function(p, url)\n"
	    "  urls[#urls + 1] = url\n"
	    "  return p.next and BASE .. p.next\n"
	    "end) do\n"
	    "  for _, i in ipairs(page.items) do seen[#seen + 1] = i end\n"
	    "end\n"
	    "assert(table.concat(seen, ',') == '1,2,3,4,5', table.concat(seen, ','))\n"
	    "assert(#urls == 3 and urls[1] == BASE .. '/page?n=1' and urls[3] == BASE .. "
	    "'/page?n=3')\n"
	    "local n = 0\n"
	    "for page in http.pages(BASE .. '/page?n=1', { max_pages = 2 }, function(p)\n"
	    "  return p.next and BASE .. p.next end) do n = n + 1 end\n"
	    "assert(n == 2, 'max_pages bounds the loop')\n"
	    "n = 0\n"
	    "for page in http.pages(BASE .. '/page?n=1', nil, function(p, url) return url end) do\n"
	    "  n = n + 1 end\n"
	    "assert(n == 1000, 'default max_pages is 1000, got ' .. n)\n"
	    "local ok, err = pcall(function()\n"
	    "  for page in http.pages(BASE .. '/page?n=1', { timeout = 5 }, function(p)\n"
	    "    return BASE .. '/status500' end) do end\n"
	    "end)\n"
	    "assert(not ok and tostring(err):find('http: status 500', 1, true), tostring(err))\n");
}

static void test_wrong_arguments(void **state)
{
	struct fixture *f = *state;
	char msg[512];
	run(f, "http = require 'http'");
	run_raises(f, "http.get({})", msg, sizeof(msg));
	assert_non_null(strstr(msg, "string expected"));
	run_raises(f, "http.get(BASE, { timeout = -1 })", msg, sizeof(msg));
	assert_non_null(strstr(msg, "opts.timeout"));
	run_raises(f, "http.get(BASE, { timeout = 'soon' })", msg, sizeof(msg));
	assert_non_null(strstr(msg, "opts.timeout"));
	run_raises(f, "http.get(BASE, 5)", msg, sizeof(msg));
	run_raises(f, "http.get(BASE, { headers = { ['X-A'] = 'v\\r\\nX-Injected: 1' } })", msg,
		   sizeof(msg));
	assert_non_null(strstr(msg, "not valid"));
	run_raises(f, "http.get(BASE, { basic = 'alice' })", msg, sizeof(msg));
	assert_non_null(strstr(msg, "opts.basic"));
	run_raises(f, "http.get(BASE, { basic = { 'a', 'b' }, bearer = 'c' })", msg, sizeof(msg));
	assert_non_null(strstr(msg, "exclude"));
	run_raises(f, "http.post_json(BASE .. '/echo', { f = print })", msg, sizeof(msg));
	assert_non_null(strstr(msg, "cannot encode a function at .f"));
	run_raises(f, "local t = {} t.t = t http.post_json(BASE .. '/echo', t)", msg, sizeof(msg));
	assert_non_null(strstr(msg, "too deep"));
	run_raises(f, "http.post_json(BASE .. '/echo', { [1.5] = 1 })", msg, sizeof(msg));
	run_raises(f, "http.post_json(BASE .. '/echo', { s = '\\xff' })", msg, sizeof(msg));
	assert_non_null(strstr(msg, "UTF-8"));
	run_raises(f, "http.pages(BASE, {}, nil)", msg, sizeof(msg));
	run_raises(f, "http.pages(BASE, { max_pages = 0 }, print)", msg, sizeof(msg));
	assert_non_null(strstr(msg, "max_pages"));
	run_raises(f, "for p in http.pages(BASE .. '/page', {}, function() return 42 end) do end",
		   msg, sizeof(msg));
	assert_non_null(strstr(msg, "next_fn"));
}

/* In a sandbox with a small memory cap, a body larger than the cap stops the
 * run with a memory error; the request's resources are freed (ASan's leak
 * check would see them otherwise). */
static void test_sandbox_memory_cap(void **state)
{
	struct fixture *f = *state;
	char err[512];
	struct sandbox_limits lim = { .mem_max = 1 << 20, .instr_max = 0, .wall_ms = 20000 };
	struct sandbox *sb = sandbox_create(&lim, err, sizeof(err));
	assert_non_null(sb);
	install_globals(f, sandbox_state(sb));
	const char *ok = "local http = require 'http'\n"
			 "local v = assert(http.get_json(BASE .. '/json', { timeout = 5 }))\n"
			 "return v.name\n";
	assert_int_equal(sandbox_run(sb, ok, strlen(ok), "=ok", 1, err, sizeof(err)), 0);
	assert_string_equal(lua_tostring(sandbox_state(sb), -1), "orders");
	lua_pop(sandbox_state(sb), 1);
	const char *big = "local http = require 'http'\n"
			  "local r = http.get(BASE .. '/huge', { timeout = 10 })\n"
			  "return #r.body\n";
	assert_int_equal(sandbox_run(sb, big, strlen(big), "=big", 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of memory"));
	sandbox_destroy(sb);
}

/* The host side: unknown modules, a module name taken twice. */
static int dup_open(lua_State *L)
{
	lua_newtable(L);
	return 1;
}

static int dup_init(struct trm_plugin_ctx *ctx, const struct trm_api *api)
{
	if (api->lua_module(ctx, "http", dup_open) == 0)
		return -1; /* must be refused: taken by lua_http */
	if (api->lua_module(ctx, "Bad Name", dup_open) == 0)
		return -1;
	return api->lua_module(ctx, "other", dup_open);
}

static int bad_open(lua_State *L)
{
	return luaL_error(L, "cannot start");
}

static int bad_init(struct trm_plugin_ctx *ctx, const struct trm_api *api)
{
	return api->lua_module(ctx, "broken", bad_open);
}

static void test_host_registry(void **state)
{
	struct fixture *f = *state;
	char err[512];
	static const struct trm_plugin dup = { .abi = TRM_PLUGIN_ABI, .name = "dup",
					       .init = dup_init };
	static const struct trm_plugin bad = { .abi = TRM_PLUGIN_ABI, .name = "bad",
					       .init = bad_init };
	assert_int_equal(plugins_add(f->plugins, &dup, err, sizeof(err)), 0);
	assert_int_equal(plugins_add(f->plugins, &bad, err, sizeof(err)), 0);
	int top = lua_gettop(f->L);
	assert_int_equal(plugins_lua_require(f->plugins, "nope", f->L), -1);
	assert_int_equal(lua_gettop(f->L), top);
	assert_int_equal(plugins_lua_require(f->plugins, "broken", f->L), -2);
	assert_int_equal(lua_gettop(f->L), top);
	assert_int_equal(plugins_lua_require(f->plugins, "other", f->L), 0);
	assert_true(lua_istable(f->L, -1));
	lua_pop(f->L, 1);
	assert_int_equal(plugins_lua_require(f->plugins, "http", f->L), 0);
	lua_getfield(f->L, -1, "get_json");
	assert_true(lua_isfunction(f->L, -1));
	lua_pop(f->L, 2);
}

int main(void)
{
	if (server_start() < 0) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_500, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_credentials_in_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_memory_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_registry, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	server_stop();
	return rc;
}
