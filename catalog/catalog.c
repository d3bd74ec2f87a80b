/*
 * The catalog core: connections and migrations, identity, documents, write
 * batches and their merge rules, reads, history, export/import, OpenLineage
 * runs and tokens.  The contract is catalog/catalog.h; the schema is
 * catalog/schema.c.
 *
 * Connections.  One writer connection, serialised by the writer lock, which a batch
 * holds from catalog_batch_begin() to commit/abort.  Reads borrow a read-only
 * connection from a small pool (catalog_reader_get()/catalog_reader_put(): at
 * most cat->pool_size, opened on demand, each with a bounded page cache), so
 * the memory reads hold does not grow with the number of threads.  Every
 * read of catalog/ (documents, history, counts, runs, tokens, export, search,
 * lineage, ping, collector runs) borrows from it; no thread keeps its own.
 *
 * Time.  Every write takes a "tick" under the writer lock: the wall clock in
 * milliseconds, forced strictly above every earlier tick of this process and
 * above the source's latest assertion.  A batch's tick is therefore unique, and
 * "asserted in this batch" is simply seen_at == tick.
 */
#include "catalog/catalog_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SOURCE_MAX 64          /* a source's name */
#define SHORT_MAX 1024         /* subtype, platform, display_name, field name/type */
#define MEMBER_MAX 256         /* a tag, an owner, a property key */
#define RUN_ID_MAX 256
#define EDGES_LIST_MAX 1000    /* upstream/downstream in a document */
#define HISTORY_DEFAULT 50
#define HISTORY_MAX 1000
#define RUNS_DEFAULT 50
#define RUNS_MAX 1000
#define IMPORT_CHUNK 50000     /* lines per import transaction */
#define IMPORT_OPTIMIZE_MIN 50000 /* lines of an import that merge the search index after */
#define IMPORT_LINE_MAX (16L * 1024 * 1024)
#define WRITER_CACHE_KIB 8192
#define IMPORT_CACHE_KIB 131072 /* a bulk import's indexes outgrow less, and spill */
#define POOL_CACHE_KIB 2048     /* a pooled reader: a few of them, whatever the threads */
#define POOL_DEFAULT_MIN 2
#define POOL_DEFAULT_MAX 4
#define POOL_MAX 64
#define BUSY_MS 5000

/* --- statements cached on the writer ---------------------------------------- */

enum wstmt {
	W_ENT_FIND,
	W_ENT_INSERT,
	W_ENT_UPDATE,
	W_ENT_IMPORT,
	W_ENT_TOUCH,
	W_ENT_STALE,
	W_ENT_STALE_OF,
	W_ID_OF,
	W_EID_OF,
	W_ASSERT_GET,
	W_ASSERT_PUT,
	W_ASSERT_ANY_GONE,
	W_ASSERT_OLD,
	W_ASSERT_SET_GONE,
	W_SRC_MAX_SEEN,
	W_SRC_MAX_EDGE,
	W_FIELDS_OF,
	W_FIELD_PUT,
	W_FIELD_DEL,
	W_PROPS_OF,
	W_PROP_GET,
	W_PROP_PUT,
	W_PROP_DEL,
	W_TAGS_OF,
	W_TAG_PUT,
	W_TAG_DEL,
	W_OWNERS_OF,
	W_OWNER_PUT,
	W_OWNER_DEL,
	W_EDGE_GET,
	W_EDGE_LIVE,
	W_EDGE_PUT,
	W_EDGE_IMPORT,
	W_EDGE_OLD,
	W_EDGE_SET_STALE,
	W_HIST_ADD,
	W_FTS_SRC,
	W_FTS_PUT,
	W_RUN_GET,
	W_RUN_PUT,
	W_TOKEN_PUT,
	W_COUNT
};

static const char *const wsql[W_COUNT] = {
	[W_ENT_FIND] = "SELECT eid, subtype, platform, display_name, description, user_description,"
		       " stale, created_at, updated_at FROM entities WHERE id = ?1",
	[W_ENT_INSERT] = "INSERT INTO entities(id, kind, namespace, name, name_lc, short_lc, subtype,"
			 " platform, display_name, description, user_description, stale, created_at,"
			 " updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[W_ENT_UPDATE] = "UPDATE entities SET subtype = ?2, platform = ?3, display_name = ?4,"
			 " description = ?5, user_description = ?6, stale = ?7, updated_at = ?8"
			 " WHERE eid = ?1",
	[W_ENT_IMPORT] = "UPDATE entities SET subtype = ?2, platform = ?3, display_name = ?4,"
			 " description = ?5, user_description = ?6, stale = ?7, created_at = ?8,"
			 " updated_at = ?9 WHERE eid = ?1",
	[W_ENT_TOUCH] = "UPDATE entities SET updated_at = ?2 WHERE eid = ?1",
	[W_ENT_STALE] = "UPDATE entities SET stale = ?2, updated_at = ?3 WHERE eid = ?1",
	[W_ENT_STALE_OF] = "SELECT stale FROM entities WHERE eid = ?1",
	[W_ID_OF] = "SELECT id FROM entities WHERE eid = ?1",
	[W_EID_OF] = "SELECT eid FROM entities WHERE id = ?1",
	[W_ASSERT_GET] = "SELECT seen_at, gone FROM assertions WHERE eid = ?1 AND source = ?2",
	[W_ASSERT_PUT] = "INSERT OR REPLACE INTO assertions(eid, source, seen_at, gone)"
			 " VALUES(?1, ?2, ?3, ?4)",
	[W_ASSERT_ANY_GONE] = "SELECT EXISTS(SELECT 1 FROM assertions WHERE eid = ?1 AND gone = 1)",
	[W_ASSERT_OLD] = "SELECT eid FROM assertions WHERE source = ?1 AND gone = 0 AND seen_at < ?2",
	[W_ASSERT_SET_GONE] = "UPDATE assertions SET gone = 1 WHERE eid = ?1 AND source = ?2",
	[W_SRC_MAX_SEEN] = "SELECT max(seen_at) FROM assertions WHERE source = ?1",
	[W_SRC_MAX_EDGE] = "SELECT max(updated_at) FROM edges WHERE source = ?1",
	[W_FIELDS_OF] = "SELECT name, ordinal, type, description, nullable, properties, source"
			" FROM fields WHERE eid = ?1 ORDER BY name",
	[W_FIELD_PUT] = "INSERT OR REPLACE INTO fields(eid, name, ordinal, type, description,"
			" nullable, properties, source) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[W_FIELD_DEL] = "DELETE FROM fields WHERE eid = ?1 AND name = ?2",
	[W_PROPS_OF] = "SELECT key, value, source FROM properties WHERE eid = ?1 ORDER BY key",
	[W_PROP_GET] = "SELECT value FROM properties WHERE eid = ?1 AND key = ?2",
	[W_PROP_PUT] = "INSERT OR REPLACE INTO properties(eid, key, value, source)"
		       " VALUES(?1, ?2, ?3, ?4)",
	[W_PROP_DEL] = "DELETE FROM properties WHERE eid = ?1 AND key = ?2",
	[W_TAGS_OF] = "SELECT tag, source FROM tags WHERE eid = ?1 ORDER BY tag, source",
	[W_TAG_PUT] = "INSERT OR IGNORE INTO tags(eid, tag, source) VALUES(?1, ?2, ?3)",
	[W_TAG_DEL] = "DELETE FROM tags WHERE eid = ?1 AND tag = ?2 AND source = ?3",
	[W_OWNERS_OF] = "SELECT owner, source FROM owners WHERE eid = ?1 ORDER BY owner, source",
	[W_OWNER_PUT] = "INSERT OR IGNORE INTO owners(eid, owner, source) VALUES(?1, ?2, ?3)",
	[W_OWNER_DEL] = "DELETE FROM owners WHERE eid = ?1 AND owner = ?2 AND source = ?3",
	[W_EDGE_GET] = "SELECT stale, properties FROM edges"
		       " WHERE src = ?1 AND dst = ?2 AND kind = ?3 AND source = ?4",
	[W_EDGE_LIVE] = "SELECT EXISTS(SELECT 1 FROM edges WHERE src = ?1 AND dst = ?2 AND kind = ?3"
			" AND source <> ?4 AND stale = 0)",
	[W_EDGE_PUT] = "INSERT INTO edges(src, dst, kind, source, properties, stale, created_at,"
		       " updated_at) VALUES(?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)"
		       " ON CONFLICT(src, dst, kind, source) DO UPDATE SET"
		       " properties = excluded.properties, stale = 0, updated_at = excluded.updated_at",
	[W_EDGE_IMPORT] = "INSERT OR REPLACE INTO edges(src, dst, kind, source, properties, stale,"
			  " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[W_EDGE_OLD] = "SELECT src, dst, kind FROM edges"
		       " WHERE source = ?1 AND stale = 0 AND updated_at < ?2",
	[W_EDGE_SET_STALE] = "UPDATE edges SET stale = 1"
			     " WHERE src = ?1 AND dst = ?2 AND kind = ?3 AND source = ?4",
	[W_HIST_ADD] = "INSERT INTO history(eid, at, source, change, detail) VALUES(?1, ?2, ?3, ?4, ?5)",
	[W_FTS_SRC] =
		"SELECT e.name, trim(e.display_name || ' ' || e.subtype), e.namespace,"
		"  coalesce(e.user_description, e.description),"
		"  coalesce((SELECT group_concat(name || ' ' || description, ' ')"
		"   FROM fields WHERE eid = ?1), ''),"
		"  coalesce((SELECT group_concat(tag, ' ') FROM"
		"   (SELECT tag FROM tags WHERE eid = ?1 GROUP BY tag)), ''),"
		"  coalesce((SELECT group_concat(owner, ' ') FROM"
		"   (SELECT owner FROM owners WHERE eid = ?1 GROUP BY owner)), '')"
		" FROM entities e WHERE e.eid = ?1",
	[W_FTS_PUT] = "INSERT OR REPLACE INTO entity_fts(rowid, name, display, namespace, description,"
		      " fields, tags, owners) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[W_RUN_GET] = "SELECT state, started_at, ended_at, updated_at FROM runs WHERE run_id = ?1",
	[W_RUN_PUT] = "INSERT OR REPLACE INTO runs(run_id, job_eid, state, started_at, ended_at,"
		      " updated_at, event) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[W_TOKEN_PUT] = "INSERT OR REPLACE INTO tokens(hash, scope, label, created_at)"
			" VALUES(?1, ?2, ?3, ?4)",
};

/* --- the catalog object ------------------------------------------------------ */

struct catalog {
	char *path;
	uint64_t open_id;
	sqlite3 *w;                    /* the writer; guarded by the writer lock */
	/*
	 * The writer lock: a flag under wlock rather than the mutex itself, so a
	 * batch may end on another thread than it began, and a thread that asks
	 * for the writer while it already holds it gets an error, not a deadlock.
	 */
	pthread_mutex_t wlock;
	pthread_cond_t wfree;
	int wbusy;
	pthread_t wowner;
	sqlite3_stmt *ws[W_COUNT];
	long long last_tick;           /* guarded by the writer lock */
	_Atomic uint64_t generation;
	pthread_mutex_t rlock;         /* guards the pool */
	pthread_cond_t pool_free;      /* signalled when a pooled reader is put back */
	sqlite3 *pool_idle[POOL_MAX];  /* open pooled readers nobody holds */
	int pool_n_idle;
	int pool_open;                 /* pooled readers open or being opened */
	int pool_size;                 /* at most this many */
	int locks_ready;
};

static _Atomic uint64_t open_counter;

static int pool_size_from_env(void);

/* --- small helpers --------------------------------------------------------- */

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

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* strcmp treating NULL as less than every string. */
static int nstrcmp(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? strdup((const char *)t) : NULL;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* A JSON value as compact text with sorted keys (malloc'd), NULL for NULL/null. */
static char *json_text(const json_t *v)
{
	if (!v || json_is_null(v))
		return NULL;
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static int is_kind(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!(s[n] >= 'a' && s[n] <= 'z') && s[n] != '_')
			return 0;
	return n > 0 && n < 32;
}

static int has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* --- time ---------------------------------------------------------------- */

long long catalog_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
	long long era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (long long)yoe + era * 400 + (*m <= 2);
}

void catalog_format_time(long long ms, char *out, size_t outlen)
{
	long long days, secs, y;
	long long msec;
	unsigned m, d;

	if (!out || outlen == 0)
		return;
	msec = ms % 1000;
	secs = ms / 1000;
	if (msec < 0) {
		msec += 1000;
		secs--;
	}
	days = secs / 86400;
	secs %= 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	snprintf(out, outlen, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", y, m, d, secs / 3600,
		 secs / 60 % 60, secs % 60, msec);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Parse RFC 3339 ("2024-05-01T12:00:00Z", "...T12:00:00.123456+02:00") into
 * milliseconds since the epoch, UTC.  Fractions beyond milliseconds are cut.
 */
static int parse_time(const char *s, long long *out)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	long long ms = 0, days;
	int scale = 100;
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (!s || strlen(s) < 20)
		return -1;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return -1;
	s += 19;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++) {
			ms += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		if (digits(s + 1, 2, &oh) || s[3] != ':' || digits(s + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return -1;
		s += 6;
	} else {
		return -1;
	}
	if (*s)
		return -1;
	if (sec == 60)
		sec = 59; /* a leap second: clamp */
	days = days_from_civil(y, (unsigned)mo, (unsigned)d);
	*out = ((days * 86400 + h * 3600 + mi * 60 + sec) - sign * (oh * 3600 + om * 60)) * 1000 + ms;
	return 0;
}

void catalog_short_name(const char *name, char *out, size_t outlen)
{
	const char *seg = name;
	size_t n = 0;

	if (!out || outlen == 0)
		return;
	for (const char *p = name; p && *p; p++)
		if (*p == '.' || *p == '/' || *p == ':')
			seg = p + 1;
	for (; seg && seg[n] && n + 1 < outlen; n++)
		out[n] = (char)tolower((unsigned char)seg[n]);
	out[n] = '\0';
}

/* Lowercase (ASCII) copy of S into OUT, truncated to fit. */
static void lower_copy(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	for (; s[n] && n + 1 < outlen; n++)
		out[n] = (char)tolower((unsigned char)s[n]);
	out[n] = '\0';
}

/* --- identity ---------------------------------------------------------------- */

/* Length of a URI scheme followed by "://" at the start of S, or 0. */
static size_t scheme_len(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char)s[0]))
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '-' || s[n] == '.')
		n++;
	return strncmp(s + n, "://", 3) == 0 ? n : 0;
}

int catalog_id_parse(const char *id, struct catalog_id *out)
{
	const char *colon, *rest, *p, *end;
	size_t klen, nslen, slen;
	int port_seen = 0;

	if (!id || !out)
		return CATALOG_EINVAL;
	memset(out, 0, sizeof *out);
	if (strlen(id) > CATALOG_ID_MAX || has_ctl(id))
		return CATALOG_EINVAL;
	colon = strchr(id, ':');
	if (!colon)
		return CATALOG_EINVAL;
	klen = (size_t)(colon - id);
	if (klen == 0 || klen >= sizeof out->kind)
		return CATALOG_EINVAL;
	memcpy(out->kind, id, klen);
	if (!is_kind(out->kind))
		return CATALOG_EINVAL;
	rest = colon + 1;
	slen = scheme_len(rest);
	if (slen) {
		/*
		 * scheme://authority: the authority ends at the first ':' not
		 * followed by a port (digits then ':').  One port at most; an IPv6
		 * literal in brackets is skipped whole.
		 */
		p = rest + slen + 3;
		if (*p == '[') {
			p = strchr(p, ']');
			if (!p)
				return CATALOG_EINVAL;
		}
		end = NULL;
		for (; *p; p++) {
			const char *q;

			if (*p != ':')
				continue;
			for (q = p + 1; *q >= '0' && *q <= '9'; q++)
				;
			if (!port_seen && q > p + 1 && *q == ':') {
				port_seen = 1;
				p = q - 1;
				continue;
			}
			end = p;
			break;
		}
		if (!end)
			return CATALOG_EINVAL;
	} else {
		end = strchr(rest, ':');
		if (!end)
			return CATALOG_EINVAL;
	}
	nslen = (size_t)(end - rest);
	if (nslen == 0 || nslen >= sizeof out->namespace_)
		return CATALOG_EINVAL;
	memcpy(out->namespace_, rest, nslen);
	if (!end[1] || strlen(end + 1) >= sizeof out->name)
		return CATALOG_EINVAL;
	strcpy(out->name, end + 1);
	return 0;
}

int catalog_id_format(const char *kind, const char *namespace_, const char *name, char *out,
		      size_t outlen)
{
	int n;

	if (!kind || !namespace_ || !name || !out || outlen == 0)
		return CATALOG_EINVAL;
	n = snprintf(out, outlen, "%s:%s:%s", kind, namespace_, name);
	if (n < 0 || (size_t)n >= outlen || n > CATALOG_ID_MAX) {
		out[0] = '\0';
		return CATALOG_EINVAL;
	}
	return 0;
}

void catalog_platform_of(const char *namespace_, char *out, size_t outlen)
{
	size_t n;

	if (!out || outlen == 0)
		return;
	out[0] = '\0';
	if (!namespace_)
		return;
	n = scheme_len(namespace_);
	if (n == 0 || n >= outlen)
		return;
	lower_copy(namespace_, out, n + 1);
}

/* --- documents ------------------------------------------------------------- */

enum { DOC_BATCH = 0, DOC_IMPORT = 1 };

/* A validated entity document; pointers borrow from the JSON. */
struct doc {
	char id[CATALOG_ID_MAX + 1];
	struct catalog_id p;
	const char *subtype, *platform, *display_name, *description; /* NULL: absent */
	json_t *properties, *tags, *owners, *fields;                   /* NULL: absent */
	/* DOC_IMPORT only */
	int has_user_description;
	const char *user_description;
	int stale;
	long long created_at, updated_at; /* -1: absent */
	json_t *sources;
};

/* Keys of a GET document that are output only: accepted and ignored on input. */
static const char *const readonly_keys[] = {
	"stale", "created_at", "updated_at", "sources", "source_description", "upstream",
	"downstream", "upstream_total", "downstream_total", "tag_sources", "owner_sources",
	"property_sources", NULL,
};

