/*
 * The Lua collector runtime; see collector.h and docs/plugin-guide.md.
 *
 * A run: read the file, create a sandbox with the collector's limits, install
 * the API (a protected C function, so running out of memory while installing
 * is an ordinary failure), run the chunk, then write what it emitted in one
 * snapshot batch.  Emits land in a "sink": C-side JSON arrays, so they survive
 * a stopped state and cost the catalog nothing until commit.  The run's sink
 * is owned by collector_run(); the sinks of run_collector() in test files are
 * full userdata with a __gc, so a Lua error never leaks them.
 *
 * Every API function finds its run through a light userdata in the registry
 * (crun_key).  They hold no C resource across a call that may raise: a JSON
 * document is built first (luaapi_to_json() raises nothing), then either
 * handed to the sink or freed before luaL_error().
 */
#include "hub/collector.h"

#include <ctype.h>
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hub/config.h"
#include "hub/log.h"
#include "hub/luaapi.h"
#include "hub/plugins.h"
#include "hub/sandbox.h"
#include "hub/strbuf.h"

#define DEFAULT_INTERVAL_MS 300000L
#define DEFAULT_TIMEOUT_MS 60000L
#define DEFAULT_INSTR_MAX 5000000000L
#define DEFAULT_MEM_MAX ((size_t)64 * 1024 * 1024)
#define DEFAULT_MAX_FAILURES 5
#define MEM_MIN ((size_t)1024 * 1024)
#define LOG_LINE_MAX 2048
#define MODULE_NAME_MAX 64
#define SINK_META "terrarium.sink"
#define LOADED_KEY "terrarium.loaded"
#define MOCKS_KEY "terrarium.mocks"
#define TEST_OUTPUT_MAX ((size_t)1024 * 1024)

static const char crun_key = 'c';

/* --- names and settings --------------------------------------------------------------- */

int collector_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > COLLECTOR_NAME_MAX || name[0] < 'a' || name[0] > 'z')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return 0;
	return 1;
}

int collector_lib_dir(const char *path, char *out, size_t outlen)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -1;
	/* The collector's directory... */
	slash = strrchr(dir, '/');
	if (!slash)
		return snprintf(out, outlen, "../lib") >= (int)outlen ? -1 : 0;
	*slash = '\0';
	/* ...and its parent. */
	slash = strrchr(dir, '/');
	if (!slash)
		return snprintf(out, outlen, "lib") >= (int)outlen ? -1 : 0;
	slash[1] = '\0';
	return snprintf(out, outlen, "%slib", dir) >= (int)outlen ? -1 : 0;
}

/* A number of seconds under KEY into *MS, within (0, MAX_S]. */
static int seconds_key(const json_t *settings, const char *key, double max_s, long *ms, char *err,
		       size_t errlen)
{
	const json_t *v = json_object_get(settings, key);
	double s;

	if (!v)
		return 0;
	s = json_number_value(v);
	if (!json_is_number(v) || !(s > 0) || s > max_s) {
		snprintf(err, errlen, "%s: expected a number of seconds above 0 and at most %.0f",
			 key, max_s);
		return -1;
	}
	*ms = (long)ceil(s * 1000.0);
	return 0;
}

int collector_settings_parse(const json_t *settings, struct collector_settings *out, char *err,
			     size_t errlen)
{
	const json_t *v;

	out->interval_ms = DEFAULT_INTERVAL_MS;
	out->timeout_ms = DEFAULT_TIMEOUT_MS;
	out->instr_max = DEFAULT_INSTR_MAX;
	out->mem_max = DEFAULT_MEM_MAX;
	out->max_failures = DEFAULT_MAX_FAILURES;
	out->enabled = 1;
	if (!settings)
		return 0;
	if (!json_is_object(settings)) {
		snprintf(err, errlen, "settings: expected a table");
		return -1;
	}
	if (seconds_key(settings, "interval", 30 * 86400.0, &out->interval_ms, err, errlen) ||
	    seconds_key(settings, "timeout", 86400.0, &out->timeout_ms, err, errlen))
		return -1;
	if ((v = json_object_get(settings, "instr_max"))) {
		double n = json_number_value(v);

		if (!json_is_number(v) || !(n >= 1000) || n > 1e15) {
			snprintf(err, errlen, "instr_max: expected a number from 1000 to 1e15");
			return -1;
		}
		out->instr_max = (long)n;
	}
	if ((v = json_object_get(settings, "mem_max"))) {
		long long bytes = -1;

		if (json_is_integer(v))
			bytes = json_integer_value(v);
		else if (json_is_string(v) && config_parse_size(json_string_value(v), &bytes) < 0)
			bytes = -1;
		if (bytes < (long long)MEM_MIN || bytes > (1LL << 40)) {
			snprintf(err, errlen, "mem_max: expected a size from 1MiB to 1TiB "
					      "(bytes, or text such as \"64MiB\")");
			return -1;
		}
		out->mem_max = (size_t)bytes;
	}
	if ((v = json_object_get(settings, "max_failures"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000000) {
			snprintf(err, errlen, "max_failures: expected a whole number of at least 1");
			return -1;
		}
		out->max_failures = (int)json_integer_value(v);
	}
	if ((v = json_object_get(settings, "enabled"))) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "enabled: expected true or false");
			return -1;
		}
		out->enabled = json_is_true(v);
	}
	return 0;
}

static int secret_key(const char *key)
{
	static const char *const names[] = { "password", "token", "secret", "dsn", "api_key",
					     "apikey", "passwd", NULL };
	size_t n = strlen(key);

	for (int i = 0; names[i]; i++) {
		size_t m = strlen(names[i]);

		if (n >= m && strcasecmp(key + n - m, names[i]) == 0 &&
		    (n == m || key[n - m - 1] == '_' || key[n - m - 1] == '-'))
			return 1;
	}
	return 0;
}

