#ifndef TERRARIUM_PLUGIN_H
#define TERRARIUM_PLUGIN_H
/*
 * The native plugin API: the one header a plugin includes.
 *
 * A plugin is a `struct trm_plugin` descriptor.  Built-in plugins are
 * compiled into the binary; others are shared objects in the plugins
 * directory exporting the symbol `terrarium_plugin` (a struct trm_plugin).
 * The host refuses a descriptor whose `abi` is not TRM_PLUGIN_ABI.
 *
 * The plugin sees only opaque handles and the function table `struct
 * trm_api` handed to its init(); it never touches SQLite, CivetWeb or
 * Graphviz.  The table only ever grows at its end, and `api->size` tells how
 * much of it this host has (SQLite's sqlite3_api_routines).
 *
 * Threads: route handlers run on the HTTP server's worker threads, tasks on
 * their own threads; every api function is safe to call from any thread.
 *
 * Strings handed to the plugin are borrowed and valid for the call (request
 * accessors: until the handler returns).  Strings the plugin hands in are
 * copied.  Functions return 0 or -1 unless said otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define TRM_PLUGIN_ABI 1

/* Scopes a route may require (the same as the hub's). */
enum trm_scope {
	TRM_SCOPE_NONE = 0,   /* open to everyone */
	TRM_SCOPE_READ = 1,   /* open to anonymous callers too when anonymous reads are on */
	TRM_SCOPE_WRITE = 2,
	TRM_SCOPE_INGEST = 3, /* also accepts the token as ?key= */
	TRM_SCOPE_ADMIN = 4,
};

enum trm_log_level { TRM_LOG_DEBUG = 0, TRM_LOG_INFO, TRM_LOG_WARN, TRM_LOG_ERROR };

struct trm_plugin_ctx; /* the host's handle on one loaded plugin */
struct trm_req;        /* one HTTP request */
struct trm_task;       /* one background task */
struct trm_buf;        /* a bounded output buffer (metrics) */
struct lua_State;      /* a Lua 5.4 state (<lua.h>), for lua_module() */

typedef void (*trm_handler_fn)(struct trm_req *req, void *ud);
/* A background task: runs until trm_api.task_should_stop() says so. */
typedef void (*trm_task_fn)(struct trm_task *task, void *ud);
/* Append Prometheus text for this plugin's metrics to OUT. */
typedef void (*trm_metrics_fn)(struct trm_buf *out, void *ud);

struct trm_api {
	int abi;      /* TRM_PLUGIN_ABI */
	size_t size;  /* sizeof(struct trm_api) of the host */

	/* --- the plugin itself ------------------------------------------------- */
	/* Log MSG with (key, value) string pairs ending in NULL; the plugin's
	 * name is added. */
	void (*log)(struct trm_plugin_ctx *ctx, enum trm_log_level level, const char *msg, ...);
	/* The plugin's settings from the config (`plugins = { NAME = {...} }`) as
	 * compact JSON text ("{}" when none). */
	const char *(*config_json)(struct trm_plugin_ctx *ctx);
	/* A setting by key, or DEF when absent or not of that type. */
	const char *(*config_string)(struct trm_plugin_ctx *ctx, const char *key, const char *def);
	long long (*config_int)(struct trm_plugin_ctx *ctx, const char *key, long long def);
	/* A directory of the plugin's own under the data directory (created). */
	const char *(*data_dir)(struct trm_plugin_ctx *ctx);

