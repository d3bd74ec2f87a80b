/*
 * Dashboard health history and discovered services; see catalog/health.h.
 *
 * Two connections of the store's own: the catalog's writer is private to
 * catalog.c and an import may hold it for a long time, during which a health
 * point must neither wait nor be lost.  Points are queued under a lock and
 * written by whichever thread gets the write lock; SQLite's busy timeout
 * bounds the wait.
 */
#include "catalog/health.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"

#define WRITE_WAIT_DEFAULT_MS 1000
#define CLOSE_WAIT_MS 10000
#define READ_WAIT_MS 5000

struct pending {
	char service[CATALOG_HEALTH_SERVICE_MAX + 1];
	char status[12];
	char detail[CATALOG_HEALTH_DETAIL_MAX];
	long long at;
	double latency_ms;
};

struct catalog_health {
	struct catalog *cat;
	struct catalog_health_limits lim;
	pthread_mutex_t qlock;       /* the queue */
	pthread_mutex_t wlock;       /* the writer connection */
	pthread_mutex_t rlock;       /* the reader connection */
	sqlite3 *w, *r;
	struct pending *q;           /* ring of lim.max_pending */
	int qhead, qlen;
	long long head_seq;          /* how many points ever left the front of the ring */
	long dropped;                /* points dropped from a full queue */
};

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

static int valid_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > CATALOG_HEALTH_SERVICE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int valid_status(const char *s)
{
	return s && (strcmp(s, "up") == 0 || strcmp(s, "down") == 0 ||
		     strcmp(s, "degraded") == 0 || strcmp(s, "unknown") == 0);
}

/* Copy S into OUT (OUTLEN bytes), cut at a UTF-8 character boundary. */
static void copy_cut(char *out, size_t outlen, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= outlen) {
		n = outlen - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if (n)
		memcpy(out, s, n);
	out[n] = '\0';
}

static sqlite3 *open_conn(const char *path, int flags, int busy_ms, char *err, size_t errlen)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		seterr(err, errlen, "cannot open catalog '%s': %s", path,
		       db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close_v2(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, busy_ms);
	return db;
}

