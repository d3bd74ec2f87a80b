/*
 * Catalog search: exact name matches first, then FTS5 hits ranked by bm25,
 * with filters, bounded facet counts and highlights.  See search.h.
 *
 * How a query runs (every step is bounded):
 *  1. exact matches: entities whose name_lc, short_lc or id equals the query
 *     (three indexed lookups), filtered, at most SEARCH_FACET_SCAN;
 *  2. FTS5 matches, newest rowid first, joined to entities for the filters;
 *     at most SEARCH_FACET_SCAN hits are kept and at most SEARCH_SCAN_MAX rows
 *     are examined (a filter that rejects most rows cannot make the scan
 *     unbounded).  bm25 is computed for the kept rows only (their phrase
 *     frequencies from the scan, their lengths read afterwards in eid order:
 *     rank_kept()) and they are ranked in memory, so when a query matches more
 *     than SEARCH_FACET_SCAN entities ("total_capped") the ranking is over the
 *     newest SEARCH_FACET_SCAN of them;
 *  3. facets over the kept hits (kind, platform, stale counted in memory;
 *     tags and owners from one range read each when the hits' eids lie close
 *     together, as a common term's newest matches do, else from the rows of
 *     the sorted eid list; counted in C);
 *  4. the requested page: entity rows by eid, with highlights computed in C
 *     as FTS5's highlight() and snippet() would (hl_*), written as JSON text
 *     (search_run_text(); search_run() parses it).
 * With no query text the newest entities (by eid) are scanned the same
 * bounded way and listed by updated_at, newest first.
 */
#include <ctype.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "catalog/search.h"

/* Rows examined before a filtered scan gives up ("total_capped"). */
#define SEARCH_SCAN_MAX (20 * SEARCH_FACET_SCAN)
/* Largest offset accepted. */
#define SEARCH_OFFSET_MAX 100000
/* Tag and owner facets list at most this many values, most frequent first. */
#define SEARCH_FACET_VALUES 100
/* Tag and owner facets read the rows of the hits' eid range when it is at
 * most this many times the number of hits, else look the hits up. */
#define FACET_RANGE_FACTOR 16
/* entity_fts has prefix indexes for prefixes of 2 to this many characters
 * (schema.c, version 4). */
#define PREFIX_INDEX_MAX 6

/* Column weights: name, display, namespace, description, fields, tags, owners
 * (name > display > fields > description > tags, owners > namespace). */
static const double rank_weight[] = { 10.0, 6.0, 1.0, 3.0, 4.0, 2.0, 2.0 };
#define RANK_COLS ((int)(sizeof(rank_weight) / sizeof(rank_weight[0])))
/* bm25's constants, as FTS5's bm25() has them. */
#define RANK_K1 1.2
#define RANK_B 0.75

/* terrarium_rank(entity_fts, ?9, ?10): see rank_fn(); ?9 the phrases' row
 * counts, ?10 the scan's struct rank_sink. */
#define SEARCH_RANK "terrarium_rank(entity_fts, ?9, ?10)"

/* Free heap pages go back to the system at most this often (see give_back()). */
#define TRIM_INTERVAL_MS 1000

/* Estimating a phrase's row count: the newest PROBE_ROWS of its matches. */
#define PROBE_ROWS 1000
/* Cached estimates, for every catalog of the process, per catalog generation. */
#define PROBE_CACHE 256
#define PROBE_TERM_MAX 64

/* The filters, on entities e; ?3 kind, ?4 platform, ?5 tag, ?6 owner, ?7 stale. */
#define SEARCH_FILTER                                                                      \
	"((?3 IS NULL OR e.kind = ?3) AND (?4 IS NULL OR e.platform = ?4)"                \
	" AND (?7 < 0 OR (e.stale != 0) = ?7)"                                            \
	" AND (?5 IS NULL OR EXISTS(SELECT 1 FROM tags t WHERE t.eid = e.eid AND t.tag = ?5))" \
	" AND (?6 IS NULL OR EXISTS(SELECT 1 FROM owners o WHERE o.eid = e.eid AND o.owner = ?6)))"

/* Exact matches; ?1 the lowercased query, ?2 the query as given. */
static const char sql_exact[] =
	"SELECT e.eid, e.kind, e.platform, e.stale,"
	" CASE WHEN e.name_lc = ?1 OR e.id = ?2 THEN 1 ELSE 2 END"
	" FROM entities e"
	" WHERE (e.name_lc = ?1 OR e.short_lc = ?1 OR e.id = ?2) AND " SEARCH_FILTER
	" LIMIT ?8";

/* FTS matches, newest first; ?1 the MATCH expression.  Column 4 says whether
 * the row passes the filters; column 5 is its bm25 when it does. */
static const char sql_fts[] =
	"SELECT entity_fts.rowid, e.kind, e.platform, e.stale, " SEARCH_FILTER ","
	" CASE WHEN " SEARCH_FILTER " THEN " SEARCH_RANK " END"
	" FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid"
	" WHERE entity_fts MATCH ?1 ORDER BY entity_fts.rowid DESC";

/* The same without filters: every row passes. */
static const char sql_fts_all[] =
	"SELECT entity_fts.rowid, e.kind, e.platform, e.stale, 1, " SEARCH_RANK
	" FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid"
	" WHERE entity_fts MATCH ?1 ORDER BY entity_fts.rowid DESC";

/* The matches of ?1, newest first, and whether each passes the filters. */
static const char sql_fills[] =
	"SELECT " SEARCH_FILTER " FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid"
	" WHERE entity_fts MATCH ?1 ORDER BY entity_fts.rowid DESC";

/* Listing without a query: the newest entities. */
static const char sql_list[] =
	"SELECT e.eid, e.kind, e.platform, e.stale, " SEARCH_FILTER ", e.updated_at"
	" FROM entities e ORDER BY e.eid DESC";

/* Tag and owner rows of the eids in a JSON array (?1), each eid's rows
 * together in primary-key order (value, source). */
static const char sql_list_tag[] =
	"SELECT eid, tag FROM tags WHERE eid IN (SELECT value FROM json_each(?1))";
static const char sql_list_owner[] =
	"SELECT eid, owner FROM owners WHERE eid IN (SELECT value FROM json_each(?1))";

/* The same, read as the tag and owner rows of an eid range (?1..?2), in
 * primary-key order (eid, value, source). */
static const char sql_range_tag[] = "SELECT eid, tag FROM tags WHERE eid BETWEEN ?1 AND ?2";
static const char sql_range_owner[] =
	"SELECT eid, owner FROM owners WHERE eid BETWEEN ?1 AND ?2";

static const char sql_max_eid[] = "SELECT max(eid) FROM entities";

static const char sql_entity[] =
	"SELECT id, kind, namespace, name, platform, subtype, display_name,"
	" COALESCE(user_description, description), stale FROM entities WHERE eid = ?1";

/*
 * The rank of an FTS5 row: bm25 with the column weights above, computed as
 * FTS5's bm25() computes it (term frequency weighted by column, saturated by
 * K1, normalised by the row's length against the average), except for each
 * phrase's IDF.  bm25() counts the rows that contain each phrase by scanning
 * the phrase's whole doclist once per query, which costs more than the rest
 * of a search together (20 ms for a term in 150,000 rows); here the IDF comes
 * from the row counts given as the second argument (a blob of doubles, one a
 * phrase, estimated and cached by phrase_counts()), or is 1 without them
 * (a query of one phrase: its IDF scales every row alike, so the order is
 * bm25's).  Lower is better, as with bm25().
 *
 * Given a struct rank_sink (third argument, a pointer), it does not look up
 * the row's length: it stores the row's weighted phrase frequencies in the
 * sink and returns their index there.  FTS5 reads each row's length with a
 * statement of its own (a cursor opened and a b-tree descended per row, a
 * quarter of a search's CPU); the scan reads the kept rows' lengths in one
 * statement instead and computes the same score (rank_score()).
 */
struct rank_data {
	int nphrase;
	double avgdl;
	double *idf;
	double *freq;
};

#define RANK_SINK_TYPE "terrarium_rank_sink"

struct rank_sink {
	int nphrase;  /* 0 until the first row */
	double avgdl;
	double *idf;  /* nphrase of them */
	double *freq; /* n rows of nphrase */
	size_t n, cap;
	int oom;
};

static void rank_sink_release(struct rank_sink *s)
{
	free(s->idf);
	free(s->freq);
	memset(s, 0, sizeof(*s));
}

/* bm25 of a row with weighted phrase frequencies F and length DL (negated:
 * lower is better). */
static double rank_score(int nphrase, const double *idf, const double *f, double dl,
			 double avgdl)
{
	double score = 0;

	for (int i = 0; i < nphrase; i++)
		score += idf[i] * (f[i] * (RANK_K1 + 1.0)) /
			 (f[i] + RANK_K1 * (1.0 - RANK_B + RANK_B * dl / avgdl));
	return -score;
}

/* Keep row frequencies F in SINK; the row's index there, or -1 (no memory). */
static long long rank_sink_put(struct rank_sink *sink, const struct rank_data *d)
{
	size_t np = d->nphrase > 0 ? (size_t)d->nphrase : 1;

	if (!sink->idf) {
		sink->idf = malloc(np * sizeof(double));
		if (!sink->idf)
			return -1;
		memcpy(sink->idf, d->idf, np * sizeof(double));
		sink->nphrase = d->nphrase;
		sink->avgdl = d->avgdl;
	}
	if (sink->n == sink->cap) {
		size_t ncap = sink->cap ? sink->cap * 2 : 256;
		double *nf = realloc(sink->freq, ncap * np * sizeof(double));

		if (!nf)
			return -1;
		sink->freq = nf;
		sink->cap = ncap;
	}
	memcpy(sink->freq + sink->n * np, d->freq, np * sizeof(double));
	return (long long)sink->n++;
}

