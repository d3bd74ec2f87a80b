/*
 * plugins/git/git.c - the git client binding for Lua collectors:
 * `local git = require "git"` (module registered by the built-in plugin
 * "lua_git"), on libgit2.
 *
 *   repo, err = git.open(path [, opts])
 *       Open the repository at PATH (a working tree, its .git directory, or a
 *       bare repository).  No search upwards: PATH must be the repository.
 *   repo, err = git.clone(url, dir [, opts])
 *       Clone URL (file://, a local path, https:// or ssh://) as a bare
 *       repository into git.clone_path(DIR).  Every branch of the remote is
 *       kept as a local branch (a mirror refspec: refs/heads/NAME of the
 *       remote is refs/heads/NAME here), so repo:fetch() updates them all.
 *       OPTS.branch: the branch HEAD names (default: the remote's HEAD).
 *       Fails when DIR exists; a clone that fails leaves no directory.
 *   path = git.clone_path(dir)
 *       Where DIR lives: "<data dir>/plugins/lua_git/clones/DIR".  DIR is
 *       1..100 characters of [A-Za-z0-9._-], not starting with '.' (anything
 *       else raises), so a collector can never write outside that folder.
 *   ok, err = repo:fetch([opts])
 *       Fetch OPTS.remote (default "origin") from its configured URL with
 *       its configured fetch refspec (the last one when there are several),
 *       pruning branches the remote deleted.  url.*.insteadOf rewriting is
 *       not applied (libgit2 1.5 leaks memory on every such lookup).
 *   info = repo:info()
 *       { path, bare, empty, head_branch = "main" | nil (detached),
 *         head = "<40 hex>" | nil (no commit yet), detached, remote_url }
 *       (remote_url: origin's URL with any user:password@ removed)
 *   list, err = repo:branches([opts])
 *       { { name, oid, is_head, remote, time, summary }, ... }, local
 *       branches (OPTS.remote = true: remote-tracking ones too), at most
 *       OPTS.limit (default 1000) of them.
 *   list, err = repo:commits([opts])
 *       The commits reachable from OPTS.ref (default "HEAD"; any revision
 *       git understands), newest first (children before their parents, then
 *       by commit time), at most OPTS.limit (default 100):
 *       { { id, short, summary, author, email, time, committer,
 *           committer_email, parents }, ... }.  A repository without commits
 *       gives {}.
 *   data, err = repo:read(path [, opts])
 *       The content of file PATH at OPTS.ref (default "HEAD"), at most
 *       OPTS.max_bytes (default 16 MiB; a larger file is an error).
 *   entry, err = repo:stat(path [, opts])
 *       { type = "blob" | "tree" | "commit", size (blobs), oid } of PATH at
 *       OPTS.ref, or false when there is no such path (not an error).
 *   found, err = repo:last_commit(paths [, opts])
 *       The newest commit that changed PATH (a string: a commit table as
 *       above, or false when none of the OPTS.max_commits (default 1000)
 *       newest commits did), or for a list of paths a table path -> commit
 *       (paths not found are absent).  A commit changed a path when the
 *       path's blob differs from that in every parent (git log's rule for
 *       merges); a deletion counts.
 *   repo:close()   (also on garbage collection and for `local r <close>`)
 *
 * Bounds.  Every call takes OPTS.timeout (seconds; default 10, or 60 for
 * clone and fetch).  Walks check the deadline at every commit.  Network
 * operations go through a socket stream of ours (registered with libgit2
 * for every plain socket, which TLS and SSH run over) whose connect, reads
 * and writes wait at most until the deadline; the transfer-progress
 * callback also stops a transfer past the deadline or past OPTS.max_bytes
 * (default 1 GiB) received.  Name resolution (getaddrinfo) is bounded only
 * by the system resolver's own timeouts.
 *
 * Authentication for clone and fetch: OPTS.token (or OPTS.password) with
 * OPTS.username (default "x-access-token", which GitHub accepts; GitLab
 * wants "oauth2") over https; OPTS.ssh_key (a private key file, with
 * OPTS.ssh_public_key optional and OPTS.ssh_passphrase) over ssh, with the
 * user named in the URL (default "git").  One attempt each: a refused
 * credential fails the call.  Credentials never appear in messages.
 *
 * Failures return nil and a message starting "git: ", e.g.
 *   "git: could not find repository at '/srv/none'"
 *   "git: timeout after 5 s (clone file:///srv/repo)"
 *   "git: 'target/manifest.json' is 20971520 bytes, more than max_bytes 16777216"
 * Wrong arguments, and using a closed repository, raise a Lua error.
 *
 * Every libgit2 object a call holds while it builds Lua values is owned by a
 * "guard" userdata whose __gc frees it, so a Lua error in the middle (the
 * collector's memory cap) leaks nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/stream.h>
#include <lauxlib.h>
#include <lua.h>

#include "hub/plugin.h"

#define DEFAULT_TIMEOUT 10.0
#define DEFAULT_NET_TIMEOUT 60.0
#define MAX_TIMEOUT 3600.0
#define DEFAULT_READ_MAX ((lua_Integer)16 * 1024 * 1024)
#define MAX_READ_MAX ((lua_Integer)256 * 1024 * 1024)
#define DEFAULT_NET_MAX ((lua_Integer)1024 * 1024 * 1024)
#define DEFAULT_COMMITS 100
#define DEFAULT_BRANCHES 1000
#define DEFAULT_WALK 1000
#define MAX_COUNT 1000000
#define MAX_PATHS 100000
#define SUMMARY_MAX 4096
#define DIR_NAME_MAX 100
#define PATH_MAX_LEN 4096
#define REPO_MT "terrarium.git.repo"
#define GUARD_MT "terrarium.git.guard"

static char g_clone_root[PATH_MAX_LEN];
static int g_inited;

/* The deadline of the network operation running on this thread (0: none). */
static _Thread_local double tl_deadline;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- a socket stream with deadlines -------------------------------------------------- */

struct tstream {
	git_stream parent;
	int fd;
	char host[256];
	char port[32];
};

