/* plugins/ingest/body.c - JSON or multipart bodies to the sample parser; see body.h. */
#include "body.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

struct ingest_body_parser {
	struct ingest_sample_parser *sample;
	struct ingest_mp *mp;      /* NULL for a JSON body */
	int multipart;             /* the content type said multipart/form-data */
	int found;                 /* the file part began */
	char error[INGEST_SAMPLE_ERROR_MAX]; /* a problem before parsing began */
};

static int on_part(void *ud, const struct ingest_mp_part *part)
{
	struct ingest_body_parser *bp = ud;
	if (bp->found)
		return 0;
	if (strcmp(part->name, INGEST_BODY_FIELD) != 0 && !part->has_filename)
		return 0;
	bp->found = 1;
	return 1;
}

static void on_data(void *ud, const char *buf, size_t len)
{
	struct ingest_body_parser *bp = ud;
	ingest_sample_parser_feed(bp->sample, buf, len);
}

struct ingest_body_parser *ingest_body_parser_create(const char *ctype,
						     const struct ingest_sample_opts *opts)
{
	static const struct ingest_mp_callbacks cb = { on_part, on_data, NULL };
	struct ingest_body_parser *bp = calloc(1, sizeof(*bp));
	if (!bp)
		goto fail;
	bp->sample = ingest_sample_parser_create(opts);
	if (!bp->sample)
		goto fail;
	if (ingest_mp_is_form(ctype)) {
		char boundary[INGEST_MP_BOUNDARY_MAX + 1];
		int n = ingest_mp_boundary(ctype, boundary, sizeof(boundary));
		bp->multipart = 1;
		if (n < 0) {
			snprintf(bp->error, sizeof(bp->error),
				 "body: multipart/form-data without a valid boundary parameter");
		} else {
			bp->mp = ingest_mp_create(boundary, (size_t)n, &cb, bp);
			if (!bp->mp)
				goto fail;
		}
	}
	return bp;
fail:
	ingest_body_parser_destroy(bp);
	return NULL;
}

int ingest_body_parser_feed(struct ingest_body_parser *bp, const char *buf, size_t len)
{
	if (bp->error[0])
		return -EBADMSG;
	if (!bp->multipart)
		return ingest_sample_parser_feed(bp->sample, buf, len);
	return ingest_mp_feed(bp->mp, buf, len);
}

/* Put MSG before the N errors already in OUT (dropping the last if full). */
static void prepend_error(struct ingest_sample_result *out, const char *msg)
{
	unsigned n = out->n_errors < INGEST_SAMPLE_MAX_ERRORS ? out->n_errors
							      : INGEST_SAMPLE_MAX_ERRORS - 1;
	memmove(out->errors[1], out->errors[0], (size_t)n * INGEST_SAMPLE_ERROR_MAX);
	snprintf(out->errors[0], INGEST_SAMPLE_ERROR_MAX, "%s", msg);
	out->n_errors = n + 1;
}

int ingest_body_parser_finish(struct ingest_body_parser *bp, struct ingest_sample_result *out)
{
	char msg[INGEST_SAMPLE_ERROR_MAX];
	if (!bp->multipart)
		return ingest_sample_parser_finish(bp->sample, out);
	msg[0] = '\0';
	if (bp->error[0]) {
		snprintf(msg, sizeof(msg), "%s", bp->error);
	} else if (ingest_mp_finish(bp->mp) < 0) {
		snprintf(msg, sizeof(msg), "body: %s", ingest_mp_error(bp->mp));
	}
	if (!bp->found) {
		memset(out, 0, sizeof(*out));
		if (!msg[0])
			snprintf(msg, sizeof(msg),
				 "body: the form has no file part (send the sample as field '"
				 INGEST_BODY_FIELD "')");
		snprintf(out->errors[0], INGEST_SAMPLE_ERROR_MAX, "%s", msg);
		out->n_errors = 1;
		return -EBADMSG;
	}
	int rc = ingest_sample_parser_finish(bp->sample, out);
	if (msg[0]) {
		prepend_error(out, msg);
		rc = -EBADMSG;
	}
	return rc;
}

void ingest_body_parser_destroy(struct ingest_body_parser *bp)
{
	if (!bp)
		return;
	ingest_sample_parser_destroy(bp->sample);
	ingest_mp_destroy(bp->mp);
	free(bp);
}
