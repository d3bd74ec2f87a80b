#ifndef TERRARIUM_OPENLINEAGE_H
#define TERRARIUM_OPENLINEAGE_H
/*
 * OpenLineage RunEvents into the catalog, as Marquez takes them on
 * POST /api/v1/lineage.
 *
 * For one event: the job becomes entity "job:<job.namespace>:<job.name>"; each
 * input and output dataset becomes "dataset:<namespace>:<name>"; edges run
 * input -> job and job -> output (source "openlineage"); the schema facet
 * becomes fields, the documentation facet the description, the ownership
 * facet owners, other facets are kept as properties ("facets.<name>"); the
 * run's state is recorded (catalog_run_record).  The parent run facet links a
 * child job to its parent job (property "parent").  Events are not snapshots:
 * nothing is marked stale by them.
 */
#include <jansson.h>
#include <stddef.h>
#include "catalog/catalog.h"

/*
 * Ingest one RunEvent (borrowed).  Returns 0, or CATALOG_EINVAL with ERR
 * naming the missing or malformed key ("job.name: missing"), or another
 * catalog error.  Also accepts DatasetEvents and JobEvents (no run).
 */
int openlineage_ingest(struct catalog *cat, json_t *event, char *err, size_t errlen);

#endif
