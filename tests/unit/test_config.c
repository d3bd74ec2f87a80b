/* Unit tests for hub/config.c: defaults, a full file, every kind of error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub/config.h"
#include "hub/log.h"

struct fixture {
	char dir[64];
	char path[128];   /* DIR/terrarium.lua */
	struct config c;
	char err[1024];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_config.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/terrarium.lua", f->dir);
	config_init(&f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *e;
	char p[512];

	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
		if (unlink(p) < 0)
			rmdir(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	config_release(&f->c);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Write TEXT as the config and load it. */
static int load(struct fixture *f, const char *text)
{
	write_file(f->path, text, strlen(text));
	f->err[0] = '\0';
	return config_load(&f->c, f->path, f->err, sizeof(f->err));
}

/* Load TEXT, which must fail with exactly "<path>:<WANT>". */
static void expect_error(struct fixture *f, const char *text, const char *want)
{
	char full[1200];

	if (load(f, text) == 0)
		fail_msg("config loaded: %s", text);
	snprintf(full, sizeof(full), "%s:%s", f->path, want);
	assert_string_equal(f->err, full);
}

static void expect_ok(struct fixture *f, const char *text)
{
	if (load(f, text) != 0)
		fail_msg("%s", f->err);
}

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	config_init(&c);
	assert_null(c.path);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_string_equal(c.data_dir, "./data");
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	assert_int_equal(c.anonymous_reads, 1);
	assert_int_equal(c.log_level, LOG_INFO);
	assert_int_equal(c.lineage_max_depth, 10);
	assert_int_equal(c.lineage_hop_cap, 100);
	assert_int_equal(c.http_threads, 64);
	assert_int_equal(c.max_body, 8 * 1024 * 1024);
	assert_true(json_is_array(c.services));
	assert_int_equal(json_array_size(c.services), 0);
	assert_true(json_is_object(c.plugins));
	assert_int_equal(json_object_size(c.plugins), 0);
	config_release(&c);
	config_release(&c); /* a released config can be released again */
}

static void test_empty_file_keeps_defaults(void **state)
{
	struct fixture *f = *state;

	expect_ok(f, "-- nothing here\nlocal x = 1\n");
	assert_string_equal(f->c.path, f->path);
	assert_string_equal(f->c.listen, "127.0.0.1:8080");
	assert_int_equal(f->c.lineage_max_depth, 10);
	assert_int_equal(json_array_size(f->c.services), 0);
}

static void test_full_file(void **state)
{
	struct fixture *f = *state;
	char secret_path[256];
	json_t *s, *p;

	snprintf(secret_path, sizeof(secret_path), "%s/pg.secret", f->dir);
	write_file(secret_path, "s3cret\n", 7);
	setenv("TEST_CONFIG_DSN", "postgres://u@db/shop", 1);
	unsetenv("TEST_CONFIG_UNSET");
	expect_ok(f, "-- a full configuration\n"
		     "local port = 9000 + 1\n"
		     "listen = '[::1]:' .. port\n"
		     "data_dir = env('TEST_CONFIG_UNSET') or '/var/lib/terrarium'\n"
		     "tls = { cert = '/etc/t/cert.pem', key = '/etc/t/key.pem' }\n"
		     "anonymous_reads = false\n"
		     "log_level = 'warn'\n"
		     "lineage = { max_depth = 5, hop_cap = 2000 }\n"
		     "http = { threads = 4, max_body = '64KiB' }\n"
		     "services = {\n"
		     "  { name = 'orders-db', group = 'Databases', type = 'postgres', port = 5432,\n"
		     "    weight = 1.5, primary = true, tags = { 'pii', 'core' },\n"
		     "    labels = { team = 'shop', [7] = 'seven' } },\n"
		     "  { name = 'kafka', empty = {} },\n"
		     "}\n"
		     "plugins = {\n"
		     "  postgres = { interval = 300, dsn = env('TEST_CONFIG_DSN'), password = "
		     "file('pg.secret') },\n"
		     "  airflow = {},\n"
		     "}\n");
	assert_string_equal(f->c.path, f->path);
	assert_string_equal(f->c.listen, "[::1]:9001");
	assert_string_equal(f->c.data_dir, "/var/lib/terrarium");
	assert_string_equal(f->c.tls_cert, "/etc/t/cert.pem");
	assert_string_equal(f->c.tls_key, "/etc/t/key.pem");
	assert_int_equal(f->c.anonymous_reads, 0);
	assert_int_equal(f->c.log_level, LOG_WARN);
	assert_int_equal(f->c.lineage_max_depth, 5);
	assert_int_equal(f->c.lineage_hop_cap, 2000);
	assert_int_equal(f->c.http_threads, 4);
	assert_int_equal(f->c.max_body, 65536);

	assert_int_equal(json_array_size(f->c.services), 2);
	s = json_array_get(f->c.services, 0);
	assert_string_equal(json_string_value(json_object_get(s, "name")), "orders-db");
	assert_string_equal(json_string_value(json_object_get(s, "group")), "Databases");
	assert_string_equal(json_string_value(json_object_get(s, "type")), "postgres");
	assert_true(json_is_integer(json_object_get(s, "port")));
	assert_int_equal(json_integer_value(json_object_get(s, "port")), 5432);
	assert_true(json_is_real(json_object_get(s, "weight")));
	assert_true(json_real_value(json_object_get(s, "weight")) == 1.5);
	assert_true(json_is_true(json_object_get(s, "primary")));
	assert_true(json_is_array(json_object_get(s, "tags")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "tags"), 1)), "core");
	/* A table with other keys than 1..n is an object; integer keys as text. */
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(s, "labels"), "team")), "shop");
	assert_string_equal(json_string_value(json_object_get(json_object_get(s, "labels"), "7")),
			    "seven");
	s = json_array_get(f->c.services, 1);
	assert_string_equal(json_string_value(json_object_get(s, "name")), "kafka");
	assert_true(json_is_object(json_object_get(s, "empty")));

	assert_int_equal(json_object_size(f->c.plugins), 2);
	p = json_object_get(f->c.plugins, "postgres");
	assert_int_equal(json_integer_value(json_object_get(p, "interval")), 300);
	assert_string_equal(json_string_value(json_object_get(p, "dsn")), "postgres://u@db/shop");
	assert_string_equal(json_string_value(json_object_get(p, "password")), "s3cret");
	assert_true(json_is_object(json_object_get(f->c.plugins, "airflow")));
	unsetenv("TEST_CONFIG_DSN");
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(config_load(&f->c, "/nonexistent/dir/terrarium.lua", f->err,
				     sizeof(f->err)),
			 -1);
	assert_string_equal(f->err, "cannot read config '/nonexistent/dir/terrarium.lua': "
				    "No such file or directory");
	/* A directory is not a config either. */
	assert_int_equal(config_load(&f->c, f->dir, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "cannot read config '"));
	assert_non_null(strstr(f->err, "Is a directory"));
}

