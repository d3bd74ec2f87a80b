#ifndef TERRARIUM_PLUGINS_H
#define TERRARIUM_PLUGINS_H
/*
 * The plugin host: loads native plugins (hub/plugin.h) and gives them the
 * API table, backed by the HTTP server, the catalog and the config.
 */
#include <jansson.h>
#include <stddef.h>

#include "hub/plugin.h"
#include "hub/strbuf.h"

struct http_server;
struct catalog;
struct config;

struct plugins_env {
	struct http_server *srv;   /* borrowed; may be NULL for offline use (no routes) */
	struct catalog *cat;       /* borrowed */
	const struct config *cfg;  /* borrowed */
	const char *data_dir;      /* plugins get DATA_DIR/plugins/<name>/ */
};

struct plugins;

/* A host with no plugins yet.  ENV's pointers must outlive it.  NULL on OOM. */
struct plugins *plugins_create(const struct plugins_env *env);

/*
 * Stop every task (task_should_stop becomes 1, sleepers wake, threads are
 * joined), call each plugin's fini, unload shared objects, free.  Call after
 * the HTTP server has stopped.  NULL does nothing.
 */
void plugins_destroy(struct plugins *p);

/*
 * Check and initialise DESC (borrowed: must outlive P).  Refuses a wrong ABI
 * version, a bad or duplicate name, or a failing init, with ERR:
 *   "plugin 'x' has ABI version 2; this terrarium speaks 1"
 */
int plugins_add(struct plugins *p, const struct trm_plugin *desc, char *err, size_t errlen);

/* dlopen PATH and plugins_add() its `terrarium_plugin` symbol. */
int plugins_load_file(struct plugins *p, const char *path, char *err, size_t errlen);

/* Load every *.so in DIR (missing DIR is fine); failures are logged and
 * skipped.  Returns how many loaded. */
int plugins_load_dir(struct plugins *p, const char *dir);

/* Add the plugins compiled into this binary.  Returns how many loaded. */
int plugins_load_builtin(struct plugins *p);

/* Add only the client bindings compiled in (http, postgres, redis, kafka,
 * git): what `terrarium collect` needs.  Returns how many loaded. */
int plugins_load_bindings(struct plugins *p);

/* Append every plugin's metrics to SB. */
void plugins_metrics(struct plugins *p, struct strbuf *sb);

/* The plugins' dashboard tiles: a new JSON array of {"plugin", ...tile}. */
json_t *plugins_tiles(struct plugins *p);

/* The loaded plugins: a new JSON array of {"name","version","description","builtin"}. */
json_t *plugins_list(struct plugins *p);

struct lua_State;

/*
 * Push the Lua module NAME that a plugin registered with api->lua_module(),
 * opened in L: the plugin's open function is run under lua_pcall, so an
 * error in it never unwinds through the caller.  Returns 0 with the
 * module's table pushed; -1 with nothing pushed when no initialised plugin
 * registered NAME; -2 with nothing pushed when the open function raised or
 * did not return a table (logged with the reason).  Safe from any thread
 * (each with its own L) once the plugins are loaded.
 */
int plugins_lua_require(struct plugins *p, const char *name, struct lua_State *L);

/* The API table handed to plugins (exposed for tests). */
const struct trm_api *plugins_api(void);

#endif
