#ifndef TERRARIUM_HEALTH_H
#define TERRARIUM_HEALTH_H
/*
 * The dashboard's services and their health checks.
 *
 * A service is a JSON object, from the config's `services` (origin
 * "config") or added at run time through POST /api/v1/services (origin
 * "discovered", stored in the catalog: catalog/health.h):
 *
 *   { "name": "Orders DB", "group": "Databases", "icon": "postgres",
 *     "description": "...", "href": "http://...", "collector": "postgres",
 *     "entity": "service:postgres://db:5432:db",           (optional)
 *     "check": { "type": "postgres", "dsn": "...", "interval": 30, "timeout": 5 } }
 *
 * Its id is the slug of its name (health_slug()).  A service without a
 * check is a link tile with status "unknown".
 *
 * Checks, each bounded by its timeout (seconds, default 5, 0.1..60) and run
 * every interval (seconds, default 30, 1..86400):
 *   tcp       host, port: a TCP connect
 *   http      url, expect_status (a status or a list; default any 2xx/3xx),
 *             expect_body (a substring), tls_verify (default true)
 *   postgres  dsn (libpq conninfo or URI): connect, SELECT 1
 *   redis     url (redis://[user[:password]@]host[:port]) or host + port,
 *             username, password: PING answers PONG
 *   kafka     brokers ("h:p,h:p" or a list): a metadata request; the brokers
 *             are counted
 *   airflow   url: GET url/health; up when metadatabase.status and
 *             scheduler.status are both "healthy", down when the
 *             metadatabase is not, degraded when only the scheduler (or a
 *             triggerer or dag processor that reports a status) is not.  The
 *             HTTP status is not looked at, only the JSON.
 *   mlflow    url: GET url/health answers "OK"
 * A result is a status ("up", "down", "degraded", "unknown"), the latency
 * in ms, and a short detail ("connection refused", "scheduler unhealthy",
 * "HTTP 503").
 *
 * Secrets: the keys dsn, password, token, secret, api_key and the user:pass@
 * part of URLs never appear in what this module hands out (health_list(),
 * details).
 */
#include <jansson.h>
#include <stddef.h>

#include "hub/strbuf.h"

struct catalog;
struct plugins;

enum {
	HEALTH_OK = 0,
	HEALTH_EINVAL = -1,     /* bad input: see ERR */
	HEALTH_ENOTFOUND = -2,  /* no such service */
	HEALTH_EEXIST = -3,     /* a service of that id exists */
	HEALTH_ECONFIG = -4,    /* the service is configured: it cannot be deleted */
	HEALTH_EIO = -5,        /* the catalog failed */
};

#define HEALTH_ID_MAX 128       /* bytes of a service id */
#define HEALTH_NAME_MAX 100     /* bytes of a service name */
#define HEALTH_DETAIL_MAX 256

/*
 * The slug of NAME into OUT: ASCII letters and digits lowercased, every run
 * of other bytes one '-', none at either end ("Orders DB" -> "orders-db").
 * 0, or -1 when nothing is left or it does not fit OUTLEN.
 */
int health_slug(const char *name, char *out, size_t outlen);

/*
 * Check service SVC (borrowed).  With STRICT (a service given over the API)
 * only the keys above are allowed; a configured one may carry others (they
 * are shown as they are, secrets removed).  On error -1 with KEY (relative,
 * e.g. "check.port") and MSG ("expected an integer from 1 to 65535, got
 * 0").  0 when it is good.
 */
int health_service_validate(const json_t *svc, int strict, char *key, size_t keylen, char *msg,
			    size_t msglen);

struct health_result {
	char status[12];              /* "up", "down", "degraded", "unknown" */
	double latency_ms;            /* < 0 when none was measured */
	char detail[HEALTH_DETAIL_MAX];
	long long checked_at;         /* ms since the epoch */
};

/*
 * Run the check of service SVC (borrowed, valid) once, now, on the calling
 * thread (bounded by its timeout), into OUT.  A service without a check
 * gives "unknown".  0, or -1 when SVC is not valid (OUT says why).
 */
int health_check_once(const json_t *svc, struct health_result *out);

struct health_env {
	struct catalog *cat;          /* borrowed; must outlive the checker */
	const json_t *services;       /* borrowed: config.services, validated (copied) */
	int threads;                  /* checker threads; 0 means 4 */
	long min_interval_ms;         /* shortest interval honoured; 0 means 1000 */
};

struct health;

/*
 * Take the configured services and the discovered ones stored in the
 * catalog, and the last status of each from the history; no thread runs
 * yet.  NULL with ERR (an invalid service, duplicate ids, the catalog).
 */
struct health *health_create(const struct health_env *env, char *err, size_t errlen);

/* Start the checker threads: every service with a check is checked at once,
 * then on its interval.  0 or -1. */
int health_start(struct health *h);

/* Stop: no new check starts, the checks under way finish (each within its
 * timeout), threads are joined, the history is written out, all is freed.
 * NULL does nothing. */
void health_destroy(struct health *h);

/*
 * Every service, configured ones first, then discovered ones, as a new
 * array of the public objects:
 *   {"id", "name", "group", "icon", "description", "href", "type", "origin",
 *    "status", "latency_ms", "detail", "checked_at" (RFC 3339 or null),
 *    "interval_s", "uptime_24h" (0..1 or null), "history" (at most 48 buckets
 *    of the last 24 h, oldest first, see catalog_health_buckets()),
 *    "collector" (or null), "entity" (when given)}
 * plus a configured service's other keys, secrets removed.  NULL on OOM.
 */
json_t *health_list(struct health *h);

/* One service as in health_list() into *OUT; HEALTH_ENOTFOUND. */
int health_get(struct health *h, const char *id, json_t **out);

/* The raw points of service ID in the last HOURS hours (newest last, at
 * most CATALOG_HEALTH_POINTS_MAX) as {"id", "hours", "points": [...]}. */
int health_history(struct health *h, const char *id, int hours, json_t **out);

/*
 * Add a discovered service SVC (borrowed; checked strictly; stored in the
 * catalog with its secrets, which are never shown) and start checking it.
 * *OUT gets its public object.  HEALTH_EINVAL (ERR: "check.type: ..."),
 * HEALTH_EEXIST, HEALTH_EIO.
 */
int health_add(struct health *h, const json_t *svc, json_t **out, char *err, size_t errlen);

/* Remove discovered service ID and its history.  HEALTH_ENOTFOUND,
 * HEALTH_ECONFIG (configured: edit the config instead), HEALTH_EIO. */
int health_remove(struct health *h, const char *id);

/*
 * Append Prometheus text to SB: terrarium_service_up{service="ID"} (1 when
 * the last check found it up, 0 otherwise) and
 * terrarium_service_check_seconds{service="ID"} (the last check's latency),
 * for every service checked at least once.
 */
void health_metrics(struct health *h, struct strbuf *sb);

#endif
