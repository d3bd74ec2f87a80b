/* plugins/ingest/early.c - results computed at acceptance; see early.h. */
#include "early.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	uint8_t id[16];
	int used;
	struct ingest_outcome o;
};

struct ingest_early {
	pthread_mutex_t mu;
	size_t mask, count;
	struct slot *slots;
};

/* Submission ids are random (UUID v4): their first bytes are a fine hash. */
static size_t home(const struct ingest_early *e, const uint8_t id[16])
{
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	return (size_t)(h ^ (h >> 29)) & e->mask;
}

/* The slot holding ID, or the empty slot where it would go. */
static size_t find(const struct ingest_early *e, const uint8_t id[16])
{
	size_t i = home(e, id);
	while (e->slots[i].used && memcmp(e->slots[i].id, id, 16) != 0)
		i = (i + 1) & e->mask;
	return i;
}

/* Empty slot I and shift later entries of its cluster back (mu held). */
static void remove_at(struct ingest_early *e, size_t i)
{
	size_t j = i;
	e->slots[i].used = 0;
	e->count--;
	for (;;) {
		j = (j + 1) & e->mask;
		if (!e->slots[j].used)
			return;
		size_t h = home(e, e->slots[j].id);
		/* Move j into the hole i unless its home lies cyclically in (i, j]. */
		int stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (stays)
			continue;
		e->slots[i] = e->slots[j];
		e->slots[j].used = 0;
		i = j;
	}
}

struct ingest_early *ingest_early_create(size_t slots)
{
	struct ingest_early *e = calloc(1, sizeof(*e));
	size_t n = 16;
	while (n < slots && n < ((size_t)1 << 30))
		n <<= 1;
	if (!e)
		return NULL;
	e->slots = calloc(n, sizeof(*e->slots));
	if (!e->slots) {
		free(e);
		return NULL;
	}
	e->mask = n - 1;
	pthread_mutex_init(&e->mu, NULL);
	return e;
}

void ingest_early_destroy(struct ingest_early *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->mu);
	free(e->slots);
	free(e);
}

int ingest_early_put(struct ingest_early *e, const uint8_t id[16], const struct ingest_outcome *o)
{
	int rc = -1;
	pthread_mutex_lock(&e->mu);
	size_t i = find(e, id);
	if (!e->slots[i].used) {
		if (e->count + 1 > (e->mask + 1) / 2)
			goto out;
		memcpy(e->slots[i].id, id, 16);
		e->slots[i].used = 1;
		e->count++;
	}
	e->slots[i].o = *o;
	e->slots[i].o.errors = NULL;
	rc = 0;
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

int ingest_early_take(struct ingest_early *e, const uint8_t id[16], struct ingest_outcome *o)
{
	int found = 0;
	pthread_mutex_lock(&e->mu);
	size_t i = find(e, id);
	if (e->slots[i].used) {
		*o = e->slots[i].o;
		remove_at(e, i);
		found = 1;
	}
	pthread_mutex_unlock(&e->mu);
	return found;
}

void ingest_early_drop(struct ingest_early *e, const uint8_t id[16])
{
	pthread_mutex_lock(&e->mu);
	size_t i = find(e, id);
	if (e->slots[i].used)
		remove_at(e, i);
	pthread_mutex_unlock(&e->mu);
}

size_t ingest_early_count(struct ingest_early *e)
{
	pthread_mutex_lock(&e->mu);
	size_t n = e->count;
	pthread_mutex_unlock(&e->mu);
	return n;
}