static int in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* A string member: 0 ok (or absent: *out NULL), -1 with ERR. */
static int doc_string(json_t *v, const char *key, size_t max, int nullable_empty, const char **out,
		      char *err, size_t errlen)
{
	const char *s;

	*out = NULL;
	if (!v)
		return 0;
	if (json_is_null(v) && nullable_empty) {
		*out = "";
		return 0;
	}
	if (!json_is_string(v)) {
		seterr(err, errlen, "%s: must be a string", key);
		return -1;
	}
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v)) {
		seterr(err, errlen, "%s: contains a NUL character", key);
		return -1;
	}
	if (json_string_length(v) > max) {
		seterr(err, errlen, "%s: too long (at most %zu bytes)", key, max);
		return -1;
	}
	*out = s;
	return 0;
}

static int check_set(json_t *arr, const char *key, char *err, size_t errlen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr)) {
		seterr(err, errlen, "%s: must be an array of strings", key);
		return -1;
	}
	if (json_array_size(arr) > CATALOG_FIELDS_MAX) {
		seterr(err, errlen, "%s: too many (at most %d)", key, CATALOG_FIELDS_MAX);
		return -1;
	}
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    has_ctl(json_string_value(v))) {
			seterr(err, errlen, "%s[%zu]: must be a non-empty string", key, i);
			return -1;
		}
		if (json_string_length(v) > MEMBER_MAX) {
			seterr(err, errlen, "%s[%zu]: too long (at most %d bytes)", key, i, MEMBER_MAX);
			return -1;
		}
	}
	return 0;
}

static int check_props(json_t *obj, const char *key, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(obj)) {
		seterr(err, errlen, "%s: must be an object", key);
		return -1;
	}
	json_object_foreach(obj, k, v) {
		size_t n = strlen(k);

		if (n == 0 || n > MEMBER_MAX || has_ctl(k)) {
			seterr(err, errlen, "%s: key '%.64s' must be 1 to %d printable bytes", key, k,
			       MEMBER_MAX);
			return -1;
		}
		(void)v;
	}
	return 0;
}

static int name_idx_cmp(const void *a, const void *b)
{
	const json_t *fa = *(json_t *const *)a, *fb = *(json_t *const *)b;

	return strcmp(json_string_value(json_object_get(fa, "name")),
		      json_string_value(json_object_get(fb, "name")));
}

static int check_fields(json_t *arr, char *err, size_t errlen)
{
	static const char *const fkeys[] = { "name", "type", "description", "nullable", "ordinal",
					     "properties", "source", NULL };
	json_t **sorted = NULL;
	size_t i, n;
	json_t *f;
	int rc = -1;

	if (!json_is_array(arr)) {
		seterr(err, errlen, "fields: must be an array of objects");
		return -1;
	}
	n = json_array_size(arr);
	if (n > CATALOG_FIELDS_MAX) {
		seterr(err, errlen, "fields: too many (at most %d)", CATALOG_FIELDS_MAX);
		return -1;
	}
	json_array_foreach(arr, i, f) {
		const char *k, *s;
		json_t *v;
		char key[64];

		if (!json_is_object(f)) {
			seterr(err, errlen, "fields[%zu]: must be an object", i);
			return -1;
		}
		json_object_foreach(f, k, v) {
			if (!in_list(fkeys, k)) {
				seterr(err, errlen, "fields[%zu].%.64s: unknown key", i, k);
				return -1;
			}
		}
		v = json_object_get(f, "name");
		if (!v) {
			seterr(err, errlen, "fields[%zu].name: missing", i);
			return -1;
		}
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > SHORT_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    has_ctl(json_string_value(v))) {
			seterr(err, errlen,
			       "fields[%zu].name: must be a non-empty printable string of at most %d"
			       " bytes", i, SHORT_MAX);
			return -1;
		}
		/* the keys are formatted only when they are needed for an error */
		v = json_object_get(f, "type");
		if (v && !(json_is_string(v) && json_string_length(v) <= SHORT_MAX &&
			   strlen(json_string_value(v)) == json_string_length(v))) {
			snprintf(key, sizeof key, "fields[%zu].type", i);
			if (doc_string(v, key, SHORT_MAX, 1, &s, err, errlen))
				return -1;
		}
		v = json_object_get(f, "description");
		if (v && !(json_is_string(v) && json_string_length(v) <= CATALOG_TEXT_MAX &&
			   strlen(json_string_value(v)) == json_string_length(v))) {
			snprintf(key, sizeof key, "fields[%zu].description", i);
			if (doc_string(v, key, CATALOG_TEXT_MAX, 1, &s, err, errlen))
				return -1;
		}
		v = json_object_get(f, "nullable");
		if (v && !json_is_boolean(v) && !json_is_null(v)) {
			seterr(err, errlen, "fields[%zu].nullable: must be true, false or null", i);
			return -1;
		}
		v = json_object_get(f, "ordinal");
		if (v && !json_is_integer(v)) {
			seterr(err, errlen, "fields[%zu].ordinal: must be an integer", i);
			return -1;
		}
		v = json_object_get(f, "properties");
		if (v && !json_is_null(v)) {
			snprintf(key, sizeof key, "fields[%zu].properties", i);
			if (check_props(v, key, err, errlen))
				return -1;
		}
		v = json_object_get(f, "source");
		if (v && !json_is_string(v)) {
			seterr(err, errlen, "fields[%zu].source: must be a string", i);
			return -1;
		}
	}
	if (n < 2)
		return 0;
	sorted = malloc(n * sizeof *sorted);
	if (!sorted) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		sorted[i] = json_array_get(arr, i);
	qsort(sorted, n, sizeof *sorted, name_idx_cmp);
	for (i = 1; i < n; i++) {
		if (name_idx_cmp(&sorted[i - 1], &sorted[i]) == 0) {
			const char *dup = json_string_value(json_object_get(sorted[i], "name"));
			size_t j = 0;

			/* name the later of the two positions in the array */
			for (size_t seen = 0; j < n; j++)
				if (strcmp(json_string_value(json_object_get(json_array_get(arr, j),
									     "name")),
					   dup) == 0 &&
				    seen++ == 1)
					break;
			seterr(err, errlen, "fields[%zu].name: duplicate '%.128s'", j, dup);
			goto out;
		}
	}
	rc = 0;
out:
	free(sorted);
	return rc;
}

static int doc_time(json_t *v, const char *key, long long *out, char *err, size_t errlen)
{
	*out = -1;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || parse_time(json_string_value(v), out)) {
		seterr(err, errlen, "%s: must be an RFC 3339 time", key);
		return -1;
	}
	return 0;
}

/* Validate DOC into D.  0 or CATALOG_EINVAL with ERR naming the key. */
static int doc_parse(json_t *j, int mode, struct doc *d, char *err, size_t errlen)
{
	static const char *const keys[] = { "id", "kind", "namespace", "name", "subtype", "platform",
					    "display_name", "description", "properties", "tags",
					    "owners", "fields", NULL };
	static const char *const import_keys[] = { "type", "user_description", "stale", "created_at",
						   "updated_at", "_sources", NULL };
	const char *k, *id = NULL, *kind = NULL, *ns = NULL, *name = NULL;
	json_t *v;
	char formatted[CATALOG_ID_MAX + 1];
	struct catalog_id again;

	memset(d, 0, sizeof *d);
	d->created_at = d->updated_at = -1;
	if (!json_is_object(j)) {
		seterr(err, errlen, "document: must be an object");
		return CATALOG_EINVAL;
	}
	json_object_foreach(j, k, v) {
		if (in_list(keys, k))
			continue;
		if (mode == DOC_IMPORT ? in_list(import_keys, k) : in_list(readonly_keys, k))
			continue;
		seterr(err, errlen, "%.64s: unknown key", k);
		return CATALOG_EINVAL;
	}
	if (doc_string(json_object_get(j, "id"), "id", CATALOG_ID_MAX, 0, &id, err, errlen) ||
	    doc_string(json_object_get(j, "kind"), "kind", sizeof d->p.kind - 1, 0, &kind, err,
		       errlen) ||
	    doc_string(json_object_get(j, "namespace"), "namespace", sizeof d->p.namespace_ - 1, 0,
		       &ns, err, errlen) ||
	    doc_string(json_object_get(j, "name"), "name", sizeof d->p.name - 1, 0, &name, err,
		       errlen))
		return CATALOG_EINVAL;
	if (kind && !is_kind(kind)) {
		seterr(err, errlen, "kind: must be 1 to 31 of a-z and '_'");
		return CATALOG_EINVAL;
	}
	if (ns && (!*ns || has_ctl(ns))) {
		seterr(err, errlen, "namespace: must be a non-empty printable string");
		return CATALOG_EINVAL;
	}
	if (name && (!*name || has_ctl(name))) {
		seterr(err, errlen, "name: must be a non-empty printable string");
		return CATALOG_EINVAL;
	}
	if (id) {
		if (catalog_id_parse(id, &d->p)) {
			seterr(err, errlen, "id: malformed '%.128s' (want kind:namespace:name)", id);
			return CATALOG_EINVAL;
		}
		if ((kind && strcmp(kind, d->p.kind)) || (ns && strcmp(ns, d->p.namespace_)) ||
		    (name && strcmp(name, d->p.name))) {
			seterr(err, errlen, "id: does not match kind, namespace and name");
			return CATALOG_EINVAL;
		}
		strcpy(d->id, id);
	} else {
		if (!kind || !ns || !name) {
			seterr(err, errlen, "%s: missing", !kind ? "kind" : !ns ? "namespace" : "name");
			return CATALOG_EINVAL;
		}
		if (catalog_id_format(kind, ns, name, formatted, sizeof formatted)) {
			seterr(err, errlen, "id: longer than %d bytes", CATALOG_ID_MAX);
			return CATALOG_EINVAL;
		}
		if (catalog_id_parse(formatted, &again) || strcmp(again.namespace_, ns) ||
		    strcmp(again.name, name)) {
			seterr(err, errlen,
			       "namespace: '%.128s' with name '%.128s' makes an ambiguous id", ns, name);
			return CATALOG_EINVAL;
		}
		d->p = again;
		strcpy(d->id, formatted);
	}
	if (doc_string(json_object_get(j, "subtype"), "subtype", SHORT_MAX, 1, &d->subtype, err,
		       errlen) ||
	    doc_string(json_object_get(j, "platform"), "platform", SHORT_MAX, 1, &d->platform, err,
		       errlen) ||
	    doc_string(json_object_get(j, "display_name"), "display_name", SHORT_MAX, 1,
		       &d->display_name, err, errlen) ||
	    doc_string(json_object_get(j, "description"), "description", CATALOG_TEXT_MAX, 1,
		       &d->description, err, errlen))
		return CATALOG_EINVAL;
	v = json_object_get(j, "properties");
	if (v && !json_is_null(v)) {
		if (check_props(v, "properties", err, errlen))
			return CATALOG_EINVAL;
		d->properties = v;
	}
	v = json_object_get(j, "tags");
	if (v && !json_is_null(v)) {
		if (check_set(v, "tags", err, errlen))
			return CATALOG_EINVAL;
		d->tags = v;
	}
	v = json_object_get(j, "owners");
	if (v && !json_is_null(v)) {
		if (check_set(v, "owners", err, errlen))
			return CATALOG_EINVAL;
		d->owners = v;
	}
	v = json_object_get(j, "fields");
	if (v && !json_is_null(v)) {
		if (check_fields(v, err, errlen))
			return CATALOG_EINVAL;
		d->fields = v;
	}
	if (mode != DOC_IMPORT)
		return 0;
	v = json_object_get(j, "user_description");
	if (v) {
		d->has_user_description = 1;
		if (!json_is_null(v) && doc_string(v, "user_description", CATALOG_TEXT_MAX, 0,
						   &d->user_description, err, errlen))
			return CATALOG_EINVAL;
	}
	v = json_object_get(j, "stale");
	if (v && !json_is_boolean(v)) {
		seterr(err, errlen, "stale: must be true or false");
		return CATALOG_EINVAL;
	}
	d->stale = json_is_true(v);
	if (doc_time(json_object_get(j, "created_at"), "created_at", &d->created_at, err, errlen) ||
	    doc_time(json_object_get(j, "updated_at"), "updated_at", &d->updated_at, err, errlen))
		return CATALOG_EINVAL;
	v = json_object_get(j, "_sources");
	if (v && !json_is_object(v)) {
		seterr(err, errlen, "_sources: must be an object");
		return CATALOG_EINVAL;
	}
	d->sources = v;
	return 0;
}

/* --- opening and closing ---------------------------------------------------- */

/* Run SQL on DB; on failure fill ERR with "cannot WHAT catalog 'PATH': ...". */
static int exec_sql(struct catalog *cat, sqlite3 *db, const char *sql, const char *what, char *err,
		    size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		seterr(err, errlen, "cannot %s catalog '%s': %s", what, cat->path,
		       msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return CATALOG_EIO;
	}
	return 0;
}

