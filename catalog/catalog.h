#ifndef TERRARIUM_CATALOG_H
#define TERRARIUM_CATALOG_H
/*
 * The catalog: every entity Terrarium knows, in one SQLite file (WAL mode).
 *
 * Identity.  An entity's id is "<kind>:<namespace>:<name>", with namespace and
 * name following OpenLineage naming (see DESIGN.md): for example
 * "dataset:postgres://db.local:5432:shop.public.orders".  Lookups use the id
 * string exactly; catalog_id_parse() splits one when only the id is known
 * (an edge to an entity nobody has described yet).
 *
 * Documents.  Entities travel as JSON objects (jansson), the same shape in
 * every direction: POST /api/v1/entities, `terrarium import/export`, Lua
 * collectors' emit(), and GET /api/v1/entities/{id}:
 *
 *   { "id": "dataset:postgres://db:5432:shop.public.orders",   (optional on input)
 *     "kind": "dataset", "namespace": "postgres://db:5432", "name": "shop.public.orders",
 *     "subtype": "table",            (optional: table, view, topic, dag, task, ...)
 *     "platform": "postgres",        (optional: defaults to the namespace's scheme)
 *     "display_name": "orders",      (optional)
 *     "description": "...",          (optional)
 *     "properties": { "rows": 12 },  (optional: any JSON values)
 *     "tags": ["pii"], "owners": ["alice"],                    (optional)
 *     "fields": [ { "name": "id", "type": "integer", "description": "",
 *                   "nullable": false, "ordinal": 1 } ] }     (optional)
 *
 * Edges are { "src": ID, "dst": ID, "kind": "lineage" }: data flows src -> dst.
 * Kinds of edge: "lineage" (the default) and "relationship" (e.g. a foreign key).
 *
 * Sources and merge rules.  Every write names its source ("postgres",
 * "openlineage", "api", "user", ...).  The catalog remembers which source said
 * what:
 *  - scalar attributes (subtype, platform, display_name, description) and each
 *    property key: the most recent assertion wins;
 *  - a description set by the "user" source (PATCH) wins over any collector's
 *    description, which is still kept as "source_description";
 *  - fields merge by name; the most recent assertion of a field wins;
 *  - tags and owners are sets; each member remembers its source;
 *  - edges are keyed by (src, dst, kind, source).
 * A snapshot batch (catalog_batch_begin(..., snapshot=1)) is a source's whole
 * view: whatever that source asserted before and did not assert again (entities,
 * edges, fields, tags, owners, properties) is withdrawn at commit, and entities
 * that source no longer reports are marked stale, never deleted.  Reporting them
 * again clears the mark.  A batch that is aborted changes nothing.
 *
 * History.  Every commit that changes an entity appends to its history: what
 * changed (created, description, fields added/removed/changed, properties,
 * tags, owners, edges, stale), when, and by which source.  The changes and
 * their details: "created" (null), "attributes" ({"subtype": {"from","to"},
 * ...} for subtype, platform, display_name), "description" ({"from","to"}),
 * "fields" and "properties" ({"added","removed","changed"}: names), "tags"
 * and "owners" ({"added","removed"}), "stale" and "fresh" (null),
 * "edge_added" and "edge_removed" (on the src entity: {"dst","kind"}).
 * Asserting again what is already there changes nothing: no history, no new
 * updated_at, no new generation.
 *
 * Threads.  One struct catalog is shared by all threads.  Reads use a
 * connection private to the calling thread; writes are serialised on one
 * writer connection.  Every function is safe to call from any thread.  A
 * thread that holds an open batch and asks for another write (a batch,
 * patch, run or token) gets CATALOG_EINVAL rather than a deadlock; a batch
 * may be committed or aborted by another thread than the one that began it.
 *
 * Errors.  Functions return 0 or a negative CATALOG_E* code; where an ERR
 * buffer is given it receives a one-line lowercase message.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
	CATALOG_OK = 0,
	CATALOG_EINVAL = -1,   /* the input is malformed; see ERR */
	CATALOG_ENOTFOUND = -2,
	CATALOG_EIO = -3,      /* SQLite failed; see ERR */
	CATALOG_ENOMEM = -4,
	CATALOG_EVERSION = -5, /* the file is from a newer Terrarium */
};

/* The schema version this build writes; older files are migrated on open. */
#define CATALOG_SCHEMA_VERSION 4

/* Bounds on what a document may hold; longer input is CATALOG_EINVAL. */
#define CATALOG_ID_MAX 2048
#define CATALOG_TEXT_MAX (64 * 1024)   /* a description */
#define CATALOG_FIELDS_MAX 10000       /* fields of one entity */

struct catalog;

/*
 * Open (creating if needed) the catalog at PATH and migrate it to
 * CATALOG_SCHEMA_VERSION.  Returns NULL and fills ERR on failure.
 * PATH ":memory:" is not supported (threads need a shared file); tests use a
 * temporary directory.
 */
struct catalog *catalog_open(const char *path, char *err, size_t errlen);

