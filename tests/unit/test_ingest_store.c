/*
 * Unit tests of the ingest store (plugins/ingest/store.c) and its helpers
 * (crc32.c, uuid.c): append, group commit under concurrency, reopen and
 * rebuild, torn tails truncated, damaged records failed, CRC checks on
 * reads, segment rolling and pruning, deletion, results paging and ranges,
 * results-log compaction and loss.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugins/ingest/crc32.h"
#include "plugins/ingest/early.h"
#include "plugins/ingest/store.h"
#include "plugins/ingest/uuid.h"

struct fx {
	char dir[64];
	struct ingest_store *st;
	struct ingest_store_opts opts;
};

static void rm_rf(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static struct ingest_store *reopen(struct fx *f)
{
	char err[256] = "";
	ingest_store_close(f->st);
	f->st = ingest_store_open(f->dir, &f->opts, err, sizeof(err));
	if (!f->st)
		fail_msg("cannot open store: %s", err);
	return f->st;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ingest-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	reopen(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ingest_store_close(f->st);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* Commit LEN bytes of BODY in pieces of CHUNK; returns the commit's rc. */
static int put(struct ingest_store *st, const void *body, size_t len, size_t chunk,
	       const char *ctype, enum ingest_status status, uint8_t id[16])
{
	struct ingest_write w;
	struct ingest_submit sub = { .ctype = ctype, .received_at = 1000, .status = status,
				     .errors = status == INGEST_REJECTED ? "[\"bad\"]" : NULL };
	assert_int_equal(ingest_uuid_v4(sub.id), 0);
	ingest_write_init(&w, st);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		assert_int_equal(ingest_write_add(&w, (const char *)body + off, n), 0);
	}
	int rc = ingest_store_commit(st, &w, &sub);
	ingest_write_release(&w);
	memcpy(id, sub.id, 16);
	return rc;
}

static void expect_raw(struct ingest_store *st, const uint8_t id[16], const void *body,
		       size_t len, const char *ctype)
{
	struct ingest_raw r;
	assert_int_equal(ingest_store_raw(st, id, &r), 0);
	assert_int_equal(r.len, len);
	assert_memory_equal(r.body, body, len);
	assert_string_equal(r.ctype, ctype);
	ingest_raw_release(&r);
}

static enum ingest_status status_of(struct ingest_store *st, const uint8_t id[16])
{
	struct ingest_info in;
	assert_int_equal(ingest_store_get(st, id, &in), 0);
	free(in.errors);
	return in.status;
}

/* Take every queued job and record it as processed with mean = its index. */
static size_t process_all(struct ingest_store *st)
{
	struct ingest_job jobs[64];
	size_t total = 0, n;
	while ((n = ingest_store_take(st, jobs, 64)) > 0) {
		struct ingest_outcome outs[64];
		for (size_t i = 0; i < n; i++) {
			char ctype[INGEST_STORE_CTYPE_MAX + 1];
			assert_int_equal(ingest_store_read(st, &jobs[i], ctype, NULL, NULL), 0);
			outs[i] = (struct ingest_outcome){ .status = INGEST_PROCESSED,
							   .processed_at = 2000,
							   .ts_sec = (int64_t)(total + i),
							   .count = 1,
							   .mean = (double)(total + i) };
		}
		assert_int_equal(ingest_store_done(st, jobs, outs, n), 0);
		total += n;
	}
	return total;
}

static char *pattern(size_t len, unsigned seed)
{
	char *b = malloc(len);
	for (size_t i = 0; i < len; i++)
		b[i] = (char)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
	return b;
}

static char *seg_path(const struct fx *f, unsigned no)
{
	static char p[128];
	snprintf(p, sizeof(p), "%s/raw-%06u.seg", f->dir, no);
	return p;
}