static void test_syntax_and_runtime_errors(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "listen = '127.0.0.1:1'\n\nlineage = { max_depth = 5 \nhttp = {}\n",
		     "4: '}' expected (to close '{' at line 3) near 'http'");
	expect_error(f, "local x = 1\nlisten = = 2\n", "2: unexpected symbol near '='");
	expect_error(f, "local t\nlocal u = 1\nlisten = t.host\n",
		     "3: attempt to index a nil value (local 't')");
	expect_error(f, "error('custom failure')\n", "1: custom failure");
	expect_error(f, "\n\nlisten = undefined_function()\n",
		     "3: attempt to call a nil value (global 'undefined_function')");
}

static void test_unknown_keys(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "listen = '127.0.0.1:1'\nlistn = '127.0.0.1:2'\n",
		     "2: key 'listn': unknown key");
	/* A global helper function is an unknown key too: helpers are local. */
	expect_error(f, "\n\n\nfunction helper() return 1 end\n", "4: key 'helper': unknown key");
	expect_error(f, "lineage = { max_depth = 3, maxdepth = 4 }\n",
		     "1: key 'lineage.maxdepth': unknown key");
	expect_error(f, "http = { threads = 2, body = 1 }\n", "1: key 'http.body': unknown key");
	expect_error(f, "tls = { cert = 'a', key = 'b', ca = 'c' }\n", "1: key 'tls.ca': unknown key");
	expect_error(f, "_G[42] = 1\n", "1: key '42': unknown key");
	/* With two bad keys, the first line's is reported. */
	expect_error(f, "local a = 1\nzzz = 1\naaa = 2\n", "2: key 'zzz': unknown key");
}

