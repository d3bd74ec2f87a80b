#ifndef TERRARIUM_CATALOG_HEALTH_H
#define TERRARIUM_CATALOG_HEALTH_H
/*
 * Dashboard health history, kept in the catalog's SQLite file (schema 3):
 *
 *   health_points(id, service, at, status, latency_ms, detail)
 *       one row per check of a service: "at" in ms since the epoch (UTC),
 *       status "up" | "down" | "degraded" | "unknown", latency_ms (NULL when
 *       the check did not measure one), a short detail;
 *   health_services(id, doc JSON, created_at)
 *       services added at run time (POST /api/v1/services), as given.
 *
 * Bounded: after every write, the service written keeps only the points of
 * the last keep_ms and at most max_points of them (the newest); opening the
 * store drops every point older than keep_ms (services no longer configured
 * age out).  Not part of export/import.
 *
 * Writes never wait long for the catalog's writer: a point is queued in
 * memory, and the queue is written in one transaction that waits at most
 * write_wait_ms for SQLite's lock.  When the catalog is busy (an import holds
 * it) the points stay queued (at most max_pending, the oldest dropped first)
 * and go out with the next write.  Reads see what was written.
 *
 * The store has a connection of its own for writing and one for reading,
 * opened on the file of an open catalog (catalog_path()); it must be closed
 * before the catalog is.  Every function is safe to call from any thread.
 * Functions return 0 or a negative CATALOG_E* code.
 */
#include <jansson.h>
#include <stddef.h>

#include "catalog/catalog.h"

#define CATALOG_HEALTH_KEEP_MS_DEFAULT (7LL * 24 * 3600 * 1000) /* 7 days */
#define CATALOG_HEALTH_POINTS_DEFAULT 20160  /* 7 days of checks every 30 s */
#define CATALOG_HEALTH_PENDING_DEFAULT 10000
#define CATALOG_HEALTH_POINTS_MAX 5000       /* the most catalog_health_points() returns */
#define CATALOG_HEALTH_SERVICE_MAX 128       /* bytes of a service id */
#define CATALOG_HEALTH_DETAIL_MAX 256        /* bytes of a detail kept (longer is cut) */

struct catalog_health_limits {
	long long keep_ms;   /* 0: CATALOG_HEALTH_KEEP_MS_DEFAULT */
	int max_points;      /* per service; 0: CATALOG_HEALTH_POINTS_DEFAULT */
	int max_pending;     /* points queued while the catalog is busy; 0: the default */
	int write_wait_ms;   /* 0: 1000 */
};

struct catalog_health;

/*
 * Open the store on CAT (borrowed; must stay open until the store is
 * closed), with LIM (NULL: the defaults), and drop points older than
 * keep_ms.  NULL with ERR on failure.
 */
struct catalog_health *catalog_health_open(struct catalog *cat,
					   const struct catalog_health_limits *lim, char *err,
					   size_t errlen);

/* Write what is queued (waiting for the writer as long as it takes, up to
 * 10 s), then close.  NULL does nothing. */
void catalog_health_close(struct catalog_health *hs);

struct catalog_health_point {
	long long at;          /* ms since the epoch */
	const char *status;    /* "up", "down", "degraded" or "unknown" */
	double latency_ms;     /* < 0: none measured */
	const char *detail;    /* may be NULL; cut to CATALOG_HEALTH_DETAIL_MAX - 1 bytes */
};

/*
 * Queue point P of SERVICE (everything copied) and write the queue.
 * CATALOG_EINVAL for a bad service id (empty, too long, control characters)
 * or status; CATALOG_EIO when the write failed (the points stay queued and
 * ERR says why); 0 otherwise.
 */
int catalog_health_record(struct catalog_health *hs, const char *service,
			  const struct catalog_health_point *p, char *err, size_t errlen);

/* Write the queue now.  0, or CATALOG_EIO with the points still queued. */
int catalog_health_flush(struct catalog_health *hs, char *err, size_t errlen);

/* How many points wait in the queue. */
int catalog_health_pending(struct catalog_health *hs);

/*
 * The raw points of SERVICE at or after SINCE, oldest first: the newest
 * LIMIT (1..CATALOG_HEALTH_POINTS_MAX) of them, as a new array of
 * {"t" (RFC 3339 UTC), "status", "latency_ms" (number or null), "detail"}.
 */
int catalog_health_points(struct catalog_health *hs, const char *service, long long since,
			  int limit, json_t **out);

struct catalog_health_summary {
	long points;        /* points in the window */
	long up;            /* of those, "up" */
	double uptime;      /* up / points, or -1 when there is none */
	long long last_at;  /* the newest point's time, 0 when none */
};

/*
 * The window [FROM, TO) of SERVICE cut into NBUCKETS (1..1000) equal
 * buckets, for a sparkline: a new array in *HISTORY (may be NULL) with one
 * entry per bucket that holds points, oldest first:
 *   {"t": the bucket's start (RFC 3339), "status", "latency_ms", "uptime", "checks"}
 * where status is "up" when every point was up, "down" when every point was
 * down, "unknown" when every one was unknown, else "degraded"; latency_ms is
 * the mean of the measured latencies (null when none); uptime is the share
 * of points that were up.  SUM (may be NULL) gets the totals of the window.
 */
int catalog_health_buckets(struct catalog_health *hs, const char *service, long long from,
			   long long to, int nbuckets, json_t **history,
			   struct catalog_health_summary *sum);

/* Drop every point of SERVICE. */
int catalog_health_forget(struct catalog_health *hs, const char *service);

/*
 * Discovered services.  _put stores DOC (borrowed; any JSON object) under
 * ID, replacing one of that id.  _delete removes it and its points
 * (CATALOG_ENOTFOUND when there is none).  _list gives a new array of
 * {"id", "doc", "created_at" (ms)} in the order they were added.
 */
int catalog_health_service_put(struct catalog_health *hs, const char *id, json_t *doc,
			       char *err, size_t errlen);
int catalog_health_service_delete(struct catalog_health *hs, const char *id);
int catalog_health_services(struct catalog_health *hs, json_t **out);

#endif