static long file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void append_bytes(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void poke(const char *path, long off, char c)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* ---- crc32 and uuid ---- */

static void test_crc32(void **state)
{
	(void)state;
	assert_int_equal(ingest_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(ingest_crc32(0, "", 0), 0);
	char *b = pattern(10007, 3);
	uint32_t whole = ingest_crc32(0, b, 10007);
	uint32_t parts = 0;
	for (size_t off = 0; off < 10007; off += 13)
		parts = ingest_crc32(parts, b + off, 10007 - off < 13 ? 10007 - off : 13);
	assert_int_equal(whole, parts);
	b[5000] ^= 1;
	assert_int_not_equal(ingest_crc32(0, b, 10007), whole);
	free(b);
}

static void test_uuid(void **state)
{
	(void)state;
	uint8_t id[16], back[16], prev[16] = { 0 };
	char text[INGEST_UUID_TEXT];
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(ingest_uuid_v4(id), 0);
		ingest_uuid_format(id, text);
		assert_int_equal(strlen(text), 36);
		for (int k = 0; k < 36; k++) {
			if (k == 8 || k == 13 || k == 18 || k == 23)
				assert_int_equal(text[k], '-');
			else
				assert_non_null(strchr("0123456789abcdef", text[k]));
		}
		assert_int_equal(text[14], '4');
		assert_non_null(strchr("89ab", text[19]));
		assert_int_equal(ingest_uuid_parse(text, 36, back), 0);
		assert_memory_equal(id, back, 16);
		assert_memory_not_equal(id, prev, 16);
		memcpy(prev, id, 16);
	}
	assert_int_equal(ingest_uuid_parse("6F9619FF-8B86-D011-B42D-00C04FC964FF", 36, back), 0);
	assert_int_equal(back[0], 0x6f);
	assert_int_equal(ingest_uuid_parse("6f9619ff8b86-d011-b42d-00c04fc964ff0", 36, back),
			 -EINVAL);
	assert_int_equal(ingest_uuid_parse("6f9619ff-8b86-d011-b42d-00c04fc964f", 35, back),
			 -EINVAL);
	assert_int_equal(ingest_uuid_parse("6f9619ff-8b86-d011-b42d-00c04fc964fg", 36, back),
			 -EINVAL);
	/* A forked child does not hand out the ids its parent goes on to. */
	int p[2], status = 0;
	uint8_t child[16];
	assert_int_equal(ingest_uuid_v4(id), 0); /* the pool is warm */
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		_exit(ingest_uuid_v4(child) == 0 && write(p[1], child, 16) == 16 ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(read(p[0], child, 16), 16);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(ingest_uuid_v4(id), 0);
	assert_memory_not_equal(id, child, 16);
}

/* ---- store ---- */

static void test_append_read_reopen(void **state)
{
	struct fx *f = *state;
	uint8_t a[16], b[16], c[16], d[16];
	const char small[] = "{\"time_stamp\": \"2019-05-01T06:00:00-04:00\", \"data\": [1]}";
	size_t big_len = INGEST_STORE_STAGE_MAX * 3 + 17;
	char *big = pattern(big_len, 1);
	assert_int_equal(put(f->st, small, sizeof(small) - 1, 7, "application/json",
			     INGEST_ACCEPTED, a), 0);
	assert_int_equal(put(f->st, big, big_len, 65536, "application/octet-stream",
			     INGEST_ACCEPTED, b), 0);
	assert_int_equal(put(f->st, "", 0, 1, "", INGEST_ACCEPTED, c), 0);
	assert_int_equal(put(f->st, "{}", 2, 1, "text/plain", INGEST_REJECTED, d), 0);
	expect_raw(f->st, a, small, sizeof(small) - 1, "application/json");
	expect_raw(f->st, b, big, big_len, "application/octet-stream");
	expect_raw(f->st, c, "", 0, "");
	assert_int_equal(status_of(f->st, a), INGEST_ACCEPTED);
	assert_int_equal(status_of(f->st, d), INGEST_REJECTED);

	struct ingest_info in;
	assert_int_equal(ingest_store_get(f->st, d, &in), 0);
	assert_string_equal(in.errors, "[\"bad\"]");
	assert_int_equal(in.received_at, 1000);
	free(in.errors);

	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.by_status[INGEST_ACCEPTED], 3);
	assert_int_equal(ct.by_status[INGEST_REJECTED], 1);
	assert_int_equal(ct.queued, 4);
	assert_int_equal(ct.raw_bytes, 4 * INGEST_STORE_RECORD_HEADER + sizeof(small) - 1 +
				       big_len + 2 + strlen("application/json") +
				       strlen("application/octet-stream") + strlen("text/plain"));

	/* Unprocessed at close: queued again after reopen, bytes intact. */
	reopen(f);
	expect_raw(f->st, b, big, big_len, "application/octet-stream");
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.queued, 4);
	assert_int_equal(ct.by_status[INGEST_ACCEPTED], 4); /* rejection not logged yet */
	assert_int_equal(process_all(f->st), 4);
	reopen(f);
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.queued, 0);
	assert_int_equal(ct.by_status[INGEST_PROCESSED], 4);
	assert_int_equal(status_of(f->st, b), INGEST_PROCESSED);
	expect_raw(f->st, a, small, sizeof(small) - 1, "application/json");

	uint8_t unknown[16];
	ingest_uuid_v4(unknown);
	assert_int_equal(ingest_store_get(f->st, unknown, &in), -ENOENT);
	struct ingest_raw r;
	assert_int_equal(ingest_store_raw(f->st, unknown, &r), -ENOENT);
	free(big);
}

