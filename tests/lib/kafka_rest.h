#ifndef TERRARIUM_TEST_KAFKA_REST_H
#define TERRARIUM_TEST_KAFKA_REST_H
/*
 * Recorded REST answers served over real HTTP on loopback, for the Kafka
 * Connect and schema registry parts of the Kafka collector's tests.
 *
 * DIR/index.txt maps requests to answers, one a line:
 *
 *     GET /connectors?expand=info&expand=status connect/connectors.json
 *     GET /subjects registry/subjects.json
 *
 * (method, request target exactly as sent, file relative to DIR; '#' starts a
 * comment).  A listed request gets 200 with the file as application/json; any
 * other gets 404 with a Confluent-style error body.  Modes make the server
 * misbehave on every request, for the failure tests:
 *
 *     KAFKA_REST_GARBAGE    200 with a body that is not JSON
 *     KAFKA_REST_TRUNCATED  200 with the first half of the recorded JSON
 *                           (a complete HTTP answer, a cut document)
 *     KAFKA_REST_CUT        the headers promise the whole file, half is sent,
 *                           then the connection is closed
 *     KAFKA_REST_ERROR      500 with {"error_code": 500, "message": ...}
 *     KAFKA_REST_SILENT     the request is read and never answered
 *
 * One thread serves one connection at a time (a collector asks one thing at
 * a time); silent connections are held open until kafka_rest_stop().  Names
 * are prefixed kafka_rest_.
 */
#include <stddef.h>

enum kafka_rest_mode {
	KAFKA_REST_REPLAY = 0,
	KAFKA_REST_GARBAGE,
	KAFKA_REST_TRUNCATED,
	KAFKA_REST_CUT,
	KAFKA_REST_ERROR,
	KAFKA_REST_SILENT,
};

struct kafka_rest;

/* Serve DIR on a free port of 127.0.0.1; NULL with ERR. */
struct kafka_rest *kafka_rest_start(const char *dir, char *err, size_t errlen);

/* "http://127.0.0.1:PORT" (no trailing slash); valid until kafka_rest_stop(). */
const char *kafka_rest_url(const struct kafka_rest *r);

/* Change how every later request is answered (thread-safe). */
void kafka_rest_set_mode(struct kafka_rest *r, enum kafka_rest_mode mode);

/* How many requests have been read so far (thread-safe). */
int kafka_rest_requests(struct kafka_rest *r);

/* Stop serving, close every connection and free R; NULL does nothing. */
void kafka_rest_stop(struct kafka_rest *r);

#endif