static void rank_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
		    int nval, sqlite3_value **val)
{
	struct rank_data *d = api->xGetAuxdata(fts, 0);
	struct rank_sink *sink;
	int ninst = 0, ntok = 0, rc;

	if (!d) {
		int np = api->xPhraseCount(fts);
		const double *counts = NULL;
		size_t ncounts = 0;
		sqlite3_int64 nrow = 0, total = 0;

		d = sqlite3_malloc64(sizeof(*d) + 2 * (size_t)(np > 0 ? np : 1) * sizeof(double));
		if (!d) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
		d->nphrase = np;
		d->idf = (double *)(d + 1);
		d->freq = d->idf + (np > 0 ? np : 1);
		if (api->xRowCount(fts, &nrow) != SQLITE_OK ||
		    api->xColumnTotalSize(fts, -1, &total) != SQLITE_OK) {
			sqlite3_free(d);
			sqlite3_result_error(ctx, "terrarium_rank: cannot read the index statistics",
					     -1);
			return;
		}
		d->avgdl = nrow > 0 ? (double)total / (double)nrow : 1.0;
		if (d->avgdl <= 0)
			d->avgdl = 1.0;
		if (nval >= 1 && sqlite3_value_type(val[0]) == SQLITE_BLOB) {
			counts = sqlite3_value_blob(val[0]);
			ncounts = (size_t)sqlite3_value_bytes(val[0]) / sizeof(double);
		}
		for (int i = 0; i < np; i++) {
			double idf = 1.0;

			if (counts && (size_t)i < ncounts) {
				double n = counts[i];

				/* As bm25(): rows with the phrase against the rest, never <= 0. */
				idf = log(((double)nrow - n + 0.5) / (n + 0.5));
				if (!(idf > 1e-6))
					idf = 1e-6;
			}
			d->idf[i] = idf;
		}
		rc = api->xSetAuxdata(fts, d, sqlite3_free);
		if (rc != SQLITE_OK) {
			sqlite3_result_error_code(ctx, rc);
			return;
		}
	}
	for (int i = 0; i < d->nphrase; i++)
		d->freq[i] = 0;
	if ((rc = api->xInstCount(fts, &ninst)) != SQLITE_OK) {
		sqlite3_result_error_code(ctx, rc);
		return;
	}
	for (int i = 0; i < ninst; i++) {
		int ip, ic, io;

		if ((rc = api->xInst(fts, i, &ip, &ic, &io)) != SQLITE_OK) {
			sqlite3_result_error_code(ctx, rc);
			return;
		}
		if (ip >= 0 && ip < d->nphrase && ic >= 0 && ic < RANK_COLS)
			d->freq[ip] += rank_weight[ic];
	}
	sink = nval >= 2 ? sqlite3_value_pointer(val[1], RANK_SINK_TYPE) : NULL;
	if (sink) {
		long long slot = rank_sink_put(sink, d);

		if (slot < 0)
			sqlite3_result_error_nomem(ctx);
		else
			sqlite3_result_int64(ctx, slot);
		return;
	}
	if ((rc = api->xColumnSize(fts, -1, &ntok)) != SQLITE_OK) {
		sqlite3_result_error_code(ctx, rc);
		return;
	}
	sqlite3_result_double(ctx, rank_score(d->nphrase, d->idf, d->freq, (double)ntok, d->avgdl));
}

/*
 * entity_fts's tokenizer (schema.c: unicode61 with remove_diacritics 2), so
 * the highlights are computed in C the way FTS5's highlight() and snippet()
 * compute them, on the page's rows only (see hl_render()).
 */
struct hl_tokenizer {
	fts5_tokenizer api;
	Fts5Tokenizer *tok; /* NULL when not created */
};

static int hl_tokenizer_open(sqlite3 *db, struct hl_tokenizer *tk)
{
	const char *args[] = { "remove_diacritics", "2" };
	sqlite3_stmt *st = NULL;
	fts5_api *api = NULL;
	void *ud = NULL;
	int ret = CATALOG_EIO;

	tk->tok = NULL;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	if (!api || api->iVersion < 2 ||
	    api->xFindTokenizer(api, "unicode61", &ud, &tk->api) != SQLITE_OK ||
	    tk->api.xCreate(ud, args, 2, &tk->tok) != SQLITE_OK) {
		tk->tok = NULL;
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

static void hl_tokenizer_close(struct hl_tokenizer *tk)
{
	if (tk->tok)
		tk->api.xDelete(tk->tok);
	tk->tok = NULL;
}

/*
 * Prepared statements, kept per pooled read connection: preparing the scan's
 * statement alone costs about 70 us, a twentieth of a search.  Each pooled
 * connection gets a cache at search_reader_init() and loses it at
 * search_reader_release(); statements are found by the address of their SQL
 * text (the static strings of this file).  A connection is used by one thread
 * at a time, so its cache needs no lock; the list of caches has one.
 */
#define STMT_CACHE_MAX 24

struct stmt_cache {
	struct stmt_cache *next;
	sqlite3 *db;
	struct hl_tokenizer tk; /* entity_fts's tokenizer, for the highlights */
	int n;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} e[STMT_CACHE_MAX];
};

static pthread_mutex_t stmt_caches_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stmt_cache *stmt_caches;

static struct stmt_cache *stmt_cache_of(sqlite3 *db)
{
	struct stmt_cache *sc;

	pthread_mutex_lock(&stmt_caches_lock);
	for (sc = stmt_caches; sc && sc->db != db; sc = sc->next)
		;
	pthread_mutex_unlock(&stmt_caches_lock);
	return sc;
}

void search_reader_release(sqlite3 *db)
{
	struct stmt_cache **pp, *sc = NULL;

	pthread_mutex_lock(&stmt_caches_lock);
	for (pp = &stmt_caches; *pp; pp = &(*pp)->next) {
		if ((*pp)->db == db) {
			sc = *pp;
			*pp = sc->next;
			break;
		}
	}
	pthread_mutex_unlock(&stmt_caches_lock);
	if (!sc)
		return;
	for (int i = 0; i < sc->n; i++)
		sqlite3_finalize(sc->e[i].st);
	hl_tokenizer_close(&sc->tk);
	free(sc);
}

/*
 * SQL's statement on DB into *OUT, reset and without bindings: from SC when
 * it has it (or can keep it), else newly prepared.  Give it back with
 * stmt_done().  Returns an SQLite result code.
 */
static int stmt_get(sqlite3 *db, struct stmt_cache *sc, const char *sql, sqlite3_stmt **out)
{
	int rc;

	*out = NULL;
	if (sc) {
		for (int i = 0; i < sc->n; i++) {
			if (sc->e[i].sql == sql) {
				*out = sc->e[i].st;
				return SQLITE_OK;
			}
		}
	}
	rc = sqlite3_prepare_v3(db, sql, -1, sc ? SQLITE_PREPARE_PERSISTENT : 0, out, NULL);
	if (rc != SQLITE_OK || !sc || sc->n >= STMT_CACHE_MAX)
		return rc;
	sc->e[sc->n].sql = sql;
	sc->e[sc->n].st = *out;
	sc->n++;
	return SQLITE_OK;
}

/* Done with ST from stmt_get(): reset for the next use, or finalized if SC
 * does not keep it.  ST may be NULL. */
static void stmt_done(struct stmt_cache *sc, sqlite3_stmt *st)
{
	if (!st)
		return;
	if (sc) {
		for (int i = 0; i < sc->n; i++) {
			if (sc->e[i].st == st) {
				sqlite3_reset(st);
				sqlite3_clear_bindings(st);
				return;
			}
		}
	}
	sqlite3_finalize(st);
}

int search_reader_init(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	fts5_api *api = NULL;
	struct stmt_cache *sc;
	int ret = CATALOG_EIO;

	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	if (!api || api->iVersion < 2)
		goto out;
	if (api->xCreateFunction(api, "terrarium_rank", NULL, rank_fn, NULL) != SQLITE_OK)
		goto out;
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		ret = CATALOG_ENOMEM;
		goto out;
	}
	sc->db = db;
	if ((ret = hl_tokenizer_open(db, &sc->tk))) {
		free(sc);
		goto out;
	}
	pthread_mutex_lock(&stmt_caches_lock);
	sc->next = stmt_caches;
	stmt_caches = sc;
	pthread_mutex_unlock(&stmt_caches_lock);
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

/*
 * Row-count estimates of single phrases, for the IDF of terrarium_rank().
 * A phrase's count is exact when it matches fewer than PROBE_ROWS rows;
 * otherwise it is extrapolated from how far back (in rowids, which are
 * dense: entities.eid) its newest PROBE_ROWS matches reach.  Each estimate
 * costs one bounded scan and is kept until the catalog changes.
 */
struct probe_entry {
	uint64_t open_id, generation;
	char phrase[PROBE_TERM_MAX];
	double rows;
};

static struct {
	pthread_mutex_t lock;
	struct probe_entry e[PROBE_CACHE];
	unsigned next;
} probe_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int probe_lookup(uint64_t oid, uint64_t gen, const char *phrase, double *rows)
{
	int found = 0;

	pthread_mutex_lock(&probe_cache.lock);
	for (int i = 0; i < PROBE_CACHE; i++) {
		struct probe_entry *p = &probe_cache.e[i];

		if (p->open_id == oid && p->generation == gen && strcmp(p->phrase, phrase) == 0) {
			*rows = p->rows;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&probe_cache.lock);
	return found;
}

static void probe_store(uint64_t oid, uint64_t gen, const char *phrase, double rows)
{
	struct probe_entry *p;

	pthread_mutex_lock(&probe_cache.lock);
	p = &probe_cache.e[probe_cache.next++ % PROBE_CACHE];
	p->open_id = oid;
	p->generation = gen;
	snprintf(p->phrase, sizeof(p->phrase), "%s", phrase);
	p->rows = rows;
	pthread_mutex_unlock(&probe_cache.lock);
}

/* Estimate the rows matching PHRASE (one FTS5 phrase) into *ROWS. */
static int probe_phrase(sqlite3 *db, struct stmt_cache *sc, const char *phrase, int64_t max_eid,
			double *rows)
{
	static const char sql[] = "SELECT rowid FROM entity_fts WHERE entity_fts MATCH ?1"
				  " ORDER BY rowid DESC LIMIT ?2";
	sqlite3_stmt *st = NULL;
	int64_t last = 0;
	long n = 0;
	int rc, ret = CATALOG_EIO;

	if (stmt_get(db, sc, sql, &st) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, phrase, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, PROBE_ROWS);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		n++;
	}
	if (rc != SQLITE_DONE)
		goto out;
	if (n < PROBE_ROWS || max_eid <= 0 || last <= 0) {
		*rows = (double)n;
	} else {
		/* N matches among the newest (MAX_EID - LAST + 1) rowids. */
		double span = (double)(max_eid - last + 1);

		*rows = (double)n * (double)max_eid / (span > 1 ? span : 1);
	}
	ret = 0;
out:
	stmt_done(sc, st);
	return ret;
}

struct cand {
	int64_t eid;
	double rank;  /* lower is better: bm25, or -updated_at when listing */
	double score; /* reported: -bm25, 0 when not an FTS hit */
	int exact;    /* 0 not exact, 1 whole name or id, 2 last name segment */
	int fts;      /* matched the FTS query in the scan */
	long long slot; /* its frequencies in the scan's rank_sink, or -1 */
};

struct cand_vec {
	struct cand *v;
	size_t n, cap;
};

static int cand_push(struct cand_vec *cv, const struct cand *c)
{
	if (cv->n == cv->cap) {
		size_t ncap = cv->cap ? cv->cap * 2 : 64;
		struct cand *nv = realloc(cv->v, ncap * sizeof(*nv));

		if (!nv)
			return CATALOG_ENOMEM;
		cv->v = nv;
		cv->cap = ncap;
	}
	cv->v[cv->n++] = *c;
	return 0;
}

static int cmp_exact(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->exact != y->exact)
		return x->exact < y->exact ? -1 : 1;
	if (x->eid != y->eid)
		return x->eid > y->eid ? -1 : 1;
	return 0;
}