/* The processor's reader hands over the body in chunks and checks it. */
static int collect(void *ud, const char *buf, size_t len)
{
	char **p = ud;
	memcpy(*p, buf, len);
	*p += len;
	return 0;
}

static void test_read_back(void **state)
{
	struct fx *f = *state;
	uint8_t id[16];
	size_t len = 200000;
	char *body = pattern(len, 9), *copy = malloc(len), *p = copy;
	char ctype[INGEST_STORE_CTYPE_MAX + 1];
	assert_int_equal(put(f->st, body, len, 4096, "multipart/form-data; boundary=x",
			     INGEST_ACCEPTED, id), 0);
	struct ingest_job job;
	assert_int_equal(ingest_store_take(f->st, &job, 1), 1);
	assert_memory_equal(job.id, id, 16);
	assert_int_equal(ingest_store_read(f->st, &job, ctype, collect, &p), 0);
	assert_int_equal(p - copy, (long)len);
	assert_memory_equal(copy, body, len);
	assert_string_equal(ctype, "multipart/form-data; boundary=x");
	/* A damaged byte on disk: the CRC says so, for the reader and for GET raw. */
	poke(seg_path(f, 1), INGEST_STORE_RECORD_HEADER + 31 + 1000, 'X');
	p = copy;
	assert_int_equal(ingest_store_read(f->st, &job, ctype, collect, &p), -EBADMSG);
	struct ingest_raw r;
	assert_int_equal(ingest_store_raw(f->st, id, &r), -EIO);
	free(body);
	free(copy);
}

static void test_torn_header_truncated(void **state)
{
	struct fx *f = *state;
	uint8_t ids[3][16];
	for (int i = 0; i < 3; i++)
		assert_int_equal(put(f->st, "{\"a\":1}", 7, 7, "application/json",
				     INGEST_ACCEPTED, ids[i]), 0);
	process_all(f->st);
	ingest_store_close(f->st);
	f->st = NULL;
	long good = file_size(seg_path(f, 1));
	/* A crash in the middle of writing the next header. */
	append_bytes(seg_path(f, 1), "TRMR\x01\x00\x10\x00garbage", 15);
	reopen(f);
	assert_int_equal(file_size(seg_path(f, 1)), good);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.torn_bytes, 15);
	for (int i = 0; i < 3; i++)
		assert_int_equal(status_of(f->st, ids[i]), INGEST_PROCESSED);
	/* Appends go on after the repaired tail. */
	uint8_t more[16];
	assert_int_equal(put(f->st, "{}", 2, 2, "x/y", INGEST_ACCEPTED, more), 0);
	reopen(f);
	expect_raw(f->st, more, "{}", 2, "x/y");
	assert_int_equal(file_size(seg_path(f, 1)), good + INGEST_STORE_RECORD_HEADER + 3 + 2);
}

