/*
 * Lineage traversal: breadth first over "lineage" edges.  See lineage.h.
 *
 * The nodes array is the BFS queue: nodes are appended as they are first
 * reached, so processing it in order visits them by increasing distance.
 * With LINEAGE_BOTH the root expands both ways; a node reached upstream keeps
 * going upstream and one reached downstream keeps going downstream (the
 * sign of its depth says which).
 *
 * Per node and direction one statement loads at most hop_cap + 1 distinct
 * neighbours (in eid order, straight off an index); only when the cap is
 * exceeded does a second, bounded statement count them (at most
 * LINEAGE_COUNT_MAX, so "omitted" is a lower bound past that).  Several
 * sources asserting the same (src, dst) make one edge, stale only when every
 * assertion is stale.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "catalog/lineage.h"

/* Neighbours counted at most, for "omitted", per node and direction: counting
 * 10,000 takes about 2 ms, so this bounds one node's count to tens of ms. */
#define LINEAGE_COUNT_MAX 100000

static const char sql_root[] =
	"SELECT eid, id, kind, namespace, name, platform, subtype, display_name, stale"
	" FROM entities WHERE id = ?1";

static const char sql_node[] =
	"SELECT eid, id, kind, namespace, name, platform, subtype, display_name, stale"
	" FROM entities WHERE eid = ?1";

/* ?1 the node, ?2 include stale, ?3 how many. */
static const char sql_up[] =
	"SELECT src, min(stale) FROM edges WHERE dst = ?1 AND kind = 'lineage'"
	" AND (?2 OR stale = 0) GROUP BY src ORDER BY src LIMIT ?3";
static const char sql_down[] =
	"SELECT dst, min(stale) FROM edges WHERE src = ?1 AND kind = 'lineage'"
	" AND (?2 OR stale = 0) GROUP BY dst ORDER BY dst LIMIT ?3";
static const char sql_up_count[] =
	"SELECT count(*) FROM (SELECT DISTINCT src FROM edges WHERE dst = ?1"
	" AND kind = 'lineage' AND (?2 OR stale = 0) LIMIT ?3)";
static const char sql_down_count[] =
	"SELECT count(*) FROM (SELECT DISTINCT dst FROM edges WHERE src = ?1"
	" AND kind = 'lineage' AND (?2 OR stale = 0) LIMIT ?3)";

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

/* --- a hash map from a pair of integers to an index ------------------------ */

struct pairmap_slot {
	int64_t a, b;
	size_t val; /* index + 1; 0 is an empty slot */
};

struct pairmap {
	struct pairmap_slot *slots;
	size_t cap, n; /* cap is a power of two */
};

static size_t pair_hash(int64_t a, int64_t b)
{
	uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ULL;

	h ^= (uint64_t)b + 0x7f4a7c159e3779b9ULL + (h << 6) + (h >> 2);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	return (size_t)h;
}

/* The value stored for (A, B), or (size_t)-1. */
static size_t pairmap_get(const struct pairmap *m, int64_t a, int64_t b)
{
	if (!m->cap)
		return (size_t)-1;
	for (size_t i = pair_hash(a, b) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const struct pairmap_slot *s = &m->slots[i];

		if (!s->val)
			return (size_t)-1;
		if (s->a == a && s->b == b)
			return s->val - 1;
	}
}

static void pairmap_place(struct pairmap_slot *slots, size_t cap, const struct pairmap_slot *e)
{
	size_t i = pair_hash(e->a, e->b) & (cap - 1);

	while (slots[i].val)
		i = (i + 1) & (cap - 1);
	slots[i] = *e;
}

/* Store (A, B) -> VAL; the key must be absent.  0 or CATALOG_ENOMEM. */
static int pairmap_put(struct pairmap *m, int64_t a, int64_t b, size_t val)
{
	struct pairmap_slot e = { a, b, val + 1 };

	if ((m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		struct pairmap_slot *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return CATALOG_ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slots[i].val)
				pairmap_place(ns, ncap, &m->slots[i]);
		free(m->slots);
		m->slots = ns;
		m->cap = ncap;
	}
	pairmap_place(m->slots, m->cap, &e);
	m->n++;
	return 0;
}

/* --- the walk --------------------------------------------------------------- */

struct walk {
	sqlite3 *db;
	const struct lineage_query *q;
	struct lineage_graph *g;
	size_t nodes_cap, edges_cap;
	struct pairmap seen;  /* eid -> node index */
	struct pairmap edges; /* (src index, dst index) -> edge index */
	sqlite3_stmt *node, *next[2], *count[2]; /* [0] upstream, [1] downstream */
	char *err;
	size_t errlen;
};

