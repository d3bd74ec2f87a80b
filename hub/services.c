/* The dashboard's routes; see services.h. */
#include "hub/services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "hub/health.h"
#include "hub/log.h"
#include "hub/plugins.h"
#include "hub/sched.h"

#define HISTORY_HOURS_MAX (7 * 24)

/* Every plugin's and collector's tile: a new array. */
static json_t *all_tiles(struct services *s)
{
	json_t *tiles = plugins_tiles(s->plugins);

	if (tiles && s->sched) {
		json_t *more = sched_tiles(s->sched);

		json_array_extend(tiles, more);
		json_decref(more);
	}
	return tiles;
}

/* Give SVC the numbers of its collector's tile in TILES. */
static void add_numbers(json_t *svc, json_t *tiles)
{
	const char *collector = json_string_value(json_object_get(svc, "collector"));
	json_t *numbers = NULL, *t;
	size_t i;

	json_array_foreach(tiles, i, t) {
		const char *plugin = json_string_value(json_object_get(t, "plugin"));

		if (collector && plugin && strcmp(plugin, collector) == 0) {
			json_t *n = json_object_get(t, "numbers");

			if (json_is_object(n))
				numbers = json_deep_copy(n);
			json_object_set(svc, "collector_status",
					json_object_get(t, "status") ? json_object_get(t, "status")
								     : json_null());
			break;
		}
	}
	json_object_set_new(svc, "numbers", numbers ? numbers : json_object());
}

/* The config's bookmarks with every key present. */
static json_t *bookmarks_of(const struct config *cfg)
{
	static const char *const keys[] = { "group", "name", "href", "icon", "description", NULL };
	json_t *out = json_array(), *b;
	size_t i;

	json_array_foreach(cfg->bookmarks, i, b) {
		json_t *o = json_object();

		for (int k = 0; o && keys[k]; k++) {
			json_t *v = json_object_get(b, keys[k]);

			if (v)
				json_object_set(o, keys[k], v);
			else if (strcmp(keys[k], "group") == 0)
				json_object_set_new(o, keys[k], json_string("Bookmarks"));
			else if (strcmp(keys[k], "description") == 0)
				json_object_set_new(o, keys[k], json_string(""));
			else
				json_object_set_new(o, keys[k], json_null());
		}
		if (o)
			json_array_append_new(out, o);
	}
	return out;
}

static void get_services(struct http_req *req)
{
	struct services *s = req->ud;
	json_t *list = health_list(s->health), *tiles = all_tiles(s);
	json_t *groups = json_array(), *index = json_object(), *svc;
	size_t i;

	if (!list || !tiles || !groups || !index) {
		http_error(req, 500, "internal", "cannot list the services");
		goto out;
	}
	json_array_foreach(list, i, svc) {
		const char *g = json_string_value(json_object_get(svc, "group"));
		json_t *at;

		add_numbers(svc, tiles);
		if (!g)
			g = "";
		at = json_object_get(index, g);
		if (!at) {
			at = json_pack("{s:s, s:[]}", "name", g, "services");
			if (!at) {
				http_error(req, 500, "internal", "out of memory");
				goto out;
			}
			json_array_append_new(groups, at);
			json_object_set(index, g, at);
		}
		json_array_append(json_object_get(at, "services"), svc);
	}
	http_reply_json(req, 200,
			json_pack("{s:O, s:o, s:O, s:O}", "groups", groups, "bookmarks",
				  bookmarks_of(s->cfg), "tiles", tiles, "services", list));
out:
	json_decref(index);
	json_decref(groups);
	json_decref(tiles);
	json_decref(list);
}

static void get_service(struct http_req *req)
{
	struct services *s = req->ud;
	json_t *svc = NULL, *tiles;
	int rc = health_get(s->health, req->params[0], &svc);

	if (rc == HEALTH_ENOTFOUND) {
		http_error(req, 404, "not found", "no service '%s'", req->params[0]);
		return;
	}
	if (rc != 0) {
		http_error(req, 500, "internal", "cannot read service '%s'", req->params[0]);
		return;
	}
	tiles = all_tiles(s);
	add_numbers(svc, tiles);
	json_decref(tiles);
	http_reply_json(req, 200, svc);
}