static void test_torn_body_truncated(void **state)
{
	struct fx *f = *state;
	uint8_t a[16], b[16];
	assert_int_equal(put(f->st, "{\"x\": 1}", 8, 8, "a/b", INGEST_ACCEPTED, a), 0);
	process_all(f->st);
	reopen(f); /* an open segment is zero-filled ahead; closing cuts that off */
	long good = file_size(seg_path(f, 1));
	assert_int_equal(put(f->st, "0123456789", 10, 10, "a/b", INGEST_ACCEPTED, b), 0);
	ingest_store_close(f->st);
	f->st = NULL;
	/* The last body did not reach the disk whole: a pending record past every
	 * outcome with a bad CRC is a torn write, cut off. */
	poke(seg_path(f, 1), good + INGEST_STORE_RECORD_HEADER + 3 + 9, 0);
	reopen(f);
	assert_int_equal(file_size(seg_path(f, 1)), good);
	struct ingest_info in;
	assert_int_equal(ingest_store_get(f->st, b, &in), -ENOENT);
	assert_int_equal(status_of(f->st, a), INGEST_PROCESSED);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.queued, 0);
	assert_int_equal(ct.raw_bytes, (uint64_t)good);
	assert_int_equal(ct.torn_cut, 1);
	assert_int_equal(ct.torn_bytes, INGEST_STORE_RECORD_HEADER + 3 + 10);
}

/* In a child process: open the store, commit N records of 100 bytes, send
 * their ids down FD and die with the store open, as kill -9 leaves it. */
static void crash_child(struct fx *f, int n, int fd)
{
	char err[256];
	char body[100];
	struct ingest_store *st = ingest_store_open(f->dir, &f->opts, err, sizeof(err));
	if (!st)
		_exit(2);
	memset(body, '7', sizeof(body));
	for (int i = 0; i < n; i++) {
		uint8_t id[16];
		if (put(st, body, sizeof(body), sizeof(body), "a/b", INGEST_ACCEPTED, id) != 0 ||
		    write(fd, id, 16) != 16)
			_exit(3);
	}
	_exit(0);
}

static void crash_run(struct fx *f, int n, uint8_t (*ids)[16])
{
	int p[2];
	int status = 0;
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		crash_child(f, n, p[1]);
	}
	close(p[1]);
	for (int i = 0; i < n; i++)
		assert_int_equal(read(p[0], ids[i], 16), 16);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The active segment is kept zero-filled ahead of the appends (cheaper
 * syncs).  A process that dies with the store open leaves those zeros: the
 * next open cuts them off as the end of the data, not as a torn write.  A
 * zero header with something after it is not an end but damage. */
static void test_zero_tail(void **state)
{
	struct fx *f = *state;
	enum { N = 20 };
	uint8_t ids[2 * N][16];
	const long rec = INGEST_STORE_RECORD_HEADER + 3 + 100;
	ingest_store_close(f->st);
	f->st = NULL;
	crash_run(f, N, ids);
	assert_true(file_size(seg_path(f, 1)) > N * rec); /* the zeros are there */
	reopen(f);
	assert_int_equal(file_size(seg_path(f, 1)), N * rec);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.torn_bytes, 0);
	assert_int_equal(ct.queued, N);
	ingest_store_close(f->st);
	f->st = NULL;

	crash_run(f, N, ids + N);
	long size = file_size(seg_path(f, 1));
	assert_true(size > 2 * N * rec + 8192);
	poke(seg_path(f, 1), 2 * N * rec + 8192, 'x'); /* not zeros after all */
	reopen(f);
	assert_int_equal(file_size(seg_path(f, 1)), 2 * N * rec);
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.torn_bytes, size - 2 * N * rec);
	char body[100];
	memset(body, '7', sizeof(body));
	for (int i = 0; i < 2 * N; i++)
		expect_raw(f->st, ids[i], body, sizeof(body), "a/b");
	assert_int_equal(process_all(f->st), 2 * N);
}

