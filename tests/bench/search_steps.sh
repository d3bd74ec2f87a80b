#!/bin/sh
# Where a search's time goes: the steps of search_run() (catalog/search.c) as
# separate SQL statements, timed by the sqlite3 shell on the catalog file.
#
#   tests/bench/search_steps.sh CATALOG.DB 'QUERY TEXT'
#
# The MATCH expression is built the way search_fts_expr() builds it: every
# run of letters, digits, '_' and non-ASCII bytes becomes a quoted term, and
# the last term gets '*'.  The statements mirror search.c's sql_fts,
# sql_facet_tag, sql_facet_owner and sql_highlight with no filters bound; if
# search.c changes, change them here.  Each statement runs twice and the
# second (warm) timing is printed; a step's cost is the difference from the
# step before it where they build on each other (scan -> + join -> + bm25).
set -eu
[ $# -eq 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
DB=$1
EXPR=$(printf '%s' "$2" | LC_ALL=C awk '{
	n = 0; out = ""
	while (match($0, /[A-Za-z0-9_\200-\377]+/)) {
		out = out (n++ ? " " : "") "\"" substr($0, RSTART, RLENGTH) "\""
		$0 = substr($0, RSTART + RLENGTH)
	}
	if (n) out = out "*"
	print out }')
[ -n "$EXPR" ] || { echo "search_steps: the query has no terms" >&2; exit 2; }
ESC=$(printf '%s' "$EXPR" | sed "s/'/''/g")
BM='bm25(entity_fts, 10.0, 6.0, 1.0, 3.0, 4.0, 2.0, 2.0)'
F='((NULL IS NULL OR e.kind = NULL) AND (NULL IS NULL OR e.platform = NULL) AND (-1 < 0 OR (e.stale != 0) = -1) AND (NULL IS NULL OR EXISTS(SELECT 1 FROM tags t WHERE t.eid = e.eid AND t.tag = NULL)) AND (NULL IS NULL OR EXISTS(SELECT 1 FROM owners o WHERE o.eid = e.eid AND o.owner = NULL)))'
M="entity_fts MATCH '$ESC'"
IDS='(SELECT j FROM temp.ids)'

step() { # step LABEL SQL
	printf '.print %s\n.timer off\n.output /dev/null\n%s;\n.output stdout\n.timer on\n%s;\n.timer off\n' \
		"-- $1" "$2" "$2"
}
echo "MATCH $EXPR"
{
	echo ".headers off"
	step "matches, all (count)" "SELECT count(*) FROM entity_fts WHERE $M"
	step "scan: newest 10001 rowids" "SELECT count(*) FROM (SELECT rowid FROM entity_fts WHERE $M ORDER BY rowid DESC LIMIT 10001)"
	step "scan + join entities" "SELECT count(*) FROM (SELECT entity_fts.rowid, e.kind FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid WHERE $M ORDER BY entity_fts.rowid DESC LIMIT 10001)"
	step "scan + join + filters + bm25 (sql_fts)" "SELECT count(*) FROM (SELECT entity_fts.rowid, e.kind, e.platform, e.stale, $F, CASE WHEN $F THEN $BM END FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid WHERE $M ORDER BY entity_fts.rowid DESC LIMIT 10001)"
	echo ".timer off"
	echo "CREATE TEMP TABLE ids AS SELECT json_group_array(rowid) AS j FROM (SELECT rowid FROM entity_fts WHERE $M ORDER BY rowid DESC LIMIT 10000);"
	step "tag facet over the kept hits (sql_facet_tag)" "SELECT count(*) FROM (SELECT tag, count(DISTINCT eid) AS n FROM tags WHERE eid IN (SELECT value FROM json_each($IDS)) GROUP BY tag ORDER BY n DESC, tag LIMIT 100)"
	step "owner facet over the kept hits (sql_facet_owner)" "SELECT count(*) FROM (SELECT owner, count(DISTINCT eid) AS n FROM owners WHERE eid IN (SELECT value FROM json_each($IDS)) GROUP BY owner ORDER BY n DESC, owner LIMIT 100)"
	step "highlights, 20 hits over the kept range (sql_highlight)" "SELECT count(*) FROM (SELECT rowid, highlight(entity_fts, 0, '<mark>', '</mark>'), snippet(entity_fts, 3, '<mark>', '</mark>', '...', 12) FROM entity_fts WHERE $M AND rowid >= (SELECT min(value) FROM json_each($IDS)) AND rowid <= (SELECT max(value) FROM json_each($IDS)) AND +rowid IN (SELECT value FROM json_each($IDS) LIMIT 20))"
	step "direct: best 20 by bm25 over all matches" "SELECT count(*) FROM (SELECT e.id FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid WHERE $M ORDER BY $BM LIMIT 20)"
	echo ".print plan of sql_fts:"
	echo "EXPLAIN QUERY PLAN SELECT entity_fts.rowid, $BM FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid WHERE $M ORDER BY entity_fts.rowid DESC;"
} | sqlite3 -readonly "$DB" | grep -v '^$'
