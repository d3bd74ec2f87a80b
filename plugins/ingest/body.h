/*
 * plugins/ingest/body.h - check one submitted body, as it streams in.
 *
 * A submission's body is either the sample's JSON itself (any content type
 * but multipart/form-data: clients send application/json, text/plain or
 * curl -d's application/x-www-form-urlencoded) or multipart/form-data
 * holding the sample as a file (curl -F "file_upload=@sample.json").  For
 * multipart bodies the sample is the first part named "file_upload" or
 * carrying a filename; only its content reaches the sample parser
 * (sample.h), the rest of the form is skipped.
 *
 * Feed the body in chunks of any size, then finish: the result has the
 * sample's stats, or every problem found (multipart problems first, then the
 * sample's).  Memory is O(1) in the body's size.  One parser per thread at a
 * time.
 */
#ifndef INGEST_BODY_H
#define INGEST_BODY_H

#include <stddef.h>

#include "sample.h"

/* The form field a multipart body carries the sample in. */
#define INGEST_BODY_FIELD "file_upload"

struct ingest_body_parser;

/*
 * A parser for a body sent with Content-Type CTYPE (NULL or "" when none);
 * OPTS as for ingest_sample_parser_create (borrowed: must outlive the
 * parser).  NULL when out of memory.
 */
struct ingest_body_parser *ingest_body_parser_create(const char *ctype,
						     const struct ingest_sample_opts *opts);

/* Feed the next LEN bytes.  0, or -EBADMSG once the body cannot be a valid
 * sample (feeding more is harmless). */
int ingest_body_parser_feed(struct ingest_body_parser *bp, const char *buf, size_t len);

/* End of body: 0 and OUT filled for a valid sample, -EBADMSG with
 * OUT->errors listing the problems.  Once only. */
int ingest_body_parser_finish(struct ingest_body_parser *bp, struct ingest_sample_result *out);

/* Free; NULL does nothing. */
void ingest_body_parser_destroy(struct ingest_body_parser *bp);

#endif