/* Wait for EVENTS on FD until this thread's deadline (or 60 s when none is
 * set).  1 ready, 0 timed out, -1 error. */
static int ts_wait(int fd, short events)
{
	double deadline = tl_deadline > 0 ? tl_deadline : now_s() + DEFAULT_NET_TIMEOUT;
	for (;;) {
		double left = deadline - now_s();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)ceil(left * 1000.0));
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static int ts_connect(git_stream *gs)
{
	struct tstream *s = (struct tstream *)gs;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char why[700] = "";
	int rc = -1;

	int gai = getaddrinfo(s->host, s->port, &hints, &res);
	if (gai != 0) {
		snprintf(why, sizeof(why), "cannot resolve '%s': %s", s->host, gai_strerror(gai));
		goto out;
	}
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				a->ai_protocol);
		if (fd < 0) {
			snprintf(why, sizeof(why), "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			s->fd = fd;
			rc = 0;
			goto out;
		}
		if (errno == EINPROGRESS) {
			int w = ts_wait(fd, POLLOUT);
			int soerr = 0;
			socklen_t len = sizeof(soerr);
			if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 &&
			    soerr == 0) {
				s->fd = fd;
				rc = 0;
				goto out;
			}
			if (w == 0)
				snprintf(why, sizeof(why), "timeout connecting to %s:%s", s->host,
					 s->port);
			else
				snprintf(why, sizeof(why), "cannot connect to %s:%s: %s", s->host,
					 s->port, strerror(soerr ? soerr : errno));
		} else {
			snprintf(why, sizeof(why), "cannot connect to %s:%s: %s", s->host, s->port,
				 strerror(errno));
		}
		close(fd);
		if (tl_deadline > 0 && now_s() >= tl_deadline)
			break;
	}
out:
	if (res)
		freeaddrinfo(res);
	if (rc < 0)
		git_error_set_str(GIT_ERROR_NET, why[0] ? why : "cannot connect");
	return rc;
}

static ssize_t ts_read(git_stream *gs, void *buf, size_t len)
{
	struct tstream *s = (struct tstream *)gs;
	for (;;) {
		ssize_t n = recv(s->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			git_error_set_str(GIT_ERROR_NET, strerror(errno));
			return -1;
		}
		int w = ts_wait(s->fd, POLLIN);
		if (w <= 0) {
			git_error_set_str(GIT_ERROR_NET, w == 0 ? "timeout reading from the server"
								: strerror(errno));
			return -1;
		}
	}
}

static ssize_t ts_write(git_stream *gs, const char *data, size_t len, int flags)
{
	struct tstream *s = (struct tstream *)gs;
	size_t done = 0;
	(void)flags;
	while (done < len) {
		ssize_t n = send(s->fd, data + done, len - done, MSG_NOSIGNAL);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			git_error_set_str(GIT_ERROR_NET, strerror(errno));
			return -1;
		}
		int w = ts_wait(s->fd, POLLOUT);
		if (w <= 0) {
			git_error_set_str(GIT_ERROR_NET, w == 0 ? "timeout writing to the server"
								: strerror(errno));
			return -1;
		}
	}
	return (ssize_t)done;
}

static int ts_close(git_stream *gs)
{
	struct tstream *s = (struct tstream *)gs;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	return 0;
}

static void ts_free(git_stream *gs)
{
	ts_close(gs);
	free(gs);
}

static int ts_init(git_stream **out, const char *host, const char *port)
{
	struct tstream *s = calloc(1, sizeof(*s));
	if (!s) {
		git_error_set_oom();
		return -1;
	}
	s->parent.version = GIT_STREAM_VERSION;
	s->parent.connect = ts_connect;
	s->parent.read = ts_read;
	s->parent.write = ts_write;
	s->parent.close = ts_close;
	s->parent.free = ts_free;
	s->fd = -1;
	snprintf(s->host, sizeof(s->host), "%s", host ? host : "");
	snprintf(s->port, sizeof(s->port), "%s", port ? port : "");
	*out = &s->parent;
	return 0;
}

/* --- errors ----------------------------------------------------------------------- */

/* Push nil and "git: " + libgit2's last message (or FALLBACK). */
static int push_git_err(lua_State *L, const char *fallback)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message && e->message[0] ? e->message : fallback;
	char line[900];
	size_t n = 0;

	for (const char *p = msg; *p && *p != '\n' && n + 1 < sizeof(line); p++)
		line[n++] = *p;
	while (n > 0 && (line[n - 1] == '.' || line[n - 1] == ' '))
		n--;
	line[n] = '\0';
	lua_pushnil(L);
	lua_pushfstring(L, "git: %s", line);
	return 2;
}

static int push_err(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int push_err(lua_State *L, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lua_pushnil(L);
	lua_pushfstring(L, "git: %s", msg);
	return 2;
}

/* URL without "user:password@" into OUT. */
static void redact_url(const char *url, char *out, size_t outlen)
{
	const char *scheme = strstr(url, "://");
	const char *at, *slash;
	if (!scheme) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	slash = strchr(scheme + 3, '/');
	at = strchr(scheme + 3, '@');
	if (!at || (slash && at > slash)) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	snprintf(out, outlen, "%.*s%s", (int)(scheme + 3 - url), url, at + 1);
}

/* --- options --------------------------------------------------------------------------- */

static int opt_table(lua_State *L, int idx)
{
	if (lua_isnoneornil(L, idx))
		return 0;
	luaL_checktype(L, idx, LUA_TTABLE);
	return idx;
}

static double opt_timeout(lua_State *L, int idx, double def)
{
	double t = def;
	if (!idx)
		return t;
	if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
		int isnum;
		t = lua_tonumberx(L, -1, &isnum);
		if (!isnum || !(t > 0) || t > MAX_TIMEOUT)
			luaL_error(L, "git: timeout must be a number of seconds in (0, %d]",
				   (int)MAX_TIMEOUT);
	}
	lua_pop(L, 1);
	return t;
}