/* Whether S holds "scheme://user:pass@". */
static int secret_url(const char *s)
{
	const char *p = strstr(s, "://");

	while (p) {
		const char *host = p + 3;
		size_t n = strcspn(host, "/?#@ ");

		if (host[n] == '@' && memchr(host, ':', n))
			return 1;
		p = strstr(host, "://");
	}
	return 0;
}

json_t *collector_redact(const json_t *settings)
{
	json_t *out = NULL;

	if (!settings)
		return json_object();
	if (json_is_object(settings)) {
		const char *key;
		json_t *v;

		out = json_object();
		json_object_foreach((json_t *)settings, key, v) {
			json_t *c = secret_key(key) ? json_string("***") : collector_redact(v);

			if (!c || json_object_set_new(out, key, c) != 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	if (json_is_array(settings)) {
		size_t i;
		json_t *v;

		out = json_array();
		json_array_foreach(settings, i, v) {
			if (json_array_append_new(out, collector_redact(v)) != 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	if (json_is_string(settings) && secret_url(json_string_value(settings)))
		return json_string("***");
	return json_deep_copy(settings);
}

/* --- sinks ---------------------------------------------------------------------------------- */

/* What a run (or one run_collector() of a test) emitted. */
struct sink {
	json_t *entities;      /* documents */
	json_t *ent_where;     /* "file:line" of each entity's emit */
	json_t *edges;
	json_t *edge_where;
	json_t *tile;          /* or NULL */
	json_t *metrics;       /* [{"name", "value", "labels"}] */
	json_t *logs;          /* [{"level", "msg", "fields"}] as kept */
	struct strbuf logtext; /* the kept lines, formatted */
	long fields;
	size_t bytes;
	int log_lines;
	long log_dropped;
	int is_main;           /* the run's own sink (its logs are echoed) */
};

static int sink_init(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	strbuf_init(&s->logtext, COLLECTOR_LOG_BYTES_MAX + LOG_LINE_MAX);
	s->entities = json_array();
	s->ent_where = json_array();
	s->edges = json_array();
	s->edge_where = json_array();
	s->metrics = json_array();
	s->logs = json_array();
	return s->entities && s->ent_where && s->edges && s->edge_where && s->metrics && s->logs
		       ? 0
		       : -1;
}

static void sink_release(struct sink *s)
{
	json_decref(s->entities);
	json_decref(s->ent_where);
	json_decref(s->edges);
	json_decref(s->edge_where);
	json_decref(s->tile);
	json_decref(s->metrics);
	json_decref(s->logs);
	strbuf_release(&s->logtext);
	memset(s, 0, sizeof(*s));
}

static int sink_gc(lua_State *L)
{
	struct sink *s = luaL_testudata(L, 1, SINK_META);

	if (s)
		sink_release(s);
	return 0;
}

/* Push a new sink as a userdata freed by the GC.  Raises on out of memory. */
static struct sink *sink_push(lua_State *L)
{
	struct sink *s = lua_newuserdatauv(L, sizeof(*s), 0);

	memset(s, 0, sizeof(*s));
	if (luaL_newmetatable(L, SINK_META)) {
		lua_pushcfunction(L, sink_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	if (sink_init(s) < 0)
		luaL_error(L, "out of memory");
	return s;
}

/* --- the run as seen from Lua -------------------------------------------------------------- */

struct test_state {
	int passed, failed;
	struct strbuf out;
};

struct crun {
	const struct collector_spec *spec;
	const struct collector_env *env;
	struct sink *cur;              /* where emits go now */
	struct test_state *test;       /* NULL outside test files */
};

static struct crun *crun_of(lua_State *L)
{
	struct crun *r;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &crun_key);
	r = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (!r)
		luaL_error(L, "the collector API is not available here");
	return r;
}

/* "file:line" of the Lua code that called the running C function. */
static void where(lua_State *L, char *out, size_t outlen)
{
	lua_Debug ar;

	snprintf(out, outlen, "?");
	for (int level = 1; level < 4; level++) {
		if (!lua_getstack(L, level, &ar))
			break;
		if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
			snprintf(out, outlen, "%s:%d", ar.short_src, ar.currentline);
			break;
		}
	}
}

/* Read a whole file (at most COLLECTOR_FILE_MAX bytes).  NULL with ERR. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			char *nb;

			if (cap > COLLECTOR_FILE_MAX) {
				snprintf(err, errlen, "cannot read '%s': larger than %zu bytes", path,
					 COLLECTOR_FILE_MAX);
				goto fail;
			}
			cap = cap ? cap * 2 : 16384;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				snprintf(err, errlen, "cannot read '%s': out of memory", path);
				goto fail;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (got == 0) {
			if (ferror(f)) {
				snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
				goto fail;
			}
			break;
		}
	}
	if (n > COLLECTOR_FILE_MAX) {
		snprintf(err, errlen, "cannot read '%s': larger than %zu bytes", path,
			 COLLECTOR_FILE_MAX);
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/* The chunk name of PATH: "@" and its base name, so errors read "pg.lua:12: ...". */
static void chunkname(const char *path, char *out, size_t outlen)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (outlen < 2)
		return;
	if (n > outlen - 2)
		n = outlen - 2;
	out[0] = '@';
	memcpy(out + 1, base, n);
	out[n + 1] = '\0';
}

/* --- emit ------------------------------------------------------------------------------------- */

/* Replace an empty object under KEY by an empty array (an empty Lua table). */
static void empty_to_array(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	if (json_is_object(v) && json_object_size(v) == 0)
		json_object_set_new(doc, key, json_array());
}

static int emit_doc(lua_State *L, const char *fn, const char *kind)
{
	struct crun *r = crun_of(L);
	struct sink *k = r->cur;
	char msg[768], id[CATALOG_ID_MAX + 1], at[300];
	size_t bytes = 0;
	json_t *doc, *v;
	const char *kd, *ns, *nm;

	luaL_checktype(L, 1, LUA_TTABLE);
	if (json_array_size(k->entities) >= COLLECTOR_ENTITIES_MAX)
		return luaL_error(L, "%s: more than %d entities in one run", fn,
				  COLLECTOR_ENTITIES_MAX);
	doc = luaapi_to_json(L, 1, "", &bytes, msg, sizeof(msg));
	if (!doc)
		return luaL_error(L, "%s: %s", fn, msg);
	if (!json_is_object(doc)) {
		snprintf(msg, sizeof(msg), "expected a document (a table of key = value)");
		goto fail;
	}
	empty_to_array(doc, "tags");
	empty_to_array(doc, "owners");
	empty_to_array(doc, "fields");
	if (kind) {
		v = json_object_get(doc, "kind");
		if (v && (!json_is_string(v) || strcmp(json_string_value(v), kind) != 0)) {
			snprintf(msg, sizeof(msg), "kind must be '%s' here (or absent)", kind);
			goto fail;
		}
		json_object_set_new(doc, "kind", json_string(kind));
	}
	v = json_object_get(doc, "id");
	kd = json_string_value(json_object_get(doc, "kind"));
	ns = json_string_value(json_object_get(doc, "namespace"));
	nm = json_string_value(json_object_get(doc, "name"));
	if (json_is_string(v)) {
		snprintf(id, sizeof(id), "%s", json_string_value(v));
	} else if (v) {
		snprintf(msg, sizeof(msg), "id: expected a string");
		goto fail;
	} else if (!kd || !ns || !nm || !*kd || !*ns || !*nm) {
		snprintf(msg, sizeof(msg), "kind, namespace and name are required (non-empty strings)");
		goto fail;
	} else if (catalog_id_format(kd, ns, nm, id, sizeof(id)) != 0) {
		snprintf(msg, sizeof(msg), "the id '%s:%s:...' would be longer than %d bytes", kd, ns,
			 CATALOG_ID_MAX);
		goto fail;
	}
	if (k->bytes + bytes > COLLECTOR_EMIT_BYTES_MAX) {
		snprintf(msg, sizeof(msg), "more than %zu bytes of documents in one run",
			 COLLECTOR_EMIT_BYTES_MAX);
		goto fail;
	}
	where(L, at, sizeof(at));
	if (json_array_append_new(k->ent_where, json_string(at)) != 0) {
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail;
	}
	if (json_array_append_new(k->entities, doc) != 0) {
		json_array_remove(k->ent_where, json_array_size(k->ent_where) - 1);
		doc = NULL;
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail;
	}
	v = json_object_get(doc, "fields");
	if (json_is_array(v))
		k->fields += (long)json_array_size(v);
	k->bytes += bytes;
	lua_pushstring(L, id);
	return 1;
fail:
	json_decref(doc);
	return luaL_error(L, "%s: %s", fn, msg);
}

static int l_emit_entity(lua_State *L)
{
	return emit_doc(L, "emit.entity", NULL);
}

static int l_emit_dataset(lua_State *L)
{
	return emit_doc(L, "emit.dataset", "dataset");
}

static int l_emit_job(lua_State *L)
{
	return emit_doc(L, "emit.job", "job");
}

static int l_emit_model(lua_State *L)
{
	return emit_doc(L, "emit.model", "model");
}

static int l_emit_service(lua_State *L)
{
	return emit_doc(L, "emit.service", "service");
}

static int l_emit_edge(lua_State *L)
{
	struct crun *r = crun_of(L);
	struct sink *k = r->cur;
	size_t slen, dlen, bytes = 0;
	const char *src = luaL_checklstring(L, 1, &slen);
	const char *dst = luaL_checklstring(L, 2, &dlen);
	const char *kind = luaL_optstring(L, 3, "lineage");
	char msg[600], at[300];
	json_t *props = NULL, *edge = NULL;

	if (strcmp(kind, "lineage") != 0 && strcmp(kind, "relationship") != 0)
		return luaL_argerror(L, 3, "expected \"lineage\" or \"relationship\"");
	if (slen == 0 || dlen == 0 || slen > CATALOG_ID_MAX || dlen > CATALOG_ID_MAX)
		return luaL_error(L, "emit.edge: ids must be 1 to %d bytes", CATALOG_ID_MAX);
	if (json_array_size(k->edges) >= COLLECTOR_EDGES_MAX)
		return luaL_error(L, "emit.edge: more than %d edges in one run", COLLECTOR_EDGES_MAX);
	if (!lua_isnoneornil(L, 4)) {
		luaL_checktype(L, 4, LUA_TTABLE);
		props = luaapi_to_json(L, 4, "properties", &bytes, msg, sizeof(msg));
		if (!props)
			return luaL_error(L, "emit.edge: %s", msg);
		if (!json_is_object(props)) {
			json_decref(props);
			return luaL_error(L, "emit.edge: properties: expected a table of key = value");
		}
	}
	edge = json_pack("{s:s%, s:s%, s:s}", "src", src, slen, "dst", dst, dlen, "kind", kind);
	if (!edge) {
		json_decref(props);
		return luaL_error(L, "emit.edge: ids must be UTF-8 text");
	}
	if (props)
		json_object_set_new(edge, "properties", props);
	where(L, at, sizeof(at));
	if (k->bytes + bytes + slen + dlen > COLLECTOR_EMIT_BYTES_MAX ||
	    json_array_append_new(k->edge_where, json_string(at)) != 0) {
		json_decref(edge);
		return luaL_error(L, "emit.edge: out of room for emitted data");
	}
	if (json_array_append_new(k->edges, edge) != 0) {
		json_array_remove(k->edge_where, json_array_size(k->edge_where) - 1);
		return luaL_error(L, "emit.edge: out of memory");
	}
	k->bytes += bytes + slen + dlen;
	return 0;
}

static int l_emit_id(lua_State *L)
{
	const char *kind = luaL_checkstring(L, 1);
	const char *ns = luaL_checkstring(L, 2);
	const char *name = luaL_checkstring(L, 3);
	char id[CATALOG_ID_MAX + 1];

	if (!*kind || !*ns || !*name)
		return luaL_error(L, "emit.id: kind, namespace and name must not be empty");
	if (catalog_id_format(kind, ns, name, id, sizeof(id)) != 0)
		return luaL_error(L, "emit.id: the id would be longer than %d bytes", CATALOG_ID_MAX);
	lua_pushstring(L, id);
	return 1;
}

/* --- tile and metric ---------------------------------------------------------------------- */

static int check_tile(json_t *t, char *msg, size_t msglen)
{
	static const char *const statuses[] = { "up", "down", "degraded", "unknown", NULL };
	const char *key;
	json_t *v;

	if (!json_is_object(t)) {
		snprintf(msg, msglen, "expected a table");
		return -1;
	}
	json_object_foreach(t, key, v) {
		if (strcmp(key, "status") == 0) {
			int ok = 0;

			for (int i = 0; statuses[i]; i++)
				ok |= json_is_string(v) && strcmp(json_string_value(v), statuses[i]) == 0;
			if (!ok) {
				snprintf(msg, msglen, "status: expected up, down, degraded or unknown");
				return -1;
			}
		} else if (strcmp(key, "title") == 0 || strcmp(key, "description") == 0) {
			if (!json_is_string(v) || json_string_length(v) > 4096) {
				snprintf(msg, msglen, "%s: expected a string (at most 4096 bytes)", key);
				return -1;
			}
		} else if (strcmp(key, "numbers") == 0) {
			const char *nk;
			json_t *nv;

			if (json_is_array(v) && json_array_size(v) == 0)
				continue;
			if (!json_is_object(v) || json_object_size(v) > 32) {
				snprintf(msg, msglen, "numbers: expected a table of at most 32 "
						      "label = value");
				return -1;
			}
			json_object_foreach(v, nk, nv) {
				if (!json_is_number(nv) && !json_is_string(nv) && !json_is_boolean(nv)) {
					snprintf(msg, msglen, "numbers.%.64s: expected a number or a string",
						 nk);
					return -1;
				}
			}
		} else {
			snprintf(msg, msglen, "unknown key '%.64s' (status, title, description, numbers)",
				 key);
			return -1;
		}
	}
	return 0;
}

static int l_tile(lua_State *L)
{
	struct crun *r = crun_of(L);
	char msg[512];
	json_t *t;

	luaL_checktype(L, 1, LUA_TTABLE);
	t = luaapi_to_json(L, 1, "", NULL, msg, sizeof(msg));
	if (!t)
		return luaL_error(L, "tile: %s", msg);
	if (check_tile(t, msg, sizeof(msg)) < 0) {
		json_decref(t);
		return luaL_error(L, "tile: %s", msg);
	}
	if (json_is_array(json_object_get(t, "numbers")))
		json_object_set_new(t, "numbers", json_object());
	if (!json_object_get(t, "status"))
		json_object_set_new(t, "status", json_string("unknown"));
	json_decref(r->cur->tile);
	r->cur->tile = t;
	return 0;
}

static int metric_name_valid(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

static int l_metric(lua_State *L)
{
	struct crun *r = crun_of(L);
	struct sink *k = r->cur;
	const char *name = luaL_checkstring(L, 1);
	double value = luaL_checknumber(L, 2);
	char msg[512];
	json_t *labels = NULL, *m, *item;
	const char *key;
	size_t i;

	if (!metric_name_valid(name, 100))
		return luaL_argerror(L, 1, "expected a metric name: [a-zA-Z_][a-zA-Z0-9_]*");
	if (!isfinite(value))
		return luaL_argerror(L, 2, "expected a finite number");
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		labels = luaapi_to_json(L, 3, "labels", NULL, msg, sizeof(msg));
		if (!labels)
			return luaL_error(L, "metric: %s", msg);
		if (json_is_array(labels) || json_object_size(labels) > 16) {
			json_decref(labels);
			return luaL_error(L, "metric: labels: expected a table of at most 16 "
					     "name = value");
		}
		/* Label values are text. */
		json_object_foreach(labels, key, item) {
			char text[64];

			if (!metric_name_valid(key, 64) || strcmp(key, "collector") == 0) {
				snprintf(msg, sizeof(msg), "label name '%.64s' is not valid (or is "
							   "'collector', which is set for you)", key);
				json_decref(labels);
				return luaL_error(L, "metric: %s", msg);
			}
			if (json_is_string(item))
				continue;
			if (json_is_integer(item))
				snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(item));
			else if (json_is_real(item))
				snprintf(text, sizeof(text), "%.17g", json_real_value(item));
			else if (json_is_boolean(item))
				snprintf(text, sizeof(text), "%s", json_is_true(item) ? "true" : "false");
			else {
				json_decref(labels);
				return luaL_error(L, "metric: labels.%s: expected a string or a number",
						  key);
			}
			json_object_set_new(labels, key, json_string(text));
		}
	} else {
		labels = json_object();
	}
	json_array_foreach(k->metrics, i, m) {
		if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0 &&
		    json_equal(json_object_get(m, "labels"), labels)) {
			json_object_set_new(m, "value", json_real(value));
			json_decref(labels);
			return 0;
		}
	}
	if (json_array_size(k->metrics) >= COLLECTOR_METRICS_MAX) {
		json_decref(labels);
		return luaL_error(L, "metric: more than %d series in one run", COLLECTOR_METRICS_MAX);
	}
	m = json_pack("{s:s, s:f, s:o}", "name", name, "value", value, "labels", labels);
	if (!m || json_array_append_new(k->metrics, m) != 0)
		return luaL_error(L, "metric: out of memory");
	return 0;
}

/* --- log ------------------------------------------------------------------------------------ */

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* A value as log text: strings as they are, anything else as JSON. */
static void value_text(json_t *v, char *out, size_t outlen)
{
	char *s;

	if (json_is_string(v)) {
		luaapi_clean_line(json_string_value(v), json_string_length(v), out, outlen);
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	luaapi_clean_line(s ? s : "?", s ? strlen(s) : 1, out, outlen);
	free(s);
}

/* Keep a log line (bounded) and echo it to the process log when asked. */
static void sink_log(struct crun *r, struct sink *k, int level, const char *msg, size_t msglen,
		     json_t *fields)
{
	char line[LOG_LINE_MAX], text[LOG_LINE_MAX], stamp[64];
	const char *kv[2 * 8];
	char vals[8][256];
	int nkv = 0;
	struct strbuf sb;
	struct timespec ts;
	struct tm tm;
	const char *key;
	json_t *v, *entry;

	luaapi_clean_line(msg, msglen, text, sizeof(text));
	strbuf_init(&sb, sizeof(line) - 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ts.tv_nsec / 1000000));
	strbuf_addf(&sb, "%s %s %s", stamp, level_names[level], text);
	json_object_foreach(fields, key, v) {
		char val[256];

		value_text(v, val, sizeof(val));
		strbuf_addf(&sb, strpbrk(val, " =\"") || !*val ? " %s=\"%s\"" : " %s=%s", key, val);
		if (nkv < 2 * 8) {
			snprintf(vals[nkv / 2], sizeof(vals[0]), "%s", val);
			kv[nkv] = key;
			kv[nkv + 1] = vals[nkv / 2];
			nkv += 2;
		}
	}
	snprintf(line, sizeof(line), "%s", sb.buf ? sb.buf : "");
	strbuf_release(&sb);
	if (k->is_main && r->env->echo_logs) {
		for (int i = nkv; i < 2 * 8; i++)
			kv[i] = NULL;
		log_event((enum log_level)level, text, "collector", r->spec->name, kv[0], kv[1],
			  kv[2], kv[3], kv[4], kv[5], kv[6], kv[7], kv[8], kv[9], kv[10], kv[11],
			  kv[12], kv[13], kv[14], kv[15], NULL);
	}
	if (k->is_main && r->test) {
		strbuf_addf(&r->test->out, "# %s\n", line);
		return;
	}
	if (k->log_lines >= COLLECTOR_LOG_LINES_MAX ||
	    k->logtext.len + strlen(line) + 1 > COLLECTOR_LOG_BYTES_MAX) {
		k->log_dropped++;
		return;
	}
	entry = json_pack("{s:s, s:s, s:O}", "level", level_names[level], "msg", text, "fields",
			  fields);
	if (!entry || json_array_append_new(k->logs, entry) != 0 ||
	    strbuf_addf(&k->logtext, "%s\n", line) < 0) {
		k->log_dropped++;
		return;
	}
	k->log_lines++;
}

static int l_log(lua_State *L)
{
	struct crun *r = crun_of(L);
	int level = (int)lua_tointeger(L, lua_upvalueindex(1));
	char msg[512];
	const char *text;
	size_t len;
	json_t *fields;

	luaL_checkany(L, 1);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	/* tostring() may raise (a __tostring): before FIELDS is built. */
	text = luaL_tolstring(L, 1, &len);
	if (lua_isnil(L, 2)) {
		fields = json_object();
	} else {
		fields = luaapi_to_json(L, 2, "fields", NULL, msg, sizeof(msg));
		if (!fields)
			return luaL_error(L, "log.%s: %s", level_names[level], msg);
		if (json_is_array(fields)) {
			json_decref(fields);
			return luaL_error(L, "log.%s: fields: expected a table of name = value",
					  level_names[level]);
		}
	}
	if (!fields)
		return luaL_error(L, "log.%s: out of memory", level_names[level]);
	sink_log(r, r->cur, level, text, len, fields);
	json_decref(fields);
	return 0;
}

/* print(...) writes an info log line instead of standard output. */
static int l_print(lua_State *L)
{
	struct crun *r = crun_of(L);
	int n = lua_gettop(L);
	luaL_Buffer b;
	json_t *none;

	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, ' ');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	none = json_object();
	if (none) {
		size_t len;
		const char *text = lua_tolstring(L, -1, &len);

		sink_log(r, r->cur, LOG_INFO, text, len, none);
		json_decref(none);
	}
	return 0;
}

/* --- require ------------------------------------------------------------------------------------ */

static int module_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MODULE_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* Load lib_dir/NAME.lua as a text chunk and push it.  1 pushed, 0 when there
 * is no such file, or raises. */
static int load_lib(lua_State *L, struct crun *r, const char *name)
{
	char path[4096], err[512], cname[300];
	size_t len;
	char *code;
	int st;

	if (!r->spec->lib_dir ||
	    snprintf(path, sizeof(path), "%s/%s.lua", r->spec->lib_dir, name) >= (int)sizeof(path))
		return 0;
	if (access(path, F_OK) != 0)
		return 0;
	code = read_file(path, &len, err, sizeof(err));
	if (!code)
		return luaL_error(L, "require: %s", err);
	chunkname(path, cname, sizeof(cname));
	/* lua_load runs protected: it returns rather than raises. */
	st = luaL_loadbufferx(L, code, len, cname, "t");
	free(code);
	if (st != LUA_OK)
		return lua_error(L);
	return 1;
}

static int l_require(lua_State *L)
{
	struct crun *r = crun_of(L);
	const char *name = luaL_checkstring(L, 1);
	int rc;

	lua_settop(L, 1);
	/* 2: mocks (tests) */
	lua_getfield(L, LUA_REGISTRYINDEX, MOCKS_KEY);
	if (lua_istable(L, 2) && lua_getfield(L, 2, name) != LUA_TNIL)
		return 1;
	lua_settop(L, 1);
	/* 2: the loaded modules */
	lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
	if (!lua_istable(L, 2))
		return luaL_error(L, "require: not available here");
	if (lua_getfield(L, 2, name) != LUA_TNIL) {
		if (lua_islightuserdata(L, -1) && lua_touserdata(L, -1) == &crun_key)
			return luaL_error(L, "require: module '%s' requires itself (a loop)", name);
		return 1;
	}
	lua_pop(L, 1);
	if (!module_name_valid(name))
		goto none;
	rc = r->env->plugins ? plugins_lua_require(r->env->plugins, name, L) : -1;
	if (rc == -2)
		return luaL_error(L, "require: the binding '%s' failed to open (see the log)", name);
	if (rc == 0) {
		lua_pushvalue(L, -1);
		lua_setfield(L, 2, name);
		return 1;
	}
	if (!load_lib(L, r, name))
		goto none;
	/* 3: the chunk.  Mark the module as loading, to catch loops. */
	lua_pushlightuserdata(L, (void *)&crun_key);
	lua_setfield(L, 2, name);
	lua_pushstring(L, name);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		/* Forget the "loading" mark, then pass the error on. */
		lua_pushnil(L);
		lua_setfield(L, 2, name);
		return lua_error(L);
	}
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, 2, name);
	return 1;
none:
	return luaL_error(L,
			  "require: no module '%s' (a collector may require the bindings that "
			  "plugins register, such as \"http\" and \"postgres\", and its own "
			  "helpers in %s/<name>.lua)",
			  name, r->spec->lib_dir ? r->spec->lib_dir : "lua/lib");
}

