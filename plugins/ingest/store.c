/*
 * plugins/ingest/store.c - raw segments with group commit, the results log,
 * the index and the queue; see store.h.
 *
 * Positions.  A record's LSN is (segment number << 40) | offset, so LSNs
 * grow in append order across segments.  Under the writer mutex:
 *   asize    - the active segment's reserved end;
 *   wb       - records appended since the last write: [wb_lsn, +wb_len),
 *              the tail of the active segment, not yet in the file;
 *   bigs[]   - LSNs of ranges reserved but still being written (spilled
 *              bodies being copied in, write buffers being drained), all in
 *              the active segment;
 *   written  - the LSN below which every record is complete: the smallest
 *              big or wb_lsn, or (ano, asize) when there is none;
 *   durable  - the LSN below which every record is on disk.
 * A committer waits until durable passes its record's end; a waiter that
 * no sync under way covers leads one (SYNC_DEPTH at once): it
 * writes wb (drain), takes `written`, fdatasyncs the active segment
 * outside the mutex, publishes the new durable point and wakes the waiters
 * it covered; then it tops up the zero-filled space ahead (prezero).
 * Rolling to a new segment waits for the bigs, syncs the old segment and the
 * directory, so a sync only ever concerns the active segment.
 *
 * Deletion sets a flag bit in the record's header in place (one byte, so it
 * cannot be torn; the header CRC leaves that byte out) and punches the body
 * out of the file.
 *
 * The durable point has a mutex of its own (dmu), so committers waiting for
 * a sync never hold up the ones appending.
 *
 * Locks, taken in this order when nested: wmu (writer) -> seg_rw (the
 * segment array), wmu -> dmu (roll); rmu (results log) -> imu (index);
 * seg_rw -> imu (prune).
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32.h"

#define LSN(no, off) (((uint64_t)(no) << 40) | (uint64_t)(off))
#define LSN_SEG(l) ((uint32_t)((l) >> 40))
#define LSN_OFF(l) ((l) & ((1ull << 40) - 1))
#define OFF_MAX ((1ull << 40) - 1)
#define SYNC_DEPTH 1            /* group-commit syncs under way at once (see wait_durable) */
#define ROUND_WORDS 4           /* > SYNC_DEPTH + 1 rounds alive at once */

#define REC_MAGIC 0x524d5254u   /* "TRMR" */
#define REC_VERSION 1
#define REC_VOID 1              /* reserved space whose body could not be written */
#define REC_DELETED 2           /* deleted: skip it */
#define HDR ((size_t)INGEST_STORE_RECORD_HEADER)

#define LOG_MAGIC 0x534d5254u   /* "TRMS" */
#define LOG_ENTRY 96
#define LOG_NAME "results.log"

#define BIGS_MAX 64
#define ZERO_CHUNK (16ull << 20) /* zero-fill the active segment this far ahead */
#define ZERO_LOW (8ull << 20)    /* once less than this is left */
#define ZERO_PIECE (512u << 10)  /* written and flushed a piece at a time */
#define PAGE 4096u
#define WB_CAP (1u << 20)        /* the write buffer: records gathered for one write */
#define WB_SPARES (SYNC_DEPTH + 1)
_Static_assert(INGEST_STORE_RECORD_HEADER + INGEST_STORE_CTYPE_MAX + INGEST_STORE_STAGE_MAX <=
		       WB_CAP,
	       "a staged record fits the write buffer");
#define SCAN_BUF (1 << 20)
#define COPY_BUF (1 << 20)
#define READ_BUF (64 * 1024)
#define STAGE_FIRST (16 * 1024)
#define DAMAGED_ERRORS "[\"raw record damaged: CRC mismatch\"]"

struct seg {
	uint32_t no;
	int fd;
	uint64_t size;      /* bytes in the file (closed segments; the active one: asize) */
	int64_t newest;     /* received_at of its newest record */
};

struct entry {
	uint8_t id[16];
	uint64_t lsn;
	uint64_t body_len;
	int64_t received_at;
	int64_t processed_at;
	int64_t ts_sec;
	int32_t ts_nsec;
	uint16_t ctlen;
	uint8_t ts_frac;
	uint8_t status;
	uint8_t live;
	uint64_t count;
	double mean, std;
	char *errors;
};

struct qitem {
	uint32_t slot;
	uint64_t lsn;
};

struct ingest_store {
	char dir[3800];
	int dirfd;
	uint64_t segment_max;

	pthread_rwlock_t seg_rw;
	struct seg *segs;       /* by number, ascending */
	size_t nsegs, capsegs;

	pthread_mutex_t wmu;
	pthread_cond_t big_cv;
	uint32_t ano;           /* the active segment */
	int afd;
	uint64_t asize;
	uint64_t bigs[BIGS_MAX];
	int nbig;
	/* [asize, zend) of the active segment is zeros on disk; zeroing: a
	 * fill of [zfrom, ...) is under way, which appends must not reach. */
	uint64_t zend, zfrom;
	int zeroing;
	int zero_off;           /* a fill failed: append without */
	/* Records appended since the last write, bytes [wb_lsn, wb_lsn + wb_len)
	 * of the active segment, always its tail; a sync leader writes them in
	 * one pwrite (drain). */
	unsigned char *wb;
	size_t wb_len;
	uint64_t wb_lsn;
	unsigned char *wb_spare[WB_SPARES];
	int nspare;
	uint64_t fail_lsn;      /* a write from here failed: never durable (UINT64_MAX) */
	/* Published under wmu for the sync leader, who holds only dmu. */
	atomic_uint_least64_t written_pub;
	atomic_int afd_pub;

	pthread_mutex_t dmu;    /* the sync rounds */
	/* Waiters of sync round k sleep on futex word [k % ROUND_WORDS], which
	 * the round's end bumps (under dmu) and wakes (after it). */
	atomic_uint round_word[ROUND_WORDS];
	atomic_uint_least64_t durable; /* written under dmu, read without it */
	int syncing;            /* syncs under way, at most SYNC_DEPTH */
	uint64_t round;         /* syncs started */
	uint64_t round_target;  /* what the latest one started covers */
	atomic_int failed;
	atomic_uint_least64_t raw_bytes;

	pthread_mutex_t imu;
	struct entry *ents;
	uint32_t nents, capents;
	uint32_t *freel;
	uint32_t nfree, capfree;
	uint32_t *hash;         /* slot + 1, 0 = empty; linear probing */
	uint32_t hcap, hcount;
	uint32_t *res;          /* processed slots, in processing order */
	size_t nres, capres;
	struct qitem *queue;    /* ring */
	size_t qhead, qlen, qcap;
	uint64_t inflight;
	uint64_t counts[INGEST_NSTATUS];

	pthread_mutex_t rmu;
	int rfd;
	uint64_t rsize;
	uint64_t rentries;      /* entries in the log */
	int rdirty;

	uint64_t torn_cut, torn_bytes, damaged; /* repairs at open */
};

const char *ingest_status_name(enum ingest_status s)
{
	static const char *const names[] = { "accepted", "processed", "rejected", "failed" };
	return (unsigned)s < INGEST_NSTATUS ? names[s] : "unknown";
}