static void test_wrong_types(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "-- comment\n\nlisten = 8080\n",
		     "3: key 'listen': expected HOST:PORT, got 8080");
	expect_error(f, "listen = 'abc'\n", "1: key 'listen': expected HOST:PORT, got 'abc'");
	expect_error(f, "data_dir = 'x'\nanonymous_reads = 'yes'\n",
		     "2: key 'anonymous_reads': expected a boolean, got string");
	expect_error(f, "\nlineage = { max_depth = 'deep' }\n",
		     "2: key 'lineage.max_depth': expected an integer, got string");
	expect_error(f, "lineage = { max_depth = 2.5 }\n",
		     "1: key 'lineage.max_depth': expected an integer, got 2.5");
	expect_error(f, "lineage = { max_depth = 0 }\n",
		     "1: key 'lineage.max_depth': expected an integer from 1 to 100, got 0");
	expect_error(f, "lineage = 10\n", "1: key 'lineage': expected a table, got number");
	expect_error(f, "data_dir = ''\n",
		     "1: key 'data_dir': expected a non-empty string without NUL bytes");
	expect_error(f, "data_dir = {}\n", "1: key 'data_dir': expected a string, got table");
	expect_error(f, "log_level = 'verbose'\n",
		     "1: key 'log_level': expected debug, info, warn or error, got 'verbose'");
	expect_error(f, "tls = { cert = '/c.pem' }\n",
		     "1: key 'tls.key': missing (tls needs cert and key)");
	expect_error(f, "http = { threads = 0 }\n",
		     "1: key 'http.threads': expected an integer from 1 to 256, got 0");
	expect_error(f, "http = { max_body = '8MB' }\n",
		     "1: key 'http.max_body': expected a size from 1 byte to 1GiB such as 65536, "
		     "\"64KiB\" or \"8MiB\", got '8MB'");
	expect_error(f, "http = { max_body = true }\n",
		     "1: key 'http.max_body': expected a size, got boolean");
	/* A float with an integral value is an integer. */
	expect_ok(f, "lineage = { max_depth = 7.0 }\nhttp = { max_body = 1000 }\n");
	assert_int_equal(f->c.lineage_max_depth, 7);
	assert_int_equal(f->c.max_body, 1000);
}

static void test_line_of_last_assignment(void **state)
{
	struct fixture *f = *state;

	/* The error names the assignment that set the bad value. */
	expect_error(f, "listen = '127.0.0.1:1'\nlocal x = 2\nlisten = 5\n",
		     "3: key 'listen': expected HOST:PORT, got 5");
	expect_error(f, "local function set() anonymous_reads = 1 end\nlocal y = 0\nset()\n",
		     "1: key 'anonymous_reads': expected a boolean, got number");
	/* Assigned through _G the same. */
	expect_error(f, "\n_G.log_level = 'loud'\n",
		     "2: key 'log_level': expected debug, info, warn or error, got 'loud'");
	/* A value read back from the config. */
	expect_ok(f, "listen = '127.0.0.1:7'\ndata_dir = listen .. '-dir'\n");
	assert_string_equal(f->c.data_dir, "127.0.0.1:7-dir");
}

static void test_lines_of_multiline_tables(void **state)
{
	struct fixture *f = *state;

	/* Lua stores a table after its closing brace; errors name the line the
	 * statement starts on, or the line of the bad field. */
	expect_error(f, "local x = 1\nlineage = {\n  hop_cap = 5,\n  max_depth = 'deep',\n}\n",
		     "4: key 'lineage.max_depth': expected an integer, got string");
	expect_error(f, "http = {\n  threads = 4,\n  max_body = '8MB',\n}\n",
		     "3: key 'http.max_body': expected a size from 1 byte to 1GiB such as 65536, "
		     "\"64KiB\" or \"8MiB\", got '8MB'");
	expect_error(f, "\ntls = {\n  cert = 'a',\n  keyy = 'b',\n}\n",
		     "4: key 'tls.keyy': unknown key");
	expect_error(f, "\n\nservices = {\n  { name = 'a' },\n  { name = 'a' },\n}\n",
		     "3: key 'services[2].name': duplicate service name 'a'");
	expect_error(f, "plugins = {\n  pg = {\n    x = function() end,\n  },\n}\n",
		     "1: key 'plugins.pg.x': expected a string, number, boolean or table, got "
		     "function");
	expect_error(f, "anonymous_reads =\n  'no'\n",
		     "1: key 'anonymous_reads': expected a boolean, got string");
}

