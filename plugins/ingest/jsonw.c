/* plugins/ingest/jsonw.c - JSON text writer; see jsonw.h. */
#include "jsonw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ingest_jw_init(struct ingest_jw *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
}

void ingest_jw_release(struct ingest_jw *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

static int reserve(struct ingest_jw *w, size_t n)
{
	if (w->failed)
		return -1;
	if (n > w->max - w->len || w->len + n + 1 < n) {
		w->failed = 1;
		return -1;
	}
	if (w->len + n + 1 <= w->cap)
		return 0;
	size_t ncap = w->cap ? w->cap : 256;
	while (ncap < w->len + n + 1)
		ncap *= 2;
	char *nb = realloc(w->buf, ncap);
	if (!nb) {
		w->failed = 1;
		return -1;
	}
	w->buf = nb;
	w->cap = ncap;
	return 0;
}

void ingest_jw_raw(struct ingest_jw *w, const char *s, size_t len)
{
	if (reserve(w, len) < 0)
		return;
	memcpy(w->buf + w->len, s, len);
	w->len += len;
	w->buf[w->len] = '\0';
}

void ingest_jw_lit(struct ingest_jw *w, const char *s)
{
	ingest_jw_raw(w, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at S (at most LEFT bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	unsigned cp = c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void ingest_jw_str(struct ingest_jw *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	ingest_jw_raw(w, "\"", 1);
	size_t i = 0;
	while (i < len && !w->failed) {
		size_t run = i;
		while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		ingest_jw_raw(w, s + i, run - i);
		i = run;
		if (i == len)
			break;
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			ingest_jw_raw(w, e, 2);
			i++;
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			if (c == '\n')
				ingest_jw_raw(w, "\\n", 2);
			else if (c == '\t')
				ingest_jw_raw(w, "\\t", 2);
			else if (c == '\r')
				ingest_jw_raw(w, "\\r", 2);
			else
				ingest_jw_raw(w, e, 6);
			i++;
		} else {
			size_t n = utf8_len(p + i, len - i);
			if (n == 0) {
				ingest_jw_raw(w, "\xef\xbf\xbd", 3);
				i++;
			} else {
				ingest_jw_raw(w, s + i, n);
				i += n;
			}
		}
	}
	ingest_jw_raw(w, "\"", 1);
}

void ingest_jw_num(struct ingest_jw *w, double v)
{
	char buf[40];
	if (!isfinite(v)) {
		ingest_jw_lit(w, "null");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (prec == 17 || strtod(buf, NULL) == v)
			break;
	}
	ingest_jw_lit(w, buf);
}

void ingest_jw_u64(struct ingest_jw *w, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	ingest_jw_lit(w, buf);
}

const char *ingest_jw_text(const struct ingest_jw *w, size_t *len)
{
	if (w->failed)
		return NULL;
	if (len)
		*len = w->len;
	return w->buf ? w->buf : "";
}