/* --- test files ------------------------------------------------------------------------------- */

/* Helpers of test files, in Lua: short and readable beats fast here. */
static const char test_prelude[] =
	"local function show(v, depth)\n"
	"  depth = depth or 0\n"
	"  if type(v) == 'string' then return string.format('%q', v) end\n"
	"  if v == json.null then return 'json.null' end\n"
	"  if type(v) ~= 'table' then return tostring(v) end\n"
	"  if depth > 3 then return '{...}' end\n"
	"  local keys = {}\n"
	"  for k in pairs(v) do keys[#keys + 1] = k end\n"
	"  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)\n"
	"  local parts = {}\n"
	"  for i, k in ipairs(keys) do\n"
	"    if i > 20 then parts[#parts + 1] = '...'; break end\n"
	"    local key = math.type(k) == 'integer' and '' or (tostring(k) .. ' = ')\n"
	"    parts[#parts + 1] = key .. show(v[k], depth + 1)\n"
	"  end\n"
	"  return '{' .. table.concat(parts, ', ') .. '}'\n"
	"end\n"
	"local function equal(a, b)\n"
	"  if a == b then return true end\n"
	"  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"
	"  for k, v in pairs(a) do if not equal(v, b[k]) then return false end end\n"
	"  for k in pairs(b) do if a[k] == nil then return false end end\n"
	"  return true\n"
	"end\n"
	"local function subset(want, got)\n"
	"  if type(want) ~= 'table' then return want == got end\n"
	"  if type(got) ~= 'table' then return false end\n"
	"  for k, v in pairs(want) do if not subset(v, got[k]) then return false end end\n"
	"  return true\n"
	"end\n"
	"local function prefix(msg) return msg and (tostring(msg) .. ': ') or '' end\n"
	"function assert_eq(actual, expected, msg)\n"
	"  if not equal(actual, expected) then\n"
	"    error(prefix(msg) .. 'expected ' .. show(expected) .. ', got ' .. show(actual), 2)\n"
	"  end\n"
	"end\n"
	"function assert_match(s, pattern, msg)\n"
	"  if type(s) ~= 'string' or not string.find(s, pattern) then\n"
	"    error(prefix(msg) .. 'expected a string matching ' .. show(pattern) .. ', got ' ..\n"
	"          show(s), 2)\n"
	"  end\n"
	"end\n"
	"function expect_emit(out, want)\n"
	"  if type(out) ~= 'table' or type(want) ~= 'table' then\n"
	"    error('expect_emit(out, want): out is what run_collector returned, want a table', 2)\n"
	"  end\n"
	"  local list = (want.src or want.dst) and out.edges or out.entities\n"
	"  for _, item in ipairs(list or {}) do\n"
	"    if subset(want, item) then return item end\n"
	"  end\n"
	"  error('expected an emitted ' .. ((want.src or want.dst) and 'edge' or 'entity') ..\n"
	"        ' like ' .. show(want) .. ' among ' .. #(list or {}), 2)\n"
	"end\n";