/* A write the file system refuses (here the file size limit, as a full
 * disk would) fails that one commit, takes no space, and the store goes
 * on taking writes once there is room again. */
static void test_refused_write(void **state)
{
	struct fx *f = *state;
	char body[1000];
	uint8_t ids[200][16], id[16];
	struct rlimit old, lim;
	int n = 0, rc = 0;
	memset(body, 'q', sizeof(body));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	while (n < 200 && (rc = put(f->st, body, sizeof(body), sizeof(body), "a/b",
				    INGEST_ACCEPTED, ids[n])) == 0)
		n++;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_true(rc < 0);
	assert_true(n > 10 && n < 70);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.failed, 0);
	assert_int_equal(ct.by_status[INGEST_ACCEPTED], n);
	assert_int_equal(put(f->st, body, sizeof(body), sizeof(body), "a/b", INGEST_ACCEPTED, id), 0);
	reopen(f);
	for (int i = 0; i < n; i++)
		expect_raw(f->st, ids[i], body, sizeof(body), "a/b");
	expect_raw(f->st, id, body, sizeof(body), "a/b");
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.torn_bytes, 0);
	assert_int_equal(ct.queued, n + 1);
}

static void test_damaged_middle_failed(void **state)
{
	struct fx *f = *state;
	uint8_t a[16], b[16];
	assert_int_equal(put(f->st, "AAAAAAAA", 8, 8, "a/b", INGEST_ACCEPTED, a), 0);
	assert_int_equal(put(f->st, "BBBBBBBB", 8, 8, "a/b", INGEST_ACCEPTED, b), 0);
	struct ingest_job jobs[2];
	assert_int_equal(ingest_store_take(f->st, jobs, 2), 2);
	struct ingest_outcome o = { .status = INGEST_PROCESSED, .count = 8, .mean = 1 };
	/* Only B gets an outcome; A stays pending. */
	assert_int_equal(ingest_store_done(f->st, &jobs[1], &o, 1), 0);
	assert_int_equal(ingest_store_sync(f->st), 0);
	ingest_store_close(f->st);
	f->st = NULL;
	long a_size = file_size(seg_path(f, 1));
	poke(seg_path(f, 1), INGEST_STORE_RECORD_HEADER + 3 + 2, 'Z');
	reopen(f);
	/* A is before a record with an outcome: damage, not a torn tail. */
	assert_int_equal(file_size(seg_path(f, 1)), a_size);
	struct ingest_info in;
	assert_int_equal(ingest_store_get(f->st, a, &in), 0);
	assert_int_equal(in.status, INGEST_FAILED);
	assert_non_null(strstr(in.errors, "CRC"));
	free(in.errors);
	assert_int_equal(status_of(f->st, b), INGEST_PROCESSED);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.damaged, 1);
	assert_int_equal(ct.torn_cut, 0);
	/* And it stays failed (the outcome was logged). */
	reopen(f);
	assert_int_equal(status_of(f->st, a), INGEST_FAILED);
}

static void test_results_log_lost(void **state)
{
	struct fx *f = *state;
	uint8_t ids[5][16];
	for (int i = 0; i < 5; i++)
		assert_int_equal(put(f->st, "{}", 2, 2, "a/b", INGEST_ACCEPTED, ids[i]), 0);
	assert_int_equal(process_all(f->st), 5);
	assert_int_equal(ingest_store_sync(f->st), 0);
	ingest_store_close(f->st);
	f->st = NULL;
	char path[128];
	snprintf(path, sizeof(path), "%s/results.log", f->dir);
	long full = file_size(path);
	assert_int_equal(full, 5 * 96);
	/* A torn tail of the results log: cut at the bad entry, queued again. */
	assert_int_equal(truncate(path, full - 40), 0);
	reopen(f);
	assert_int_equal(file_size(path), 4 * 96);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.by_status[INGEST_PROCESSED], 4);
	assert_int_equal(ct.queued, 1);
	assert_int_equal(status_of(f->st, ids[4]), INGEST_ACCEPTED);
	/* All of it gone: everything is processed again from raw. */
	ingest_store_close(f->st);
	f->st = NULL;
	assert_int_equal(unlink(path), 0);
	reopen(f);
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.queued, 5);
	assert_int_equal(process_all(f->st), 5);
}