static int walk_sql_fail(struct walk *w)
{
	set_err(w->err, w->errlen, "cannot read lineage: %s", sqlite3_errmsg(w->db));
	return CATALOG_EIO;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return strdup(s ? (const char *)s : "");
}

static void node_release(struct lineage_node *n)
{
	free(n->id);
	free(n->kind);
	free(n->namespace_);
	free(n->name);
	free(n->platform);
	free(n->subtype);
	free(n->display_name);
}

/* Append the node in ST's current row (columns as sql_node) at DEPTH. */
static int add_node(struct walk *w, sqlite3_stmt *st, int depth, size_t *idx)
{
	struct lineage_graph *g = w->g;
	struct lineage_node n = { 0 };
	int ret;

	if (g->n_nodes == w->nodes_cap) {
		size_t ncap = w->nodes_cap ? w->nodes_cap * 2 : 16;
		struct lineage_node *nv = realloc(g->nodes, ncap * sizeof(*nv));

		if (!nv)
			return CATALOG_ENOMEM;
		g->nodes = nv;
		w->nodes_cap = ncap;
	}
	n.eid = sqlite3_column_int64(st, 0);
	n.id = col_dup(st, 1);
	n.kind = col_dup(st, 2);
	n.namespace_ = col_dup(st, 3);
	n.name = col_dup(st, 4);
	n.platform = col_dup(st, 5);
	n.subtype = col_dup(st, 6);
	n.display_name = col_dup(st, 7);
	n.stale = sqlite3_column_int(st, 8) != 0;
	n.depth = depth;
	if (!n.id || !n.kind || !n.namespace_ || !n.name || !n.platform || !n.subtype ||
	    !n.display_name) {
		node_release(&n);
		return CATALOG_ENOMEM;
	}
	if ((ret = pairmap_put(&w->seen, n.eid, 0, g->n_nodes))) {
		node_release(&n);
		return ret;
	}
	*idx = g->n_nodes;
	g->nodes[g->n_nodes++] = n;
	return 0;
}

/* Record the edge SRC -> DST (node indexes) unless it is already there. */
static int add_edge(struct walk *w, size_t src, size_t dst, int stale)
{
	struct lineage_graph *g = w->g;
	struct lineage_edge e = { src, dst, NULL, stale };
	int ret;

	if (pairmap_get(&w->edges, (int64_t)src, (int64_t)dst) != (size_t)-1)
		return 0;
	if (g->n_edges == w->edges_cap) {
		size_t ncap = w->edges_cap ? w->edges_cap * 2 : 16;
		struct lineage_edge *nv = realloc(g->edges, ncap * sizeof(*nv));

		if (!nv)
			return CATALOG_ENOMEM;
		g->edges = nv;
		w->edges_cap = ncap;
	}
	e.kind = strdup("lineage");
	if (!e.kind)
		return CATALOG_ENOMEM;
	if ((ret = pairmap_put(&w->edges, (int64_t)src, (int64_t)dst, g->n_edges))) {
		free(e.kind);
		return ret;
	}
	g->edges[g->n_edges++] = e;
	return 0;
}

/*
 * The node index of entity EID, loading and appending it at DEPTH if it has
 * not been seen.  *IDX is (size_t)-1 when there is no such entity.
 */
static int reach(struct walk *w, int64_t eid, int depth, size_t *idx)
{
	int rc, ret;

	*idx = pairmap_get(&w->seen, eid, 0);
	if (*idx != (size_t)-1)
		return 0;
	sqlite3_reset(w->node);
	sqlite3_bind_int64(w->node, 1, eid);
	rc = sqlite3_step(w->node);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return walk_sql_fail(w);
	ret = add_node(w, w->node, depth, idx);
	sqlite3_reset(w->node);
	return ret;
}

/* Expand node I in direction DOWN (0 upstream, 1 downstream). */
static int expand(struct walk *w, size_t i, int down)
{
	sqlite3_stmt *st = w->next[down];
	int64_t eid = w->g->nodes[i].eid;
	int depth = w->g->nodes[i].depth + (down ? 1 : -1);
	long loaded = 0;
	int rc, ret = 0;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, eid);
	sqlite3_bind_int(st, 2, w->q->include_stale ? 1 : 0);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)w->q->hop_cap + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t other = sqlite3_column_int64(st, 0);
		int stale = sqlite3_column_int(st, 1) != 0;
		size_t j;

		if (loaded == w->q->hop_cap) {
			/* More than the cap: count them all (bounded). */
			sqlite3_stmt *cs = w->count[down];

			sqlite3_reset(cs);
			sqlite3_bind_int64(cs, 1, eid);
			sqlite3_bind_int(cs, 2, w->q->include_stale ? 1 : 0);
			sqlite3_bind_int64(cs, 3, LINEAGE_COUNT_MAX);
			if (sqlite3_step(cs) != SQLITE_ROW) {
				ret = walk_sql_fail(w);
				goto out;
			}
			w->g->nodes[i].omitted += (long)sqlite3_column_int64(cs, 0) - loaded;
			sqlite3_reset(cs);
			rc = SQLITE_DONE;
			break;
		}
		loaded++;
		/* W->g->nodes may move in reach(): index, never hold pointers. */
		if ((ret = reach(w, other, depth, &j)))
			goto out;
		if (j == (size_t)-1)
			continue;
		if ((ret = down ? add_edge(w, i, j, stale) : add_edge(w, j, i, stale)))
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = walk_sql_fail(w);
out:
	sqlite3_reset(st);
	return ret;
}