static void test_services_and_plugins_errors(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "services = { name = 'x' }\n",
		     "1: key 'services': expected a list of tables { name = ..., ... }");
	expect_error(f, "services = { 'x' }\n",
		     "1: key 'services[1]': expected a table { name = ..., ... }");
	expect_error(f, "services = { { name = 'a' }, { type = 'pg' } }\n",
		     "1: key 'services[2].name': missing");
	expect_error(f, "services = { { name = 5 } }\n",
		     "1: key 'services[1].name': expected a non-empty string");
	expect_error(f, "services = { { name = 'a' }, { name = 'a' } }\n",
		     "1: key 'services[2].name': duplicate service name 'a'");
	expect_error(f, "\nservices = { { name = 'a', check = function() end } }\n",
		     "2: key 'services[1].check': expected a string, number, boolean or table, got "
		     "function");
	expect_error(f, "services = { { name = 'a', x = 0/0 } }\n",
		     "1: key 'services[1].x': not a finite number");
	expect_error(f, "services = { { name = 'a', [true] = 1 } }\n",
		     "1: key 'services[1]': a table key must be a string or an integer, not a "
		     "boolean");
	expect_error(f, "services = { { name = 'a', bad = '\\xff' } }\n",
		     "1: key 'services[1].bad': string is not valid UTF-8");
	expect_error(f, "plugins = { postgres = 5 }\n",
		     "1: key 'plugins.postgres': expected a table of settings, got number");
	expect_error(f, "plugins = { { interval = 5 } }\n",
		     "1: key 'plugins[1]': expected a table of settings, got table");
	expect_error(f, "plugins = { pg = { 1, 2 } }\n",
		     "1: key 'plugins.pg': expected a table of settings, got a list");
	expect_ok(f, "services = {}\nplugins = {}\n");
	assert_true(json_is_array(f->c.services));
	assert_int_equal(json_array_size(f->c.services), 0);
	assert_true(json_is_object(f->c.plugins));
}

static void test_nesting_bounded(void **state)
{
	struct fixture *f = *state;
	char msg[256];

	/* A cycle, and plain deep nesting. */
	if (load(f, "local t = {} t.t = t\nplugins = { p = t }\n") == 0)
		fail_msg("a cyclic table loaded");
	assert_non_null(strstr(f->err, ":2: key 'plugins.p.t.t.t"));
	assert_non_null(strstr(f->err, "': tables nested deeper than 32 levels"));
	if (load(f, "local t = {} for i = 1, 40 do t = { t } end\nservices = { { name = 'a', x = t } "
		    "}\n") == 0)
		fail_msg("deep nesting loaded");
	snprintf(msg, sizeof(msg), "tables nested deeper than 32 levels");
	assert_non_null(strstr(f->err, msg));
	/* 30 levels are fine. */
	expect_ok(f, "local t = {} for i = 1, 28 do t = { t } end\nplugins = { p = { x = t } }\n");
}

static void test_failed_load_keeps_config(void **state)
{
	struct fixture *f = *state;

	expect_ok(f, "listen = '0.0.0.0:81'\nservices = { { name = 'kept' } }\n");
	assert_int_equal(load(f, "listen = '0.0.0.0:82'\nservices = { { name = 'new' } }\nbad = 1\n"),
			 -1);
	assert_string_equal(f->c.listen, "0.0.0.0:81");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(f->c.services, 0), "name")), "kept");
	/* Loading over a loaded config keeps what the new file does not set. */
	expect_ok(f, "data_dir = '/d'\n");
	assert_string_equal(f->c.listen, "0.0.0.0:81");
	assert_string_equal(f->c.data_dir, "/d");
}