static int l_mock(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);

	luaL_checktype(L, 2, LUA_TTABLE);
	lua_getfield(L, LUA_REGISTRYINDEX, MOCKS_KEY);
	lua_pushvalue(L, 2);
	lua_setfield(L, -2, name);
	lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
	lua_pushnil(L);
	lua_setfield(L, -2, name);
	return 0;
}

/* Push what sink K holds as a table, for run_collector(). */
static void push_sink(lua_State *L, struct sink *k)
{
	lua_createtable(L, 0, 5);
	luaapi_push_json(L, k->entities);
	lua_setfield(L, -2, "entities");
	luaapi_push_json(L, k->edges);
	lua_setfield(L, -2, "edges");
	if (k->tile) {
		luaapi_push_json(L, k->tile);
		lua_setfield(L, -2, "tile");
	}
	luaapi_push_json(L, k->metrics);
	lua_setfield(L, -2, "metrics");
	luaapi_push_json(L, k->logs);
	lua_setfield(L, -2, "logs");
}

static int l_run_collector(lua_State *L)
{
	struct crun *r = crun_of(L);
	char err[512], cname[300];
	struct sink *saved, *k;
	size_t len;
	char *code;
	int st;

	if (!lua_isnoneornil(L, 1))
		luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	code = read_file(r->spec->path, &len, err, sizeof(err));
	if (!code) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	chunkname(r->spec->path, cname, sizeof(cname));
	st = luaL_loadbufferx(L, code, len, cname, "t"); /* 2: the chunk */
	free(code);
	if (st != LUA_OK) {
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	k = sink_push(L);               /* 3 */
	lua_getglobal(L, "config");     /* 4: the test's own config, restored after */
	if (lua_istable(L, 1))
		lua_pushvalue(L, 1);
	else if (r->spec->settings)
		luaapi_push_json(L, r->spec->settings);
	else
		lua_newtable(L);
	lua_setglobal(L, "config");
	lua_pushvalue(L, 2);
	saved = r->cur;
	r->cur = k;
	st = lua_pcall(L, 0, 0, 0);
	r->cur = saved;
	lua_pushvalue(L, 4);
	lua_setglobal(L, "config");
	if (st != LUA_OK) {
		/* nil, the error, and what it emitted before failing */
		if (lua_type(L, -1) != LUA_TSTRING) {
			lua_pop(L, 1);
			lua_pushstring(L, "(the collector raised a non-string error)");
		}
		lua_pushnil(L);
		lua_insert(L, -2);
		push_sink(L, k);
		return 3;
	}
	push_sink(L, k);
	return 1;
}

static int l_test(lua_State *L)
{
	struct crun *r = crun_of(L);
	const char *name = luaL_checkstring(L, 1);
	int n;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_settop(L, 2);
	lua_pushvalue(L, 2);
	n = r->test->passed + r->test->failed + 1;
	if (lua_pcall(L, 0, 0, 0) == LUA_OK) {
		r->test->passed++;
		strbuf_addf(&r->test->out, "ok %d - %s\n", n, name);
	} else {
		char text[1024];
		const char *msg = lua_tostring(L, -1);

		luaapi_clean_line(msg ? msg : "(error object is not a string)",
				  msg ? strlen(msg) : 30, text, sizeof(text));
		r->test->failed++;
		strbuf_addf(&r->test->out, "not ok %d - %s: %s\n", n, name, text);
	}
	return 0;
}

/* --- installing the API ---------------------------------------------------------------------- */

/* Runs protected, with the struct crun as its light userdata argument. */
static int install(lua_State *L)
{
	static const luaL_Reg emit_fns[] = {
		{ "entity", l_emit_entity },   { "dataset", l_emit_dataset }, { "job", l_emit_job },
		{ "model", l_emit_model },     { "service", l_emit_service }, { "edge", l_emit_edge },
		{ "id", l_emit_id },           { NULL, NULL },
	};
	struct crun *r = lua_touserdata(L, 1);

	lua_pushlightuserdata(L, r);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &crun_key);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, MOCKS_KEY);
	luaapi_open(L);
	luaL_newlib(L, emit_fns);
	lua_setglobal(L, "emit");
	lua_register(L, "tile", l_tile);
	lua_register(L, "metric", l_metric);
	lua_register(L, "print", l_print);
	lua_register(L, "require", l_require);
	lua_createtable(L, 0, 4);
	for (int i = 0; i < 4; i++) {
		lua_pushinteger(L, i);
		lua_pushcclosure(L, l_log, 1);
		lua_setfield(L, -2, level_names[i]);
	}
	lua_setglobal(L, "log");
	if (r->spec->settings)
		luaapi_push_json(L, r->spec->settings);
	else
		lua_newtable(L);
	lua_setglobal(L, "config");
	if (r->test) {
		lua_register(L, "run_collector", l_run_collector);
		lua_register(L, "mock", l_mock);
		lua_register(L, "test", l_test);
		if (luaL_loadbufferx(L, test_prelude, sizeof(test_prelude) - 1, "=test helpers",
				     "t") != LUA_OK)
			return lua_error(L);
		lua_call(L, 0, 0);
	}
	return 0;
}

