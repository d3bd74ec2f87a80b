/*
 * plugins/ingest/multipart.h - a streaming parser of multipart/form-data
 * bodies (RFC 7578 over RFC 2046), as `curl -F "file_upload=@f.json"` sends.
 *
 * Feed the body in chunks of any size (down to one byte); the parser calls
 * back with each part's headers and hands over the content of the parts the
 * caller wants, in pieces, without ever holding a part whole: it keeps O(1)
 * memory (the delimiter, one header block of at most INGEST_MP_HEADER_MAX
 * bytes).  A delimiter split across chunks is found; bytes held back while
 * it might be one are handed over as content as soon as it is not.
 *
 * Rules followed: the delimiter is CRLF "--" boundary (the first one may
 * open the body without the CRLF; anything before it is preamble and is
 * skipped); after a delimiter come optional spaces or tabs and CRLF, or "--"
 * for the last one (anything after that is epilogue and is skipped).  Header
 * lines end with CRLF (a bare LF is accepted too); header names are
 * case-insensitive; parameter values may be tokens or quoted strings with
 * backslash escapes.  A body that ends before the closing delimiter, a
 * header block over the limit or junk after a delimiter is an error.
 *
 * One parser is used by one thread at a time.
 */
#ifndef INGEST_MULTIPART_H
#define INGEST_MULTIPART_H

#include <stddef.h>

#define INGEST_MP_BOUNDARY_MAX 200   /* bytes of a boundary (RFC 2046: 70) */
#define INGEST_MP_HEADER_MAX 8192    /* bytes of one part's header block */
#define INGEST_MP_NAME_MAX 256       /* field name, filename, type kept, with NUL */
#define INGEST_MP_ERROR_MAX 128

/* What a part's headers said (strings NUL-terminated, truncated to fit). */
struct ingest_mp_part {
	char name[INGEST_MP_NAME_MAX];         /* Content-Disposition name, or "" */
	char filename[INGEST_MP_NAME_MAX];     /* filename, or "" */
	int has_filename;                      /* a filename (or filename*) was given */
	char content_type[INGEST_MP_NAME_MAX]; /* the part's Content-Type, or "" */
};

struct ingest_mp_callbacks {
	/* A part begins (PART is valid during the call).  Return 1 to receive
	 * its content through on_data, 0 to skip it. */
	int (*on_part)(void *ud, const struct ingest_mp_part *part);
	/* The next LEN bytes of a wanted part (BUF valid during the call). */
	void (*on_data)(void *ud, const char *buf, size_t len);
	/* The wanted part ended with a delimiter (not called when the body ends
	 * inside it). */
	void (*on_part_end)(void *ud);
};

struct ingest_mp;

/*
 * Copy the boundary parameter of the Content-Type value CTYPE (e.g.
 * "multipart/form-data; boundary=----abc", or a quoted boundary) into OUT.
 * Returns its length, or -EINVAL when CTYPE has none, or it is empty, too
 * long for OUT (or INGEST_MP_BOUNDARY_MAX) or holds CR or LF.
 */
int ingest_mp_boundary(const char *ctype, char *out, size_t outlen);

/* Whether CTYPE is multipart/form-data (case-insensitive, parameters ignored). */
int ingest_mp_is_form(const char *ctype);

/*
 * A parser for a body with BOUNDARY (LEN bytes, copied); CB (copied) and UD
 * are handed to the callbacks.  NULL when out of memory or the boundary is
 * empty or longer than INGEST_MP_BOUNDARY_MAX.
 */
struct ingest_mp *ingest_mp_create(const char *boundary, size_t len,
				   const struct ingest_mp_callbacks *cb, void *ud);

/* Feed LEN bytes.  0, or -EBADMSG once the body cannot be valid (later
 * feeds are ignored; ingest_mp_error says why). */
int ingest_mp_feed(struct ingest_mp *mp, const char *buf, size_t len);

/* End of body: 0 when the closing delimiter was seen, -EBADMSG otherwise. */
int ingest_mp_finish(struct ingest_mp *mp);

/* The first problem found ("" when none); valid until the parser is freed. */
const char *ingest_mp_error(const struct ingest_mp *mp);

/* How many parts began so far. */
unsigned ingest_mp_parts(const struct ingest_mp *mp);

/* Free a parser; NULL does nothing. */
void ingest_mp_destroy(struct ingest_mp *mp);

#endif