static int cmp_rank(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->eid != y->eid)
		return x->eid > y->eid ? -1 : 1;
	return 0;
}

/*
 * V[0..N) in cmp_rank() order: a bottom-up merge sort with the comparison
 * inlined (qsort() of these 48-byte elements sorts pointers through a
 * function call per comparison, 2-3% of a search); qsort() if the scratch
 * array cannot be had.  cmp_rank() is a total order, so both give one result.
 */
static void sort_by_rank(struct cand *v, size_t n)
{
	struct cand *tmp, *src = v, *dst;

	if (n < 2)
		return;
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp) {
		qsort(v, n, sizeof(*v), cmp_rank);
		return;
	}
	dst = tmp;
	for (size_t w = 1; w < n; w *= 2) {
		struct cand *t;

		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t a = lo, b = mid, k = lo;

			while (a < mid && b < hi)
				dst[k++] = cmp_rank(&src[b], &src[a]) < 0 ? src[b++] : src[a++];
			while (a < mid)
				dst[k++] = src[a++];
			while (b < hi)
				dst[k++] = src[b++];
		}
		t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(tmp);
}

struct eid_idx {
	int64_t eid;
	size_t idx;
};

static int cmp_eid_idx(const void *a, const void *b)
{
	const struct eid_idx *x = a, *y = b;

	return x->eid < y->eid ? -1 : x->eid > y->eid ? 1 : 0;
}

static int is_term_byte(unsigned char c)
{
	return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

int search_fts_expr(const char *text, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t o = 0;
	int terms = 0, last_chars = 0;

	if (!out || outlen == 0)
		return CATALOG_EINVAL;
	out[0] = '\0';
	if (!text)
		return 0;
	while (*p) {
		if (!is_term_byte(*p)) {
			p++;
			continue;
		}
		/* Room for a separating space and the opening quote. */
		if (o + (terms ? 2 : 1) >= outlen)
			goto toosmall;
		if (terms)
			out[o++] = ' ';
		out[o++] = '"';
		last_chars = 0;
		for (; *p && is_term_byte(*p); p++) {
			size_t need = *p == '"' ? 2 : 1;

			/* Characters, not bytes: UTF-8 continuation bytes do not count. */
			if ((*p & 0xC0) != 0x80)
				last_chars++;

			if (o + need >= outlen)
				goto toosmall;
			if (*p == '"')
				out[o++] = '"';
			out[o++] = (char)*p;
		}
		if (o + 1 >= outlen)
			goto toosmall;
		out[o++] = '"';
		terms++;
	}
	/* A one-character prefix would merge the doclists of every token that
	 * starts with it (there is no 1-character prefix index): the term is
	 * matched whole instead. */
	if (terms && last_chars >= 2) {
		if (o + 1 >= outlen)
			goto toosmall;
		out[o++] = '*';
	}
	out[o] = '\0';
	return 0;
toosmall:
	out[0] = '\0';
	return CATALOG_EINVAL;
}

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

static void bind_filters(sqlite3_stmt *st, const struct search_query *q)
{
	const char *kind = nonempty(q->kind), *platform = nonempty(q->platform);
	const char *tag = nonempty(q->tag), *owner = nonempty(q->owner);

	if (kind)
		sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	if (platform)
		sqlite3_bind_text(st, 4, platform, -1, SQLITE_STATIC);
	if (tag)
		sqlite3_bind_text(st, 5, tag, -1, SQLITE_STATIC);
	if (owner)
		sqlite3_bind_text(st, 6, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, q->stale < 0 ? -1 : q->stale ? 1 : 0);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? (const char *)s : "";
}

/* A JSON array text "[1,2,3]" of the N eids of V, in a new buffer. */
static char *eids_json(const int64_t *v, size_t n)
{
	size_t cap = 3 + n * 21, o = 0;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	buf[o++] = '[';
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)v[i]);

		if (k < 0 || (size_t)k >= cap - o) {
			free(buf);
			return NULL;
		}
		o += (size_t)k;
	}
	buf[o++] = ']';
	buf[o] = '\0';
	return buf;
}

/* The index of the last name segment: after the last '.', '/' or ':'. */
static size_t last_segment(const char *name)
{
	size_t start = 0;

	for (size_t i = 0; name[i]; i++)
		if (name[i] == '.' || name[i] == '/' || name[i] == ':')
			start = i + 1;
	return start;
}

/*
 * Highlights, computed in C over the page's rows as FTS5's highlight() and
 * snippet() compute them (fts5_aux.c): the text is split by entity_fts's own
 * tokenizer, each query phrase is found at every token position where its
 * tokens follow one another (the last token of the last phrase as a prefix
 * when the expression ends in '*'), overlapping instances are coalesced, and
 * the snippet is the SNIPPET_TOKENS-token window FTS5 would pick (the most
 * distinct phrases, then the most instances, a sentence start preferred).
 * Running the FTS5 query again for the page's rows cost a fifth of a search.
 */
#define SNIPPET_TOKENS 12
#define SNIPPET_ELLIPSIS "\xe2\x80\xa6"
/* A highlighted text longer than this is not highlighted (the stored text is
 * shown as it is). */
#define HL_TEXT_MAX (1 << 20)
/* A search's answer longer than this fails (as out of memory). */
#define SEARCH_TEXT_MAX (64u << 20)

struct hl_buf {
	char *p;
	size_t len, cap;
	int oom; /* an allocation failed, or the text passed SEARCH_TEXT_MAX */
	int bad; /* (JSON) a string was not valid UTF-8 */
};

