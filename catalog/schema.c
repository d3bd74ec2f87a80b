/*
 * The catalog's schema, as versioned migrations.  Never edit a released
 * migration: append a new one and raise CATALOG_SCHEMA_VERSION.
 */
#include "catalog/catalog_int.h"

const char *const catalog_migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE entities("
	"  eid INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  kind TEXT NOT NULL,"
	"  namespace TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  name_lc TEXT NOT NULL,"
	"  short_lc TEXT NOT NULL,"
	"  subtype TEXT NOT NULL DEFAULT '',"
	"  platform TEXT NOT NULL DEFAULT '',"
	"  display_name TEXT NOT NULL DEFAULT '',"
	"  description TEXT NOT NULL DEFAULT '',"
	"  user_description TEXT,"
	"  stale INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE INDEX entities_name_lc ON entities(name_lc);"
	"CREATE INDEX entities_short_lc ON entities(short_lc);"
	"CREATE TABLE assertions(eid INTEGER NOT NULL, source TEXT NOT NULL,"
	"  seen_at INTEGER NOT NULL, gone INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(eid, source)) WITHOUT ROWID;"
	"CREATE INDEX assertions_source ON assertions(source, seen_at);"
	"CREATE TABLE fields(eid INTEGER NOT NULL, name TEXT NOT NULL,"
	"  ordinal INTEGER NOT NULL DEFAULT 0, type TEXT NOT NULL DEFAULT '',"
	"  description TEXT NOT NULL DEFAULT '', nullable INTEGER, properties TEXT,"
	"  source TEXT NOT NULL, PRIMARY KEY(eid, name)) WITHOUT ROWID;"
	"CREATE TABLE properties(eid INTEGER NOT NULL, key TEXT NOT NULL,"
	"  value TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY(eid, key)) WITHOUT ROWID;"
	"CREATE TABLE tags(eid INTEGER NOT NULL, tag TEXT NOT NULL, source TEXT NOT NULL,"
	"  PRIMARY KEY(eid, tag, source)) WITHOUT ROWID;"
	"CREATE INDEX tags_tag ON tags(tag, eid);"
	"CREATE TABLE owners(eid INTEGER NOT NULL, owner TEXT NOT NULL, source TEXT NOT NULL,"
	"  PRIMARY KEY(eid, owner, source)) WITHOUT ROWID;"
	"CREATE INDEX owners_owner ON owners(owner, eid);"
	"CREATE TABLE edges(src INTEGER NOT NULL, dst INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  source TEXT NOT NULL, properties TEXT, stale INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY(src, dst, kind, source)) WITHOUT ROWID;"
	"CREATE INDEX edges_dst ON edges(dst, src);"
	"CREATE INDEX edges_source ON edges(source, updated_at);"
	"CREATE TABLE history(seq INTEGER PRIMARY KEY, eid INTEGER NOT NULL,"
	"  at INTEGER NOT NULL, source TEXT NOT NULL, change TEXT NOT NULL, detail TEXT);"
	"CREATE INDEX history_eid ON history(eid, seq);"
	"CREATE TABLE runs(run_id TEXT PRIMARY KEY, job_eid INTEGER NOT NULL,"
	"  state TEXT NOT NULL, started_at INTEGER, ended_at INTEGER,"
	"  updated_at INTEGER NOT NULL, event TEXT);"
	"CREATE INDEX runs_job ON runs(job_eid, updated_at);"
	"CREATE TABLE tokens(hash TEXT PRIMARY KEY, scope TEXT NOT NULL,"
	"  label TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE VIRTUAL TABLE entity_fts USING fts5(name, display, namespace, description,"
	"  fields, tags, owners, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');",
	/* 1 -> 2: Lua collectors' runs and their scheduling state (collector_runs.c). */
	"CREATE TABLE collector_runs(id INTEGER PRIMARY KEY, collector TEXT NOT NULL,"
	"  started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, status TEXT NOT NULL,"
	"  error TEXT, counts TEXT NOT NULL DEFAULT '{}', log TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX collector_runs_collector ON collector_runs(collector, id);"
	"CREATE TABLE collector_state(name TEXT PRIMARY KEY, failures INTEGER NOT NULL DEFAULT 0,"
	"  disabled INTEGER NOT NULL DEFAULT 0, next_run INTEGER, tile TEXT) WITHOUT ROWID;",
	/* 2 -> 3: dashboard services' health history and discovered services (health.c). */
	"CREATE TABLE health_points(id INTEGER PRIMARY KEY, service TEXT NOT NULL,"
	"  at INTEGER NOT NULL, status TEXT NOT NULL, latency_ms REAL, detail TEXT);"
	"CREATE INDEX health_points_service ON health_points(service, at);"
	"CREATE TABLE health_services(id TEXT PRIMARY KEY, doc TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL) WITHOUT ROWID;",
	/*
	 * 3 -> 4: prefix indexes of 2 to 6 characters on entity_fts (were 2 and
	 * 3), so a search typed as 4, 5 or 6 characters reads one doclist instead
	 * of merging every matching token's (search.c, PREFIX_INDEX_MAX).  FTS5
	 * fixes its prefix indexes at creation: the table is rebuilt once, from a
	 * temporary copy of its text, after the old one is dropped so that the
	 * new index reuses its pages, then merged into one segment (1M entities:
	 * about 75 s; the file grows by the added index, about 16%;
	 * docs/benchmarks.md).
	 */
	"CREATE TEMP TABLE entity_fts_copy AS SELECT rowid AS eid, name, display, namespace,"
	"  description, fields, tags, owners FROM entity_fts;"
	"DROP TABLE entity_fts;"
	"CREATE VIRTUAL TABLE entity_fts USING fts5(name, display, namespace, description,"
	"  fields, tags, owners, tokenize = 'unicode61 remove_diacritics 2',"
	"  prefix = '2 3 4 5 6');"
	"INSERT INTO entity_fts(rowid, name, display, namespace, description, fields, tags, owners)"
	"  SELECT eid, name, display, namespace, description, fields, tags, owners"
	"  FROM temp.entity_fts_copy ORDER BY eid;"
	"DROP TABLE temp.entity_fts_copy;"
	/* One segment: a term is one b-tree seek, not one per segment (an import
	 * leaves about 17 at 1M entities: 0.29 ms for a rare term, 0.02 after). */
	"INSERT INTO entity_fts(entity_fts) VALUES('optimize');",
};

const int catalog_migrations_count = sizeof(catalog_migrations) / sizeof(catalog_migrations[0]);
