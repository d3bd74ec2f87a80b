/*
 * The plugin host: the example .so is loaded with dlopen and called over real
 * HTTP on loopback; a plugin of another ABI version is refused; tiles,
 * metrics, tasks and catalog emits work; bad descriptors are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "hub/config.h"
#include "hub/http.h"
#include "hub/plugins.h"

struct fixture {
	char dir[64];
	struct catalog *cat;
	struct http_server *srv;
	struct plugins *plugins;
	struct config cfg;
};

static const char *so_path(const char *name, char *buf, size_t len)
{
	const char *build = getenv("BUILD");
	snprintf(buf, len, "%s/tests/plugins/%s", build && *build ? build : "build", name);
	return buf;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[128], err[256];
	snprintf(f->dir, sizeof(f->dir), "/tmp/terrarium-plugins-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/catalog.db", f->dir);
	f->cat = catalog_open(path, err, sizeof(err));
	assert_non_null(f->cat);
	config_init(&f->cfg);
	json_object_set_new(f->cfg.plugins, "example", json_pack("{s:s}", "greeting", "hello"));
	struct http_options opt = { .listen = "127.0.0.1:0", .threads = 4, .max_body = 1 << 20,
				    .anonymous_reads = 1 };
	f->srv = http_start(&opt, f->cat, err, sizeof(err));
	assert_non_null(f->srv);
	struct plugins_env env = { .srv = f->srv, .cat = f->cat, .cfg = &f->cfg, .data_dir = f->dir };
	f->plugins = plugins_create(&env);
	assert_non_null(f->plugins);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	http_stop(f->srv);
	plugins_destroy(f->plugins);
	catalog_close(f->cat);
	config_release(&f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

struct sink {
	char buf[8192];
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t add = size * n;
	if (s->len + add >= sizeof(s->buf))
		return 0;
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

static long get(struct fixture *f, const char *path, const char *post, struct sink *out)
{
	char url[256];
	long status = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_port(f->srv), path);
	CURL *c = curl_easy_init();
	memset(out, 0, sizeof(*out));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (post)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static void test_example_so_loads_and_serves(void **state)
{
	struct fixture *f = *state;
	char path[256], err[256] = "";
	struct sink s;
	assert_int_equal(plugins_load_file(f->plugins, so_path("example.so", path, sizeof(path)), err,
					   sizeof(err)), 0);
	assert_int_equal(get(f, "/api/v1/example/hello?name=terra", NULL, &s), 200);
	assert_non_null(strstr(s.buf, "\"hello\":\"terra\""));
	assert_non_null(strstr(s.buf, "\"calls\":1"));
	assert_int_equal(get(f, "/api/v1/example/hello", NULL, &s), 200);
	assert_non_null(strstr(s.buf, "\"calls\":2"));
	/* Its write route needs a token: anonymous callers are refused. */
	assert_int_equal(get(f, "/api/v1/example/echo", "x", &s), 401);
	assert_int_equal(get(f, "/api/v1/example/sink", "x", &s), 401);

	/* Its task runs: ticks grow while we wait. */
	usleep(150 * 1000);
	assert_int_equal(get(f, "/api/v1/example/hello", NULL, &s), 200);
	const char *t = strstr(s.buf, "\"ticks\":");
	assert_non_null(t);
	assert_true(atol(t + 8) >= 2);

	/* Its tile, its metrics, its listing, and what it emitted. */
	json_t *tiles = plugins_tiles(f->plugins);
	assert_int_equal(json_array_size(tiles), 1);
	json_t *tile = json_array_get(tiles, 0);
	assert_string_equal(json_string_value(json_object_get(tile, "plugin")), "example");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(tile, "numbers"), "answer")),
			 42);
	json_decref(tiles);
	struct strbuf sb;
	strbuf_init(&sb, 65536);
	plugins_metrics(f->plugins, &sb);
	assert_non_null(strstr(sb.buf, "terrarium_example_calls_total 3"));
	strbuf_release(&sb);
	json_t *list = plugins_list(f->plugins);
	assert_int_equal(json_array_size(list), 1);
	assert_false(json_is_true(json_object_get(json_array_get(list, 0), "builtin")));
	json_decref(list);
	json_t *doc = NULL;
	assert_int_equal(catalog_entity_get(f->cat, "service:example://local:example", &doc), 0);
	json_t *sources = json_object_get(doc, "sources"), *src;
	size_t i;
	int found = 0;
	json_array_foreach(sources, i, src)
		found |= json_is_string(src) && strcmp(json_string_value(src), "example") == 0;
	assert_true(found);
	json_decref(doc);
	/* Its data directory exists. */
	snprintf(path, sizeof(path), "%s/plugins/example", f->dir);
	assert_int_equal(access(path, F_OK), 0);
}

static void test_wrong_abi_refused(void **state)
{
	struct fixture *f = *state;
	char path[256], err[256] = "";
	struct sink s;
	assert_int_equal(plugins_load_file(f->plugins, so_path("example_abi99.so", path, sizeof(path)),
					   err, sizeof(err)), -1);
	assert_string_equal(err, "plugin 'example' has ABI version 99; this terrarium speaks 1");
	assert_int_equal(get(f, "/api/v1/example/hello", NULL, &s), 404);
	json_t *list = plugins_list(f->plugins);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

static void test_not_a_plugin_refused(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	assert_int_equal(plugins_load_file(f->plugins, "/nonexistent/x.so", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot load plugin '/nonexistent/x.so'"));
}

static int dummy_init(struct trm_plugin_ctx *ctx, const struct trm_api *api)
{
	(void)ctx;
	(void)api;
	return 0;
}

static void test_bad_descriptors_refused(void **state)
{
	struct fixture *f = *state;
	char err[256];
	/* The host keeps descriptors until it is destroyed: they must outlive it. */
	static const struct trm_plugin bad_name = { .abi = TRM_PLUGIN_ABI, .name = "Bad Name",
						    .init = dummy_init };
	static const struct trm_plugin no_init = { .abi = TRM_PLUGIN_ABI, .name = "noinit" };
	static const struct trm_plugin good = { .abi = TRM_PLUGIN_ABI, .name = "good",
						.init = dummy_init };
	assert_int_equal(plugins_add(f->plugins, &bad_name, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not valid"));
	assert_int_equal(plugins_add(f->plugins, &no_init, err, sizeof(err)), -1);
	assert_int_equal(plugins_add(f->plugins, &good, err, sizeof(err)), 0);
	assert_int_equal(plugins_add(f->plugins, &good, err, sizeof(err)), -1);
	assert_string_equal(err, "plugin 'good' is loaded already");
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_example_so_loads_and_serves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_abi_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_plugin_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_descriptors_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