/* Close every connection (checkpointing the WAL).  NULL does nothing. */
void catalog_close(struct catalog *cat);

/* The path given to catalog_open(); borrowed, valid until catalog_close(). */
const char *catalog_path(const struct catalog *cat);

/*
 * A counter that changes whenever a commit changes anything.  Caches of
 * derived data (rendered lineage SVG) key on it.
 */
uint64_t catalog_generation(struct catalog *cat);

/* --- identity ------------------------------------------------------------ */

struct catalog_id {
	char kind[32];
	char namespace_[1024];
	char name[1024];
};

/*
 * Split "<kind>:<namespace>:<name>".  The namespace is "scheme://authority"
 * when the text after the kind has "://" (the authority ends at the first ':'
 * that is not followed by a port, i.e. digits then ':'), otherwise the text up
 * to the next ':'.  The name is the rest and may contain ':'.  Returns 0 or
 * CATALOG_EINVAL (empty part, too long, control characters).
 */
int catalog_id_parse(const char *id, struct catalog_id *out);

/* Write "<kind>:<namespace>:<name>" into OUT.  Returns 0 or CATALOG_EINVAL (too long). */
int catalog_id_format(const char *kind, const char *namespace_, const char *name, char *out,
		      size_t outlen);

/* The platform a namespace implies: its scheme ("postgres://h:1" -> "postgres"),
 * else "" . Writes into OUT. */
void catalog_platform_of(const char *namespace_, char *out, size_t outlen);

/* --- writing ------------------------------------------------------------- */

struct catalog_batch;

struct catalog_batch_stats {
	long entities;     /* entities asserted */
	long created;      /* of those, new to the catalog */
	long changed;      /* of those, changed by this batch */
	long edges;        /* edges asserted */
	long staled;       /* entities newly marked stale (snapshot batches) */
};

/*
 * Start a write transaction for SOURCE (copied).  With SNAPSHOT set, the batch
 * is that source's complete view (see "Sources and merge rules").  Holds the
 * writer lock until commit or abort: keep batches short.  NULL on failure.
 */
struct catalog_batch *catalog_batch_begin(struct catalog *cat, const char *source, int snapshot);

/*
 * Upsert one entity document (borrowed; not modified).  Returns 0, or
 * CATALOG_EINVAL with ERR naming the bad key; a rejected document leaves the
 * batch usable.
 */
int catalog_batch_entity(struct catalog_batch *b, json_t *doc, char *err, size_t errlen);

/*
 * Assert an edge SRC -> DST of KIND (NULL means "lineage").  An endpoint that
 * is not in the catalog yet is created from its parsed id (no description,
 * no fields).  PROPS (borrowed, may be NULL) is stored with the edge.
 */
int catalog_batch_edge(struct catalog_batch *b, const char *src, const char *dst, const char *kind,
		       json_t *props, char *err, size_t errlen);

/* Commit and free the batch; fills STATS if not NULL.  On failure nothing is
 * changed and the batch is freed all the same. */
int catalog_batch_commit(struct catalog_batch *b, struct catalog_batch_stats *stats, char *err,
			 size_t errlen);

/* Roll back and free.  NULL does nothing. */
void catalog_batch_abort(struct catalog_batch *b);

/*
 * Apply a user's edit to entity ID: PATCH holds any of "description" (string
 * or null), "tags" and "owners" (arrays: the complete new set of the user's
 * own tags/owners; members asserted by collectors stay).  ACTOR names who did
 * it, for history.  CATALOG_ENOTFOUND if there is no such entity.
 */
int catalog_entity_patch(struct catalog *cat, const char *id, json_t *patch, const char *actor,
			 char *err, size_t errlen);

/* --- reading ------------------------------------------------------------- */

/*
 * The entity ID as a document (new reference in *OUT): everything above plus
 * "stale", "created_at", "updated_at" (RFC 3339 UTC), "sources" (who asserted
 * it), "source_description", and "upstream"/"downstream" (direct edges:
 * [{ "id", "kind", "source", "stale" }], at most 1000 each, with
 * "upstream_total"/"downstream_total").
 */
int catalog_entity_get(struct catalog *cat, const char *id, json_t **out);

/* History of entity ID, newest first: {"id", "total", "changes": [{"at",
 * "source", "change", "detail"}]}. */
int catalog_entity_history(struct catalog *cat, const char *id, int limit, int offset,
			   json_t **out);

struct catalog_counts {
	long entities;
	long stale;
	long fields;
	long edges;
	long history;
	long long file_bytes;
	long by_kind_dataset, by_kind_job, by_kind_model, by_kind_service, by_kind_other;
};
int catalog_counts(struct catalog *cat, struct catalog_counts *out);

/* --- whole catalog --------------------------------------------------------- */

