#ifndef TERRARIUM_INGEST_EARLY_H
#define TERRARIUM_INGEST_EARLY_H
/*
 * plugins/ingest/early.h - results computed at acceptance, handed to the
 * processor.
 *
 * A POST parses its body as it streams in, to answer 400 with every
 * problem; for a valid sample that parse has already computed the time
 * stamp, the mean and the standard deviation.  The handler puts that
 * outcome here, under the submission id, before committing the raw record;
 * the processor, draining the durable queue, takes it instead of reading
 * the raw bytes back and parsing them again.  When the table is full, or
 * after a restart (it lives in memory only), the processor does the read
 * and the parse: the queue stays the one source of truth, and the result
 * is the same either way (the same parser over the same bytes).
 *
 * Bounded: a fixed number of slots, at most half of them used (linear
 * probing, deletion by backward shift).  Thread-safe (one mutex).
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct ingest_early;

/* A table of SLOTS slots (rounded up to a power of two, at least 16), or
 * NULL when out of memory. */
struct ingest_early *ingest_early_create(size_t slots);
void ingest_early_destroy(struct ingest_early *e);

/* Keep O (its errors pointer is not kept) under ID.  0, or -1 when the
 * table is at its bound (nothing is kept; the processor will parse). */
int ingest_early_put(struct ingest_early *e, const uint8_t id[16], const struct ingest_outcome *o);

/* Take what was kept under ID into O and forget it: 1, or 0 when there is
 * none. */
int ingest_early_take(struct ingest_early *e, const uint8_t id[16], struct ingest_outcome *o);

/* Forget ID (a commit that failed). */
void ingest_early_drop(struct ingest_early *e, const uint8_t id[16]);

/* Entries held. */
size_t ingest_early_count(struct ingest_early *e);

#endif