static void hl_put(struct hl_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > SEARCH_TEXT_MAX) {
		b->oom = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		char *np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void hl_puts(struct hl_buf *b, const char *s)
{
	hl_put(b, s, strlen(s));
}

/* A token: its bytes in the text, and its folded form (FOFF, FLEN) in a buffer. */
struct hl_token {
	int start, end;
	size_t foff;
	int flen;
};

/* A phrase instance: first token and phrase; kept in (pos, phrase) order, as
 * FTS5's xInst() lists them. */
struct hl_inst {
	int pos, phrase;
};

struct hl {
	struct hl_tokenizer *tk; /* borrowed */
	/* The query: phrase P's tokens are qtok[pfirst[P] .. pfirst[P] + pntok[P]). */
	int nphrase;
	int *pfirst, *pntok;
	struct hl_token *qtok;
	int nqtok, capqtok;
	int prefix;           /* the last phrase's last token is a prefix */
	struct hl_buf qfold;  /* the query tokens' folded text */
	/* The text being highlighted. */
	struct hl_token *tok;
	int ntok, captok;
	struct hl_buf fold;
	struct hl_inst *inst;
	int ninst, capinst;
	unsigned char *seen;  /* per phrase, for the snippet's score */
	struct hl_buf out;
	int oom;
};

/* xToken callback: append a token to the query's (CTX's qtok) or the text's list. */
struct hl_tok_ctx {
	struct hl *h;
	int query;
};

static int hl_token_cb(void *ctx, int tflags, const char *token, int ntoken, int start, int end)
{
	struct hl_tok_ctx *t = ctx;
	struct hl *h = t->h;
	struct hl_token **v = t->query ? &h->qtok : &h->tok;
	int *n = t->query ? &h->nqtok : &h->ntok, *cap = t->query ? &h->capqtok : &h->captok;
	struct hl_buf *fold = t->query ? &h->qfold : &h->fold;

	/* unicode61 makes no colocated tokens; were there any, FTS5 skips them. */
	if (tflags & FTS5_TOKEN_COLOCATED)
		return SQLITE_OK;
	if (*n == *cap) {
		int ncap = *cap ? *cap * 2 : 64;
		struct hl_token *nv = realloc(*v, (size_t)ncap * sizeof(**v));

		if (!nv)
			return SQLITE_NOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[*n] = (struct hl_token){ start, end, fold->len, ntoken };
	hl_put(fold, token, (size_t)ntoken);
	if (fold->oom)
		return SQLITE_NOMEM;
	(*n)++;
	return SQLITE_OK;
}

static void hl_release(struct hl *h)
{
	free(h->pfirst);
	free(h->pntok);
	free(h->qtok);
	free(h->qfold.p);
	free(h->tok);
	free(h->fold.p);
	free(h->inst);
	free(h->seen);
	free(h->out.p);
	memset(h, 0, sizeof(*h));
}

/*
 * The phrases of EXPR (search_fts_expr()'s '"term" "term"*'), each tokenized
 * as FTS5 tokenizes a query string.  Returns 0, CATALOG_ENOMEM or CATALOG_EIO.
 */
static int hl_init(struct hl *h, struct hl_tokenizer *tk, const char *expr)
{
	size_t n = 0, len = strlen(expr);
	struct hl_tok_ctx t = { h, 1 };
	const char *p;

	memset(h, 0, sizeof(*h));
	h->tk = tk;
	for (p = expr; *p; p++)
		if (*p == '"' && (p == expr || p[-1] == ' '))
			n++;
	h->pfirst = calloc(n ? n : 1, sizeof(*h->pfirst));
	h->pntok = calloc(n ? n : 1, sizeof(*h->pntok));
	if (!h->pfirst || !h->pntok)
		return CATALOG_ENOMEM;
	h->prefix = len > 0 && expr[len - 1] == '*';
	/* Phrases are '"term"' or '"term"*', one space apart; terms hold no '"'. */
	for (p = expr; *p && (size_t)h->nphrase < n;) {
		const char *end = strchr(p + 1, '"');
		int last, rc;

		if (*p != '"' || !end)
			break;
		last = (size_t)h->nphrase + 1 == n;
		h->pfirst[h->nphrase] = h->nqtok;
		rc = tk->api.xTokenize(tk->tok, &t,
				       FTS5_TOKENIZE_QUERY |
					       (last && h->prefix ? FTS5_TOKENIZE_PREFIX : 0),
				       p + 1, (int)(end - p - 1), hl_token_cb);
		if (rc == SQLITE_NOMEM)
			return CATALOG_ENOMEM;
		if (rc != SQLITE_OK)
			return CATALOG_EIO;
		h->pntok[h->nphrase] = h->nqtok - h->pfirst[h->nphrase];
		h->nphrase++;
		p = end + 1;
		while (*p == '*' || *p == ' ')
			p++;
	}
	h->seen = calloc((size_t)h->nphrase + 1, 1);
	return h->seen ? 0 : CATALOG_ENOMEM;
}

/* Whether text token I is query token Q (a prefix of it when PREFIX). */
static int hl_token_is(const struct hl *h, int i, int q, int prefix)
{
	const struct hl_token *t = &h->tok[i], *qt = &h->qtok[q];

	if (prefix ? t->flen < qt->flen : t->flen != qt->flen)
		return 0;
	return memcmp(h->fold.p + t->foff, h->qfold.p + qt->foff, (size_t)qt->flen) == 0;
}

/*
 * Tokenize TEXT (N bytes) and list the query's phrase instances in it.
 * Returns 0 (h->ninst may be 0), CATALOG_ENOMEM or CATALOG_EIO.
 */
static int hl_scan(struct hl *h, const char *text, int n)
{
	struct hl_tok_ctx t = { h, 0 };
	int rc;

	h->ntok = 0;
	h->ninst = 0;
	h->fold.len = 0;
	rc = h->tk->api.xTokenize(h->tk->tok, &t, FTS5_TOKENIZE_DOCUMENT, text, n, hl_token_cb);
	if (rc == SQLITE_NOMEM)
		return CATALOG_ENOMEM;
	if (rc != SQLITE_OK)
		return CATALOG_EIO;
	for (int i = 0; i < h->ntok; i++) {
		for (int p = 0; p < h->nphrase; p++) {
			int k, nt = h->pntok[p], pre = h->prefix && p == h->nphrase - 1;

			if (nt == 0 || i + nt > h->ntok)
				continue;
			for (k = 0; k < nt; k++)
				if (!hl_token_is(h, i + k, h->pfirst[p] + k, pre && k == nt - 1))
					break;
			if (k < nt)
				continue;
			if (h->ninst == h->capinst) {
				int ncap = h->capinst ? h->capinst * 2 : 32;
				struct hl_inst *nv = realloc(h->inst, (size_t)ncap * sizeof(*nv));

				if (!nv)
					return CATALOG_ENOMEM;
				h->inst = nv;
				h->capinst = ncap;
			}
			h->inst[h->ninst++] = (struct hl_inst){ i, p };
		}
	}
	return 0;
}

/* fts5_aux.c's CInstIter: coalesced instances [start, end], in token positions. */
struct hl_iter {
	const struct hl *h;
	int i, start, end;
};

static void hl_iter_next(struct hl_iter *it)
{
	it->start = it->end = -1;
	while (it->i < it->h->ninst) {
		const struct hl_inst *in = &it->h->inst[it->i];
		int end = in->pos - 1 + it->h->pntok[in->phrase];

		if (it->start < 0) {
			it->start = in->pos;
			it->end = end;
		} else if (in->pos <= it->end) {
			if (end > it->end)
				it->end = end;
		} else {
			break;
		}
		it->i++;
	}
}

/*
 * Into h->out, TEXT with its phrase instances marked, as fts5HighlightCb()
 * writes it: the whole text, or with RANGE_END >= 0 the tokens RANGE_START
 * to RANGE_END (a snippet; IT already advanced to the range).
 */
static void hl_mark(struct hl *h, struct hl_iter *it, const char *text, int range_start,
		    int range_end, int *off)
{
	int open = 0;

	for (int pos = 0; pos < h->ntok; pos++) {
		int s = h->tok[pos].start, e = h->tok[pos].end;

		if (range_end >= 0) {
			if (pos < range_start || pos > range_end)
				continue;
			if (range_start && pos == range_start)
				*off = s;
		}
		if (open && (pos <= it->start || it->start < 0) && s > *off) {
			hl_puts(&h->out, "</mark>");
			open = 0;
		}
		if (pos == it->start && !open) {
			hl_put(&h->out, text + *off, (size_t)(s - *off));
			hl_puts(&h->out, "<mark>");
			*off = s;
			open = 1;
		}
		if (pos == it->end) {
			if (!open) {
				hl_puts(&h->out, "<mark>");
				open = 1;
			}
			hl_put(&h->out, text + *off, (size_t)(e - *off));
			*off = e;
			hl_iter_next(it);
		}
		if (pos == range_end) {
			if (open) {
				if (it->start >= 0 && pos >= it->start) {
					hl_put(&h->out, text + *off, (size_t)(e - *off));
					*off = e;
				}
				hl_puts(&h->out, "</mark>");
				open = 0;
			}
			hl_put(&h->out, text + *off, (size_t)(e - *off));
			*off = e;
		}
	}
	if (open)
		hl_puts(&h->out, "</mark>");
}

/*
 * highlight(entity_fts, col, '<mark>', '</mark>') of TEXT: *OUT and *OUTLEN
 * are h->out's text (valid until the next call) or TEXT itself when it holds
 * no phrase instance (or is past HL_TEXT_MAX).  Returns 0, CATALOG_ENOMEM or
 * CATALOG_EIO.
 */
static int hl_highlight(struct hl *h, const char *text, const char **out, size_t *outlen)
{
	size_t n = strlen(text);
	struct hl_iter it = { h, 0, -1, -1 };
	int off = 0, ret;

	*out = text;
	*outlen = n;
	if (n > HL_TEXT_MAX || !h->nphrase)
		return 0;
	if ((ret = hl_scan(h, text, (int)n)) || !h->ninst)
		return ret;
	h->out.len = 0;
	hl_iter_next(&it);
	hl_mark(h, &it, text, 0, -1, &off);
	hl_put(&h->out, text + off, n - (size_t)off);
	if (h->out.oom) {
		h->out.oom = 0;
		return CATALOG_ENOMEM;
	}
	*out = h->out.p;
	*outlen = h->out.len;
	return 0;
}

/* fts5SnippetScore(): the score of the window of SNIPPET_TOKENS from POS,
 * and (ADJ not NULL) where a window around its instances would start. */
static int hl_score(struct hl *h, int pos, int *adj)
{
	int score = 0, first = -1, last = 0;
	long long end = (long long)pos + SNIPPET_TOKENS;

	memset(h->seen, 0, (size_t)h->nphrase);
	for (int i = 0; i < h->ninst; i++) {
		const struct hl_inst *in = &h->inst[i];

		if (in->pos < pos || in->pos >= end)
			continue;
		score += h->seen[in->phrase] ? 1 : 1000;
		h->seen[in->phrase] = 1;
		if (first < 0)
			first = in->pos;
		last = in->pos + h->pntok[in->phrase];
	}
	if (adj) {
		long long a = first - (SNIPPET_TOKENS - (last - first)) / 2;

		if (a + SNIPPET_TOKENS > h->ntok)
			a = h->ntok - SNIPPET_TOKENS;
		if (a < 0)
			a = 0;
		*adj = (int)a;
	}
	return score;
}

/* Whether text token I starts a sentence (fts5SentenceFinderCb()). */
static int hl_sentence_start(const struct hl *h, const char *text, int i)
{
	int j, s = h->tok[i].start;
	char ch = 0;

	if (i == 0)
		return 1;
	for (j = s - 1; j >= 0; j--) {
		ch = text[j];
		if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
			break;
	}
	return j != s - 1 && (ch == '.' || ch == ':');
}

/*
 * snippet(entity_fts, col, '<mark>', '</mark>', '…', SNIPPET_TOKENS) of TEXT
 * when TEXT holds an instance of a query phrase: *OUT is h->out's text (valid
 * until the next call), or NULL when TEXT holds none (or is past
 * HL_TEXT_MAX).  Returns 0, CATALOG_ENOMEM or CATALOG_EIO.
 */
static int hl_snippet(struct hl *h, const char *text, const char **out, size_t *outlen)
{
	size_t n = strlen(text);
	struct hl_iter it = { h, 0, -1, -1 };
	int best = 0, best_start = 0, off = 0, range_end, ret;

	*out = NULL;
	*outlen = 0;
	if (n > HL_TEXT_MAX || !h->nphrase)
		return 0;
	if ((ret = hl_scan(h, text, (int)n)) || !h->ninst)
		return ret;
	/* Instances come in position order: SENT follows them as the last
	 * sentence start at or before each (token 0 always is one). */
	for (int i = 0, k = 0, sent = 0; i < h->ninst; i++) {
		int io = h->inst[i].pos, adj, score = hl_score(h, io, &adj);

		if (score > best) {
			best = score;
			best_start = adj;
		}
		if (h->ntok <= SNIPPET_TOKENS)
			continue;
		for (; k <= io; k++)
			if (hl_sentence_start(h, text, k))
				sent = k;
		if (sent < io) {
			score = hl_score(h, sent, NULL) + (sent == 0 ? 120 : 100);
			if (score > best) {
				best = score;
				best_start = sent;
			}
		}
	}
	h->out.len = 0;
	range_end = best_start + SNIPPET_TOKENS - 1;
	if (best_start > 0)
		hl_puts(&h->out, SNIPPET_ELLIPSIS);
	hl_iter_next(&it);
	while (it.start >= 0 && it.start < best_start)
		hl_iter_next(&it);
	hl_mark(h, &it, text, best_start, range_end, &off);
	if (range_end >= h->ntok - 1)
		hl_put(&h->out, text + off, n - (size_t)off);
	else
		hl_puts(&h->out, SNIPPET_ELLIPSIS);
	if (h->out.oom) {
		h->out.oom = 0;
		return CATALOG_ENOMEM;
	}
	*out = h->out.p;
	*outlen = h->out.len;
	return 0;
}

/*
 * Facet counts: string values and how many hits have each, in the order
 * first seen, found by a hash (cheaper than a JSON object's per increment).
 */
struct fc_entry {
	size_t key; /* offset of the NUL-terminated value in keys */
	uint32_t hash;
	json_int_t n;
};

struct fcount {
	struct fc_entry *e;
	size_t n, cap;
	size_t last; /* index + 1 of the entry counted last, 0 none: kinds and
		      * platforms mostly repeat, so it is tried first */
	uint32_t *slot; /* index + 1 into e, 0 when free; nslot a power of two */
	size_t nslot;
	struct hl_buf keys;
};

static void fcount_release(struct fcount *f)
{
	free(f->e);
	free(f->slot);
	free(f->keys.p);
	memset(f, 0, sizeof(*f));
}

static uint32_t fc_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int fc_rehash(struct fcount *f, size_t nslot)
{
	uint32_t *slot = calloc(nslot, sizeof(*slot));

	if (!slot)
		return CATALOG_ENOMEM;
	for (size_t i = 0; i < f->n; i++) {
		size_t k = f->e[i].hash & (nslot - 1);

		while (slot[k])
			k = (k + 1) & (nslot - 1);
		slot[k] = (uint32_t)i + 1;
	}
	free(f->slot);
	f->slot = slot;
	f->nslot = nslot;
	return 0;
}

/* Count one hit with value KEY (LEN bytes). */
static int fcount_inc(struct fcount *f, const char *key, size_t len)
{
	uint32_t h;
	size_t k;

	if (f->last) {
		struct fc_entry *e = &f->e[f->last - 1];

		if (strncmp(f->keys.p + e->key, key, len) == 0 && f->keys.p[e->key + len] == '\0') {
			e->n++;
			return 0;
		}
	}
	h = fc_hash(key, len);
	if (f->n * 2 >= f->nslot && fc_rehash(f, f->nslot ? f->nslot * 2 : 16))
		return CATALOG_ENOMEM;
	for (k = h & (f->nslot - 1); f->slot[k]; k = (k + 1) & (f->nslot - 1)) {
		struct fc_entry *e = &f->e[f->slot[k] - 1];

		if (e->hash == h && strncmp(f->keys.p + e->key, key, len) == 0 &&
		    f->keys.p[e->key + len] == '\0') {
			e->n++;
			f->last = f->slot[k];
			return 0;
		}
	}
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 16;
		struct fc_entry *ne = realloc(f->e, ncap * sizeof(*ne));

		if (!ne)
			return CATALOG_ENOMEM;
		f->e = ne;
		f->cap = ncap;
	}
	f->e[f->n] = (struct fc_entry){ f->keys.len, h, 1 };
	hl_put(&f->keys, key, len);
	hl_put(&f->keys, "", 1);
	if (f->keys.oom)
		return CATALOG_ENOMEM;
	f->slot[k] = (uint32_t)++f->n;
	f->last = f->n;
	return 0;
}

struct facet_value {
	const char *key;
	json_int_t n;
};

static int cmp_facet_value(const void *a, const void *b)
{
	const struct facet_value *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->key, y->key);
}