static lua_Integer opt_int(lua_State *L, int idx, const char *key, lua_Integer def,
			   lua_Integer max)
{
	lua_Integer v = def;
	if (!idx)
		return v;
	if (lua_getfield(L, idx, key) != LUA_TNIL) {
		int isnum;
		v = lua_tointegerx(L, -1, &isnum);
		if (!isnum || v < 1 || v > max)
			luaL_error(L, "git: %s must be an integer in [1, %I]", key, max);
	}
	lua_pop(L, 1);
	return v;
}

/* A string option (borrowed: valid while the options table is on the
 * stack and holds it), or NULL. */
static const char *opt_str(lua_State *L, int idx, const char *key)
{
	const char *s = NULL;
	if (!idx)
		return NULL;
	int t = lua_getfield(L, idx, key);
	if (t == LUA_TSTRING)
		s = lua_tostring(L, -1);
	else if (t != LUA_TNIL)
		luaL_error(L, "git: %s must be a string", key);
	lua_pop(L, 1); /* the table still holds the string */
	return s;
}

static int opt_bool(lua_State *L, int idx, const char *key, int def)
{
	int v = def;
	if (!idx)
		return v;
	int t = lua_getfield(L, idx, key);
	if (t == LUA_TBOOLEAN)
		v = lua_toboolean(L, -1);
	else if (t != LUA_TNIL)
		luaL_error(L, "git: %s must be a boolean", key);
	lua_pop(L, 1);
	return v;
}

/* --- the guard: libgit2 objects held across Lua calls that may raise ------------------ */

#define GUARD_COMMITS 4
#define GUARD_TREES 4

struct guard {
	git_revwalk *walk;
	git_commit *commit[GUARD_COMMITS];
	git_tree *tree[GUARD_TREES];
	git_object *obj;
	git_reference *ref;
	git_branch_iterator *iter;
	git_tree_entry *entry;
	git_blob *blob;
	unsigned char *flags; /* malloc'd */
	char **paths;       /* malloc'd array of malloc'd strings */
	size_t npaths;
};

static void guard_release(struct guard *g)
{
	git_revwalk_free(g->walk);
	g->walk = NULL;
	for (int i = 0; i < GUARD_COMMITS; i++) {
		git_commit_free(g->commit[i]);
		g->commit[i] = NULL;
	}
	for (int i = 0; i < GUARD_TREES; i++) {
		git_tree_free(g->tree[i]);
		g->tree[i] = NULL;
	}
	git_object_free(g->obj);
	g->obj = NULL;
	git_reference_free(g->ref);
	g->ref = NULL;
	git_branch_iterator_free(g->iter);
	g->iter = NULL;
	git_tree_entry_free(g->entry);
	g->entry = NULL;
	git_blob_free(g->blob);
	g->blob = NULL;
	free(g->flags);
	g->flags = NULL;
	for (size_t i = 0; g->paths && i < g->npaths; i++)
		free(g->paths[i]);
	free(g->paths);
	g->paths = NULL;
	g->npaths = 0;
}

static int guard_gc(lua_State *L)
{
	guard_release(luaL_checkudata(L, 1, GUARD_MT));
	return 0;
}

/* Push a new guard (freed by the GC) and return it.  Raises on no memory. */
static struct guard *guard_new(lua_State *L)
{
	struct guard *g = lua_newuserdatauv(L, sizeof(*g), 0);
	memset(g, 0, sizeof(*g));
	luaL_setmetatable(L, GUARD_MT);
	return g;
}

/* Free what G holds, then push nil and libgit2's last message. */
static int fail_git(lua_State *L, struct guard *g, const char *fallback)
{
	guard_release(g);
	return push_git_err(L, fallback);
}

/* --- the repository handle ------------------------------------------------------------- */

struct grepo {
	git_repository *repo;
	char where[PATH_MAX_LEN];   /* the path, for messages */
};

static struct grepo *check_repo(lua_State *L)
{
	struct grepo *r = luaL_checkudata(L, 1, REPO_MT);
	if (!r->repo)
		luaL_error(L, "git: repository is closed");
	return r;
}

static int repo_gc(lua_State *L)
{
	struct grepo *r = luaL_checkudata(L, 1, REPO_MT);
	git_repository_free(r->repo);
	r->repo = NULL;
	return 0;
}

static int repo_tostring(lua_State *L)
{
	struct grepo *r = luaL_checkudata(L, 1, REPO_MT);
	lua_pushfstring(L, "git repository (%s)%s", r->where, r->repo ? "" : " (closed)");
	return 1;
}

/* Push a new, empty repository handle (its metatable set). */
static struct grepo *repo_new(lua_State *L, const char *where)
{
	struct grepo *r = lua_newuserdatauv(L, sizeof(*r), 0);
	memset(r, 0, sizeof(*r));
	snprintf(r->where, sizeof(r->where), "%.4000s", where);
	luaL_setmetatable(L, REPO_MT);
	return r;
}

static int l_open(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	opt_table(L, 2);
	struct grepo *r = repo_new(L, path);
	int rc = git_repository_open_ext(&r->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (rc < 0) {
		r->repo = NULL;
		return push_git_err(L, "cannot open repository");
	}
	return 1;
}

/* --- clone and fetch ------------------------------------------------------------------------ */

struct netop {
	double deadline;
	double timeout;
	size_t max_bytes;
	int timed_out;
	int too_big;
	int tries;
	const char *username;
	const char *password;
	const char *ssh_key;
	const char *ssh_pub;
	const char *ssh_pass;
};

static int check_net(struct netop *op, size_t received)
{
	if (now_s() > op->deadline) {
		op->timed_out = 1;
		git_error_set_str(GIT_ERROR_NET, "timeout");
		return -1;
	}
	if (received > op->max_bytes) {
		op->too_big = 1;
		git_error_set_str(GIT_ERROR_NET, "too much data");
		return -1;
	}
	return 0;
}

static int cb_transfer(const git_indexer_progress *stats, void *payload)
{
	return check_net(payload, stats->received_bytes);
}

static int cb_sideband(const char *str, int len, void *payload)
{
	(void)str;
	(void)len;
	return check_net(payload, 0);
}

static int cb_update_tips(const char *refname, const git_oid *a, const git_oid *b, void *payload)
{
	(void)refname;
	(void)a;
	(void)b;
	return check_net(payload, 0);
}

static int cb_credentials(git_credential **out, const char *url, const char *user_from_url,
			  unsigned int allowed, void *payload)
{
	struct netop *op = payload;
	(void)url;
	if (op->tries++ > 0) {
		git_error_set_str(GIT_ERROR_NET, "authentication failed (credentials refused)");
		return GIT_EAUTH;
	}
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && op->password)
		return git_credential_userpass_plaintext_new(
			out, op->username ? op->username : user_from_url ? user_from_url :
				"x-access-token", op->password);
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && op->ssh_key)
		return git_credential_ssh_key_new(out, user_from_url ? user_from_url :
						  op->username ? op->username : "git",
						  op->ssh_pub, op->ssh_key, op->ssh_pass);
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user_from_url ? user_from_url : "git");
	git_error_set_str(GIT_ERROR_NET, "authentication required (set token or ssh_key)");
	return GIT_EAUTH;
}