static void test_roll_and_prune(void **state)
{
	struct fx *f = *state;
	uint8_t ids[20][16];
	char *body = pattern(1000, 5);
	ingest_store_close(f->st);
	f->st = NULL;
	f->opts.segment_max = 4096;
	reopen(f);
	for (int i = 0; i < 20; i++)
		assert_int_equal(put(f->st, body, 1000, 300, "a/b", INGEST_ACCEPTED, ids[i]), 0);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.segments, 7); /* 3 records of 1051 bytes fit in 4096 */
	assert_int_equal(file_size(seg_path(f, 1)), 3 * 1051);
	assert_int_equal(file_size(seg_path(f, 7)), 2 * 1051);
	process_all(f->st);
	reopen(f);
	for (int i = 0; i < 20; i++)
		expect_raw(f->st, ids[i], body, 1000, "a/b");
	/* A record larger than a segment gets one of its own. */
	size_t big = 10000;
	char *bb = pattern(big, 6);
	uint8_t bid[16];
	assert_int_equal(put(f->st, bb, big, 4096, "a/b", INGEST_ACCEPTED, bid), 0);
	expect_raw(f->st, bid, bb, big, "a/b");
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.segments, 8);
	/* Prune everything received before 1001 ns: closed segments only. */
	uint64_t removed = 0;
	assert_int_equal(ingest_store_prune(f->st, 1001, &removed), 0);
	assert_int_equal(removed, 20);
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.segments, 1);
	assert_int_equal(ct.by_status[INGEST_PROCESSED], 0);
	assert_int_equal(ct.by_status[INGEST_ACCEPTED], 1);
	assert_int_equal(file_size(seg_path(f, 1)), -1);
	struct ingest_info in;
	assert_int_equal(ingest_store_get(f->st, ids[0], &in), -ENOENT);
	reopen(f);
	assert_int_equal(ingest_store_get(f->st, ids[19], &in), -ENOENT);
	expect_raw(f->st, bid, bb, big, "a/b");
	free(body);
	free(bb);
}

static void test_delete(void **state)
{
	struct fx *f = *state;
	uint8_t a[16], b[16];
	const char secret[] = "{\"secret\": \"do-not-keep\"}";
	assert_int_equal(put(f->st, secret, sizeof(secret) - 1, 5, "a/b", INGEST_ACCEPTED, a), 0);
	assert_int_equal(put(f->st, "{}", 2, 2, "a/b", INGEST_ACCEPTED, b), 0);
	process_all(f->st);
	assert_int_equal(ingest_store_delete(f->st, a), 0);
	assert_int_equal(ingest_store_delete(f->st, a), -ENOENT);
	struct ingest_info in;
	struct ingest_raw r;
	assert_int_equal(ingest_store_get(f->st, a, &in), -ENOENT);
	assert_int_equal(ingest_store_raw(f->st, a, &r), -ENOENT);
	size_t n = ingest_store_results(f->st, NULL, 0, &in, 1);
	assert_int_equal(n, 1);
	assert_memory_equal(in.id, b, 16);
	/* The bytes are gone from the file. */
	char *seg = NULL;
	FILE *fp = fopen(seg_path(f, 1), "rb");
	assert_non_null(fp);
	seg = calloc(1, 4096);
	size_t got = fread(seg, 1, 4096, fp);
	fclose(fp);
	assert_true(got > 0);
	assert_null(memmem(seg, got, "do-not-keep", 11));
	free(seg);
	reopen(f);
	assert_int_equal(ingest_store_get(f->st, a, &in), -ENOENT);
	assert_int_equal(status_of(f->st, b), INGEST_PROCESSED);
	expect_raw(f->st, b, "{}", 2, "a/b");
}