/*
 * JSON text written directly (jansson's objects cost a malloc per value and
 * its dump another pass), as json_dumps(JSON_COMPACT) writes it: strings as
 * given, with '"', '\' and control characters escaped; reals as "%.17g" with
 * ".0" when that looks like an integer.
 */

/* Whether S (N bytes) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;

	while (p < e) {
		unsigned c = *p;
		size_t k;
		unsigned cp;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			k = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			k = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			k = 3, cp = c & 0x07;
		else
			return 0;
		if ((size_t)(e - p) <= k)
			return 0;
		for (size_t i = 1; i <= k; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return 0;
		p += k + 1;
	}
	return 1;
}

static void jw_raw(struct hl_buf *b, const char *s)
{
	hl_put(b, s, strlen(s));
}

/* S (N bytes) as a JSON string; invalid UTF-8 sets b->oom's sibling flag. */
static void jw_strn(struct hl_buf *b, const char *s, size_t n)
{
	size_t from = 0;

	if (!utf8_valid(s, n)) {
		b->bad = 1;
		return;
	}
	hl_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[8];
		const char *e = NULL;

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		switch (ch) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04X", ch);
			e = esc;
		}
		hl_put(b, s + from, i - from);
		jw_raw(b, e);
		from = i + 1;
	}
	hl_put(b, s + from, n - from);
	hl_put(b, "\"", 1);
}

static void jw_str(struct hl_buf *b, const char *s)
{
	jw_strn(b, s, strlen(s));
}

/* ,"KEY": (KEY needs no escaping); FIRST leaves out the comma. */
static void jw_key(struct hl_buf *b, const char *key, int first)
{
	if (!first)
		hl_put(b, ",", 1);
	hl_put(b, "\"", 1);
	jw_raw(b, key);
	hl_put(b, "\":", 2);
}

static void jw_int(struct hl_buf *b, long long v)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%lld", v);

	hl_put(b, num, (size_t)n);
}

static void jw_bool(struct hl_buf *b, int v)
{
	jw_raw(b, v ? "true" : "false");
}

/* As jansson's jsonp_dtostr() with its default precision. */
static void jw_real(struct hl_buf *b, double v)
{
	char num[40], *e;
	int n = snprintf(num, sizeof(num), "%.17g", v);

	if (n < 0 || (size_t)n >= sizeof(num) - 3) {
		b->bad = 1;
		return;
	}
	if (!strchr(num, '.') && !strchr(num, 'e')) {
		memcpy(num + n, ".0", 3);
		n += 2;
	}
	e = strchr(num, 'e');
	if (e) {
		char *start = e + 1, *end = start + 1;

		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, (size_t)(num + n - end) + 1);
			n -= (int)(end - start);
		}
	}
	hl_put(b, num, (size_t)n);
}

/*
 * F as a JSON object of value: count, in the order first seen, or with TOP
 * the SEARCH_FACET_VALUES most frequent, most frequent first (then by value).
 */
static int fcount_write(const struct fcount *f, int top, struct hl_buf *b)
{
	struct facet_value *v = NULL;
	size_t n = f->n;

	if (n) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return CATALOG_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = (struct facet_value){ f->keys.p + f->e[i].key, f->e[i].n };
	if (top && n > 1)
		qsort(v, n, sizeof(*v), cmp_facet_value);
	if (top && n > SEARCH_FACET_VALUES)
		n = SEARCH_FACET_VALUES;
	hl_put(b, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			hl_put(b, ",", 1);
		jw_str(b, v[i].key);
		hl_put(b, ":", 1);
		jw_int(b, (long long)v[i].n);
	}
	hl_put(b, "}", 1);
	free(v);
	return 0;
}

struct search_ctx {
	sqlite3 *db;
	const struct search_query *q;
	const char *text;   /* trimmed query text */
	const char *lc;     /* its ASCII lowercase */
	const char *expr;   /* FTS5 expression, "" if none */
	struct cand_vec cv; /* exact hits [0, n_exact), then the others */
	size_t n_exact;
	double *counts;     /* estimated rows of each phrase (2+ phrases), or NULL */
	size_t ncounts;
	int capped;
	struct fcount fkind, fplatform, fstale; /* counted during the scans */
	struct fcount ftag, fowner;             /* counted by collect_facets() */
	struct rank_sink sink;                  /* the scan's rows, to rank */
	struct eid_idx *byeid;                  /* kept_by_eid(): cv's eids ascending */
	struct hl_buf out;                      /* the answer's JSON text */
	struct stmt_cache *sc; /* the connection's statements, or NULL */
	struct hl hl;          /* the page's highlights */
	struct hl_tokenizer own_tk; /* the tokenizer when SC has none */
	char *err;
	size_t errlen;
};

static int sql_fail(struct search_ctx *c)
{
	set_err(c->err, c->errlen, "cannot search catalog: %s", sqlite3_errmsg(c->db));
	return CATALOG_EIO;
}

/* The read transaction's statements: cached, as sqlite3_exec() would parse
 * them on every search. */
static const char sql_begin[] = "BEGIN";
static const char sql_commit[] = "COMMIT";

/* Run SQL (no rows, no parameters) with a cached statement; the last
 * sqlite3_step() code. */
static int run_cached(struct search_ctx *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc = stmt_get(c->db, c->sc, sql, &st);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	stmt_done(c->sc, st);
	return rc;
}

/* Count one kept hit (columns 1-3 of ST: kind, platform, stale) in the facets. */
static int facets_count(struct search_ctx *c, sqlite3_stmt *st)
{
	const char *kind = col_text(st, 1), *platform = col_text(st, 2);
	int stale = sqlite3_column_int(st, 3) != 0;

	if (fcount_inc(&c->fkind, kind, (size_t)sqlite3_column_bytes(st, 1)) ||
	    fcount_inc(&c->fplatform, platform, (size_t)sqlite3_column_bytes(st, 2)) ||
	    fcount_inc(&c->fstale, stale ? "true" : "false", stale ? 4 : 5))
		return CATALOG_ENOMEM;
	return 0;
}

