/*
 * plugins/ingest/store.h - durable storage of ingest submissions.
 *
 * On disk, in one directory:
 *
 *   raw-000001.seg, raw-000002.seg, ...   the raw bodies, append-only.  Each
 *       record is a 48-byte header (magic, version, flags, content type
 *       length, body length, received_at, submission id, body CRC-32, header
 *       CRC-32), the content type, then the body exactly as sent.  A segment
 *       is closed and a new one started once it would grow past segment_max.
 *   results.log   append-only outcomes: processed (time stamp, mean, std,
 *       count), rejected or failed (the errors as JSON text), and deletion
 *       tombstones; each entry with its own CRC-32.
 *
 * The raw segments are the source of truth.  A submission is acknowledged
 * (ingest_store_commit returns) only once its record is on disk: appends go
 * under one mutex into a write buffer, and a committer that no sync under
 * way covers becomes a leader: it writes the buffer in one pwrite,
 * fdatasyncs the segment and wakes every committer whose record it covered
 * (group commit: one write and one sync per batch, not per request).  The
 * active segment is kept zero-filled ahead of the appends, so that a sync
 * writes data pages only; the zeros are cut off at roll, close and open.
 * The durable point only advances over records written in full, in order,
 * so after a crash the records past the last acknowledged one are the only
 * ones that can be torn.
 *
 * Bodies of up to INGEST_STORE_STAGE_MAX bytes are staged in memory while
 * they arrive; larger ones spill to an unnamed temporary file in the same
 * directory and are copied into the segment at commit (outside the mutex;
 * the durable point waits for the copy).
 *
 * The results log is synced in batches (ingest_store_sync); losing its tail
 * loses nothing: submissions without an outcome are queued again at open and
 * processed from their raw bytes.
 *
 * Open rebuilds the in-memory index from the segments and the results log.
 * A record past the last one with an outcome whose header or body CRC does
 * not check out is a torn write from a crash (it was never acknowledged): the
 * segment is truncated there and later segments removed.  A damaged record
 * before that point is kept and marked failed.
 *
 * Memory: about 120 bytes per submission in the index, plus the errors of
 * rejected ones.  Files: one descriptor per segment.
 *
 * Threads: every function may be called from any thread, concurrently,
 * except open and close.
 */
#ifndef INGEST_STORE_H
#define INGEST_STORE_H

#include <stddef.h>
#include <stdint.h>

#define INGEST_STORE_CTYPE_MAX 1024                 /* bytes of a content type */
#define INGEST_STORE_STAGE_MAX (256 * 1024)         /* staged in memory up to this */
#define INGEST_STORE_SEGMENT_DEFAULT (256ull << 20) /* roll segments at this size */
#define INGEST_STORE_ERRORS_MAX (64 * 1024)         /* bytes of an errors text */
#define INGEST_STORE_RECORD_HEADER 48

enum ingest_status {
	INGEST_ACCEPTED = 0,  /* stored, waiting to be processed */
	INGEST_PROCESSED = 1, /* a valid sample with its result */
	INGEST_REJECTED = 2,  /* stored, not a valid sample: see errors */
	INGEST_FAILED = 3,    /* its raw bytes could not be read back */
};
#define INGEST_NSTATUS 4

/* "accepted", "processed", "rejected", "failed". */
const char *ingest_status_name(enum ingest_status s);

struct ingest_store_opts {
	uint64_t segment_max;   /* 0: INGEST_STORE_SEGMENT_DEFAULT */
};

struct ingest_store;

/*
 * Open (creating what is missing) the store in directory DIR, which must
 * exist, and rebuild its index; repairs torn tails as above.  NULL with a
 * message in ERR when the directory or a file cannot be used.
 */
struct ingest_store *ingest_store_open(const char *dir, const struct ingest_store_opts *opts,
				       char *err, size_t errlen);

/* Close; no other call may be running.  NULL does nothing. */
void ingest_store_close(struct ingest_store *st);

/* --- writing ------------------------------------------------------------ */

/* A body being received.  Fill with ingest_write_add; then commit or not;
 * always release. */
struct ingest_write {
	struct ingest_store *st;
	char *buf;        /* staged bytes (malloc'd), until spilled */
	size_t len, cap;
	int fd;           /* the spill file, or -1 */
	uint64_t total;   /* bytes added */
	uint32_t crc;     /* of the bytes added */
};

void ingest_write_init(struct ingest_write *w, struct ingest_store *st);

/* Add the next LEN bytes of the body.  0, or -errno (out of memory, or the
 * spill file cannot be written). */
int ingest_write_add(struct ingest_write *w, const void *buf, size_t len);

/* Free what W holds (its spill file included). */
void ingest_write_release(struct ingest_write *w);

struct ingest_submit {
	uint8_t id[16];
	const char *ctype;          /* as sent, "" when none; at most INGEST_STORE_CTYPE_MAX */
	int64_t received_at;        /* ns since the epoch */
	enum ingest_status status;  /* INGEST_ACCEPTED or INGEST_REJECTED */
	const char *errors;         /* REJECTED: the errors, JSON array text (copied) */
};

/*
 * Store W's body as submission SUB: append it, wait until it is durable,
 * then index it and queue it for the processor.  0; -EINVAL (content type
 * too long); -ENOSPC or -EIO when it cannot be written (nothing is
 * acknowledged); -EIO once a sync has failed (the store takes no more
 * writes: fsync errors are not retried).  W stays the caller's.
 */
