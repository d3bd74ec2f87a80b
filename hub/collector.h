#ifndef TERRARIUM_COLLECTOR_H
#define TERRARIUM_COLLECTOR_H
/*
 * The Lua collector runtime: run one collector once, in a fresh sandbox
 * (hub/sandbox.h), with the API of docs/plugin-guide.md (config, emit, tile,
 * metric, log, json, time, require), and collect what it emits into one
 * snapshot batch of source "collector:<name>".
 *
 * What is emitted is gathered in C while the script runs and written to the
 * catalog in one batch only after the chunk has returned normally, so a run
 * never holds the catalog's writer while Lua runs, and a run that raises or
 * is stopped changes nothing.  A document the catalog refuses fails the run
 * (naming the emit and the line that made it).
 *
 * Bounds per run: COLLECTOR_ENTITIES_MAX entities, COLLECTOR_EDGES_MAX edges,
 * COLLECTOR_EMIT_BYTES_MAX bytes of emitted documents (a rough count),
 * COLLECTOR_METRICS_MAX metric series, COLLECTOR_LOG_LINES_MAX log lines or
 * COLLECTOR_LOG_BYTES_MAX bytes of log (later lines are counted, not kept),
 * and a file of at most COLLECTOR_FILE_MAX bytes.  Past an emit bound the
 * emit raises.
 *
 * Threads: collector_run() may run on several threads at once, each run with
 * its own state.
 */
#include <jansson.h>
#include <stddef.h>

#include "catalog/catalog.h"

struct plugins;

#define COLLECTOR_NAME_MAX 31
#define COLLECTOR_FILE_MAX ((size_t)4 * 1024 * 1024)
#define COLLECTOR_ENTITIES_MAX 200000
#define COLLECTOR_EDGES_MAX 1000000
#define COLLECTOR_EMIT_BYTES_MAX ((size_t)256 * 1024 * 1024)
#define COLLECTOR_METRICS_MAX 1000
#define COLLECTOR_LOG_LINES_MAX 200
#define COLLECTOR_LOG_BYTES_MAX (64 * 1024)
#define COLLECTOR_ERROR_MAX 1024

/* Whether NAME is a valid collector name: [a-z][a-z0-9_]*, at most 31 bytes. */
int collector_name_valid(const char *name);

/*
 * The directory require() looks in for helpers of the collector at PATH: the
 * "lib" directory beside the collector's directory ("lua/collectors/pg.lua"
 * -> "lua/lib").  Written into OUT; 0, or -1 when it does not fit.
 */
int collector_lib_dir(const char *path, char *out, size_t outlen);

/* The keys of a collector's settings that the runtime reads. */
struct collector_settings {
	long interval_ms;    /* "interval" in seconds; default 300 s */
	long timeout_ms;     /* "timeout" in seconds, the wall-clock cap of a run; default 60 s */
	long instr_max;      /* "instr_max", VM instructions per run; default 5e9 */
	size_t mem_max;      /* "mem_max", bytes or "64MiB"; default 64 MiB */
	int max_failures;    /* "max_failures"; default 5 */
	int enabled;         /* "enabled"; default true */
};

/*
 * Read SETTINGS (borrowed; NULL means {}) into OUT, defaults for what is
 * absent.  Returns 0, or -1 with ERR naming the key ("interval: expected a
 * number of seconds above 0").
 */
int collector_settings_parse(const json_t *settings, struct collector_settings *out, char *err,
			     size_t errlen);

/*
 * A copy of SETTINGS fit to show (new reference): every value under a key
 * named password, token, secret, dsn or api_key (any case, also as a suffix
 * such as "db_password"), and every string holding "://user:pass@", is "***".
 */
json_t *collector_redact(const json_t *settings);