static int user_version(struct catalog *cat, int *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = CATALOG_EIO;

	if (sqlite3_prepare_v2(cat->w, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		seterr(err, errlen, "cannot open catalog '%s': %s", cat->path, sqlite3_errmsg(cat->w));
		goto out;
	}
	*out = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int migrate(struct catalog *cat, char *err, size_t errlen)
{
	char sql[64];
	int v, rc = 0, in_tx = 0;

	for (;;) {
		rc = exec_sql(cat, cat->w, "BEGIN IMMEDIATE", "migrate", err, errlen);
		if (rc)
			goto out;
		in_tx = 1;
		rc = user_version(cat, &v, err, errlen);
		if (rc)
			goto out;
		if (v > CATALOG_SCHEMA_VERSION) {
			seterr(err, errlen,
			       "catalog '%s' has schema version %d, newer than this terrarium (%d)",
			       cat->path, v, CATALOG_SCHEMA_VERSION);
			rc = CATALOG_EVERSION;
			goto out;
		}
		if (v == CATALOG_SCHEMA_VERSION)
			break;
		if (v < 0 || v >= catalog_migrations_count) {
			seterr(err, errlen, "cannot migrate catalog '%s': no migration from version %d",
			       cat->path, v);
			rc = CATALOG_EIO;
			goto out;
		}
		rc = exec_sql(cat, cat->w, catalog_migrations[v], "migrate", err, errlen);
		if (rc)
			goto out;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		rc = exec_sql(cat, cat->w, sql, "migrate", err, errlen);
		if (rc)
			goto out;
		rc = exec_sql(cat, cat->w, "COMMIT", "migrate", err, errlen);
		if (rc)
			goto out;
		in_tx = 0;
	}
	rc = exec_sql(cat, cat->w, "COMMIT", "migrate", err, errlen);
	in_tx = rc != 0;
out:
	if (in_tx)
		sqlite3_exec(cat->w, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

struct catalog *catalog_open(const char *path, char *err, size_t errlen)
{
	struct catalog *cat = NULL;
	sqlite3_stmt *st = NULL;
	char sql[64];
	int v, ok = 0;

	if (!path || !*path) {
		seterr(err, errlen, "cannot open catalog: no path given");
		return NULL;
	}
	if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0) {
		seterr(err, errlen, "cannot open catalog '%s': only file paths are supported", path);
		return NULL;
	}
	cat = calloc(1, sizeof *cat);
	if (!cat || !(cat->path = strdup(path))) {
		seterr(err, errlen, "cannot open catalog '%s': out of memory", path);
		goto out;
	}
	if (pthread_mutex_init(&cat->wlock, NULL)) {
		seterr(err, errlen, "cannot open catalog '%s': cannot create a lock", path);
		goto out;
	}
	if (pthread_cond_init(&cat->wfree, NULL)) {
		pthread_mutex_destroy(&cat->wlock);
		seterr(err, errlen, "cannot open catalog '%s': cannot create a lock", path);
		goto out;
	}
	if (pthread_mutex_init(&cat->rlock, NULL)) {
		pthread_cond_destroy(&cat->wfree);
		pthread_mutex_destroy(&cat->wlock);
		seterr(err, errlen, "cannot open catalog '%s': cannot create a lock", path);
		goto out;
	}
	if (pthread_cond_init(&cat->pool_free, NULL)) {
		pthread_mutex_destroy(&cat->rlock);
		pthread_cond_destroy(&cat->wfree);
		pthread_mutex_destroy(&cat->wlock);
		seterr(err, errlen, "cannot open catalog '%s': cannot create a lock", path);
		goto out;
	}
	cat->locks_ready = 1;
	cat->pool_size = pool_size_from_env();
	cat->open_id = atomic_fetch_add(&open_counter, 1) + 1;
	atomic_init(&cat->generation, 1);
	if (sqlite3_open_v2(path, &cat->w,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		seterr(err, errlen, "cannot open catalog '%s': %s", path,
		       cat->w ? sqlite3_errmsg(cat->w) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(cat->w, BUSY_MS);
	sqlite3_extended_result_codes(cat->w, 1);
	/* Refuse a newer file before touching it at all. */
	if (user_version(cat, &v, err, errlen))
		goto out;
	if (v > CATALOG_SCHEMA_VERSION) {
		seterr(err, errlen, "catalog '%s' has schema version %d, newer than this terrarium (%d)",
		       path, v, CATALOG_SCHEMA_VERSION);
		goto out;
	}
	if (sqlite3_prepare_v2(cat->w, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp(col_text(st, 0), "wal") != 0) {
		seterr(err, errlen, "cannot open catalog '%s': cannot use WAL mode: %s", path,
		       sqlite3_errmsg(cat->w));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", WRITER_CACHE_KIB);
	if (exec_sql(cat, cat->w, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF",
		     "open", err, errlen) ||
	    exec_sql(cat, cat->w, sql, "open", err, errlen))
		goto out;
	if (migrate(cat, err, errlen))
		goto out;
	for (int i = 0; i < W_COUNT; i++) {
		if (sqlite3_prepare_v3(cat->w, wsql[i], -1, SQLITE_PREPARE_PERSISTENT, &cat->ws[i],
				       NULL) != SQLITE_OK) {
			seterr(err, errlen, "cannot open catalog '%s': %s", path,
			       sqlite3_errmsg(cat->w));
			goto out;
		}
	}
	ok = 1;
out:
	sqlite3_finalize(st);
	if (!ok) {
		catalog_close(cat);
		cat = NULL;
	}
	return cat;
}

void catalog_close(struct catalog *cat)
{
	if (!cat)
		return;
	for (int i = 0; i < cat->pool_n_idle; i++) {
		search_reader_release(cat->pool_idle[i]);
		sqlite3_close_v2(cat->pool_idle[i]);
	}
	for (int i = 0; i < W_COUNT; i++)
		sqlite3_finalize(cat->ws[i]);
	if (cat->w) {
		sqlite3_wal_checkpoint_v2(cat->w, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_close_v2(cat->w);
	}
	if (cat->locks_ready) {
		pthread_cond_destroy(&cat->wfree);
		pthread_mutex_destroy(&cat->wlock);
		pthread_mutex_destroy(&cat->rlock);
		pthread_cond_destroy(&cat->pool_free);
	}
	free(cat->path);
	free(cat);
}

const char *catalog_path(const struct catalog *cat)
{
	return cat ? cat->path : NULL;
}

uint64_t catalog_generation(struct catalog *cat)
{
	return cat ? atomic_load(&cat->generation) : 0;
}

/* --- the reader pool --------------------------------------------------------- */

/*
 * TERRARIUM_CATALOG_READERS (1..POOL_MAX), else one reader per online CPU,
 * POOL_DEFAULT_MIN to POOL_DEFAULT_MAX: reads are CPU-bound (the file's pages
 * come from the OS cache), so more readers than cores add page caches and
 * contention, not throughput (on 2 cores, 4 readers cost 1.3x the CPU per
 * search of 2 under 16 clients and 4 MiB more RSS; docs/benchmarks.md).
 */
static int pool_size_from_env(void)
{
	const char *v = getenv("TERRARIUM_CATALOG_READERS");
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	char *end;

	if (n < POOL_DEFAULT_MIN)
		n = POOL_DEFAULT_MIN;
	if (n > POOL_DEFAULT_MAX)
		n = POOL_DEFAULT_MAX;
	if (v && *v) {
		long e = strtol(v, &end, 10);

		if (!*end && e >= 1 && e <= POOL_MAX)
			n = e;
	}
	return (int)n;
}

/* A read-only connection to PATH with a page cache of CACHE_KIB, or NULL. */
static sqlite3 *reader_open(const char *path, int cache_kib)
{
	sqlite3 *db = NULL;
	char sql[64];

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		sqlite3_close_v2(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, BUSY_MS);
	snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", cache_kib);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	return db;
}

sqlite3 *catalog_reader_get(struct catalog *cat)
{
	sqlite3 *db = NULL;

	if (!cat)
		return NULL;
	pthread_mutex_lock(&cat->rlock);
	while (!cat->pool_n_idle && cat->pool_open >= cat->pool_size)
		pthread_cond_wait(&cat->pool_free, &cat->rlock);
	if (cat->pool_n_idle) {
		db = cat->pool_idle[--cat->pool_n_idle];
		pthread_mutex_unlock(&cat->rlock);
		return db;
	}
	/* Open a new one outside the lock: the slot is reserved meanwhile. */
	cat->pool_open++;
	pthread_mutex_unlock(&cat->rlock);
	db = reader_open(cat->path, POOL_CACHE_KIB);
	if (db && search_reader_init(db) != 0) {
		sqlite3_close_v2(db);
		db = NULL;
	}
	if (!db) {
		pthread_mutex_lock(&cat->rlock);
		cat->pool_open--;
		pthread_cond_signal(&cat->pool_free);
		pthread_mutex_unlock(&cat->rlock);
	}
	return db;
}

void catalog_reader_put(struct catalog *cat, sqlite3 *db)
{
	if (!cat || !db)
		return;
	/* A borrower that left a transaction open must not pin a snapshot. */
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&cat->rlock);
	if (cat->pool_n_idle < POOL_MAX) {
		cat->pool_idle[cat->pool_n_idle++] = db;
		db = NULL;
	} else {
		cat->pool_open--;
	}
	pthread_cond_signal(&cat->pool_free);
	pthread_mutex_unlock(&cat->rlock);
	if (db) {
		search_reader_release(db);
		sqlite3_close_v2(db);
	}
}

int catalog_readers_open(struct catalog *cat)
{
	int n;

	if (!cat)
		return 0;
	pthread_mutex_lock(&cat->rlock);
	n = cat->pool_open;
	pthread_mutex_unlock(&cat->rlock);
	return n;
}

uint64_t catalog_open_id(struct catalog *cat)
{
	return cat ? cat->open_id : 0;
}

int catalog_readers_max(struct catalog *cat)
{
	return cat ? cat->pool_size : 0;
}

/* Begin a read transaction on DB unless one is open; *BEGAN says whether to end it. */
static int rd_begin(sqlite3 *db, int *began)
{
	*began = 0;
	if (!sqlite3_get_autocommit(db))
		return 0;
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return CATALOG_EIO;
	*began = 1;
	return 0;
}

static void rd_end(sqlite3 *db, int began)
{
	if (began && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* --- writing: the shared context ------------------------------------------ */

struct wctx {
	struct catalog *cat;
	const char *source;  /* who asserts members */
	const char *actor;   /* the history rows' source */
	long long now;
	int dirty;           /* something visible changed */
	char *err;
	size_t errlen;
};

static sqlite3_stmt *W(struct wctx *w, enum wstmt which)
{
	return w->cat->ws[which];
}

static int wfail(struct wctx *w, const char *what)
{
	seterr(w->err, w->errlen, "cannot %s in catalog '%s': %s", what, w->cat->path,
	       sqlite3_errmsg(w->cat->w));
	return CATALOG_EIO;
}

/* Step a statement that returns no rows we need, and reset it. */
static int wrun(struct wctx *w, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		wfail(w, what);
		sqlite3_reset(st);
		return CATALOG_EIO;
	}
	sqlite3_reset(st);
	return 0;
}

/* The tick of a write (see the top of this file); caller holds wlock. */
static long long tick(struct catalog *cat, long long floor_ms)
{
	long long t = catalog_now_ms();

	if (t <= cat->last_tick)
		t = cat->last_tick + 1;
	if (t <= floor_ms)
		t = floor_ms + 1;
	cat->last_tick = t;
	return t;
}

/* Take the writer lock: 0, or CATALOG_EINVAL if this thread holds it already. */
static int wlock_take(struct catalog *cat, char *err, size_t errlen)
{
	pthread_t self = pthread_self();
	int rc = 0;

	pthread_mutex_lock(&cat->wlock);
	if (cat->wbusy && pthread_equal(cat->wowner, self)) {
		seterr(err, errlen, "catalog '%s': this thread already holds the writer (an open batch)",
		       cat->path);
		rc = CATALOG_EINVAL;
		goto out;
	}
	while (cat->wbusy)
		pthread_cond_wait(&cat->wfree, &cat->wlock);
	cat->wbusy = 1;
	cat->wowner = self;
out:
	pthread_mutex_unlock(&cat->wlock);
	return rc;
}

static void wlock_give(struct catalog *cat)
{
	pthread_mutex_lock(&cat->wlock);
	cat->wbusy = 0;
	pthread_cond_signal(&cat->wfree);
	pthread_mutex_unlock(&cat->wlock);
}

/* Take the writer lock and begin a write transaction. */
static int wbegin(struct catalog *cat, char *err, size_t errlen)
{
	int rc = wlock_take(cat, err, errlen);

	if (rc)
		return rc;
	if (exec_sql(cat, cat->w, "BEGIN IMMEDIATE", "write", err, errlen)) {
		wlock_give(cat);
		return CATALOG_EIO;
	}
	return 0;
}

/* Commit (if RC is 0) or roll back, then release the lock.  Returns the outcome. */
static int wend(struct catalog *cat, int rc, int dirty, char *err, size_t errlen)
{
	if (rc == 0) {
		rc = exec_sql(cat, cat->w, "COMMIT", "commit to", err, errlen);
		if (rc == 0 && dirty)
			atomic_fetch_add(&cat->generation, 1);
	}
	if (rc != 0 && !sqlite3_get_autocommit(cat->w))
		sqlite3_exec(cat->w, "ROLLBACK", NULL, NULL, NULL);
	wlock_give(cat);
	return rc;
}

/* --- writing: entities ---------------------------------------------------- */

struct ent {
	int64_t eid;
	char *subtype, *platform, *display_name, *description, *user_description;
	int stale;
	long long created_at, updated_at;
};

static void ent_release(struct ent *e)
{
	free(e->subtype);
	free(e->platform);
	free(e->display_name);
	free(e->description);
	free(e->user_description);
	memset(e, 0, sizeof *e);
}

/* Load entity ID: 1 found, 0 absent, or a negative code. */
static int ent_find(struct wctx *w, const char *id, struct ent *e)
{
	sqlite3_stmt *st = W(w, W_ENT_FIND);
	int rc;

	memset(e, 0, sizeof *e);
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = wfail(w, "look up an entity");
		goto out;
	}
	e->eid = sqlite3_column_int64(st, 0);
	e->subtype = col_dup(st, 1);
	e->platform = col_dup(st, 2);
	e->display_name = col_dup(st, 3);
	e->description = col_dup(st, 4);
	e->user_description = col_dup(st, 5);
	e->stale = sqlite3_column_int(st, 6);
	e->created_at = sqlite3_column_int64(st, 7);
	e->updated_at = sqlite3_column_int64(st, 8);
	if (!e->subtype || !e->platform || !e->display_name || !e->description ||
	    (!e->user_description && sqlite3_column_type(st, 5) != SQLITE_NULL)) {
		ent_release(e);
		seterr(w->err, w->errlen, "out of memory");
		rc = CATALOG_ENOMEM;
		goto out;
	}
	rc = 1;
out:
	sqlite3_reset(st);
	return rc;
}

static int ent_insert(struct wctx *w, const char *id, const struct catalog_id *p,
		      const char *subtype, const char *platform, const char *display_name,
		      const char *description, const char *user_description, int stale,
		      long long created_at, long long updated_at, int64_t *eid)
{
	sqlite3_stmt *st = W(w, W_ENT_INSERT);
	char name_lc[sizeof p->name], short_lc[sizeof p->name];
	int rc;

	lower_copy(p->name, name_lc, sizeof name_lc);
	catalog_short_name(p->name, short_lc, sizeof short_lc);
	bind_text(st, 1, id);
	bind_text(st, 2, p->kind);
	bind_text(st, 3, p->namespace_);
	bind_text(st, 4, p->name);
	bind_text(st, 5, name_lc);
	bind_text(st, 6, short_lc);
	bind_text(st, 7, nz(subtype));
	bind_text(st, 8, nz(platform));
	bind_text(st, 9, nz(display_name));
	bind_text(st, 10, nz(description));
	bind_text(st, 11, user_description);
	sqlite3_bind_int(st, 12, stale);
	sqlite3_bind_int64(st, 13, created_at);
	sqlite3_bind_int64(st, 14, updated_at);
	rc = wrun(w, st, "add an entity");
	if (rc == 0)
		*eid = sqlite3_last_insert_rowid(w->cat->w);
	return rc;
}

static int ent_update(struct wctx *w, const struct ent *e)
{
	sqlite3_stmt *st = W(w, W_ENT_UPDATE);

	sqlite3_bind_int64(st, 1, e->eid);
	bind_text(st, 2, nz(e->subtype));
	bind_text(st, 3, nz(e->platform));
	bind_text(st, 4, nz(e->display_name));
	bind_text(st, 5, nz(e->description));
	bind_text(st, 6, e->user_description);
	sqlite3_bind_int(st, 7, e->stale);
	sqlite3_bind_int64(st, 8, e->updated_at);
	return wrun(w, st, "update an entity");
}

static int hist_add(struct wctx *w, int64_t eid, const char *change, const json_t *detail)
{
	sqlite3_stmt *st = W(w, W_HIST_ADD);
	char *text = NULL;
	int rc;

	if (detail) {
		text = json_dumps(detail, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text) {
			seterr(w->err, w->errlen, "out of memory");
			return CATALOG_ENOMEM;
		}
	}
	sqlite3_bind_int64(st, 1, eid);
	sqlite3_bind_int64(st, 2, w->now);
	bind_text(st, 3, w->actor);
	bind_text(st, 4, change);
	bind_text(st, 5, text);
	rc = wrun(w, st, "record history");
	free(text);
	return rc;
}

/*
 * Rewrite the FTS row of EID from the tables.  The row is computed by a SELECT
 * and written by a one-row INSERT OR REPLACE ... VALUES: an INSERT ... SELECT
 * into FTS5 takes a statement savepoint, and FTS5 flushes its pending terms to
 * a new segment at every savepoint, which makes bulk writes several times slower.
 */
static int fts_refresh(struct wctx *w, int64_t eid)
{
	sqlite3_stmt *src = W(w, W_FTS_SRC), *put = W(w, W_FTS_PUT);
	int rc;

	sqlite3_bind_int64(src, 1, eid);
	rc = sqlite3_step(src);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(src);
		return rc == SQLITE_DONE ? 0 : wfail(w, "update the search index");
	}
	sqlite3_bind_int64(put, 1, eid);
	for (int i = 0; i < 7; i++)
		sqlite3_bind_value(put, i + 2, sqlite3_column_value(src, i));
	rc = wrun(w, put, "update the search index");
	sqlite3_reset(src);
	return rc;
}

/* A growing string for search-index text; OOM is sticky. */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->oom)
		return;
	if (b->len + n + 2 > b->cap) {
		size_t ncap = (b->cap ? b->cap : 256);
		char *tmp;

		while (ncap < b->len + n + 2)
			ncap *= 2;
		tmp = realloc(b->p, ncap);
		if (!tmp) {
			b->oom = 1;
			return;
		}
		b->p = tmp;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append " S" (or S when B is empty) unless S is empty. */
static void sb_word(struct sbuf *b, const char *s)
{
	if (!*s)
		return;
	if (b->len)
		sb_add(b, " ");
	sb_add(b, s);
}

/* The distinct members of the string array ARR, sorted, space-separated. */
static void sb_set(struct sbuf *b, json_t *arr)
{
	size_t n = json_array_size(arr), i;
	const char **v;

	if (!n)
		return;
	v = malloc(n * sizeof *v);
	if (!v) {
		b->oom = 1;
		return;
	}
	for (i = 0; i < n; i++)
		v[i] = json_string_value(json_array_get(arr, i));
	qsort(v, n, sizeof *v, cmp_strp);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i - 1], v[i]) != 0)
			sb_word(b, v[i]);
	free(v);
}

/*
 * The FTS row of a new entity straight from its document D (whose members are
 * all it has), as fts_refresh() would compute it from the tables.  Saves the
 * read-back during bulk imports.
 */
static int fts_from_doc(struct wctx *w, int64_t eid, const struct doc *d)
{
	sqlite3_stmt *put = W(w, W_FTS_PUT);
	struct sbuf display = { 0 }, fields = { 0 }, tags = { 0 }, owners = { 0 };
	const char *desc = d->has_user_description && d->user_description ? d->user_description
									   : nz(d->description);
	size_t i;
	json_t *f;
	int rc;

	sb_add(&display, "");
	sb_add(&fields, "");
	sb_add(&tags, "");
	sb_add(&owners, "");
	sb_word(&display, nz(d->display_name));
	sb_word(&display, nz(d->subtype));
	json_array_foreach(d->fields, i, f) {
		const char *fd = json_string_value(json_object_get(f, "description"));

		if (fields.len)
			sb_add(&fields, " ");
		sb_add(&fields, json_string_value(json_object_get(f, "name")));
		sb_add(&fields, " ");
		sb_add(&fields, fd ? fd : "");
	}
	sb_set(&tags, d->tags);
	sb_set(&owners, d->owners);
	if (display.oom || fields.oom || tags.oom || owners.oom) {
		seterr(w->err, w->errlen, "out of memory");
		rc = CATALOG_ENOMEM;
		goto out;
	}
	sqlite3_bind_int64(put, 1, eid);
	bind_text(put, 2, d->p.name);
	bind_text(put, 3, display.p);
	bind_text(put, 4, d->p.namespace_);
	bind_text(put, 5, desc);
	bind_text(put, 6, fields.p);
	bind_text(put, 7, tags.p);
	bind_text(put, 8, owners.p);
	rc = wrun(w, put, "update the search index");
out:
	free(display.p);
	free(fields.p);
	free(tags.p);
	free(owners.p);
	return rc;
}

static int id_of(struct wctx *w, int64_t eid, char *out, size_t outlen)
{
	sqlite3_stmt *st = W(w, W_ID_OF);
	int rc;

	sqlite3_bind_int64(st, 1, eid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(out, outlen, "%s", col_text(st, 0));
	else
		out[0] = '\0';
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : wfail(w, "look up an entity");
}

/* The eid of entity ID: 1 found, 0 absent, or a negative code. */
static int eid_of(struct wctx *w, const char *id, int64_t *eid)
{
	sqlite3_stmt *st = W(w, W_EID_OF);
	int rc;

	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*eid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : wfail(w, "look up an entity");
}

/*
 * Find entity ID, creating it from its parsed id when absent (HISTORY: record
 * "created").  *EID receives its eid.
 */
static int ensure_entity(struct wctx *w, const char *id, int history, int64_t *eid)
{
	struct catalog_id p;
	char platform[64];
	int rc;

	rc = eid_of(w, id, eid);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (catalog_id_parse(id, &p)) {
		seterr(w->err, w->errlen, "malformed id '%.128s'", id);
		return CATALOG_EINVAL;
	}
	catalog_platform_of(p.namespace_, platform, sizeof platform);
	rc = ent_insert(w, id, &p, "", platform, "", "", NULL, 0, w->now, w->now, eid);
	if (rc == 0 && history)
		rc = hist_add(w, *eid, "created", NULL);
	if (rc == 0)
		rc = fts_refresh(w, *eid);
	if (rc == 0)
		w->dirty = 1;
	return rc;
}

/* --- writing: members (fields, properties, tags, owners) --------------------- */

struct frow {
	char *name, *type, *description, *props, *source;
	long long ordinal;
	int nullable; /* -1 unknown */
};

static void frows_free(struct frow *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].name);
		free(r[i].type);
		free(r[i].description);
		free(r[i].props);
		free(r[i].source);
	}
	free(r);
}

static int fields_load(struct wctx *w, int64_t eid, struct frow **out, size_t *n)
{
	sqlite3_stmt *st = W(w, W_FIELDS_OF);
	struct frow *rows = NULL, *tmp;
	size_t cap = 0, len = 0;
	int rc;

	sqlite3_bind_int64(st, 1, eid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct frow *r;

		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(rows, cap * sizeof *rows);
			if (!tmp)
				goto nomem;
			rows = tmp;
		}
		r = &rows[len++];
		memset(r, 0, sizeof *r);
		r->name = col_dup(st, 0);
		r->ordinal = sqlite3_column_int64(st, 1);
		r->type = col_dup(st, 2);
		r->description = col_dup(st, 3);
		r->nullable = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 4);
		r->props = col_dup(st, 5);
		r->source = col_dup(st, 6);
		if (!r->name || !r->type || !r->description || !r->source ||
		    (!r->props && sqlite3_column_type(st, 5) != SQLITE_NULL))
			goto nomem;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		frows_free(rows, len);
		return wfail(w, "read fields");
	}
	*out = rows;
	*n = len;
	return 0;
nomem:
	sqlite3_reset(st);
	frows_free(rows, len);
	seterr(w->err, w->errlen, "out of memory");
	return CATALOG_ENOMEM;
}

