/* Lookup in the embedded web/ files; see assets.h. */
#include "hub/assets.h"

#include <string.h>

const struct web_asset *assets_find(const char *path, size_t len)
{
	if (len == 1 && path[0] == '/') {
		path = "/index.html";
		len = strlen(path);
	}
	for (const struct web_asset *a = web_assets; a->path; a++)
		if (strlen(a->path) == len && memcmp(a->path, path, len) == 0)
			return a;
	return NULL;
}