static int collect_exact(struct search_ctx *c)
{
	sqlite3_stmt *st = NULL;
	int rc, ret;

	if (stmt_get(c->db, c->sc, sql_exact, &st) != SQLITE_OK) {
		ret = sql_fail(c);
		goto out;
	}
	sqlite3_bind_text(st, 1, c->lc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->text, -1, SQLITE_STATIC);
	bind_filters(st, c->q);
	sqlite3_bind_int(st, 8, SEARCH_FACET_SCAN + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cand cd = { .eid = sqlite3_column_int64(st, 0),
				   .exact = sqlite3_column_int(st, 4), .slot = -1 };

		if (c->cv.n >= SEARCH_FACET_SCAN) {
			c->capped = 1;
			break;
		}
		if ((ret = cand_push(&c->cv, &cd)) || (ret = facets_count(c, st)))
			goto out;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = sql_fail(c);
		goto out;
	}
	c->n_exact = c->cv.n;
	if (c->n_exact > 1)
		qsort(c->cv.v, c->n_exact, sizeof(*c->cv.v), cmp_exact);
	ret = 0;
out:
	stmt_done(c->sc, st);
	return ret;
}

static int has_filters(const struct search_query *q)
{
	return nonempty(q->kind) || nonempty(q->platform) || nonempty(q->tag) ||
	       nonempty(q->owner) || q->stale >= 0;
}

/* The sum of the SQLite varints in BLOB (N bytes) into *SUM; -1 if malformed. */
static int varint_sum(const unsigned char *p, int n, double *sum)
{
	double total = 0;
	int i = 0;

	while (i < n) {
		unsigned long long v = 0;
		int k;

		for (k = 0; k < 8 && i < n; k++, i++) {
			v = (v << 7) | (p[i] & 0x7F);
			if (!(p[i] & 0x80))
				break;
		}
		if (k == 8) {
			if (i >= n)
				return -1;
			v = (v << 8) | p[i];
		} else if (i >= n) {
			return -1;
		}
		i++;
		total += (double)(unsigned)v;
	}
	*sum = total;
	return 0;
}

/*
 * c->byeid: every kept candidate's eid and index, by eid ascending.  The
 * scanned ones (after the exact ones) came newest first, so they are read
 * backwards; the exact ones are sorted and merged in.  Call it before the
 * candidates are ranked (the indexes are positions in c->cv as it is).
 */
static int kept_by_eid(struct search_ctx *c)
{
	size_t n = c->cv.n, ne = c->n_exact < n ? c->n_exact : n, i, a, b, k;
	struct eid_idx *out, *tmp;
	int desc = 1;

	if (c->byeid || !n)
		return 0;
	out = malloc(n * sizeof(*out));
	tmp = malloc(n * sizeof(*tmp));
	if (!out || !tmp) {
		free(out);
		free(tmp);
		return CATALOG_ENOMEM;
	}
	for (i = ne + 1; i < n; i++)
		if (c->cv.v[i].eid >= c->cv.v[i - 1].eid)
			desc = 0;
	for (i = 0; i < ne; i++)
		tmp[i] = (struct eid_idx){ c->cv.v[i].eid, i };
	for (i = ne; i < n; i++)
		tmp[i] = (struct eid_idx){ c->cv.v[n - 1 - (i - ne)].eid, n - 1 - (i - ne) };
	if (!desc) {
		qsort(tmp, n, sizeof(*tmp), cmp_eid_idx);
		memcpy(out, tmp, n * sizeof(*out));
	} else {
		if (ne > 1)
			qsort(tmp, ne, sizeof(*tmp), cmp_eid_idx);
		for (a = 0, b = ne, k = 0; k < n; k++)
			out[k] = b >= n || (a < ne && tmp[a].eid <= tmp[b].eid) ? tmp[a++] : tmp[b++];
	}
	free(tmp);
	c->byeid = out;
	return 0;
}

/*
 * Rank the scan's kept rows (those with a sink slot, exact hits included):
 * each one's length from its entity_fts_docsize row, read in eid order
 * through one blob handle (no statement per row), then bm25 as
 * terrarium_rank() would have computed it with xColumnSize().
 */
static int rank_kept(struct search_ctx *c)
{
	sqlite3_blob *blob = NULL;
	struct eid_idx *ix = NULL;
	size_t n = 0, np = c->sink.nphrase > 0 ? (size_t)c->sink.nphrase : 1;
	int ret = 0;

	if (!c->cv.n)
		return 0;
	if ((ret = kept_by_eid(c)))
		goto out;
	ix = malloc(c->cv.n * sizeof(*ix));
	if (!ix) {
		ret = CATALOG_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < c->cv.n; i++) {
		const struct cand *cd = &c->cv.v[c->byeid[i].idx];

		if (cd->slot >= 0 && (size_t)cd->slot < c->sink.n)
			ix[n++] = c->byeid[i];
	}
	for (size_t i = 0; i < n; i++) {
		struct cand *cd = &c->cv.v[ix[i].idx];
		unsigned char sz[64];
		int rc, len;
		double dl;

		rc = blob ? sqlite3_blob_reopen(blob, ix[i].eid)
			  : sqlite3_blob_open(c->db, "main", "entity_fts_docsize", "sz", ix[i].eid,
					      0, &blob);
		if (rc != SQLITE_OK) {
			ret = sql_fail(c);
			goto out;
		}
		len = sqlite3_blob_bytes(blob);
		if (len > (int)sizeof(sz) || sqlite3_blob_read(blob, sz, len, 0) != SQLITE_OK ||
		    varint_sum(sz, len, &dl)) {
			set_err(c->err, c->errlen, "cannot search catalog: bad document size of %lld",
				(long long)ix[i].eid);
			ret = CATALOG_EIO;
			goto out;
		}
		cd->rank = rank_score(c->sink.nphrase, c->sink.idf,
				      c->sink.freq + (size_t)cd->slot * np, dl, c->sink.avgdl);
		cd->score = -cd->rank;
	}
out:
	sqlite3_blob_close(blob);
	free(ix);
	return ret;
}

/*
 * The bounded scan of FTS matches (or, with LISTING, of all entities),
 * appending the rows that pass the filters and are not exact hits.
 */
static int collect_scan(struct search_ctx *c, int listing)
{
	sqlite3_stmt *st = NULL;
	struct eid_idx *ex = NULL;
	long scanned = 0;
	int rc = SQLITE_DONE, ret;

	if (c->capped)
		return 0;
	if (c->n_exact) {
		ex = malloc(c->n_exact * sizeof(*ex));
		if (!ex) {
			ret = CATALOG_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < c->n_exact; i++)
			ex[i] = (struct eid_idx){ c->cv.v[i].eid, i };
		qsort(ex, c->n_exact, sizeof(*ex), cmp_eid_idx);
	}
	if (stmt_get(c->db, c->sc,
		     listing ? sql_list : has_filters(c->q) ? sql_fts : sql_fts_all, &st) !=
	    SQLITE_OK) {
		ret = sql_fail(c);
		goto out;
	}
	if (!listing) {
		sqlite3_bind_text(st, 1, c->expr, -1, SQLITE_STATIC);
		if (c->counts)
			sqlite3_bind_blob(st, 9, c->counts, (int)(c->ncounts * sizeof(double)),
					  SQLITE_STATIC);
		sqlite3_bind_pointer(st, 10, &c->sink, RANK_SINK_TYPE, NULL);
	}
	bind_filters(st, c->q);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cand cd = { .eid = sqlite3_column_int64(st, 0), .slot = -1 };
		struct eid_idx key = { cd.eid, 0 }, *hit;

		if (++scanned > SEARCH_SCAN_MAX) {
			c->capped = 1;
			break;
		}
		if (!sqlite3_column_int(st, 4))
			continue;
		if (listing)
			cd.rank = -(double)sqlite3_column_int64(st, 5);
		else
			cd.slot = sqlite3_column_int64(st, 5); /* ranked by rank_kept() */
		cd.fts = !listing;
		hit = ex ? bsearch(&key, ex, c->n_exact, sizeof(*ex), cmp_eid_idx) : NULL;
		if (hit) {
			c->cv.v[hit->idx].slot = cd.slot;
			c->cv.v[hit->idx].fts = cd.fts;
			continue;
		}
		if (c->cv.n >= SEARCH_FACET_SCAN) {
			c->capped = 1;
			break;
		}
		if ((ret = cand_push(&c->cv, &cd)) || (ret = facets_count(c, st)))
			goto out;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = sql_fail(c);
		goto out;
	}
	stmt_done(c->sc, st);
	st = NULL;
	if ((ret = listing ? kept_by_eid(c) : rank_kept(c)))
		goto out;
	if (c->cv.n - c->n_exact > 1)
		sort_by_rank(c->cv.v + c->n_exact, c->cv.n - c->n_exact);
	ret = 0;
out:
	stmt_done(c->sc, st);
	free(ex);
	return ret;
}

/* The matches of ?1, newest first, without the filters (none are set). */
static const char sql_fills_fts[] =
	"SELECT 1 FROM entity_fts WHERE entity_fts MATCH ?1 ORDER BY rowid DESC";

/*
 * The characters (not bytes) of the token FTS5 matches as a prefix: the last
 * token of the last phrase of EXPR ('... "term"*'), where '_' separates
 * tokens as it does for the unicode61 tokenizer ("tracking_num" ends in the
 * token "num").
 */
static int last_token_chars(const char *expr)
{
	const char *p = strrchr(expr, ' ');
	int n = 0;

	for (p = p ? p + 1 : expr; *p; p++) {
		if (*p == '_')
			n = 0;
		else if (*p != '"' && *p != '*' && (*p & 0xC0) != 0x80)
			n++;
	}
	return n;
}

