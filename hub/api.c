/* REST handlers; see api.h. */
#include "hub/api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/lineage.h"
#include "catalog/search.h"
#include "hub/assets.h"
#include "hub/health.h"
#include "hub/log.h"
#include "hub/openlineage.h"
#include "hub/plugins.h"
#include "hub/sched.h"
#include "hub/strbuf.h"

#define SOURCE_MAX 65 /* the catalog takes sources of 1..64 bytes */
#define COUNTS_TTL_S 30.0

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reply for a catalog error code RC about WHAT. */
static void reply_catalog_error(struct http_req *req, int rc, const char *what, const char *err)
{
	switch (rc) {
	case CATALOG_ENOTFOUND:
		http_error(req, 404, "not found", "%s", what);
		break;
	case CATALOG_EINVAL:
		http_error(req, 400, "invalid", "%s", err && *err ? err : what);
		break;
	default:
		log_event(LOG_ERROR, "catalog error", "what", what, "detail", err, NULL);
		http_error(req, 500, "internal", "the catalog failed: %s", err && *err ? err : what);
		break;
	}
}

/* --- probes and metrics --------------------------------------------------------- */

static void get_healthz(struct http_req *req)
{
	http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void get_readyz(struct http_req *req)
{
	struct api *api = req->ud;
	if (catalog_ping(api->cat) != 0) {
		http_error(req, 503, "not ready", "the catalog cannot be read");
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
}

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

static void get_metrics(struct http_req *req)
{
	struct api *api = req->ud;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct catalog_counts counts;
	static double counted_at = -1e9;
	char *text = NULL;
	size_t len = 0;
	struct strbuf sb;
	strbuf_init(&sb, 2 * 1024 * 1024);
	if (http_metrics(api->srv, &text, &len) < 0) {
		http_error(req, 500, "internal", "cannot format metrics");
		goto out;
	}
	strbuf_add(&sb, text, len);
	/* Counting a large catalog takes a while: do it at most every COUNTS_TTL_S. */
	pthread_mutex_lock(&lock);
	if (mono_s() - counted_at > COUNTS_TTL_S && catalog_counts(api->cat, &counts) == 0)
		counted_at = mono_s();
	struct catalog_counts c = counts;
	pthread_mutex_unlock(&lock);
	strbuf_addf(&sb,
		    "# HELP terrarium_catalog_entities Entities in the catalog, by kind.\n"
		    "# TYPE terrarium_catalog_entities gauge\n"
		    "terrarium_catalog_entities{kind=\"dataset\"} %ld\n"
		    "terrarium_catalog_entities{kind=\"job\"} %ld\n"
		    "terrarium_catalog_entities{kind=\"model\"} %ld\n"
		    "terrarium_catalog_entities{kind=\"service\"} %ld\n"
		    "terrarium_catalog_entities{kind=\"other\"} %ld\n"
		    "# HELP terrarium_catalog_stale_entities Entities marked stale.\n"
		    "# TYPE terrarium_catalog_stale_entities gauge\n"
		    "terrarium_catalog_stale_entities %ld\n"
		    "# HELP terrarium_catalog_fields Fields (columns) in the catalog.\n"
		    "# TYPE terrarium_catalog_fields gauge\nterrarium_catalog_fields %ld\n"
		    "# HELP terrarium_catalog_edges Edge assertions in the catalog.\n"
		    "# TYPE terrarium_catalog_edges gauge\nterrarium_catalog_edges %ld\n"
		    "# HELP terrarium_catalog_history Changes recorded.\n"
		    "# TYPE terrarium_catalog_history gauge\nterrarium_catalog_history %ld\n"
		    "# HELP terrarium_catalog_bytes Size of the catalog file.\n"
		    "# TYPE terrarium_catalog_bytes gauge\nterrarium_catalog_bytes %lld\n"
		    "# HELP terrarium_catalog_generation Changes committed since start.\n"
		    "# TYPE terrarium_catalog_generation counter\n"
		    "terrarium_catalog_generation %llu\n"
		    "# HELP terrarium_process_resident_bytes Resident memory.\n"
		    "# TYPE terrarium_process_resident_bytes gauge\n"
		    "terrarium_process_resident_bytes %ld\n"
		    "# HELP terrarium_uptime_seconds Seconds since start.\n"
		    "# TYPE terrarium_uptime_seconds gauge\nterrarium_uptime_seconds %.3f\n",
		    c.by_kind_dataset, c.by_kind_job, c.by_kind_model, c.by_kind_service,
		    c.by_kind_other, c.stale, c.fields, c.edges, c.history, c.file_bytes,
		    (unsigned long long)catalog_generation(api->cat), rss_bytes(),
		    mono_s() - api->started_at);
	plugins_metrics(api->plugins, &sb);
	if (api->sched)
		sched_metrics(api->sched, &sb);
	if (api->health)
		health_metrics(api->health, &sb);
	if (sb.failed) {
		http_error(req, 500, "internal", "cannot format metrics");
		goto out;
	}
	http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", sb.buf, sb.len,
		   "Cache-Control: no-store\r\n");
out:
	free(text);
	strbuf_release(&sb);
}

static void get_openapi(struct http_req *req)
{
	const struct web_asset *a = assets_find("/openapi.json", strlen("/openapi.json"));
	if (!a) {
		http_error(req, 404, "not found", "this build has no openapi document");
		return;
	}
	http_reply(req, 200, "application/json", a->data, a->len, NULL);
}

/* --- search ------------------------------------------------------------------------ */

/* Copy query parameter NAME into BUF; NULL when absent.  Replies 400 and sets
 * *BAD when it is too long. */
static const char *opt_param(struct http_req *req, const char *name, char *buf, size_t len,
			     int *bad)
{
	int n = http_query(req, name, buf, len);
	if (n == -2) {
		http_error(req, 400, "bad parameter", "%s: longer than %zu bytes", name, len - 1);
		*bad = 1;
	}
	return n >= 0 ? buf : NULL;
}

/* Parse a boolean parameter: 1, 0, or -1 when absent; -2 (after a 400) when bad. */
static int bool_param(struct http_req *req, const char *name)
{
	char buf[8];
	int n = http_query(req, name, buf, sizeof(buf));
	if (n == -1)
		return -1;
	if (n >= 0 && (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0))
		return 1;
	if (n >= 0 && (strcmp(buf, "false") == 0 || strcmp(buf, "0") == 0))
		return 0;
	http_error(req, 400, "bad parameter", "%s: expected true or false", name);
	return -2;
}

static void get_search(struct http_req *req)
{
	struct api *api = req->ud;
	char q[SEARCH_QUERY_MAX + 1], kind[64], platform[64], tag[256], owner[256], err[256] = "";
	int bad = 0;
	long limit, offset;
	struct search_query sq = { 0 };
	sq.q = opt_param(req, "q", q, sizeof(q), &bad);
	if (!bad)
		sq.kind = opt_param(req, "kind", kind, sizeof(kind), &bad);
	if (!bad)
		sq.platform = opt_param(req, "platform", platform, sizeof(platform), &bad);
	if (!bad)
		sq.tag = opt_param(req, "tag", tag, sizeof(tag), &bad);
	if (!bad)
		sq.owner = opt_param(req, "owner", owner, sizeof(owner), &bad);
	if (bad)
		return;
	sq.stale = bool_param(req, "stale");
	if (sq.stale == -2)
		return;
	if (http_query_int(req, "limit", 1, SEARCH_LIMIT_MAX, SEARCH_LIMIT_DEFAULT, &limit) < 0 ||
	    http_query_int(req, "offset", 0, 100000, 0, &offset) < 0)
		return;
	sq.limit = (int)limit;
	sq.offset = (int)offset;
	/* The answer is written as JSON text by search_run_text(), not built as
	 * jansson objects and dumped: that cost about a tenth of a search. */
	char *out = NULL;
	size_t outlen = 0;
	int rc = search_run_text(api->cat, &sq, &out, &outlen, err, sizeof(err));
	if (rc != 0) {
		reply_catalog_error(req, rc, "search failed", err);
		return;
	}
	http_reply(req, 200, "application/json", out, outlen, "Cache-Control: no-store\r\n");
	free(out);
}

/* --- entities ------------------------------------------------------------------------- */

static void get_entity(struct http_req *req)
{
	struct api *api = req->ud;
	json_t *doc = NULL;
	int rc = catalog_entity_get(api->cat, req->params[0], &doc);
	if (rc == CATALOG_ENOTFOUND) {
		http_error(req, 404, "not found", "no entity '%s'", req->params[0]);
		return;
	}
	if (rc != 0) {
		reply_catalog_error(req, rc, "cannot read the entity", NULL);
		return;
	}
	http_reply_json(req, 200, doc);
}

static void get_history(struct http_req *req)
{
	struct api *api = req->ud;
	long limit, offset;
	if (http_query_int(req, "limit", 1, 1000, 100, &limit) < 0 ||
	    http_query_int(req, "offset", 0, 1000000000L, 0, &offset) < 0)
		return;
	json_t *doc = NULL;
	int rc = catalog_entity_history(api->cat, req->params[0], (int)limit, (int)offset, &doc);
	if (rc == CATALOG_ENOTFOUND) {
		/*
		 * CivetWeb decodes the path, so ".../X%2Fhistory" arrives as
		 * ".../X/history".  When X is no entity but "X/history" is, the
		 * caller meant that entity.
		 */
		char id[CATALOG_ID_MAX + 16];
		snprintf(id, sizeof(id), "%s/history", req->params[0]);
		if (catalog_entity_get(api->cat, id, &doc) == 0) {
			http_reply_json(req, 200, doc);
			return;
		}
		http_error(req, 404, "not found", "no entity '%s'", req->params[0]);
		return;
	}
	if (rc != 0) {
		reply_catalog_error(req, rc, "cannot read the history", NULL);
		return;
	}
	http_reply_json(req, 200, doc);
}

static void patch_entity(struct http_req *req)
{
	struct api *api = req->ud;
	char err[256] = "", actor[64];
	json_t *patch = http_read_json(req);
	if (!patch)
		return;
	if (!json_is_object(patch)) {
		http_error(req, 400, "invalid", "the body must be a JSON object");
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(patch, key, v) {
		if (strcmp(key, "description") && strcmp(key, "tags") && strcmp(key, "owners")) {
			http_error(req, 400, "invalid",
				   "%s: cannot be edited (description, tags and owners can)", key);
			goto out;
		}
	}
	snprintf(actor, sizeof(actor), "user");
	int rc = catalog_entity_patch(api->cat, req->params[0], patch, actor, err, sizeof(err));
	if (rc == CATALOG_ENOTFOUND) {
		http_error(req, 404, "not found", "no entity '%s'", req->params[0]);
		goto out;
	}
	if (rc != 0) {
		reply_catalog_error(req, rc, "cannot edit the entity", err);
		goto out;
	}
	json_t *doc = NULL;
	rc = catalog_entity_get(api->cat, req->params[0], &doc);
	if (rc != 0) {
		reply_catalog_error(req, rc, "cannot read the entity", NULL);
		goto out;
	}
	http_reply_json(req, 200, doc);
out:
	json_decref(patch);
}

int api_batch_load(struct catalog *cat, json_t *doc, const char *source, json_t **out, char *err,
		   size_t errlen)
{
	int rc = CATALOG_EINVAL;
	int snapshot = 0;
	json_t *entities = NULL, *edges = NULL;
	char itemerr[256];
	struct catalog_batch *b = NULL;
	struct catalog_batch_stats st = { 0 };
	if (json_is_array(doc)) {
		entities = doc;
	} else if (json_is_object(doc) && (json_object_get(doc, "entities") ||
					   json_object_get(doc, "edges"))) {
		entities = json_object_get(doc, "entities");
		edges = json_object_get(doc, "edges");
		json_t *s = json_object_get(doc, "source");
		json_t *snap = json_object_get(doc, "snapshot");
		if ((entities && !json_is_array(entities)) || (edges && !json_is_array(edges))) {
			snprintf(err, errlen, "entities and edges must be arrays");
			goto out;
		}
		if (s && (!json_is_string(s) || json_string_length(s) == 0 ||
			  json_string_length(s) >= SOURCE_MAX ||
			  strcmp(json_string_value(s), "user") == 0)) {
			snprintf(err, errlen,
				 "source: expected a non-empty string under %d bytes, not 'user'",
				 SOURCE_MAX);
			goto out;
		}
		if (snap && !json_is_boolean(snap)) {
			snprintf(err, errlen, "snapshot: expected true or false");
			goto out;
		}
		if (s)
			source = json_string_value(s);
		snapshot = json_is_true(snap);
	} else if (json_is_object(doc)) {
		entities = NULL; /* a single entity document, handled below */
	} else {
		snprintf(err, errlen, "the body must be an entity, an array of entities, or "
				      "{\"entities\": [...], \"edges\": [...]}");
		goto out;
	}
	b = catalog_batch_begin(cat, source, snapshot);
	if (!b) {
		snprintf(err, errlen, "cannot start a write");
		rc = CATALOG_EIO;
		goto out;
	}
	if (!entities && !edges) {
		rc = catalog_batch_entity(b, doc, itemerr, sizeof(itemerr));
		if (rc != 0) {
			snprintf(err, errlen, "%s", itemerr);
			goto out;
		}
	}
	size_t i;
	json_t *item;
	json_array_foreach(entities, i, item) {
		rc = catalog_batch_entity(b, item, itemerr, sizeof(itemerr));
		if (rc != 0) {
			snprintf(err, errlen, "entities[%zu]: %s", i, itemerr);
			goto out;
		}
	}
	json_array_foreach(edges, i, item) {
		json_t *src = json_object_get(item, "src"), *dst = json_object_get(item, "dst");
		json_t *kind = json_object_get(item, "kind");
		if (!json_is_string(src) || !json_is_string(dst) || (kind && !json_is_string(kind))) {
			snprintf(err, errlen, "edges[%zu]: expected {\"src\": ID, \"dst\": ID, "
					      "\"kind\": \"lineage\"}", i);
			rc = CATALOG_EINVAL;
			goto out;
		}
		rc = catalog_batch_edge(b, json_string_value(src), json_string_value(dst),
					kind ? json_string_value(kind) : NULL,
					json_object_get(item, "properties"), itemerr, sizeof(itemerr));
		if (rc != 0) {
			snprintf(err, errlen, "edges[%zu]: %s", i, itemerr);
			goto out;
		}
	}
	rc = catalog_batch_commit(b, &st, itemerr, sizeof(itemerr));
	b = NULL;
	if (rc != 0) {
		snprintf(err, errlen, "%s", itemerr);
		goto out;
	}
	*out = json_pack("{s:I, s:I, s:I, s:I, s:I}", "entities", (json_int_t)st.entities,
			 "created", (json_int_t)st.created, "changed", (json_int_t)st.changed,
			 "edges", (json_int_t)st.edges, "staled", (json_int_t)st.staled);
out:
	catalog_batch_abort(b);
	return rc;
}

static void post_entities(struct http_req *req)
{
	struct api *api = req->ud;
	char err[512] = "";
	json_t *out = NULL;
	json_t *doc = http_read_json(req);
	if (!doc)
		return;
	int rc = api_batch_load(api->cat, doc, "api", &out, err, sizeof(err));
	json_decref(doc);
	if (rc != 0) {
		reply_catalog_error(req, rc, "cannot store the batch", err);
		return;
	}
	http_reply_json(req, 200, out);
}

/* --- lineage ---------------------------------------------------------------------------- */

static void get_lineage(struct http_req *req)
{
	struct api *api = req->ud;
	char node[CATALOG_ID_MAX + 1], dir[16] = "both", format[8] = "json", err[256] = "";
	long depth, cap;
	struct lineage_graph *g = NULL;
	char *text = NULL;
	size_t len = 0;
	int n = http_query(req, "nodeId", node, sizeof(node));
	if (n <= 0) {
		http_error(req, 400, "bad parameter",
			   n == -2 ? "nodeId: too long" : "nodeId: required (an entity id)");
		return;
	}
	/* An absent parameter leaves the buffer empty: put the default back. */
	n = http_query(req, "direction", dir, sizeof(dir));
	if (n == -1)
		strcpy(dir, "both");
	if (n == -2 || !lineage_direction_parse(dir)) {
		http_error(req, 400, "bad parameter",
			   "direction: expected upstream, downstream or both");
		return;
	}
	n = http_query(req, "format", format, sizeof(format));
	if (n == -1)
		strcpy(format, "json");
	if (n == -2 || (strcmp(format, "json") && strcmp(format, "svg") && strcmp(format, "dot"))) {
		http_error(req, 400, "bad parameter", "format: expected json, svg or dot");
		return;
	}
	int stale = bool_param(req, "stale");
	if (stale == -2)
		return;
	int max_depth = api->cfg->lineage_max_depth;
	int def_depth = LINEAGE_DEPTH_DEFAULT < max_depth ? LINEAGE_DEPTH_DEFAULT : max_depth;
	if (http_query_int(req, "depth", 0, max_depth, def_depth, &depth) < 0 ||
	    http_query_int(req, "hopCap", 1, 10000, api->cfg->lineage_hop_cap, &cap) < 0)
		return;
	struct lineage_query q = {
		.node_id = node,
		.depth = (int)depth,
		.direction = lineage_direction_parse(dir),
		.hop_cap = (int)cap,
		.include_stale = stale == 1,
	};
	char key[CATALOG_ID_MAX + 64];
	uint64_t gen = catalog_generation(api->cat);
	if (strcmp(format, "svg") == 0) {
		snprintf(key, sizeof(key), "%ld|%s|%ld|%d|%s", depth, dir, cap, q.include_stale,
			 node);
		text = render_cache_get(api->svg_cache, key, gen, &len);
		if (text) {
			http_reply(req, 200, "image/svg+xml", text, len,
				   "Cache-Control: no-cache\r\nX-Terrarium-Cache: hit\r\n");
			goto out;
		}
	}
	int rc = lineage_query(api->cat, &q, &g, err, sizeof(err));
	if (rc == CATALOG_ENOTFOUND) {
		http_error(req, 404, "not found", "no entity '%s'", node);
		goto out;
	}
	if (rc != 0) {
		reply_catalog_error(req, rc, "cannot walk the lineage", err);
		goto out;
	}
	if (strcmp(format, "json") == 0) {
		http_reply_json(req, 200, lineage_graph_json(g));
	} else if (strcmp(format, "dot") == 0) {
		if (render_dot(g, "/entity/", &text, &len) < 0) {
			http_error(req, 500, "internal", "cannot write the graph as dot");
			goto out;
		}
		http_reply(req, 200, "text/vnd.graphviz; charset=utf-8", text, len,
			   "Cache-Control: no-cache\r\n");
	} else {
		if (render_svg(g, "/entity/", &text, &len, err, sizeof(err)) < 0) {
			http_error(req, 500, "render failed", "%s", err);
			goto out;
		}
		render_cache_put(api->svg_cache, key, gen, text, len);
		http_reply(req, 200, "image/svg+xml", text, len,
			   "Cache-Control: no-cache\r\nX-Terrarium-Cache: miss\r\n");
	}
out:
	free(text);
	lineage_graph_destroy(g);
}

static void post_lineage(struct http_req *req)
{
	struct api *api = req->ud;
	char err[512] = "";
	json_t *ev = http_read_json(req);
	if (!ev)
		return;
	int rc = openlineage_ingest(api->cat, ev, err, sizeof(err));
	json_decref(ev);
	if (rc != 0) {
		reply_catalog_error(req, rc, "cannot record the event", err);
		return;
	}
	http_reply_json(req, 201, json_object());
}

int api_register(struct http_server *srv, struct api *api)
{
	static const struct {
		const char *method, *pattern;
		enum auth_scope need;
		http_handler_fn fn;
	} routes[] = {
		{ "GET", "/healthz", AUTH_NONE, get_healthz },
		{ "GET", "/readyz", AUTH_NONE, get_readyz },
		{ "GET", "/metrics", AUTH_READ, get_metrics },
		{ "GET", "/api/v1/openapi.json", AUTH_NONE, get_openapi },
		{ "GET", "/api/v1/search", AUTH_READ, get_search },
		{ "POST", "/api/v1/entities", AUTH_WRITE, post_entities },
		{ "GET", "/api/v1/entities/{id+}/history", AUTH_READ, get_history },
		{ "GET", "/api/v1/entities/{id+}", AUTH_READ, get_entity },
		{ "PATCH", "/api/v1/entities/{id+}", AUTH_WRITE, patch_entity },
		{ "GET", "/api/v1/lineage", AUTH_READ, get_lineage },
		{ "POST", "/api/v1/lineage", AUTH_WRITE, post_lineage },
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (http_route(srv, routes[i].method, routes[i].pattern, routes[i].need, routes[i].fn,
			       api) < 0)
			return -1;
	return 0;
}