static void get_service_history(struct http_req *req)
{
	struct services *s = req->ud;
	json_t *out = NULL;
	long hours;
	int rc;

	if (http_query_int(req, "hours", 1, HISTORY_HOURS_MAX, 24, &hours) < 0)
		return;
	rc = health_history(s->health, req->params[0], (int)hours, &out);
	if (rc == HEALTH_ENOTFOUND) {
		http_error(req, 404, "not found", "no service '%s'", req->params[0]);
		return;
	}
	if (rc != 0) {
		http_error(req, 500, "internal", "cannot read the history of service '%s'",
			   req->params[0]);
		return;
	}
	http_reply_json(req, 200, out);
}

/* Fill BODY's name (and description) from its "entity" when it has none.
 * Replies and returns -1 when the entity is not in the catalog. */
static int from_entity(struct http_req *req, struct services *s, json_t *body)
{
	json_t *ent = json_object_get(body, "entity"), *doc = NULL;
	const char *name;
	int rc;

	if (!ent)
		return 0;
	if (!json_is_string(ent)) {
		http_error(req, 400, "invalid", "entity: expected an entity id");
		return -1;
	}
	rc = catalog_entity_get(s->cat, json_string_value(ent), &doc);
	if (rc == CATALOG_ENOTFOUND || rc == CATALOG_EINVAL) {
		http_error(req, 400, "invalid", "entity: no entity '%s'", json_string_value(ent));
		return -1;
	}
	if (rc != 0) {
		http_error(req, 500, "internal", "cannot read entity '%s'", json_string_value(ent));
		return -1;
	}
	name = json_string_value(json_object_get(doc, "display_name"));
	if (!name || !*name)
		name = json_string_value(json_object_get(doc, "name"));
	if (!json_object_get(body, "name") && name)
		json_object_set_new(body, "name", json_string(name));
	if (!json_object_get(body, "description") &&
	    json_is_string(json_object_get(doc, "description")))
		json_object_set(body, "description", json_object_get(doc, "description"));
	json_decref(doc);
	return 0;
}

static void post_service(struct http_req *req)
{
	struct services *s = req->ud;
	char err[512] = "";
	json_t *out = NULL, *body = http_read_json(req);
	int rc;

	if (!body)
		return;
	if (!json_is_object(body)) {
		http_error(req, 400, "invalid", "the body must be a JSON object");
		goto out;
	}
	if (from_entity(req, s, body) < 0)
		goto out;
	rc = health_add(s->health, body, &out, err, sizeof(err));
	switch (rc) {
	case 0:
		log_event(LOG_INFO, "service added", "id",
			  json_string_value(json_object_get(out, "id")), NULL);
		http_reply_json(req, 201, out);
		break;
	case HEALTH_EINVAL:
		http_error(req, 400, "invalid", "%s", err);
		break;
	case HEALTH_EEXIST:
		http_error(req, 409, "conflict", "%s", err);
		break;
	default:
		http_error(req, 500, "internal", "cannot add the service: %s", err);
		break;
	}
out:
	json_decref(body);
}

static void delete_service(struct http_req *req)
{
	struct services *s = req->ud;
	int rc = health_remove(s->health, req->params[0]);

	switch (rc) {
	case 0:
		log_event(LOG_INFO, "service removed", "id", req->params[0], NULL);
		http_reply_json(req, 200, json_pack("{s:s}", "deleted", req->params[0]));
		break;
	case HEALTH_ENOTFOUND:
		http_error(req, 404, "not found", "no service '%s'", req->params[0]);
		break;
	case HEALTH_ECONFIG:
		http_error(req, 409, "conflict",
			   "service '%s' comes from the config file: remove it there",
			   req->params[0]);
		break;
	default:
		http_error(req, 500, "internal", "cannot remove service '%s'", req->params[0]);
		break;
	}
}

int services_register(struct http_server *srv, struct services *s)
{
	static const struct {
		const char *method, *pattern;
		enum auth_scope need;
		http_handler_fn fn;
	} routes[] = {
		{ "GET", "/api/v1/services", AUTH_READ, get_services },
		{ "POST", "/api/v1/services", AUTH_ADMIN, post_service },
		{ "GET", "/api/v1/services/{id}/history", AUTH_READ, get_service_history },
		{ "GET", "/api/v1/services/{id}", AUTH_READ, get_service },
		{ "DELETE", "/api/v1/services/{id}", AUTH_ADMIN, delete_service },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (http_route(srv, routes[i].method, routes[i].pattern, routes[i].need,
			       routes[i].fn, s) < 0)
			return -1;
	return 0;
}
