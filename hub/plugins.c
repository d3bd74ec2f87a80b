/* The native plugin host; see plugins.h and plugin.h. */
#include "hub/plugins.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "catalog/catalog.h"
#include "hub/api.h"
#include "hub/config.h"
#include "hub/http.h"
#include "hub/log.h"

#define PLUGINS_MAX 32
#define TASKS_MAX 8
#define METRICS_FNS_MAX 8
#define BINDINGS_MAX 32
#define NAME_MAX_LEN 31
#define LUA_MODULES_MAX 32

struct trm_task {
	struct trm_plugin_ctx *ctx;
	unsigned long seen_wake;        /* host->wake_gen when the task last woke */
	pthread_t thread;
	trm_task_fn fn;
	void *ud;
	char name[32];
};

struct binding {
	struct trm_plugin_ctx *ctx;
	trm_handler_fn fn;
	void *ud;
};

struct trm_plugin_ctx {
	struct plugins *host;
	const struct trm_plugin *desc;
	void *dl;                       /* dlopen handle, or NULL for built-ins */
	char dir[4096];
	char *config_text;
	json_t *settings;               /* borrowed from the config */
	json_t *tile;                   /* guarded by host->lock */
	struct trm_task tasks[TASKS_MAX];
	int ntasks;
	struct { trm_metrics_fn fn; void *ud; } metrics[METRICS_FNS_MAX];
	int nmetrics;
	struct binding bindings[BINDINGS_MAX];
	int nbindings;
	int initialised;
};

/* A Lua module a plugin registered for collectors. */
struct lua_module {
	char name[NAME_MAX_LEN + 1];
	int (*open)(lua_State *L);
	struct trm_plugin_ctx *ctx;
};

struct plugins {
	struct plugins_env env;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;
	unsigned long wake_gen;
	struct trm_plugin_ctx *ctx[PLUGINS_MAX];
	int n;
	struct lua_module lua_mods[LUA_MODULES_MAX]; /* guarded by lock */
	int nlua_mods;
};

/* --- the API table ------------------------------------------------------------ */

static void api_log(struct trm_plugin_ctx *ctx, enum trm_log_level level, const char *msg, ...)
{
	/* Re-pack the caller's pairs behind a "plugin" pair. */
	const char *kv[2 * 16 + 1];
	int n = 0;
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k || n >= 2 * 15)
			break;
		kv[n++] = k;
		kv[n++] = va_arg(ap, const char *);
	}
	va_end(ap);
	while (n < 2 * 16)
		kv[n++] = NULL;
	log_event((enum log_level)level, msg, "plugin", ctx->desc->name, kv[0], kv[1], kv[2], kv[3],
		  kv[4], kv[5], kv[6], kv[7], kv[8], kv[9], kv[10], kv[11], kv[12], kv[13], kv[14],
		  kv[15], kv[16], kv[17], kv[18], kv[19], kv[20], kv[21], kv[22], kv[23], kv[24],
		  kv[25], kv[26], kv[27], kv[28], kv[29], NULL);
}

static const char *api_config_json(struct trm_plugin_ctx *ctx)
{
	return ctx->config_text ? ctx->config_text : "{}";
}