/* ---- little-endian fields ---- */

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t dbits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static double bitsd(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

/* ---- record headers ---- */

/* CRC of a header (all but the flags byte and the CRC itself) and CTYPE. */
static uint32_t hdr_crc(const unsigned char *h, const char *ctype, size_t ctlen)
{
	uint32_t c = ingest_crc32(0, h, 5);
	c = ingest_crc32(c, h + 6, 44 - 6);
	return ingest_crc32(c, ctype, ctlen);
}

static void hdr_encode(unsigned char *h, int flags, const uint8_t id[16], const char *ctype,
		       size_t ctlen, uint64_t body_len, int64_t received_at, uint32_t body_crc)
{
	put32(h, REC_MAGIC);
	h[4] = REC_VERSION;
	h[5] = (unsigned char)flags;
	put16(h + 6, (uint16_t)ctlen);
	put64(h + 8, body_len);
	put64(h + 16, (uint64_t)received_at);
	memcpy(h + 24, id, 16);
	put32(h + 40, body_crc);
	put32(h + 44, hdr_crc(h, ctype, ctlen));
}

struct hdr {
	int flags;
	uint16_t ctlen;
	uint64_t body_len;
	int64_t received_at;
	uint8_t id[16];
	uint32_t body_crc;
};

/* Decode the fixed part of a header (the CRC needs the content type too). */
static int hdr_decode(const unsigned char *h, struct hdr *out)
{
	if (get32(h) != REC_MAGIC || h[4] != REC_VERSION)
		return -EBADMSG;
	out->flags = h[5];
	out->ctlen = get16(h + 6);
	out->body_len = get64(h + 8);
	out->received_at = (int64_t)get64(h + 16);
	memcpy(out->id, h + 24, 16);
	out->body_crc = get32(h + 40);
	if (out->ctlen > INGEST_STORE_CTYPE_MAX || out->body_len > OFF_MAX)
		return -EBADMSG;
	return 0;
}

static int hdr_check(const unsigned char *h, const char *ctype, size_t ctlen)
{
	return get32(h + 44) == hdr_crc(h, ctype, ctlen) ? 0 : -EBADMSG;
}

/* ---- results log entries ---- */

static size_t log_encode(unsigned char *p, const uint8_t id[16], uint64_t lsn,
			 const struct ingest_outcome *o)
{
	size_t elen = o->errors && o->status != INGEST_PROCESSED ? strlen(o->errors) : 0;
	if (elen > INGEST_STORE_ERRORS_MAX)
		elen = 0;
	memset(p, 0, LOG_ENTRY);
	put32(p, LOG_MAGIC);
	p[4] = (unsigned char)o->status;
	p[5] = (unsigned char)o->ts_frac;
	put32(p + 8, (uint32_t)elen);
	memcpy(p + 16, id, 16);
	put64(p + 32, lsn);
	put64(p + 40, (uint64_t)o->processed_at);
	put64(p + 48, (uint64_t)o->ts_sec);
	put32(p + 56, (uint32_t)o->ts_nsec);
	put64(p + 64, o->count);
	put64(p + 72, dbits(o->mean));
	put64(p + 80, dbits(o->std));
	if (elen)
		memcpy(p + LOG_ENTRY, o->errors, elen);
	uint32_t c = ingest_crc32(0, p, 12);
	c = ingest_crc32(c, p + 16, LOG_ENTRY - 16 + elen);
	put32(p + 12, c);
	return LOG_ENTRY + elen;
}

/* ---- small file helpers ---- */

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* short file */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void seg_name(uint32_t no, char *out, size_t outlen)
{
	snprintf(out, outlen, "raw-%06u.seg", no);
}

/* ---- the index (callers hold imu) ---- */

static uint32_t id_hash(const uint8_t id[16])
{
	uint64_t x;
	memcpy(&x, id, 8);
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static int hash_grow(struct ingest_store *st)
{
	uint32_t ncap = st->hcap ? st->hcap * 2 : 1024;
	uint32_t *nh = calloc(ncap, sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	for (uint32_t i = 0; i < st->hcap; i++) {
		uint32_t v = st->hash[i];
		if (!v)
			continue;
		uint32_t h = id_hash(st->ents[v - 1].id) & (ncap - 1);
		while (nh[h])
			h = (h + 1) & (ncap - 1);
		nh[h] = v;
	}
	free(st->hash);
	st->hash = nh;
	st->hcap = ncap;
	return 0;
}

/* The hash position holding ID, or UINT32_MAX. */
static uint32_t hash_find(const struct ingest_store *st, const uint8_t id[16])
{
	if (!st->hcap)
		return UINT32_MAX;
	uint32_t h = id_hash(id) & (st->hcap - 1);
	while (st->hash[h]) {
		if (memcmp(st->ents[st->hash[h] - 1].id, id, 16) == 0)
			return h;
		h = (h + 1) & (st->hcap - 1);
	}
	return UINT32_MAX;
}

static struct entry *lookup(struct ingest_store *st, const uint8_t id[16])
{
	uint32_t h = hash_find(st, id);
	return h == UINT32_MAX ? NULL : &st->ents[st->hash[h] - 1];
}

static int hash_put(struct ingest_store *st, uint32_t slot)
{
	if ((st->hcount + 1) * 2 > st->hcap && hash_grow(st) < 0)
		return -ENOMEM;
	uint32_t h = id_hash(st->ents[slot].id) & (st->hcap - 1);
	while (st->hash[h])
		h = (h + 1) & (st->hcap - 1);
	st->hash[h] = slot + 1;
	st->hcount++;
	return 0;
}

/* Remove position H, shifting later members of its run back. */
static void hash_del(struct ingest_store *st, uint32_t h)
{
	uint32_t mask = st->hcap - 1;
	st->hash[h] = 0;
	st->hcount--;
	uint32_t j = h;
	for (;;) {
		j = (j + 1) & mask;
		if (!st->hash[j])
			break;
		uint32_t home = id_hash(st->ents[st->hash[j] - 1].id) & mask;
		/* Move it to the hole unless its home lies cyclically in (h, j]. */
		int stays = h <= j ? (home > h && home <= j) : (home > h || home <= j);
		if (stays)
			continue;
		st->hash[h] = st->hash[j];
		st->hash[j] = 0;
		h = j;
	}
}

static int slot_alloc(struct ingest_store *st, uint32_t *out)
{
	if (st->nfree) {
		*out = st->freel[--st->nfree];
		return 0;
	}
	if (st->nents == st->capents) {
		uint32_t ncap = st->capents ? st->capents * 2 : 1024;
		struct entry *ne = realloc(st->ents, (size_t)ncap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		st->ents = ne;
		st->capents = ncap;
	}
	*out = st->nents++;
	return 0;
}

static void slot_free(struct ingest_store *st, uint32_t slot)
{
	struct entry *e = &st->ents[slot];
	free(e->errors);
	memset(e, 0, sizeof(*e));
	if (st->nfree == st->capfree) {
		uint32_t ncap = st->capfree ? st->capfree * 2 : 256;
		uint32_t *nf = realloc(st->freel, (size_t)ncap * sizeof(*nf));
		if (!nf)
			return; /* the slot is lost until restart; nothing breaks */
		st->freel = nf;
		st->capfree = ncap;
	}
	st->freel[st->nfree++] = slot;
}

static int queue_push(struct ingest_store *st, uint32_t slot, uint64_t lsn)
{
	if (st->qlen == st->qcap) {
		size_t ncap = st->qcap ? st->qcap * 2 : 1024;
		struct qitem *nq = malloc(ncap * sizeof(*nq));
		if (!nq)
			return -ENOMEM;
		for (size_t i = 0; i < st->qlen; i++)
			nq[i] = st->queue[(st->qhead + i) % st->qcap];
		free(st->queue);
		st->queue = nq;
		st->qcap = ncap;
		st->qhead = 0;
	}
	st->queue[(st->qhead + st->qlen) % st->qcap] = (struct qitem){ slot, lsn };
	st->qlen++;
	return 0;
}

static int res_push(struct ingest_store *st, uint32_t slot)
{
	if (st->nres == st->capres) {
		size_t ncap = st->capres ? st->capres * 2 : 1024;
		uint32_t *nr = realloc(st->res, ncap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		st->res = nr;
		st->capres = ncap;
	}
	st->res[st->nres++] = slot;
	return 0;
}

/* Remove entry SLOT from every structure (imu held). */
static void entry_remove(struct ingest_store *st, uint32_t slot)
{
	struct entry *e = &st->ents[slot];
	uint32_t h = hash_find(st, e->id);
	if (h != UINT32_MAX && st->hash[h] == slot + 1)
		hash_del(st, h);
	if (e->status == INGEST_PROCESSED) {
		for (size_t i = st->nres; i-- > 0;)
			if (st->res[i] == slot) {
				memmove(st->res + i, st->res + i + 1,
					(st->nres - i - 1) * sizeof(*st->res));
				st->nres--;
				break;
			}
	}
	st->counts[e->status]--;
	slot_free(st, slot);
}

/* A new live entry (imu held).  0 or -ENOMEM. */
static int entry_add(struct ingest_store *st, const uint8_t id[16], uint64_t lsn,
		     uint16_t ctlen, uint64_t body_len, int64_t received_at, uint32_t *slot_out)
{
	uint32_t slot;
	if (slot_alloc(st, &slot) < 0)
		return -ENOMEM;
	struct entry *e = &st->ents[slot];
	memset(e, 0, sizeof(*e));
	memcpy(e->id, id, 16);
	e->lsn = lsn;
	e->ctlen = ctlen;
	e->body_len = body_len;
	e->received_at = received_at;
	e->status = INGEST_ACCEPTED;
	e->live = 1;
	if (hash_put(st, slot) < 0) {
		e->live = 0;
		slot_free(st, slot);
		return -ENOMEM;
	}
	st->counts[INGEST_ACCEPTED]++;
	*slot_out = slot;
	return 0;
}

static void entry_set_outcome(struct ingest_store *st, struct entry *e,
			      const struct ingest_outcome *o, const char *errors, size_t elen)
{
	st->counts[e->status]--;
	e->status = (uint8_t)o->status;
	st->counts[e->status]++;
	e->processed_at = o->processed_at;
	e->ts_sec = o->ts_sec;
	e->ts_nsec = o->ts_nsec;
	e->ts_frac = (uint8_t)o->ts_frac;
	e->count = o->count;
	e->mean = o->mean;
	e->std = o->std;
	free(e->errors);
	e->errors = NULL;
	if (errors && elen) {
		e->errors = malloc(elen + 1);
		if (e->errors) {
			memcpy(e->errors, errors, elen);
			e->errors[elen] = '\0';
		}
	}
}

/* ---- segments ---- */

/* A segment's newest received_at: raised by committers holding seg_rw for
 * reading, so atomically. */
static void newest_note(struct seg *sg, int64_t t)
{
	int64_t cur = __atomic_load_n(&sg->newest, __ATOMIC_RELAXED);
	while (t > cur && !__atomic_compare_exchange_n(&sg->newest, &cur, t, 1, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

static int64_t newest_get(struct seg *sg)
{
	return __atomic_load_n(&sg->newest, __ATOMIC_RELAXED);
}

/* The segment numbered NO (seg_rw held), or NULL. */
static struct seg *seg_find(struct ingest_store *st, uint32_t no)
{
	size_t lo = 0, hi = st->nsegs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (st->segs[mid].no == no)
			return &st->segs[mid];
		if (st->segs[mid].no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int seg_append(struct ingest_store *st, uint32_t no, int fd, uint64_t size)
{
	if (st->nsegs == st->capsegs) {
		size_t ncap = st->capsegs ? st->capsegs * 2 : 16;
		struct seg *ns = realloc(st->segs, ncap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		st->segs = ns;
		st->capsegs = ncap;
	}
	st->segs[st->nsegs++] = (struct seg){ .no = no, .fd = fd, .size = size, .newest = 0 };
	return 0;
}

/* Create segment NO, synced into the directory; its fd, or -errno. */
static int seg_create(struct ingest_store *st, uint32_t no)
{
	char name[64];
	seg_name(no, name, sizeof(name));
	int fd = openat(st->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (fsync(st->dirfd) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static uint64_t written_lsn(const struct ingest_store *st)
{
	uint64_t w = st->wb_len ? st->wb_lsn : LSN(st->ano, st->asize);
	if (st->fail_lsn < w)
		w = st->fail_lsn;
	for (int i = 0; i < st->nbig; i++)
		if (st->bigs[i] < w)
			w = st->bigs[i];
	return w;
}

/* Publish the written point (wmu held) for the sync leader.  The segment's
 * fd is published before any record of it, so a leader that reads the
 * written point first and the fd second never syncs a file older than it. */
static void publish(struct ingest_store *st)
{
	atomic_store_explicit(&st->written_pub, written_lsn(st), memory_order_release);
}

/* A write of the records from LSN on failed (wmu held): the store takes
 * no more, and the durable point never passes LSN, so no sync can claim
 * them; their committers get -EIO. */
static void write_failed(struct ingest_store *st, uint64_t lsn)
{
	if (lsn < st->fail_lsn)
		st->fail_lsn = lsn;
	atomic_store(&st->failed, 1);
	pthread_cond_broadcast(&st->big_cv);
}

/* Write the buffered records now (wmu held): before anything is written
 * past them otherwise, and before a roll.  A failed write fails the store:
 * their committers are waiting and the space cannot be given back. */
static int flush_wb(struct ingest_store *st)
{
	if (st->wb_len == 0)
		return 0;
	int rc = pwrite_all(st->afd, st->wb, st->wb_len, LSN_OFF(st->wb_lsn));
	if (rc < 0)
		write_failed(st, st->wb_lsn);
	st->wb_len = 0;
	publish(st);
	return rc;
}

static void futex_wake(atomic_uint *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Wake every waiter of every round (dmu held; released on return): the
 * durable point jumped (a roll) or a sync failed. */
static void rounds_wake_all(struct ingest_store *st)
{
	for (int i = 0; i < ROUND_WORDS; i++)
		atomic_fetch_add(&st->round_word[i], 1);
	pthread_mutex_unlock(&st->dmu);
	for (int i = 0; i < ROUND_WORDS; i++)
		futex_wake(&st->round_word[i], INT_MAX);
}

/* Sleep on sync round K's word (dmu held; released on return).  The value
 * is read under dmu and bumped under dmu, so a wake between the unlock and
 * the sleep is not lost: the futex sees the new value and returns. */
static void round_sleep(struct ingest_store *st, uint64_t k)
{
	atomic_uint *word = &st->round_word[k % ROUND_WORDS];
	unsigned v = atomic_load(word);
	pthread_mutex_unlock(&st->dmu);
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

/*
 * Start segment ano + 1 (wmu held, no bigs in flight): sync the old one so
 * the durable point covers it, then make the new one.
 */
static int roll(struct ingest_store *st)
{
	int rc;
	if ((rc = flush_wb(st)) < 0)
		return rc;
	if (st->afd >= 0 && st->zend > st->asize && ftruncate(st->afd, (off_t)st->asize) < 0)
		return -EIO;
	if (st->afd >= 0 && fdatasync(st->afd) < 0)
		return -EIO;
	uint32_t no = st->ano + 1;
	int fd = seg_create(st, no);
	if (fd < 0)
		return fd;
	pthread_rwlock_wrlock(&st->seg_rw);
	struct seg *old = seg_find(st, st->ano);
	if (old)
		old->size = st->asize;
	rc = seg_append(st, no, fd, 0);
	pthread_rwlock_unlock(&st->seg_rw);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	st->ano = no;
	st->afd = fd;
	st->asize = 0;
	st->zend = 0;
	atomic_store_explicit(&st->afd_pub, fd, memory_order_release);
	publish(st);
	/* The old segment is on disk whole. */
	pthread_mutex_lock(&st->dmu);
	if (LSN(no, 0) > atomic_load(&st->durable))
		atomic_store(&st->durable, LSN(no, 0));
	rounds_wake_all(st);
	return 0;
}


/* ---- writing ---- */

void ingest_write_init(struct ingest_write *w, struct ingest_store *st)
{
	memset(w, 0, sizeof(*w));
	w->st = st;
	w->fd = -1;
}

void ingest_write_release(struct ingest_write *w)
{
	free(w->buf);
	w->buf = NULL;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

static int spill_open(struct ingest_store *st)
{
	int fd = openat(st->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : -errno;
	char path[sizeof(st->dir) + 32];
	snprintf(path, sizeof(path), "%s/.spill-XXXXXX", st->dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int ingest_write_add(struct ingest_write *w, const void *buf, size_t len)
{
	int rc;
	if (len == 0)
		return 0;
	if (w->fd < 0 && w->len + len <= INGEST_STORE_STAGE_MAX) {
		if (w->len + len > w->cap) {
			size_t ncap = w->cap ? w->cap : STAGE_FIRST;
			while (ncap < w->len + len)
				ncap *= 2;
			if (ncap > INGEST_STORE_STAGE_MAX)
				ncap = INGEST_STORE_STAGE_MAX;
			char *nb = realloc(w->buf, ncap);
			if (!nb)
				return -ENOMEM;
			w->buf = nb;
			w->cap = ncap;
		}
		memcpy(w->buf + w->len, buf, len);
		w->len += len;
	} else {
		if (w->fd < 0) {
			int fd = spill_open(w->st);
			if (fd < 0)
				return fd;
			w->fd = fd;
			if ((rc = write_all(fd, w->buf, w->len)) < 0)
				return rc;
			free(w->buf);
			w->buf = NULL;
			w->len = w->cap = 0;
		}
		if ((rc = write_all(w->fd, buf, len)) < 0)
			return rc;
	}
	w->crc = ingest_crc32(w->crc, buf, len);
	w->total += len;
	return 0;
}

/* Copy LEN bytes of the spill file into the active segment at OFF. */
static int copy_in(int from, int to, uint64_t off, uint64_t len)
{
	loff_t in = 0, out = (loff_t)off;
	uint64_t left = len;
	while (left) {
		ssize_t n = copy_file_range(from, &in, to, &out, left, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		left -= (uint64_t)n;
	}
	if (!left)
		return 0;
	/* Not supported here (or a short copy): by hand. */
	char *buf = malloc(COPY_BUF);
	int rc = 0;
	if (!buf)
		return -ENOMEM;
	while (left) {
		size_t n = left < COPY_BUF ? (size_t)left : COPY_BUF;
		if ((rc = pread_all(from, buf, n, (uint64_t)in)) < 0 ||
		    (rc = pwrite_all(to, buf, n, (uint64_t)out)) < 0)
			break;
		in += (loff_t)n;
		out += (loff_t)n;
		left -= n;
	}
	free(buf);
	return rc;
}

static void big_remove(struct ingest_store *st, uint64_t lsn)
{
	for (int i = 0; i < st->nbig; i++)
		if (st->bigs[i] == lsn) {
			st->bigs[i] = st->bigs[--st->nbig];
			break;
		}
	pthread_cond_broadcast(&st->big_cv);
}

/* Small records: into the write buffer (wmu held), written by the next
 * sync's leader together with the others gathered meanwhile: one pwrite a
 * round instead of one per request, and the mutex held for a memcpy. */
static int buffer_add(struct ingest_store *st, struct ingest_write *w, const unsigned char *hdr,
		      const char *ctype, size_t ctlen, uint64_t off, uint64_t rsize)
{
	int rc;
	if (st->wb_len + rsize > WB_CAP && (rc = flush_wb(st)) < 0)
		return rc;
	/* Past the zero-filled space (a fill behind, or failed): reserve the
	 * blocks now, so that a full disk is this request's 507 with nothing
	 * taken, not a failed write of the whole group later. */
	if (off + rsize > st->zend && fallocate(st->afd, 0, (off_t)off, (off_t)rsize) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	if (!st->wb) {
		st->wb = st->nspare ? st->wb_spare[--st->nspare] : malloc(WB_CAP);
		if (!st->wb)
			return -ENOMEM;
	}
	if (st->wb_len == 0)
		st->wb_lsn = LSN(st->ano, off);
	unsigned char *p = st->wb + st->wb_len;
	memcpy(p, hdr, HDR);
	memcpy(p + HDR, ctype, ctlen);
	if (w->len)
		memcpy(p + HDR + ctlen, w->buf, w->len);
	st->wb_len += rsize;
	st->asize = off + rsize;
	publish(st);
	return 0;
}

/*
 * A sync leader's write of the buffered records, outside the mutex: the
 * buffer is swapped for a spare and its range counts as a copy in flight
 * (bigs) until written, so no sync claims it before.
 */
static void drain(struct ingest_store *st)
{
	pthread_mutex_lock(&st->wmu);
	if (st->wb_len == 0 || st->nbig == BIGS_MAX) {
		flush_wb(st);
		pthread_mutex_unlock(&st->wmu);
		return;
	}
	unsigned char *b = st->wb;
	size_t len = st->wb_len;
	uint64_t lsn = st->wb_lsn;
	int fd = st->afd;
	st->wb = st->nspare ? st->wb_spare[--st->nspare] : NULL;
	st->wb_len = 0;
	st->bigs[st->nbig++] = lsn;
	pthread_mutex_unlock(&st->wmu);
	int rc = pwrite_all(fd, b, len, LSN_OFF(lsn));
	pthread_mutex_lock(&st->wmu);
	if (rc < 0)
		write_failed(st, lsn);
	if (st->nspare < WB_SPARES)
		st->wb_spare[st->nspare++] = b;
	else
		free(b);
	big_remove(st, lsn);
	publish(st);
	pthread_mutex_unlock(&st->wmu);
}

/*
 * Spilled bodies: reserve the space, copy outside the mutex (wmu held on
 * entry and on return).  The durable point waits for the copy.  On failure
 * the space is marked void, since records may follow it.
 */
static int append_spilled(struct ingest_store *st, struct ingest_write *w,
			  const unsigned char *hdr, const struct ingest_submit *sub,
			  const char *ctype, size_t ctlen, uint64_t off, uint64_t rsize)
{
	int fd = st->afd;
	uint64_t lsn = LSN(st->ano, off);
	st->asize = off + rsize;
	st->bigs[st->nbig++] = lsn;
	pthread_mutex_unlock(&st->wmu);
	int rc = pwrite_all(fd, hdr, HDR, off);
	if (rc == 0)
		rc = pwrite_all(fd, ctype, ctlen, off + HDR);
	if (rc == 0)
		rc = copy_in(w->fd, fd, off + HDR + ctlen, w->total);
	if (rc < 0) {
		unsigned char vh[HDR];
		hdr_encode(vh, REC_VOID, sub->id, ctype, ctlen, w->total, sub->received_at, 0);
		if (pwrite_all(fd, vh, HDR, off) < 0 || pwrite_all(fd, ctype, ctlen, off + HDR) < 0)
			atomic_store(&st->failed, 1);
	}
	pthread_mutex_lock(&st->wmu);
	big_remove(st, lsn);
	publish(st);
	return rc;
}

/* Append W's record; *LSN and *END get where it lies.  0 or -errno. */
static int append(struct ingest_store *st, struct ingest_write *w, const struct ingest_submit *sub,
		  const char *ctype, size_t ctlen, uint64_t *lsn, uint64_t *end)
{
	unsigned char hdr[HDR];
	uint64_t rsize = HDR + ctlen + w->total;
	int rc = 0;
	hdr_encode(hdr, 0, sub->id, ctype, ctlen, w->total, sub->received_at, w->crc);
	pthread_mutex_lock(&st->wmu);
	for (;;) {
		if (atomic_load(&st->failed)) {
			rc = -EIO;
			goto out;
		}
		if (st->nbig == BIGS_MAX || (st->zeroing && st->asize + rsize > st->zfrom)) {
			pthread_cond_wait(&st->big_cv, &st->wmu);
			continue;
		}
		if (st->asize == 0 || st->asize + rsize <= st->segment_max)
			break;
		if (st->nbig > 0 || st->zeroing) { /* roll once the copies into it are done */
			pthread_cond_wait(&st->big_cv, &st->wmu);
			continue;
		}
		if ((rc = roll(st)) < 0) {
			atomic_store(&st->failed, 1);
			goto out;
		}
	}
	uint64_t off = st->asize;
	*lsn = LSN(st->ano, off);
	*end = *lsn + rsize;
	if (w->fd < 0)
		rc = buffer_add(st, w, hdr, ctype, ctlen, off, rsize);
	else if ((rc = flush_wb(st)) == 0)
		rc = append_spilled(st, w, hdr, sub, ctype, ctlen, off, rsize);
	if (rc == 0)
		atomic_fetch_add(&st->raw_bytes, rsize);
out:
	pthread_mutex_unlock(&st->wmu);
	return rc;
}

/*
 * Keep the active segment zero-filled on disk ahead of the appends: records
 * then overwrite allocated, durable blocks within the file's size, so the
 * fdatasync of a commit writes data pages only (no block allocation, no
 * inode update).  Measured on the development VM with 20 KB batches, the
 * fill's own cost included: 86-95 us and 27 us of CPU a sync, against
 * 115-125 us and 35 us when every sync follows an append that grows the
 * file (fallocate's unwritten extents: 107-167 us, 33-38 us).  As
 * PostgreSQL does with its WAL segments.
 *
 * Called by a sync leader once its waiters are woken; one fill at a time.
 * The fill goes a piece at a time, each written, flushed (so that a
 * commit's fdatasync never finds megabytes of zeros dirty) and then handed
 * to the appends; only an append that reaches the piece being written
 * waits, for that piece.  If the appends overtake the fill it stops.  A
 * failed fill (a full disk, say) is left: appends then grow the file as
 * before.  The zeros past the last record are cut off when the segment
 * rolls or the store closes, and at open after a crash (see zero_tail).
 */
static void prezero(struct ingest_store *st)
{
	unsigned char *z = NULL;
	int fd = -1, rc = 0, did = 0;
	pthread_mutex_lock(&st->wmu);
	uint64_t from = (st->asize + PAGE - 1) / PAGE * PAGE;
	if (st->zend > from)
		from = st->zend;
	uint64_t to = from + ZERO_CHUNK;
	if (to > st->segment_max)
		to = st->segment_max / PAGE * PAGE;
	if (st->zeroing || st->zero_off || atomic_load(&st->failed) ||
	    st->zend >= st->asize + ZERO_LOW || to <= from)
		goto out;
	z = calloc(1, ZERO_PIECE);
	if (!z)
		goto out;
	fd = st->afd;
	uint32_t no = st->ano;
	for (uint64_t p = from; p < to; p += ZERO_PIECE) {
		if (st->ano != no || st->asize > p || atomic_load(&st->failed))
			break; /* rolled, or overtaken */
		size_t n = to - p < ZERO_PIECE ? (size_t)(to - p) : ZERO_PIECE;
		st->zeroing = 1;
		st->zfrom = p;
		pthread_mutex_unlock(&st->wmu);
		rc = pwrite_all(fd, z, n, p);
		if (rc == 0 && sync_file_range(fd, (off64_t)p, (off64_t)n,
					       SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
						       SYNC_FILE_RANGE_WAIT_AFTER) < 0)
			rc = -errno;
		pthread_mutex_lock(&st->wmu);
		st->zeroing = 0;
		pthread_cond_broadcast(&st->big_cv);
		if (rc < 0) {
			st->zero_off = 1;
			break;
		}
		if (st->ano == no && st->zend < p + n)
			st->zend = p + n;
		did = 1;
	}
	/* The zeros' blocks and the file's size on disk (a commit's sync may
	 * have done it already). */
	pthread_mutex_unlock(&st->wmu);
	if (did && rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	pthread_mutex_lock(&st->wmu);
	if (rc < 0)
		st->zero_off = 1;
out:
	pthread_mutex_unlock(&st->wmu);
	free(z);
}

/*
 * Group commit: wait until a sync covers END.  Syncs are numbered rounds;
 * a round covers what was written when it started.  A waiter whose record
 * the latest round started covers waits for that round.  Any other leads a
 * new round when fewer than SYNC_DEPTH are under way, and otherwise waits
 * for the round after the latest, whose leader a finishing round wakes.
 * SYNC_DEPTH is 1: with the segment zero-filled ahead a sync takes about
 * 80 us, and one at a time gathers twice the records per write and sync;
 * 64 clients got 36-45k acknowledged POSTs/s against 30-39k with two under
 * way (the same runs; two were better when every sync grew the file and
 * took a millisecond or more).  Any depth works: rounds may end
 * out of order; a later one covers all an earlier one did, so the durable
 * point only moves up.  A finishing round wakes only the waiters it
 * covered, plus one.  Waiters sleep on futex words, not condition
 * variables: a woken waiter reads the durable point without taking dmu, so
 * the tens of waiters one sync answers do not queue on a mutex to leave.
 * 0, or -EIO once a sync failed.
 */
static int wait_durable(struct ingest_store *st, uint64_t end)
{
	for (;;) {
		if (atomic_load_explicit(&st->durable, memory_order_acquire) >= end)
			return 0;
		if (atomic_load(&st->failed))
			return -EIO;
		pthread_mutex_lock(&st->dmu);
		if (atomic_load(&st->durable) >= end || atomic_load(&st->failed)) {
			pthread_mutex_unlock(&st->dmu);
			continue;
		}
		if (st->syncing && st->round_target >= end) {
			round_sleep(st, st->round);
			continue;
		}
		if (st->syncing >= SYNC_DEPTH) {
			round_sleep(st, st->round + 1);
			continue;
		}
		uint64_t k = ++st->round;
		st->syncing++;
		st->round_target = atomic_load_explicit(&st->written_pub, memory_order_acquire);
		pthread_mutex_unlock(&st->dmu);
		drain(st);
		uint64_t target = atomic_load_explicit(&st->written_pub, memory_order_acquire);
		int fd = atomic_load_explicit(&st->afd_pub, memory_order_acquire);
		pthread_mutex_lock(&st->dmu);
		if (k == st->round && target > st->round_target)
			st->round_target = target;
		pthread_mutex_unlock(&st->dmu);
		int src = fdatasync(fd);
		pthread_mutex_lock(&st->dmu);
		st->syncing--;
		if (src < 0) {
			atomic_store(&st->failed, 1);
			rounds_wake_all(st);
			continue;
		}
		if (target > atomic_load(&st->durable))
			atomic_store_explicit(&st->durable, target, memory_order_release);
		uint64_t next = st->round + 1;
		atomic_fetch_add(&st->round_word[k % ROUND_WORDS], 1);
		atomic_fetch_add(&st->round_word[next % ROUND_WORDS], 1);
		pthread_mutex_unlock(&st->dmu);
		futex_wake(&st->round_word[k % ROUND_WORDS], INT_MAX);
		futex_wake(&st->round_word[next % ROUND_WORDS], 1);
		prezero(st);
	}
}

int ingest_store_commit(struct ingest_store *st, struct ingest_write *w,
			const struct ingest_submit *sub)
{
	const char *ctype = sub->ctype ? sub->ctype : "";
	size_t ctlen = strlen(ctype);
	uint64_t lsn = 0, end = 0;
	uint32_t slot;
	int rc;
	if (ctlen > INGEST_STORE_CTYPE_MAX)
		return -EINVAL;
	if ((rc = append(st, w, sub, ctype, ctlen, &lsn, &end)) < 0 ||
	    (rc = wait_durable(st, end)) < 0)
		return rc;

	/* Durable: index it and queue it. */
	pthread_rwlock_rdlock(&st->seg_rw);
	struct seg *sg = seg_find(st, LSN_SEG(lsn));
	if (sg)
		newest_note(sg, sub->received_at);
	pthread_rwlock_unlock(&st->seg_rw);
	pthread_mutex_lock(&st->imu);
	rc = entry_add(st, sub->id, lsn, (uint16_t)ctlen, w->total, sub->received_at, &slot);
	if (rc == 0) {
		struct entry *e = &st->ents[slot];
		if (sub->status == INGEST_REJECTED) {
			struct ingest_outcome o = { .status = INGEST_REJECTED };
			const char *errs = sub->errors ? sub->errors : "[]";
			entry_set_outcome(st, e, &o, errs, strlen(errs));
		}
		rc = queue_push(st, slot, lsn);
		if (rc < 0)
			entry_remove(st, slot);
	}
	pthread_mutex_unlock(&st->imu);
	return rc;
}

/* ---- reading ---- */

static void info_fill(const struct entry *e, struct ingest_info *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->id, e->id, 16);
	out->status = (enum ingest_status)e->status;
	out->received_at = e->received_at;
	out->processed_at = e->processed_at;
	out->body_len = e->body_len;
	out->ts_sec = e->ts_sec;
	out->ts_nsec = e->ts_nsec;
	out->ts_frac = e->ts_frac;
	out->count = e->count;
	out->mean = e->mean;
	out->std = e->std;
}

int ingest_store_get(struct ingest_store *st, const uint8_t id[16], struct ingest_info *out)
{
	int rc = 0;
	pthread_mutex_lock(&st->imu);
	struct entry *e = lookup(st, id);
	if (!e) {
		rc = -ENOENT;
		goto out;
	}
	info_fill(e, out);
	if (e->errors && (e->status == INGEST_REJECTED || e->status == INGEST_FAILED))
		out->errors = strdup(e->errors);
out:
	pthread_mutex_unlock(&st->imu);
	return rc;
}

void ingest_raw_release(struct ingest_raw *r)
{
	if (r->map)
		munmap(r->map, r->maplen);
	r->map = NULL;
	r->body = NULL;
}

int ingest_store_raw(struct ingest_store *st, const uint8_t id[16], struct ingest_raw *out)
{
	int rc = 0;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->imu);
	struct entry *e = lookup(st, id);
	uint64_t lsn = e ? e->lsn : 0, body_len = e ? e->body_len : 0;
	uint16_t ctlen = e ? e->ctlen : 0;
	pthread_mutex_unlock(&st->imu);
	if (!e)
		return -ENOENT;
	uint64_t off = LSN_OFF(lsn), reclen = HDR + ctlen + body_len;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t base = off & ~(page - 1);
	if (reclen > SIZE_MAX - (off - base))
		return -EIO;
	out->maplen = (size_t)(off - base + reclen);
	pthread_rwlock_rdlock(&st->seg_rw);
	struct seg *sg = seg_find(st, LSN_SEG(lsn));
	void *map = sg ? mmap(NULL, out->maplen, PROT_READ, MAP_SHARED, sg->fd, (off_t)base)
		       : MAP_FAILED;
	pthread_rwlock_unlock(&st->seg_rw);
	if (map == MAP_FAILED)
		return sg ? -EIO : -ENOENT;
	out->map = map;
	madvise(map, out->maplen, MADV_SEQUENTIAL);
	const unsigned char *h = (const unsigned char *)map + (off - base);
	struct hdr hd;
	if (hdr_decode(h, &hd) < 0 || hd.ctlen != ctlen || hd.body_len != body_len ||
	    memcmp(hd.id, id, 16) != 0 || hdr_check(h, (const char *)h + HDR, ctlen) < 0) {
		rc = -EIO;
		goto out;
	}
	if (hd.flags & REC_DELETED) {
		rc = -ENOENT;
		goto out;
	}
	out->body = (const char *)h + HDR + ctlen;
	out->len = body_len;
	if (ingest_crc32(0, out->body, body_len) != hd.body_crc) {
		rc = -EIO;
		goto out;
	}
	memcpy(out->ctype, h + HDR, ctlen);
	out->ctype[ctlen] = '\0';
out:
	if (rc < 0)
		ingest_raw_release(out);
	return rc;
}

static int in_range(const struct entry *e, const struct ingest_range *r)
{
	if (!r)
		return 1;
	if (r->has_from && (e->ts_sec < r->from_sec ||
			    (e->ts_sec == r->from_sec && e->ts_nsec < r->from_nsec)))
		return 0;
	if (r->has_to && (e->ts_sec > r->to_sec ||
			  (e->ts_sec == r->to_sec && e->ts_nsec >= r->to_nsec)))
		return 0;
	return 1;
}

size_t ingest_store_results(struct ingest_store *st, const struct ingest_range *range,
			    size_t offset, struct ingest_info *rows, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&st->imu);
	for (size_t i = st->nres; i-- > 0 && n < max;) {
		const struct entry *e = &st->ents[st->res[i]];
		if (!in_range(e, range))
			continue;
		if (offset) {
			offset--;
			continue;
		}
		info_fill(e, &rows[n++]);
	}
	pthread_mutex_unlock(&st->imu);
	return n;
}

void ingest_store_counts(struct ingest_store *st, struct ingest_counts *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->imu);
	memcpy(out->by_status, st->counts, sizeof(out->by_status));
	out->queued = st->qlen + st->inflight;
	pthread_mutex_unlock(&st->imu);
	pthread_rwlock_rdlock(&st->seg_rw);
	out->segments = (uint32_t)st->nsegs;
	pthread_rwlock_unlock(&st->seg_rw);
	out->raw_bytes = atomic_load(&st->raw_bytes);
	pthread_mutex_lock(&st->rmu);
	out->results_bytes = st->rsize;
	pthread_mutex_unlock(&st->rmu);
	out->failed = atomic_load(&st->failed);
	out->torn_cut = st->torn_cut;
	out->torn_bytes = st->torn_bytes;
	out->damaged = st->damaged;
}

/* ---- the processor ---- */

size_t ingest_store_queued(struct ingest_store *st)
{
	pthread_mutex_lock(&st->imu);
	size_t n = st->qlen;
	pthread_mutex_unlock(&st->imu);
	return n;
}

size_t ingest_store_take(struct ingest_store *st, struct ingest_job *jobs, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&st->imu);
	while (n < max && st->qlen) {
		struct qitem q = st->queue[st->qhead];
		st->qhead = (st->qhead + 1) % st->qcap;
		st->qlen--;
		const struct entry *e = &st->ents[q.slot];
		if (!e->live || e->lsn != q.lsn)
			continue; /* deleted or pruned meanwhile */
		struct ingest_job *j = &jobs[n++];
		memcpy(j->id, e->id, 16);
		j->lsn = e->lsn;
		j->slot = q.slot;
		j->ctlen = e->ctlen;
		j->body_len = e->body_len;
		j->received_at = e->received_at;
	}
	st->inflight += n;
	pthread_mutex_unlock(&st->imu);
	return n;
}

/* Read a record at LSN from its segment (seg_rw read-held by the caller). */
static int read_record(struct ingest_store *st, const struct ingest_job *job, char *ctype,
		       int (*fn)(void *ud, const char *buf, size_t len), void *ud)
{
	unsigned char buf[READ_BUF];
	struct seg *sg = seg_find(st, LSN_SEG(job->lsn));
	if (!sg)
		return -EIO;
	uint64_t off = LSN_OFF(job->lsn);
	size_t head = HDR + job->ctlen;
	uint64_t total = head + job->body_len;
	size_t first = total < sizeof(buf) ? (size_t)total : sizeof(buf);
	int rc = pread_all(sg->fd, buf, first, off);
	if (rc < 0)
		return -EIO;
	struct hdr hd;
	if (hdr_decode(buf, &hd) < 0 || hd.ctlen != job->ctlen || hd.body_len != job->body_len ||
	    memcmp(hd.id, job->id, 16) != 0 || hdr_check(buf, (char *)buf + HDR, hd.ctlen) < 0)
		return -EBADMSG;
	memcpy(ctype, buf + HDR, hd.ctlen);
	ctype[hd.ctlen] = '\0';
	uint32_t crc = 0;
	size_t have = first - head;
	uint64_t pos = off + first, left = job->body_len - have;
	const char *chunk = (const char *)buf + head;
	for (;;) {
		crc = ingest_crc32(crc, chunk, have);
		if (fn && have && (rc = fn(ud, chunk, have)) != 0)
			return rc;
		if (!left)
			break;
		have = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		if (pread_all(sg->fd, buf, have, pos) < 0)
			return -EIO;
		pos += have;
		left -= have;
		chunk = (const char *)buf;
	}
	return crc == hd.body_crc ? 0 : -EBADMSG;
}

int ingest_store_read(struct ingest_store *st, const struct ingest_job *job, char *ctype,
		      int (*fn)(void *ud, const char *buf, size_t len), void *ud)
{
	pthread_rwlock_rdlock(&st->seg_rw);
	int rc = read_record(st, job, ctype, fn, ud);
	pthread_rwlock_unlock(&st->seg_rw);
	return rc;
}

int ingest_store_done(struct ingest_store *st, const struct ingest_job *jobs,
		      const struct ingest_outcome *outs, size_t n)
{
	int rc = 0;
	size_t cap = 0, len = 0;
	for (size_t i = 0; i < n; i++)
		cap += LOG_ENTRY + (outs[i].errors ? strlen(outs[i].errors) : 0);
	unsigned char *buf = malloc(cap ? cap : 1);
	pthread_mutex_lock(&st->rmu);
	pthread_mutex_lock(&st->imu);
	for (size_t i = 0; i < n; i++) {
		struct entry *e = &st->ents[jobs[i].slot];
		if (!e->live || e->lsn != jobs[i].lsn)
			continue;
		const char *errs = outs[i].status == INGEST_PROCESSED ? NULL : outs[i].errors;
		size_t elen = errs ? strlen(errs) : 0;
		entry_set_outcome(st, e, &outs[i], errs, elen);
		if (outs[i].status == INGEST_PROCESSED && res_push(st, jobs[i].slot) < 0)
			rc = -ENOMEM;
		if (buf) {
			len += log_encode(buf + len, jobs[i].id, jobs[i].lsn, &outs[i]);
			st->rentries++;
		}
	}
	st->inflight -= n;
	pthread_mutex_unlock(&st->imu);
	if (!buf) {
		rc = -ENOMEM;
	} else if (len) {
		int wrc = pwrite_all(st->rfd, buf, len, st->rsize);
		if (wrc < 0) {
			/* Drop the partial tail; those outcomes are recomputed on restart. */
			if (ftruncate(st->rfd, (off_t)st->rsize) < 0)
				wrc = -EIO;
			rc = -EIO;
		} else {
			st->rsize += len;
			st->rdirty = 1;
		}
	}
	pthread_mutex_unlock(&st->rmu);
	free(buf);
	return rc;
}

int ingest_store_sync(struct ingest_store *st)
{
	int rc = 0;
	pthread_mutex_lock(&st->rmu);
	if (st->rdirty) {
		if (fdatasync(st->rfd) < 0)
			rc = -EIO;
		else
			st->rdirty = 0;
	}
	pthread_mutex_unlock(&st->rmu);
	return rc;
}

/* ---- removal ---- */

int ingest_store_delete(struct ingest_store *st, const uint8_t id[16])
{
	int rc = 0;
	pthread_mutex_lock(&st->imu);
	struct entry *e = lookup(st, id);
	uint64_t lsn = e ? e->lsn : 0, body_len = e ? e->body_len : 0;
	uint16_t ctlen = e ? e->ctlen : 0;
	if (e)
		entry_remove(st, (uint32_t)(e - st->ents));
	pthread_mutex_unlock(&st->imu);
	if (!e)
		return -ENOENT;
	pthread_rwlock_rdlock(&st->seg_rw);
	struct seg *sg = seg_find(st, LSN_SEG(lsn));
	if (!sg) {
		rc = -EIO;
		goto out;
	}
	uint64_t off = LSN_OFF(lsn);
	unsigned char flags;
	if (pread_all(sg->fd, &flags, 1, off + 5) < 0) {
		rc = -EIO;
		goto out;
	}
	flags |= REC_DELETED;
	if (pwrite_all(sg->fd, &flags, 1, off + 5) < 0 || fdatasync(sg->fd) < 0) {
		rc = -EIO;
		goto out;
	}
	uint64_t boff = off + HDR + ctlen;
	if (body_len && fallocate(sg->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)boff, (off_t)body_len) < 0) {
		/* No hole punching here: overwrite with zeros. */
		static const char zeros[4096];
		for (uint64_t done = 0; done < body_len && rc == 0;) {
			size_t n = body_len - done < sizeof(zeros) ? (size_t)(body_len - done)
								   : sizeof(zeros);
			rc = pwrite_all(sg->fd, zeros, n, boff + done);
			done += n;
		}
	}
	if (rc == 0 && fdatasync(sg->fd) < 0)
		rc = -EIO;
out:
	pthread_rwlock_unlock(&st->seg_rw);
	return rc;
}

int ingest_store_prune(struct ingest_store *st, int64_t cutoff, uint64_t *removed)
{
	uint64_t n = 0;
	int rc = 0;
	pthread_mutex_lock(&st->wmu);
	uint32_t active = st->ano;
	pthread_mutex_unlock(&st->wmu);
	pthread_rwlock_wrlock(&st->seg_rw);
	size_t keep = 0, gone = 0;
	for (size_t i = 0; i < st->nsegs; i++)
		if (st->segs[i].no < active && newest_get(&st->segs[i]) < cutoff)
			gone++;
	if (gone) {
		pthread_mutex_lock(&st->imu);
		for (uint32_t s = 0; s < st->nents; s++) {
			struct entry *e = &st->ents[s];
			if (!e->live)
				continue;
			struct seg *sg = seg_find(st, LSN_SEG(e->lsn));
			if (sg && sg->no < active && newest_get(sg) < cutoff) {
				entry_remove(st, s);
				n++;
			}
		}
		pthread_mutex_unlock(&st->imu);
		for (size_t i = 0; i < st->nsegs; i++) {
			struct seg *sg = &st->segs[i];
			if (sg->no < active && newest_get(sg) < cutoff) {
				char name[64];
				seg_name(sg->no, name, sizeof(name));
				if (unlinkat(st->dirfd, name, 0) < 0)
					rc = -EIO;
				atomic_fetch_sub(&st->raw_bytes, sg->size);
				close(sg->fd);
				continue;
			}
			st->segs[keep++] = *sg;
		}
		st->nsegs = keep;
		if (fsync(st->dirfd) < 0)
			rc = -EIO;
	}
	pthread_rwlock_unlock(&st->seg_rw);
	if (removed)
		*removed = n;
	if (rc == 0)
		rc = ingest_store_compact(st);
	return rc;
}

int ingest_store_compact(struct ingest_store *st)
{
	int rc = 0, fd = -1;
	unsigned char *buf = NULL;
	char tmpname[] = LOG_NAME ".tmp";
	pthread_mutex_lock(&st->rmu);
	pthread_mutex_lock(&st->imu);
	uint64_t live = st->counts[INGEST_PROCESSED] + st->counts[INGEST_REJECTED] +
			st->counts[INGEST_FAILED];
	pthread_mutex_unlock(&st->imu);
	if (st->rentries <= 2 * live + 1024)
		goto out;
	fd = openat(st->dirfd, tmpname, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = -EIO;
		goto out;
	}
	size_t bufcap = 4 << 20;
	buf = malloc(bufcap);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	uint64_t size = 0, entries = 0;
	uint32_t s = 0;
	for (;;) {
		size_t len = 0;
		pthread_mutex_lock(&st->imu);
		uint32_t nents = st->nents;
		for (; s < nents; s++) {
			const struct entry *e = &st->ents[s];
			if (!e->live || e->status == INGEST_ACCEPTED)
				continue;
			size_t elen = e->errors ? strlen(e->errors) : 0;
			if (elen > INGEST_STORE_ERRORS_MAX)
				elen = 0;
			if (len + LOG_ENTRY + elen > bufcap)
				break;
			struct ingest_outcome o = {
				.status = (enum ingest_status)e->status,
				.processed_at = e->processed_at,
				.ts_sec = e->ts_sec,
				.ts_nsec = e->ts_nsec,
				.ts_frac = e->ts_frac,
				.count = e->count,
				.mean = e->mean,
				.std = e->std,
				.errors = elen ? e->errors : NULL,
			};
			len += log_encode(buf + len, e->id, e->lsn, &o);
			entries++;
		}
		pthread_mutex_unlock(&st->imu);
		if (len && pwrite_all(fd, buf, len, size) < 0) {
			rc = -EIO;
			goto out;
		}
		size += len;
		if (s >= nents)
			break;
	}
	if (fdatasync(fd) < 0 || renameat(st->dirfd, tmpname, st->dirfd, LOG_NAME) < 0 ||
	    fsync(st->dirfd) < 0) {
		rc = -EIO;
		goto out;
	}
	close(st->rfd);
	st->rfd = fd;
	fd = -1;
	st->rsize = size;
	st->rentries = entries;
	st->rdirty = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlinkat(st->dirfd, tmpname, 0);
	}
	pthread_mutex_unlock(&st->rmu);
	free(buf);
	return rc;
}

/* ---- open: rebuild the index ---- */

static int name_to_seg(const char *name, uint32_t *no)
{
	unsigned long v;
	char tail[8];
	if (sscanf(name, "raw-%lu%7s", &v, tail) != 2 || strcmp(tail, ".seg") != 0 ||
	    v == 0 || v > (1ul << 23))
		return -1;
	*no = (uint32_t)v;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* A damaged place found while scanning. */
struct bad {
	uint64_t lsn;
	int header;       /* 1: the header is unreadable (the rest of the segment too) */
	uint32_t slot;    /* header == 0: the entry whose body is damaged */
};

struct badlist {
	struct bad *v;
	size_t n, cap;
};

static int bad_add(struct badlist *b, uint64_t lsn, int header, uint32_t slot)
{
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16;
		struct bad *nv = realloc(b->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		b->v = nv;
		b->cap = ncap;
	}
	b->v[b->n++] = (struct bad){ lsn, header, slot };
	return 0;
}

/*
 * Whether SG ends at OFF with zeros only, the space a fill made ready
 * (P holds the AVAIL bytes from OFF that the caller read).  If so, cut them
 * off and return 1; 0 if not; -EIO.  A header that is zeros but has data
 * somewhere after it is not an end: the caller sees a bad header.
 */
static int zero_tail(struct seg *sg, uint64_t off, const unsigned char *p, uint64_t avail)
{
	unsigned char chunk[4096];
	uint64_t n = avail < HDR ? avail : HDR;
	for (uint64_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	for (uint64_t at = off; at < sg->size;) {
		size_t k = sg->size - at < sizeof(chunk) ? (size_t)(sg->size - at) : sizeof(chunk);
		if (pread_all(sg->fd, chunk, k, at) < 0)
			return -EIO;
		for (size_t i = 0; i < k; i++)
			if (chunk[i])
				return 0;
		at += k;
	}
	if (ftruncate(sg->fd, (off_t)off) < 0)
		return -EIO;
	sg->size = off;
	return 1;
}

/* Index the records of segment SG; a bad header goes into BADS. */
static int scan_segment(struct ingest_store *st, struct seg *sg, unsigned char *buf,
			struct badlist *bads)
{
	uint64_t off = 0, wstart = 0, wlen = 0;
	while (off < sg->size) {
		uint64_t left = sg->size - off;
		size_t need = HDR + INGEST_STORE_CTYPE_MAX;
		if (need > left)
			need = (size_t)left;
		if (off < wstart || off + need > wstart + wlen) {
			size_t n = left < SCAN_BUF ? (size_t)left : SCAN_BUF;
			if (pread_all(sg->fd, buf, n, off) < 0)
				return -EIO;
			wstart = off;
			wlen = n;
		}
		const unsigned char *h = buf + (off - wstart);
		struct hdr hd;
		int zrc = zero_tail(sg, off, buf + (off - wstart), wstart + wlen - off);
		if (zrc < 0)
			return zrc;
		if (zrc == 1)
			break;
		if (left < HDR || hdr_decode(h, &hd) < 0 || HDR + hd.ctlen > left ||
		    hdr_check(h, (const char *)h + HDR, hd.ctlen) < 0 ||
		    hd.body_len > left - HDR - hd.ctlen)
			return bad_add(bads, LSN(sg->no, off), 1, 0);
		if (!(hd.flags & (REC_VOID | REC_DELETED)) && !lookup(st, hd.id)) {
			uint32_t slot;
			if (entry_add(st, hd.id, LSN(sg->no, off), hd.ctlen, hd.body_len,
				      hd.received_at, &slot) < 0)
				return -ENOMEM;
			newest_note(sg, hd.received_at);
		}
		off += HDR + hd.ctlen + hd.body_len;
	}
	return 0;
}

/* Apply the results log to the index; truncate a torn tail.  *MAX_LSN gets
 * the largest LSN with an outcome. */
static int load_results(struct ingest_store *st, uint64_t *max_lsn)
{
	struct stat sb;
	int rc = 0;
	unsigned char *buf = NULL;
	if (fstat(st->rfd, &sb) < 0)
		return -EIO;
	uint64_t size = (uint64_t)sb.st_size, off = 0, wstart = 0, wlen = 0;
	size_t cap = SCAN_BUF;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	*max_lsn = 0;
	while (off < size) {
		uint64_t left = size - off;
		if (left < LOG_ENTRY)
			break;
		if (off < wstart || off + LOG_ENTRY > wstart + wlen) {
			size_t n = left < cap ? (size_t)left : cap;
			if (pread_all(st->rfd, buf, n, off) < 0) {
				rc = -EIO;
				goto out;
			}
			wstart = off;
			wlen = n;
		}
		const unsigned char *p = buf + (off - wstart);
		uint32_t elen = get32(p + 8);
		if (get32(p) != LOG_MAGIC || elen > INGEST_STORE_ERRORS_MAX ||
		    LOG_ENTRY + elen > left)
			break;
		if (off + LOG_ENTRY + elen > wstart + wlen) {
			size_t n = left < cap ? (size_t)left : cap;
			if (pread_all(st->rfd, buf, n, off) < 0) {
				rc = -EIO;
				goto out;
			}
			wstart = off;
			wlen = n;
			p = buf;
		}
		uint32_t c = ingest_crc32(0, p, 12);
		c = ingest_crc32(c, p + 16, LOG_ENTRY - 16 + elen);
		int status = p[4];
		if (c != get32(p + 12) || status < INGEST_PROCESSED || status > INGEST_FAILED)
			break;
		uint64_t lsn = get64(p + 32);
		struct entry *e = lookup(st, p + 16);
		if (e && e->lsn == lsn) {
			struct ingest_outcome o = {
				.status = (enum ingest_status)status,
				.processed_at = (int64_t)get64(p + 40),
				.ts_sec = (int64_t)get64(p + 48),
				.ts_nsec = (int32_t)get32(p + 56),
				.ts_frac = p[5],
				.count = get64(p + 64),
				.mean = bitsd(get64(p + 72)),
				.std = bitsd(get64(p + 80)),
			};
			entry_set_outcome(st, e, &o, (const char *)p + LOG_ENTRY, elen);
			if (lsn > *max_lsn)
				*max_lsn = lsn;
		}
		st->rentries++;
		off += LOG_ENTRY + elen;
	}
	if (off < size && ftruncate(st->rfd, (off_t)off) < 0)
		rc = -EIO;
	st->rsize = off;
out:
	free(buf);
	return rc;
}

/* Check the body CRC of a pending entry. */
static int verify_entry(struct ingest_store *st, uint32_t slot)
{
	char ctype[INGEST_STORE_CTYPE_MAX + 1];
	const struct entry *e = &st->ents[slot];
	struct ingest_job j = { .lsn = e->lsn, .slot = slot, .ctlen = e->ctlen,
				.body_len = e->body_len, .received_at = e->received_at };
	memcpy(j.id, e->id, 16);
	return read_record(st, &j, ctype, NULL, NULL);
}

static int open_segments(struct ingest_store *st, char *err, size_t errlen)
{
	int rc = 0;
	uint32_t *nos = NULL;
	size_t n = 0, cap = 0;
	int dfd = dup(st->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		snprintf(err, errlen, "cannot list '%s': %s", st->dir, strerror(errno));
		return -EIO;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		uint32_t no;
		if (name_to_seg(de->d_name, &no) < 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			uint32_t *nn = realloc(nos, ncap * sizeof(*nn));
			if (!nn) {
				rc = -ENOMEM;
				goto out;
			}
			nos = nn;
			cap = ncap;
		}
		nos[n++] = no;
	}
	if (n)
		qsort(nos, n, sizeof(*nos), cmp_u32);
	for (size_t i = 0; i < n; i++) {
		char name[64];
		struct stat sb;
		seg_name(nos[i], name, sizeof(name));
		int fd = openat(st->dirfd, name, O_RDWR | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0) {
			snprintf(err, errlen, "cannot open '%s/%s': %s", st->dir, name,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			rc = -EIO;
			goto out;
		}
		if ((rc = seg_append(st, nos[i], fd, (uint64_t)sb.st_size)) < 0) {
			close(fd);
			goto out;
		}
	}
out:
	closedir(d);
	free(nos);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory listing '%s'", st->dir);
	return rc;
}

/*
 * Cut everything from LSN T on: truncate its segment there and remove later
 * segments and the entries in them (all pending: never acknowledged).
 */
static int cut_tail(struct ingest_store *st, uint64_t t)
{
	int rc = 0;
	for (uint32_t s = 0; s < st->nents; s++)
		if (st->ents[s].live && st->ents[s].lsn >= t) {
			entry_remove(st, s);
			st->torn_cut++;
		}
	size_t keep = 0;
	for (size_t i = 0; i < st->nsegs; i++) {
		struct seg *sg = &st->segs[i];
		if (sg->no > LSN_SEG(t))
			st->torn_bytes += sg->size;
		else if (sg->no == LSN_SEG(t))
			st->torn_bytes += sg->size - LSN_OFF(t);
		if (sg->no > LSN_SEG(t)) {
			char name[64];
			seg_name(sg->no, name, sizeof(name));
			close(sg->fd);
			if (unlinkat(st->dirfd, name, 0) < 0)
				rc = -EIO;
			continue;
		}
		if (sg->no == LSN_SEG(t)) {
			if (ftruncate(sg->fd, (off_t)LSN_OFF(t)) < 0 || fdatasync(sg->fd) < 0)
				rc = -EIO;
			sg->size = LSN_OFF(t);
		}
		st->segs[keep++] = *sg;
	}
	st->nsegs = keep;
	if (fsync(st->dirfd) < 0)
		rc = -EIO;
	return rc;
}

static int rebuild(struct ingest_store *st, char *err, size_t errlen)
{
	int rc = 0;
	struct badlist bads = { 0 };
	uint64_t max_lsn = 0;
	unsigned char *buf = malloc(SCAN_BUF);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < st->nsegs; i++)
		if ((rc = scan_segment(st, &st->segs[i], buf, &bads)) < 0) {
			snprintf(err, errlen, "cannot read segment %u in '%s'", st->segs[i].no,
				 st->dir);
			goto out;
		}
	if ((rc = load_results(st, &max_lsn)) < 0) {
		snprintf(err, errlen, "cannot read '%s/" LOG_NAME "'", st->dir);
		goto out;
	}
	/* Bodies of pending submissions (the only ones a crash can have torn). */
	for (uint32_t s = 0; s < st->nents; s++) {
		if (!st->ents[s].live || st->ents[s].status != INGEST_ACCEPTED)
			continue;
		if (verify_entry(st, s) < 0 && (rc = bad_add(&bads, st->ents[s].lsn, 0, s)) < 0)
			goto out;
	}
	/* The torn tail: the first damage past every record with an outcome. */
	uint64_t cut = UINT64_MAX;
	for (size_t i = 0; i < bads.n; i++)
		if (bads.v[i].lsn > max_lsn && bads.v[i].lsn < cut)
			cut = bads.v[i].lsn;
	if (cut != UINT64_MAX && (rc = cut_tail(st, cut)) < 0) {
		snprintf(err, errlen, "cannot truncate a torn segment in '%s'", st->dir);
		goto out;
	}
	/* Damage before it: mark those failed, and keep appends away from it. */
	uint32_t damaged_seg = 0;
	for (size_t i = 0; i < bads.n; i++) {
		struct bad *b = &bads.v[i];
		if (b->lsn >= cut)
			continue;
		if (b->header) {
			damaged_seg = LSN_SEG(b->lsn) > damaged_seg ? LSN_SEG(b->lsn) : damaged_seg;
			continue;
		}
		struct entry *e = &st->ents[b->slot];
		if (!e->live || e->lsn != b->lsn)
			continue;
		struct ingest_outcome o = { .status = INGEST_FAILED };
		struct ingest_job j = { .lsn = e->lsn, .slot = b->slot };
		memcpy(j.id, e->id, 16);
		entry_set_outcome(st, e, &o, DAMAGED_ERRORS, strlen(DAMAGED_ERRORS));
		st->damaged++;
		o.errors = DAMAGED_ERRORS;
		unsigned char ent[LOG_ENTRY + sizeof(DAMAGED_ERRORS)];
		size_t len = log_encode(ent, j.id, j.lsn, &o);
		if (pwrite_all(st->rfd, ent, len, st->rsize) == 0) {
			st->rsize += len;
			st->rentries++;
			st->rdirty = 1;
		}
	}
	/* Queue the pending ones and list the processed ones, in LSN order (the
	 * scan added them in that order). */
	for (uint32_t s = 0; s < st->nents; s++) {
		struct entry *e = &st->ents[s];
		if (!e->live)
			continue;
		if (e->status == INGEST_ACCEPTED)
			rc = queue_push(st, s, e->lsn);
		else if (e->status == INGEST_PROCESSED)
			rc = res_push(st, s);
		if (rc < 0)
			goto out;
	}
	/* The active segment: the last one unless it is damaged or full. */
	struct seg *last = st->nsegs ? &st->segs[st->nsegs - 1] : NULL;
	if (last && last->no != damaged_seg && last->size < st->segment_max) {
		st->ano = last->no;
		st->afd = last->fd;
		st->asize = last->size;
		if (fdatasync(last->fd) < 0) {
			rc = -EIO;
			snprintf(err, errlen, "cannot sync '%s'", st->dir);
			goto out;
		}
	} else {
		uint32_t no = last ? last->no + 1 : 1;
		int fd = seg_create(st, no);
		if (fd < 0 || (rc = seg_append(st, no, fd, 0)) < 0) {
			if (fd >= 0)
				close(fd);
			rc = -EIO;
			snprintf(err, errlen, "cannot create a segment in '%s'", st->dir);
			goto out;
		}
		st->ano = no;
		st->afd = fd;
		st->asize = 0;
	}
	atomic_store(&st->durable, LSN(st->ano, st->asize));
	atomic_store(&st->afd_pub, st->afd);
	publish(st);
	uint64_t bytes = 0;
	for (size_t i = 0; i < st->nsegs; i++)
		bytes += st->segs[i].size;
	atomic_store(&st->raw_bytes, bytes);
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory indexing '%s'", st->dir);
	free(bads.v);
	free(buf);
	return rc;
}

struct ingest_store *ingest_store_open(const char *dir, const struct ingest_store_opts *opts,
				       char *err, size_t errlen)
{
	struct ingest_store *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory opening the ingest store");
		return NULL;
	}
	st->dirfd = -1;
	st->rfd = -1;
	st->afd = -1;
	st->fail_lsn = UINT64_MAX;
	pthread_rwlock_init(&st->seg_rw, NULL);
	pthread_mutex_init(&st->wmu, NULL);
	pthread_mutex_init(&st->dmu, NULL);
	pthread_mutex_init(&st->imu, NULL);
	pthread_mutex_init(&st->rmu, NULL);
	pthread_cond_init(&st->big_cv, NULL);
	st->segment_max = opts && opts->segment_max ? opts->segment_max
						    : INGEST_STORE_SEGMENT_DEFAULT;
	if (st->segment_max > OFF_MAX)
		st->segment_max = OFF_MAX;
	if (snprintf(st->dir, sizeof(st->dir), "%s", dir) >= (int)sizeof(st->dir)) {
		snprintf(err, errlen, "ingest store path too long");
		goto fail;
	}
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		snprintf(err, errlen, "cannot open ingest store '%s': %s", dir, strerror(errno));
		goto fail;
	}
	unlinkat(st->dirfd, LOG_NAME ".tmp", 0); /* an interrupted compaction */
	st->rfd = openat(st->dirfd, LOG_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (st->rfd < 0) {
		snprintf(err, errlen, "cannot open '%s/" LOG_NAME "': %s", dir, strerror(errno));
		goto fail;
	}
	if (open_segments(st, err, errlen) < 0)
		goto fail;
	if (rebuild(st, err, errlen) < 0)
		goto fail;
	if (ingest_store_sync(st) < 0) {
		snprintf(err, errlen, "cannot sync '%s/" LOG_NAME "'", dir);
		goto fail;
	}
	return st;
fail:
	ingest_store_close(st);
	return NULL;
}

void ingest_store_close(struct ingest_store *st)
{
	if (!st)
		return;
	if (st->afd >= 0 && st->zend > st->asize && ftruncate(st->afd, (off_t)st->asize) == 0)
		fdatasync(st->afd);
	for (size_t i = 0; i < st->nsegs; i++)
		close(st->segs[i].fd);
	if (st->rfd >= 0) {
		if (st->rdirty)
			fdatasync(st->rfd);
		close(st->rfd);
	}
	if (st->dirfd >= 0)
		close(st->dirfd);
	for (uint32_t s = 0; s < st->nents; s++)
		free(st->ents[s].errors);
	free(st->ents);
	free(st->freel);
	free(st->hash);
	free(st->res);
	free(st->queue);
	free(st->segs);
	free(st->wb);
	for (int i = 0; i < st->nspare; i++)
		free(st->wb_spare[i]);
	pthread_cond_destroy(&st->big_cv);
	pthread_mutex_destroy(&st->rmu);
	pthread_mutex_destroy(&st->imu);
	pthread_mutex_destroy(&st->wmu);
	pthread_mutex_destroy(&st->dmu);
	pthread_rwlock_destroy(&st->seg_rw);
	free(st);
}
