/*
 * plugins/redis/redis.c - the redis client binding for Lua collectors (being written:
 * until then the plugin registers nothing).
 */
#include <stddef.h>

#include "hub/plugin.h"

static int plugin_init(struct trm_plugin_ctx *ctx, const struct trm_api *api)
{
	(void)ctx;
	(void)api;
	return 0;
}

const struct trm_plugin redis_plugin = {
	.abi = TRM_PLUGIN_ABI,
	.name = "lua_redis",
	.version = "0.1",
	.description = "redis binding for Lua collectors",
	.init = plugin_init,
};