static void netop_read(lua_State *L, int o, struct netop *op, double def_timeout)
{
	memset(op, 0, sizeof(*op));
	op->timeout = opt_timeout(L, o, def_timeout);
	op->max_bytes = (size_t)opt_int(L, o, "max_bytes", DEFAULT_NET_MAX, (lua_Integer)1 << 40);
	op->username = opt_str(L, o, "username");
	op->password = opt_str(L, o, "token");
	if (!op->password)
		op->password = opt_str(L, o, "password");
	op->ssh_key = opt_str(L, o, "ssh_key");
	op->ssh_pub = opt_str(L, o, "ssh_public_key");
	op->ssh_pass = opt_str(L, o, "ssh_passphrase");
	op->deadline = now_s() + op->timeout;
}

static void callbacks_set(git_remote_callbacks *cb, struct netop *op)
{
	cb->transfer_progress = cb_transfer;
	cb->sideband_progress = cb_sideband;
	cb->update_tips = cb_update_tips;
	cb->credentials = cb_credentials;
	cb->payload = op;
}

/* Push nil and the reason a network operation WHAT failed. */
static int push_net_err(lua_State *L, struct netop *op, const char *what, const char *url)
{
	char clean[2048];
	redact_url(url, clean, sizeof(clean));
	if (op->timed_out || now_s() > op->deadline)
		return push_err(L, "timeout after %g s (%s %s)", op->timeout, what, clean);
	if (op->too_big)
		return push_err(L, "more than max_bytes %zu received (%s %s)", op->max_bytes, what,
				clean);
	const git_error *e = git_error_last();
	char msg[700];
	snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "failed");
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '.' || msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	return push_err(L, "%s (%s %s)", msg, what, clean);
}

static int valid_dir_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DIR_NAME_MAX || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* The clone directory of NAME into OUT; raises on a bad name. */
static void clone_path(lua_State *L, const char *name, char *out, size_t outlen)
{
	if (!valid_dir_name(name))
		luaL_error(L, "git: clone directory '%s' must be 1 to %d characters of "
			      "[A-Za-z0-9._-], not starting with '.'", name, DIR_NAME_MAX);
	if (!g_clone_root[0])
		luaL_error(L, "git: no data directory to clone into");
	snprintf(out, outlen, "%s/%s", g_clone_root, name);
}

static int l_clone_path(lua_State *L)
{
	char path[PATH_MAX_LEN + DIR_NAME_MAX + 2];
	clone_path(L, luaL_checkstring(L, 1), path, sizeof(path));
	lua_pushstring(L, path);
	return 1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int cb_mirror_remote(git_remote **out, git_repository *repo, const char *name,
			    const char *url, void *payload)
{
	git_remote_create_options o;
	(void)payload;
	git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	o.repository = repo;
	o.name = name;
	o.fetchspec = "+refs/heads/*:refs/heads/*";
	o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
	return git_remote_create_with_opts(out, url, &o);
}

/*
 * An in-memory remote for remote NAME of REPO, from its configured URL and
 * fetch refspec (FETCHSPEC overrides it), into *OUT; its URL into URL.
 * URL rewriting by url.*.insteadOf is not applied: libgit2 1.5 leaks the
 * PCRE2 match data of every insteadOf lookup (git_remote_lookup,
 * git_remote_create).  0, or -1 with libgit2's error set.
 */
static int remote_open(git_remote **out, git_repository *repo, const char *name,
		       const char *fetchspec, char *url, size_t urllen)
{
	git_config *cfg = NULL;
	git_remote_create_options o;
	const char *v = NULL;
	char key[300], spec[1024] = "";
	int rc = -1;

	*out = NULL;
	url[0] = '\0';
	if (git_repository_config_snapshot(&cfg, repo) < 0)
		goto out;
	snprintf(key, sizeof(key), "remote.%s.url", name);
	if (git_config_get_string(&v, cfg, key) < 0 || !v || !*v) {
		git_error_set_str(GIT_ERROR_CONFIG, "no such remote (or it has no url)");
		goto out;
	}
	snprintf(url, urllen, "%s", v);
	if (fetchspec) {
		snprintf(spec, sizeof(spec), "%s", fetchspec);
	} else {
		snprintf(key, sizeof(key), "remote.%s.fetch", name);
		if (git_config_get_string(&v, cfg, key) == 0 && v)
			snprintf(spec, sizeof(spec), "%s", v);
	}
	git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	o.repository = repo;
	o.name = NULL;
	o.fetchspec = spec[0] ? spec : NULL;
	o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	rc = git_remote_create_with_opts(out, url, &o);
out:
	git_config_free(cfg);
	return rc;
}

/* Point HEAD of a fresh mirror at BRANCH, or at the remote's default
 * branch (asked over the network, within OP's deadline), or at "main" or
 * "master" when the remote does not say.  0, or -1 with libgit2's error. */
static int mirror_head(git_repository *repo, const char *branch, struct netop *op)
{
	git_remote *remote = NULL;
	git_reference *ref = NULL;
	git_buf def = { 0 };
	git_remote_callbacks cb;
	char target[1024] = "";
	int rc = -1;

	if (branch) {
		snprintf(target, sizeof(target), "refs/heads/%s", branch);
		if (git_reference_lookup(&ref, repo, target) < 0) {
			git_error_set_str(GIT_ERROR_REFERENCE, "the remote has no such branch");
			goto out;
		}
	} else {
		git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
		callbacks_set(&cb, op);
		char url[2048];
		if (remote_open(&remote, repo, "origin", NULL, url, sizeof(url)) == 0 &&
		    git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, NULL, NULL) == 0 &&
		    git_remote_default_branch(&def, remote) == 0 && def.ptr)
			snprintf(target, sizeof(target), "%s", def.ptr);
		if (op->timed_out || now_s() > op->deadline)
			goto out;
		if (!target[0] || git_reference_lookup(&ref, repo, target) < 0) {
			git_reference_free(ref);
			ref = NULL;
			snprintf(target, sizeof(target), "refs/heads/main");
			if (git_reference_lookup(&ref, repo, target) < 0)
				snprintf(target, sizeof(target), "refs/heads/master");
		}
	}
	rc = git_repository_set_head(repo, target);
out:
	git_buf_dispose(&def);
	git_reference_free(ref);
	if (remote) {
		git_remote_disconnect(remote);
		git_remote_free(remote);
	}
	return rc;
}