static int frow_cmp(const void *key, const void *elem)
{
	return strcmp((const char *)key, ((const struct frow *)elem)->name);
}

static int field_put(struct wctx *w, int64_t eid, const struct frow *f, const char *source)
{
	sqlite3_stmt *st = W(w, W_FIELD_PUT);

	sqlite3_bind_int64(st, 1, eid);
	bind_text(st, 2, f->name);
	sqlite3_bind_int64(st, 3, f->ordinal);
	bind_text(st, 4, nz(f->type));
	bind_text(st, 5, nz(f->description));
	if (f->nullable < 0)
		sqlite3_bind_null(st, 6);
	else
		sqlite3_bind_int(st, 6, f->nullable);
	bind_text(st, 7, f->props);
	bind_text(st, 8, source);
	return wrun(w, st, "write a field");
}

/* A field of a document as a frow; strings borrowed except props (malloc'd). */
static int field_from_json(json_t *f, size_t index, struct frow *out)
{
	json_t *v;

	memset(out, 0, sizeof *out);
	out->name = (char *)json_string_value(json_object_get(f, "name"));
	v = json_object_get(f, "type");
	out->type = (char *)(json_is_string(v) ? json_string_value(v) : "");
	v = json_object_get(f, "description");
	out->description = (char *)(json_is_string(v) ? json_string_value(v) : "");
	v = json_object_get(f, "nullable");
	out->nullable = json_is_boolean(v) ? json_is_true(v) : -1;
	v = json_object_get(f, "ordinal");
	out->ordinal = json_is_integer(v) ? (long long)json_integer_value(v) : (long long)index + 1;
	v = json_object_get(f, "properties");
	if (v && !json_is_null(v)) {
		out->props = json_text(v);
		if (!out->props)
			return CATALOG_ENOMEM;
	}
	return 0;
}

/*
 * After a set of members (fields, properties, tags, owners) was synced: when
 * ADDED, REMOVED or CHG (may be NULL) is non-empty, set *CHANGED and, with
 * HISTORY, record CHANGE with {"added", "removed"[, "changed"]}.  The lists
 * are borrowed.  0 or a negative code.
 */
static int record_lists(struct wctx *w, int64_t eid, const char *change, json_t *added,
			json_t *removed, json_t *chg, int history, int *changed)
{
	int rc;

	if (!json_array_size(added) && !json_array_size(removed) && !json_array_size(chg))
		return 0;
	*changed = 1;
	if (!history)
		return 0;
	json_t *d = json_pack("{s:O, s:O}", "added", added, "removed", removed);
	if (!d || (chg && json_object_set(d, "changed", chg) < 0)) {
		json_decref(d);
		seterr(w->err, w->errlen, "out of memory");
		return CATALOG_ENOMEM;
	}
	rc = hist_add(w, eid, change, d);
	json_decref(d);
	return rc;
}

/*
 * Make the source's fields of EID exactly ARR (NULL: none).  Fields of other
 * sources stay unless ARR names them (the latest assertion wins).  HISTORY:
 * record a "fields" change.  *CHANGED is set when anything visible changed.
 */
static int fields_sync(struct wctx *w, int64_t eid, json_t *arr, int history, int *changed)
{
	struct frow *old = NULL, *nf = NULL;
	const char **names = NULL;
	size_t n_old = 0, n_new = arr ? json_array_size(arr) : 0, i;
	json_t *added = json_array(), *removed = json_array(), *chg = json_array();
	int rc;

	if (!added || !removed || !chg)
		goto nomem;
	rc = fields_load(w, eid, &old, &n_old);
	if (rc)
		goto out;
	if (n_new) {
		nf = calloc(n_new, sizeof *nf);
		names = calloc(n_new, sizeof *names);
		if (!nf || !names)
			goto nomem;
	}
	for (i = 0; i < n_new; i++) {
		struct frow *cur;

		if (field_from_json(json_array_get(arr, i), i, &nf[i]))
			goto nomem;
		names[i] = nf[i].name;
		cur = n_old ? bsearch(nf[i].name, old, n_old, sizeof *old, frow_cmp) : NULL;
		if (cur && cur->ordinal == nf[i].ordinal && strcmp(cur->type, nf[i].type) == 0 &&
		    strcmp(cur->description, nf[i].description) == 0 &&
		    cur->nullable == nf[i].nullable && nstrcmp(cur->props, nf[i].props) == 0) {
			/* the same field: only its owner may change, silently */
			if (strcmp(cur->source, w->source) != 0 &&
			    (rc = field_put(w, eid, &nf[i], w->source)))
				goto out;
			continue;
		}
		if ((rc = field_put(w, eid, &nf[i], w->source)))
			goto out;
		if (json_array_append_new(cur ? chg : added, json_string(nf[i].name)))
			goto nomem;
	}
	if (n_new > 1)
		qsort(names, n_new, sizeof *names, cmp_strp);
	for (i = 0; i < n_old; i++) {
		sqlite3_stmt *st;
		const char *key = old[i].name;

		if (strcmp(old[i].source, w->source) != 0)
			continue;
		if (n_new && bsearch(&key, names, n_new, sizeof *names, cmp_strp))
			continue;
		st = W(w, W_FIELD_DEL);
		sqlite3_bind_int64(st, 1, eid);
		bind_text(st, 2, old[i].name);
		if ((rc = wrun(w, st, "remove a field")))
			goto out;
		if (json_array_append_new(removed, json_string(old[i].name)))
			goto nomem;
	}
	if ((rc = record_lists(w, eid, "fields", added, removed, chg, history, changed)))
		goto out;
	goto out;
nomem:
	seterr(w->err, w->errlen, "out of memory");
	rc = CATALOG_ENOMEM;
out:
	if (nf)
		for (i = 0; i < n_new; i++)
			free(nf[i].props);
	free(nf);
	free(names);
	frows_free(old, n_old);
	json_decref(added);
	json_decref(removed);
	json_decref(chg);
	return rc;
}

struct prow {
	char *key, *value, *source;
};

static void prows_free(struct prow *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].key);
		free(r[i].value);
		free(r[i].source);
	}
	free(r);
}

/* Rows of a two- or three-column member query (key, value?, source), sorted. */
static int prows_load(struct wctx *w, sqlite3_stmt *st, int64_t eid, int ncols, struct prow **out,
		      size_t *n)
{
	struct prow *rows = NULL, *tmp;
	size_t cap = 0, len = 0;
	int rc;

	sqlite3_bind_int64(st, 1, eid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prow *r;

		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(rows, cap * sizeof *rows);
			if (!tmp)
				goto nomem;
			rows = tmp;
		}
		r = &rows[len++];
		r->key = col_dup(st, 0);
		r->value = ncols == 3 ? col_dup(st, 1) : NULL;
		r->source = col_dup(st, ncols - 1);
		if (!r->key || !r->source || (ncols == 3 && !r->value))
			goto nomem;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		prows_free(rows, len);
		return wfail(w, "read members");
	}
	*out = rows;
	*n = len;
	return 0;
nomem:
	sqlite3_reset(st);
	prows_free(rows, len);
	seterr(w->err, w->errlen, "out of memory");
	return CATALOG_ENOMEM;
}

static int prow_cmp(const void *key, const void *elem)
{
	return strcmp((const char *)key, ((const struct prow *)elem)->key);
}

static int prop_put(struct wctx *w, int64_t eid, const char *key, const char *value,
		    const char *source)
{
	sqlite3_stmt *st = W(w, W_PROP_PUT);

	sqlite3_bind_int64(st, 1, eid);
	bind_text(st, 2, key);
	bind_text(st, 3, value);
	bind_text(st, 4, source);
	return wrun(w, st, "write a property");
}

/* As fields_sync(), for the properties object OBJ (NULL: none). */
static int props_sync(struct wctx *w, int64_t eid, json_t *obj, int history, int *changed)
{
	struct prow *old = NULL;
	size_t n_old = 0, i;
	json_t *added = json_array(), *removed = json_array(), *chg = json_array();
	const char *key;
	json_t *v;
	char *text = NULL;
	int rc;

	if (!added || !removed || !chg)
		goto nomem;
	rc = prows_load(w, W(w, W_PROPS_OF), eid, 3, &old, &n_old);
	if (rc)
		goto out;
	if (obj) {
		json_object_foreach(obj, key, v) {
			struct prow *cur = n_old ? bsearch(key, old, n_old, sizeof *old, prow_cmp) : NULL;

			text = json_is_null(v) ? strdup("null") : json_text(v);
			if (!text)
				goto nomem;
			if (!cur || strcmp(cur->value, text) != 0 || strcmp(cur->source, w->source)) {
				if ((rc = prop_put(w, eid, key, text, w->source)))
					goto out;
			}
			if (!cur || strcmp(cur->value, text) != 0)
				if (json_array_append_new(cur ? chg : added, json_string(key)))
					goto nomem;
			free(text);
			text = NULL;
		}
	}
	for (i = 0; i < n_old; i++) {
		sqlite3_stmt *st;

		if (strcmp(old[i].source, w->source) != 0)
			continue;
		if (obj && json_object_get(obj, old[i].key))
			continue;
		st = W(w, W_PROP_DEL);
		sqlite3_bind_int64(st, 1, eid);
		bind_text(st, 2, old[i].key);
		if ((rc = wrun(w, st, "remove a property")))
			goto out;
		if (json_array_append_new(removed, json_string(old[i].key)))
			goto nomem;
	}
	if ((rc = record_lists(w, eid, "properties", added, removed, chg, history, changed)))
		goto out;
	goto out;
nomem:
	seterr(w->err, w->errlen, "out of memory");
	rc = CATALOG_ENOMEM;
out:
	free(text);
	prows_free(old, n_old);
	json_decref(added);
	json_decref(removed);
	json_decref(chg);
	return rc;
}

enum { SET_TAGS = 0, SET_OWNERS = 1 };