static int walk_run(struct walk *w)
{
	const struct lineage_query *q = w->q;
	sqlite3_stmt *root = NULL;
	size_t idx;
	int rc, ret;

	if (sqlite3_prepare_v2(w->db, sql_root, -1, &root, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db, sql_node, -1, &w->node, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db, sql_up, -1, &w->next[0], NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db, sql_down, -1, &w->next[1], NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db, sql_up_count, -1, &w->count[0], NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db, sql_down_count, -1, &w->count[1], NULL) != SQLITE_OK) {
		ret = walk_sql_fail(w);
		goto out;
	}
	sqlite3_bind_text(root, 1, q->node_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(root);
	if (rc == SQLITE_DONE) {
		set_err(w->err, w->errlen, "no entity '%s'", q->node_id);
		ret = CATALOG_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = walk_sql_fail(w);
		goto out;
	}
	if ((ret = add_node(w, root, 0, &idx)))
		goto out;
	for (size_t i = 0; i < w->g->n_nodes; i++) {
		int d = w->g->nodes[i].depth;

		if (d == q->depth || d == -q->depth)
			continue;
		if ((d < 0 || (d == 0 && (q->direction & LINEAGE_UPSTREAM))) &&
		    (ret = expand(w, i, 0)))
			goto out;
		if ((d > 0 || (d == 0 && (q->direction & LINEAGE_DOWNSTREAM))) &&
		    (ret = expand(w, i, 1)))
			goto out;
	}
	for (size_t i = 0; i < w->g->n_nodes; i++)
		w->g->omitted += w->g->nodes[i].omitted;
	ret = 0;
out:
	sqlite3_finalize(root);
	return ret;
}

int lineage_query(struct catalog *cat, const struct lineage_query *q, struct lineage_graph **out,
		  char *err, size_t errlen)
{
	struct walk w = { 0 };
	int ret, began = 0;

	if (out)
		*out = NULL;
	if (!cat || !q || !out) {
		set_err(err, errlen, "lineage: missing argument");
		ret = CATALOG_EINVAL;
		goto out;
	}
	if (!q->node_id || !*q->node_id) {
		set_err(err, errlen, "nodeId: missing");
		ret = CATALOG_EINVAL;
		goto out;
	}
	if (q->depth < 0 || q->depth > LINEAGE_DEPTH_MAX) {
		set_err(err, errlen, "depth: must be 0..%d", LINEAGE_DEPTH_MAX);
		ret = CATALOG_EINVAL;
		goto out;
	}
	if (q->direction != LINEAGE_UPSTREAM && q->direction != LINEAGE_DOWNSTREAM &&
	    q->direction != LINEAGE_BOTH) {
		set_err(err, errlen, "direction: must be upstream, downstream or both");
		ret = CATALOG_EINVAL;
		goto out;
	}
	if (q->hop_cap < 1) {
		set_err(err, errlen, "hop_cap: must be at least 1");
		ret = CATALOG_EINVAL;
		goto out;
	}
	w.db = catalog_reader_get(cat);
	if (!w.db) {
		set_err(err, errlen, "cannot read lineage: no read connection");
		ret = CATALOG_EIO;
		goto out;
	}
	w.q = q;
	w.err = err;
	w.errlen = errlen;
	w.g = calloc(1, sizeof(*w.g));
	if (!w.g) {
		ret = CATALOG_ENOMEM;
		goto out;
	}
	w.g->depth = q->depth;
	w.g->direction = q->direction;
	/* One read transaction: the whole walk sees one snapshot. */
	if (sqlite3_get_autocommit(w.db)) {
		if (sqlite3_exec(w.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
			ret = walk_sql_fail(&w);
			goto out;
		}
		began = 1;
	}
	ret = walk_run(&w);
	if (ret)
		goto out;
	*out = w.g;
	w.g = NULL;
out:
	if (ret == CATALOG_ENOMEM)
		set_err(err, errlen, "cannot read lineage: out of memory");
	sqlite3_finalize(w.node);
	for (int i = 0; i < 2; i++) {
		sqlite3_finalize(w.next[i]);
		sqlite3_finalize(w.count[i]);
	}
	if (began)
		sqlite3_exec(w.db, "COMMIT", NULL, NULL, NULL);
	catalog_reader_put(cat, w.db);
	free(w.seen.slots);
	free(w.edges.slots);
	lineage_graph_destroy(w.g);
	return ret;
}

void lineage_graph_destroy(struct lineage_graph *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_nodes; i++)
		node_release(&g->nodes[i]);
	for (size_t i = 0; i < g->n_edges; i++)
		free(g->edges[i].kind);
	free(g->nodes);
	free(g->edges);
	free(g);
}

/* --- JSON --------------------------------------------------------------------- */

static json_t *node_json(const struct lineage_node *n)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:I}", "id", n->id,
			 "kind", n->kind, "namespace", n->namespace_, "name", n->name,
			 "platform", n->platform, "subtype", n->subtype, "display_name",
			 n->display_name, "depth", n->depth, "stale", n->stale, "omitted",
			 (json_int_t)n->omitted);
}