static void test_parse_listen(void **state)
{
	static const char *const bad[] = {
		"", "abc", ":80", "host:", "host:65536", "host:-1", "host:80x", "host: 80",
		"[::1]", "[::1]80", "::1:80", "[zz::1]:80", "[]:80", "host :80", "ho/st:80",
		"host:123456", "[127.0.0.1]:80",
	};
	char host[256];
	char small[4];
	int port = -1;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_listen(bad[i], host, sizeof(host), &port) == 0)
			fail_msg("'%s' parsed", bad[i]);
	assert_int_equal(config_parse_listen(NULL, host, sizeof(host), &port), -1);

	assert_int_equal(config_parse_listen("127.0.0.1:8080", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8080);
	assert_int_equal(config_parse_listen("[::1]:0", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(config_parse_listen("[fe80::1:2]:443", host, sizeof(host), &port), 0);
	assert_string_equal(host, "fe80::1:2");
	assert_int_equal(config_parse_listen("my-host.example_1:65535", host, sizeof(host), &port),
			 0);
	assert_string_equal(host, "my-host.example_1");
	assert_int_equal(port, 65535);
	assert_int_equal(config_parse_listen("0.0.0.0:00080", host, sizeof(host), &port), 0);
	assert_int_equal(port, 80);
	/* The host must fit. */
	assert_int_equal(config_parse_listen("localhost:80", small, sizeof(small), &port), -1);
	assert_int_equal(config_parse_listen("abc:80", small, sizeof(small), &port), 0);
	assert_string_equal(small, "abc");
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		long long v;
	} good[] = {
		{"0", 0},
		{"123", 123},
		{"123B", 123},
		{"65536", 65536},
		{"64KiB", 65536},
		{"8MiB", 8LL << 20},
		{"8 MiB", 8LL << 20},
		{"1GiB", 1LL << 30},
		{"3000GiB", 3000LL << 30},
	};
	static const char *const bad[] = {
		"", "KiB", "8MB", "8KB", "8GB", "8mib", "1.5MiB", "-1", "+1", " 8", "8MiB ", "8  MiB",
		"8 ", "8k", "99999999999999999999", "9223372036854775807GiB", "8 MiBs",
	};
	long long v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		if (config_parse_size(good[i].s, &v) != 0)
			fail_msg("'%s' refused", good[i].s);
		assert_int_equal(v, good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_size(bad[i], &v) == 0)
			fail_msg("'%s' parsed as %lld", bad[i], v);
	assert_int_equal(config_parse_size(NULL, &v), -1);
}

static void test_env_and_file(void **state)
{
	struct fixture *f = *state;
	char p[256];
	char *big;
	size_t i;

	setenv("TEST_CONFIG_ENV", "from-env", 1);
	expect_ok(f, "data_dir = env('TEST_CONFIG_ENV')\n"
		     "listen = env('TEST_CONFIG_SURELY_UNSET') == nil and '127.0.0.1:5' or 'x'\n");
	assert_string_equal(f->c.data_dir, "from-env");
	assert_string_equal(f->c.listen, "127.0.0.1:5");
	expect_error(f, "data_dir = env(42)\n", "1: bad argument #1 to 'env' (string expected, got "
						"number)");

	/* file(): relative to the config's directory, absolute as given; one
	 * trailing newline (CRLF too) goes. */
	snprintf(p, sizeof(p), "%s/a.txt", f->dir);
	write_file(p, "line1\nline2\n\n", 13);
	snprintf(p, sizeof(p), "%s/crlf.txt", f->dir);
	write_file(p, "tok\r\n", 5);
	snprintf(p, sizeof(p), "%s/empty.txt", f->dir);
	write_file(p, "", 0);
	expect_ok(f, "plugins = { p = { a = file('a.txt'), crlf = file('crlf.txt'), "
		     "e = file('empty.txt') } }\n");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(f->c.plugins, "p"), "a")),
		"line1\nline2\n");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(f->c.plugins, "p"), "crlf")), "tok");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(f->c.plugins, "p"), "e")), "");
	{
		char text[512];

		snprintf(text, sizeof(text), "data_dir = file('%s/a.txt'):sub(1, 5)\n", f->dir);
		expect_ok(f, text);
		assert_string_equal(f->c.data_dir, "line1");
	}

	/* Missing, not regular, too big. */
	{
		char want[512];

		snprintf(want, sizeof(want),
			 "2: cannot read file '%s/nope.txt': No such file or directory", f->dir);
		expect_error(f, "local x = 1\ndata_dir = file('nope.txt')\n", want);
		snprintf(p, sizeof(p), "%s/sub", f->dir);
		assert_int_equal(mkdir(p, 0700), 0);
		snprintf(want, sizeof(want), "1: cannot read file '%s/sub': not a regular file",
			 f->dir);
		expect_error(f, "data_dir = file('sub')\n", want);
		expect_error(f, "data_dir = file('/dev/zero')\n",
			     "1: cannot read file '/dev/zero': not a regular file");
		big = malloc(1024 * 1024 + 1);
		assert_non_null(big);
		for (i = 0; i < 1024 * 1024 + 1; i++)
			big[i] = 'a';
		snprintf(p, sizeof(p), "%s/big.txt", f->dir);
		write_file(p, big, 1024 * 1024 + 1);
		free(big);
		snprintf(want, sizeof(want), "1: cannot read file '%s/big.txt': larger than 1 MiB",
			 f->dir);
		expect_error(f, "data_dir = file('big.txt')\n", want);
		/* Exactly 1 MiB is fine. */
		big = malloc(1024 * 1024);
		assert_non_null(big);
		memset(big, 'b', 1024 * 1024);
		write_file(p, big, 1024 * 1024);
		free(big);
		expect_ok(f, "data_dir = file('big.txt')\n");
		assert_int_equal(strlen(f->c.data_dir), 1024 * 1024);
	}
	unsetenv("TEST_CONFIG_ENV");
}

