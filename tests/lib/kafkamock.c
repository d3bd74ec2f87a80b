/*
 * tests/lib/kafkamock.c - librdkafka's mock cluster for tests (kafkamock.h).
 */
#include "tests/lib/kafkamock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAFKAMOCK_MS 10000

struct kafkamock {
	rd_kafka_t *owner;               /* owns the mock cluster */
	rd_kafka_mock_cluster_t *cluster;
	rd_kafka_t *producer;            /* created on the first kafkamock_produce() */
	char bootstraps[1024];
	char first[128];
};

static void kafkamock_quiet(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

/* A configuration with the cluster's bootstraps (when M is not NULL) and no
 * log output; NULL with ERR. */
static rd_kafka_conf_t *kafkamock_conf(struct kafkamock *m, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (!conf) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rd_kafka_conf_set_log_cb(conf, kafkamock_quiet);
	if (m && rd_kafka_conf_set(conf, "bootstrap.servers", m->bootstraps, err, errlen) !=
			 RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

struct kafkamock *kafkamock_start(int brokers, char *err, size_t errlen)
{
	struct kafkamock *m = calloc(1, sizeof(*m));
	rd_kafka_conf_t *conf = NULL;
	const char *bs;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	conf = kafkamock_conf(NULL, err, errlen);
	if (!conf)
		goto fail;
	m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
	if (!m->owner) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	m->cluster = rd_kafka_mock_cluster_new(m->owner, brokers);
	if (!m->cluster) {
		snprintf(err, errlen, "cannot create a mock cluster of %d brokers", brokers);
		goto fail;
	}
	bs = rd_kafka_mock_cluster_bootstraps(m->cluster);
	if (!bs || strlen(bs) >= sizeof(m->bootstraps)) {
		snprintf(err, errlen, "the mock cluster has no usable bootstrap list");
		goto fail;
	}
	snprintf(m->bootstraps, sizeof(m->bootstraps), "%s", bs);
	snprintf(m->first, sizeof(m->first), "%.*s", (int)strcspn(bs, ","), bs);
	return m;
fail:
	kafkamock_stop(m);
	return NULL;
}

const char *kafkamock_bootstraps(const struct kafkamock *m)
{
	return m->bootstraps;
}

const char *kafkamock_first(const struct kafkamock *m)
{
	return m->first;
}

rd_kafka_mock_cluster_t *kafkamock_cluster(struct kafkamock *m)
{
	return m->cluster;
}

int kafkamock_topic(struct kafkamock *m, const char *topic, int partitions, char *err,
		    size_t errlen)
{
	rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->cluster, topic, partitions, 3);

	if (e) {
		snprintf(err, errlen, "cannot create topic '%s': %s", topic, rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

int kafkamock_produce(struct kafkamock *m, const char *topic, int partition, int count, char *err,
		      size_t errlen)
{
	char value[64];
	rd_kafka_resp_err_t e;

	if (!m->producer) {
		rd_kafka_conf_t *conf = kafkamock_conf(m, err, errlen);
		if (!conf)
			return -1;
		m->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
		if (!m->producer) {
			rd_kafka_conf_destroy(conf);
			return -1;
		}
	}
	for (int i = 0; i < count; i++) {
		int n = snprintf(value, sizeof(value), "{\"seq\": %d}", i);
		for (int tries = 0;; tries++) {
			e = rd_kafka_producev(m->producer, RD_KAFKA_V_TOPIC(topic),
					      RD_KAFKA_V_PARTITION(partition),
					      RD_KAFKA_V_VALUE(value, (size_t)n),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries > 100)
				break;
			rd_kafka_poll(m->producer, 100);
		}
		if (e) {
			snprintf(err, errlen, "cannot produce to '%s' [%d]: %s", topic, partition,
				 rd_kafka_err2str(e));
			return -1;
		}
	}
	e = rd_kafka_flush(m->producer, KAFKAMOCK_MS);
	if (e) {
		snprintf(err, errlen, "producing to '%s' [%d]: %s", topic, partition,
			 rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

int kafkamock_commit(struct kafkamock *m, const char *group, const char *topic, int partition,
		     long long offset, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = kafkamock_conf(m, err, errlen);
	rd_kafka_topic_partition_list_t *l = NULL;
	rd_kafka_t *c = NULL;
	rd_kafka_resp_err_t e;
	int rc = -1;

	if (!conf)
		return -1;
	if (rd_kafka_conf_set(conf, "group.id", group, err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
	if (!c) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	l = rd_kafka_topic_partition_list_new(1);
	if (!l) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
	e = rd_kafka_commit(c, l, 0);
	if (!e && l->elems[0].err)
		e = l->elems[0].err;
	if (e) {
		snprintf(err, errlen, "cannot commit %s [%d] @%lld for group '%s': %s", topic,
			 partition, offset, group, rd_kafka_err2str(e));
		goto out;
	}
	rc = 0;
out:
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy_flags(c, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	return rc;
}

void kafkamock_stop(struct kafkamock *m)
{
	if (!m)
		return;
	if (m->producer) {
		rd_kafka_flush(m->producer, KAFKAMOCK_MS);
		rd_kafka_destroy(m->producer);
	}
	if (m->cluster)
		rd_kafka_mock_cluster_destroy(m->cluster);
	if (m->owner)
		rd_kafka_destroy(m->owner);
	free(m);
}
