#ifndef TERRARIUM_LINEAGE_H
#define TERRARIUM_LINEAGE_H
/*
 * Lineage traversal over the catalog's "lineage" edges.
 *
 * From a root entity, walk upstream (against the edges), downstream (along
 * them) or both, breadth first, up to DEPTH hops; every hop counts, jobs
 * included (dataset -> job -> dataset is two hops, as in Marquez).  Each
 * visited node expands at most HOP_CAP neighbours per direction; the rest are
 * counted in the node's "omitted" and the graph's total, never loaded.
 * Cycles are handled: a node is visited once; edges between visited nodes are
 * all kept.  Stale edges are skipped unless INCLUDE_STALE.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "catalog/catalog.h"

#define LINEAGE_DEPTH_DEFAULT 3
#define LINEAGE_DEPTH_MAX 20      /* the configurable maximum is clamped to this */
#define LINEAGE_HOP_CAP_DEFAULT 100

enum lineage_direction {
	LINEAGE_UPSTREAM = 1,
	LINEAGE_DOWNSTREAM = 2,
	LINEAGE_BOTH = 3,
};

struct lineage_query {
	const char *node_id;
	int depth;                 /* 0..LINEAGE_DEPTH_MAX */
	enum lineage_direction direction;
	int hop_cap;               /* >= 1 */
	int include_stale;
};

struct lineage_node {
	int64_t eid;
	char *id, *kind, *namespace_, *name, *platform, *subtype, *display_name;
	int depth;      /* hops from the root: negative upstream, positive downstream, 0 root */
	int stale;
	long omitted;   /* neighbours of this node left out by the hop cap */
};

struct lineage_edge {
	size_t src, dst;  /* indexes into nodes[] */
	char *kind;
	int stale;
};

struct lineage_graph {
	struct lineage_node *nodes;  /* nodes[0] is the root */
	size_t n_nodes;
	struct lineage_edge *edges;
	size_t n_edges;
	long omitted;                /* sum of the nodes' omitted */
	int depth;                   /* as queried */
	enum lineage_direction direction;
};

/*
 * Walk as Q says.  *OUT is a new graph owned by the caller
 * (lineage_graph_destroy()).  Returns 0, CATALOG_ENOTFOUND (no such root),
 * CATALOG_EINVAL (bad depth, direction or cap) with ERR, or CATALOG_EIO.
 */
int lineage_query(struct catalog *cat, const struct lineage_query *q, struct lineage_graph **out,
		  char *err, size_t errlen);

/* Free G.  NULL does nothing. */
void lineage_graph_destroy(struct lineage_graph *g);

/*
 * G as JSON (new reference), in Marquez's graph shape plus our own keys:
 *  { "root": ID, "depth": D, "direction": "both", "omitted": N,
 *    "nodes": [ {"id","kind","namespace","name","platform","subtype","depth",
 *                "stale","omitted"} ],
 *    "edges": [ {"src": ID, "dst": ID, "kind": "lineage"} ],
 *    "graph": [ {"id": "dataset:ns:name", "type": "DATASET" | "JOB" | ...,
 *                "data": {"namespace","name"}, "inEdges": [{"origin","destination"}],
 *                "outEdges": [...] } ] }
 */
json_t *lineage_graph_json(const struct lineage_graph *g);

/* Parse "upstream" | "downstream" | "both"; 0 if none of those. */
enum lineage_direction lineage_direction_parse(const char *s);
const char *lineage_direction_name(enum lineage_direction d);

#endif