int ingest_store_commit(struct ingest_store *st, struct ingest_write *w,
			const struct ingest_submit *sub);

/* --- reading ------------------------------------------------------------ */

struct ingest_info {
	uint8_t id[16];
	enum ingest_status status;
	int64_t received_at;        /* ns since the epoch */
	int64_t processed_at;       /* ns, 0 while accepted */
	uint64_t body_len;
	/* PROCESSED: */
	int64_t ts_sec;             /* the sample's time stamp */
	int32_t ts_nsec;
	int ts_frac;                /* fraction digits it was given with */
	uint64_t count;
	double mean, std;
	/* REJECTED or FAILED (ingest_store_get only): malloc'd JSON array text,
	 * the caller frees it; NULL otherwise. */
	char *errors;
};

/* Look submission ID up.  0, or -ENOENT. */
int ingest_store_get(struct ingest_store *st, const uint8_t id[16], struct ingest_info *out);

/* A raw body, mapped from its segment (no copy). */
struct ingest_raw {
	const char *body;
	uint64_t len;
	char ctype[INGEST_STORE_CTYPE_MAX + 1];
	void *map;
	size_t maplen;
};

/* Map the raw body of ID and check its CRC.  0; -ENOENT; -EIO when it cannot
 * be read or is damaged.  Release with ingest_raw_release. */
int ingest_store_raw(struct ingest_store *st, const uint8_t id[16], struct ingest_raw *out);
void ingest_raw_release(struct ingest_raw *r);

struct ingest_range {
	int has_from, has_to;       /* filter on the sample's time stamp: */
	int64_t from_sec, to_sec;   /* from <= t < to */
	int32_t from_nsec, to_nsec;
};

/*
 * Processed submissions, newest first (in the order they were processed),
 * those whose time stamp is in RANGE (may be NULL), skipping OFFSET, at most
 * MAX into ROWS (errors NULL).  The count.
 */
size_t ingest_store_results(struct ingest_store *st, const struct ingest_range *range,
			    size_t offset, struct ingest_info *rows, size_t max);

struct ingest_counts {
	uint64_t by_status[INGEST_NSTATUS];
	uint64_t queued;            /* accepted or rejected, waiting for the processor */
	uint64_t raw_bytes;         /* bytes of the segments */
	uint64_t results_bytes;     /* bytes of the results log */
	uint32_t segments;
	int failed;                 /* a sync failed: no more writes */
	/* What open repaired: */
	uint64_t torn_cut;          /* unacknowledged records cut from a torn tail */
	uint64_t torn_bytes;        /* bytes cut */
	uint64_t damaged;           /* records found damaged and marked failed */
};

void ingest_store_counts(struct ingest_store *st, struct ingest_counts *out);

/* --- the processor ------------------------------------------------------ */

struct ingest_job {
	uint8_t id[16];
	uint64_t lsn;               /* where its record is */
	uint32_t slot;
	uint16_t ctlen;
	uint64_t body_len;
	int64_t received_at;
};

/* How many submissions are queued (not counting those taken). */
size_t ingest_store_queued(struct ingest_store *st);

/* Take up to MAX queued submissions, oldest first.  The count. */
size_t ingest_store_take(struct ingest_store *st, struct ingest_job *jobs, size_t max);

/*
 * Read JOB's record back: its content type into CTYPE (INGEST_STORE_CTYPE_MAX
 * + 1 bytes), then its body to FN in chunks (FN returns 0 to go on), and
 * check the body's CRC.  0; -EIO when it cannot be read; -EBADMSG when the
 * CRC or header does not match; FN's own non-zero return.
 */
int ingest_store_read(struct ingest_store *st, const struct ingest_job *job, char *ctype,
		      int (*fn)(void *ud, const char *buf, size_t len), void *ud);

struct ingest_outcome {
	enum ingest_status status;  /* PROCESSED, REJECTED or FAILED */
	int64_t processed_at;       /* ns */
	int64_t ts_sec;
	int32_t ts_nsec;
	int ts_frac;
	uint64_t count;
	double mean, std;
	const char *errors;         /* REJECTED, FAILED: JSON array text */
};

/*
 * Record the outcomes of N jobs taken with ingest_store_take: append them to
 * the results log (not synced: see ingest_store_sync) and update the index.
 * Jobs whose submission was deleted meanwhile are skipped.  0, or -EIO when
 * the log cannot be written (the index is updated all the same).
 */
int ingest_store_done(struct ingest_store *st, const struct ingest_job *jobs,
		      const struct ingest_outcome *outs, size_t n);

/* fdatasync the results log if anything was appended since the last time. */
int ingest_store_sync(struct ingest_store *st);

/* --- removal ------------------------------------------------------------ */

/*
 * Delete submission ID: a tombstone in the results log (synced), then its
 * raw body is zeroed on disk (a hole punched).  0, -ENOENT, -EIO.
 */
int ingest_store_delete(struct ingest_store *st, const uint8_t id[16]);

/*
 * Remove every closed segment whose newest record was received before
 * CUTOFF (ns since the epoch), with its submissions; then compact the results
 * log if most of it is dead.  *REMOVED (may be NULL) gets the number of
 * submissions removed.  0 or -EIO.
 */
int ingest_store_prune(struct ingest_store *st, int64_t cutoff, uint64_t *removed);

/* Rewrite the results log with only its live entries when it holds more
 * than twice as many as are live.  0 or -EIO. */
int ingest_store_compact(struct ingest_store *st);

#endif
