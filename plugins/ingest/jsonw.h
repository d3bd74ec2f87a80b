/*
 * plugins/ingest/jsonw.h - a small JSON text writer for the plugin's replies
 * (a native plugin sees no JSON library through the plugin API).
 *
 * A writer is a growing buffer with a size limit; any failure (out of
 * memory, over the limit) is remembered and makes ingest_jw_finish return
 * NULL, so callers write without checking each step.  Strings are escaped;
 * bytes that are not valid UTF-8 become U+FFFD.  Numbers are written in the
 * shortest form that reads back to the same double; NaN and infinities
 * become null.
 */
#ifndef INGEST_JSONW_H
#define INGEST_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct ingest_jw {
	char *buf;
	size_t len, cap, max;
	int failed;
};

/* Start empty; MAX bounds the text (bytes, without the NUL). */
void ingest_jw_init(struct ingest_jw *w, size_t max);

/* Append LEN bytes as they are. */
void ingest_jw_raw(struct ingest_jw *w, const char *s, size_t len);

/* Append the NUL-terminated S as it is. */
void ingest_jw_lit(struct ingest_jw *w, const char *s);

/* Append the LEN bytes of S as a quoted, escaped JSON string. */
void ingest_jw_str(struct ingest_jw *w, const char *s, size_t len);

/* Append a number (shortest round-trip form), or null when not finite. */
void ingest_jw_num(struct ingest_jw *w, double v);

void ingest_jw_u64(struct ingest_jw *w, uint64_t v);

/* The NUL-terminated text (still owned by W) and its length, or NULL when
 * anything failed. */
const char *ingest_jw_text(const struct ingest_jw *w, size_t *len);

/* Free the buffer. */
void ingest_jw_release(struct ingest_jw *w);

#endif
