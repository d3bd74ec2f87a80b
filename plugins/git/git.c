/*
 * plugins/git/git.c - the git client binding for Lua collectors (being written:
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

const struct trm_plugin git_plugin = {
	.abi = TRM_PLUGIN_ABI,
	.name = "lua_git",
	.version = "0.1",
	.description = "git binding for Lua collectors",
	.init = plugin_init,
};
