/*
 * plugins/ingest/stats.h - streaming mean and population standard deviation.
 *
 * Values are folded in blocks of INGEST_STATS_BLOCK: each block gets an
 * exact-as-possible two-pass treatment (its sum taken relative to its first
 * value, then the sum of squared deviations from its own mean), and blocks
 * are merged with the pairwise update of Chan, Golub and LeVeque:
 *     delta = mean_b - mean;  mean += delta * k / (n + k);
 *     m2 += m2_b + delta^2 * n * k / (n + k)
 * This is as stable as Welford's one-value update (no cancellation of large
 * sums of squares), keeps O(1) memory, and has no long chain of dependent
 * divisions, so it keeps up with the parser.  Values that are all equal give
 * a standard deviation of exactly 0 (e.g. three times 1e8+0.1), and a single
 * value gives its own value as the mean.
 *
 * So that any finite doubles can be folded without overflow ((x-m)^2 for
 * |x| ~ 1e200) or underflow (|x| ~ 1e-300), the accumulator works on x / 2^e
 * for a power of two 2^e that follows the magnitude of the data: chosen from
 * the first non-zero value and raised, with an exact rescale of mean and m2,
 * when a value is more than 2^400 times larger.  Scaling by a power of two is
 * exact, so ordinary data never notices it.
 *
 * The struct is plain data: embed it or copy it, no cleanup needed.
 */
#ifndef INGEST_STATS_H
#define INGEST_STATS_H

#include <stdint.h>

#define INGEST_STATS_BLOCK 64

struct ingest_stats {
	uint64_t count;   /* values merged from finished blocks */
	double mean;      /* their mean, in units of 2^scale */
	double m2;        /* their sum of squared deviations, units 2^(2*scale) */
	double inv;       /* 2^-scale */
	int scale;
	int scaled;       /* a non-zero value has chosen scale */
	unsigned nblock;  /* values waiting in block */
	double block[INGEST_STATS_BLOCK];
};

/* Start empty. */
void ingest_stats_init(struct ingest_stats *st);

/* Merge the waiting block (called by ingest_stats_add when it is full). */
void ingest_stats_flush(struct ingest_stats *st);

/* Fold one finite value (NaN or infinity must not be passed). */
static inline void ingest_stats_add(struct ingest_stats *st, double x)
{
	st->block[st->nblock++] = x;
	if (st->nblock == INGEST_STATS_BLOCK)
		ingest_stats_flush(st);
}

/* How many values were folded. */
uint64_t ingest_stats_count(const struct ingest_stats *st);

/* The mean of the values folded; NaN when there are none. */
double ingest_stats_mean(const struct ingest_stats *st);

/* The population standard deviation (divides by n, not n - 1); 0 for one
 * value, NaN when there are none. */
double ingest_stats_std(const struct ingest_stats *st);

#endif