/*
 * A last token typed as a prefix ("warehou"*) longer than the prefix indexes
 * (PREFIX_INDEX_MAX characters) makes FTS5 merge the doclists of
 * every token that starts with it into one buffer before the first row, and
 * for a common word that costs 10-30 ms.  When the whole word alone fills the
 * bounded scan, the prefix cannot change what is shown beyond which
 * SEARCH_FACET_SCAN rows are counted (the total is capped either way), so the
 * search uses the whole word: the scan, the ranking and the highlights.
 * Otherwise (a partial word, or a rare one) the prefix stays.  Shorter
 * prefixes are read from their prefix index, as cheap as a word.
 */
static int prefer_whole_word(struct search_ctx *c, char *expr)
{
	sqlite3_stmt *st = NULL;
	size_t len = strlen(expr);
	int filtered = has_filters(c->q);
	int rc, ret = 0;

	if (len < 3 || expr[len - 1] != '*' || last_token_chars(expr) <= PREFIX_INDEX_MAX)
		return 0;
	expr[len - 1] = '\0';
	if (stmt_get(c->db, c->sc, filtered ? sql_fills : sql_fills_fts, &st) !=
	    SQLITE_OK) {
		ret = sql_fail(c);
		goto out;
	}
	sqlite3_bind_text(st, 1, expr, -1, SQLITE_STATIC);
	if (filtered)
		bind_filters(st, c->q);
	/* The same bounds as collect_scan(): enough hits, or enough rows seen. */
	for (long seen = 0, hits = 0; (rc = sqlite3_step(st)) == SQLITE_ROW;) {
		hits += sqlite3_column_int(st, 0) != 0;
		if (hits > SEARCH_FACET_SCAN || ++seen > SEARCH_SCAN_MAX)
			goto out; /* keep the whole word */
	}
	if (rc != SQLITE_DONE) {
		ret = sql_fail(c);
		goto out;
	}
	expr[len - 1] = '*';
out:
	if (ret)
		expr[len - 1] = '*';
	stmt_done(c->sc, st);
	return ret;
}

/*
 * For a query of two or more phrases, each phrase's estimated row count
 * (c->counts), from the cache or a bounded probe; see probe_phrase().
 */
static int phrase_counts(struct search_ctx *c, struct catalog *cat)
{
	sqlite3_stmt *st = NULL;
	const char *p;
	char *phrase = NULL;
	uint64_t oid = catalog_open_id(cat), gen = catalog_generation(cat);
	int64_t max_eid = -1;
	size_t n = 0, i = 0;
	int ret = 0;

	for (p = c->expr; *p; p++)
		if (*p == '"' && (p == c->expr || p[-1] == ' '))
			n++;
	if (n < 2)
		goto out;
	c->counts = calloc(n, sizeof(*c->counts));
	phrase = malloc(strlen(c->expr) + 1);
	if (!c->counts || !phrase) {
		ret = CATALOG_ENOMEM;
		goto out;
	}
	c->ncounts = n;
	/* Phrases are '"term"' or '"term"*', one space apart; terms hold no '"'. */
	for (p = c->expr; *p && i < n;) {
		const char *end = strchr(p + 1, '"');
		size_t len;

		if (!end)
			break;
		len = (size_t)(end - p) + 1 + (end[1] == '*');
		memcpy(phrase, p, len);
		phrase[len] = '\0';
		p += len;
		while (*p == ' ')
			p++;
		if (len < PROBE_TERM_MAX && probe_lookup(oid, gen, phrase, &c->counts[i])) {
			i++;
			continue;
		}
		if (max_eid < 0) {
			if (stmt_get(c->db, c->sc, sql_max_eid, &st) !=
				    SQLITE_OK ||
			    sqlite3_step(st) != SQLITE_ROW) {
				ret = sql_fail(c);
				goto out;
			}
			max_eid = sqlite3_column_int64(st, 0);
		}
		if (probe_phrase(c->db, c->sc, phrase, max_eid, &c->counts[i])) {
			ret = sql_fail(c);
			goto out;
		}
		if (len < PROBE_TERM_MAX)
			probe_store(oid, gen, phrase, c->counts[i]);
		i++;
	}
out:
	stmt_done(c->sc, st);
	free(phrase);
	return ret;
}

/*
 * A tag or owner facet over hits whose eids (EIDS, N of them, ascending) lie
 * close together: one range read of the table's rows from the first eid to
 * the last, in primary-key order, counting each (eid, value) of a hit once
 * (the same value from two sources is one).  Cheaper than N lookups when the
 * range holds few other rows (see FACET_RANGE_FACTOR).
 */
