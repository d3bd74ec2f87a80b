#ifndef TERRARIUM_CATALOG_INT_H
#define TERRARIUM_CATALOG_INT_H
/*
 * Internals shared by the files of catalog/ (catalog.c, schema.c, search.c,
 * lineage.c).  Nothing outside catalog/ includes this.
 *
 * The schema is in schema.c; its tables, in short:
 *   entities(eid, id, kind, namespace, name, name_lc, short_lc, subtype, platform,
 *            display_name, description, user_description, stale, created_at, updated_at)
 *   assertions(eid, source, seen_at, gone)          which source reports which entity
 *   fields(eid, name, ordinal, type, description, nullable, properties, source)
 *   properties(eid, key, value JSON, source)
 *   tags(eid, tag, source), owners(eid, owner, source)
 *   edges(src, dst, kind, source, properties, stale, created_at, updated_at)
 *   history(seq, eid, at, source, change, detail JSON)
 *   runs(run_id, job_eid, state, started_at, ended_at, updated_at, event)
 *   tokens(hash, scope, label, created_at)
 *   entity_fts(name, display, namespace, description, fields, tags, owners)
 *       FTS5, rowid = entities.eid, kept in step by catalog.c on every change:
 *       name = the entity's name; display = display_name and subtype;
 *       description = the effective description (user's, else the source's);
 *       fields = every field's name and description; tags, owners = space-separated.
 * Times are milliseconds since the epoch, UTC.
 */
#include <sqlite3.h>
#include "catalog/catalog.h"

/* Migrations: catalog_migrations[i] takes a file from version i to i+1. */
extern const char *const catalog_migrations[];
extern const int catalog_migrations_count;

/*
 * Read connections.  A read borrows one of a small pool of read-only
 * connections with catalog_reader_get() and gives it back with
 * catalog_reader_put(), so the memory that reads hold (page caches, the large
 * buffers an FTS5 query makes) is bounded by the pool, not by the number of
 * threads.  The pool opens connections on demand, up to catalog_readers_max()
 * of them: the TERRARIUM_CATALOG_READERS environment variable at
 * catalog_open() (1..64), else the number of online CPUs, at least 2 and at
 * most 4.  Each has a 2 MiB page cache and the search
 * functions of search_reader_init().
 *
 * No thread keeps a connection of its own: every read in catalog/ borrows
 * one for the call and puts it back before returning.  The buffers FTS5
 * frees go back to the system only if glibc's mmap threshold is fixed
 * (a long-running process sets M_MMAP_THRESHOLD at start: hub/main.c's
 * serve); see docs/benchmarks.md.
 *
 * catalog_reader_get() waits while every pooled connection is borrowed and
 * returns NULL only if a new one cannot be opened.  The connection belongs to
 * the caller until catalog_reader_put(); the caller must finalize or reset
 * its statements before putting it back (an open transaction is rolled back).
 * A thread must not hold two at once (it could wait for itself).
 */
sqlite3 *catalog_reader_get(struct catalog *cat);
void catalog_reader_put(struct catalog *cat, sqlite3 *db);

/* Pooled connections open now (borrowed or idle), and the most there may be. */
int catalog_readers_open(struct catalog *cat);
int catalog_readers_max(struct catalog *cat);

/* A number unique to this catalog_open() in the process (caches key on it). */
uint64_t catalog_open_id(struct catalog *cat);

/*
 * Set up a new pooled read connection for search (search.c): registers the
 * FTS5 auxiliary function terrarium_rank() and a cache of search's prepared
 * statements for DB.  Returns 0, CATALOG_EIO or CATALOG_ENOMEM.
 * search_reader_release() finalizes that cache; the pool calls it before it
 * closes DB (a DB without one is ignored).
 */
int search_reader_init(sqlite3 *db);
void search_reader_release(sqlite3 *db);

/* Milliseconds since the epoch. */
long long catalog_now_ms(void);

/* Format MS as RFC 3339 UTC with milliseconds into OUT (at least 32 bytes). */
void catalog_format_time(long long ms, char *out, size_t outlen);

/* The lowercase last segment of NAME (after the last '.', '/' or ':'), into OUT. */
void catalog_short_name(const char *name, char *out, size_t outlen);

#endif
