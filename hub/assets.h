#ifndef TERRARIUM_ASSETS_H
#define TERRARIUM_ASSETS_H
/* The files of web/, embedded at build time by tools/embed.c. */
#include <stddef.h>

struct web_asset {
	const char *path;          /* "/index.html" */
	const char *mime;          /* "text/html; charset=utf-8" */
	const unsigned char *data; /* the bytes, NUL-terminated for convenience */
	size_t len;                /* length without that NUL */
};

/* Terminated by an entry whose path is NULL. */
extern const struct web_asset web_assets[];

/* The asset at PATH ("/" means "/index.html"), or NULL. */
const struct web_asset *assets_find(const char *path, size_t len);

#endif
