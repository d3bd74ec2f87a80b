/* A cheap readiness probe for the catalog; see catalog.h. */
#include "catalog/catalog_int.h"

int catalog_ping(struct catalog *cat)
{
	sqlite3 *db = catalog_reader_get(cat);
	sqlite3_stmt *st = NULL;
	int rc = CATALOG_EIO;
	if (!db || sqlite3_prepare_v2(db, "SELECT 1 FROM entities LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		goto out;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW || step == SQLITE_DONE)
		rc = 0;
out:
	sqlite3_finalize(st);
	catalog_reader_put(cat, db);
	return rc;
}