/* One collector to run. */
struct collector_spec {
	const char *name;           /* valid name; the source is "collector:<name>" */
	const char *path;           /* the .lua file, read afresh at every run */
	const char *lib_dir;        /* where require() finds NAME.lua helpers; may be NULL */
	const json_t *settings;     /* borrowed: the global `config`; NULL means {} */
	struct collector_settings set;  /* limits (from collector_settings_parse()) */
};

/* What a run may reach. */
struct collector_env {
	struct catalog *cat;        /* borrowed; NULL: nothing is written (a dry run) */
	struct plugins *plugins;    /* borrowed, may be NULL: the bindings for require() */
	int echo_logs;              /* also send the collector's log lines to the process log */
};

/* The outcome of one run.  Owned by the caller: collector_result_release(). */
struct collector_result {
	int ok;                     /* 1: the run succeeded (and was committed unless dry) */
	char error[COLLECTOR_ERROR_MAX];  /* why it failed, "" when ok */
	long entities, edges, fields;     /* emitted */
	struct catalog_batch_stats stats; /* what the commit did (zero when not written) */
	long long started_at, ended_at;   /* ms since the epoch */
	long duration_ms;
	char *log;                  /* the kept log lines, '\n'-separated UTF-8; never NULL
				     * after collector_run() (may be "") */
	int log_lines;              /* lines kept */
	long log_dropped;           /* lines not kept (past the bounds) */
	json_t *batch;              /* {"source", "snapshot": true, "entities", "edges"} as
				     * emitted (also when the run failed) */
	json_t *tile;               /* the last tile{} of the run, or NULL */
	json_t *metrics;            /* [{"name", "value", "labels"}] */
	size_t mem_peak;            /* the most memory the state held */
};

/*
 * Run SPEC once in ENV.  Always fills OUT (release it after); returns 0 when
 * the run succeeded, -1 when it failed (OUT->error says why: the script's
 * error with its file and line, a limit's "stopped: ...", a file that cannot
 * be read, a document the catalog refused).
 */
int collector_run(const struct collector_spec *spec, const struct collector_env *env,
		  struct collector_result *out);

/* Free what R holds.  Safe on a zeroed result. */
void collector_result_release(struct collector_result *r);

/* R's counts as a new JSON object {"entities", "edges", "fields", "created",
 * "changed", "staled", "metrics", "log_dropped"}. */
json_t *collector_result_counts(const struct collector_result *r);

/* The outcome of a test file. */
struct collector_test_result {
	int passed, failed;         /* test() blocks */
	char *output;               /* one line per test() and the summary; malloc'd */
	char error[COLLECTOR_ERROR_MAX]; /* the file's own error (outside test()), or "" */
};

/*
 * Run the test file TEST_PATH for the collector SPEC (never written to a
 * catalog: ENV's catalog is ignored).  The file runs in one sandbox with
 * SPEC's limits and the collector API, plus:
 *   run_collector([config]) -> out | nil, err, out
 *       runs SPEC->path with `config` = the table given (default: SPEC's
 *       settings) and returns what it emitted: { entities = {...}, edges =
 *       {{src, dst, kind, properties}}, tile = {...} | nil, metrics =
 *       {{name, value, labels}}, logs = {{level, msg, fields}} }; when the
 *       collector raised: nil, the error, and what it emitted before
 *   mock(name, table)                 require(name) returns TABLE from now on
 *   test(name, fn)                    runs fn; a failure is reported, the
 *                                     file goes on
 *   assert_eq(actual, expected [, msg])   deep equality
 *   assert_match(s, pattern [, msg])      string.find(s, pattern)
 *   expect_emit(out, want) -> item    the first emitted entity (or edge, when
 *                                     WANT has src or dst) of which WANT is a
 *                                     subset; raises when none is
 * Returns 0 when the file ran and every test passed, -1 otherwise.
 */
int collector_test(const struct collector_spec *spec, const char *test_path,
		   const struct collector_env *env, struct collector_test_result *out);

void collector_test_release(struct collector_test_result *r);

#endif