/* The first row of ROWS (sorted by key) whose key is KEY, or where it would be. */
static size_t prow_first(const struct prow *rows, size_t n, const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(rows[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Does ROWS (sorted by key) hold KEY from any source other than EXCEPT? */
static int set_has(const struct prow *rows, size_t n, const char *key, const char *except)
{
	for (size_t i = prow_first(rows, n, key); i < n && strcmp(rows[i].key, key) == 0; i++)
		if (strcmp(rows[i].source, except) != 0)
			return 1;
	return 0;
}

/*
 * Make SOURCE's members of the tag or owner set of EID exactly ARR (NULL:
 * none).  HISTORY: record a "tags"/"owners" change of the effective set.
 */
static int set_sync(struct wctx *w, int which, int64_t eid, json_t *arr, const char *source,
		    int history, int *changed)
{
	sqlite3_stmt *put = W(w, which == SET_TAGS ? W_TAG_PUT : W_OWNER_PUT);
	sqlite3_stmt *del = W(w, which == SET_TAGS ? W_TAG_DEL : W_OWNER_DEL);
	struct prow *old = NULL;
	const char **want = NULL;
	size_t n_old = 0, n_want = 0, i;
	json_t *added = json_array(), *removed = json_array();
	int rc;

	if (!added || !removed)
		goto nomem;
	rc = prows_load(w, W(w, which == SET_TAGS ? W_TAGS_OF : W_OWNERS_OF), eid, 2, &old, &n_old);
	if (rc)
		goto out;
	if (arr && json_array_size(arr)) {
		want = calloc(json_array_size(arr), sizeof *want);
		if (!want)
			goto nomem;
		for (i = 0; i < json_array_size(arr); i++)
			want[i] = json_string_value(json_array_get(arr, i));
		qsort(want, json_array_size(arr), sizeof *want, cmp_strp);
		for (i = 0; i < json_array_size(arr); i++)
			if (n_want == 0 || strcmp(want[n_want - 1], want[i]) != 0)
				want[n_want++] = want[i];
	}
	/* additions: wanted members this source does not hold yet */
	for (i = 0; i < n_want; i++) {
		int held_by_me = 0, held = 0;

		for (size_t j = prow_first(old, n_old, want[i]);
		     j < n_old && strcmp(old[j].key, want[i]) == 0; j++) {
			held = 1;
			if (strcmp(old[j].source, source) == 0)
				held_by_me = 1;
		}
		if (held_by_me)
			continue;
		sqlite3_bind_int64(put, 1, eid);
		bind_text(put, 2, want[i]);
		bind_text(put, 3, source);
		if ((rc = wrun(w, put, which == SET_TAGS ? "add a tag" : "add an owner")))
			goto out;
		if (!held && json_array_append_new(added, json_string(want[i])))
			goto nomem;
	}
	/* removals: this source's members it no longer wants */
	for (i = 0; i < n_old; i++) {
		const char *key = old[i].key;

		if (strcmp(old[i].source, source) != 0)
			continue;
		if (n_want && bsearch(&key, want, n_want, sizeof *want, cmp_strp))
			continue;
		sqlite3_bind_int64(del, 1, eid);
		bind_text(del, 2, key);
		bind_text(del, 3, source);
		if ((rc = wrun(w, del, which == SET_TAGS ? "remove a tag" : "remove an owner")))
			goto out;
		if (!set_has(old, n_old, key, source) &&
		    json_array_append_new(removed, json_string(key)))
			goto nomem;
	}
	if ((rc = record_lists(w, eid, which == SET_TAGS ? "tags" : "owners", added, removed, NULL,
			       history, changed)))
		goto out;
	goto out;
nomem:
	seterr(w->err, w->errlen, "out of memory");
	rc = CATALOG_ENOMEM;
out:
	free(want);
	prows_free(old, n_old);
	json_decref(added);
	json_decref(removed);
	return rc;
}

static int any_gone(struct wctx *w, int64_t eid, int *out)
{
	sqlite3_stmt *st = W(w, W_ASSERT_ANY_GONE);
	int rc;

	sqlite3_bind_int64(st, 1, eid);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : wfail(w, "read assertions");
}

/* --- batches ---------------------------------------------------------------- */

struct catalog_batch {
	struct wctx w;
	char source[SOURCE_MAX + 1];
	int snapshot;
	int failed;
	char failure[256];
	struct catalog_batch_stats st;
};

static int valid_source(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= SOURCE_MAX && !has_ctl(s);
}

/* The latest time SOURCE asserted anything, for the batch's tick floor. */
static long long source_latest(struct catalog *cat, const char *source)
{
	long long latest = 0;
	enum wstmt q[2] = { W_SRC_MAX_SEEN, W_SRC_MAX_EDGE };

	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *st = cat->ws[q[i]];

		bind_text(st, 1, source);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > latest)
			latest = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	return latest;
}

struct catalog_batch *catalog_batch_begin(struct catalog *cat, const char *source, int snapshot)
{
	struct catalog_batch *b;

	if (!cat || !valid_source(source))
		return NULL;
	b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	if (wbegin(cat, NULL, 0)) {
		free(b);
		return NULL;
	}
	strcpy(b->source, source);
	b->snapshot = snapshot != 0;
	b->w.cat = cat;
	b->w.source = b->source;
	b->w.actor = b->source;
	b->w.now = tick(cat, source_latest(cat, source));
	return b;
}

/* Record a batch-breaking failure: the commit will roll back. */
static void batch_fail(struct catalog_batch *b, int rc, const char *msg)
{
	if (rc == CATALOG_EIO || rc == CATALOG_ENOMEM) {
		b->failed = rc;
		snprintf(b->failure, sizeof b->failure, "%s", msg);
	}
}

static int set_scalar(const char *key, const char *from, const char *to, json_t *attrs)
{
	json_t *d;

	if (strcmp(from, to) == 0)
		return 0;
	d = json_pack("{s:s, s:s}", "from", from, "to", to);
	if (d)
		json_object_set_new(attrs, key, d);
	return 1;
}

static int replace_str(char **slot, const char *value)
{
	char *copy;

	if (!value)
		return 0;
	copy = strdup(value);
	if (!copy)
		return CATALOG_ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

static int batch_upsert(struct catalog_batch *b, const struct doc *d)
{
	struct wctx *w = &b->w;
	struct ent e;
	sqlite3_stmt *st;
	json_t *attrs = NULL, *detail = NULL;
	char platform[64];
	int found, rc, quiet, changed = 0, members = 0, fts = 0, had = 0, had_gone = 0, again,
		     replace, user = strcmp(w->source, "user") == 0;
	long long seen = 0;

	found = ent_find(w, d->id, &e);
	if (found < 0)
		return found;
	if (!found) {
		catalog_platform_of(d->p.namespace_, platform, sizeof platform);
		rc = ent_insert(w, d->id, &d->p, d->subtype, d->platform ? d->platform : platform,
				d->display_name, user ? "" : d->description,
				user ? d->description : NULL, 0, w->now, w->now, &e.eid);
		if (rc == 0)
			rc = hist_add(w, e.eid, "created", NULL);
		if (rc)
			goto out;
		e.created_at = w->now;
		fts = 1;
	}
	/* created by this batch (maybe as an edge's endpoint): "created" says it all */
	quiet = e.created_at == w->now;

	if (found) {
		const char *old_eff = e.user_description ? e.user_description : e.description;
		char *old_copy = strdup(old_eff);
		int desc_changed = 0;

		rc = 0;
		attrs = json_object();
		if (!old_copy || !attrs) {
			free(old_copy);
			rc = CATALOG_ENOMEM;
			goto out;
		}
		if (d->subtype && set_scalar("subtype", e.subtype, d->subtype, attrs))
			rc = replace_str(&e.subtype, d->subtype);
		if (d->platform && set_scalar("platform", e.platform, d->platform, attrs))
			rc |= replace_str(&e.platform, d->platform);
		if (d->display_name && set_scalar("display_name", e.display_name, d->display_name, attrs))
			rc |= replace_str(&e.display_name, d->display_name);
		if (rc) {
			free(old_copy);
			rc = CATALOG_ENOMEM;
			goto out;
		}
		if (json_object_size(attrs)) {
			changed = fts = 1;
			if (!quiet && (rc = hist_add(w, e.eid, "attributes", attrs))) {
				free(old_copy);
				goto out;
			}
		}
		if (d->description && !user && strcmp(d->description, e.description) != 0) {
			detail = json_pack("{s:s, s:s}", "from", e.description, "to", d->description);
			if (detail && e.user_description)
				json_object_set_new(detail, "shadowed", json_true());
			rc = replace_str(&e.description, d->description);
			desc_changed = 1;
		} else if (d->description && user && nstrcmp(d->description, e.user_description)) {
			detail = json_pack("{s:s, s:s}", "from", old_copy, "to", d->description);
			rc = replace_str(&e.user_description, d->description);
			desc_changed = 1;
		}
		free(old_copy);
		if (rc || (desc_changed && !detail)) {
			rc = CATALOG_ENOMEM;
			goto out;
		}
		if (desc_changed) {
			changed = fts = 1;
			if (!quiet && (rc = hist_add(w, e.eid, "description", detail)))
				goto out;
		}
	}

	st = W(w, W_ASSERT_GET);
	sqlite3_bind_int64(st, 1, e.eid);
	bind_text(st, 2, w->source);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		had = 1;
		seen = sqlite3_column_int64(st, 0);
		had_gone = sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = wfail(w, "read assertions");
		goto out;
	}
	again = had && seen == w->now;
	/* a snapshot's first assertion of an entity is the source's whole say on it */
	replace = b->snapshot && !again;

	if (d->fields || (replace && found)) {
		int c = 0;

		if ((rc = fields_sync(w, e.eid, d->fields, !quiet, &c)))
			goto out;
		members |= c;
		fts |= c;
	}
	if (d->properties || (replace && found)) {
		if ((rc = props_sync(w, e.eid, d->properties, !quiet, &members)))
			goto out;
	}
	if (d->tags || (replace && found)) {
		int c = 0;

		if ((rc = set_sync(w, SET_TAGS, e.eid, d->tags, w->source, !quiet, &c)))
			goto out;
		members |= c;
		fts |= c;
	}
	if (d->owners || (replace && found)) {
		int c = 0;

		if ((rc = set_sync(w, SET_OWNERS, e.eid, d->owners, w->source, !quiet, &c)))
			goto out;
		members |= c;
		fts |= c;
	}
	changed |= members;

	if (!again) {
		st = W(w, W_ASSERT_PUT);
		sqlite3_bind_int64(st, 1, e.eid);
		bind_text(st, 2, w->source);
		sqlite3_bind_int64(st, 3, w->now);
		sqlite3_bind_int(st, 4, 0);
		if ((rc = wrun(w, st, "record an assertion")))
			goto out;
	}
	if (found && (had_gone || e.stale)) {
		int stale;

		if ((rc = any_gone(w, e.eid, &stale)))
			goto out;
		if (stale != e.stale) {
			e.stale = stale;
			changed = 1;
			if ((rc = hist_add(w, e.eid, stale ? "stale" : "fresh", NULL)))
				goto out;
		}
	}
	if (found && changed) {
		e.updated_at = w->now;
		if ((rc = ent_update(w, &e)))
			goto out;
	}
	if (fts && (rc = fts_refresh(w, e.eid)))
		goto out;
	b->st.entities++;
	if (!found)
		b->st.created++;
	else if (changed)
		b->st.changed++;
	if (!found || changed)
		w->dirty = 1;
	rc = 0;
out:
	if (rc == CATALOG_ENOMEM)
		seterr(w->err, w->errlen, "out of memory");
	json_decref(attrs);
	json_decref(detail);
	ent_release(&e);
	return rc;
}

int catalog_batch_entity(struct catalog_batch *b, json_t *doc, char *err, size_t errlen)
{
	struct doc *d = NULL;
	int rc;

	if (!b) {
		seterr(err, errlen, "no batch");
		return CATALOG_EINVAL;
	}
	if (b->failed) {
		seterr(err, errlen, "batch failed earlier: %s", b->failure);
		return b->failed;
	}
	d = malloc(sizeof *d);
	if (!d) {
		seterr(err, errlen, "out of memory");
		return CATALOG_ENOMEM;
	}
	rc = doc_parse(doc, DOC_BATCH, d, err, errlen);
	if (rc)
		goto out;
	b->w.err = err;
	b->w.errlen = errlen;
	rc = batch_upsert(b, d);
	if (rc)
		batch_fail(b, rc, err ? err : "write failed");
out:
	b->w.err = NULL;
	b->w.errlen = 0;
	free(d);
	return rc;
}

static int valid_edge_kind(const char *kind)
{
	return is_kind(kind);
}

/* Is edge (SRC, DST, KIND) asserted, not stale, by a source other than SOURCE? */
static int edge_live_elsewhere(struct wctx *w, int64_t src, int64_t dst, const char *kind,
			       const char *source, int *out)
{
	sqlite3_stmt *st = W(w, W_EDGE_LIVE);
	int rc;

	sqlite3_bind_int64(st, 1, src);
	sqlite3_bind_int64(st, 2, dst);
	bind_text(st, 3, kind);
	bind_text(st, 4, source);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : wfail(w, "read edges");
}

static int edge_history(struct wctx *w, int64_t src, const char *dst_id, const char *kind,
			const char *change)
{
	json_t *detail = json_pack("{s:s, s:s}", "dst", dst_id, "kind", kind);
	int rc;

	if (!detail) {
		seterr(w->err, w->errlen, "out of memory");
		return CATALOG_ENOMEM;
	}
	rc = hist_add(w, src, change, detail);
	json_decref(detail);
	return rc;
}

static int batch_edge(struct catalog_batch *b, const char *src, const char *dst, const char *kind,
		      json_t *props)
{
	struct wctx *w = &b->w;
	sqlite3_stmt *st;
	int64_t s, t;
	char *text = NULL;
	int rc, exists = 0, was_stale = 0, props_same = 0, live = 0;

	if ((rc = ensure_entity(w, src, 1, &s)) || (rc = ensure_entity(w, dst, 1, &t)))
		return rc;
	if (props && !json_is_null(props)) {
		text = json_text(props);
		if (!text) {
			seterr(w->err, w->errlen, "out of memory");
			return CATALOG_ENOMEM;
		}
	}
	st = W(w, W_EDGE_GET);
	sqlite3_bind_int64(st, 1, s);
	sqlite3_bind_int64(st, 2, t);
	bind_text(st, 3, kind);
	bind_text(st, 4, w->source);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		exists = 1;
		was_stale = sqlite3_column_int(st, 0);
		props_same = nstrcmp(sqlite3_column_type(st, 1) == SQLITE_NULL
					     ? NULL
					     : (const char *)sqlite3_column_text(st, 1),
				     text) == 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = wfail(w, "read edges");
		goto out;
	}
	if (!exists || was_stale) {
		if ((rc = edge_live_elsewhere(w, s, t, kind, w->source, &live)))
			goto out;
	}
	st = W(w, W_EDGE_PUT);
	sqlite3_bind_int64(st, 1, s);
	sqlite3_bind_int64(st, 2, t);
	bind_text(st, 3, kind);
	bind_text(st, 4, w->source);
	bind_text(st, 5, text);
	sqlite3_bind_int64(st, 6, w->now);
	if ((rc = wrun(w, st, "write an edge")))
		goto out;
	if ((!exists || was_stale) && !live) {
		if ((rc = edge_history(w, s, dst, kind, "edge_added")))
			goto out;
	}
	if (!exists || was_stale || !props_same)
		w->dirty = 1;
	b->st.edges++;
out:
	free(text);
	return rc;
}

int catalog_batch_edge(struct catalog_batch *b, const char *src, const char *dst, const char *kind,
		       json_t *props, char *err, size_t errlen)
{
	struct catalog_id p;
	int rc;

	if (!b) {
		seterr(err, errlen, "no batch");
		return CATALOG_EINVAL;
	}
	if (b->failed) {
		seterr(err, errlen, "batch failed earlier: %s", b->failure);
		return b->failed;
	}
	if (!kind)
		kind = "lineage";
	if (!src || catalog_id_parse(src, &p)) {
		seterr(err, errlen, "src: malformed id '%.128s'", nz(src));
		return CATALOG_EINVAL;
	}
	if (!dst || catalog_id_parse(dst, &p)) {
		seterr(err, errlen, "dst: malformed id '%.128s'", nz(dst));
		return CATALOG_EINVAL;
	}
	if (!valid_edge_kind(kind)) {
		seterr(err, errlen, "kind: must be 1 to 31 of a-z and '_'");
		return CATALOG_EINVAL;
	}
	if (props && !json_is_null(props) && check_props(props, "properties", err, errlen))
		return CATALOG_EINVAL;
	b->w.err = err;
	b->w.errlen = errlen;
	rc = batch_edge(b, src, dst, kind, props);
	if (rc)
		batch_fail(b, rc, err ? err : "write failed");
	b->w.err = NULL;
	b->w.errlen = 0;
	return rc;
}

/* A snapshot's end: withdraw what the source asserted before and not now. */
static int snapshot_withdraw(struct catalog_batch *b)
{
	struct wctx *w = &b->w;
	sqlite3_stmt *st;
	int64_t *eids = NULL, *tmp;
	struct old_edge {
		int64_t src, dst;
		char *kind;
	} *edges = NULL, *etmp;
	size_t n = 0, cap = 0, ne = 0, ecap = 0, i;
	char dst_id[CATALOG_ID_MAX + 1];
	int rc;

	st = W(w, W_ASSERT_OLD);
	bind_text(st, 1, w->source);
	sqlite3_bind_int64(st, 2, w->now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(eids, cap * sizeof *eids);
			if (!tmp)
				break;
			eids = tmp;
		}
		eids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) {
		rc = CATALOG_ENOMEM;
		seterr(w->err, w->errlen, "out of memory");
		goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = wfail(w, "read assertions");
		goto out;
	}
	for (i = 0; i < n; i++) {
		int stale = 0;

		st = W(w, W_ASSERT_SET_GONE);
		sqlite3_bind_int64(st, 1, eids[i]);
		bind_text(st, 2, w->source);
		if ((rc = wrun(w, st, "withdraw an assertion")))
			goto out;
		st = W(w, W_ENT_STALE_OF);
		sqlite3_bind_int64(st, 1, eids[i]);
		rc = sqlite3_step(st);
		stale = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 1;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			rc = wfail(w, "read an entity");
			goto out;
		}
		if (stale)
			continue;
		st = W(w, W_ENT_STALE);
		sqlite3_bind_int64(st, 1, eids[i]);
		sqlite3_bind_int(st, 2, 1);
		sqlite3_bind_int64(st, 3, w->now);
		if ((rc = wrun(w, st, "mark an entity stale")))
			goto out;
		if ((rc = hist_add(w, eids[i], "stale", NULL)))
			goto out;
		b->st.staled++;
		w->dirty = 1;
	}

	st = W(w, W_EDGE_OLD);
	bind_text(st, 1, w->source);
	sqlite3_bind_int64(st, 2, w->now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (ne == ecap) {
			ecap = ecap ? ecap * 2 : 64;
			etmp = realloc(edges, ecap * sizeof *edges);
			if (!etmp)
				break;
			edges = etmp;
		}
		edges[ne].src = sqlite3_column_int64(st, 0);
		edges[ne].dst = sqlite3_column_int64(st, 1);
		edges[ne].kind = col_dup(st, 2);
		if (!edges[ne++].kind)
			break;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) {
		rc = CATALOG_ENOMEM;
		seterr(w->err, w->errlen, "out of memory");
		goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = wfail(w, "read edges");
		goto out;
	}
	for (i = 0; i < ne; i++) {
		int live = 0;

		st = W(w, W_EDGE_SET_STALE);
		sqlite3_bind_int64(st, 1, edges[i].src);
		sqlite3_bind_int64(st, 2, edges[i].dst);
		bind_text(st, 3, edges[i].kind);
		bind_text(st, 4, w->source);
		if ((rc = wrun(w, st, "withdraw an edge")))
			goto out;
		w->dirty = 1;
		if ((rc = edge_live_elsewhere(w, edges[i].src, edges[i].dst, edges[i].kind,
					      w->source, &live)))
			goto out;
		if (live)
			continue;
		if ((rc = id_of(w, edges[i].dst, dst_id, sizeof dst_id)) ||
		    (rc = edge_history(w, edges[i].src, dst_id, edges[i].kind, "edge_removed")))
			goto out;
	}
	rc = 0;
out:
	for (i = 0; i < ne; i++)
		free(edges[i].kind);
	free(edges);
	free(eids);
	return rc;
}

int catalog_batch_commit(struct catalog_batch *b, struct catalog_batch_stats *stats, char *err,
			 size_t errlen)
{
	struct catalog *cat;
	int rc = 0;

	if (!b) {
		seterr(err, errlen, "no batch");
		return CATALOG_EINVAL;
	}
	cat = b->w.cat;
	b->w.err = err;
	b->w.errlen = errlen;
	if (b->failed) {
		seterr(err, errlen, "batch failed earlier: %s", b->failure);
		rc = b->failed;
	}
	if (rc == 0 && b->snapshot)
		rc = snapshot_withdraw(b);
	rc = wend(cat, rc, b->w.dirty, err, errlen);
	if (stats) {
		if (rc == 0)
			*stats = b->st;
		else
			memset(stats, 0, sizeof *stats);
	}
	free(b);
	return rc;
}

void catalog_batch_abort(struct catalog_batch *b)
{
	if (!b)
		return;
	wend(b->w.cat, CATALOG_EIO, 0, NULL, 0);
	free(b);
}

/* --- user edits ------------------------------------------------------------- */

int catalog_entity_patch(struct catalog *cat, const char *id, json_t *patch, const char *actor,
			 char *err, size_t errlen)
{
	struct wctx w = { .cat = cat, .source = "user", .err = err, .errlen = errlen };
	struct ent e = { 0 };
	const char *k, *desc = NULL;
	json_t *v, *dv, *tags, *owners, *detail = NULL;
	int rc, changed = 0, fts = 0, locked = 0;

	if (!cat || !id) {
		seterr(err, errlen, "no catalog or id");
		return CATALOG_EINVAL;
	}
	if (!json_is_object(patch)) {
		seterr(err, errlen, "patch: must be an object");
		return CATALOG_EINVAL;
	}
	json_object_foreach(patch, k, v) {
		if (strcmp(k, "description") && strcmp(k, "tags") && strcmp(k, "owners")) {
			seterr(err, errlen, "%.64s: unknown key (description, tags, owners)", k);
			return CATALOG_EINVAL;
		}
	}
	dv = json_object_get(patch, "description");
	if (dv && !json_is_null(dv) &&
	    doc_string(dv, "description", CATALOG_TEXT_MAX, 0, &desc, err, errlen))
		return CATALOG_EINVAL;
	tags = json_object_get(patch, "tags");
	owners = json_object_get(patch, "owners");
	if ((tags && check_set(tags, "tags", err, errlen)) ||
	    (owners && check_set(owners, "owners", err, errlen)))
		return CATALOG_EINVAL;
	w.actor = actor && *actor ? actor : "user";
	if (strlen(w.actor) > SOURCE_MAX * 4 || has_ctl(w.actor)) {
		seterr(err, errlen, "actor: must be at most %d printable bytes", SOURCE_MAX * 4);
		return CATALOG_EINVAL;
	}
	if ((rc = wbegin(cat, err, errlen)))
		return rc;
	locked = 1;
	w.now = tick(cat, 0);
	rc = ent_find(&w, id, &e);
	if (rc == 0) {
		seterr(err, errlen, "no entity '%.200s'", id);
		rc = CATALOG_ENOTFOUND;
	}
	if (rc < 0)
		goto out;
	if (dv && nstrcmp(desc, e.user_description) != 0) {
		detail = json_pack("{s:s, s:s}", "from",
				   e.user_description ? e.user_description : e.description, "to",
				   desc ? desc : e.description);
		if (!detail || (desc && replace_str(&e.user_description, desc))) {
			seterr(err, errlen, "out of memory");
			rc = CATALOG_ENOMEM;
			goto out;
		}
		if (!desc) {
			free(e.user_description);
			e.user_description = NULL;
		}
		changed = fts = 1;
		if ((rc = hist_add(&w, e.eid, "description", detail)))
			goto out;
	}
	if (tags) {
		if ((rc = set_sync(&w, SET_TAGS, e.eid, tags, "user", 1, &fts)))
			goto out;
	}
	if (owners) {
		if ((rc = set_sync(&w, SET_OWNERS, e.eid, owners, "user", 1, &fts)))
			goto out;
	}
	changed |= fts;
	if (changed) {
		e.updated_at = w.now;
		if ((rc = ent_update(&w, &e)) || (rc = fts_refresh(&w, e.eid)))
			goto out;
	}
	rc = 0;
out:
	if (locked)
		rc = wend(cat, rc, changed, err, errlen);
	json_decref(detail);
	ent_release(&e);
	return rc;
}

/* --- reading ---------------------------------------------------------------- */

static json_t *time_json(long long ms)
{
	char buf[40];

	catalog_format_time(ms, buf, sizeof buf);
	return json_string(buf);
}