struct catalog_health *catalog_health_open(struct catalog *cat,
					   const struct catalog_health_limits *lim, char *err,
					   size_t errlen)
{
	struct catalog_health *hs = NULL;
	sqlite3_stmt *st = NULL;
	const char *path;
	int locks = 0, ok = 0;

	if (!cat) {
		seterr(err, errlen, "cannot open health history: no catalog");
		return NULL;
	}
	path = catalog_path(cat);
	hs = calloc(1, sizeof(*hs));
	if (!hs) {
		seterr(err, errlen, "cannot open health history: out of memory");
		goto out;
	}
	hs->cat = cat;
	if (lim)
		hs->lim = *lim;
	if (hs->lim.keep_ms <= 0)
		hs->lim.keep_ms = CATALOG_HEALTH_KEEP_MS_DEFAULT;
	if (hs->lim.max_points <= 0)
		hs->lim.max_points = CATALOG_HEALTH_POINTS_DEFAULT;
	if (hs->lim.max_pending <= 0)
		hs->lim.max_pending = CATALOG_HEALTH_PENDING_DEFAULT;
	if (hs->lim.write_wait_ms <= 0)
		hs->lim.write_wait_ms = WRITE_WAIT_DEFAULT_MS;
	hs->q = calloc((size_t)hs->lim.max_pending, sizeof(*hs->q));
	if (!hs->q) {
		seterr(err, errlen, "cannot open health history: out of memory");
		goto out;
	}
	if (pthread_mutex_init(&hs->qlock, NULL) != 0)
		goto nolock;
	if (pthread_mutex_init(&hs->wlock, NULL) != 0) {
		pthread_mutex_destroy(&hs->qlock);
		goto nolock;
	}
	if (pthread_mutex_init(&hs->rlock, NULL) != 0) {
		pthread_mutex_destroy(&hs->wlock);
		pthread_mutex_destroy(&hs->qlock);
		goto nolock;
	}
	locks = 1;
	hs->w = open_conn(path, SQLITE_OPEN_READWRITE, hs->lim.write_wait_ms, err, errlen);
	if (!hs->w)
		goto out;
	sqlite3_exec(hs->w, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	hs->r = open_conn(path, SQLITE_OPEN_READONLY, READ_WAIT_MS, err, errlen);
	if (!hs->r)
		goto out;
	/* The table exists from schema 3 on: a file that lacks it is refused. */
	if (sqlite3_prepare_v2(hs->w, "DELETE FROM health_points WHERE at < ?1", -1, &st, NULL) !=
	    SQLITE_OK) {
		seterr(err, errlen, "cannot open health history in catalog '%s': %s", path,
		       sqlite3_errmsg(hs->w));
		goto out;
	}
	sqlite3_bind_int64(st, 1, catalog_now_ms() - hs->lim.keep_ms);
	/* A busy catalog only delays the pruning to the first write. */
	sqlite3_step(st);
	ok = 1;
out:
	sqlite3_finalize(st);
	if (!ok && hs) {
		sqlite3_close_v2(hs->w);
		sqlite3_close_v2(hs->r);
		if (locks) {
			pthread_mutex_destroy(&hs->rlock);
			pthread_mutex_destroy(&hs->wlock);
			pthread_mutex_destroy(&hs->qlock);
		}
		free(hs->q);
		free(hs);
		hs = NULL;
	}
	return hs;
nolock:
	seterr(err, errlen, "cannot open health history: cannot create a lock");
	goto out;
}

void catalog_health_close(struct catalog_health *hs)
{
	if (!hs)
		return;
	sqlite3_busy_timeout(hs->w, CLOSE_WAIT_MS);
	catalog_health_flush(hs, NULL, 0);
	sqlite3_close_v2(hs->w);
	sqlite3_close_v2(hs->r);
	pthread_mutex_destroy(&hs->rlock);
	pthread_mutex_destroy(&hs->wlock);
	pthread_mutex_destroy(&hs->qlock);
	free(hs->q);
	free(hs);
}

int catalog_health_pending(struct catalog_health *hs)
{
	int n;

	pthread_mutex_lock(&hs->qlock);
	n = hs->qlen;
	pthread_mutex_unlock(&hs->qlock);
	return n;
}

/* Prune SERVICE to the bounds, on the writer inside its transaction. */
static int prune(struct catalog_health *hs, const char *service, long long now)
{
	sqlite3_stmt *st = NULL;
	int rc = CATALOG_EIO;

	if (sqlite3_prepare_v2(hs->w, "DELETE FROM health_points WHERE service = ?1 AND at < ?2",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now - hs->lim.keep_ms);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	/* The newest max_points stay: ordered by time, then by insertion. */
	if (sqlite3_prepare_v2(hs->w,
			       "DELETE FROM health_points WHERE id IN (SELECT id FROM health_points"
			       " WHERE service = ?1 ORDER BY at DESC, id DESC LIMIT -1 OFFSET ?2)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, hs->lim.max_points);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Write the points taken from the queue (N of them in BATCH). */
static int write_batch(struct catalog_health *hs, const struct pending *batch, int n, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st = NULL;
	long long now = catalog_now_ms();
	int rc = CATALOG_EIO, i, j;

	if (sqlite3_exec(hs->w, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(hs->w,
			       "INSERT INTO health_points(service, at, status, latency_ms, detail)"
			       " VALUES(?1, ?2, ?3, ?4, ?5)",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, batch[i].service, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, batch[i].at);
		sqlite3_bind_text(st, 3, batch[i].status, -1, SQLITE_STATIC);
		if (batch[i].latency_ms >= 0)
			sqlite3_bind_double(st, 4, batch[i].latency_ms);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_text(st, 5, batch[i].detail, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(batch[j].service, batch[i].service) == 0)
				break;
		if (j == i && prune(hs, batch[i].service, now) != 0)
			goto fail;
	}
	if (sqlite3_exec(hs->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	rc = 0;
	goto out;
fail:
	seterr(err, errlen, "cannot write health history to catalog '%s': %s",
	       catalog_path(hs->cat), sqlite3_errmsg(hs->w));
	if (!sqlite3_get_autocommit(hs->w))
		sqlite3_exec(hs->w, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(st);
	return rc;
}

int catalog_health_flush(struct catalog_health *hs, char *err, size_t errlen)
{
	struct pending *batch = NULL;
	long long first = 0;
	int n, i, rc = 0;

	pthread_mutex_lock(&hs->wlock);
	pthread_mutex_lock(&hs->qlock);
	n = hs->qlen;
	first = hs->head_seq;
	if (n > 0) {
		batch = malloc((size_t)n * sizeof(*batch));
		if (batch)
			for (i = 0; i < n; i++)
				batch[i] = hs->q[(hs->qhead + i) % hs->lim.max_pending];
	}
	pthread_mutex_unlock(&hs->qlock);
	if (n == 0)
		goto out;
	if (!batch) {
		seterr(err, errlen, "cannot write health history: out of memory");
		rc = CATALOG_ENOMEM;
		goto out;
	}
	rc = write_batch(hs, batch, n, err, errlen);
	if (rc == 0) {
		/* Only this thread takes from the queue (it holds wlock); others may
		 * have added behind, or dropped from the front of a full ring. */
		pthread_mutex_lock(&hs->qlock);
		long long gone = first + n - hs->head_seq;
		if (gone > hs->qlen)
			gone = hs->qlen;
		if (gone > 0) {
			hs->qhead = (int)((hs->qhead + gone) % hs->lim.max_pending);
			hs->qlen -= (int)gone;
			hs->head_seq += gone;
		}
		pthread_mutex_unlock(&hs->qlock);
	}
out:
	pthread_mutex_unlock(&hs->wlock);
	free(batch);
	return rc;
}

int catalog_health_record(struct catalog_health *hs, const char *service,
			  const struct catalog_health_point *p, char *err, size_t errlen)
{
	struct pending *slot;

	if (!valid_id(service) || !p || !valid_status(p->status)) {
		seterr(err, errlen, "cannot record health: bad service id or status");
		return CATALOG_EINVAL;
	}
	pthread_mutex_lock(&hs->qlock);
	if (hs->qlen == hs->lim.max_pending) {
		hs->qhead = (hs->qhead + 1) % hs->lim.max_pending;
		hs->qlen--;
		hs->head_seq++;
		hs->dropped++;
	}
	slot = &hs->q[(hs->qhead + hs->qlen) % hs->lim.max_pending];
	copy_cut(slot->service, sizeof(slot->service), service);
	copy_cut(slot->status, sizeof(slot->status), p->status);
	copy_cut(slot->detail, sizeof(slot->detail), p->detail);
	slot->at = p->at;
	slot->latency_ms = p->latency_ms;
	hs->qlen++;
	pthread_mutex_unlock(&hs->qlock);
	return catalog_health_flush(hs, err, errlen);
}

static json_t *time_json(long long ms)
{
	char buf[40];

	catalog_format_time(ms, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *text_json(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	json_t *j = json_string(s ? s : "");

	return j ? j : json_string("");
}

int catalog_health_points(struct catalog_health *hs, const char *service, long long since,
			  int limit, json_t **out)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	int rc = CATALOG_EINVAL, step;

	*out = NULL;
	if (!valid_id(service) || limit < 1 || limit > CATALOG_HEALTH_POINTS_MAX)
		return rc;
	arr = json_array();
	if (!arr)
		return CATALOG_ENOMEM;
	rc = CATALOG_EIO;
	pthread_mutex_lock(&hs->rlock);
	if (sqlite3_prepare_v2(hs->r,
			       "SELECT at, status, latency_ms, detail FROM (SELECT id, at, status,"
			       " latency_ms, detail FROM health_points WHERE service = ?1 AND at >= ?2"
			       " ORDER BY at DESC, id DESC LIMIT ?3) ORDER BY at, id",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int(st, 3, limit);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *lat = sqlite3_column_type(st, 2) == SQLITE_NULL
				      ? json_null()
				      : json_real(sqlite3_column_double(st, 2));
		json_t *pt = json_pack("{s:o, s:o, s:o, s:o}", "t",
				       time_json(sqlite3_column_int64(st, 0)), "status",
				       text_json(st, 1), "latency_ms", lat, "detail", text_json(st, 3));

		if (!pt || json_array_append_new(arr, pt) != 0) {
			rc = CATALOG_ENOMEM;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		goto out;
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&hs->rlock);
	json_decref(arr);
	return rc;
}

int catalog_health_buckets(struct catalog_health *hs, const char *service, long long from,
			   long long to, int nbuckets, json_t **history,
			   struct catalog_health_summary *sum)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	struct catalog_health_summary s = { 0, 0, -1, 0 };
	long long width;
	int rc = CATALOG_EINVAL, step;

	if (history)
		*history = NULL;
	if (!valid_id(service) || nbuckets < 1 || nbuckets > 1000 || to <= from)
		return rc;
	width = (to - from + nbuckets - 1) / nbuckets;
	if (history && !(arr = json_array()))
		return CATALOG_ENOMEM;
	rc = CATALOG_EIO;
	pthread_mutex_lock(&hs->rlock);
	if (sqlite3_prepare_v2(hs->r,
			       "SELECT (at - ?2) / ?4 AS b, count(*), sum(status = 'up'),"
			       " sum(status = 'down'), sum(status = 'unknown'), avg(latency_ms),"
			       " max(at) FROM health_points WHERE service = ?1 AND at >= ?2"
			       " AND at < ?3 GROUP BY b ORDER BY b",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	sqlite3_bind_int64(st, 4, width);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		long long b = sqlite3_column_int64(st, 0);
		long n = (long)sqlite3_column_int64(st, 1), up = (long)sqlite3_column_int64(st, 2);
		long down = (long)sqlite3_column_int64(st, 3);
		long unknown = (long)sqlite3_column_int64(st, 4);
		long long last = sqlite3_column_int64(st, 6);
		const char *status = up == n ? "up" : down == n ? "down"
					     : unknown == n ? "unknown" : "degraded";

		s.points += n;
		s.up += up;
		if (last > s.last_at)
			s.last_at = last;
		if (!arr)
			continue;
		json_t *lat = sqlite3_column_type(st, 5) == SQLITE_NULL
				      ? json_null()
				      : json_real(sqlite3_column_double(st, 5));
		json_t *pt = json_pack("{s:o, s:s, s:o, s:f, s:i}", "t", time_json(from + b * width),
				       "status", status, "latency_ms", lat, "uptime",
				       (double)up / (double)n, "checks", (int)n);

		if (!pt || json_array_append_new(arr, pt) != 0) {
			rc = CATALOG_ENOMEM;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		goto out;
	if (s.points > 0)
		s.uptime = (double)s.up / (double)s.points;
	if (sum)
		*sum = s;
	if (history) {
		*history = arr;
		arr = NULL;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&hs->rlock);
	json_decref(arr);
	return rc;
}

/* Run SQL with ?1 = ID on the writer in a transaction; *CHANGES gets the
 * rows changed by the last statement.  Waits for the writer lock. */
static int write_id(struct catalog_health *hs, const char *const *sqls, int nsql, const char *id,
		    int *changes)
{
	sqlite3_stmt *st = NULL;
	int rc = CATALOG_EIO;

	pthread_mutex_lock(&hs->wlock);
	if (sqlite3_exec(hs->w, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	for (int i = 0; i < nsql; i++) {
		if (sqlite3_prepare_v2(hs->w, sqls[i], -1, &st, NULL) != SQLITE_OK)
			goto out;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_finalize(st);
		st = NULL;
		if (changes)
			*changes = sqlite3_changes(hs->w);
	}
	if (sqlite3_exec(hs->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	if (rc != 0 && !sqlite3_get_autocommit(hs->w))
		sqlite3_exec(hs->w, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&hs->wlock);
	return rc;
}

int catalog_health_forget(struct catalog_health *hs, const char *service)
{
	static const char *const sql[] = { "DELETE FROM health_points WHERE service = ?1" };

	if (!valid_id(service))
		return CATALOG_EINVAL;
	return write_id(hs, sql, 1, service, NULL);
}

int catalog_health_service_put(struct catalog_health *hs, const char *id, json_t *doc,
			       char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char *text = NULL;
	int rc = CATALOG_EINVAL;

	if (!valid_id(id) || !json_is_object(doc)) {
		seterr(err, errlen, "cannot store service: bad id or document");
		return rc;
	}
	text = json_dumps(doc, JSON_COMPACT);
	if (!text) {
		seterr(err, errlen, "cannot store service '%s': out of memory", id);
		return CATALOG_ENOMEM;
	}
	rc = CATALOG_EIO;
	pthread_mutex_lock(&hs->wlock);
	if (sqlite3_prepare_v2(hs->w,
			       "INSERT INTO health_services(id, doc, created_at) VALUES(?1, ?2, ?3)"
			       " ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, catalog_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		seterr(err, errlen, "cannot store service '%s' in catalog '%s': %s", id,
		       catalog_path(hs->cat), sqlite3_errmsg(hs->w));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&hs->wlock);
	free(text);
	return rc;
}

int catalog_health_service_delete(struct catalog_health *hs, const char *id)
{
	static const char *const sql[] = {
		"DELETE FROM health_points WHERE service = ?1",
		"DELETE FROM health_services WHERE id = ?1",
	};
	int changes = 0, rc;

	if (!valid_id(id))
		return CATALOG_EINVAL;
	rc = write_id(hs, sql, 2, id, &changes);
	if (rc == 0 && changes == 0)
		rc = CATALOG_ENOTFOUND;
	return rc;
}

int catalog_health_services(struct catalog_health *hs, json_t **out)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();
	int rc = CATALOG_EIO, step;

	*out = NULL;
	if (!arr)
		return CATALOG_ENOMEM;
	pthread_mutex_lock(&hs->rlock);
	if (sqlite3_prepare_v2(hs->r,
			       "SELECT id, doc, created_at FROM health_services"
			       " ORDER BY created_at, id",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *doc_text = (const char *)sqlite3_column_text(st, 1);
		json_t *doc = doc_text ? json_loads(doc_text, 0, NULL) : NULL;
		json_t *row;

		if (!json_is_object(doc)) {
			json_decref(doc);
			continue; /* a damaged row is skipped, not fatal */
		}
		row = json_pack("{s:o, s:o, s:I}", "id", text_json(st, 0), "doc", doc, "created_at",
				(json_int_t)sqlite3_column_int64(st, 2));
		if (!row || json_array_append_new(arr, row) != 0) {
			rc = CATALOG_ENOMEM;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		goto out;
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&hs->rlock);
	json_decref(arr);
	return rc;
}
