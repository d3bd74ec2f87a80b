/* The plugins compiled into the binary. */
#include "hub/plugins.h"

#include <stdio.h>

#include "hub/log.h"

extern const struct trm_plugin http_plugin, postgres_plugin, redis_plugin, kafka_plugin, git_plugin;
extern const struct trm_plugin ingest_plugin;

/* The client bindings Lua collectors require(), then the rest. */
static const struct trm_plugin *const builtins[] = {
	&http_plugin,
	&postgres_plugin,
	&redis_plugin,
	&kafka_plugin,
	&git_plugin,
	NULL, /* the end of the bindings */
	&ingest_plugin,
	NULL,
};

static int load(struct plugins *p, const struct trm_plugin *const *list, enum log_level level,
		const char *what)
{
	int loaded = 0;
	for (size_t i = 0; list[i]; i++) {
		char err[512];
		if (plugins_add(p, list[i], err, sizeof(err)) == 0)
			loaded++;
		else
			log_event(level, what, "detail", err, NULL);
	}
	return loaded;
}

int plugins_load_builtin(struct plugins *p)
{
	int n = load(p, builtins, LOG_ERROR, "plugin not loaded");
	size_t end = 0;
	while (builtins[end])
		end++;
	return n + load(p, builtins + end + 1, LOG_ERROR, "plugin not loaded");
}

int plugins_load_bindings(struct plugins *p)
{
	return load(p, builtins, LOG_WARN, "binding not loaded");
}