json_t *lineage_graph_json(const struct lineage_graph *g)
{
	json_t *res = NULL, *nodes = NULL, *edges = NULL, *graph = NULL;
	json_t **in = NULL, **outs = NULL;
	int ok = 0;

	if (!g || !g->n_nodes)
		return NULL;
	nodes = json_array();
	edges = json_array();
	graph = json_array();
	in = calloc(g->n_nodes, sizeof(*in));
	outs = calloc(g->n_nodes, sizeof(*outs));
	if (!nodes || !edges || !graph || !in || !outs)
		goto out;
	for (size_t i = 0; i < g->n_nodes; i++) {
		in[i] = json_array();
		outs[i] = json_array();
		if (!in[i] || !outs[i] || json_array_append_new(nodes, node_json(&g->nodes[i])))
			goto out;
	}
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct lineage_edge *e = &g->edges[i];
		const char *src = g->nodes[e->src].id, *dst = g->nodes[e->dst].id;

		if (json_array_append_new(edges, json_pack("{s:s, s:s, s:s, s:b}", "src", src,
							   "dst", dst, "kind", e->kind,
							   "stale", e->stale)) ||
		    json_array_append_new(in[e->dst], json_pack("{s:s, s:s}", "origin", src,
								 "destination", dst)) ||
		    json_array_append_new(outs[e->src], json_pack("{s:s, s:s}", "origin", src,
								  "destination", dst)))
			goto out;
	}
	for (size_t i = 0; i < g->n_nodes; i++) {
		const struct lineage_node *n = &g->nodes[i];
		char type[32];
		size_t k;

		for (k = 0; k + 1 < sizeof(type) && n->kind[k]; k++)
			type[k] = (char)toupper((unsigned char)n->kind[k]);
		type[k] = '\0';
		if (json_array_append_new(graph, json_pack("{s:s, s:s, s:{s:s, s:s}, s:O, s:O}",
							   "id", n->id, "type", type, "data",
							   "namespace", n->namespace_, "name",
							   n->name, "inEdges", in[i], "outEdges",
							   outs[i])))
			goto out;
	}
	res = json_pack("{s:s, s:i, s:s, s:I, s:O, s:O, s:O}", "root", g->nodes[0].id, "depth",
			g->depth, "direction", lineage_direction_name(g->direction), "omitted",
			(json_int_t)g->omitted, "nodes", nodes, "edges", edges, "graph", graph);
	ok = res != NULL;
out:
	for (size_t i = 0; in && i < g->n_nodes; i++)
		json_decref(in[i]);
	for (size_t i = 0; outs && i < g->n_nodes; i++)
		json_decref(outs[i]);
	free(in);
	free(outs);
	json_decref(nodes);
	json_decref(edges);
	json_decref(graph);
	return ok ? res : NULL;
}

enum lineage_direction lineage_direction_parse(const char *s)
{
	if (!s)
		return 0;
	if (strcmp(s, "upstream") == 0)
		return LINEAGE_UPSTREAM;
	if (strcmp(s, "downstream") == 0)
		return LINEAGE_DOWNSTREAM;
	if (strcmp(s, "both") == 0)
		return LINEAGE_BOTH;
	return 0;
}

const char *lineage_direction_name(enum lineage_direction d)
{
	switch (d) {
	case LINEAGE_UPSTREAM:
		return "upstream";
	case LINEAGE_DOWNSTREAM:
		return "downstream";
	case LINEAGE_BOTH:
		return "both";
	}
	return "unknown";
}