static json_t *time_or_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return time_json(sqlite3_column_int64(st, col));
}

/* Parse stored JSON text; a value that does not parse is kept as a string. */
static json_t *stored_json(const char *text)
{
	json_t *v;

	if (!text)
		return json_null();
	v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	return v ? v : json_string(text);
}

enum { RD_FIELDS, RD_PROPS, RD_TAGS, RD_OWNERS, RD_ASSERT, RD_UP, RD_DOWN, RD_UP_N, RD_DOWN_N,
       RD_COUNT };

static const char *const rdsql[RD_COUNT] = {
	[RD_FIELDS] = "SELECT name, type, description, nullable, ordinal, properties, source"
		      " FROM fields WHERE eid = ?1 ORDER BY ordinal, name",
	[RD_PROPS] = "SELECT key, value, source FROM properties WHERE eid = ?1 ORDER BY key",
	[RD_TAGS] = "SELECT tag, source FROM tags WHERE eid = ?1 ORDER BY tag, source",
	[RD_OWNERS] = "SELECT owner, source FROM owners WHERE eid = ?1 ORDER BY owner, source",
	[RD_ASSERT] = "SELECT source, seen_at, gone FROM assertions WHERE eid = ?1 ORDER BY source",
	[RD_UP] = "SELECT e.id, x.kind, x.source, x.stale FROM edges x JOIN entities e ON e.eid = x.src"
		  " WHERE x.dst = ?1 ORDER BY e.id, x.kind, x.source LIMIT " "1000",
	[RD_DOWN] = "SELECT e.id, x.kind, x.source, x.stale FROM edges x"
		    " JOIN entities e ON e.eid = x.dst"
		    " WHERE x.src = ?1 ORDER BY e.id, x.kind, x.source LIMIT " "1000",
	[RD_UP_N] = "SELECT count(*) FROM edges WHERE dst = ?1",
	[RD_DOWN_N] = "SELECT count(*) FROM edges WHERE src = ?1",
};

#define ENTITY_COLS                                                                             \
	"eid, id, kind, namespace, name, subtype, platform, display_name, description,"         \
	" user_description, stale, created_at, updated_at"

struct rd {
	sqlite3 *db;
	sqlite3_stmt *st[RD_COUNT];
};

static int rd_prepare(struct rd *r, sqlite3 *db, int upto)
{
	memset(r, 0, sizeof *r);
	r->db = db;
	for (int i = 0; i < upto; i++)
		if (sqlite3_prepare_v2(db, rdsql[i], -1, &r->st[i], NULL) != SQLITE_OK)
			return CATALOG_EIO;
	return 0;
}

static void rd_release(struct rd *r)
{
	for (int i = 0; i < RD_COUNT; i++)
		sqlite3_finalize(r->st[i]);
}

static int set_str(json_t *o, const char *k, const char *s)
{
	return json_object_set_new(o, k, json_string(s ? s : ""));
}

enum { DOC_GET = 0, DOC_EXPORT = 1 };

/* Tags or owners: the sorted distinct list, and {member: [sources]}. */
static int rd_set(sqlite3_stmt *st, int64_t eid, json_t **list, json_t **srcs)
{
	int rc;
	json_t *cur = NULL;

	*list = json_array();
	*srcs = json_object();
	if (!*list || !*srcs)
		return CATALOG_ENOMEM;
	sqlite3_bind_int64(st, 1, eid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *m = col_text(st, 0);

		cur = json_object_get(*srcs, m);
		if (!cur) {
			cur = json_array();
			if (!cur || json_object_set_new(*srcs, m, cur) ||
			    json_array_append_new(*list, json_string(m)))
				break;
		}
		if (json_array_append_new(cur, json_string(col_text(st, 1))))
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc == SQLITE_ROW ? CATALOG_ENOMEM : CATALOG_EIO;
}

static int rd_edges(sqlite3_stmt *list, sqlite3_stmt *count, int64_t eid, json_t *doc,
		    const char *key, const char *total_key)
{
	json_t *arr = json_array();
	int rc;

	if (!arr || json_object_set_new(doc, key, arr))
		return CATALOG_ENOMEM;
	sqlite3_bind_int64(list, 1, eid);
	while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
		json_t *e = json_pack("{s:s, s:s, s:s, s:b}", "id", col_text(list, 0), "kind",
				      col_text(list, 1), "source", col_text(list, 2), "stale",
				      sqlite3_column_int(list, 3));

		if (!e || json_array_append_new(arr, e))
			break;
	}
	sqlite3_reset(list);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_ROW ? CATALOG_ENOMEM : CATALOG_EIO;
	sqlite3_bind_int64(count, 1, eid);
	rc = sqlite3_step(count);
	if (rc == SQLITE_ROW)
		json_object_set_new(doc, total_key, json_integer(sqlite3_column_int64(count, 0)));
	sqlite3_reset(count);
	return rc == SQLITE_ROW ? 0 : CATALOG_EIO;
}

/* Build the document of the entity row ROW (columns ENTITY_COLS) in MODE. */
static int entity_json(struct rd *r, sqlite3_stmt *row, int mode, json_t **out)
{
	json_t *doc = json_object(), *fields = NULL, *props = NULL, *psrc = NULL, *list, *srcs,
	       *sources = NULL, *fsrc = NULL, *xs = NULL;
	int64_t eid = sqlite3_column_int64(row, 0);
	const char *udesc = (const char *)sqlite3_column_text(row, 9);
	sqlite3_stmt *st;
	int rc = CATALOG_ENOMEM;

	if (!doc)
		goto out;
	if (mode == DOC_EXPORT)
		set_str(doc, "type", "entity");
	set_str(doc, "id", col_text(row, 1));
	set_str(doc, "kind", col_text(row, 2));
	set_str(doc, "namespace", col_text(row, 3));
	set_str(doc, "name", col_text(row, 4));
	set_str(doc, "subtype", col_text(row, 5));
	set_str(doc, "platform", col_text(row, 6));
	set_str(doc, "display_name", col_text(row, 7));
	if (mode == DOC_EXPORT) {
		set_str(doc, "description", col_text(row, 8));
		json_object_set_new(doc, "user_description", udesc ? json_string(udesc) : json_null());
	} else {
		set_str(doc, "description", udesc ? udesc : col_text(row, 8));
		set_str(doc, "source_description", col_text(row, 8));
	}
	json_object_set_new(doc, "stale", json_boolean(sqlite3_column_int(row, 10)));
	json_object_set_new(doc, "created_at", time_json(sqlite3_column_int64(row, 11)));
	json_object_set_new(doc, "updated_at", time_json(sqlite3_column_int64(row, 12)));

	/* who asserts it */
	sources = json_array();
	if (!sources)
		goto out;
	st = r->st[RD_ASSERT];
	sqlite3_bind_int64(st, 1, eid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *a = mode == DOC_EXPORT
				    ? json_pack("{s:s, s:o, s:b}", "source", col_text(st, 0), "seen_at",
						time_json(sqlite3_column_int64(st, 1)), "gone",
						sqlite3_column_int(st, 2))
				    : json_string(col_text(st, 0));

		if (!a || json_array_append_new(sources, a))
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail;
	if (mode == DOC_GET) {
		json_object_set_new(doc, "sources", sources);
		sources = NULL;
	}

	props = json_object();
	psrc = json_object();
	if (!props || !psrc)
		goto nomem;
	st = r->st[RD_PROPS];
	sqlite3_bind_int64(st, 1, eid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *v = stored_json((const char *)sqlite3_column_text(st, 1));

		if (!v || json_object_set_new(props, col_text(st, 0), v) ||
		    json_object_set_new(psrc, col_text(st, 0), json_string(col_text(st, 2))))
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail;
	json_object_set_new(doc, "properties", props);
	props = NULL;
	if (mode == DOC_GET) {
		json_object_set_new(doc, "property_sources", psrc);
		psrc = NULL;
	}

	if ((rc = rd_set(r->st[RD_TAGS], eid, &list, &srcs))) {
		json_decref(list);
		json_decref(srcs);
		goto out;
	}
	json_object_set_new(doc, "tags", list);
	json_object_set_new(doc, mode == DOC_GET ? "tag_sources" : "_tag_sources", srcs);
	if ((rc = rd_set(r->st[RD_OWNERS], eid, &list, &srcs))) {
		json_decref(list);
		json_decref(srcs);
		goto out;
	}
	json_object_set_new(doc, "owners", list);
	json_object_set_new(doc, mode == DOC_GET ? "owner_sources" : "_owner_sources", srcs);

	fields = json_array();
	fsrc = json_object();
	if (!fields || !fsrc)
		goto nomem;
	st = r->st[RD_FIELDS];
	sqlite3_bind_int64(st, 1, eid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *f = json_object();

		if (!f || json_array_append_new(fields, f))
			break;
		set_str(f, "name", col_text(st, 0));
		set_str(f, "type", col_text(st, 1));
		set_str(f, "description", col_text(st, 2));
		json_object_set_new(f, "nullable", sqlite3_column_type(st, 3) == SQLITE_NULL
							   ? json_null()
							   : json_boolean(sqlite3_column_int(st, 3)));
		json_object_set_new(f, "ordinal", json_integer(sqlite3_column_int64(st, 4)));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			json_object_set_new(f, "properties",
					    stored_json((const char *)sqlite3_column_text(st, 5)));
		if (mode == DOC_GET)
			set_str(f, "source", col_text(st, 6));
		else
			set_str(fsrc, col_text(st, 0), col_text(st, 6));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail;
	json_object_set_new(doc, "fields", fields);
	fields = NULL;

	if (mode == DOC_GET) {
		if ((rc = rd_edges(r->st[RD_UP], r->st[RD_UP_N], eid, doc, "upstream",
				   "upstream_total")) ||
		    (rc = rd_edges(r->st[RD_DOWN], r->st[RD_DOWN_N], eid, doc, "downstream",
				   "downstream_total")))
			goto out;
	} else {
		/* move the per-member sources under "_sources" */
		xs = json_object();
		if (!xs)
			goto nomem;
		json_object_set(xs, "entity", sources);
		json_object_set(xs, "fields", fsrc);
		json_object_set(xs, "properties", psrc);
		json_object_set(xs, "tags", json_object_get(doc, "_tag_sources"));
		json_object_set(xs, "owners", json_object_get(doc, "_owner_sources"));
		json_object_del(doc, "_tag_sources");
		json_object_del(doc, "_owner_sources");
		json_object_set_new(doc, "_sources", xs);
		xs = NULL;
	}
	*out = doc;
	doc = NULL;
	rc = 0;
	goto out;
fail:
	rc = rc == SQLITE_ROW ? CATALOG_ENOMEM : CATALOG_EIO;
	goto out;
nomem:
	rc = CATALOG_ENOMEM;
out:
	json_decref(doc);
	json_decref(fields);
	json_decref(props);
	json_decref(psrc);
	json_decref(fsrc);
	json_decref(sources);
	json_decref(xs);
	return rc;
}

int catalog_entity_get(struct catalog *cat, const char *id, json_t **out)
{
	sqlite3 *db;
	sqlite3_stmt *row = NULL;
	struct rd r;
	int rc, began = 0;

	if (!cat || !id || !out)
		return CATALOG_EINVAL;
	*out = NULL;
	db = catalog_reader_get(cat);
	if (!db)
		return CATALOG_EIO;
	memset(&r, 0, sizeof r);
	if ((rc = rd_begin(db, &began)))
		goto out;
	rc = CATALOG_EIO;
	if (sqlite3_prepare_v2(db, "SELECT " ENTITY_COLS " FROM entities WHERE id = ?1", -1, &row,
			       NULL) != SQLITE_OK ||
	    rd_prepare(&r, db, RD_COUNT))
		goto out;
	bind_text(row, 1, id);
	rc = sqlite3_step(row);
	if (rc == SQLITE_DONE) {
		rc = CATALOG_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = CATALOG_EIO;
		goto out;
	}
	rc = entity_json(&r, row, DOC_GET, out);
out:
	sqlite3_finalize(row);
	rd_release(&r);
	rd_end(db, began);
	catalog_reader_put(cat, db);
	return rc;
}

int catalog_entity_history(struct catalog *cat, const char *id, int limit, int offset,
			   json_t **out)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	json_t *res = NULL, *changes;
	int64_t eid;
	int rc, began = 0;

	if (!cat || !id || !out || offset < 0)
		return CATALOG_EINVAL;
	*out = NULL;
	if (limit <= 0)
		limit = HISTORY_DEFAULT;
	if (limit > HISTORY_MAX)
		limit = HISTORY_MAX;
	db = catalog_reader_get(cat);
	if (!db)
		return CATALOG_EIO;
	if ((rc = rd_begin(db, &began)))
		goto out;
	rc = CATALOG_EIO;
	if (sqlite3_prepare_v2(db, "SELECT eid FROM entities WHERE id = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? CATALOG_ENOTFOUND : CATALOG_EIO;
		goto out;
	}
	eid = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	res = json_pack("{s:s, s:I, s:[]}", "id", id, "total", (json_int_t)0, "changes");
	if (!res) {
		rc = CATALOG_ENOMEM;
		goto out;
	}
	changes = json_object_get(res, "changes");
	rc = CATALOG_EIO;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM history WHERE eid = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, eid);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	json_object_set_new(res, "total", json_integer(sqlite3_column_int64(st, 0)));
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT at, source, change, detail FROM history WHERE eid = ?1"
			       " ORDER BY seq DESC LIMIT ?2 OFFSET ?3",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, eid);
	sqlite3_bind_int(st, 2, limit);
	sqlite3_bind_int(st, 3, offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *c = json_pack("{s:o, s:s, s:s, s:o}", "at",
				      time_json(sqlite3_column_int64(st, 0)), "source",
				      col_text(st, 1), "change", col_text(st, 2), "detail",
				      stored_json((const char *)sqlite3_column_text(st, 3)));

		if (!c || json_array_append_new(changes, c))
			break;
	}
	if (rc != SQLITE_DONE) {
		rc = rc == SQLITE_ROW ? CATALOG_ENOMEM : CATALOG_EIO;
		goto out;
	}
	*out = res;
	res = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(res);
	rd_end(db, began);
	catalog_reader_put(cat, db);
	return rc;
}

int catalog_counts(struct catalog *cat, struct catalog_counts *out)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int rc, began = 0;

	if (!cat || !out)
		return CATALOG_EINVAL;
	memset(out, 0, sizeof *out);
	db = catalog_reader_get(cat);
	if (!db)
		return CATALOG_EIO;
	if ((rc = rd_begin(db, &began)))
		goto out;
	rc = CATALOG_EIO;
	if (sqlite3_prepare_v2(db,
			       "SELECT (SELECT count(*) FROM entities),"
			       " (SELECT count(*) FROM entities WHERE stale = 1),"
			       " (SELECT count(*) FROM fields), (SELECT count(*) FROM edges),"
			       " (SELECT count(*) FROM history),"
			       " (SELECT page_count FROM pragma_page_count()) *"
			       " (SELECT page_size FROM pragma_page_size())",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	out->entities = sqlite3_column_int64(st, 0);
	out->stale = sqlite3_column_int64(st, 1);
	out->fields = sqlite3_column_int64(st, 2);
	out->edges = sqlite3_column_int64(st, 3);
	out->history = sqlite3_column_int64(st, 4);
	out->file_bytes = sqlite3_column_int64(st, 5);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT kind, count(*) FROM entities GROUP BY kind", -1, &st,
			       NULL) != SQLITE_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = col_text(st, 0);
		long n = (long)sqlite3_column_int64(st, 1);

		if (strcmp(k, "dataset") == 0)
			out->by_kind_dataset += n;
		else if (strcmp(k, "job") == 0)
			out->by_kind_job += n;
		else if (strcmp(k, "model") == 0)
			out->by_kind_model += n;
		else if (strcmp(k, "service") == 0)
			out->by_kind_service += n;
		else
			out->by_kind_other += n;
	}
	rc = rc == SQLITE_DONE ? 0 : CATALOG_EIO;
out:
	sqlite3_finalize(st);
	rd_end(db, began);
	catalog_reader_put(cat, db);
	return rc;
}

/* --- OpenLineage runs ------------------------------------------------------- */

/* S as JSON string text (malloc'd), or NULL. */
static char *json_quote(const char *s)
{
	json_t *v = json_string(s);
	char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	return text;
}

static const char *const run_states[] = { "START", "RUNNING", "COMPLETE", "FAIL", "ABORT",
					  "OTHER", NULL };