static int l_clone(lua_State *L)
{
	const char *url = luaL_checkstring(L, 1);
	const char *dir = luaL_checkstring(L, 2);
	int o = opt_table(L, 3);
	char path[PATH_MAX_LEN + DIR_NAME_MAX + 2];
	struct netop op;
	struct stat st;
	git_clone_options co;
	git_repository *repo = NULL;

	clone_path(L, dir, path, sizeof(path));
	netop_read(L, o, &op, DEFAULT_NET_TIMEOUT);
	const char *branch = opt_str(L, o, "branch");
	struct grepo *r = repo_new(L, path);
	if (lstat(path, &st) == 0)
		return push_err(L, "'%s' already exists (open it and fetch)", path);
	if (mkdir(g_clone_root, 0700) < 0 && errno != EEXIST)
		return push_err(L, "cannot create '%s': %s", g_clone_root, strerror(errno));
	git_clone_options_init(&co, GIT_CLONE_OPTIONS_VERSION);
	co.bare = 1;
	co.remote_cb = cb_mirror_remote;
	callbacks_set(&co.fetch_opts.callbacks, &op);
	tl_deadline = op.deadline;
	int rc = git_clone(&repo, url, path, &co);
	if (rc == 0 && (branch || git_repository_head_unborn(repo) == 1))
		rc = mirror_head(repo, branch, &op);
	tl_deadline = 0;
	if (rc < 0) {
		git_repository_free(repo);
		int n = push_net_err(L, &op, "clone", url);
		if (lstat(path, &st) == 0)
			nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return n;
	}
	r->repo = repo;
	return 1;
}

static int l_fetch(lua_State *L)
{
	struct grepo *r = check_repo(L);
	int o = opt_table(L, 2);
	struct netop op;
	git_fetch_options fo;
	git_remote *remote = NULL;
	char url[2048] = "";
	int rc;

	netop_read(L, o, &op, DEFAULT_NET_TIMEOUT);
	const char *name = opt_str(L, o, "remote");
	if (!name)
		name = "origin";
	if (remote_open(&remote, r->repo, name, NULL, url, sizeof(url)) < 0)
		return push_git_err(L, "no such remote");
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.prune = GIT_FETCH_PRUNE;
	callbacks_set(&fo.callbacks, &op);
	tl_deadline = op.deadline;
	rc = git_remote_fetch(remote, NULL, &fo, "fetch");
	tl_deadline = 0;
	git_remote_free(remote);
	if (rc < 0)
		return push_net_err(L, &op, "fetch", url);
	lua_pushboolean(L, 1);
	return 1;
}

/* --- reading -------------------------------------------------------------------------------- */

static void set_str(lua_State *L, const char *key, const char *v)
{
	if (!v)
		return;
	lua_pushstring(L, v);
	lua_setfield(L, -2, key);
}

static void set_oid(lua_State *L, const char *key, const git_oid *oid)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), oid);
	lua_pushstring(L, hex);
	lua_setfield(L, -2, key);
}

/* Push C as a table. */
static void push_commit(lua_State *L, const git_commit *c)
{
	char hex[GIT_OID_HEXSZ + 1];
	const git_signature *a = git_commit_author(c);
	const git_signature *m = git_commit_committer(c);
	const char *summary = git_commit_summary((git_commit *)c);

	lua_createtable(L, 0, 9);
	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	lua_pushstring(L, hex);
	lua_setfield(L, -2, "id");
	lua_pushlstring(L, hex, 7);
	lua_setfield(L, -2, "short");
	if (summary) {
		size_t n = strlen(summary);
		lua_pushlstring(L, summary, n > SUMMARY_MAX ? SUMMARY_MAX : n);
		lua_setfield(L, -2, "summary");
	}
	if (a) {
		set_str(L, "author", a->name);
		set_str(L, "email", a->email);
		lua_pushinteger(L, (lua_Integer)a->when.time);
		lua_setfield(L, -2, "time");
	}
	if (m) {
		set_str(L, "committer", m->name);
		set_str(L, "committer_email", m->email);
		lua_pushinteger(L, (lua_Integer)m->when.time);
		lua_setfield(L, -2, "commit_time");
	}
	lua_pushinteger(L, (lua_Integer)git_commit_parentcount(c));
	lua_setfield(L, -2, "parents");
}

