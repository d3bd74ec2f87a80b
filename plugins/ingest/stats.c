/*
 * plugins/ingest/stats.c - blockwise two-pass mean and variance merged with
 * Chan's update, on power-of-two scaled values (see stats.h).
 */
#include "stats.h"

#include <math.h>
#include <string.h>

/* Scale exponents stay within [-STATS_SCALE_MAX, STATS_SCALE_MAX] so that
 * 2^-scale is a normal double. */
#define STATS_SCALE_MAX 1000
/* A value more than 2^STATS_HEADROOM times 2^scale triggers a rescale:
 * scaled values stay below 2^(STATS_HEADROOM+1), squared deviations below
 * 2^(2*STATS_HEADROOM+4), and m2 below that times 2^64 < DBL_MAX. */
#define STATS_HEADROOM 400

void ingest_stats_init(struct ingest_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->inv = 1.0;
}

/* Unbiased binary exponent of a finite non-zero x (subnormals: -1023). */
static int exponent_of(double x)
{
	uint64_t bits;

	memcpy(&bits, &x, sizeof(bits));
	return (int)((bits >> 52) & 0x7ff) - 1023;
}

static void set_scale(struct ingest_stats *st, int e)
{
	int scale = e < -STATS_SCALE_MAX ? -STATS_SCALE_MAX : e > STATS_SCALE_MAX ? STATS_SCALE_MAX : e;
	int shift = scale - st->scale;

	st->mean = ldexp(st->mean, -shift);
	st->m2 = ldexp(st->m2, -2 * shift);
	st->scale = scale;
	st->inv = ldexp(1.0, -scale);
	st->scaled = 1;
}

void ingest_stats_flush(struct ingest_stats *st)
{
	unsigned k = st->nblock, i;
	double y[INGEST_STATS_BLOCK], shift, sum = 0, mb, m2b = 0, delta, n, kk, tot;
	int emax = -2000;

	if (k == 0)
		return;
	st->nblock = 0;
	for (i = 0; i < k; i++) {
		if (st->block[i] != 0) {
			int e = exponent_of(st->block[i]);

			if (e > emax)
				emax = e;
		}
	}
	if (emax > -2000 && (!st->scaled || emax - st->scale > STATS_HEADROOM))
		set_scale(st, emax);
	for (i = 0; i < k; i++)
		y[i] = st->block[i] * st->inv;
	/* Two passes over the block: its mean (summed relative to its first
	 * value, so equal values give exactly that value), then the squared
	 * deviations from that mean. */
	shift = y[0];
	for (i = 1; i < k; i++)
		sum += y[i] - shift;
	/* (sum == 0: the block's values are all equal, -0 included) */
	mb = sum == 0 ? shift : shift + sum / k;
	for (i = 0; i < k; i++)
		m2b += (y[i] - mb) * (y[i] - mb);
	if (st->count == 0) {
		st->mean = mb;
		st->m2 = m2b;
	} else {
		n = (double)st->count;
		kk = (double)k;
		tot = n + kk;
		delta = mb - st->mean;
		st->mean += delta * (kk / tot);
		st->m2 += m2b + delta * delta * (n * kk / tot);
	}
	st->count += k;
}

/* The statistics including the waiting block, without changing st. */
static void settled(const struct ingest_stats *st, struct ingest_stats *out)
{
	memcpy(out, st, sizeof(*out));
	ingest_stats_flush(out);
}

uint64_t ingest_stats_count(const struct ingest_stats *st)
{
	return st->count + st->nblock;
}

double ingest_stats_mean(const struct ingest_stats *st)
{
	struct ingest_stats s;

	settled(st, &s);
	if (s.count == 0)
		return NAN;
	return ldexp(s.mean, s.scale);
}

double ingest_stats_std(const struct ingest_stats *st)
{
	struct ingest_stats s;

	settled(st, &s);
	if (s.count == 0)
		return NAN;
	if (s.m2 <= 0)
		return 0.0;
	return ldexp(sqrt(s.m2 / (double)s.count), s.scale);
}
