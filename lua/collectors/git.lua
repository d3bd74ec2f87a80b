-- git collector: repositories (local paths, or clones kept in the data
-- directory) and the dbt projects they hold.  docs/collectors/git.md has
-- the details.
--
-- Emits, per repository:
--   * a service entity (subtype git_repository, platform git):
--       service:file:/srv/repo            (a local path, or a file:// URL)
--       service:git://github.com:org/repo (any other URL)
--     with its branches, default branch, HEAD commit, recent commits and
--     authors (commit counts); the top authors are its owners;
-- and where it holds a dbt project (dbt_project.yml and target/manifest.json
-- under `dbt.project_dir`):
--   * a dataset per model, seed, snapshot and source, in the warehouse's
--     namespace (dbt.namespace, e.g. "postgres://db:5432") and named
--     DATABASE.SCHEMA.ALIAS (sources: DATABASE.SCHEMA.IDENTIFIER), with
--     columns, descriptions, tags, materialization, the tests on it, its file
--     and the last commit that touched that file;
--   * a job per model and snapshot, named as OpenLineage's dbt integration
--     names it (namespace dbt.job_namespace, default "dbt"; name
--     DATABASE.SCHEMA.PROJECT.MODEL), with lineage
--     upstream dataset -> job -> model dataset from depends_on.
-- and one tile (repositories, branches, commits, dbt models, sources).
--
-- Config:
--   repos = { { path = "/srv/repo" }, { url = "https://...", branch = "main" } }
--   commits (50), author_window (500), owners (3), file_history (1000),
--   branches (200), git_timeout (60), manifest_max ("32MiB" as bytes),
--   dbt = { namespace = "postgres://host:5432", project_dir = "", job_namespace = "dbt",
--           manifest = "target/manifest.json" }
-- Keys at the top level are defaults for every entry of `repos`.

local git = require "git"
local names = require "names"

local TEXT_MAX = 64 * 1024
local LIST_MAX = 1000

-- --- helpers ----------------------------------------------------------------------------

-- Text as the catalog accepts it: valid UTF-8, at most MAX bytes.
local function clean(s, max)
	if s == nil or s == json.null then
		return nil
	end
	s = tostring(s)
	if not utf8.len(s) then
		local out = {}
		while #s > 0 do
			local n, bad = utf8.len(s)
			if n then
				out[#out + 1] = s
				break
			end
			out[#out + 1] = s:sub(1, bad - 1)
			out[#out + 1] = "\u{FFFD}"
			s = s:sub(bad + 1)
		end
		s = table.concat(out)
	end
	if max and #s > max then
		local cut = max
		while cut > 0 and (s:byte(cut + 1) or 0) & 0xC0 == 0x80 do
			cut = cut - 1
		end
		s = s:sub(1, cut)
	end
	return s
end

local function nonempty(s)
	s = clean(s, TEXT_MAX)
	if s == nil or s == "" then
		return nil
	end
	return s
end

local function strip(err)
	return (tostring(err or "unknown error"):gsub("^git: ", ""))
end

local function fail(where, fmt, ...)
	error("git: " .. where .. ": " .. string.format(fmt, ...), 0)
end

local function setting(repo, key, default)
	local v = repo[key]
	if v == nil then
		v = config[key]
	end
	if v == nil then
		return default
	end
	return v
end

local function count_setting(repo, key, default, where, max)
	max = max or 1000000
	local v = setting(repo, key, default)
	if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) then
		fail(where, "%s must be a whole number", key)
	end
	v = math.tointeger(v)
	if v < 0 or v > max then
		fail(where, "%s must be between 0 and %d", key, max)
	end
	return v
end

local function iso(t)
	if t == nil then
		return nil
	end
	return time.iso(t)
end

local function commit_brief(c)
	if not c then
		return nil
	end
	return {
		id = c.id,
		summary = clean(c.summary, 1000),
		author = clean(c.author, 200),
		email = clean(c.email, 200),
		time = iso(c.time),
	}
end

-- --- repository identity ------------------------------------------------------------------

-- namespace, name of the repository at URL (OpenLineage-like: the host is the
-- namespace, the path the name; local repositories live in "file").
local function identity_of_url(url)
	local scheme, rest = url:match("^([%a][%w+.-]*)://(.*)$")
	if scheme then
		scheme = scheme:lower()
		local authority, path = rest:match("^([^/]*)(.*)$")
		if scheme == "file" then
			return "file", path ~= "" and path or "/"
		end
		authority = authority:gsub("^.*@", "")
		local host, port
		if authority:sub(1, 1) == "[" then
			host, port = authority:match("^%[(.-)%]:?(%d*)$")
		else
			host, port = authority:match("^([^:]*):?(%d*)$")
		end
		if not host or host == "" then
			return nil
		end
		if (scheme == "https" and port == "443") or (scheme == "http" and port == "80")
			or (scheme == "ssh" and port == "22") or (scheme == "git" and port == "9418") then
			port = ""
		end
		local name = path:gsub("^/+", ""):gsub("/+$", ""):gsub("%.git$", "")
		if name == "" then
			return nil
		end
		return names.namespace("git", host, port ~= "" and port or nil), name
	end
	-- scp-like: user@host:path
	local host, path = url:match("^[^/@]*@([^:/]+):(.+)$")
	if not host then
		host, path = url:match("^([%w.-]+):([^/].*)$")
	end
	if host then
		local name = path:gsub("^/+", ""):gsub("/+$", ""):gsub("%.git$", "")
		return names.namespace("git", host), name
	end
	if url:sub(1, 1) == "/" then
		return "file", url
	end
	return nil
end

-- A clone directory name from a URL: [A-Za-z0-9._-], at most 100.
local function dir_of_url(url)
	local s = url:gsub("^[%a][%w+.-]*://", ""):gsub("^[^/@]*@", ""):gsub("%.git$", "")
	s = s:gsub("[^%w._-]+", "_"):gsub("^[._]+", ""):gsub("_+$", "")
	if #s > 100 then
		s = s:sub(-100):gsub("^[._]+", "")
	end
	if s == "" then
		s = "repo"
	end
	return s
end

-- --- one repository --------------------------------------------------------------------------

local function open_repo(r)
	if r.path then
		local repo, err = git.open(r.path)
		if not repo then
			fail(r.where, "cannot open repository '%s': %s", r.path, strip(err))
		end
		return repo, nil
	end
	local opts = {
		timeout = r.git_timeout, branch = r.branch, token = r.token, password = r.password,
		username = r.username, ssh_key = r.ssh_key, ssh_public_key = r.ssh_public_key,
		ssh_passphrase = r.ssh_key_password,
	}
	local dir = r.dir or dir_of_url(r.url)
	local path = git.clone_path(dir)
	local repo = git.open(path)
	if repo then
		local ok, err = repo:fetch(opts)
		if not ok then
			fail(r.where, "cannot fetch into %s: %s", path, strip(err))
		end
		return repo, "fetched"
	end
	local err
	repo, err = git.clone(r.url, dir, opts)
	if not repo then
		fail(r.where, "cannot clone: %s", strip(err))
	end
	return repo, "cloned"
end

-- The file's web URL from the template ({path}, {commit}, {branch}).
local function web_url(template, path, commit, branch)
	if type(template) ~= "string" then
		return nil
	end
	local subs = { path = path, commit = commit or "", branch = branch or "" }
	return (template:gsub("{(%w+)}", function(k)
		return subs[k]
	end))
end

local function join_path(dir, path)
	if dir == nil or dir == "" then
		return path
	end
	return dir:gsub("/+$", "") .. "/" .. path
end

-- The project name from dbt_project.yml's top-level `name:`.
local function project_name_of(yml)
	for line in (yml .. "\n"):gmatch("([^\n]*)\n") do
		local v = line:match("^name%s*:%s*(.-)%s*$")
		if v then
			v = v:gsub("^['\"]", ""):gsub("['\"]$", "")
			if v ~= "" then
				return v
			end
		end
	end
	return nil
end

local DATA_TYPES = { model = true, seed = true, snapshot = true }

local SUBTYPES = {
	table = "table", view = "view", incremental = "table", materialized_view = "materialized_view",
	ephemeral = "ephemeral", seed = "table", snapshot = "table", dynamic_table = "table",
}

local function tags_of(node)
	local out, seen = {}, {}
	local function add(list)
		if type(list) == "string" then
			list = { list }
		end
		if type(list) ~= "table" then
			return
		end
		for _, t in ipairs(list) do
			local s = nonempty(t)
			if s and not seen[s] and #out < 100 then
				seen[s] = true
				out[#out + 1] = s
			end
		end
	end
	add(node.tags)
	if type(node.config) == "table" then
		add(node.config.tags)
	end
	table.sort(out)
	return #out > 0 and out or nil
end

local function fields_of(columns)
	if type(columns) ~= "table" then
		return nil
	end
	local list = {}
	for key, c in pairs(columns) do
		if type(c) == "table" then
			local f = { name = clean(c.name ~= nil and c.name ~= json.null and c.name or key, 1000) }
			local dt = nonempty(c.data_type)
			if dt then
				f.type = dt
			end
			local d = nonempty(c.description)
			if d then
				f.description = d
			end
			local tags = tags_of(c)
			if tags then
				f.properties = { tags = tags }
			end
			list[#list + 1] = f
		end
	end
	table.sort(list, function(a, b)
		return a.name < b.name
	end)
	return #list > 0 and list or nil
end

local function owners_of(node)
	local meta = type(node.meta) == "table" and node.meta or {}
	local cmeta = type(node.config) == "table" and type(node.config.meta) == "table" and node.config.meta or {}
	local o = cmeta.owner or meta.owner
	if type(o) == "string" and o ~= "" then
		return { clean(o, 200) }
	end
	return nil
end

local function crawl_dbt(r, repo, info, repo_id, stats)
	local dbt = r.dbt
	local where = r.where
	local dir = dbt.project_dir or ""
	local project_file = join_path(dir, "dbt_project.yml")
	local found, err = repo:stat(project_file)
	if found == nil then
		fail(where, "cannot look for %s: %s", project_file, strip(err))
	end
	if not found then
		log.debug(where .. ": no " .. project_file .. ", no dbt project")
		return nil
	end
	local manifest_path = join_path(dir, dbt.manifest or "target/manifest.json")
	local mstat
	mstat, err = repo:stat(manifest_path)
	if mstat == nil then
		fail(where, "cannot look for %s: %s", manifest_path, strip(err))
	end
	if not mstat then
		log.warn(where .. ": dbt project without " .. manifest_path .. " (run `dbt parse` and "
			.. "commit it, or set dbt.manifest); its models are not crawled")
		return nil
	end
	if type(dbt.namespace) ~= "string" or not dbt.namespace:find("://", 1, true) then
		fail(where, "dbt.namespace must name the warehouse, e.g. \"postgres://db:5432\"")
	end
	local text
	text, err = repo:read(manifest_path, { max_bytes = r.manifest_max })
	if not text then
		fail(where, "cannot read %s: %s", manifest_path, strip(err))
	end
	local manifest
	manifest, err = json.decode(text)
	text = nil
	if type(manifest) ~= "table" then
		fail(where, "%s is not JSON: %s", manifest_path, tostring(err or "not an object"))
	end
	if type(manifest.nodes) ~= "table" then
		fail(where, "%s is not a dbt manifest (no \"nodes\" object)", manifest_path)
	end
	local meta = type(manifest.metadata) == "table" and manifest.metadata or {}
	local yml = repo:read(project_file, { max_bytes = 1024 * 1024 }) or ""
	local project = nonempty(meta.project_name) or project_name_of(yml) or "dbt"
	local schema_version = nonempty(meta.dbt_schema_version)
	local ns = dbt.namespace
	local job_ns = dbt.job_namespace or "dbt"
	local sources = type(manifest.sources) == "table" and manifest.sources or {}

	-- every dataset-like node by unique_id
	local by_uid = {}
	local function add(uid, node, kind)
		if type(node) ~= "table" then
			return
		end
		local rtype = node.resource_type or kind
		if node.config and node.config.enabled == false then
			return
		end
		local db = nonempty(node.database)
		local schema = nonempty(node.schema)
		local relname = rtype == "source" and (nonempty(node.identifier) or nonempty(node.name))
			or nonempty(node.alias) or nonempty(node.name)
		if not schema or not relname then
			log.warn(string.format("%s: %s has no schema or name; skipped", where, clean(uid, 300)))
			return
		end
		local name = db and names.join(db, schema, relname) or names.join(schema, relname)
		by_uid[uid] = {
			uid = uid, node = node, rtype = rtype, name = name, db = db, schema = schema,
			id = emit.id("dataset", ns, name), tests = {},
			path = nonempty(node.original_file_path),
		}
	end
	for uid, node in pairs(manifest.nodes) do
		if type(node) == "table" and DATA_TYPES[node.resource_type] then
			add(uid, node)
		end
	end
	for uid, node in pairs(sources) do
		add(uid, node, "source")
	end

	-- tests, onto what they test
	local ntests = 0
	for uid, node in pairs(manifest.nodes) do
		if type(node) == "table" and node.resource_type == "test" then
			ntests = ntests + 1
			local tm = type(node.test_metadata) == "table" and node.test_metadata or nil
			local t = {
				name = clean(node.name, 500),
				type = tm and nonempty(tm.name) or "singular",
				column = nonempty(node.column_name),
				path = nonempty(node.original_file_path),
				severity = type(node.config) == "table" and nonempty(node.config.severity) or nil,
			}
			local targets = {}
			if type(node.attached_node) == "string" and by_uid[node.attached_node] then
				targets[1] = node.attached_node
			elseif type(node.depends_on) == "table" and type(node.depends_on.nodes) == "table" then
				for _, d in ipairs(node.depends_on.nodes) do
					if by_uid[d] then
						targets[#targets + 1] = d
					end
				end
			end
			for _, d in ipairs(targets) do
				local list = by_uid[d].tests
				if #list < LIST_MAX then
					list[#list + 1] = t
				end
			end
		end
	end

	-- the last commit of every file
	local paths, seen = {}, {}
	for _, d in pairs(by_uid) do
		if d.path then
			d.repo_path = join_path(dir, d.path)
			if not seen[d.repo_path] then
				seen[d.repo_path] = true
				paths[#paths + 1] = d.repo_path
			end
		end
	end
	table.sort(paths)
	local last = {}
	if #paths > 0 and r.file_history > 0 then
		last, err = repo:last_commit(paths, { max_commits = r.file_history, timeout = r.git_timeout })
		if not last then
			log.warn(where .. ": no last commits for the dbt files: " .. strip(err))
			last = {}
		end
	end

	local uids = {}
	for uid in pairs(by_uid) do
		uids[#uids + 1] = uid
	end
	table.sort(uids)
	local head_branch = info.head_branch
	for _, uid in ipairs(uids) do
		local d = by_uid[uid]
		local node = d.node
		local cfg = type(node.config) == "table" and node.config or {}
		local materialized = nil
		if d.rtype ~= "source" then
			materialized = nonempty(cfg.materialized) or d.rtype
		end
		local lc = d.repo_path and last[d.repo_path] or nil
		table.sort(d.tests, function(a, b)
			return (a.name or "") < (b.name or "")
		end)
		local props = {
			dbt_unique_id = clean(uid, 1000),
			dbt_resource_type = d.rtype,
			dbt_project = project,
			dbt_package = nonempty(node.package_name),
			dbt_materialized = materialized,
			dbt_path = d.repo_path,
			dbt_url = d.repo_path and web_url(r.web_url, d.repo_path, lc and lc.id or info.head,
				head_branch) or nil,
			dbt_last_commit = commit_brief(lc),
			dbt_tests = #d.tests > 0 and d.tests or nil,
			dbt_test_count = #d.tests,
			dbt_repository = repo_id,
			dbt_relation = nonempty(node.relation_name),
		}
		if d.rtype == "source" then
			props.dbt_source_name = nonempty(node.source_name)
			props.dbt_loader = nonempty(node.loader)
			props.dbt_source_description = nonempty(node.source_description)
		end
		emit.dataset {
			namespace = ns,
			name = d.name,
			subtype = materialized and SUBTYPES[materialized] or nil,
			display_name = clean(d.name:match("([^.]*)$"), 1000),
			description = nonempty(node.description),
			properties = props,
			tags = tags_of(node),
			owners = owners_of(node),
			fields = fields_of(node.columns),
		}
		if d.rtype == "model" then
			stats.models = stats.models + 1
		elseif d.rtype == "source" then
			stats.sources = stats.sources + 1
		elseif d.rtype == "seed" then
			stats.seeds = stats.seeds + 1
		elseif d.rtype == "snapshot" then
			stats.snapshots = stats.snapshots + 1
		end

		-- a job per model and snapshot: upstream -> job -> this dataset
		if d.rtype == "model" or d.rtype == "snapshot" then
			local short = uid:gsub("^[^.]+%.", "")
			local job_name = names.join(d.db or "", d.schema, short):gsub("^%.", "")
			local job_id = emit.id("job", job_ns, job_name)
			emit.job {
				namespace = job_ns,
				name = job_name,
				subtype = "dbt_" .. d.rtype,
				platform = "dbt",
				display_name = clean(node.name, 1000),
				description = nonempty(node.description),
				properties = {
					dbt_unique_id = clean(uid, 1000),
					dbt_project = project,
					dbt_materialized = materialized,
					dbt_path = d.repo_path,
					dbt_url = props.dbt_url,
					dbt_last_commit = props.dbt_last_commit,
					dbt_repository = repo_id,
					output = d.id,
				},
				tags = tags_of(node),
				owners = owners_of(node),
			}
			emit.edge(job_id, d.id, "lineage")
			local deps = type(node.depends_on) == "table" and node.depends_on.nodes or {}
			local done = {}
			for _, dep in ipairs(type(deps) == "table" and deps or {}) do
				local up = by_uid[dep]
				if up and not done[up.id] and up.id ~= d.id then
					done[up.id] = true
					emit.edge(up.id, job_id, "lineage")
					stats.edges = stats.edges + 1
				end
			end
		end
	end
	stats.tests = stats.tests + ntests
	return {
		project = project,
		schema_version = schema_version,
		dbt_version = nonempty(meta.dbt_version),
		adapter = nonempty(meta.adapter_type),
		generated_at = nonempty(meta.generated_at),
		manifest = manifest_path,
		namespace = ns,
		datasets = #uids,
		tests = ntests,
	}
end

local function crawl_repo(r, stats)
	local repo, action = open_repo(r)
	local info = repo:info()
	local namespace, name = r.namespace, r.name
	if not namespace or not name then
		local ns2, n2
		if r.path then
			ns2, n2 = "file", (r.path:gsub("(.)/+$", "%1"))
		else
			ns2, n2 = identity_of_url(r.url)
			if not ns2 then
				fail(r.where, "cannot name the repository of url '%s' (set name and namespace)",
					clean(r.url, 300))
			end
		end
		namespace = namespace or ns2
		name = name or n2
	end
	local repo_id = emit.id("service", namespace, name)

	local branches, err = repo:branches({ limit = r.branches, timeout = r.git_timeout })
	if not branches then
		fail(r.where, "cannot list branches: %s", strip(err))
	end
	table.sort(branches, function(a, b)
		return a.name < b.name
	end)
	local blist = {}
	for i, b in ipairs(branches) do
		blist[i] = {
			name = clean(b.name, 1000), commit = b.oid, is_head = b.is_head or nil,
			time = iso(b.time), summary = clean(b.summary, 300),
		}
	end

	local window = math.max(r.commits, r.author_window)
	local commits
	commits, err = repo:commits({ limit = window > 0 and window or 1, timeout = r.git_timeout })
	if not commits then
		fail(r.where, "cannot walk commits: %s", strip(err))
	end
	local recent = {}
	for i = 1, math.min(r.commits, #commits) do
		recent[i] = commit_brief(commits[i])
	end
	-- authors of the last author_window commits, by email (or name)
	local by_author, authors = {}, {}
	for i = 1, math.min(r.author_window, #commits) do
		local c = commits[i]
		local key = (c.email and c.email ~= "") and c.email:lower() or c.author or "?"
		local a = by_author[key]
		if not a then
			a = { name = clean(c.author, 200), email = clean(c.email, 200), commits = 0,
				last_commit = iso(c.time) }
			by_author[key] = a
			authors[#authors + 1] = a
		end
		a.commits = a.commits + 1
	end
	table.sort(authors, function(a, b)
		if a.commits ~= b.commits then
			return a.commits > b.commits
		end
		return (a.email or a.name or "") < (b.email or b.name or "")
	end)
	local owners = {}
	for i = 1, math.min(r.owners, #authors) do
		owners[i] = authors[i].email ~= nil and authors[i].email ~= "" and authors[i].email
			or authors[i].name
	end
	while #authors > LIST_MAX do
		authors[#authors] = nil
	end

	local head = commits[1]
	local dbt_info
	if r.dbt then
		dbt_info = crawl_dbt(r, repo, info, repo_id, stats)
	end
	local display = name:match("([^/]+)$") or name
	emit.service {
		namespace = namespace,
		name = name,
		subtype = "git_repository",
		platform = "git",
		display_name = clean(display, 1000),
		properties = {
			path = r.path,
			url = r.url and clean(r.url:gsub("://[^/@]*@", "://"), 2000) or nil,
			clone_path = r.url and info.path or nil,
			sync = action,
			bare = info.bare,
			default_branch = info.head_branch,
			head_commit = info.head,
			head_summary = head and clean(head.summary, 1000) or nil,
			head_time = head and iso(head.time) or nil,
			branches = #blist > 0 and blist or nil,
			branch_count = #blist,
			recent_commits = #recent > 0 and recent or nil,
			authors = #authors > 0 and authors or nil,
			dbt = dbt_info,
		},
		owners = #owners > 0 and owners or nil,
	}
	stats.repos = stats.repos + 1
	stats.branches = stats.branches + #blist
	stats.commits = stats.commits + #recent
	repo:close()
end

-- --- the config ------------------------------------------------------------------------------

local function repo_list()
	local list = config.repos
	if list == nil then
		if config.path or config.url then
			list = { { path = config.path, url = config.url } }
		else
			error("git: no repository configured (set config.repos = { { path = ... } })", 0)
		end
	end
	if type(list) ~= "table" or #list == 0 then
		error("git: config.repos must be a list of { path = ... } or { url = ... }", 0)
	end
	local out = {}
	for i, e in ipairs(list) do
		local where = "repos[" .. i .. "]"
		if type(e) == "string" then
			e = e:find("://", 1, true) and { url = e } or { path = e }
		end
		if type(e) ~= "table" then
			error("git: config." .. where .. " must be a table", 0)
		end
		if (e.path == nil) == (e.url == nil) then
			error("git: config." .. where .. " needs either path or url", 0)
		end
		if e.path ~= nil and (type(e.path) ~= "string" or e.path == "") then
			error("git: config." .. where .. ".path must be a path", 0)
		end
		if e.url ~= nil and (type(e.url) ~= "string" or e.url == "") then
			error("git: config." .. where .. ".url must be a URL", 0)
		end
		local label = e.path or (e.url:gsub("://[^/@]*@", "://"))
		local r = {
			path = e.path, url = e.url, branch = e.branch, dir = e.dir, name = e.name,
			namespace = e.namespace, web_url = setting(e, "web_url"),
			token = e.token, password = e.password, username = e.username,
			ssh_key = e.ssh_key, ssh_public_key = e.ssh_public_key, ssh_key_password = e.ssh_key_password,
			where = label,
		}
		r.commits = count_setting(e, "commits", 50, label)
		r.author_window = count_setting(e, "author_window", 500, label)
		r.owners = count_setting(e, "owners", 3, label)
		r.file_history = count_setting(e, "file_history", 1000, label)
		r.branches = math.max(1, count_setting(e, "branches", 200, label))
		r.manifest_max = math.max(1, count_setting(e, "manifest_max", 32 * 1024 * 1024, label,
			256 * 1024 * 1024))
		local t = setting(e, "git_timeout", 60)
		if type(t) ~= "number" or t <= 0 or t > 3600 then
			fail(label, "git_timeout must be seconds above 0, at most 3600")
		end
		r.git_timeout = t
		-- dbt settings: the entry's own table over the top-level one
		local d = e.dbt
		if d == nil then
			d = config.dbt
		elseif type(d) == "table" and type(config.dbt) == "table" then
			local merged = {}
			for k, v in pairs(config.dbt) do
				merged[k] = v
			end
			for k, v in pairs(d) do
				merged[k] = v
			end
			d = merged
		end
		if d == false then
			d = nil
		elseif d == nil then
			d = {}
		end
		if type(d) ~= "table" then
			fail(label, "dbt must be a table")
		end
		r.dbt = d
		out[i] = r
	end
	return out
end

-- --- the run -------------------------------------------------------------------------------

local stats = { repos = 0, branches = 0, commits = 0, models = 0, sources = 0, seeds = 0,
	snapshots = 0, tests = 0, edges = 0 }
local started = time.now()
for _, r in ipairs(repo_list()) do
	crawl_repo(r, stats)
end

metric("repositories", stats.repos)
metric("branches", stats.branches)
metric("dbt_models", stats.models)
metric("dbt_sources", stats.sources)
metric("crawl_seconds", time.now() - started)
tile {
	status = "up",
	title = "git",
	description = string.format("%d repositor%s", stats.repos, stats.repos == 1 and "y" or "ies"),
	numbers = {
		repositories = stats.repos,
		branches = stats.branches,
		commits = stats.commits,
		["dbt models"] = stats.models,
		sources = stats.sources,
	},
}
