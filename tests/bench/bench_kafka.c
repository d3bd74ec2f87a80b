/*
 * bench_kafka: the Kafka collector on a mock cluster of 5,000 topics.
 *
 *   bench_kafka TERRARIUM_BINARY [TOPICS]
 *
 * Starts librdkafka's mock cluster (3 brokers, tests/lib/kafkamock.c) with
 * TOPICS topics (default 5000) of 2 partitions, messages in every 500th
 * topic and a group with offsets committed on those, then times:
 *   - the baseline, in this process with raw librdkafka: one Metadata
 *     request for all topics, and the earliest and latest offsets of every
 *     partition (two bulk ListOffsets rounds);
 *   - `terrarium collect kafka --dry-run` (the whole crawl, process start
 *     included, nothing written) and `terrarium collect kafka` (written to
 *     a fresh catalog), 3 runs each, median.
 * Prints the figures; it asserts nothing (target: a crawl <= 5 s).
 * Built by tests/bench/bench_kafka.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/kafkamock.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Run ARGV with output to /dev/null (stderr to ERRFILE), at most 120 s: exit status or -1. */
static int run(char *const *argv, const char *errfile)
{
	pid_t pid = fork();
	int status = 0;
	double deadline = now_s() + 120;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		int efd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(efd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 || now_s() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(5000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void quiet(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

int main(int argc, char **argv)
{
	char err[512], dir[] = "/tmp/terrarium-benchkafka-XXXXXX", cfg[300], data[300], errfile[300];
	char name[64];
	int topics = argc > 2 ? atoi(argv[2]) : 5000, rc = 1;
	struct kafkamock *m = NULL;
	double t0, setup_s, md_s = 0, wm_s = 0, dry[3], wet[3];
	int md_topics = 0, parts = 0;

	if (argc < 2 || topics < 1) {
		fprintf(stderr, "usage: bench_kafka TERRARIUM_BINARY [TOPICS]\n");
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	t0 = now_s();
	m = kafkamock_start(3, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "bench_kafka: %s\n", err);
		return 1;
	}
	for (int i = 0; i < topics; i++) {
		snprintf(name, sizeof(name), "topic-%05d", i);
		if (kafkamock_topic(m, name, 2, err, sizeof(err)) < 0)
			goto out;
		if (i % 500 == 0 && (kafkamock_produce(m, name, 0, 20, err, sizeof(err)) < 0 ||
				    kafkamock_commit(m, "bench", name, 0, 5, err, sizeof(err)) < 0))
			goto out;
	}
	setup_s = now_s() - t0;

	/* baseline: raw librdkafka in this process */
	{
		rd_kafka_conf_t *conf = rd_kafka_conf_new();
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_topic_partition_list_t *lo, *hi;
		rd_kafka_t *rk;

		rd_kafka_conf_set_log_cb(conf, quiet);
		rd_kafka_conf_set(conf, "bootstrap.servers", kafkamock_bootstraps(m), err, sizeof(err));
		rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
		if (!rk)
			goto out;
		rd_kafka_metadata(rk, 0, NULL, &md, 10000); /* connect first, as the binding does */
		if (md)
			rd_kafka_metadata_destroy(md);
		t0 = now_s();
		if (rd_kafka_metadata(rk, 1, NULL, &md, 30000) != 0) {
			fprintf(stderr, "bench_kafka: metadata failed\n");
			rd_kafka_destroy(rk);
			goto out;
		}
		md_s = now_s() - t0;
		md_topics = md->topic_cnt;
		lo = rd_kafka_topic_partition_list_new(md->topic_cnt * 2);
		for (int i = 0; i < md->topic_cnt; i++)
			for (int j = 0; j < md->topics[i].partition_cnt; j++)
				rd_kafka_topic_partition_list_add(lo, md->topics[i].topic,
								  md->topics[i].partitions[j].id)->offset = -2;
		rd_kafka_metadata_destroy(md);
		parts = lo->cnt;
		hi = rd_kafka_topic_partition_list_copy(lo);
		for (int i = 0; i < hi->cnt; i++)
			hi->elems[i].offset = -1;
		t0 = now_s();
		rd_kafka_offsets_for_times(rk, lo, 30000);
		rd_kafka_offsets_for_times(rk, hi, 30000);
		wm_s = now_s() - t0;
		rd_kafka_topic_partition_list_destroy(lo);
		rd_kafka_topic_partition_list_destroy(hi);
		rd_kafka_destroy(rk);
	}

	/* the collector */
	snprintf(cfg, sizeof(cfg), "%s/kafka.lua", dir);
	snprintf(errfile, sizeof(errfile), "%s/collect.err", dir);
	FILE *f = fopen(cfg, "w");
	if (!f)
		goto out;
	fprintf(f, "plugins = { kafka = { timeout = 120, request_timeout = 30, bootstrap = \"%s\", "
		   "groups = { \"bench\" } } }\n", kafkamock_bootstraps(m));
	fclose(f);
	for (int r = 0; r < 3; r++) {
		snprintf(data, sizeof(data), "%s/dry", dir);
		char *dargv[] = { argv[1], "collect", "kafka", "--dry-run", "--config", cfg, "--data",
				  data, NULL };
		t0 = now_s();
		if (run(dargv, errfile) != 0) {
			fprintf(stderr, "bench_kafka: the dry run failed (see %s)\n", errfile);
			goto out;
		}
		dry[r] = now_s() - t0;
		snprintf(data, sizeof(data), "%s/data-%d", dir, r);
		char *wargv[] = { argv[1], "collect", "kafka", "--config", cfg, "--data", data, NULL };
		t0 = now_s();
		if (run(wargv, errfile) != 0) {
			fprintf(stderr, "bench_kafka: the run failed (see %s)\n", errfile);
			goto out;
		}
		wet[r] = now_s() - t0;
	}
	qsort(dry, 3, sizeof(double), cmp_double);
	qsort(wet, 3, sizeof(double), cmp_double);
	printf("== Kafka collector: mock cluster, 3 brokers, %d topics, %d partitions (setup %.1f s) ==\n",
	       md_topics, parts, setup_s);
	printf("| figure | measured | same-run baseline | target | verdict |\n");
	printf("| --- | --- | --- | --- | --- |\n");
	printf("| crawl, nothing written (`collect --dry-run`, process included) | median %.3f s "
	       "(min %.3f, max %.3f) | raw librdkafka: Metadata %.3f s + watermarks %.3f s = %.3f s "
	       "| <= 5 s | %s |\n",
	       dry[1], dry[0], dry[2], md_s, wm_s, md_s + wm_s, dry[1] <= 5 ? "met" : "MISSED");
	printf("| crawl written to a fresh catalog (`collect`) | median %.3f s (min %.3f, max %.3f) "
	       "| same | <= 5 s | %s |\n",
	       wet[1], wet[0], wet[2], wet[1] <= 5 ? "met" : "MISSED");
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench_kafka: %s\n", err);
	kafkamock_stop(m);
	if (!getenv("BENCH_KEEP")) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_kafka: cannot remove %s\n", dir);
	}
	return rc;
}
