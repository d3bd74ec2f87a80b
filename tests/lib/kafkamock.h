#ifndef TERRARIUM_TEST_KAFKAMOCK_H
#define TERRARIUM_TEST_KAFKAMOCK_H
/*
 * A Kafka cluster for tests: librdkafka's mock cluster (rdkafka_mock.h), a
 * real Kafka-protocol broker set on loopback, run inside the test process.
 *
 * The mock lives on threads of the rd_kafka_t that owns it, so it answers
 * other processes (`terrarium collect kafka`) for as long as the test keeps
 * it: start it before the run, stop it after.  It answers Metadata,
 * ApiVersions, Produce, Fetch, ListOffsets, FindCoordinator, OffsetCommit and
 * OffsetFetch (and the group and transaction protocols), but not ListGroups,
 * DescribeGroups, DescribeConfigs or CreateTopics (librdkafka 2.0.2).  Every
 * topic's replication factor is min(3, brokers), whatever is asked, and its
 * ISR is always the full replica set.
 *
 *     char err[256];
 *     struct kafkamock *m = kafkamock_start(3, err, sizeof(err));
 *     kafkamock_topic(m, "orders", 3, err, sizeof(err));
 *     kafkamock_produce(m, "orders", 0, 10, err, sizeof(err));   10 messages in partition 0
 *     kafkamock_commit(m, "billing", "orders", 0, 4, err, sizeof(err));
 *     ... kafkamock_bootstraps(m) is "127.0.0.1:P1,127.0.0.1:P2,..." ...
 *     kafkamock_stop(m);
 *
 * Functions return 0 or -1 with ERR.  Every call is bounded (10 s).  Not
 * thread-safe: call from one thread.  Names are prefixed kafkamock_.
 */
#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct kafkamock;

/* A cluster of BROKERS brokers (ids 1..BROKERS) on 127.0.0.1, or NULL with ERR. */
struct kafkamock *kafkamock_start(int brokers, char *err, size_t errlen);

/* The bootstrap list, "127.0.0.1:P1,..."; valid until kafkamock_stop(). */
const char *kafkamock_bootstraps(const struct kafkamock *m);

/* The first bootstrap server alone, "127.0.0.1:P1" (what the Kafka collector
 * names its namespace after); valid until kafkamock_stop(). */
const char *kafkamock_first(const struct kafkamock *m);

/* The mock cluster itself, for the rd_kafka_mock_*() calls (error injection,
 * brokers down); owned by M. */
rd_kafka_mock_cluster_t *kafkamock_cluster(struct kafkamock *m);

/* Create TOPIC with PARTITIONS partitions. */
int kafkamock_topic(struct kafkamock *m, const char *topic, int partitions, char *err,
		    size_t errlen);

/* Produce COUNT small messages into TOPIC's PARTITION and wait until they are
 * acknowledged. */
int kafkamock_produce(struct kafkamock *m, const char *topic, int partition, int count, char *err,
		      size_t errlen);

/* Commit OFFSET (the next message the group would read) for GROUP on TOPIC's
 * PARTITION, as a consumer of that group does. */
int kafkamock_commit(struct kafkamock *m, const char *group, const char *topic, int partition,
		     long long offset, char *err, size_t errlen);

/* Stop the cluster and free M; NULL does nothing. */
void kafkamock_stop(struct kafkamock *m);

#endif