static void test_runaway_config_stopped(void **state)
{
	struct fixture *f = *state;
	char want[512];
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(load(f, "while true do end\n"), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	snprintf(want, sizeof(want), "%s: stopped: instruction limit of 10000000 exceeded", f->path);
	assert_string_equal(f->err, want);
	assert_true(t1.tv_sec - t0.tv_sec < 5);

	assert_int_equal(load(f, "local ok = pcall(function() while true do end end)\n"
				 "listen = '127.0.0.1:1'\n"),
			 -1);
	assert_string_equal(f->err, want);

	assert_int_equal(load(f, "local s = 'x' while true do s = s .. s end\n"), -1);
	snprintf(want, sizeof(want), "%s: stopped: out of memory (limit 16777216 bytes)", f->path);
	assert_string_equal(f->err, want);
}

static void test_sandbox_in_config(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "data_dir = io.open('/etc/passwd'):read('a')\n",
		     "1: attempt to index a nil value (global 'io')");
	expect_error(f, "os.execute('touch /tmp/terrarium-config-pwned')\n",
		     "1: attempt to call a nil value (field 'execute')");
	expect_error(f, "data_dir = os.getenv('HOME')\n",
		     "1: attempt to call a nil value (field 'getenv')");
	expect_error(f, "require('os')\n", "1: attempt to call a nil value (global 'require')");
	expect_error(f, "dofile('/etc/passwd')\n", "1: attempt to call a nil value (global 'dofile')");
	assert_int_equal(access("/tmp/terrarium-config-pwned", F_OK), -1);
	/* What a config may reasonably use still works. */
	expect_ok(f, "local parts = {} for w in ('a,b'):gmatch('[^,]+') do parts[#parts + 1] = w end\n"
		     "data_dir = '/data/' .. table.concat(parts, '-') .. os.date('!%Y', 0)\n");
	assert_string_equal(f->c.data_dir, "/data/a-b1970");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		T(test_empty_file_keeps_defaults),
		T(test_full_file),
		T(test_missing_file),
		T(test_syntax_and_runtime_errors),
		T(test_unknown_keys),
		T(test_wrong_types),
		T(test_line_of_last_assignment),
		T(test_lines_of_multiline_tables),
		T(test_services_and_plugins_errors),
		T(test_nesting_bounded),
		T(test_failed_load_keeps_config),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_parse_size),
		T(test_env_and_file),
		T(test_runaway_config_stopped),
		T(test_sandbox_in_config),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
