/*
 * plugins/ingest/multipart.c - streaming multipart/form-data; see
 * multipart.h.
 *
 * The delimiter "\r\n--BOUNDARY" is found with a one-counter matcher: the
 * boundary holds no CR, so '\r' occurs in the delimiter only at its start,
 * and after a mismatch the only place a new match can begin is at the
 * mismatching byte itself when it is '\r'.  The bytes matched so far are a
 * prefix of the delimiter, so they are never copied: on a mismatch they are
 * handed over from the delimiter itself.
 */
#include "multipart.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum mp_state {
	MP_PREAMBLE,   /* looking for the first delimiter, dropping bytes */
	MP_AFTER,      /* after a delimiter: padding, then CRLF or "--" */
	MP_AFTER_CR,   /* after a delimiter and CR: LF */
	MP_DASH,       /* after a delimiter and one '-' */
	MP_HEADERS,    /* a part's header lines */
	MP_BODY,       /* a part's content */
	MP_EPILOGUE,   /* after the closing delimiter, dropping bytes */
	MP_FAILED,
};

struct ingest_mp {
	struct ingest_mp_callbacks cb;
	void *ud;
	enum mp_state state;
	size_t match;             /* delimiter bytes matched (held back) */
	size_t dlen;
	char delim[INGEST_MP_BOUNDARY_MAX + 4];
	int want;                 /* the current part's content is wanted */
	unsigned parts;
	struct ingest_mp_part part;
	size_t hlen;              /* bytes of the header block so far */
	size_t llen;              /* bytes of the current header line */
	char line[INGEST_MP_HEADER_MAX];
	char error[INGEST_MP_ERROR_MAX];
};

/* ---- parameters of header values ---- */

/*
 * Find parameter NAME in the ';'-separated parameters of VALUE (the text
 * after the first ';') and copy it unquoted into OUT.  Returns its length,
 * -ENOENT when absent, -ENOSPC when it does not fit OUT.
 */
static int param_get(const char *value, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = strchr(value, ';');
	while (p) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		const char *k = p;
		while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t klen = (size_t)(p - k);
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=') {
			p = strchr(p, ';');
			continue;
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		int match = klen == nlen && strncasecmp(k, name, nlen) == 0;
		size_t o = 0;
		int over = 0;
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				if (o + 1 < outlen)
					out[o++] = *p;
				else
					over = 1;
				p++;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ';' && *p != ' ' && *p != '\t') {
				if (o + 1 < outlen)
					out[o++] = *p;
				else
					over = 1;
				p++;
			}
		}
		if (match) {
			if (outlen > 0)
				out[o < outlen ? o : outlen - 1] = '\0';
			return over ? -ENOSPC : (int)o;
		}
		p = strchr(p, ';');
	}
	return -ENOENT;
}

int ingest_mp_is_form(const char *ctype)
{
	static const char form[] = "multipart/form-data";
	size_t n = sizeof(form) - 1;
	if (!ctype)
		return 0;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	if (strncasecmp(ctype, form, n) != 0)
		return 0;
	ctype += n;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	return *ctype == '\0' || *ctype == ';';
}

int ingest_mp_boundary(const char *ctype, char *out, size_t outlen)
{
	char tmp[INGEST_MP_BOUNDARY_MAX + 1];
	if (!ctype)
		return -EINVAL;
	int n = param_get(ctype, "boundary", tmp, sizeof(tmp));
	if (n <= 0 || (size_t)n >= outlen || strpbrk(tmp, "\r\n"))
		return -EINVAL;
	memcpy(out, tmp, (size_t)n + 1);
	return n;
}

/* ---- the machine ---- */

struct ingest_mp *ingest_mp_create(const char *boundary, size_t len,
				   const struct ingest_mp_callbacks *cb, void *ud)
{
	struct ingest_mp *mp = NULL;
	if (len == 0 || len > INGEST_MP_BOUNDARY_MAX || memchr(boundary, '\r', len) ||
	    memchr(boundary, '\n', len))
		return NULL;
	mp = calloc(1, sizeof(*mp));
	if (!mp)
		return NULL;
	if (cb)
		mp->cb = *cb;
	mp->ud = ud;
	memcpy(mp->delim, "\r\n--", 4);
	memcpy(mp->delim + 4, boundary, len);
	mp->dlen = len + 4;
	mp->state = MP_PREAMBLE;
	mp->match = 2; /* the body may open with "--boundary": as if after a CRLF */
	return mp;
}

void ingest_mp_destroy(struct ingest_mp *mp)
{
	free(mp);
}

const char *ingest_mp_error(const struct ingest_mp *mp)
{
	return mp->error;
}

unsigned ingest_mp_parts(const struct ingest_mp *mp)
{
	return mp->parts;
}

static int fail(struct ingest_mp *mp, const char *msg)
{
	if (mp->error[0] == '\0')
		snprintf(mp->error, sizeof(mp->error), "%s", msg);
	mp->state = MP_FAILED;
	return -EBADMSG;
}