/* A sandbox for SPEC with the API installed, or NULL with ERR. */
static struct sandbox *open_state(struct crun *r, char *err, size_t errlen)
{
	const struct collector_settings *set = &r->spec->set;
	struct sandbox_limits lim = {
		.mem_max = set->mem_max ? set->mem_max : DEFAULT_MEM_MAX,
		.instr_max = set->instr_max > 0 ? set->instr_max : DEFAULT_INSTR_MAX,
		.wall_ms = set->timeout_ms > 0 ? set->timeout_ms : DEFAULT_TIMEOUT_MS,
	};
	struct sandbox *sb = sandbox_create(&lim, err, errlen);
	lua_State *L;

	if (!sb)
		return NULL;
	L = sandbox_state(sb);
	if (!lua_checkstack(L, 2)) {
		snprintf(err, errlen, "cannot set up the collector API: out of memory");
		goto fail;
	}
	lua_pushcfunction(L, install);
	lua_pushlightuserdata(L, r);
	if (sandbox_call(sb, 1, 0, err, errlen) != 0) {
		char why[COLLECTOR_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "cannot set up the collector API: %.900s", why);
		goto fail;
	}
	return sb;
fail:
	sandbox_destroy(sb);
	return NULL;
}

/* --- a run ------------------------------------------------------------------------------------ */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write the sink in one snapshot batch.  0, or -1 with ERR. */
static int commit(struct catalog *cat, const char *source, struct sink *k,
		  struct catalog_batch_stats *stats, char *err, size_t errlen)
{
	struct catalog_batch *b = catalog_batch_begin(cat, source, 1);
	char why[512];
	size_t i;
	json_t *doc;
	int rc = -1;

