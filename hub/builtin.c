/* The plugins compiled into the binary. */
#include "hub/plugins.h"

#include <stdio.h>

#include "hub/log.h"

extern const struct trm_plugin http_plugin, postgres_plugin, redis_plugin, kafka_plugin, git_plugin;
extern const struct trm_plugin ingest_plugin;

static const struct trm_plugin *const builtins[] = {
	&http_plugin,
	&postgres_plugin,
	&redis_plugin,
	&kafka_plugin,
	&git_plugin,
	&ingest_plugin,
	NULL,
};

int plugins_load_builtin(struct plugins *p)
{
	int loaded = 0;
	for (size_t i = 0; builtins[i]; i++) {
		char err[512];
		if (plugins_add(p, builtins[i], err, sizeof(err)) == 0)
			loaded++;
		else
			log_event(LOG_ERROR, "plugin not loaded", "detail", err, NULL);
	}
	return loaded;
}