static int l_info(lua_State *L)
{
	struct grepo *r = check_repo(L);
	struct guard *g = guard_new(L);
	char url[2048] = "";
	const char *p;

	{
		git_config *cfg = NULL;
		const char *v = NULL;
		if (git_repository_config_snapshot(&cfg, r->repo) == 0 &&
		    git_config_get_string(&v, cfg, "remote.origin.url") == 0 && v)
			redact_url(v, url, sizeof(url));
		git_config_free(cfg);
		git_error_clear();
	}
	lua_createtable(L, 0, 8);
	p = git_repository_workdir(r->repo);
	if (!p)
		p = git_repository_path(r->repo);
	set_str(L, "path", p);
	lua_pushboolean(L, git_repository_is_bare(r->repo));
	lua_setfield(L, -2, "bare");
	lua_pushboolean(L, git_repository_is_empty(r->repo) == 1);
	lua_setfield(L, -2, "empty");
	lua_pushboolean(L, git_repository_head_detached(r->repo) == 1);
	lua_setfield(L, -2, "detached");
	if (url[0])
		set_str(L, "remote_url", url);
	/* HEAD's branch, also when it has no commit yet */
	if (git_reference_lookup(&g->ref, r->repo, "HEAD") == 0 &&
	    git_reference_type(g->ref) == GIT_REFERENCE_SYMBOLIC) {
		const char *t = git_reference_symbolic_target(g->ref);
		if (t && strncmp(t, "refs/heads/", 11) == 0)
			set_str(L, "head_branch", t + 11);
	}
	git_reference_free(g->ref);
	g->ref = NULL;
	if (git_repository_head(&g->ref, r->repo) == 0 && git_reference_target(g->ref))
		set_oid(L, "head", git_reference_target(g->ref));
	guard_release(g);
	return 1;
}

static int l_branches(lua_State *L)
{
	struct grepo *r = check_repo(L);
	int o = opt_table(L, 2);
	double deadline = now_s() + opt_timeout(L, o, DEFAULT_TIMEOUT);
	lua_Integer limit = opt_int(L, o, "limit", DEFAULT_BRANCHES, MAX_COUNT);
	int remote = opt_bool(L, o, "remote", 0);
	struct guard *g = guard_new(L);
	git_branch_t type;
	lua_Integer n = 0;
	int rc;

	if (git_branch_iterator_new(&g->iter, r->repo, remote ? GIT_BRANCH_ALL : GIT_BRANCH_LOCAL) < 0)
		return fail_git(L, g, "cannot list branches");
	lua_newtable(L);
	while (n < limit && (rc = git_branch_next(&g->ref, &type, g->iter)) == 0) {
		const char *name = NULL;
		const git_oid *oid = git_reference_target(g->ref);
		if (now_s() > deadline) {
			guard_release(g);
			return push_err(L, "timeout listing branches (%s)", r->where);
		}
		if (git_branch_name(&name, g->ref) < 0 || !name || !oid) {
			/* a symbolic remote HEAD ("origin/HEAD") is no branch */
			git_reference_free(g->ref);
			g->ref = NULL;
			continue;
		}
		lua_createtable(L, 0, 6);
		set_str(L, "name", name);
		set_oid(L, "oid", oid);
		lua_pushboolean(L, git_branch_is_head(g->ref) == 1);
		lua_setfield(L, -2, "is_head");
		lua_pushboolean(L, type == GIT_BRANCH_REMOTE);
		lua_setfield(L, -2, "remote");
		if (git_commit_lookup(&g->commit[0], r->repo, oid) == 0) {
			const git_signature *m = git_commit_committer(g->commit[0]);
			const char *summary = git_commit_summary(g->commit[0]);
			if (m) {
				lua_pushinteger(L, (lua_Integer)m->when.time);
				lua_setfield(L, -2, "time");
			}
			if (summary) {
				size_t len = strlen(summary);
				lua_pushlstring(L, summary, len > SUMMARY_MAX ? SUMMARY_MAX : len);
				lua_setfield(L, -2, "summary");
			}
			git_commit_free(g->commit[0]);
			g->commit[0] = NULL;
		}
		lua_rawseti(L, -2, ++n);
		git_reference_free(g->ref);
		g->ref = NULL;
	}
	guard_release(g);
	return 1;
}

/* Resolve REF to a commit into G->commit[0].  0; 1 when REF is "HEAD" and
 * the repository has no commit yet; -1 with libgit2's error set. */
static int resolve_commit(git_repository *repo, const char *ref, struct guard *g)
{
	int rc = git_revparse_single(&g->obj, repo, ref);
	if (rc < 0) {
		if (strcmp(ref, "HEAD") == 0 &&
		    (rc == GIT_EUNBORNBRANCH || git_repository_head_unborn(repo) == 1))
			return 1;
		return -1;
	}
	git_object *peeled = NULL;
	if (git_object_peel(&peeled, g->obj, GIT_OBJECT_COMMIT) < 0)
		return -1;
	g->commit[0] = (git_commit *)peeled;
	return 0;
}

static int l_commits(lua_State *L)
{
	struct grepo *r = check_repo(L);
	int o = opt_table(L, 2);
	double timeout = opt_timeout(L, o, DEFAULT_TIMEOUT);
	double deadline = now_s() + timeout;
	lua_Integer limit = opt_int(L, o, "limit", DEFAULT_COMMITS, MAX_COUNT);
	const char *ref = opt_str(L, o, "ref");
	struct guard *g = guard_new(L);
	git_oid oid;
	lua_Integer n = 0;
	int rc;

	if (!ref)
		ref = "HEAD";
	rc = resolve_commit(r->repo, ref, g);
	if (rc < 0)
		return fail_git(L, g, "cannot resolve revision");
	lua_newtable(L);
	if (rc == 1)
		goto done;
	if (git_revwalk_new(&g->walk, r->repo) < 0 ||
	    git_revwalk_sorting(g->walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) < 0 ||
	    git_revwalk_push(g->walk, git_commit_id(g->commit[0])) < 0)
		return fail_git(L, g, "cannot walk commits");
	while (n < limit && (rc = git_revwalk_next(&oid, g->walk)) == 0) {
		if (now_s() > deadline) {
			guard_release(g);
			return push_err(L, "timeout after %g s walking commits (%s)", timeout,
					r->where);
		}
		if (git_commit_lookup(&g->commit[1], r->repo, &oid) < 0)
			return fail_git(L, g, "cannot read a commit");
		push_commit(L, g->commit[1]);
		lua_rawseti(L, -2, ++n);
		git_commit_free(g->commit[1]);
		g->commit[1] = NULL;
	}
	if (rc < 0 && rc != GIT_ITEROVER)
		return fail_git(L, g, "cannot walk commits");
done:
	guard_release(g);
	return 1;
}