static int facet_range(struct search_ctx *c, const char *sql, const int64_t *eids, size_t n,
		       const char *list, struct fcount *counts)
{
	sqlite3_stmt *st = NULL;
	char *prev = NULL;
	size_t k = 0, prev_cap = 0;
	int64_t prev_eid = -1;
	int rc, ret = CATALOG_EIO;

	if (stmt_get(c->db, c->sc, sql, &st) != SQLITE_OK)
		goto out;
	if (list) {
		sqlite3_bind_text(st, 1, list, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int64(st, 1, eids[0]);
		sqlite3_bind_int64(st, 2, eids[n - 1]);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t eid = sqlite3_column_int64(st, 0);
		const char *value;
		size_t len;

		/* A list's rows are all hits'; a range's are hits' when their eid is. */
		while (!list && k < n && eids[k] < eid)
			k++;
		if (!list && k == n)
			break;
		if (!list && eids[k] != eid)
			continue;
		value = col_text(st, 1);
		len = (size_t)sqlite3_column_bytes(st, 1);
		if (eid == prev_eid && prev && strcmp(prev, value) == 0)
			continue;
		if (len + 1 > prev_cap) {
			char *np = realloc(prev, len + 1);

			if (!np) {
				ret = CATALOG_ENOMEM;
				goto out;
			}
			prev = np;
			prev_cap = len + 1;
		}
		memcpy(prev, value, len + 1);
		prev_eid = eid;
		if (fcount_inc(counts, value, len)) {
			ret = CATALOG_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto out;
	ret = 0;
out:
	stmt_done(c->sc, st);
	free(prev);
	return ret;
}

/*
 * The tag and owner facets of the kept hits: a range read when their eids
 * are dense (a common term's newest matches), else one IN query each over
 * the eids as a JSON array (matches spread over the whole catalog).
 */
static int collect_facets(struct search_ctx *c)
{
	struct fcount *tag = &c->ftag, *owner = &c->fowner;
	int64_t *sorted = NULL;
	char *eids = NULL;
	size_t n = c->cv.n;
	int ret = 0;

	if (!n)
		goto out;
	/* Not yet when the exact lookups filled the cap (no scan ran). */
	if ((ret = kept_by_eid(c)))
		goto out;
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted) {
		ret = CATALOG_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = c->byeid[i].eid;
	if ((uint64_t)(sorted[n - 1] - sorted[0]) < (uint64_t)n * FACET_RANGE_FACTOR) {
		if ((ret = facet_range(c, sql_range_tag, sorted, n, NULL, tag)) ||
		    (ret = facet_range(c, sql_range_owner, sorted, n, NULL, owner))) {
			if (ret == CATALOG_EIO)
				sql_fail(c);
		}
		goto out;
	}
	eids = eids_json(sorted, n);
	if (!eids) {
		ret = CATALOG_ENOMEM;
		goto out;
	}
	if ((ret = facet_range(c, sql_list_tag, sorted, n, eids, tag)) ||
	    (ret = facet_range(c, sql_list_owner, sorted, n, eids, owner))) {
		if (ret == CATALOG_EIO)
			sql_fail(c);
		goto out;
	}
out:
	free(sorted);
	free(eids);
	return ret;
}

/* Whether exact hit CD matches the FTS query: known from the scan unless the
 * scan stopped early (then one lookup of its row). */
static int exact_is_fts(struct search_ctx *c, const struct cand *cd, int *ret)
{
	static const char sql[] =
		"SELECT 1 FROM entity_fts WHERE entity_fts MATCH ?1 AND rowid = ?2";
	sqlite3_stmt *st = NULL;
	int rc, yes = 0;

	*ret = 0;
	if (cd->fts || !c->capped)
		return cd->fts;
	if (stmt_get(c->db, c->sc, sql, &st) != SQLITE_OK) {
		*ret = sql_fail(c);
		goto out;
	}
	sqlite3_bind_text(st, 1, c->expr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, cd->eid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		yes = 1;
	else if (rc != SQLITE_DONE)
		*ret = sql_fail(c);
out:
	stmt_done(c->sc, st);
	return yes;
}

/* The "highlights" of a hit: "name" always (the exact match's segment
 * marked, or the name as highlight() marks it), "description" when the hit
 * matches the FTS query and its description holds a query phrase (as
 * snippet()). */
static int write_highlights(struct search_ctx *c, const struct cand *cd, const char *name,
			    const char *desc)
{
	struct hl_buf *b = &c->out;
	const char *t;
	size_t n;
	int ret = 0;

	jw_key(b, "highlights", 0);
	hl_put(b, "{", 1);
	jw_key(b, "name", 1);
	if (cd->exact) {
		/* The whole name, or its last segment (after '.', '/' or ':'). */
		size_t seg = cd->exact == 1 ? 0 : last_segment(name), len = strlen(name);
		struct hl_buf *m = &c->hl.out;

		m->len = 0;
		hl_put(m, name, seg);
		hl_put(m, "<mark>", 6);
		hl_put(m, name + seg, len - seg);
		hl_put(m, "</mark>", 7);
		if (m->oom)
			return CATALOG_ENOMEM;
		jw_strn(b, m->p, m->len);
	} else if (*c->expr) {
		if ((ret = hl_highlight(&c->hl, name, &t, &n)))
			return ret;
		jw_strn(b, t, n);
	} else {
		jw_str(b, name);
	}
	if (*c->expr && *desc && (!cd->exact || exact_is_fts(c, cd, &ret))) {
		if ((ret = hl_snippet(&c->hl, desc, &t, &n)))
			return ret;
		if (t) {
			jw_key(b, "description", 0);
			jw_strn(b, t, n);
		}
	}
	if (ret)
		return ret;
	hl_put(b, "}", 1);
	return 0;
}

/* Write the hit of candidate CD (its entity row read with ST) to c->out,
 * after a comma unless FIRST; *WROTE is 0 when the entity is gone. */
static int write_hit(struct search_ctx *c, sqlite3_stmt *st, const struct cand *cd, int first,
		     int *wrote)
{
	static const char *const cols[] = { "id", "kind", "namespace", "name", "platform",
					    "subtype", "display_name", "description" };
	struct hl_buf *b = &c->out;
	int rc;

	*wrote = 0;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, cd->eid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0; /* deleted between the scan and now: skip it */
	if (rc != SQLITE_ROW)
		return sql_fail(c);
	if (!first)
		hl_put(b, ",", 1);
	hl_put(b, "{", 1);
	for (int i = 0; i < 8; i++) {
		jw_key(b, cols[i], i == 0);
		jw_strn(b, col_text(st, i), (size_t)sqlite3_column_bytes(st, i));
	}
	jw_key(b, "stale", 0);
	jw_bool(b, sqlite3_column_int(st, 8));
	jw_key(b, "exact", 0);
	jw_bool(b, cd->exact != 0);
	jw_key(b, "score", 0);
	jw_real(b, cd->score);
	rc = write_highlights(c, cd, col_text(st, 3), col_text(st, 7));
	if (rc)
		return rc;
	hl_put(b, "}", 1);
	*wrote = 1;
	return 0;
}

/* The page of hits, as a JSON array, to c->out. */
static int build_page(struct search_ctx *c, int limit, int offset)
{
	sqlite3_stmt *st = NULL;
	size_t from = (size_t)offset, to;
	int ret = 0, first = 1, wrote;

	hl_put(&c->out, "[", 1);
	if (from >= c->cv.n)
		goto out;
	to = c->cv.n - from > (size_t)limit ? from + (size_t)limit : c->cv.n;
	if (*c->expr) {
		struct hl_tokenizer *tk = c->sc && c->sc->tk.tok ? &c->sc->tk : &c->own_tk;

		if (!tk->tok && hl_tokenizer_open(c->db, tk)) {
			ret = sql_fail(c);
			goto out;
		}
		if ((ret = hl_init(&c->hl, tk, c->expr))) {
			if (ret == CATALOG_EIO)
				sql_fail(c);
			goto out;
		}
	}
	if (stmt_get(c->db, c->sc, sql_entity, &st) != SQLITE_OK) {
		ret = sql_fail(c);
		goto out;
	}
	for (size_t i = from; i < to; i++) {
		if ((ret = write_hit(c, st, &c->cv.v[i], first, &wrote))) {
			if (ret == CATALOG_EIO && !c->err[0])
				sql_fail(c);
			goto out;
		}
		if (wrote)
			first = 0;
	}
out:
	hl_put(&c->out, "]", 1);
	stmt_done(c->sc, st);
	return ret;
}

/*
 * An FTS5 query allocates buffers of several MB (a prefix's merged doclist),
 * in the malloc arena of whichever HTTP thread ran it; freed, they stay in
 * that arena, so with tens of threads the process keeps tens of MB it no
 * longer uses.  After a search, at most once per TRIM_INTERVAL_MS across the
 * process, the free pages of every arena go back to the system
 * (malloc_trim(), about 0.1 ms).
 */
static void give_back(void)
{
	static _Atomic long long last_ms;
	struct timespec ts;
	long long now, last;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	last = atomic_load(&last_ms);
	if (now - last < TRIM_INTERVAL_MS ||
	    !atomic_compare_exchange_strong(&last_ms, &last, now))
		return;
	malloc_trim(0);
}

int search_run_text(struct catalog *cat, const struct search_query *q, char **out,
		    size_t *outlen, char *err, size_t errlen)
{
	struct search_ctx c = { 0 };
	char *text = NULL, *lc = NULL, *expr = NULL;
	const char *raw = q && q->q ? q->q : "";
	size_t len, start, end;
	int limit, ret, began = 0;

	if (out)
		*out = NULL;
	if (outlen)
		*outlen = 0;
	if (!cat || !q || !out || !outlen) {
		set_err(err, errlen, "search: missing argument");
		ret = CATALOG_EINVAL;
		goto out;
	}
	limit = q->limit ? q->limit : SEARCH_LIMIT_DEFAULT;
	if (limit < 1 || limit > SEARCH_LIMIT_MAX) {
		set_err(err, errlen, "limit: must be 1..%d", SEARCH_LIMIT_MAX);
		ret = CATALOG_EINVAL;
		goto out;
	}
	if (q->offset < 0 || q->offset > SEARCH_OFFSET_MAX) {
		set_err(err, errlen, "offset: must be 0..%d", SEARCH_OFFSET_MAX);
		ret = CATALOG_EINVAL;
		goto out;
	}
	if (q->stale < -1 || q->stale > 1) {
		set_err(err, errlen, "stale: must be -1, 0 or 1");
		ret = CATALOG_EINVAL;
		goto out;
	}
	len = strlen(raw);
	if (len > SEARCH_QUERY_MAX) {
		set_err(err, errlen, "q: longer than %d bytes", SEARCH_QUERY_MAX);
		ret = CATALOG_EINVAL;
		goto out;
	}
	if (!utf8_valid(raw, len)) {
		set_err(err, errlen, "q: not valid UTF-8");
		ret = CATALOG_EINVAL;
		goto out;
	}
	for (start = 0; start < len && isspace((unsigned char)raw[start]); start++)
		;
	for (end = len; end > start && isspace((unsigned char)raw[end - 1]); end--)
		;
	text = strndup(raw + start, end - start);
	lc = strndup(raw + start, end - start);
	/* Every byte of the text may become a 4-byte term ("x" plus a space). */
	expr = malloc(4 * len + 8);
	if (!text || !lc || !expr) {
		ret = CATALOG_ENOMEM;
		goto out;
	}
	for (char *p = lc; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if ((ret = search_fts_expr(text, expr, 4 * len + 8)))
		goto out;

	c.db = catalog_reader_get(cat);
	if (!c.db) {
		set_err(err, errlen, "cannot search catalog: no read connection");
		ret = CATALOG_EIO;
		goto out;
	}
	c.sc = stmt_cache_of(c.db);
	c.q = q;
	c.text = text;
	c.lc = lc;
	c.expr = expr;
	c.err = err;
	c.errlen = errlen;

	/* A read transaction, so the scans and the page see one snapshot. */
	if (sqlite3_get_autocommit(c.db)) {
		if (run_cached(&c, sql_begin) != SQLITE_DONE) {
			ret = sql_fail(&c);
			goto out;
		}
		began = 1;
	}
	if (*text) {
		ret = collect_exact(&c);
		if (!ret && *expr && !c.capped)
			ret = prefer_whole_word(&c, expr);
		if (!ret && *expr && !c.capped)
			ret = phrase_counts(&c, cat);
		if (!ret && *expr)
			ret = collect_scan(&c, 0);
	} else {
		ret = collect_scan(&c, 1);
	}
	if (!ret)
		ret = collect_facets(&c);
	if (!ret) {
		struct hl_buf *b = &c.out;

		hl_put(b, "{", 1);
		jw_key(b, "query", 1);
		jw_strn(b, raw, len);
		jw_key(b, "total", 0);
		jw_int(b, (long long)c.cv.n);
		jw_key(b, "total_capped", 0);
		jw_bool(b, c.capped);
		jw_key(b, "limit", 0);
		jw_int(b, limit);
		jw_key(b, "offset", 0);
		jw_int(b, q->offset);
		jw_key(b, "hits", 0);
		ret = build_page(&c, limit, q->offset);
		jw_key(b, "facets", 0);
		hl_put(b, "{", 1);
		jw_key(b, "kind", 1);
		if (!ret)
			ret = fcount_write(&c.fkind, 0, b);
		jw_key(b, "platform", 0);
		if (!ret)
			ret = fcount_write(&c.fplatform, 0, b);
		jw_key(b, "tag", 0);
		if (!ret)
			ret = fcount_write(&c.ftag, 1, b);
		jw_key(b, "owner", 0);
		if (!ret)
			ret = fcount_write(&c.fowner, 1, b);
		jw_key(b, "stale", 0);
		if (!ret)
			ret = fcount_write(&c.fstale, 0, b);
		hl_put(b, "}", 1);
		jw_key(b, "facets_capped", 0);
		jw_bool(b, c.capped);
		hl_put(b, "}", 1);
	}
	if (began)
		run_cached(&c, sql_commit);
	if (ret)
		goto out;
	if (c.out.oom) {
		ret = CATALOG_ENOMEM;
		goto out;
	}
	if (c.out.bad) {
		set_err(err, errlen, "cannot search catalog: stored text is not valid UTF-8");
		ret = CATALOG_EIO;
		goto out;
	}
	*out = c.out.p;
	*outlen = c.out.len;
	c.out.p = NULL;
	ret = 0;
out:
	if (ret == CATALOG_ENOMEM)
		set_err(err, errlen, "cannot search catalog: out of memory");
	free(c.out.p);
	hl_release(&c.hl);
	fcount_release(&c.fkind);
	fcount_release(&c.fplatform);
	fcount_release(&c.fstale);
	fcount_release(&c.ftag);
	fcount_release(&c.fowner);
	rank_sink_release(&c.sink);
	free(c.byeid);
	hl_tokenizer_close(&c.own_tk);
	catalog_reader_put(cat, c.db);
	free(c.counts);
	free(c.cv.v);
	free(text);
	free(lc);
	free(expr);
	if (c.db)
		give_back();
	return ret;
}

int search_run(struct catalog *cat, const struct search_query *q, json_t **out, char *err,
	       size_t errlen)
{
	json_error_t jerr;
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (out)
		*out = NULL;
	if (!out) {
		set_err(err, errlen, "search: missing argument");
		return CATALOG_EINVAL;
	}
	ret = search_run_text(cat, q, &text, &len, err, errlen);
	if (ret)
		return ret;
	*out = json_loadb(text, len, 0, &jerr);
	free(text);
	if (!*out) {
		set_err(err, errlen, "cannot search catalog: out of memory");
		return CATALOG_ENOMEM;
	}
	return 0;
}