	if (!b) {
		snprintf(err, errlen, "cannot start a write to the catalog");
		goto out;
	}
	json_array_foreach(k->entities, i, doc) {
		if (catalog_batch_entity(b, doc, why, sizeof(why)) != 0) {
			const char *id = json_string_value(json_object_get(doc, "id"));
			const char *name = json_string_value(json_object_get(doc, "name"));

			snprintf(err, errlen, "%s: emitted entity '%s' was refused: %s",
				 json_string_value(json_array_get(k->ent_where, i)),
				 id ? id : name ? name : "?", why);
			goto out;
		}
	}
	json_array_foreach(k->edges, i, doc) {
		if (catalog_batch_edge(b, json_string_value(json_object_get(doc, "src")),
				       json_string_value(json_object_get(doc, "dst")),
				       json_string_value(json_object_get(doc, "kind")),
				       json_object_get(doc, "properties"), why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: emitted edge was refused: %s",
				 json_string_value(json_array_get(k->edge_where, i)), why);
			goto out;
		}
	}
	rc = catalog_batch_commit(b, stats, why, sizeof(why));
	b = NULL;
	if (rc != 0) {
		snprintf(err, errlen, "cannot commit to the catalog: %s", why);
		rc = -1;
	}
out:
	catalog_batch_abort(b);
	return rc;
}

