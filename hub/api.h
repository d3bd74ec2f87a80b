#ifndef TERRARIUM_API_H
#define TERRARIUM_API_H
/*
 * The REST API of DESIGN.md, on the router of hub/http.h:
 *
 *   GET   /healthz, /readyz, /metrics, /api/v1/openapi.json
 *   GET   /api/v1/search?q=&kind=&platform=&tag=&owner=&stale=&limit=&offset=
 *   POST  /api/v1/entities                 batch upsert (write)
 *   GET   /api/v1/entities/{id}            PATCH (write): description, tags, owners
 *   GET   /api/v1/entities/{id}/history?limit=&offset=
 *   GET   /api/v1/lineage?nodeId=&depth=&direction=&hopCap=&stale=&format=json|svg|dot
 *   POST  /api/v1/lineage                  OpenLineage RunEvents (write)
 * (GET /api/v1/plugins and the collector runs routes are the scheduler's: hub/sched.h;
 * /api/v1/services and the dashboard's health checks are hub/services.h's)
 *
 * Every error is {"error": "...", "detail": "..."} with a fitting status.
 */
#include <stdint.h>

#include "hub/config.h"
#include "hub/http.h"
#include "hub/render.h"

struct health;

struct api {
	struct catalog *cat;            /* borrowed */
	const struct config *cfg;       /* borrowed */
	struct http_server *srv;        /* borrowed */
	struct render_cache *svg_cache; /* owned by the caller */
	struct plugins *plugins;        /* borrowed; may be NULL */
	struct sched *sched;            /* borrowed; may be NULL (collectors' tiles, metrics) */
	struct health *health;          /* borrowed; may be NULL (the services' /metrics) */
	double started_at;              /* CLOCK_MONOTONIC seconds */
};

/* Add every route above to SRV, with API as their user data (borrowed: it
 * must outlive the server).  0 or -1. */
int api_register(struct http_server *srv, struct api *api);

/*
 * Read a whole batch document into CAT under SOURCE, in one transaction:
 * either one entity document, an array of them, or
 *   {"source": "...", "snapshot": false, "entities": [...], "edges": [...]}.
 * On error nothing is written and ERR names the item ("entities[3].name:
 * missing").  OUT (new reference) gets {"entities", "created", "changed",
 * "edges", "staled"}.  Returns 0 or a CATALOG_E* code.  (Shared with the CLI.)
 */
int api_batch_load(struct catalog *cat, json_t *doc, const char *source, json_t **out, char *err,
		   size_t errlen);

#endif
