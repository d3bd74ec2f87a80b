#ifndef TERRARIUM_SCHED_H
#define TERRARIUM_SCHED_H
/*
 * The collector scheduler: runs the Lua collectors (hub/collector.h) on
 * worker threads of its own, never on HTTP threads.
 *
 * Discovery.  A collector is an entry of config.plugins whose name has a file
 * NAME.lua in one of the directories given (searched in order); the set is
 * fixed at sched_create(), the file is read again at every run.  Settings
 * the runtime cannot read (collector_settings_parse()) leave the collector
 * listed, with the reason, but never run.
 *
 * Timing.  A collector is due when its next run time has come; at start that
 * is the time stored in the catalog (collector_state), or now.  After a
 * success the next run is one interval later; after a failure it is
 * interval * 2^(failures-1), at least min_backoff and at most
 * max(max_backoff, interval) later.  After max_failures failures in a row the
 * collector is disabled: it runs again only when asked (sched_run_now()), and
 * a success re-enables it.  A collector never runs twice at once.  Every run
 * is recorded in the catalog (collector_runs) and the state is stored after
 * it, so a restart goes on where it stopped.
 *
 * Threads.  Every function is safe to call from any thread.
 */
#include <jansson.h>
#include <stddef.h>

#include "hub/strbuf.h"

struct catalog;
struct plugins;
struct http_server;

enum {
	SCHED_OK = 0,
	SCHED_ENOTFOUND = -2,   /* no such collector */
	SCHED_EBUSY = -3,       /* it is running now */
	SCHED_EINVAL = -4,      /* its settings are not valid; it cannot run */
};

struct sched_env {
	struct catalog *cat;          /* borrowed; must outlive the scheduler */
	struct plugins *plugins;      /* borrowed, may be NULL: the bindings for require() */
	const json_t *plugins_cfg;    /* borrowed: config.plugins (name -> settings) */
	const char *const *dirs;      /* NULL-terminated directories of NAME.lua (copied) */
	int workers;                  /* worker threads; 0 means 2 */
	long min_interval_ms;         /* shortest interval honoured; 0 means 1000 */
	long min_backoff_ms;          /* 0 means 5000 */
	long max_backoff_ms;          /* 0 means 3600000 */
};

struct sched;

/*
 * Discover the collectors and read their stored state; no thread runs yet.
 * NULL with ERR on failure (out of memory, an unreadable catalog).
 */
struct sched *sched_create(const struct sched_env *env, char *err, size_t errlen);

/* Start the workers.  0 or -1. */
int sched_start(struct sched *s);

/*
 * Stop: workers take no new run, the runs under way finish (each is bounded
 * by its own timeout and limits), the threads are joined, and everything is
 * freed.  NULL does nothing.
 */
void sched_destroy(struct sched *s);

/* How many collectors were discovered. */
int sched_count(struct sched *s);

/*
 * Ask for a run of NAME as soon as a worker is free, disabled or not.
 * SCHED_OK (also when a run is already queued), SCHED_ENOTFOUND, SCHED_EBUSY
 * (running now), or SCHED_EINVAL (bad settings).
 */
int sched_run_now(struct sched *s, const char *name);

/*
 * The collectors, as a new JSON array of
 *   {"name", "type": "collector", "status": "ok"|"failed"|"disabled"|"running"|"never",
 *    "enabled", "path", "interval_s", "failures", "max_failures", "last_run" (RFC
 *    3339 start of the last run, or null), "next_run" (or null when none is
 *    planned), "duration_ms", "counts", "error" (null when none), "runs",
 *    "settings" (secrets redacted)}.
 */
json_t *sched_list(struct sched *s);

/* One collector as in sched_list(), or NULL when there is none. */
json_t *sched_get(struct sched *s, const char *name);

/*
 * The collectors' dashboard tiles: a new JSON array of {"plugin", "type":
 * "collector", ...tile, "updated_at"}.  A tile is the last one a run set; a
 * failed run's tile (a collector reports "down" that way) carries "error",
 * and after a failed run that set none the last tile is shown with status
 * "unknown" and the "error".
 */
json_t *sched_tiles(struct sched *s);

/* Append Prometheus text to SB: runs by outcome, last duration, failures in
 * a row, disabled, and every collector's metric() series of its last
 * successful run as terrarium_collector_<name>{collector="...", ...}. */
void sched_metrics(struct sched *s, struct strbuf *sb);

/*
 * Serve on SRV (S must outlive the server):
 *   GET  /api/v1/plugins                 native plugins and collectors, each
 *                                        with "type": "native" | "collector"
 *   POST /api/v1/plugins/{name}/run      (write) 202 {"queued": true}; 404; 409
 *   GET  /api/v1/plugins/{name}/runs?limit=   runs newest first (default 20)
 * Routes are tried in the order added: register before api_register() so
 * that this GET /api/v1/plugins, which also lists the collectors, answers.
 * 0 or -1.
 */
int sched_http_register(struct sched *s, struct http_server *srv);

#endif