int catalog_run_record(struct catalog *cat, const char *run_id, const char *job_id,
		       const char *state, const char *event_time, json_t *event, char *err,
		       size_t errlen)
{
	struct wctx w = { .cat = cat, .source = "openlineage", .actor = "openlineage", .err = err,
			  .errlen = errlen };
	struct catalog_id p;
	sqlite3_stmt *st;
	int64_t eid = 0;
	long long t, started = -1, ended = -1, updated = -1, last_run = -1;
	char *ev = NULL, *cur_state = NULL, buf[48], *quoted = NULL, *tq = NULL;
	int rc, exists = 0, latest, locked = 0;

	if (!cat) {
		seterr(err, errlen, "no catalog");
		return CATALOG_EINVAL;
	}
	if (!run_id || !*run_id || strlen(run_id) > RUN_ID_MAX || has_ctl(run_id)) {
		seterr(err, errlen, "run_id: must be 1 to %d printable bytes", RUN_ID_MAX);
		return CATALOG_EINVAL;
	}
	if (!job_id || catalog_id_parse(job_id, &p)) {
		seterr(err, errlen, "job: malformed id '%.128s'", nz(job_id));
		return CATALOG_EINVAL;
	}
	if (!state || !in_list(run_states, state)) {
		seterr(err, errlen, "eventType: '%.32s' is not one of START, RUNNING, COMPLETE,"
				    " FAIL, ABORT, OTHER", nz(state));
		return CATALOG_EINVAL;
	}
	if (!event_time || parse_time(event_time, &t)) {
		seterr(err, errlen, "eventTime: '%.64s' is not an RFC 3339 time", nz(event_time));
		return CATALOG_EINVAL;
	}
	if (event) {
		ev = json_dumps(event, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!ev) {
			seterr(err, errlen, "out of memory");
			return CATALOG_ENOMEM;
		}
	}
	if ((rc = wbegin(cat, err, errlen)))
		goto out;
	locked = 1;
	w.now = tick(cat, 0);
	if ((rc = ensure_entity(&w, job_id, 1, &eid)))
		goto out;
	st = W(&w, W_RUN_GET);
	bind_text(st, 1, run_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		exists = 1;
		cur_state = col_dup(st, 0);
		started = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
		ended = sqlite3_column_type(st, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 2);
		updated = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = wfail(&w, "read runs");
		goto out;
	}
	if (exists && !cur_state) {
		rc = CATALOG_ENOMEM;
		seterr(err, errlen, "out of memory");
		goto out;
	}
	if (strcmp(state, "START") == 0 && (started < 0 || t < started))
		started = t;
	if (strcmp(state, "RUNNING") == 0 && started < 0)
		started = t;
	if (strcmp(state, "COMPLETE") == 0 || strcmp(state, "FAIL") == 0 ||
	    strcmp(state, "ABORT") == 0)
		ended = t;
	/* the latest event of a run gives its state; an older one arriving late does not */
	latest = !exists || t >= updated;
	st = W(&w, W_RUN_PUT);
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, eid);
	bind_text(st, 3, latest ? state : cur_state);
	if (started < 0)
		sqlite3_bind_null(st, 4);
	else
		sqlite3_bind_int64(st, 4, started);
	if (ended < 0)
		sqlite3_bind_null(st, 5);
	else
		sqlite3_bind_int64(st, 5, ended);
	sqlite3_bind_int64(st, 6, latest ? t : updated);
	if (latest)
		bind_text(st, 7, ev);
	if (!latest) {
		/* keep the stored event */
		sqlite3_stmt *q = NULL;

		sqlite3_reset(st);
		if (sqlite3_prepare_v2(cat->w, "SELECT event FROM runs WHERE run_id = ?1", -1, &q,
				       NULL) == SQLITE_OK) {
			bind_text(q, 1, run_id);
			if (sqlite3_step(q) == SQLITE_ROW) {
				free(ev);
				ev = col_dup(q, 0);
			}
		}
		sqlite3_finalize(q);
		bind_text(st, 7, ev);
	}
	if ((rc = wrun(&w, st, "record a run")))
		goto out;

	/* the job's last run, as properties */
	st = W(&w, W_PROP_GET);
	sqlite3_bind_int64(st, 1, eid);
	bind_text(st, 2, "last_run_at");
	if (sqlite3_step(st) == SQLITE_ROW) {
		json_t *v = json_loads(col_text(st, 0), JSON_DECODE_ANY, NULL);

		if (!json_is_string(v) || parse_time(json_string_value(v), &last_run))
			last_run = -1;
		json_decref(v);
	}
	sqlite3_reset(st);
	if (t >= last_run) {
		catalog_format_time(t, buf, sizeof buf);
		quoted = json_quote(state);
		tq = json_quote(buf);
		if (!tq || !quoted) {
			rc = CATALOG_ENOMEM;
			seterr(err, errlen, "out of memory");
			goto out;
		}
		rc = prop_put(&w, eid, "last_run_state", quoted, "openlineage");
		if (rc == 0)
			rc = prop_put(&w, eid, "last_run_at", tq, "openlineage");
		if (rc)
			goto out;
		st = W(&w, W_ENT_TOUCH);
		sqlite3_bind_int64(st, 1, eid);
		sqlite3_bind_int64(st, 2, w.now);
		if ((rc = wrun(&w, st, "update an entity")))
			goto out;
	}
	rc = 0;
out:
	if (locked)
		rc = wend(cat, rc, 1, err, errlen);
	free(ev);
	free(cur_state);
	free(quoted);
	free(tq);
	return rc;
}

int catalog_runs_of(struct catalog *cat, const char *job_id, int limit, json_t **out)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	int rc, began = 0;
	int64_t eid;

	if (!cat || !job_id || !out)
		return CATALOG_EINVAL;
	*out = NULL;
	if (limit <= 0)
		limit = RUNS_DEFAULT;
	if (limit > RUNS_MAX)
		limit = RUNS_MAX;
	db = catalog_reader_get(cat);
	if (!db)
		return CATALOG_EIO;
	if ((rc = rd_begin(db, &began)))
		goto out;
	rc = CATALOG_EIO;
	if (sqlite3_prepare_v2(db, "SELECT eid FROM entities WHERE id = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	bind_text(st, 1, job_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? CATALOG_ENOTFOUND : CATALOG_EIO;
		goto out;
	}
	eid = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	rc = CATALOG_EIO;
	if (sqlite3_prepare_v2(db,
			       "SELECT run_id, state, started_at, ended_at, updated_at FROM runs"
			       " WHERE job_eid = ?1 ORDER BY updated_at DESC, run_id LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, eid);
	sqlite3_bind_int(st, 2, limit);
	arr = json_array();
	if (!arr) {
		rc = CATALOG_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *r = json_pack("{s:s, s:s, s:o, s:o, s:o}", "run_id", col_text(st, 0),
				      "state", col_text(st, 1), "started_at", time_or_null(st, 2),
				      "ended_at", time_or_null(st, 3), "updated_at",
				      time_json(sqlite3_column_int64(st, 4)));

		if (!r || json_array_append_new(arr, r))
			break;
	}
	if (rc != SQLITE_DONE) {
		rc = rc == SQLITE_ROW ? CATALOG_ENOMEM : CATALOG_EIO;
		goto out;
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(arr);
	rd_end(db, began);
	catalog_reader_put(cat, db);
	return rc;
}

/* --- tokens ----------------------------------------------------------------- */

int catalog_token_put(struct catalog *cat, const char *hash_hex, const char *scope,
		      const char *label)
{
	struct wctx w = { .cat = cat };
	sqlite3_stmt *st;
	int rc;

	if (!cat || !hash_hex || !*hash_hex || strlen(hash_hex) > 128 || has_ctl(hash_hex) ||
	    !scope || !*scope || strlen(scope) > SOURCE_MAX || (label && strlen(label) > SHORT_MAX))
		return CATALOG_EINVAL;
	if ((rc = wbegin(cat, NULL, 0)))
		return rc;
	w.now = tick(cat, 0);
	st = W(&w, W_TOKEN_PUT);
	bind_text(st, 1, hash_hex);
	bind_text(st, 2, scope);
	bind_text(st, 3, nz(label));
	sqlite3_bind_int64(st, 4, w.now);
	rc = wrun(&w, st, "store a token");
	return wend(cat, rc, 1, NULL, 0);
}

int catalog_token_get(struct catalog *cat, const char *hash_hex, char *scope, size_t scopelen)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int rc;

	if (!cat || !hash_hex || !scope || scopelen == 0)
		return CATALOG_EINVAL;
	scope[0] = '\0';
	db = catalog_reader_get(cat);
	if (!db)
		return CATALOG_EIO;
	if (sqlite3_prepare_v2(db, "SELECT scope FROM tokens WHERE hash = ?1", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = CATALOG_EIO;
		goto out;
	}
	bind_text(st, 1, hash_hex);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(scope, scopelen, "%s", col_text(st, 0));
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? CATALOG_ENOTFOUND : CATALOG_EIO;
	}
out:
	sqlite3_finalize(st);
	catalog_reader_put(cat, db);
	return rc;
}

/* --- export and import -------------------------------------------------------- */

static int write_line(FILE *out, json_t *line, char *err, size_t errlen)
{
	char *text;
	int rc = 0;

	if (!line) {
		seterr(err, errlen, "cannot export: out of memory");
		return CATALOG_ENOMEM;
	}
	text = json_dumps(line, JSON_COMPACT);
	json_decref(line);
	if (!text) {
		seterr(err, errlen, "cannot export: out of memory");
		return CATALOG_ENOMEM;
	}
	if (fputs(text, out) == EOF || fputc('\n', out) == EOF) {
		seterr(err, errlen, "cannot write export: %s", strerror(errno));
		rc = CATALOG_EIO;
	}
	free(text);
	return rc;
}

long catalog_export(struct catalog *cat, FILE *out, char *err, size_t errlen)
{
	static const char *const sql[] = {
		"SELECT " ENTITY_COLS " FROM entities ORDER BY id",
		"SELECT s.id, d.id, x.kind, x.source, x.properties, x.stale, x.created_at,"
		" x.updated_at FROM edges x JOIN entities s ON s.eid = x.src"
		" JOIN entities d ON d.eid = x.dst ORDER BY s.id, d.id, x.kind, x.source",
		"SELECT e.id, h.at, h.source, h.change, h.detail FROM history h"
		" JOIN entities e ON e.eid = h.eid ORDER BY h.seq",
		"SELECT r.run_id, e.id, r.state, r.started_at, r.ended_at, r.updated_at, r.event"
		" FROM runs r JOIN entities e ON e.eid = r.job_eid ORDER BY r.run_id",
		"SELECT hash, scope, label, created_at FROM tokens ORDER BY hash",
	};
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	struct rd r;
	long lines = 0;
	int rc, began = 0;

	if (!cat || !out) {
		seterr(err, errlen, "cannot export: no catalog or output");
		return CATALOG_EINVAL;
	}
	memset(&r, 0, sizeof r);
	db = catalog_reader_get(cat);
	if (!db) {
		seterr(err, errlen, "cannot read catalog '%s'", cat->path);
		return CATALOG_EIO;
	}
	if ((rc = rd_begin(db, &began)) || (rc = rd_prepare(&r, db, RD_UP))) {
		seterr(err, errlen, "cannot read catalog '%s': %s", cat->path, sqlite3_errmsg(db));
		rc = CATALOG_EIO;
		goto out;
	}
	for (size_t q = 0; q < sizeof sql / sizeof sql[0]; q++) {
		if (sqlite3_prepare_v2(db, sql[q], -1, &st, NULL) != SQLITE_OK) {
			seterr(err, errlen, "cannot read catalog '%s': %s", cat->path,
			       sqlite3_errmsg(db));
			rc = CATALOG_EIO;
			goto out;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			json_t *line = NULL;
			int wrc;

			switch (q) {
			case 0:
				if ((wrc = entity_json(&r, st, DOC_EXPORT, &line))) {
					seterr(err, errlen, "cannot export entity '%.200s'",
					       col_text(st, 1));
					rc = wrc;
					goto out;
				}
				break;
			case 1:
				line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:o, s:o}",
						 "type", "edge", "src", col_text(st, 0), "dst",
						 col_text(st, 1), "kind", col_text(st, 2), "source",
						 col_text(st, 3), "properties",
						 stored_json((const char *)sqlite3_column_text(st, 4)),
						 "stale", sqlite3_column_int(st, 5), "created_at",
						 time_json(sqlite3_column_int64(st, 6)), "updated_at",
						 time_json(sqlite3_column_int64(st, 7)));
				break;
			case 2:
				line = json_pack("{s:s, s:s, s:o, s:s, s:s, s:o}", "type", "history",
						 "id", col_text(st, 0), "at",
						 time_json(sqlite3_column_int64(st, 1)), "source",
						 col_text(st, 2), "change", col_text(st, 3), "detail",
						 stored_json((const char *)sqlite3_column_text(st, 4)));
				break;
			case 3:
				line = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "type",
						 "run", "run_id", col_text(st, 0), "job",
						 col_text(st, 1), "state", col_text(st, 2),
						 "started_at", time_or_null(st, 3), "ended_at",
						 time_or_null(st, 4), "updated_at",
						 time_json(sqlite3_column_int64(st, 5)), "event",
						 stored_json((const char *)sqlite3_column_text(st, 6)));
				break;
			default:
				line = json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "token", "hash",
						 col_text(st, 0), "scope", col_text(st, 1), "label",
						 col_text(st, 2), "created_at",
						 time_json(sqlite3_column_int64(st, 3)));
				break;
			}
			if ((wrc = write_line(out, line, err, errlen))) {
				rc = wrc;
				goto out;
			}
			lines++;
		}
		if (rc != SQLITE_DONE) {
			seterr(err, errlen, "cannot read catalog '%s': %s", cat->path,
			       sqlite3_errmsg(db));
			rc = CATALOG_EIO;
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (fflush(out) == EOF || ferror(out)) {
		seterr(err, errlen, "cannot write export: %s", strerror(errno));
		rc = CATALOG_EIO;
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	rd_release(&r);
	if (began)
		rd_end(db, began);
	catalog_reader_put(cat, db);
	return rc ? rc : lines;
}

/*
 * Read one line (without its newline) into *BUF.  1: a line; 0: end of
 * input; -1: longer than IMPORT_LINE_MAX; -2: out of memory or a read error.
 */
static int read_line(FILE *in, char **buf, size_t *cap, size_t *len)
{
	size_t n = 0;

	for (;;) {
		if (*cap - n < 2) {
			size_t ncap = *cap ? *cap * 2 : 65536;
			char *tmp;

			if (*cap > (size_t)IMPORT_LINE_MAX + 1)
				return -1;
			if (ncap > (size_t)IMPORT_LINE_MAX + 2)
				ncap = (size_t)IMPORT_LINE_MAX + 2;
			tmp = realloc(*buf, ncap);
			if (!tmp)
				return -2;
			*buf = tmp;
			*cap = ncap;
		}
		if (!fgets(*buf + n, (int)(*cap - n), in)) {
			if (ferror(in))
				return -2;
			*len = n;
			(*buf)[n] = '\0';
			return n > 0 ? 1 : 0;
		}
		n += strlen(*buf + n);
		if (n > 0 && (*buf)[n - 1] == '\n') {
			(*buf)[--n] = '\0';
			if (n > (size_t)IMPORT_LINE_MAX)
				return -1;
			*len = n;
			return 1;
		}
		if (n > (size_t)IMPORT_LINE_MAX)
			return -1;
	}
}

/* A source named in _sources.SECTION[KEY], else DEF; NULL if malformed. */
static const char *src_of(json_t *sources, const char *section, const char *key, const char *def)
{
	json_t *v = json_object_get(json_object_get(sources, section), key);

	if (!v)
		return def;
	return json_is_string(v) && valid_source(json_string_value(v)) ? json_string_value(v)
									  : NULL;
}

static int import_set(struct wctx *w, int which, int64_t eid, json_t *arr, json_t *sources,
		      char *err, size_t errlen)
{
	sqlite3_stmt *put = W(w, which == SET_TAGS ? W_TAG_PUT : W_OWNER_PUT);
	const char *section = which == SET_TAGS ? "tags" : "owners";
	size_t i, j;
	json_t *m;

	json_array_foreach(arr, i, m) {
		const char *val = json_string_value(m);
		json_t *srcs = json_object_get(json_object_get(sources, section), val);
		size_t n = json_is_array(srcs) ? json_array_size(srcs) : 1;

		if (srcs && !json_is_array(srcs)) {
			seterr(err, errlen, "_sources.%s.%.64s: must be an array", section, val);
			return CATALOG_EINVAL;
		}
		for (j = 0; j < n; j++) {
			const char *s = srcs ? json_string_value(json_array_get(srcs, j)) : "import";

			if (!s || !valid_source(s)) {
				seterr(err, errlen, "_sources.%s.%.64s[%zu]: must be a source name",
				       section, val, j);
				return CATALOG_EINVAL;
			}
			sqlite3_bind_int64(put, 1, eid);
			bind_text(put, 2, val);
			bind_text(put, 3, s);
			if (wrun(w, put, "add a member"))
				return CATALOG_EIO;
		}
	}
	return 0;
}

static int import_entity(struct wctx *w, json_t *j, char *err, size_t errlen)
{
	struct doc *d = malloc(sizeof *d);
	struct ent e = { 0 };
	sqlite3_stmt *st;
	json_t *v, *a, *sources;
	const char *k;
	size_t i;
	char platform[64];
	int rc, found;

	if (!d) {
		seterr(err, errlen, "out of memory");
		return CATALOG_ENOMEM;
	}
	if ((rc = doc_parse(j, DOC_IMPORT, d, err, errlen)))
		goto out;
	sources = d->sources;
	found = ent_find(w, d->id, &e);
	if (found < 0) {
		rc = found;
		goto out;
	}
	if (d->created_at < 0)
		d->created_at = found ? e.created_at : w->now;
	if (d->updated_at < 0)
		d->updated_at = w->now;
	if (!found) {
		catalog_platform_of(d->p.namespace_, platform, sizeof platform);
		rc = ent_insert(w, d->id, &d->p, d->subtype, d->platform ? d->platform : platform,
				d->display_name, d->description, d->user_description, d->stale,
				d->created_at, d->updated_at, &e.eid);
		if (rc)
			goto out;
	} else {
		st = W(w, W_ENT_IMPORT);
		sqlite3_bind_int64(st, 1, e.eid);
		bind_text(st, 2, d->subtype ? d->subtype : e.subtype);
		bind_text(st, 3, d->platform ? d->platform : e.platform);
		bind_text(st, 4, d->display_name ? d->display_name : e.display_name);
		bind_text(st, 5, d->description ? d->description : e.description);
		bind_text(st, 6, d->has_user_description ? d->user_description : e.user_description);
		sqlite3_bind_int(st, 7, d->stale);
		sqlite3_bind_int64(st, 8, d->created_at);
		sqlite3_bind_int64(st, 9, d->updated_at);
		if ((rc = wrun(w, st, "update an entity")))
			goto out;
	}
	if (d->fields) {
		json_array_foreach(d->fields, i, v) {
			struct frow f;
			const char *s;

			if (field_from_json(v, i, &f)) {
				rc = CATALOG_ENOMEM;
				seterr(err, errlen, "out of memory");
				goto out;
			}
			s = src_of(sources, "fields", f.name, "import");
			if (!s) {
				free(f.props);
				seterr(err, errlen, "_sources.fields.%.64s: must be a source name",
				       f.name);
				rc = CATALOG_EINVAL;
				goto out;
			}
			rc = field_put(w, e.eid, &f, s);
			free(f.props);
			if (rc)
				goto out;
		}
	}
	if (d->properties) {
		json_object_foreach(d->properties, k, v) {
			char *text = json_is_null(v) ? strdup("null") : json_text(v);
			const char *s = src_of(sources, "properties", k, "import");

			if (!text || !s) {
				free(text);
				rc = text ? CATALOG_EINVAL : CATALOG_ENOMEM;
				seterr(err, errlen, text ? "_sources.properties.%.64s: must be a source name"
							 : "out of memory%.0s",
				       k);
				goto out;
			}
			rc = prop_put(w, e.eid, k, text, s);
			free(text);
			if (rc)
				goto out;
		}
	}
	if (d->tags && (rc = import_set(w, SET_TAGS, e.eid, d->tags, sources, err, errlen)))
		goto out;
	if (d->owners && (rc = import_set(w, SET_OWNERS, e.eid, d->owners, sources, err, errlen)))
		goto out;
	v = json_object_get(sources, "entity");
	if (v && !json_is_array(v)) {
		seterr(err, errlen, "_sources.entity: must be an array");
		rc = CATALOG_EINVAL;
		goto out;
	}
	json_array_foreach(v, i, a) {
		json_t *src = json_object_get(a, "source"), *gone = json_object_get(a, "gone");
		long long seen;

		if (!json_is_string(src) || !valid_source(json_string_value(src)) ||
		    (gone && !json_is_boolean(gone)) ||
		    !json_is_string(json_object_get(a, "seen_at")) ||
		    parse_time(json_string_value(json_object_get(a, "seen_at")), &seen)) {
			seterr(err, errlen, "_sources.entity[%zu]: want {source, seen_at, gone}", i);
			rc = CATALOG_EINVAL;
			goto out;
		}
		st = W(w, W_ASSERT_PUT);
		sqlite3_bind_int64(st, 1, e.eid);
		bind_text(st, 2, json_string_value(src));
		sqlite3_bind_int64(st, 3, seen);
		sqlite3_bind_int(st, 4, json_is_true(gone));
		if ((rc = wrun(w, st, "record an assertion")))
			goto out;
	}
	rc = found ? fts_refresh(w, e.eid) : fts_from_doc(w, e.eid, d);
out:
	ent_release(&e);
	free(d);
	return rc;
}

/* A member of LINE that must be a string (NULL: absent or not a string). */
static const char *line_str(json_t *line, const char *key)
{
	return json_string_value(json_object_get(line, key));
}

static int line_time(json_t *line, const char *key, int optional, long long *out, char *err,
		     size_t errlen)
{
	json_t *v = json_object_get(line, key);

	*out = -1;
	if ((!v || json_is_null(v)) && optional)
		return 0;
	if (!json_is_string(v) || parse_time(json_string_value(v), out)) {
		seterr(err, errlen, "%s: must be an RFC 3339 time", key);
		return CATALOG_EINVAL;
	}
	return 0;
}

static int find_eid(struct wctx *w, const char *id, const char *key, int64_t *eid, char *err,
		    size_t errlen)
{
	int rc;

	if (!id) {
		seterr(err, errlen, "%s: missing", key);
		return CATALOG_EINVAL;
	}
	rc = eid_of(w, id, eid);
	if (rc == 0) {
		seterr(err, errlen, "%s: no entity '%.200s' (entities come first)", key, id);
		return CATALOG_EINVAL;
	}
	return rc < 0 ? rc : 0;
}

static int import_edge(struct wctx *w, json_t *j, char *err, size_t errlen)
{
	const char *src = line_str(j, "src"), *dst = line_str(j, "dst"), *kind = line_str(j, "kind"),
		   *source = line_str(j, "source");
	json_t *props = json_object_get(j, "properties"), *stale = json_object_get(j, "stale");
	struct catalog_id p;
	sqlite3_stmt *st;
	long long created, updated;
	int64_t s, t;
	char *text = NULL;
	int rc;

	if (!src || catalog_id_parse(src, &p)) {
		seterr(err, errlen, "src: malformed id");
		return CATALOG_EINVAL;
	}
	if (!dst || catalog_id_parse(dst, &p)) {
		seterr(err, errlen, "dst: malformed id");
		return CATALOG_EINVAL;
	}
	if (!kind || !valid_edge_kind(kind)) {
		seterr(err, errlen, "kind: must be 1 to 31 of a-z and '_'");
		return CATALOG_EINVAL;
	}
	if (!valid_source(source)) {
		seterr(err, errlen, "source: must be a source name");
		return CATALOG_EINVAL;
	}
	if (stale && !json_is_boolean(stale)) {
		seterr(err, errlen, "stale: must be true or false");
		return CATALOG_EINVAL;
	}
	if (props && !json_is_null(props) && check_props(props, "properties", err, errlen))
		return CATALOG_EINVAL;
	if ((rc = line_time(j, "created_at", 1, &created, err, errlen)) ||
	    (rc = line_time(j, "updated_at", 1, &updated, err, errlen)))
		return rc;
	if ((rc = ensure_entity(w, src, 0, &s)) || (rc = ensure_entity(w, dst, 0, &t)))
		return rc;
	if (props && !json_is_null(props) && !(text = json_text(props))) {
		seterr(err, errlen, "out of memory");
		return CATALOG_ENOMEM;
	}
	st = W(w, W_EDGE_IMPORT);
	sqlite3_bind_int64(st, 1, s);
	sqlite3_bind_int64(st, 2, t);
	bind_text(st, 3, kind);
	bind_text(st, 4, source);
	bind_text(st, 5, text);
	sqlite3_bind_int(st, 6, json_is_true(stale));
	sqlite3_bind_int64(st, 7, created < 0 ? w->now : created);
	sqlite3_bind_int64(st, 8, updated < 0 ? w->now : updated);
	rc = wrun(w, st, "write an edge");
	free(text);
	return rc;
}

static int import_history(struct wctx *w, json_t *j, char *err, size_t errlen)
{
	const char *source = line_str(j, "source"), *change = line_str(j, "change");
	json_t *detail = json_object_get(j, "detail");
	sqlite3_stmt *st;
	long long at;
	int64_t eid;
	char *text = NULL;
	int rc;

	if ((rc = find_eid(w, line_str(j, "id"), "id", &eid, err, errlen)) ||
	    (rc = line_time(j, "at", 0, &at, err, errlen)))
		return rc;
	if (!source || !*source || strlen(source) > SOURCE_MAX * 4) {
		seterr(err, errlen, "source: must be a non-empty string");
		return CATALOG_EINVAL;
	}
	if (!change || !is_kind(change)) {
		seterr(err, errlen, "change: must be 1 to 31 of a-z and '_'");
		return CATALOG_EINVAL;
	}
	if (detail && !json_is_null(detail)) {
		text = json_dumps(detail, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text) {
			seterr(err, errlen, "out of memory");
			return CATALOG_ENOMEM;
		}
	}
	st = W(w, W_HIST_ADD);
	sqlite3_bind_int64(st, 1, eid);
	sqlite3_bind_int64(st, 2, at);
	bind_text(st, 3, source);
	bind_text(st, 4, change);
	bind_text(st, 5, text);
	rc = wrun(w, st, "record history");
	free(text);
	return rc;
}

static int import_run(struct wctx *w, json_t *j, char *err, size_t errlen)
{
	const char *run_id = line_str(j, "run_id"), *state = line_str(j, "state");
	json_t *event = json_object_get(j, "event");
	sqlite3_stmt *st;
	long long started, ended, updated;
	int64_t eid;
	char *text = NULL;
	int rc;

	if (!run_id || !*run_id || strlen(run_id) > RUN_ID_MAX) {
		seterr(err, errlen, "run_id: must be 1 to %d bytes", RUN_ID_MAX);
		return CATALOG_EINVAL;
	}
	if (!state || !in_list(run_states, state)) {
		seterr(err, errlen, "state: must be a run state");
		return CATALOG_EINVAL;
	}
	if ((rc = find_eid(w, line_str(j, "job"), "job", &eid, err, errlen)) ||
	    (rc = line_time(j, "started_at", 1, &started, err, errlen)) ||
	    (rc = line_time(j, "ended_at", 1, &ended, err, errlen)) ||
	    (rc = line_time(j, "updated_at", 0, &updated, err, errlen)))
		return rc;
	if (event && !json_is_null(event)) {
		text = json_dumps(event, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text) {
			seterr(err, errlen, "out of memory");
			return CATALOG_ENOMEM;
		}
	}
	st = W(w, W_RUN_PUT);
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, eid);
	bind_text(st, 3, state);
	if (started < 0)
		sqlite3_bind_null(st, 4);
	else
		sqlite3_bind_int64(st, 4, started);
	if (ended < 0)
		sqlite3_bind_null(st, 5);
	else
		sqlite3_bind_int64(st, 5, ended);
	sqlite3_bind_int64(st, 6, updated);
	bind_text(st, 7, text);
	rc = wrun(w, st, "record a run");
	free(text);
	return rc;
}

