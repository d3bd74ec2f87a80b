/*
 * tests/bench/bench_ingest_parse.c - throughput of the ingest core
 * (validate a sample, normalise its time stamp, fold "data" into the mean
 * and standard deviation) against the cost of just reading the bytes.
 *
 * Build and run from the repository root (no Makefile needed):
 *
 *   mkdir -p build && cc -O2 -std=c11 -D_GNU_SOURCE -I. \
 *       tests/bench/bench_ingest_parse.c plugins/ingest/ts.c \
 *       plugins/ingest/sample.c plugins/ingest/stats.c -lm -lpthread \
 *       -o build/bench_ingest_parse && build/bench_ingest_parse
 *
 * Optional argument: sizes in MB (default "10 50").  Environment
 * BENCH_TMPDIR picks the scratch directory (default /tmp).
 *
 * For each size it writes two sample files into a fresh scratch directory:
 * "long" numbers printed with %.17g (like the fixture) and "short" ones like
 * 0.379 (%.3f).  For each file it prints, best of 3 runs:
 *   - the floors measured in the same run: read() of the file into memory,
 *     and `cat file > /dev/null` through system();
 *   - parse+stats of the whole body in memory (ingest_sample_parse);
 *   - parse+stats streamed from the file in 64 KiB chunks (read + feed);
 *   - the peak RSS (getrusage ru_maxrss) of a child process doing each
 *     (the file is generated in another child, so none inherits its peak):
 *     the streamed figure shows the parser's O(1) memory;
 *   - MB/s by wall clock (what a user sees) and by the process's CPU time
 *     (what one core does, less sensitive to other load on the machine);
 *   - a check of the result against a long double two-pass mean and
 *     standard deviation of the generated values.
 * MB are 10^6 bytes.  The scratch files are removed at the end.
 */
#include "plugins/ingest/sample.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define RUNS 3

static double clock_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
	return clock_of(CLOCK_MONOTONIC);
}

