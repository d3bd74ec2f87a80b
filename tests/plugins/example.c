/*
 * An example native plugin, built as a shared object by the test suite and
 * loaded with dlopen.  It includes only hub/plugin.h.
 *
 * Routes: GET /api/v1/example/hello?name=X -> {"hello": "X", "calls": N}
 *         POST /api/v1/example/echo (write) -> the body back
 *         POST /api/v1/example/sink (ingest) -> reads the body, answers a static
 *              200 {"ok":true} (the ingest benchmark's bare-server baseline)
 * It sets a tile, counts calls in a metric, runs a task that ticks, and
 * emits one entity into the catalog on init.
 *
 * Built with -DEXAMPLE_ABI=N to make a plugin of another ABI version.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "hub/plugin.h"

#ifndef EXAMPLE_ABI
#define EXAMPLE_ABI TRM_PLUGIN_ABI
#endif

static const struct trm_api *api;
static struct trm_plugin_ctx *self;
static atomic_long calls, ticks;

static void hello(struct trm_req *req, void *ud)
{
	(void)ud;
	char name[64] = "world", body[160];
	if (api->req_query(req, "name", name, sizeof(name)) == -2) {
		api->reply_error(req, 400, "bad parameter", "name: too long");
		return;
	}
	for (char *p = name; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '_';
	int n = snprintf(body, sizeof(body), "{\"hello\":\"%s\",\"calls\":%ld,\"ticks\":%ld}", name,
			 atomic_fetch_add(&calls, 1) + 1, atomic_load(&ticks));
	api->reply(req, 200, "application/json", body, (size_t)n, NULL);
}

static void echo(struct trm_req *req, void *ud)
{
	(void)ud;
	char buf[4096];
	size_t len = 0;
	long n;
	while ((n = api->req_read(req, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	api->reply(req, 200, "application/octet-stream", buf, len, NULL);
}

static void sink(struct trm_req *req, void *ud)
{
	(void)ud;
	char buf[16384];
	while (api->req_read(req, buf, sizeof(buf)) > 0)
		;
	api->reply(req, 200, "application/json", "{\"ok\":true}", 11, NULL);
}

static void metrics(struct trm_buf *out, void *ud)
{
	(void)ud;
	api->buf_printf(out, "# TYPE terrarium_example_calls_total counter\n"
			     "terrarium_example_calls_total %ld\n", atomic_load(&calls));
}

static void ticker(struct trm_task *task, void *ud)
{
	(void)ud;
	while (!api->task_sleep(task, 20))
		atomic_fetch_add(&ticks, 1);
}

static int init(struct trm_plugin_ctx *ctx, const struct trm_api *a)
{
	char err[256];
	api = a;
	self = ctx;
	if (api->route(ctx, "GET", "/hello", TRM_SCOPE_READ, hello, NULL) < 0 ||
	    api->route(ctx, "POST", "/echo", TRM_SCOPE_WRITE, echo, NULL) < 0 ||
	    api->route(ctx, "POST", "/sink", TRM_SCOPE_INGEST, sink, NULL) < 0 ||
	    api->metrics_add(ctx, metrics, NULL) < 0 ||
	    api->task_start(ctx, "ticker", ticker, NULL) < 0)
		return -1;
	api->tile_set(ctx, "{\"title\":\"Example\",\"status\":\"up\",\"numbers\":{\"answer\":42}}");
	if (api->emit(ctx, "{\"kind\":\"service\",\"namespace\":\"example://local\",\"name\":\"example\","
			   "\"description\":\"the example plugin\"}", err, sizeof(err)) < 0) {
		api->log(ctx, TRM_LOG_ERROR, "emit failed", "detail", err, NULL);
		return -1;
	}
	api->log(ctx, TRM_LOG_INFO, "example ready", "greeting", api->config_string(ctx, "greeting", "hi"),
		 NULL);
	return 0;
}

const struct trm_plugin terrarium_plugin = {
	.abi = EXAMPLE_ABI,
	.name = "example",
	.version = "1.0",
	.description = "an example plugin for the test suite",
	.init = init,
};