/* The tree of REF into G->tree[0].  0, 1 no commit yet, -1 error. */
static int resolve_tree(git_repository *repo, const char *ref, struct guard *g)
{
	int rc = resolve_commit(repo, ref, g);
	if (rc != 0)
		return rc;
	return git_commit_tree(&g->tree[0], g->commit[0]) < 0 ? -1 : 0;
}

static int l_read(lua_State *L)
{
	struct grepo *r = check_repo(L);
	const char *path = luaL_checkstring(L, 2);
	int o = opt_table(L, 3);
	lua_Integer max = opt_int(L, o, "max_bytes", DEFAULT_READ_MAX, MAX_READ_MAX);
	const char *ref = opt_str(L, o, "ref");
	struct guard *g = guard_new(L);
	int rc;

	if (!ref)
		ref = "HEAD";
	rc = resolve_tree(r->repo, ref, g);
	if (rc < 0)
		return fail_git(L, g, "cannot resolve revision");
	if (rc == 1) {
		guard_release(g);
		return push_err(L, "'%s' not found: the repository has no commit (%s)", path,
				r->where);
	}
	if (git_tree_entry_bypath(&g->entry, g->tree[0], path) < 0) {
		guard_release(g);
		return push_err(L, "'%s' not found at %s (%s)", path, ref, r->where);
	}
	if (git_tree_entry_type(g->entry) != GIT_OBJECT_BLOB) {
		guard_release(g);
		return push_err(L, "'%s' is not a file (%s)", path, r->where);
	}
	if (git_blob_lookup(&g->blob, r->repo, git_tree_entry_id(g->entry)) < 0)
		return fail_git(L, g, "cannot read blob");
	git_object_size_t size = git_blob_rawsize(g->blob);
	if (size > (git_object_size_t)max) {
		guard_release(g);
		return push_err(L, "'%s' is %llu bytes, more than max_bytes %lld", path,
				(unsigned long long)size, (long long)max);
	}
	lua_pushlstring(L, git_blob_rawcontent(g->blob), (size_t)size);
	guard_release(g);
	return 1;
}

static int l_stat(lua_State *L)
{
	struct grepo *r = check_repo(L);
	const char *path = luaL_checkstring(L, 2);
	int o = opt_table(L, 3);
	const char *ref = opt_str(L, o, "ref");
	struct guard *g = guard_new(L);
	int rc;

	if (!ref)
		ref = "HEAD";
	rc = resolve_tree(r->repo, ref, g);
	if (rc < 0)
		return fail_git(L, g, "cannot resolve revision");
	if (rc == 1 || git_tree_entry_bypath(&g->entry, g->tree[0], path) < 0) {
		guard_release(g);
		lua_pushboolean(L, 0);
		return 1;
	}
	git_object_t t = git_tree_entry_type(g->entry);
	lua_createtable(L, 0, 3);
	set_str(L, "type", t == GIT_OBJECT_BLOB ? "blob" : t == GIT_OBJECT_TREE ? "tree" :
			   t == GIT_OBJECT_COMMIT ? "commit" : "other");
	set_oid(L, "oid", git_tree_entry_id(g->entry));
	if (t == GIT_OBJECT_BLOB && git_blob_lookup(&g->blob, r->repo,
						    git_tree_entry_id(g->entry)) == 0) {
		lua_pushinteger(L, (lua_Integer)git_blob_rawsize(g->blob));
		lua_setfield(L, -2, "size");
	}
	guard_release(g);
	return 1;
}

/* The oid of PATH in TREE into OUT, or zero when absent. */
static void path_oid(git_tree *tree, const char *path, git_oid *out)
{
	git_tree_entry *e = NULL;
	memset(out, 0, sizeof(*out));
	if (git_tree_entry_bypath(&e, tree, path) == 0) {
		git_oid_cpy(out, git_tree_entry_id(e));
		git_tree_entry_free(e);
	}
}

