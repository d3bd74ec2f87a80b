#ifndef TERRARIUM_SERVICES_H
#define TERRARIUM_SERVICES_H
/*
 * The dashboard's REST routes, on the router of hub/http.h:
 *
 *   GET    /api/v1/services                  (read) groups of services with health,
 *          history and their collector's numbers; bookmarks; plugin and collector
 *          tiles; the flat list of services
 *   GET    /api/v1/services/{id}             (read) one service
 *   GET    /api/v1/services/{id}/history?hours=24   (read) raw points, newest last
 *   POST   /api/v1/services                  (admin) add a discovered service: 201
 *   DELETE /api/v1/services/{id}             (admin) remove a discovered one: 200;
 *          409 for a configured one
 *
 * Errors are {"error", "detail"} as everywhere (hub/api.h).
 */
#include "hub/config.h"
#include "hub/http.h"

struct health;
struct plugins;
struct sched;
struct catalog;

struct services {
	struct health *health;          /* borrowed */
	const struct config *cfg;       /* borrowed: bookmarks */
	struct catalog *cat;            /* borrowed: a service's "entity" is looked up */
	struct plugins *plugins;        /* borrowed; may be NULL: plugins' tiles */
	struct sched *sched;            /* borrowed; may be NULL: collectors' tiles */
};

/* Add the routes above to SRV with S as their user data (borrowed: it must
 * outlive the server).  0 or -1. */
int services_register(struct http_server *srv, struct services *s);

#endif