int collector_run(const struct collector_spec *spec, const struct collector_env *env,
		  struct collector_result *out)
{
	struct crun r = { .spec = spec, .env = env };
	struct sink k;
	struct sandbox *sb = NULL;
	char err[COLLECTOR_ERROR_MAX] = "", cname[300], source[64];
	char *code = NULL;
	size_t len = 0;
	long long t0 = mono_ms();
	int ok = 0;

	memset(out, 0, sizeof(*out));
	out->started_at = now_ms();
	if (sink_init(&k) < 0) {
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	k.is_main = 1;
	r.cur = &k;
	if (!collector_name_valid(spec->name)) {
		snprintf(err, sizeof(err), "'%s' is not a valid collector name", spec->name);
		goto out;
	}
	snprintf(source, sizeof(source), "collector:%s", spec->name);
	code = read_file(spec->path, &len, err, sizeof(err));
	if (!code)
		goto out;
	sb = open_state(&r, err, sizeof(err));
	if (!sb)
		goto out;
	chunkname(spec->path, cname, sizeof(cname));
	if (sandbox_run(sb, code, len, cname, 0, err, sizeof(err)) != 0)
		goto out;
	out->mem_peak = sandbox_mem_peak(sb);
	/* Close the state before writing: finalizers (a binding's connections)
	 * run now, and the memory is given back before the commit. */
	sandbox_destroy(sb);
	sb = NULL;
	if (env->cat && commit(env->cat, source, &k, &out->stats, err, sizeof(err)) != 0)
		goto out;
	ok = 1;
out:
	if (sb)
		out->mem_peak = sandbox_mem_peak(sb);
	sandbox_destroy(sb);
	free(code);
	out->ok = ok;
	if (!ok) {
		/* Errors may carry bytes of the script's strings: keep them printable. */
		char clean[COLLECTOR_ERROR_MAX];

		luaapi_clean_line(err, strlen(err), clean, sizeof(clean));
		snprintf(out->error, sizeof(out->error), "%s", clean[0] ? clean : "failed");
	}
	out->entities = (long)json_array_size(k.entities);
	out->edges = (long)json_array_size(k.edges);
	out->fields = k.fields;
	out->log_lines = k.log_lines;
	out->log_dropped = k.log_dropped;
	out->log = strbuf_detach(&k.logtext, NULL);
	if (!out->log)
		out->log = strdup("");
	out->batch = json_pack("{s:s, s:b, s:o, s:o}", "source", source, "snapshot", 1,
			       "entities", k.entities ? json_incref(k.entities) : json_array(),
			       "edges", k.edges ? json_incref(k.edges) : json_array());
	out->tile = json_incref(k.tile);
	out->metrics = k.metrics ? json_incref(k.metrics) : json_array();
	sink_release(&k);
	out->ended_at = now_ms();
	out->duration_ms = (long)(mono_ms() - t0);
	return ok ? 0 : -1;
}

void collector_result_release(struct collector_result *r)
{
	if (!r)
		return;
	free(r->log);
	json_decref(r->batch);
	json_decref(r->tile);
	json_decref(r->metrics);
	r->log = NULL;
	r->batch = r->tile = r->metrics = NULL;
}

json_t *collector_result_counts(const struct collector_result *r)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "entities",
			 (json_int_t)r->entities, "edges", (json_int_t)r->edges, "fields",
			 (json_int_t)r->fields, "created", (json_int_t)r->stats.created, "changed",
			 (json_int_t)r->stats.changed, "staled", (json_int_t)r->stats.staled,
			 "metrics", (json_int_t)json_array_size(r->metrics), "log_dropped",
			 (json_int_t)r->log_dropped);
}