static void test_results_paging(void **state)
{
	struct fx *f = *state;
	uint8_t ids[10][16];
	for (int i = 0; i < 10; i++)
		assert_int_equal(put(f->st, "{}", 2, 2, "a/b", INGEST_ACCEPTED, ids[i]), 0);
	struct ingest_info rows[10];
	assert_int_equal(ingest_store_results(f->st, NULL, 0, rows, 10), 0);
	assert_int_equal(process_all(f->st), 10); /* ts_sec = i, mean = i */
	assert_int_equal(ingest_store_results(f->st, NULL, 0, rows, 3), 3);
	assert_memory_equal(rows[0].id, ids[9], 16);
	assert_memory_equal(rows[2].id, ids[7], 16);
	assert_int_equal(ingest_store_results(f->st, NULL, 8, rows, 10), 2);
	assert_memory_equal(rows[1].id, ids[0], 16);
	struct ingest_range rg = { .has_from = 1, .from_sec = 3, .has_to = 1, .to_sec = 6 };
	assert_int_equal(ingest_store_results(f->st, &rg, 0, rows, 10), 3);
	assert_int_equal(rows[0].ts_sec, 5);
	assert_int_equal(rows[2].ts_sec, 3);
	assert_int_equal(ingest_store_results(f->st, &rg, 1, rows, 1), 1);
	assert_int_equal(rows[0].ts_sec, 4);
	/* The same order after a rebuild. */
	reopen(f);
	assert_int_equal(ingest_store_results(f->st, NULL, 0, rows, 10), 10);
	for (int i = 0; i < 10; i++)
		assert_memory_equal(rows[i].id, ids[9 - i], 16);
	assert_true(rows[0].mean == 9.0);
}

static void test_compact(void **state)
{
	struct fx *f = *state;
	enum { N = 1500 };
	uint8_t (*ids)[16] = malloc(N * 16);
	for (int i = 0; i < N; i++)
		assert_int_equal(put(f->st, "{}", 2, 2, "a/b", INGEST_ACCEPTED, ids[i]), 0);
	assert_int_equal(process_all(f->st), N);
	/* Process the same jobs' log over again by deleting most of them. */
	for (int i = 0; i < N - 10; i++)
		assert_int_equal(ingest_store_delete(f->st, ids[i]), 0);
	char path[128];
	snprintf(path, sizeof(path), "%s/results.log", f->dir);
	assert_int_equal(file_size(path), N * 96);
	assert_int_equal(ingest_store_compact(f->st), 0);
	assert_int_equal(file_size(path), 10 * 96);
	reopen(f);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.by_status[INGEST_PROCESSED], 10);
	assert_int_equal(ct.queued, 0);
	for (int i = N - 10; i < N; i++)
		assert_int_equal(status_of(f->st, ids[i]), INGEST_PROCESSED);
	free(ids);
}

struct writer_arg {
	struct ingest_store *st;
	int n;
	unsigned seed;
	uint8_t (*ids)[16];
	size_t *lens;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	for (int i = 0; i < a->n; i++) {
		size_t len = 1 + (a->seed * 31 + (unsigned)i * 977) % 3000;
		if (i % 97 == 0)
			len = INGEST_STORE_STAGE_MAX + 1000; /* a spilled one now and then */
		char *b = pattern(len, a->seed * 1000 + (unsigned)i);
		if (put(a->st, b, len, 1024, "a/b", INGEST_ACCEPTED, a->ids[i]) != 0)
			a->lens[i] = SIZE_MAX;
		else
			a->lens[i] = len;
		free(b);
	}
	return NULL;
}

