/*
 * Lua collectors' runs and scheduling state; see "collector runs" in
 * catalog.h.  Tables (schema.c, migration 1 -> 2):
 *   collector_runs(id, collector, started_at, ended_at, status, error, counts JSON, log TEXT)
 *   collector_state(name, failures, disabled, next_run, tile JSON)
 *
 * Writes open a connection of their own for the call: the catalog's writer
 * connection is private to catalog.c and a batch may hold it, and a run is
 * recorded at most once per collector run, so the cost of opening is small
 * next to the run.  SQLite serialises the two writers (busy timeout).
 */
#include "catalog/catalog_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS_LIMIT_MAX 1000
#define WRITE_BUSY_MS 10000
#define NAME_MAX_LEN 64

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* A read-write connection to CAT's file with a busy timeout, in a write
 * transaction.  NULL with ERR. */
static sqlite3 *wopen(struct catalog *cat, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	const char *path = catalog_path(cat);

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		seterr(err, errlen, "cannot open catalog '%s': %s", path,
		       db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db, WRITE_BUSY_MS);
	/* As the catalog's own writer: WAL with NORMAL sync. */
	sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		seterr(err, errlen, "cannot write to catalog '%s': %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	return db;
fail:
	sqlite3_close_v2(db);
	return NULL;
}

/* Commit when RC is 0, else roll back; close.  Returns the outcome. */
static int wclose(struct catalog *cat, sqlite3 *db, int rc, char *err, size_t errlen)
{
	if (!db)
		return rc;
	if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		seterr(err, errlen, "cannot commit to catalog '%s': %s", catalog_path(cat),
		       sqlite3_errmsg(db));
		rc = CATALOG_EIO;
	}
	if (rc != 0 && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(db);
	return rc;
}

int catalog_collector_run_record(struct catalog *cat, const struct catalog_collector_run *run,
				 long long *id, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *counts = NULL;
	int rc = CATALOG_EINVAL;

	if (!cat || !run || !valid_name(run->collector) || !run->status ||
	    (strcmp(run->status, "ok") != 0 && strcmp(run->status, "failed") != 0)) {
		seterr(err, errlen, "cannot record collector run: bad collector name or status");
		goto out;
	}
	counts = json_dumps(run->counts && json_is_object(run->counts) ? run->counts : json_object(),
			    JSON_COMPACT | JSON_SORT_KEYS);
	if (!counts) {
		rc = CATALOG_ENOMEM;
		seterr(err, errlen, "cannot record collector run: out of memory");
		goto out;
	}
	rc = CATALOG_EIO;
	db = wopen(cat, err, errlen);
	if (!db)
		goto out;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO collector_runs(collector, started_at, ended_at, status,"
			       " error, counts, log) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_text(st, 1, run->collector, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, run->started_at);
	sqlite3_bind_int64(st, 3, run->ended_at);
	sqlite3_bind_text(st, 4, run->status, -1, SQLITE_STATIC);
	if (run->error)
		sqlite3_bind_text(st, 5, run->error, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_text(st, 6, counts, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, run->log ? run->log : "", -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlfail;
	if (id)
		*id = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(st);
	st = NULL;
	/* Keep the newest runs only. */
	if (sqlite3_prepare_v2(db,
			       "DELETE FROM collector_runs WHERE collector = ?1 AND id <="
			       " (SELECT id FROM collector_runs WHERE collector = ?1"
			       "  ORDER BY id DESC LIMIT 1 OFFSET ?2)",
			       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_text(st, 1, run->collector, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, CATALOG_COLLECTOR_RUNS_KEEP);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlfail;
	rc = 0;
	goto out;
sqlfail:
	seterr(err, errlen, "cannot record collector run in catalog '%s': %s", catalog_path(cat),
	       sqlite3_errmsg(db));
	rc = CATALOG_EIO;
out:
	sqlite3_finalize(st);
	rc = wclose(cat, db, rc, err, errlen);
	free(counts);
	return rc;
}

/* A run row (id, collector, started_at, ended_at, status, error, counts, log)
 * as JSON. */
static json_t *run_json(sqlite3_stmt *st)
{
	char started[40], ended[40];
	long long s = sqlite3_column_int64(st, 2), e = sqlite3_column_int64(st, 3);
	const char *error = (const char *)sqlite3_column_text(st, 5);
	const char *counts_text = (const char *)sqlite3_column_text(st, 6);
	const char *log = (const char *)sqlite3_column_text(st, 7);
	json_t *counts = counts_text ? json_loads(counts_text, 0, NULL) : NULL;
	json_t *lines = json_array();
	json_t *run = NULL, *errj = NULL;

	if (!lines)
		goto out;
	while (log && *log) {
		const char *nl = strchr(log, '\n');
		size_t n = nl ? (size_t)(nl - log) : strlen(log);
		json_t *line = json_stringn(log, n);

		/* The runtime stores UTF-8 only; a damaged line is shown as such. */
		if (!line)
			line = json_string("(a log line that is not UTF-8)");
		if (json_array_append_new(lines, line) != 0)
			goto out;
		log += n + (nl != NULL);
	}
	errj = error ? json_string(error) : json_null();
	if (!errj)
		errj = json_string("(an error that is not UTF-8)");
	catalog_format_time(s, started, sizeof(started));
	catalog_format_time(e, ended, sizeof(ended));
	run = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:O}", "id",
			(json_int_t)sqlite3_column_int64(st, 0), "collector",
			(const char *)sqlite3_column_text(st, 1), "status",
			(const char *)sqlite3_column_text(st, 4), "started_at", started, "ended_at",
			ended, "duration_ms", (json_int_t)(e - s), "counts",
			json_is_object(counts) ? json_incref(counts) : json_object(), "error", errj,
			"log", lines);
out:
	json_decref(counts);
	json_decref(lines);
	return run;
}

#define RUN_COLS "id, collector, started_at, ended_at, status, error, counts, log"

int catalog_collector_runs(struct catalog *cat, const char *collector, int limit, json_t **out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	int rc = CATALOG_EIO, step;

	*out = NULL;
	if (!collector || limit < 1 || limit > RUNS_LIMIT_MAX)
		return CATALOG_EINVAL;
	db = catalog_reader_get(cat);
	if (!db)
		return CATALOG_EIO;
	if (sqlite3_prepare_v2(db,
			       "SELECT " RUN_COLS " FROM collector_runs WHERE collector = ?1"
			       " ORDER BY id DESC LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, collector, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit);
	list = json_array();
	if (!list) {
		rc = CATALOG_ENOMEM;
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *run = run_json(st);

		if (!run || json_array_append_new(list, run) != 0) {
			rc = CATALOG_ENOMEM;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		goto out;
	*out = list;
	list = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	catalog_reader_put(cat, db);
	json_decref(list);
	return rc;
}

int catalog_collector_last_runs(struct catalog *cat, json_t **out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	json_t *all = NULL;
	int rc = CATALOG_EIO, step;

	*out = NULL;
	db = catalog_reader_get(cat);
	if (!db)
		return CATALOG_EIO;
	if (sqlite3_prepare_v2(db,
			       "SELECT " RUN_COLS " FROM collector_runs WHERE id IN"
			       " (SELECT max(id) FROM collector_runs GROUP BY collector)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	all = json_object();
	if (!all) {
		rc = CATALOG_ENOMEM;
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *run = run_json(st);

		if (!run || json_object_set_new(all, (const char *)sqlite3_column_text(st, 1), run)) {
			rc = CATALOG_ENOMEM;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		goto out;
	*out = all;
	all = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	catalog_reader_put(cat, db);
	json_decref(all);
	return rc;
}

int catalog_collector_state_get(struct catalog *cat, const char *name,
				struct catalog_collector_state *out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = CATALOG_EIO, step;

	memset(out, 0, sizeof(*out));
	if (!valid_name(name))
		return CATALOG_EINVAL;
	db = catalog_reader_get(cat);
	if (!db)
		return CATALOG_EIO;
	if (sqlite3_prepare_v2(db,
			       "SELECT failures, disabled, next_run, tile FROM collector_state"
			       " WHERE name = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = CATALOG_ENOTFOUND;
		goto out;
	}
	if (step != SQLITE_ROW)
		goto out;
	out->failures = sqlite3_column_int(st, 0);
	out->disabled = sqlite3_column_int(st, 1) != 0;
	out->next_run = sqlite3_column_int64(st, 2);
	if (sqlite3_column_type(st, 3) == SQLITE_TEXT) {
		out->tile = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
		if (out->tile && !json_is_object(out->tile)) {
			json_decref(out->tile);
			out->tile = NULL;
		}
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	catalog_reader_put(cat, db);
	return rc;
}

int catalog_collector_state_put(struct catalog *cat, const char *name,
				const struct catalog_collector_state *s, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *tile = NULL;
	int rc = CATALOG_EINVAL;

	if (!cat || !s || !valid_name(name)) {
		seterr(err, errlen, "cannot store collector state: bad collector name");
		goto out;
	}
	if (s->tile && !(tile = json_dumps(s->tile, JSON_COMPACT | JSON_SORT_KEYS))) {
		rc = CATALOG_ENOMEM;
		seterr(err, errlen, "cannot store collector state: out of memory");
		goto out;
	}
	rc = CATALOG_EIO;
	db = wopen(cat, err, errlen);
	if (!db)
		goto out;
	if (sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO collector_state(name, failures, disabled,"
			       " next_run, tile) VALUES(?1, ?2, ?3, ?4, ?5)",
			       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, s->failures);
	sqlite3_bind_int(st, 3, s->disabled != 0);
	sqlite3_bind_int64(st, 4, s->next_run);
	if (tile)
		sqlite3_bind_text(st, 5, tile, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlfail;
	rc = 0;
	goto out;
sqlfail:
	seterr(err, errlen, "cannot store collector state in catalog '%s': %s", catalog_path(cat),
	       sqlite3_errmsg(db));
	rc = CATALOG_EIO;
out:
	sqlite3_finalize(st);
	rc = wclose(cat, db, rc, err, errlen);
	free(tile);
	return rc;
}
