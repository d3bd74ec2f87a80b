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
 * The calling thread's read connection to CAT (opened on first use, closed by
 * catalog_close()).  Borrowed.  NULL if it cannot be opened.
 */
sqlite3 *catalog_reader(struct catalog *cat);

/* Milliseconds since the epoch. */
long long catalog_now_ms(void);

/* Format MS as RFC 3339 UTC with milliseconds into OUT (at least 32 bytes). */
void catalog_format_time(long long ms, char *out, size_t outlen);

/* The lowercase last segment of NAME (after the last '.', '/' or ':'), into OUT. */
void catalog_short_name(const char *name, char *out, size_t outlen);

#endif