static const char *api_config_string(struct trm_plugin_ctx *ctx, const char *key, const char *def)
{
	json_t *v = json_object_get(ctx->settings, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

static long long api_config_int(struct trm_plugin_ctx *ctx, const char *key, long long def)
{
	json_t *v = json_object_get(ctx->settings, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

static const char *api_data_dir(struct trm_plugin_ctx *ctx)
{
	return ctx->dir;
}

static void route_trampoline(struct http_req *req)
{
	struct binding *b = req->ud;
	b->fn((struct trm_req *)req, b->ud);
}

static int api_route(struct trm_plugin_ctx *ctx, const char *method, const char *pattern,
		     enum trm_scope need, trm_handler_fn fn, void *ud)
{
	char full[512];
	if (!ctx->host->env.srv || ctx->nbindings == BINDINGS_MAX || !pattern || pattern[0] != '/')
		return -1;
	if (pattern[1] == '/')
		snprintf(full, sizeof(full), "%s", pattern + 1);
	else
		snprintf(full, sizeof(full), "/api/v1/%s%s", ctx->desc->name,
			 strcmp(pattern, "/") == 0 ? "" : pattern);
	struct binding *b = &ctx->bindings[ctx->nbindings];
	b->ctx = ctx;
	b->fn = fn;
	b->ud = ud;
	if (http_route(ctx->host->env.srv, method, full, (enum auth_scope)need, route_trampoline, b) <
	    0)
		return -1;
	ctx->nbindings++;
	return 0;
}

static const char *api_req_method(struct trm_req *req)
{
	return ((struct http_req *)req)->method;
}

static const char *api_req_param(struct trm_req *req, int i)
{
	return i >= 0 && i < HTTP_PARAMS_MAX ? ((struct http_req *)req)->params[i] : NULL;
}

static int api_req_query(struct trm_req *req, const char *name, char *out, size_t outlen)
{
	return http_query((struct http_req *)req, name, out, outlen);
}

static const char *api_req_header(struct trm_req *req, const char *name)
{
	return http_header((struct http_req *)req, name);
}

static enum trm_scope api_req_scope(struct trm_req *req)
{
	return (enum trm_scope)((struct http_req *)req)->scope;
}

static long long api_req_content_length(struct trm_req *req)
{
	return http_content_length((struct http_req *)req);
}

static long api_req_read(struct trm_req *req, void *buf, size_t len)
{
	return http_read((struct http_req *)req, buf, len);
}

static void api_reply(struct trm_req *req, int status, const char *ctype, const void *body,
		      size_t len, const char *extra)
{
	http_reply((struct http_req *)req, status, ctype, body, len, extra);
}

static void api_reply_error(struct trm_req *req, int status, const char *error, const char *detail)
{
	http_error((struct http_req *)req, status, error, "%s", detail ? detail : "");
}

static int api_emit(struct trm_plugin_ctx *ctx, const char *json, char *err, size_t errlen)
{
	char buf[512] = "";
	json_error_t jerr;
	json_t *out = NULL;
	int rc = -1;
	json_t *doc = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		snprintf(buf, sizeof(buf), "malformed batch: %s", jerr.text);
		goto out;
	}
	if (api_batch_load(ctx->host->env.cat, doc, ctx->desc->name, &out, buf, sizeof(buf)) == 0)
		rc = 0;
out:
	if (rc != 0 && err)
		snprintf(err, errlen, "%s", buf);
	json_decref(out);
	json_decref(doc);
	return rc;
}

static int api_tile_set(struct trm_plugin_ctx *ctx, const char *json)
{
	json_t *tile = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(tile)) {
		json_decref(tile);
		return -1;
	}
	pthread_mutex_lock(&ctx->host->lock);
	json_decref(ctx->tile);
	ctx->tile = tile;
	pthread_mutex_unlock(&ctx->host->lock);
	return 0;
}

static int api_metrics_add(struct trm_plugin_ctx *ctx, trm_metrics_fn fn, void *ud)
{
	if (ctx->nmetrics == METRICS_FNS_MAX)
		return -1;
	ctx->metrics[ctx->nmetrics].fn = fn;
	ctx->metrics[ctx->nmetrics].ud = ud;
	ctx->nmetrics++;
	return 0;
}

static void api_buf_printf(struct trm_buf *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf((struct strbuf *)out, fmt, ap);
	va_end(ap);
}

static void *task_main(void *arg)
{
	struct trm_task *t = arg;
	t->fn(t, t->ud);
	return NULL;
}

static int api_task_start(struct trm_plugin_ctx *ctx, const char *name, trm_task_fn fn, void *ud)
{
	if (ctx->ntasks == TASKS_MAX)
		return -1;
	struct trm_task *t = &ctx->tasks[ctx->ntasks];
	t->ctx = ctx;
	t->fn = fn;
	t->ud = ud;
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "task");
	pthread_mutex_lock(&ctx->host->lock);
	t->seen_wake = ctx->host->wake_gen;
	pthread_mutex_unlock(&ctx->host->lock);
	if (pthread_create(&t->thread, NULL, task_main, t) != 0)
		return -1;
	ctx->ntasks++;
	return 0;
}

static int api_task_should_stop(struct trm_task *task)
{
	struct plugins *p = task->ctx->host;
	pthread_mutex_lock(&p->lock);
	int stop = p->stopping;
	pthread_mutex_unlock(&p->lock);
	return stop;
}

static int api_task_sleep(struct trm_task *task, long ms)
{
	struct plugins *p = task->ctx->host;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	/* A wake that came while the task was busy counts: it is not lost. */
	while (!p->stopping && task->seen_wake == p->wake_gen)
		if (pthread_cond_timedwait(&p->wake, &p->lock, &deadline) == ETIMEDOUT)
			break;
	task->seen_wake = p->wake_gen;
	int stop = p->stopping;
	pthread_mutex_unlock(&p->lock);
	return stop;
}

static void api_task_wake(struct trm_plugin_ctx *ctx)
{
	struct plugins *p = ctx->host;
	pthread_mutex_lock(&p->lock);
	p->wake_gen++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

static int valid_name(const char *s);

static int api_lua_module(struct trm_plugin_ctx *ctx, const char *name,
			  int (*open)(struct lua_State *L))
{
	struct plugins *p = ctx->host;
	int rc = -1;
	pthread_mutex_lock(&p->lock);
	if (!valid_name(name) || !open)
		goto out;
	if (p->nlua_mods == LUA_MODULES_MAX)
		goto out;
	for (int i = 0; i < p->nlua_mods; i++)
		if (strcmp(p->lua_mods[i].name, name) == 0)
			goto out;
	struct lua_module *m = &p->lua_mods[p->nlua_mods++];
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->open = open;
	m->ctx = ctx;
	rc = 0;
out:
	pthread_mutex_unlock(&p->lock);
	if (rc < 0)
		log_event(LOG_ERROR, "lua module not registered", "plugin", ctx->desc->name, "module",
			  name ? name : "", "detail",
			  valid_name(name) ? "name taken or too many modules" : "invalid name", NULL);
	return rc;
}

static const struct trm_api api_table = {
	.abi = TRM_PLUGIN_ABI,
	.size = sizeof(struct trm_api),
	.log = api_log,
	.config_json = api_config_json,
	.config_string = api_config_string,
	.config_int = api_config_int,
	.data_dir = api_data_dir,
	.route = api_route,
	.req_method = api_req_method,
	.req_param = api_req_param,
	.req_query = api_req_query,
	.req_header = api_req_header,
	.req_scope = api_req_scope,
	.req_content_length = api_req_content_length,
	.req_read = api_req_read,
	.reply = api_reply,
	.reply_error = api_reply_error,
	.emit = api_emit,
	.tile_set = api_tile_set,
	.metrics_add = api_metrics_add,
	.buf_printf = api_buf_printf,
	.task_start = api_task_start,
	.task_should_stop = api_task_should_stop,
	.task_sleep = api_task_sleep,
	.task_wake = api_task_wake,
	.lua_module = api_lua_module,
};

const struct trm_api *plugins_api(void)
{
	return &api_table;
}

/* --- the host ------------------------------------------------------------------------ */

struct plugins *plugins_create(const struct plugins_env *env)
{
	struct plugins *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->env = *env;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	return p;
}

static int valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > NAME_MAX_LEN || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int make_dirs(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(tmp, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

static void ctx_free(struct trm_plugin_ctx *ctx)
{
	if (!ctx)
		return;
	json_decref(ctx->tile);
	free(ctx->config_text);
	free(ctx);
}

static int add(struct plugins *p, const struct trm_plugin *desc, void *dl, char *err,
	       size_t errlen)
{
	struct trm_plugin_ctx *ctx = NULL;
	if (desc->abi != TRM_PLUGIN_ABI) {
		snprintf(err, errlen, "plugin '%s' has ABI version %d; this terrarium speaks %d",
			 desc->name && valid_name(desc->name) ? desc->name : "?", desc->abi,
			 TRM_PLUGIN_ABI);
		goto fail;
	}
	if (!valid_name(desc->name) || !desc->init) {
		snprintf(err, errlen, "plugin name '%s' is not valid (a-z, 0-9, _; 31 at most) or "
				      "it has no init", desc->name ? desc->name : "");
		goto fail;
	}
	for (int i = 0; i < p->n; i++)
		if (strcmp(p->ctx[i]->desc->name, desc->name) == 0) {
			snprintf(err, errlen, "plugin '%s' is loaded already", desc->name);
			goto fail;
		}
	if (p->n == PLUGINS_MAX) {
		snprintf(err, errlen, "too many plugins (at most %d)", PLUGINS_MAX);
		goto fail;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ctx->host = p;
	ctx->desc = desc;
	ctx->dl = dl;
	snprintf(ctx->dir, sizeof(ctx->dir), "%s/plugins/%s", p->env.data_dir, desc->name);
	if (make_dirs(ctx->dir) < 0) {
		snprintf(err, errlen, "plugin '%s': cannot create '%s': %s", desc->name, ctx->dir,
			 strerror(errno));
		goto fail;
	}
	if (p->env.cfg && p->env.cfg->plugins)
		ctx->settings = json_object_get(p->env.cfg->plugins, desc->name);
	ctx->config_text = ctx->settings ? json_dumps(ctx->settings, JSON_COMPACT) : NULL;
	p->ctx[p->n++] = ctx;
	if (desc->init(ctx, &api_table) != 0) {
		snprintf(err, errlen, "plugin '%s' failed to start (see its log lines)", desc->name);
		/* Its tasks may run already: it stays listed until destroy, but is
		 * marked as not initialised. */
		return -1;
	}
	ctx->initialised = 1;
	char ver[64];
	snprintf(ver, sizeof(ver), "%s", desc->version ? desc->version : "");
	log_event(LOG_INFO, "plugin loaded", "plugin", desc->name, "version", ver, "builtin",
		  dl ? "false" : "true", NULL);
	return 0;
fail:
	ctx_free(ctx);
	return -1;
}

int plugins_add(struct plugins *p, const struct trm_plugin *desc, char *err, size_t errlen)
{
	return add(p, desc, NULL, err, errlen);
}

int plugins_load_file(struct plugins *p, const char *path, char *err, size_t errlen)
{
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(err, errlen, "cannot load plugin '%s': %s", path, dlerror());
		return -1;
	}
	const struct trm_plugin *desc = dlsym(dl, "terrarium_plugin");
	if (!desc) {
		snprintf(err, errlen, "'%s' is not a terrarium plugin (no terrarium_plugin symbol)",
			 path);
		dlclose(dl);
		return -1;
	}
	int before = p->n;
	if (add(p, desc, dl, err, errlen) < 0) {
		if (p->n == before)
			dlclose(dl);
		return -1;
	}
	return 0;
}

int plugins_load_dir(struct plugins *p, const char *dir)
{
	DIR *d = opendir(dir);
	int loaded = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char path[4096], err[512];
		if (n < 4 || strcmp(e->d_name + n - 3, ".so") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (plugins_load_file(p, path, err, sizeof(err)) == 0)
			loaded++;
		else
			log_event(LOG_ERROR, "plugin not loaded", "path", path, "detail", err, NULL);
	}
	closedir(d);
	return loaded;
}

void plugins_destroy(struct plugins *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->n; i++)
		for (int t = 0; t < p->ctx[i]->ntasks; t++)
			pthread_join(p->ctx[i]->tasks[t].thread, NULL);
	for (int i = p->n - 1; i >= 0; i--) {
		struct trm_plugin_ctx *ctx = p->ctx[i];
		if (ctx->initialised && ctx->desc->fini)
			ctx->desc->fini(ctx);
		void *dl = ctx->dl;
		ctx_free(ctx);
		if (dl)
			dlclose(dl);
	}
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void plugins_metrics(struct plugins *p, struct strbuf *sb)
{
	for (int i = 0; p && i < p->n; i++)
		for (int m = 0; m < p->ctx[i]->nmetrics; m++)
			p->ctx[i]->metrics[m].fn((struct trm_buf *)sb, p->ctx[i]->metrics[m].ud);
}

json_t *plugins_tiles(struct plugins *p)
{
	json_t *list = json_array();
	if (!p)
		return list;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->n; i++) {
		if (!p->ctx[i]->tile)
			continue;
		json_t *t = json_deep_copy(p->ctx[i]->tile);
		json_object_set_new(t, "plugin", json_string(p->ctx[i]->desc->name));
		json_array_append_new(list, t);
	}
	pthread_mutex_unlock(&p->lock);
	return list;
}

json_t *plugins_list(struct plugins *p)
{
	json_t *list = json_array();
	for (int i = 0; p && i < p->n; i++) {
		const struct trm_plugin *d = p->ctx[i]->desc;
		json_array_append_new(
			list, json_pack("{s:s, s:s, s:s, s:b, s:b}", "name", d->name, "version",
					d->version ? d->version : "", "description",
					d->description ? d->description : "", "builtin",
					p->ctx[i]->dl == NULL, "running", p->ctx[i]->initialised));
	}
	return list;
}

int plugins_lua_require(struct plugins *p, const char *name, struct lua_State *L)
{
	int (*open)(lua_State *L) = NULL;
	char plugin[NAME_MAX_LEN + 1] = "";
	if (!p || !name || !L)
		return -1;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->nlua_mods; i++)
		if (strcmp(p->lua_mods[i].name, name) == 0 && p->lua_mods[i].ctx->initialised) {
			open = p->lua_mods[i].open;
			snprintf(plugin, sizeof(plugin), "%s", p->lua_mods[i].ctx->desc->name);
			break;
		}
	pthread_mutex_unlock(&p->lock);
	if (!open)
		return -1;
	if (!lua_checkstack(L, 2))
		return -2;
	lua_pushcfunction(L, open);
	if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
		char why[256];
		const char *msg = lua_tostring(L, -1);
		snprintf(why, sizeof(why), "%s", msg ? msg : "(error object is not a string)");
		lua_pop(L, 1);
		log_event(LOG_WARN, "lua module failed to open", "plugin", plugin, "module", name,
			  "detail", why, NULL);
		return -2;
	}
	if (!lua_istable(L, -1)) {
		lua_pop(L, 1);
		log_event(LOG_WARN, "lua module failed to open", "plugin", plugin, "module", name,
			  "detail", "open did not return a table", NULL);
		return -2;
	}
	return 0;
}
