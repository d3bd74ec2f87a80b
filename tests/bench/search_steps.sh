#!/bin/sh
# Where a search's time goes: the steps of search_run() (catalog/search.c) as
# separate SQL statements, timed by the sqlite3 shell on the catalog file.
#
#   tests/bench/search_steps.sh CATALOG.DB 'QUERY TEXT'
#
# The MATCH expression is built the way search_fts_expr() builds it: every
# run of letters, digits, '_' and non-ASCII bytes becomes a quoted term, and
# the last term gets '*' when it has two characters or more.  The statements
# mirror search.c's sql_exact, sql_fills_fts, sql_fts, sql_range_tag /
# sql_list_tag and rank_kept()'s row lengths with no filters bound, over the
# newest SEARCH_FACET_SCAN matches (read from catalog/search.h); if search.c
# changes, change them here.  The shell has no terrarium_rank(): the ranking
# step is timed with FTS5's bm25(), whose per-query IDF scans and per-row
# length lookups (the costs terrarium_rank() avoids) are timed apart.  The
# highlights are computed in C over the page's rows (no SQL).  Each statement runs twice and
# the second (warm) timing is printed; a step's cost is the difference from
# the step before it where they build on each other (scan -> + join -> ...).
set -eu
[ $# -eq 2 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
DB=$1
HERE=$(dirname "$0")
CAP=$(sed -n 's/^#define SEARCH_FACET_SCAN \([0-9]*\).*/\1/p' "$HERE/../../catalog/search.h" 2>/dev/null)
CAP=${CAP:-250}
EXPR=$(printf '%s' "$2" | LC_ALL=C awk '{
	n = 0; out = ""; last = 0
	while (match($0, /[A-Za-z0-9_\200-\377]+/)) {
		out = out (n++ ? " " : "") "\"" substr($0, RSTART, RLENGTH) "\""
		last = RLENGTH
		$0 = substr($0, RSTART + RLENGTH)
	}
	if (n && last >= 2) out = out "*"
	print out }')
[ -n "$EXPR" ] || { echo "search_steps: the query has no terms" >&2; exit 2; }
ESC=$(printf '%s' "$EXPR" | sed "s/'/''/g")
WHOLE=$(printf '%s' "$ESC" | sed 's/\*$//')
LC=$(printf '%s' "$2" | LC_ALL=C tr '[:upper:]' '[:lower:]' | sed "s/'/''/g")
RAW=$(printf '%s' "$2" | sed "s/'/''/g")
BM='bm25(entity_fts, 10.0, 6.0, 1.0, 3.0, 4.0, 2.0, 2.0)'
F='((NULL IS NULL OR e.kind = NULL) AND (NULL IS NULL OR e.platform = NULL) AND (-1 < 0 OR (e.stale != 0) = -1) AND (NULL IS NULL OR EXISTS(SELECT 1 FROM tags t WHERE t.eid = e.eid AND t.tag = NULL)) AND (NULL IS NULL OR EXISTS(SELECT 1 FROM owners o WHERE o.eid = e.eid AND o.owner = NULL)))'
M="entity_fts MATCH '$ESC'"
IDS='(SELECT j FROM temp.ids)'
LO='(SELECT lo FROM temp.ids)'
HI='(SELECT hi FROM temp.ids)'

step() { # step LABEL SQL
	printf '.print %s\n.timer off\n.output /dev/null\n%s;\n.output stdout\n.timer on\n%s;\n.timer off\n' \
		"-- $1" "$2" "$2"
}
echo "MATCH $EXPR (scan cap $CAP)"
{
	echo ".headers off"
	step "exact name/id lookups (sql_exact)" "SELECT count(*) FROM entities e WHERE e.name_lc = '$LC' OR e.short_lc = '$LC' OR e.id = '$RAW'"
	step "matches, all (count; not a step of the search)" "SELECT count(*) FROM entity_fts WHERE $M"
	step "whole-word check, only for a last token past 6 characters (sql_fills_fts)" "SELECT count(*) FROM (SELECT 1 FROM entity_fts WHERE entity_fts MATCH '$WHOLE' ORDER BY rowid DESC LIMIT $((CAP + 1)))"
	step "scan: newest $CAP rowids" "SELECT count(*) FROM (SELECT rowid FROM entity_fts WHERE $M ORDER BY rowid DESC LIMIT $CAP)"
	step "scan + join entities" "SELECT count(*) FROM (SELECT entity_fts.rowid, e.kind FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid WHERE $M ORDER BY entity_fts.rowid DESC LIMIT $CAP)"
	step "scan + join + filters (sql_fts without the rank)" "SELECT count(*) FROM (SELECT entity_fts.rowid, e.kind, e.platform, e.stale, $F FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid WHERE $M ORDER BY entity_fts.rowid DESC LIMIT $CAP)"
	step "... + bm25() (terrarium_rank() costs about 1 us a row less the IDF scans below)" "SELECT count(*) FROM (SELECT entity_fts.rowid, e.kind, e.platform, e.stale, $F, CASE WHEN $F THEN $BM END FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid WHERE $M ORDER BY entity_fts.rowid DESC LIMIT $CAP)"
	step "bm25()'s IDF scans alone: bm25 of the newest match" "SELECT count(*) FROM (SELECT $BM FROM entity_fts WHERE $M ORDER BY rowid DESC LIMIT 1)"
	echo ".timer off"
	echo "CREATE TEMP TABLE ids AS SELECT json_group_array(rowid) AS j, min(rowid) AS lo, max(rowid) AS hi FROM (SELECT rowid FROM entity_fts WHERE $M ORDER BY rowid DESC LIMIT $CAP);"
	echo ".print -- the kept hits span eids:"
	echo "SELECT lo || '..' || hi || ' (' || (hi - lo + 1) || ' eids; a range read when under $CAP x 16)' FROM temp.ids;"
	step "tag facet, range read (sql_range_tag; counted in C)" "SELECT count(*) FROM tags WHERE eid BETWEEN $LO AND $HI"
	step "owner facet, range read (sql_range_owner)" "SELECT count(*) FROM owners WHERE eid BETWEEN $LO AND $HI"
	step "tag facet, rows of the hits' eids (sql_list_tag, hits far apart; counted in C)" "SELECT count(*) FROM tags WHERE eid IN (SELECT value FROM json_each($IDS))"
	step "owner facet, rows of the hits' eids (sql_list_owner)" "SELECT count(*) FROM owners WHERE eid IN (SELECT value FROM json_each($IDS))"
	step "row lengths of the kept hits (rank_kept() reads them in eid order through one blob handle)" "SELECT count(*) FROM entity_fts_docsize WHERE id IN (SELECT value FROM json_each($IDS))"
	step "direct, unbounded: best 20 by bm25 over all matches" "SELECT count(*) FROM (SELECT e.id FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid WHERE $M ORDER BY $BM LIMIT 20)"
	echo ".print plan of sql_fts:"
	echo "EXPLAIN QUERY PLAN SELECT entity_fts.rowid, $BM FROM entity_fts JOIN entities e ON e.eid = entity_fts.rowid WHERE $M ORDER BY entity_fts.rowid DESC;"
} | sqlite3 -readonly "$DB" | grep -v '^$'