static int l_last_commit(lua_State *L)
{
	struct grepo *r = check_repo(L);
	int single = lua_type(L, 2) == LUA_TSTRING;
	if (!single)
		luaL_argexpected(L, lua_istable(L, 2), 2, "path or list of paths");
	int o = opt_table(L, 3);
	double timeout = opt_timeout(L, o, DEFAULT_TIMEOUT);
	double deadline = now_s() + timeout;
	lua_Integer max = opt_int(L, o, "max_commits", DEFAULT_WALK, MAX_COUNT);
	const char *ref = opt_str(L, o, "ref");
	struct guard *g = guard_new(L);
	int result = lua_gettop(L) + 1;
	size_t npaths = single ? 1 : lua_rawlen(L, 2), left;
	unsigned char *done = NULL;
	git_oid oid;
	lua_Integer seen = 0;
	int rc;

	if (!ref)
		ref = "HEAD";
	if (npaths > MAX_PATHS)
		return luaL_error(L, "git: more than %d paths", MAX_PATHS);
	/* copy the paths (C strings the walk can hold without the Lua stack) */
	g->paths = calloc(npaths ? npaths : 1, sizeof(char *));
	g->flags = calloc(npaths ? npaths : 1, 1);
	if (!g->paths || !g->flags)
		return luaL_error(L, "git: out of memory");
	done = g->flags;
	for (size_t i = 0; i < npaths; i++) {
		const char *p;
		if (single) {
			p = lua_tostring(L, 2);
		} else {
			if (lua_rawgeti(L, 2, (lua_Integer)i + 1) != LUA_TSTRING)
				return luaL_error(L, "git: paths[%d] must be a string", (int)i + 1);
			p = lua_tostring(L, -1);
			lua_pop(L, 1);
		}
		g->paths[i] = strdup(p);
		if (!g->paths[i])
			return luaL_error(L, "git: out of memory");
		g->npaths = i + 1;
	}
	if (single)
		lua_pushboolean(L, 0);
	else
		lua_newtable(L);
	rc = resolve_commit(r->repo, ref, g);
	if (rc < 0)
		return fail_git(L, g, "cannot resolve revision");
	if (rc == 1)
		goto finish;
	if (git_revwalk_new(&g->walk, r->repo) < 0 ||
	    git_revwalk_sorting(g->walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) < 0 ||
	    git_revwalk_push(g->walk, git_commit_id(g->commit[0])) < 0)
		return fail_git(L, g, "cannot walk commits");
	left = npaths;
	while (left > 0 && seen < max && (rc = git_revwalk_next(&oid, g->walk)) == 0) {
		unsigned int np;
		seen++;
		if (now_s() > deadline) {
			guard_release(g);
			return push_err(L, "timeout after %g s looking for the last commits of %zu "
					   "paths (%s)", timeout, npaths, r->where);
		}
		if (git_commit_lookup(&g->commit[1], r->repo, &oid) < 0 ||
		    git_commit_tree(&g->tree[1], g->commit[1]) < 0)
			return fail_git(L, g, "cannot read a commit");
		np = git_commit_parentcount(g->commit[1]);
		/* a commit whose tree equals a parent's changed nothing */
		int same = 0;
		for (unsigned int k = 0; k < np && !same; k++)
			same = git_oid_equal(git_commit_tree_id(g->commit[1]),
					     git_commit_parent_id(g->commit[1], k));
		for (unsigned int k = 0; k < np && !same; k++) {
			const git_oid *pid = git_commit_parent_id(g->commit[1], k);
			if (git_commit_lookup(&g->commit[2], r->repo, pid) == 0) {
				same = git_oid_equal(git_commit_tree_id(g->commit[1]),
						     git_commit_tree_id(g->commit[2]));
				git_commit_free(g->commit[2]);
				g->commit[2] = NULL;
			}
		}
		for (size_t i = 0; i < npaths && !same; i++) {
			git_oid mine, theirs;
			int changed = 1;
			if (done[i])
				continue;
			path_oid(g->tree[1], g->paths[i], &mine);
			for (unsigned int k = 0; k < np && changed; k++) {
				if (git_commit_parent(&g->commit[2], g->commit[1], k) < 0 ||
				    git_commit_tree(&g->tree[2], g->commit[2]) < 0)
					return fail_git(L, g, "cannot read a parent commit");
				path_oid(g->tree[2], g->paths[i], &theirs);
				changed = !git_oid_equal(&mine, &theirs);
				git_tree_free(g->tree[2]);
				g->tree[2] = NULL;
				git_commit_free(g->commit[2]);
				g->commit[2] = NULL;
			}
			if (np == 0)
				changed = !git_oid_is_zero(&mine);
			if (!changed)
				continue;
			done[i] = 1;
			left--;
			if (single) {
				lua_pop(L, 1);
				push_commit(L, g->commit[1]);
			} else {
				lua_pushstring(L, g->paths[i]);
				push_commit(L, g->commit[1]);
				lua_rawset(L, result);
			}
		}
		git_tree_free(g->tree[1]);
		g->tree[1] = NULL;
		git_commit_free(g->commit[1]);
		g->commit[1] = NULL;
	}
	if (rc < 0 && rc != GIT_ITEROVER)
		return fail_git(L, g, "cannot walk commits");
finish:
	guard_release(g);
	lua_settop(L, result);
	return 1;
}

static int l_close(lua_State *L)
{
	return repo_gc(L);
}

/* --- the module ------------------------------------------------------------------------------- */

static int git_open_module(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "info", l_info },
		{ "branches", l_branches },
		{ "commits", l_commits },
		{ "read", l_read },
		{ "stat", l_stat },
		{ "last_commit", l_last_commit },
		{ "fetch", l_fetch },
		{ "close", l_close },
		{ NULL, NULL },
	};
	static const luaL_Reg fns[] = {
		{ "open", l_open },
		{ "clone", l_clone },
		{ "clone_path", l_clone_path },
		{ NULL, NULL },
	};
	if (luaL_newmetatable(L, REPO_MT)) {
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, repo_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, repo_gc);
		lua_setfield(L, -2, "__close");
		lua_pushcfunction(L, repo_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, "git repository");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, GUARD_MT)) {
		lua_pushcfunction(L, guard_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "git guard");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	luaL_newlib(L, fns);
	return 1;
}

/* --- the plugin ---------------------------------------------------------------------------- */

static int plugin_init(struct trm_plugin_ctx *ctx, const struct trm_api *api)
{
	static git_stream_registration reg = {
		.version = GIT_STREAM_VERSION,
		.init = ts_init,
		.wrap = NULL,
	};
	const char *dir;

	if (api->size < offsetof(struct trm_api, lua_module) + sizeof(api->lua_module) ||
	    !api->lua_module) {
		api->log(ctx, TRM_LOG_ERROR, "this host has no Lua module registry", NULL);
		return -1;
	}
	if (git_libgit2_init() < 0) {
		const git_error *e = git_error_last();
		api->log(ctx, TRM_LOG_ERROR, "cannot initialise libgit2", "detail",
			 e && e->message ? e->message : "unknown error", NULL);
		return -1;
	}
	g_inited++;
	if (git_stream_register(GIT_STREAM_STANDARD, &reg) < 0)
		api->log(ctx, TRM_LOG_WARN, "cannot register the git socket stream: network "
			 "operations are bounded only by their progress callbacks", NULL);
	dir = api->data_dir(ctx);
	if (dir && snprintf(g_clone_root, sizeof(g_clone_root), "%s/clones", dir) >=
			   (int)sizeof(g_clone_root))
		g_clone_root[0] = '\0';
	return api->lua_module(ctx, "git", git_open_module);
}

static void plugin_fini(struct trm_plugin_ctx *ctx)
{
	(void)ctx;
	if (g_inited > 0) {
		g_inited--;
		git_libgit2_shutdown();
	}
}

const struct trm_plugin git_plugin = {
	.abi = TRM_PLUGIN_ABI,
	.name = "lua_git",
	.version = "1.0",
	.description = "git client for Lua collectors (require \"git\"), on libgit2",
	.init = plugin_init,
	.fini = plugin_fini,
};