static void data(struct ingest_mp *mp, const char *buf, size_t len)
{
	if (len && mp->state == MP_BODY && mp->want && mp->cb.on_data)
		mp->cb.on_data(mp->ud, buf, len);
}

static void copy_trunc(char *dst, size_t dstlen, const char *src)
{
	snprintf(dst, dstlen, "%s", src);
}

/* One complete header line (without its line end) in mp->line[0..llen). */
static void header_line(struct ingest_mp *mp)
{
	char *l = mp->line;
	l[mp->llen] = '\0';
	char *colon = strchr(l, ':');
	if (!colon)
		return;
	*colon = '\0';
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t vlen = strlen(v);
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		v[--vlen] = '\0';
	if (strcasecmp(l, "Content-Disposition") == 0) {
		char tmp[INGEST_MP_NAME_MAX];
		if (param_get(v, "name", tmp, sizeof(tmp)) >= 0)
			copy_trunc(mp->part.name, sizeof(mp->part.name), tmp);
		if (param_get(v, "filename", tmp, sizeof(tmp)) != -ENOENT) {
			mp->part.has_filename = 1;
			copy_trunc(mp->part.filename, sizeof(mp->part.filename), tmp);
		} else if (param_get(v, "filename*", tmp, sizeof(tmp)) != -ENOENT) {
			mp->part.has_filename = 1;
			copy_trunc(mp->part.filename, sizeof(mp->part.filename), tmp);
		}
	} else if (strcasecmp(l, "Content-Type") == 0) {
		copy_trunc(mp->part.content_type, sizeof(mp->part.content_type), v);
	}
}

static void headers_begin(struct ingest_mp *mp)
{
	memset(&mp->part, 0, sizeof(mp->part));
	mp->hlen = 0;
	mp->llen = 0;
	mp->state = MP_HEADERS;
}

static void part_begin(struct ingest_mp *mp)
{
	mp->parts++;
	mp->state = MP_BODY;
	mp->match = 0;
	mp->want = mp->cb.on_part ? mp->cb.on_part(mp->ud, &mp->part) : 0;
}

/* The delimiter was matched in full. */
static void delimiter(struct ingest_mp *mp)
{
	if (mp->state == MP_BODY && mp->want && mp->cb.on_part_end)
		mp->cb.on_part_end(mp->ud);
	mp->want = 0;
	mp->match = 0;
	mp->state = MP_AFTER;
}

int ingest_mp_feed(struct ingest_mp *mp, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	while (p < end) {
		switch (mp->state) {
		case MP_FAILED:
			return -EBADMSG;
		case MP_EPILOGUE:
			return 0;
		case MP_PREAMBLE:
		case MP_BODY: {
			if (mp->match == 0) {
				/* Hand over everything up to the next CR at once. */
				const char *cr = memchr(p, '\r', (size_t)(end - p));
				const char *stop = cr ? cr : end;
				data(mp, p, (size_t)(stop - p));
				p = stop;
				if (p == end)
					break;
			}
			char c = *p++;
			if (c == mp->delim[mp->match]) {
				if (++mp->match == mp->dlen)
					delimiter(mp);
			} else {
				data(mp, mp->delim, mp->match);
				if (c == '\r') {
					mp->match = 1;
				} else {
					data(mp, &c, 1);
					mp->match = 0;
				}
			}
			break;
		}
		case MP_AFTER: {
			char c = *p++;
			if (c == '-')
				mp->state = MP_DASH;
			else if (c == '\r')
				mp->state = MP_AFTER_CR;
			else if (c == '\n')
				headers_begin(mp);
			else if (c != ' ' && c != '\t')
				return fail(mp, "multipart: unexpected bytes after a boundary");
			break;
		}
		case MP_AFTER_CR:
			if (*p++ != '\n')
				return fail(mp, "multipart: a boundary line does not end with CRLF");
			headers_begin(mp);
			break;
		case MP_DASH:
			if (*p++ != '-')
				return fail(mp, "multipart: unexpected bytes after a boundary");
			mp->state = MP_EPILOGUE;
			return 0;
		case MP_HEADERS: {
			char c = *p++;
			if (++mp->hlen > INGEST_MP_HEADER_MAX)
				return fail(mp, "multipart: a part's headers are too long");
			if (c != '\n') {
				if (mp->llen + 1 >= sizeof(mp->line))
					return fail(mp, "multipart: a part's headers are too long");
				mp->line[mp->llen++] = c;
				break;
			}
			if (mp->llen && mp->line[mp->llen - 1] == '\r')
				mp->llen--;
			if (mp->llen == 0) {
				part_begin(mp);
				break;
			}
			header_line(mp);
			mp->llen = 0;
			break;
		}
		}
	}
	return mp->state == MP_FAILED ? -EBADMSG : 0;
}

int ingest_mp_finish(struct ingest_mp *mp)
{
	switch (mp->state) {
	case MP_EPILOGUE:
		return 0;
	case MP_FAILED:
		return -EBADMSG;
	case MP_PREAMBLE:
		return fail(mp, "multipart: no boundary line found in the body");
	default:
		return fail(mp, "multipart: the body ends before the closing boundary");
	}
}
