#ifndef TERRARIUM_SEARCH_H
#define TERRARIUM_SEARCH_H
/*
 * Catalog search on FTS5.
 *
 * The query text is split into terms on anything that is not a letter, digit
 * or '_'; every term must match (AND), and the last term matches as a prefix
 * (search as you type) when it has two characters or more.  entity_fts has
 * prefix indexes of 2 to 6 characters (schema 4), so such a prefix costs what
 * a word costs; a longer prefix whose whole word alone fills the
 * SEARCH_FACET_SCAN scan is searched as that word.
 * The user never writes FTS5 syntax: quotes,
 * parentheses and operators in the text are plain characters.
 *
 * Ranking: entities whose whole name, or last name segment, equals the query
 * (case-insensitively: "orders" and "shop.public.orders" both find
 * "shop.public.orders") come first; then bm25 over the columns with weights
 * name > display > fields > description > tags, owners > namespace, computed
 * by terrarium_rank() with each phrase's IDF estimated and cached per catalog
 * generation (see search.c).
 *
 * Filters (kind, platform, tag, owner, stale) narrow the hits.  Facets count
 * the filtered hits by kind, platform, tag, owner and stale, scanning at most
 * SEARCH_FACET_SCAN matches (then "facets_capped": true); "total" is exact up
 * to the same bound (then "total_capped": true).
 */
#include <jansson.h>
#include "catalog/catalog.h"

#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX 200
#define SEARCH_QUERY_MAX 512
/* Matches kept for the total, the facets and the ranking: the newest ones.
 * Every kept hit costs about 2 us when the hits lie close together and 6 us
 * when they are far apart (its entities row, its length, its tags and owners:
 * a page read each); 250 keeps a common term's search near 0.55 ms of CPU and
 * a two-term one near 2 ms (docs/benchmarks.md; it was 1,000, then 10,000). */
#define SEARCH_FACET_SCAN 250

struct search_query {
	const char *q;        /* the text; NULL or "" lists everything (newest first) */
	const char *kind;     /* filters; NULL means any */
	const char *platform;
	const char *tag;
	const char *owner;
	int stale;            /* -1 any, 0 only fresh, 1 only stale */
	int limit;            /* 1..SEARCH_LIMIT_MAX; 0 means the default */
	int offset;           /* >= 0 */
};

/*
 * Run Q.  *OUT (new reference) is:
 *  { "query": "...", "total": N, "total_capped": bool, "limit": L, "offset": O,
 *    "hits": [ { "id", "kind", "namespace", "name", "platform", "subtype",
 *                "display_name", "description", "stale", "exact": bool, "score",
 *                "highlights": { "name": "shop.public.<mark>orders</mark>",
 *                                "description": "...<mark>..</mark>..." } } ],
 *    "facets": { "kind": {"dataset": 3}, "platform": {...}, "tag": {...},
 *                "owner": {...}, "stale": {"true": 1, "false": 2} },
 *    "facets_capped": bool }
 * Highlight text is the stored text with matches wrapped in <mark></mark>; it
 * is NOT HTML-escaped (the UI escapes, then restores the marks).
 * Returns 0, CATALOG_EINVAL (bad limit/offset, query too long) with ERR, or
 * CATALOG_EIO.
 */
int search_run(struct catalog *cat, const struct search_query *q, json_t **out, char *err,
	       size_t errlen);

/*
 * The same answer as JSON text (what json_dumps(JSON_COMPACT) of search_run()'s
 * object gives, byte for byte): *OUT is a new NUL-terminated buffer the caller
 * frees, *OUTLEN its length.  search_run() parses this text; the HTTP route
 * sends it as it is.  Same returns as search_run(); CATALOG_EIO also when a
 * stored text is not valid UTF-8.
 */
int search_run_text(struct catalog *cat, const struct search_query *q, char **out,
		    size_t *outlen, char *err, size_t errlen);

/*
 * Turn user text into an FTS5 MATCH expression: each term double-quoted, the
 * last one followed by '*'.  Writes "" when the text has no terms.  Returns 0,
 * or CATALOG_EINVAL if OUT is too small.  (Exposed for tests.)
 */
int search_fts_expr(const char *text, char *out, size_t outlen);

#endif