/*
 * Write the catalog as JSON lines: one {"type":"entity", ...document...} per
 * entity (with per-member sources under "_sources"), one {"type":"edge",...}
 * per edge assertion, one {"type":"history",...} per change, and tokens'
 * hashes.  catalog_import() reads that back into an empty catalog and loses
 * nothing; into a non-empty one it merges.  Returns the number of lines
 * written/read, or a negative code with ERR naming the line.
 *
 * An export is one consistent snapshot in a fixed order (entities by id,
 * edges by src, dst, kind, source, history as it happened, then OpenLineage
 * runs ({"type":"run"}) and tokens ({"type":"token"})), so exporting what an
 * import of an export made gives the same bytes.  Import takes lines of at
 * most 16 MiB (blank lines are skipped), keeps the file's times and sources,
 * and writes no history rows of its own.  It holds the writer lock
 * throughout; an input of at most 50,000 lines is imported atomically, a
 * longer one is committed every 50,000 lines, and an error ("line N: ...")
 * rolls back only the lines after the last of those commits.
 */
long catalog_export(struct catalog *cat, FILE *out, char *err, size_t errlen);
long catalog_import(struct catalog *cat, FILE *in, char *err, size_t errlen);

/* --- OpenLineage runs -------------------------------------------------------- */

/*
 * Record a run state change: RUN_ID (uuid), the job's entity id, STATE (START,
 * RUNNING, COMPLETE, FAIL, ABORT, OTHER), EVENT_TIME (RFC 3339), and the whole
 * event (borrowed).  The job entity gets properties "last_run_state" and
 * "last_run_at".  Goes through the writer lock.
 */
int catalog_run_record(struct catalog *cat, const char *run_id, const char *job_id,
		       const char *state, const char *event_time, json_t *event, char *err,
		       size_t errlen);

/* Runs of JOB_ID, newest first: [{"run_id","state","started_at","ended_at","updated_at"}]. */
int catalog_runs_of(struct catalog *cat, const char *job_id, int limit, json_t **out);

/* --- tokens ------------------------------------------------------------------ */

/* Store a token by its hash (hex SHA-256), with a scope name and a label. */
int catalog_token_put(struct catalog *cat, const char *hash_hex, const char *scope,
		      const char *label);

/* Look a hash up: copies its scope name into SCOPE.  CATALOG_ENOTFOUND if absent. */
int catalog_token_get(struct catalog *cat, const char *hash_hex, char *scope, size_t scopelen);

/* --- health --------------------------------------------------------------------- */

/* Whether the calling thread can read the catalog: 0, or CATALOG_EIO. Cheap. */
int catalog_ping(struct catalog *cat);

/* --- collector runs ------------------------------------------------------------ */

/*
 * What the scheduler (hub/sched.h) keeps about Lua collectors: one row per run
 * (the newest CATALOG_COLLECTOR_RUNS_KEEP of each collector are kept), and one
 * state row per collector (failures in a row, disabled, next run, last tile).
 * These live beside the entities but are not part of export/import.  Writes
 * use a short-lived connection of their own and wait for the catalog's writer
 * (at most a few seconds), so they never hold the writer lock for long.
 */

#define CATALOG_COLLECTOR_RUNS_KEEP 200

struct catalog_collector_run {
	const char *collector;  /* its name */
	long long started_at;   /* ms since the epoch, UTC */
	long long ended_at;
	const char *status;     /* "ok" or "failed" */
	const char *error;      /* NULL when ok */
	json_t *counts;         /* borrowed, may be NULL: {"entities", "edges", "fields", ...} */
	const char *log;        /* borrowed, may be NULL: lines separated by '\n' */
};

/*
 * Append a run (everything borrowed) and drop that collector's runs beyond
 * CATALOG_COLLECTOR_RUNS_KEEP.  *ID (may be NULL) gets the run's id.
 */
int catalog_collector_run_record(struct catalog *cat, const struct catalog_collector_run *run,
				 long long *id, char *err, size_t errlen);

/*
 * Runs of COLLECTOR, newest first, at most LIMIT (1..1000): a new array of
 * {"id", "collector", "status", "started_at", "ended_at" (RFC 3339 UTC),
 *  "duration_ms", "counts" (object), "error" (string or null), "log" (array
 *  of lines)} in *OUT.  An unknown collector gives an empty array.
 */
int catalog_collector_runs(struct catalog *cat, const char *collector, int limit, json_t **out);

/* The newest run of every collector that has one: a new object name -> run
 * (as above) in *OUT. */
int catalog_collector_last_runs(struct catalog *cat, json_t **out);

struct catalog_collector_state {
	int failures;           /* failed runs in a row */
	int disabled;           /* 1 after max_failures in a row */
	long long next_run;     /* ms since the epoch, 0 when not planned */
	json_t *tile;           /* the last tile: borrowed by _put (may be NULL); a new
				 * reference (or NULL) from _get, which the caller frees */
};

/* The state of collector NAME into OUT; CATALOG_ENOTFOUND when none is stored. */
int catalog_collector_state_get(struct catalog *cat, const char *name,
				struct catalog_collector_state *out);

/* Store the state of collector NAME (replacing it). */
int catalog_collector_state_put(struct catalog *cat, const char *name,
				const struct catalog_collector_state *st, char *err, size_t errlen);

#endif
