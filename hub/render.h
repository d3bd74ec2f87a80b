#ifndef TERRARIUM_RENDER_H
#define TERRARIUM_RENDER_H
/*
 * Lineage graphs as DOT and as SVG laid out by Graphviz (libgvc, "dot").
 *
 * Nodes are grouped in a cluster per platform, labelled with the entity's
 * short name over its kind/subtype, coloured by kind; the root is
 * highlighted; stale nodes and edges are dashed; every node links to
 * LINK_PREFIX + url-encoded id (e.g. "/entity/").  Nodes whose neighbours the
 * hop cap left out say "+N more".  Every string from the catalog is escaped
 * for DOT and, by Graphviz, for SVG.
 *
 * Graphviz is not thread-safe: render_svg() serialises calls with a mutex.
 */
#include <stddef.h>
#include <stdint.h>
#include "catalog/lineage.h"

/* G as DOT text: *OUT is malloc'd and NUL-terminated, *LEN its length.  0 or -1 (no memory). */
int render_dot(const struct lineage_graph *g, const char *link_prefix, char **out, size_t *len);

/*
 * Load Graphviz's plugins and warm it up.  Call once at start-up from a
 * thread with an ordinary stack (render_svg() would otherwise do it on its
 * first call, on whatever thread that is).  0, or -1 with ERR.
 */
int render_init(char *err, size_t errlen);

/* G laid out and rendered as SVG: *OUT is malloc'd, *LEN its length.
 * 0, or -1 with ERR (Graphviz failed). */
int render_svg(const struct lineage_graph *g, const char *link_prefix, char **out, size_t *len,
	       char *err, size_t errlen);

/*
 * A cache of rendered SVG keyed by a string (the query) and a generation (the
 * catalog's): an entry is served only while the generation is unchanged.
 * Holds at most MAX_ENTRIES and MAX_BYTES, evicting the least recently used.
 * Thread-safe.
 */
struct render_cache;
struct render_cache *render_cache_create(size_t max_entries, size_t max_bytes);
void render_cache_destroy(struct render_cache *c);
/* A malloc'd copy of the cached SVG for KEY at GENERATION, or NULL. */
char *render_cache_get(struct render_cache *c, const char *key, uint64_t generation, size_t *len);
/* Store a copy of SVG. */
void render_cache_put(struct render_cache *c, const char *key, uint64_t generation,
		      const char *svg, size_t len);

#endif
