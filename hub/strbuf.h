#ifndef TERRARIUM_STRBUF_H
#define TERRARIUM_STRBUF_H
/*
 * A growable string with a maximum size (curl's dynbuf).  Once an append
 * fails (too big or out of memory) the buffer is marked failed and every
 * later append fails too, so callers may check once at the end.
 */
#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;      /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;     /* the most it may hold, NUL excluded */
	int failed;
};

/* An empty buffer that will hold at most MAX bytes. */
void strbuf_init(struct strbuf *sb, size_t max);

/* Free what SB holds; it may be used again after strbuf_init(). */
void strbuf_release(struct strbuf *sb);

/* Take the string out (caller frees); SB becomes empty.  "" is returned as a
 * malloc'd empty string when nothing was appended; NULL if the buffer failed. */
char *strbuf_detach(struct strbuf *sb, size_t *len);

int strbuf_add(struct strbuf *sb, const void *data, size_t len);
int strbuf_adds(struct strbuf *sb, const char *s);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);

#endif