	/* --- HTTP ----------------------------------------------------------------- */
	/*
	 * Route METHOD on PATTERN under the plugin's prefix "/api/v1/<name>"
	 * (PATTERN "/samples/{id}" serves "/api/v1/<name>/samples/{id}").  With
	 * PATTERN starting "//", it is taken from the root instead ("//raw" serves
	 * "/raw"): for compatibility routes only.  Segments "{x}" are parameters.
	 */
	int (*route)(struct trm_plugin_ctx *ctx, const char *method, const char *pattern,
		     enum trm_scope need, trm_handler_fn fn, void *ud);
	const char *(*req_method)(struct trm_req *req);
	/* Route parameter I (0-based), decoded. */
	const char *(*req_param)(struct trm_req *req, int i);
	/* Query parameter NAME decoded into OUT: its length, -1 absent, -2 too long. */
	int (*req_query)(struct trm_req *req, const char *name, char *out, size_t outlen);
	const char *(*req_header)(struct trm_req *req, const char *name);
	/* The caller's scope (TRM_SCOPE_NONE when anonymous). */
	enum trm_scope (*req_scope)(struct trm_req *req);
	/* The declared Content-Length, or -1 (chunked). */
	long long (*req_content_length)(struct trm_req *req);
	/* Read up to LEN body bytes: the count, 0 at the end, -1 on error. */
	long (*req_read)(struct trm_req *req, void *buf, size_t len);
	/* Reply once: STATUS, CTYPE, BODY of LEN bytes, EXTRA header lines or NULL. */
	void (*reply)(struct trm_req *req, int status, const char *ctype, const void *body,
		      size_t len, const char *extra_headers);
	/* Reply {"error": ERROR, "detail": DETAIL}. */
	void (*reply_error)(struct trm_req *req, int status, const char *error, const char *detail);

	/* --- the catalog ------------------------------------------------------------ */
	/*
	 * Upsert entities and edges in one transaction, with the plugin's name as
	 * the source.  JSON is a batch document as POST /api/v1/entities takes it.
	 * ERR (may be NULL) gets the reason on failure.
	 */
	int (*emit)(struct trm_plugin_ctx *ctx, const char *json, char *err, size_t errlen);

	/* --- the dashboard ------------------------------------------------------------ */
	/*
	 * Set the plugin's dashboard tile: JSON object text with "status" ("up",
	 * "down", "degraded", "unknown"), "title", "description" and "numbers"
	 * ({label: value}).  Replaces the previous one.
	 */
	int (*tile_set)(struct trm_plugin_ctx *ctx, const char *json);

	/* --- metrics ---------------------------------------------------------------- */
	/* Call FN on every /metrics scrape. */
	int (*metrics_add)(struct trm_plugin_ctx *ctx, trm_metrics_fn fn, void *ud);
	/* Append formatted text to a metrics buffer. */
	void (*buf_printf)(struct trm_buf *out, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

	/* --- background tasks ---------------------------------------------------------- */
	/* Run FN on a thread of its own until the host stops. */
	int (*task_start)(struct trm_plugin_ctx *ctx, const char *name, trm_task_fn fn, void *ud);
	/* Whether the host is stopping; a task returns soon after this says 1. */
	int (*task_should_stop)(struct trm_task *task);
	/* Sleep up to MS milliseconds, waking early when the host stops or the
	 * task is woken; returns task_should_stop(). */
	int (*task_sleep)(struct trm_task *task, long ms);
	/* Wake the tasks of this plugin from task_sleep(). */
	void (*task_wake)(struct trm_plugin_ctx *ctx);

	/* --- Lua bindings (present when api->size covers it) --------------------------- */
	/*
	 * Register a Lua module NAME ([a-z][a-z0-9_]*, at most 31 characters,
	 * unique across all plugins) that Lua collectors get with require(NAME).
	 * Call it from init().  OPEN is called in the collector's own lua_State
	 * (a sandbox with a capped allocator, on a scheduler thread; several
	 * states may call it at once from different threads), in protected mode,
	 * once per state that requires the module; it must push exactly one
	 * table (the module) and return 1, and it may raise a Lua error.
	 * Functions of the module run on the same thread as the collector and
	 * must bound every blocking call with a timeout: the instruction hook
	 * cannot fire while C code blocks.  -1 when NAME is not valid or is taken.
	 */
	int (*lua_module)(struct trm_plugin_ctx *ctx, const char *name,
			  int (*open)(struct lua_State *L));
};

struct trm_plugin {
	int abi;                  /* TRM_PLUGIN_ABI */
	const char *name;         /* [a-z][a-z0-9_]*, at most 31 characters */
	const char *version;
	const char *description;
	/* Register routes, tasks, metrics; keep ctx and api.  0 or -1 (the host
	 * logs it and goes on without the plugin). */
	int (*init)(struct trm_plugin_ctx *ctx, const struct trm_api *api);
	/* Called after every task has returned and no handler runs; may be NULL. */
	void (*fini)(struct trm_plugin_ctx *ctx);
};

#endif