static double cpu_now(void)
{
	return clock_of(CLOCK_PROCESS_CPUTIME_ID);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: reproducible data across runs. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Roughly N(1, 1), like the fixture's values. */
static double gauss(void)
{
	double u1 = ((double)(rng() >> 11) + 0.5) / 9007199254740992.0;
	double u2 = (double)(rng() >> 11) / 9007199254740992.0;

	return 1.0 + sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

struct gen {
	size_t bytes;
	size_t n;
	long double mean, std; /* two-pass reference over the printed values */
};

static int generate(const char *path, size_t target, int shortform, struct gen *g)
{
	FILE *f = fopen(path, "wb");
	double *vals = NULL;
	size_t cap = target / 4 + 16, n = 0, bytes = 0, i;
	long double sum = 0, ss = 0;
	char num[64];
	int len, rc = -1;

	if (f == NULL) {
		fprintf(stderr, "cannot create '%s': %s\n", path, strerror(errno));
		goto out;
	}
	vals = malloc(cap * sizeof(*vals));
	if (vals == NULL) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	bytes += (size_t)fprintf(f, "{\"time_stamp\": \"2019-05-01T06:00:00-04:00\", \"data\": [");
	while (bytes < target && n < cap) {
		double v = gauss();

		len = snprintf(num, sizeof(num), shortform ? "%.3f" : "%.17g", v);
		vals[n++] = strtod(num, NULL);
		if (n > 1) {
			fputs(", ", f);
			bytes += 2;
		}
		fputs(num, f);
		bytes += (size_t)len;
	}
	bytes += (size_t)fprintf(f, "]}\n");
	if (fclose(f) != 0) {
		f = NULL;
		fprintf(stderr, "cannot write '%s': %s\n", path, strerror(errno));
		goto out;
	}
	f = NULL;
	for (i = 0; i < n; i++)
		sum += vals[i];
	g->mean = sum / (long double)n;
	for (i = 0; i < n; i++)
		ss += (vals[i] - g->mean) * (vals[i] - g->mean);
	g->std = sqrtl(ss / (long double)n);
	g->n = n;
	g->bytes = bytes;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(vals);
	return rc;
}

/* What a child measured. */
struct meas {
	double secs;          /* best wall-clock time of RUNS */
	double cpu_secs;      /* best CPU time of RUNS (this process only) */
	long maxrss_kb;
	int rc;
	struct ingest_sample_result res;
};

enum mode { M_READ, M_CAT, M_PARSE_MEM, M_PARSE_STREAM };

static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		goto fail;
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r <= 0)
			goto fail;
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int stream_file(const char *path, struct ingest_sample_result *res)
{
	static char chunk[CHUNK];
	struct ingest_sample_parser *ps = ingest_sample_parser_create(NULL);
	ssize_t r;
	int fd = open(path, O_RDONLY), rc = -1;

	if (ps == NULL || fd < 0)
		goto out;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		ingest_sample_parser_feed(ps, chunk, (size_t)r);
	if (r < 0)
		goto out;
	rc = ingest_sample_parser_finish(ps, res);
out:
	if (fd >= 0)
		close(fd);
	ingest_sample_parser_destroy(ps);
	return rc;
}

static void child(const char *path, enum mode mode, int wfd)
{
	struct meas m;
	struct rusage ru;
	char cmd[4200];
	char *buf = NULL;
	size_t len = 0;
	double t0, c0, best = 1e30, best_cpu = 1e30;
	int run;

	memset(&m, 0, sizeof(m));
	snprintf(cmd, sizeof(cmd), "cat '%s' > /dev/null", path);
	if (mode == M_PARSE_MEM) {
		/* The body in memory is the input here, not part of the timing. */
		buf = read_file(path, &len);
		if (buf == NULL)
			m.rc = -1;
	}
	for (run = 0; run < RUNS && m.rc >= -1 && !(mode == M_PARSE_MEM && buf == NULL); run++) {
		t0 = now();
		c0 = cpu_now();
		switch (mode) {
		case M_READ:
			free(buf);
			buf = read_file(path, &len);
			if (buf == NULL)
				m.rc = -1;
			break;
		case M_CAT:
			m.rc = system(cmd) == 0 ? 0 : -1;
			break;
		case M_PARSE_MEM:
			m.rc = ingest_sample_parse(buf, len, NULL, &m.res);
			break;
		case M_PARSE_STREAM:
			m.rc = stream_file(path, &m.res);
			break;
		}
		if (now() - t0 < best)
			best = now() - t0;
		if (cpu_now() - c0 < best_cpu)
			best_cpu = cpu_now() - c0;
	}
	free(buf);
	getrusage(RUSAGE_SELF, &ru);
	m.secs = best;
	m.cpu_secs = best_cpu;
	m.maxrss_kb = ru.ru_maxrss;
	if (write(wfd, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(1);
	_exit(0);
}

static int measure(const char *path, enum mode mode, struct meas *m)
{
	int fds[2], status;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		child(path, mode, fds[1]);
	}
	close(fds[1]);
	while (got < sizeof(*m) && (r = read(fds[0], (char *)m + got, sizeof(*m) - got)) > 0)
		got += (size_t)r;
	close(fds[0]);
	waitpid(pid, &status, 0);
	return got == sizeof(*m) ? 0 : -1;
}

/* Generate in a child process, so that this process (whose peak RSS every
 * measuring child would inherit through fork) stays small. */
static int generate_apart(const char *path, size_t target, int shortform, struct gen *g)
{
	int fds[2], status, rc;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		rc = generate(path, target, shortform, g);
		if (rc < 0 || write(fds[1], g, sizeof(*g)) != (ssize_t)sizeof(*g))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	while (got < sizeof(*g) && (r = read(fds[0], (char *)g + got, sizeof(*g) - got)) > 0)
		got += (size_t)r;
	close(fds[0]);
	waitpid(pid, &status, 0);
	return got == sizeof(*g) ? 0 : -1;
}

static int bench_file(const char *path, size_t mb, int shortform)
{
	struct gen g;
	struct meas rd, cat, mem, str;
	double mbytes;

	if (generate_apart(path, mb * 1000000, shortform, &g) < 0)
		return -1;
	mbytes = (double)g.bytes / 1e6;
	if (measure(path, M_READ, &rd) < 0 || measure(path, M_CAT, &cat) < 0 ||
	    measure(path, M_PARSE_MEM, &mem) < 0 || measure(path, M_PARSE_STREAM, &str) < 0) {
		fprintf(stderr, "measurement of '%s' failed\n", path);
		return -1;
	}
	printf("\n%s: %.1f MB, %zu numbers (%s)\n", path, mbytes, g.n,
	       shortform ? "short, %.3f" : "long, %.17g");
	printf("  %-38s %9s %9s %9s %10s\n", "", "MB/s", "ms", "MB/s CPU", "peak RSS");
	printf("  %-38s %9.1f %9.1f %9.1f %7.1f MB\n", "floor: read() into memory",
	       mbytes / rd.secs, rd.secs * 1e3, mbytes / rd.cpu_secs, rd.maxrss_kb / 1024.0);
	printf("  %-38s %9.1f %9.1f %9s\n", "floor: cat file > /dev/null",
	       mbytes / cat.secs, cat.secs * 1e3, "-");
	printf("  %-38s %9.1f %9.1f %9.1f %7.1f MB\n", "parse+stats, body in memory",
	       mbytes / mem.secs, mem.secs * 1e3, mbytes / mem.cpu_secs, mem.maxrss_kb / 1024.0);
	printf("  %-38s %9.1f %9.1f %9.1f %7.1f MB\n", "parse+stats, read+feed 64 KiB chunks",
	       mbytes / str.secs, str.secs * 1e3, mbytes / str.cpu_secs, str.maxrss_kb / 1024.0);
	if (mem.rc != 0 || str.rc != 0 || mem.res.count != g.n || str.res.count != g.n) {
		printf("  RESULT WRONG: rc %d/%d, count %llu/%llu of %zu%s%s\n", mem.rc, str.rc,
		       (unsigned long long)mem.res.count, (unsigned long long)str.res.count, g.n,
		       mem.res.n_errors ? ", first error: " : "",
		       mem.res.n_errors ? mem.res.errors[0] : "");
		return -1;
	}
	printf("  result  mean %.17g (rel. diff from long double two-pass %.1e)\n"
	       "          std  %.17g (rel. diff %.1e), time_stamp %s\n",
	       mem.res.mean, (double)fabsl((mem.res.mean - g.mean) / g.mean),
	       mem.res.std, (double)fabsl((mem.res.std - g.std) / g.std), mem.res.time_stamp_utc);
	if (mem.res.mean != str.res.mean || mem.res.std != str.res.std) {
		printf("  RESULT WRONG: streamed and in-memory results differ\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("BENCH_TMPDIR");
	size_t sizes[8] = { 10, 50 }, nsizes = 2, i;
	char dir[4096], path[4200];
	int s, rc = 0;

	if (argc > 1) {
		nsizes = 0;
		for (i = 1; i < (size_t)argc && nsizes < 8; i++)
			sizes[nsizes++] = (size_t)strtoul(argv[i], NULL, 10);
	}
	snprintf(dir, sizeof(dir), "%s/bench_ingest_XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "cannot create a scratch directory '%s': %s\n", dir, strerror(errno));
		return 1;
	}
	printf("bench_ingest_parse: best of %d runs each, MB = 10^6 bytes\n", RUNS);
	for (i = 0; i < nsizes && rc == 0; i++) {
		for (s = 0; s < 2 && rc == 0; s++) {
			snprintf(path, sizeof(path), "%s/sample_%zumb_%s.json", dir, sizes[i],
				 s ? "short" : "long");
			rc = bench_file(path, sizes[i], s);
			unlink(path);
		}
	}
	rmdir(dir);
	return rc == 0 ? 0 : 1;
}
