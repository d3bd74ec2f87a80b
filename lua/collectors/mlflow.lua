-- MLflow collector: crawls one MLflow tracking server over its REST API 2.0.
--
-- Emits (docs/collectors/mlflow.md has the details), in the namespace
-- mlflow://HOST:PORT of the tracking URL:
--   * the server:             service:mlflow://H:P:server
--   * each experiment:        job:mlflow://H:P:experiments/ID            (subtype experiment)
--   * each run:               job:mlflow://H:P:experiments/ID/runs/RUN   (subtype run)
--     with params, metrics, tags, status, times and duration;
--   * each registered model:  model:mlflow://H:P:models/NAME             (subtype registered_model)
--   * each model version:     model:mlflow://H:P:models/NAME/VERSION     (subtype model_version)
--     with its stage, aliases and status;
--   * each dataset a run used, named from its source URI per OpenLineage
--     (file:///srv/x.csv -> dataset:file:/srv/x.csv), with its schema as fields;
-- and the edges: dataset -> run and run -> model version (lineage),
-- experiment -> run and registered model -> version (relationship).
-- One tile: experiments, runs, failed runs, models, versions, /health.
--
-- Config (plugins.mlflow):
--   url = "http://mlflow:5000"        the tracking server (required)
--   namespace                         override "mlflow://HOST:PORT"
--   user, password | token            basic auth, or a bearer token
--   request_timeout = 10              seconds, per request
--   page_size = 100                   items per page of every search
--   max_runs_per_experiment = 1000    newest runs crawled per experiment
--   verify_tls = true

local http = require "http"
local names = require "names"

local MAX_PAGES = 1000        -- per search: a server that never stops paging fails the run
local MAX_RUN_LOOKUPS = 200   -- runs/get for model versions whose run was not crawled
local TEXT_MAX = 64 * 1024

-- --- settings -------------------------------------------------------------------------

local function fail(msg)
	error("mlflow: " .. msg, 0)
end

local function number_setting(key, default, min, max)
	local v = config[key]
	if v == nil then
		return default
	end
	if type(v) ~= "number" or v < min or v > max then
		fail(string.format("config.%s: expected a number from %s to %s", key, min, max))
	end
	return v
end

if type(config.url) ~= "string" or not config.url:match("^https?://[^/]") then
	fail("set plugins.mlflow.url to the tracking server, e.g. \"http://mlflow:5000\"")
end
local base, host, port = names.http_base(config.url)
if not host then
	fail("config.url: no host in '" .. base .. "'")
end
local label = names.authority(host, port)
local namespace = config.namespace or names.namespace("mlflow", host, port)
if type(namespace) ~= "string" or namespace == "" then
	fail("config.namespace: expected a string")
end
local api = base .. "/api/2.0/mlflow/"

local opts = { timeout = number_setting("request_timeout", 10, 0.1, 600) }
if config.verify_tls ~= nil then
	opts.verify = config.verify_tls and true or false
end
if config.token ~= nil then
	if type(config.token) ~= "string" then
		fail("config.token: expected a string")
	end
	opts.bearer = config.token
elseif config.user ~= nil then
	if type(config.user) ~= "string" or type(config.password or "") ~= "string" then
		fail("config.user and config.password: expected strings")
	end
	opts.basic = { config.user, config.password or "" }
end
local page_size = math.tointeger(number_setting("page_size", 100, 1, 50000))
local max_runs = math.tointeger(number_setting("max_runs_per_experiment", 1000, 1, 1000000))
if not page_size or not max_runs then
	fail("config.page_size and config.max_runs_per_experiment must be whole numbers")
end

-- --- helpers --------------------------------------------------------------------------

local function null(v)
	return v == nil or v == json.null
end

local function str(v)
	if null(v) then
		return nil
	end
	return tostring(v)
end

local function clip(s, max)
	s = str(s)
	if s and #s > (max or TEXT_MAX) then
		local cut = max or TEXT_MAX
		while cut > 0 and (s:byte(cut + 1) or 0) & 0xC0 == 0x80 do
			cut = cut - 1
		end
		s = s:sub(1, cut)
	end
	return s
end

-- Milliseconds since the epoch (number or numeric string) as RFC 3339.
local function iso_ms(ms)
	ms = tonumber(str(ms))
	if not ms or ms <= 0 then
		return nil
	end
	return time.iso(ms / 1000)
end

-- A JSON object (a table that is not a list), or raise naming WHAT.
local function object(v, what)
	if type(v) ~= "table" or (next(v) ~= nil and v[1] ~= nil) then
		fail(string.format("%s: unexpected answer (not a JSON object) from %s", what, label))
	end
	return v
end

local function list(v, what)
	if null(v) then
		return {}
	end
	if type(v) ~= "table" or (next(v) ~= nil and v[1] == nil) then
		fail(string.format("%s: unexpected answer (not a list) from %s", what, label))
	end
	return v
end

-- [{key, value}] as { key = value }.
local function kv(items, what)
	local out = {}
	for _, t in ipairs(list(items, what)) do
		if type(t) == "table" and not null(t.key) then
			out[tostring(t.key)] = null(t.value) and json.null or t.value
		end
	end
	return out
end

local function empty(t)
	return next(t) == nil
end

-- Every item of a paged search.  POST endpoints get the page in the body,
-- GET endpoints in the query.  CAP bounds the items (nil: all).
local function search(method, endpoint, what, key, body, cap)
	local items, token, seen = {}, nil, {}
	for _ = 1, MAX_PAGES do
		local page, err
		if method == "POST" then
			local b = {}
			for k, v in pairs(body or {}) do
				b[k] = v
			end
			b.max_results = cap and math.min(page_size, cap - #items) or page_size
			b.page_token = token
			page, err = http.post_json(api .. endpoint, b, opts)
		else
			local q = { max_results = tostring(page_size) }
			for k, v in pairs(body or {}) do
				q[k] = v
			end
			q.page_token = token
			local o = {}
			for k, v in pairs(opts) do
				o[k] = v
			end
			o.query = q
			page, err = http.get_json(api .. endpoint, o)
		end
		if not page then
			fail(string.format("cannot read %s from %s: %s", what, label, tostring(err)))
		end
		page = object(page, what)
		for _, item in ipairs(list(page[key], what)) do
			items[#items + 1] = item
			if cap and #items >= cap then
				return items
			end
		end
		token = str(page.next_page_token)
		if token == nil or token == "" then
			return items
		end
		if seen[token] then
			fail(string.format("%s: %s repeats page token '%s'", what, label, clip(token, 80)))
		end
		seen[token] = true
	end
	fail(string.format("%s: %s answered more than %d pages", what, label, MAX_PAGES))
end

-- --- /health ------------------------------------------------------------------------------

local t0 = time.now()
local health
do
	local resp, err = http.get(base .. "/health", opts)
	if not resp then
		tile { status = "down", title = "MLflow " .. label, description = clip(err, 500) }
		fail(string.format("cannot reach %s: %s", label, tostring(err)))
	end
	if resp.status == 200 then
		health = (resp.body or ""):match("^%s*(.-)%s*$"):sub(1, 40)
		if health == "" then
			health = "OK"
		end
	else
		health = "status " .. tostring(resp.status)
	end
end

-- --- experiments ----------------------------------------------------------------------

local experiments = search("POST", "experiments/search", "experiments", "experiments", {})
local exp_ids = {}
local n_exp = 0
for _, e in ipairs(experiments) do
	e = object(e, "experiments")
	local id = str(e.experiment_id)
	if id and not exp_ids[id] then
		n_exp = n_exp + 1
		local tags = kv(e.tags, "experiment tags")
		local note = tags["mlflow.note.content"]
		local user_tags = {}
		for k, v in pairs(tags) do
			if not k:match("^mlflow%.") then
				user_tags[k] = v
			end
		end
		exp_ids[id] = emit.job {
			namespace = namespace,
			name = "experiments/" .. id,
			subtype = "experiment",
			platform = "mlflow",
			display_name = clip(e.name, 1000),
			description = clip(note),
			properties = {
				experiment_id = id,
				artifact_location = str(e.artifact_location),
				lifecycle_stage = str(e.lifecycle_stage),
				created_at = iso_ms(e.creation_time),
				updated_at = iso_ms(e.last_update_time),
				tags = not empty(user_tags) and user_tags or nil,
			},
		}
	end
end

-- --- runs ---------------------------------------------------------------------------------

local run_ids = {}      -- run id -> entity id
local datasets = {}     -- entity id -> true
local n_runs, n_failed, n_datasets = 0, 0, 0
local by_status = {}

-- The dataset a run used: its source URI named per OpenLineage, or, when the
-- source has no URI, the dataset as MLflow names it.
local function emit_dataset(input, run_id)
	local d = type(input) == "table" and input.dataset
	if type(d) ~= "table" then
		return
	end
	local src = {}
	if type(d.source) == "string" then
		src = json.decode(d.source) or {}
		if type(src) ~= "table" then
			src = {}
		end
	end
	local uri = str(src.uri) or str(src.url) or str(src.path)
	local ns, name, platform
	if uri then
		ns, name, platform = names.from_uri(uri)
		if not ns then
			log.warn(string.format("mlflow: run %s: dataset source '%s' has no OpenLineage name (%s)",
				run_id, clip(uri, 200), name))
		end
	end
	if not ns then
		ns, platform = namespace, "mlflow"
		name = "datasets/" .. (str(d.name) or "unnamed") .. "/" .. (str(d.digest) or "")
	end
	local fields
	if type(d.schema) == "string" then
		local schema = json.decode(d.schema)
		if type(schema) == "table" and type(schema.mlflow_colspec) == "table" then
			fields = {}
			for i, c in ipairs(schema.mlflow_colspec) do
				if type(c) == "table" and not null(c.name) then
					fields[#fields + 1] = {
						name = clip(c.name, 1000),
						type = str(c.type),
						nullable = c.required ~= true,
						ordinal = i,
					}
				end
			end
			if #fields == 0 then
				fields = nil
			end
		end
	end
	local tags = kv(input.tags, "dataset tags")
	local profile = type(d.profile) == "string" and json.decode(d.profile) or nil
	local id = emit.id("dataset", ns, name)
	if not datasets[id] then
		datasets[id] = true
		n_datasets = n_datasets + 1
		emit.dataset {
			namespace = ns,
			name = name,
			platform = platform,
			display_name = clip(d.name, 1000),
			properties = {
				mlflow_name = str(d.name),
				digest = str(d.digest),
				source_type = str(d.source_type),
				source = uri,
				profile = type(profile) == "table" and profile or nil,
			},
			fields = fields,
		}
	end
	return id, { context = str(tags["mlflow.data.context"]), digest = str(d.digest) }
end

local function emit_run(r)
	if type(r) ~= "table" or type(r.info) ~= "table" then
		fail("runs: unexpected answer (a run without info) from " .. label)
	end
	local info, data = r.info, type(r.data) == "table" and r.data or {}
	local rid = str(info.run_id) or str(info.run_uuid)
	local eid = str(info.experiment_id)
	if not rid or not eid or run_ids[rid] then
		return
	end
	local tags = kv(data.tags, "run tags")
	local params = kv(data.params, "run params")
	local metrics = {}
	for _, m in ipairs(list(data.metrics, "run metrics")) do
		if type(m) == "table" and not null(m.key) then
			metrics[tostring(m.key)] = m.value
		end
	end
	local user_tags = {}
	for k, v in pairs(tags) do
		if not k:match("^mlflow%.") then
			user_tags[k] = v
		end
	end
	local status = str(info.status) or "UNKNOWN"
	local start, stop = tonumber(str(info.start_time)), tonumber(str(info.end_time))
	local user = str(info.user_id) or str(tags["mlflow.user"])
	local id = emit.job {
		namespace = namespace,
		name = "experiments/" .. eid .. "/runs/" .. rid,
		subtype = "run",
		platform = "mlflow",
		display_name = clip(str(info.run_name) or str(tags["mlflow.runName"]) or rid, 1000),
		description = clip(tags["mlflow.note.content"]),
		owners = user and user ~= "" and { clip(user, 200) } or nil,
		properties = {
			run_id = rid,
			experiment_id = eid,
			status = status,
			lifecycle_stage = str(info.lifecycle_stage),
			start_time = iso_ms(start),
			end_time = iso_ms(stop),
			duration_s = start and stop and stop >= start and (stop - start) / 1000 or nil,
			artifact_uri = str(info.artifact_uri),
			source_name = str(tags["mlflow.source.name"]),
			source_type = str(tags["mlflow.source.type"]),
			git_commit = str(tags["mlflow.source.git.commit"]),
			params = not empty(params) and params or nil,
			metrics = not empty(metrics) and metrics or nil,
			tags = not empty(user_tags) and user_tags or nil,
		},
	}
	run_ids[rid] = id
	n_runs = n_runs + 1
	by_status[status] = (by_status[status] or 0) + 1
	if status == "FAILED" then
		n_failed = n_failed + 1
	end
	if exp_ids[eid] then
		emit.edge(exp_ids[eid], id, "relationship")
	end
	local inputs = type(r.inputs) == "table" and r.inputs.dataset_inputs or nil
	for _, input in ipairs(list(inputs, "run inputs")) do
		local ds, props = emit_dataset(input, rid)
		if ds then
			emit.edge(ds, id, "lineage", props)
		end
	end
end

for _, e in ipairs(experiments) do
	local id = str(e.experiment_id)
	if id then
		local runs = search("POST", "runs/search", "runs of experiment " .. id, "runs",
			{ experiment_ids = { id }, order_by = { "attributes.start_time DESC" } }, max_runs)
		for _, r in ipairs(runs) do
			emit_run(r)
		end
	end
end
experiments = nil

-- --- registered models and versions ----------------------------------------------------

local models = search("GET", "registered-models/search", "registered models", "registered_models")
local model_ids, aliases_of = {}, {}
for _, m in ipairs(models) do
	m = object(m, "registered models")
	local name = str(m.name)
	if name and not model_ids[name] then
		local aliases = {}
		aliases_of[name] = {}
		for _, a in ipairs(list(m.aliases, "model aliases")) do
			if type(a) == "table" and not null(a.alias) and not null(a.version) then
				aliases[tostring(a.alias)] = tostring(a.version)
				local l = aliases_of[name][tostring(a.version)] or {}
				l[#l + 1] = tostring(a.alias)
				aliases_of[name][tostring(a.version)] = l
			end
		end
		local tags = kv(m.tags, "model tags")
		model_ids[name] = emit.model {
			namespace = namespace,
			name = "models/" .. name,
			subtype = "registered_model",
			platform = "mlflow",
			display_name = clip(name, 1000),
			description = clip(m.description ~= "" and m.description or nil),
			owners = not null(m.user_id) and m.user_id ~= "" and { clip(m.user_id, 200) } or nil,
			properties = {
				created_at = iso_ms(m.creation_timestamp),
				updated_at = iso_ms(m.last_updated_timestamp),
				aliases = not empty(aliases) and aliases or nil,
				tags = not empty(tags) and tags or nil,
			},
		}
	end
end

local versions = search("GET", "model-versions/search", "model versions", "model_versions")
local n_versions, lookups = 0, 0
for _, v in ipairs(versions) do
	v = object(v, "model versions")
	local name, ver = str(v.name), str(v.version)
	if name and ver then
		n_versions = n_versions + 1
		local aliases = {}
		for _, a in ipairs((aliases_of[name] or {})[ver] or {}) do
			aliases[#aliases + 1] = a
		end
		for _, a in ipairs(list(v.aliases, "version aliases")) do
			local seen = false
			for _, b in ipairs(aliases) do
				seen = seen or b == tostring(a)
			end
			if not seen then
				aliases[#aliases + 1] = tostring(a)
			end
		end
		table.sort(aliases)
		local tags = kv(v.tags, "version tags")
		local vid = emit.model {
			namespace = namespace,
			name = "models/" .. name .. "/" .. ver,
			subtype = "model_version",
			platform = "mlflow",
			display_name = clip(name .. " v" .. ver, 1000),
			description = clip(v.description ~= "" and v.description or nil),
			owners = not null(v.user_id) and v.user_id ~= "" and { clip(v.user_id, 200) } or nil,
			properties = {
				model = name,
				version = ver,
				stage = str(v.current_stage),
				status = str(v.status),
				aliases = #aliases > 0 and aliases or nil,
				source = str(v.source),
				run_id = str(v.run_id),
				run_link = v.run_link ~= "" and str(v.run_link) or nil,
				created_at = iso_ms(v.creation_timestamp),
				updated_at = iso_ms(v.last_updated_timestamp),
				tags = not empty(tags) and tags or nil,
			},
		}
		if model_ids[name] then
			emit.edge(model_ids[name], vid, "relationship")
		end
		local rid = str(v.run_id)
		if rid and rid ~= "" then
			if not run_ids[rid] and lookups < MAX_RUN_LOOKUPS then
				-- a run beyond max_runs_per_experiment, or in a deleted experiment
				lookups = lookups + 1
				local o = {}
				for k, x in pairs(opts) do
					o[k] = x
				end
				o.query = { run_id = rid }
				local got, err = http.get_json(api .. "runs/get", o)
				if got and type(got.run) == "table" then
					emit_run(got.run)
				else
					log.warn(string.format("mlflow: model %s version %s: its run %s cannot be "
						.. "read (%s)", name, ver, rid, tostring(err or "no run")))
				end
			end
			if run_ids[rid] then
				emit.edge(run_ids[rid], vid, "lineage")
			end
		end
	end
end

-- --- the server, tile and metrics --------------------------------------------------------

emit.service {
	namespace = namespace,
	name = "server",
	subtype = "tracking_server",
	platform = "mlflow",
	display_name = "MLflow " .. label,
	properties = { url = base },
}

local labels = { server = namespace }
metric("experiments", n_exp, labels)
for status, n in pairs(by_status) do
	metric("runs", n, { server = namespace, status = status })
end
metric("registered_models", #models, labels)
metric("model_versions", n_versions, labels)
metric("datasets", n_datasets, labels)
metric("crawl_seconds", time.now() - t0, labels)

tile {
	status = health == "OK" and "up" or "degraded",
	title = "MLflow",
	description = base .. (health == "OK" and "" or " (/health: " .. health .. ")"),
	numbers = {
		experiments = n_exp,
		runs = n_runs,
		failed_runs = n_failed,
		models = #models,
		versions = n_versions,
		health = health,
	},
}
log.info(string.format("mlflow: crawled %s: %d experiments, %d runs (%d failed), %d models, "
	.. "%d versions, %d datasets in %.2f s", label, n_exp, n_runs, n_failed, #models, n_versions,
	n_datasets, time.now() - t0))