static void test_concurrent_commits(void **state)
{
	struct fx *f = *state;
	enum { T = 8, N = 300 };
	pthread_t th[T];
	struct writer_arg args[T];
	ingest_store_close(f->st);
	f->st = NULL;
	f->opts.segment_max = 1 << 20; /* several rolls under concurrency */
	reopen(f);
	for (int t = 0; t < T; t++) {
		args[t] = (struct writer_arg){ f->st, N, (unsigned)t + 1, malloc(N * 16),
					       malloc(N * sizeof(size_t)) };
		assert_int_equal(pthread_create(&th[t], NULL, writer, &args[t]), 0);
	}
	for (int t = 0; t < T; t++)
		pthread_join(th[t], NULL);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.by_status[INGEST_ACCEPTED], T * N);
	assert_true(ct.segments > 3);
	reopen(f);
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.queued, T * N);
	for (int t = 0; t < T; t++) {
		for (int i = 0; i < N; i++) {
			assert_int_not_equal(args[t].lens[i], SIZE_MAX);
			char *b = pattern(args[t].lens[i], args[t].seed * 1000 + (unsigned)i);
			expect_raw(f->st, args[t].ids[i], b, args[t].lens[i], "a/b");
			free(b);
		}
		free(args[t].ids);
		free(args[t].lens);
	}
	assert_int_equal(process_all(f->st), T * N);
}

static void test_bad_input(void **state)
{
	struct fx *f = *state;
	char ctype[INGEST_STORE_CTYPE_MAX + 2];
	memset(ctype, 'a', sizeof(ctype) - 1);
	ctype[sizeof(ctype) - 1] = '\0';
	uint8_t id[16];
	assert_int_equal(put(f->st, "{}", 2, 2, ctype, INGEST_ACCEPTED, id), -EINVAL);
	struct ingest_counts ct;
	ingest_store_counts(f->st, &ct);
	assert_int_equal(ct.raw_bytes, 0);
	char err[256] = "";
	assert_null(ingest_store_open("/nonexistent/dir", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/dir"));
}

/* The hand-off table of results computed at acceptance: every id put is
 * taken back once with its values, whatever the order of takes and drops
 * (which shift colliding entries back), and it refuses past half its slots. */
static void test_early_table(void **state)
{
	(void)state;
	struct ingest_early *e = ingest_early_create(64);
	assert_non_null(e);
	uint8_t ids[40][16];
	struct ingest_outcome o, got;
	for (int i = 0; i < 40; i++) {
		memset(ids[i], 0, 16);
		/* Ids whose first bytes collide in groups of four, as a crowded
		 * table would see them. */
		ids[i][0] = (uint8_t)(i / 4);
		ids[i][15] = (uint8_t)i;
		memset(&o, 0, sizeof(o));
		o.status = INGEST_PROCESSED;
		o.count = (uint64_t)i + 1;
		o.mean = i * 0.5;
		o.errors = "not kept";
		int rc = ingest_early_put(e, ids[i], &o);
		if (i < 32)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, -1); /* 64 slots, half of them used at most */
	}
	assert_int_equal(ingest_early_count(e), 32);
	/* Drop every third, take the rest in reverse order. */
	for (int i = 0; i < 32; i += 3)
		ingest_early_drop(e, ids[i]);
	for (int i = 31; i >= 0; i--) {
		int found = ingest_early_take(e, ids[i], &got);
		assert_int_equal(found, i % 3 != 0);
		if (found) {
			assert_int_equal(got.count, (uint64_t)i + 1);
			assert_true(got.mean == i * 0.5);
			assert_null(got.errors);
		}
		assert_int_equal(ingest_early_take(e, ids[i], &got), 0);
	}
	assert_int_equal(ingest_early_count(e), 0);
	/* Room again once emptied. */
	assert_int_equal(ingest_early_put(e, ids[35], &o), 0);
	assert_int_equal(ingest_early_take(e, ids[35], &got), 1);
	ingest_early_destroy(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_early_table),
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test_setup_teardown(test_append_read_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_header_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_body_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_middle_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_results_log_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roll_and_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_results_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