static int import_token(struct wctx *w, json_t *j, char *err, size_t errlen)
{
	const char *hash = line_str(j, "hash"), *scope = line_str(j, "scope"),
		   *label = line_str(j, "label");
	sqlite3_stmt *st;
	long long created;
	int rc;

	if (!hash || !*hash || strlen(hash) > 128 || !scope || !*scope ||
	    strlen(scope) > SOURCE_MAX || (label && strlen(label) > SHORT_MAX)) {
		seterr(err, errlen, "token: want hash, scope and label strings");
		return CATALOG_EINVAL;
	}
	if ((rc = line_time(j, "created_at", 1, &created, err, errlen)))
		return rc;
	st = W(w, W_TOKEN_PUT);
	bind_text(st, 1, hash);
	bind_text(st, 2, scope);
	bind_text(st, 3, nz(label));
	sqlite3_bind_int64(st, 4, created < 0 ? w->now : created);
	return wrun(w, st, "store a token");
}

static void set_cache(struct catalog *cat, int kib)
{
	char sql[64];

	snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", kib);
	sqlite3_exec(cat->w, sql, NULL, NULL, NULL);
}

/*
 * The import's input.  Parsing JSON is about a third of an import's work, so
 * when the input is a regular file (whose reads never block for long) a
 * second thread reads and parses lines into a ring while the writer writes.
 * The writer releases a line when it is done with it, and the parsing thread
 * frees it when it reuses the slot, so every line is allocated and freed on
 * the same thread.  The ring is small on purpose: a parsed line should still
 * be in cache when the writer gets to it.  Otherwise the writer parses the
 * lines itself.
 */
#define PARSE_SLOTS 16
#define PARSE_BATCH 4

struct parsed {
	long lineno;
	json_t *j;   /* NULL: the end, with RC 0 (end of input) or an error in msg */
	int rc;
};

struct parser {
	FILE *in;
	char *buf;
	size_t cap;
	long lineno;
	char msg[256];          /* the error of the final line */
	int threaded;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t can_get, can_put;
	struct parsed q[PARSE_SLOTS]; /* lines [head, head + count) are the writer's */
	size_t head, count;
	int stop;               /* the writer has given up */
};

/* Read and parse the next non-blank line. */
static struct parsed parse_next(struct parser *p)
{
	struct parsed out = { 0 };
	json_error_t jerr;
	size_t len = 0, k;
	int got;

	for (;;) {
		got = read_line(p->in, &p->buf, &p->cap, &len);
		if (got == 0)
			return out;
		out.lineno = ++p->lineno;
		if (got == -1) {
			snprintf(p->msg, sizeof p->msg, "line %ld: longer than %ld bytes", p->lineno,
				 IMPORT_LINE_MAX);
			out.rc = CATALOG_EINVAL;
			return out;
		}
		if (got < 0) {
			snprintf(p->msg, sizeof p->msg, "line %ld: cannot read: %s", p->lineno,
				 errno ? strerror(errno) : "out of memory");
			out.rc = CATALOG_EIO;
			return out;
		}
		for (k = 0; k < len && isspace((unsigned char)p->buf[k]); k++)
			;
		if (k < len)
			break;
	}
	out.j = json_loadb(p->buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!out.j) {
		snprintf(p->msg, sizeof p->msg, "line %ld: invalid json: %s", p->lineno, jerr.text);
		out.rc = CATALOG_EINVAL;
	}
	return out;
}

static void *parser_main(void *arg)
{
	struct parser *p = arg;
	struct parsed item;
	json_t *used;

	do {
		item = parse_next(p);
		pthread_mutex_lock(&p->mu);
		while (p->count == PARSE_SLOTS && !p->stop)
			pthread_cond_wait(&p->can_put, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			json_decref(item.j);
			break;
		}
		used = p->q[(p->head + p->count) % PARSE_SLOTS].j; /* released by the writer */
		p->q[(p->head + p->count) % PARSE_SLOTS] = item;
		/* wake a waiting writer with a batch of lines, or with the last one */
		if (++p->count == PARSE_BATCH || !item.j)
			pthread_cond_signal(&p->can_get);
		pthread_mutex_unlock(&p->mu);
		json_decref(used);
	} while (item.j);
	return NULL;
}

static void parser_start(struct parser *p, FILE *in)
{
	struct stat sb;

	p->in = in;
	if (fstat(fileno(in), &sb) != 0 || !S_ISREG(sb.st_mode))
		return;
	if (pthread_mutex_init(&p->mu, NULL))
		return;
	if (pthread_cond_init(&p->can_get, NULL))
		goto no_get;
	if (pthread_cond_init(&p->can_put, NULL))
		goto no_put;
	if (pthread_create(&p->th, NULL, parser_main, p))
		goto no_thread;
	p->threaded = 1;
	return;
no_thread:
	pthread_cond_destroy(&p->can_put);
no_put:
	pthread_cond_destroy(&p->can_get);
no_get:
	pthread_mutex_destroy(&p->mu);
}

/* The next line; when it has one, give it back with parser_release(). */
static struct parsed parser_get(struct parser *p)
{
	struct parsed item;

	if (!p->threaded)
		return parse_next(p);
	pthread_mutex_lock(&p->mu);
	while (p->count == 0)
		pthread_cond_wait(&p->can_get, &p->mu);
	item = p->q[p->head];
	pthread_mutex_unlock(&p->mu);
	return item;
}

static void parser_release(struct parser *p, json_t *j)
{
	if (!p->threaded) {
		json_decref(j);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->head = (p->head + 1) % PARSE_SLOTS;
	/* a parser waits on a full ring: wake it when half is free, not for every slot */
	if (--p->count == PARSE_SLOTS / 2)
		pthread_cond_signal(&p->can_put);
	pthread_mutex_unlock(&p->mu);
}

static void parser_finish(struct parser *p)
{
	if (p->threaded) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1;
		pthread_cond_signal(&p->can_put);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->th, NULL);
		for (size_t i = 0; i < PARSE_SLOTS; i++)
			json_decref(p->q[i].j);
		pthread_cond_destroy(&p->can_put);
		pthread_cond_destroy(&p->can_get);
		pthread_mutex_destroy(&p->mu);
	}
	free(p->buf);
}

long catalog_import(struct catalog *cat, FILE *in, char *err, size_t errlen)
{
	struct wctx w = { .cat = cat, .source = "import", .actor = "import" };
	struct parser *p = NULL;
	struct parsed item;
	char lerr[512];
	long count = 0, chunk = 0;
	int rc;

	if (!cat || !in) {
		seterr(err, errlen, "cannot import: no catalog or input");
		return CATALOG_EINVAL;
	}
	p = calloc(1, sizeof *p);
	if (!p) {
		seterr(err, errlen, "cannot import: out of memory");
		return CATALOG_ENOMEM;
	}
	if ((rc = wbegin(cat, err, errlen))) {
		free(p);
		return rc;
	}
	set_cache(cat, IMPORT_CACHE_KIB);
	w.now = tick(cat, 0);
	w.err = lerr;
	w.errlen = sizeof lerr;
	parser_start(p, in);
	for (;;) {
		const char *type;
		json_t *j;

		item = parser_get(p);
		j = item.j;
		if (!j) {
			if (item.rc) {
				seterr(err, errlen, "%s", p->msg);
				rc = item.rc;
				goto out;
			}
			break;
		}
		type = line_str(j, "type");
		lerr[0] = '\0';
		if (!type)
			rc = (seterr(lerr, sizeof lerr, "type: missing"), CATALOG_EINVAL);
		else if (strcmp(type, "entity") == 0)
			rc = import_entity(&w, j, lerr, sizeof lerr);
		else if (strcmp(type, "edge") == 0)
			rc = import_edge(&w, j, lerr, sizeof lerr);
		else if (strcmp(type, "history") == 0)
			rc = import_history(&w, j, lerr, sizeof lerr);
		else if (strcmp(type, "run") == 0)
			rc = import_run(&w, j, lerr, sizeof lerr);
		else if (strcmp(type, "token") == 0)
			rc = import_token(&w, j, lerr, sizeof lerr);
		else
			rc = (seterr(lerr, sizeof lerr, "type: unknown '%.32s'", type), CATALOG_EINVAL);
		parser_release(p, j);
		if (rc) {
			seterr(err, errlen, "line %ld: %s", item.lineno, lerr);
			goto out;
		}
		count++;
		if (++chunk >= IMPORT_CHUNK) {
			if (exec_sql(cat, cat->w, "COMMIT", "commit to", err, errlen) ||
			    exec_sql(cat, cat->w, "BEGIN IMMEDIATE", "write", err, errlen)) {
				rc = CATALOG_EIO;
				goto out;
			}
			atomic_fetch_add(&cat->generation, 1);
			chunk = 0;
		}
	}
	rc = 0;
out:
	parser_finish(p);
	free(p);
	set_cache(cat, WRITER_CACHE_KIB);
	if (sqlite3_get_autocommit(cat->w)) {
		/* a failed chunk boundary: nothing is open */
		wlock_give(cat);
	} else {
		/* A large import leaves the search index in many segments, and a
		 * search then reads each (1.7 ms instead of 0.9 ms per query at
		 * 1M entities): merge them into one (12 s at 1M) in the last
		 * transaction (best effort: a failure leaves the index as it was,
		 * and the import stands).  Small imports leave it to FTS5's
		 * automerge. */
		if (rc == 0 && count >= IMPORT_OPTIMIZE_MIN)
			sqlite3_exec(cat->w, "INSERT INTO entity_fts(entity_fts) VALUES('optimize')",
				     NULL, NULL, NULL);
		rc = wend(cat, rc, chunk > 0, err, errlen);
	}
	return rc ? rc : count;
}