/* --- a test file ------------------------------------------------------------------------------- */

int collector_test(const struct collector_spec *spec, const char *test_path,
		   const struct collector_env *env, struct collector_test_result *out)
{
	struct collector_env tenv = { .cat = NULL, .plugins = env ? env->plugins : NULL };
	struct test_state ts = { 0 };
	struct crun r = { .spec = spec, .env = &tenv, .test = &ts };
	struct sink k;
	struct sandbox *sb = NULL;
	char err[COLLECTOR_ERROR_MAX] = "", cname[300];
	char *code = NULL;
	size_t len;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	strbuf_init(&ts.out, TEST_OUTPUT_MAX);
	if (sink_init(&k) < 0) {
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	k.is_main = 1;
	r.cur = &k;
	code = read_file(test_path, &len, err, sizeof(err));
	if (!code)
		goto out;
	sb = open_state(&r, err, sizeof(err));
	if (!sb)
		goto out;
	chunkname(test_path, cname, sizeof(cname));
	if (sandbox_run(sb, code, len, cname, 0, err, sizeof(err)) != 0)
		goto out;
	rc = ts.failed ? -1 : 0;
out:
	sandbox_destroy(sb);
	free(code);
	sink_release(&k);
	if (err[0]) {
		luaapi_clean_line(err, strlen(err), out->error, sizeof(out->error));
		strbuf_addf(&ts.out, "error: %s\n", out->error);
	}
	strbuf_addf(&ts.out, "%d passed, %d failed%s\n", ts.passed, ts.failed,
		    err[0] ? ", and the file stopped with an error" : "");
	out->passed = ts.passed;
	out->failed = ts.failed;
	out->output = strbuf_detach(&ts.out, NULL);
	if (!out->output)
		out->output = strdup("");
	return rc;
}

void collector_test_release(struct collector_test_result *r)
{
	if (!r)
		return;
	free(r->output);
	r->output = NULL;
}
