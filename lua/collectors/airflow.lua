-- Airflow collector: crawls one Airflow webserver over its stable REST API
-- (Airflow 2: /api/v1 with basic auth; Airflow 3: /api/v2 with a token from
-- /auth/token).
--
-- Emits (docs/collectors/airflow.md has the details), in the namespace
-- airflow://HOST:PORT of the base URL (or config.namespace):
--   * the webserver:   service:airflow://H:P:server     (version)
--   * each DAG:        job:airflow://H:P:DAG_ID          (subtype dag): owners,
--                      schedule, tags, paused, its last runs
--   * each task:       job:airflow://H:P:DAG_ID.TASK_ID  (subtype task)
--   * each dataset (asset), named from its URI per OpenLineage
--     (s3://bucket/key -> dataset:s3://bucket:key)
-- and the edges: DAG -> task (relationship); task -> downstream task,
-- producing task -> dataset, dataset -> consuming DAG (or task) (lineage).
-- One tile: scheduler and metadatabase health (read from the JSON of
-- /health, whose HTTP status says nothing), DAGs, paused, failed runs.
--
-- Config (plugins.airflow):
--   url = "http://airflow:8080"     the webserver (required)
--   api = "auto" | "v1" | "v2"      default auto: /api/v1 if it answers, else /api/v2
--   user, password                  basic auth (v1) or the /auth/token login (v2)
--   token                           a bearer token instead
--   namespace                       override "airflow://HOST:PORT"
--   request_timeout = 10            seconds, per request
--   page_size = 100                 DAGs and datasets per page
--   dag_runs = 10                   recent runs read per DAG
--   verify_tls = true

local http = require "http"
local names = require "names"

local MAX_PAGES = 1000
local TEXT_MAX = 64 * 1024

-- --- settings -------------------------------------------------------------------------

local function fail(msg)
	error("airflow: " .. msg, 0)
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
	fail("set plugins.airflow.url to the webserver, e.g. \"http://airflow:8080\"")
end
local base, host, port = names.http_base(config.url)
if not host then
	fail("config.url: no host in '" .. base .. "'")
end
local label = names.authority(host, port)
local namespace = config.namespace or names.namespace("airflow", host, port)
if type(namespace) ~= "string" or namespace == "" then
	fail("config.namespace: expected a string")
end
local api_setting = config.api or "auto"
if api_setting ~= "auto" and api_setting ~= "v1" and api_setting ~= "v2" then
	fail("config.api: expected \"auto\", \"v1\" or \"v2\"")
end

local timeout = number_setting("request_timeout", 10, 0.1, 600)
local page_size = math.tointeger(number_setting("page_size", 100, 1, 10000))
local run_limit = math.tointeger(number_setting("dag_runs", 10, 0, 1000))
if not page_size or not run_limit then
	fail("config.page_size and config.dag_runs must be whole numbers")
end
for _, k in ipairs({ "user", "password", "token" }) do
	if config[k] ~= nil and type(config[k]) ~= "string" then
		fail("config." .. k .. ": expected a string")
	end
end

-- Options of one request: the base options plus QUERY; AUTH adds credentials.
local bearer = config.token
local function opts(query, auth)
	local o = { timeout = timeout, query = query }
	if config.verify_tls ~= nil then
		o.verify = config.verify_tls and true or false
	end
	if auth then
		if bearer then
			o.bearer = bearer
		elseif config.user then
			o.basic = { config.user, config.password or "" }
		end
	end
	return o
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
	max = max or TEXT_MAX
	if s and #s > max then
		local cut = max
		while cut > 0 and (s:byte(cut + 1) or 0) & 0xC0 == 0x80 do
			cut = cut - 1
		end
		s = s:sub(1, cut)
	end
	return s
end

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

-- A path segment, percent-encoded.
local function seg(s)
	return (tostring(s):gsub("[^%w%-._~]", function(c)
		return string.format("%%%02X", c:byte())
	end))
end

-- An ISO time as Airflow writes it, normalised to RFC 3339 UTC (or as it is).
local function iso(s)
	s = str(s)
	if not s then
		return nil
	end
	local t = time.parse(s)
	return t and time.iso(t) or s
end

local prefix     -- base .. "/api/v1" or "/api/v2"

local function get(path, what, query)
	local v, err = http.get_json(prefix .. path, opts(query, true))
	if not v then
		fail(string.format("cannot read %s from %s: %s", what, label, tostring(err)))
	end
	return object(v, what)
end

-- Every item of a list endpoint paged with limit/offset and total_entries.
local function paged(path, what, key)
	local items = {}
	for _ = 1, MAX_PAGES do
		local page = get(path, what, { limit = tostring(page_size), offset = tostring(#items) })
		local got = list(page[key], what)
		for _, x in ipairs(got) do
			items[#items + 1] = x
		end
		local total = tonumber(str(page.total_entries))
		if #got == 0 or #got < page_size or (total and #items >= total) then
			return items
		end
	end
	fail(string.format("%s: %s answered more than %d pages", what, label, MAX_PAGES))
end

-- --- version, API, login, health -----------------------------------------------------

local t0 = time.now()
local version

-- GET URL without credentials: the decoded JSON, the response, or nil and why.
local function probe(url)
	local resp, err = http.get(url, opts(nil, false))
	if not resp then
		tile { status = "down", title = "Airflow " .. label, description = clip(err, 500) }
		fail(string.format("cannot reach %s: %s", label, tostring(err)))
	end
	return resp
end

local api = api_setting
do
	local tried = {}
	for _, v in ipairs(api == "auto" and { "v1", "v2" } or { api }) do
		local resp = probe(base .. "/api/" .. v .. "/version")
		if resp.status == 200 then
			local doc = json.decode(resp.body or "")
			if type(doc) ~= "table" or null(doc.version) then
				fail(string.format("/api/%s/version: the answer is not Airflow's version JSON "
					.. "(status %d: %s)", v, resp.status, clip((resp.body or ""):gsub("%c", " "), 120)))
			end
			version = str(doc.version)
			api = v
			break
		end
		tried[#tried + 1] = string.format("/api/%s/version: status %d", v, resp.status)
	end
	if not version then
		fail(string.format("%s does not look like Airflow (%s)", label, table.concat(tried, "; ")))
	end
end
prefix = base .. "/api/" .. api

if api == "v2" and not bearer and config.user then
	-- Airflow 3: a JWT from the login endpoint, then bearer auth
	local doc, err = http.post_json(base .. "/auth/token",
		{ username = config.user, password = config.password or "" }, opts(nil, false))
	if not doc then
		fail(string.format("cannot log in at %s/auth/token: %s", label, tostring(err)))
	end
	if type(doc) ~= "table" or type(doc.access_token) ~= "string" then
		fail(string.format("%s/auth/token: the answer holds no access_token", label))
	end
	bearer = doc.access_token
end

local health = {}
do
	local path = api == "v2" and "/api/v2/monitor/health" or "/api/v1/health"
	local resp = probe(base .. path)
	local doc = json.decode(resp.body or "")
	if type(doc) ~= "table" then
		fail(string.format("%s: the answer is not JSON (status %d: %s)", path, resp.status,
			clip((resp.body or ""):gsub("%c", " "), 120)))
	end
	local function part(name)
		local p = doc[name]
		if type(p) ~= "table" then
			return nil
		end
		return { status = str(p.status), heartbeat = str(p.latest_scheduler_heartbeat)
			or str(p.latest_triggerer_heartbeat) or str(p.latest_dag_processor_heartbeat) }
	end
	health.metadatabase = part("metadatabase")
	health.scheduler = part("scheduler")
	health.triggerer = part("triggerer")
	health.dag_processor = part("dag_processor")
	if not health.metadatabase and not health.scheduler then
		fail(string.format("%s: the answer names neither the metadatabase nor the scheduler", path))
	end
end

-- --- DAGs, tasks and runs ---------------------------------------------------------------

local dag_ids = {}      -- dag_id -> entity id
local task_ids = {}     -- "dag_id.task_id" -> entity id
local n = { dags = 0, paused = 0, tasks = 0, datasets = 0, failed_runs = 0, runs = 0,
	import_errors = 0 }
local failed_dags = {}

local dags = paged("/dags", "DAGs", "dags")
for _, d in ipairs(dags) do
	d = object(d, "DAGs")
	local id = str(d.dag_id)
	if id and not dag_ids[id] then
		n.dags = n.dags + 1
		local paused = d.is_paused == true
		if paused then
			n.paused = n.paused + 1
		end
		if d.has_import_errors == true then
			n.import_errors = n.import_errors + 1
		end
		local tags = {}
		for _, t in ipairs(list(d.tags, "DAG tags")) do
			local name = type(t) == "table" and str(t.name) or str(t)
			if name then
				tags[#tags + 1] = clip(name, 200)
			end
		end
		table.sort(tags)
		local owners = {}
		for _, o in ipairs(list(d.owners, "DAG owners")) do
			if str(o) and str(o) ~= "" then
				owners[#owners + 1] = clip(o, 200)
			end
		end
		local schedule
		if type(d.schedule_interval) == "table" then
			local si = d.schedule_interval
			if si.__type == "TimeDelta" then
				schedule = string.format("every %dd %ds", tonumber(si.days) or 0,
					tonumber(si.seconds) or 0)
			else
				schedule = str(si.value)
			end
		else
			schedule = str(d.timetable_summary) or str(d.schedule_interval)
		end

		-- recent runs, newest first
		local runs, last = {}, nil
		local counts = {}
		if run_limit > 0 then
			local order = api == "v2" and "-logical_date" or "-execution_date"
			local page = get("/dags/" .. seg(id) .. "/dagRuns", "runs of DAG " .. id,
				{ order_by = order, limit = tostring(run_limit) })
			runs = list(page.dag_runs, "runs of DAG " .. id)
			for i, r in ipairs(runs) do
				if i > run_limit then
					break
				end
				local state = str(type(r) == "table" and r.state) or "unknown"
				counts[state] = (counts[state] or 0) + 1
				n.runs = n.runs + 1
				if state == "failed" then
					n.failed_runs = n.failed_runs + 1
					failed_dags[id] = true
				end
			end
			last = type(runs[1]) == "table" and runs[1] or nil
		end

		local active
		if type(d.is_active) == "boolean" then
			active = d.is_active
		elseif type(d.is_stale) == "boolean" then
			active = not d.is_stale
		end
		dag_ids[id] = emit.job {
			namespace = namespace,
			name = id,
			subtype = "dag",
			platform = "airflow",
			display_name = clip(str(d.dag_display_name) or id, 1000),
			description = clip(d.description),
			owners = #owners > 0 and owners or nil,
			tags = #tags > 0 and tags or nil,
			properties = {
				paused = paused,
				active = active,
				schedule = schedule,
				timetable = str(d.timetable_description),
				fileloc = str(d.fileloc),
				has_import_errors = d.has_import_errors == true,
				max_active_runs = tonumber(str(d.max_active_runs)),
				next_dagrun = iso(d.next_dagrun or d.next_dagrun_logical_date),
				last_run_id = last and str(last.dag_run_id) or nil,
				last_run_state = last and str(last.state) or nil,
				last_run_type = last and str(last.run_type) or nil,
				last_run_start = last and iso(last.start_date) or nil,
				last_run_end = last and iso(last.end_date) or nil,
				recent_runs = next(counts) and counts or nil,
			},
		}
	end
end

for _, d in ipairs(dags) do
	local id = str(d.dag_id)
	if id and dag_ids[id] then
		local page = get("/dags/" .. seg(id) .. "/tasks", "tasks of DAG " .. id)
		local tasks = list(page.tasks, "tasks of DAG " .. id)
		local here = {}
		for _, t in ipairs(tasks) do
			t = object(t, "tasks of DAG " .. id)
			local tid = str(t.task_id)
			if tid then
				local full = id .. "." .. tid
				local cls = type(t.class_ref) == "table" and t.class_ref or {}
				local downstream = {}
				for _, x in ipairs(list(t.downstream_task_ids, "task dependencies")) do
					downstream[#downstream + 1] = str(x)
				end
				table.sort(downstream)
				task_ids[full] = emit.job {
					namespace = namespace,
					name = full,
					subtype = "task",
					platform = "airflow",
					display_name = clip(str(t.task_display_name) or tid, 1000),
					description = clip(t.doc_md),
					owners = str(t.owner) and t.owner ~= "" and { clip(t.owner, 200) } or nil,
					properties = {
						dag_id = id,
						task_id = tid,
						operator = str(t.operator_name) or str(cls.class_name),
						operator_module = str(cls.module_path),
						retries = tonumber(str(t.retries)),
						trigger_rule = str(t.trigger_rule),
						pool = str(t.pool),
						queue = str(t.queue),
						depends_on_past = t.depends_on_past == true,
						is_mapped = t.is_mapped == true,
						downstream_task_ids = #downstream > 0 and downstream or nil,
					},
				}
				here[#here + 1] = { id = tid, downstream = downstream }
				n.tasks = n.tasks + 1
				emit.edge(dag_ids[id], task_ids[full], "relationship")
			end
		end
		for _, t in ipairs(here) do
			for _, down in ipairs(t.downstream) do
				local dst = task_ids[id .. "." .. down]
				if dst then
					emit.edge(task_ids[id .. "." .. t.id], dst, "lineage",
						{ dependency = "downstream" })
				end
			end
		end
	end
end

-- --- datasets (assets) -------------------------------------------------------------------

local function task_ref(ref)
	if type(ref) ~= "table" then
		return nil
	end
	local dag, task = str(ref.dag_id), str(ref.task_id)
	if not dag or not task then
		return nil
	end
	return task_ids[dag .. "." .. task] or emit.id("job", namespace, dag .. "." .. task)
end

local function dag_ref(ref)
	local dag = type(ref) == "table" and str(ref.dag_id) or nil
	if not dag then
		return nil
	end
	return dag_ids[dag] or emit.id("job", namespace, dag)
end

local datasets = api == "v2" and paged("/assets", "assets", "assets")
	or paged("/datasets", "datasets", "datasets")
for _, a in ipairs(datasets) do
	a = object(a, "datasets")
	local uri = str(a.uri)
	if uri then
		local ns, name, platform = names.from_uri(uri)
		if not ns then
			-- Airflow accepts any string as a dataset URI; keep it in Airflow's namespace
			ns, name, platform = namespace, "datasets/" .. uri, "airflow"
		end
		local id = emit.dataset {
			namespace = ns,
			name = name,
			platform = platform,
			display_name = clip(str(a.name) or uri, 1000),
			properties = {
				airflow_uri = uri,
				airflow_id = tonumber(str(a.id)),
				group = str(a.group),
				extra = type(a.extra) == "table" and next(a.extra) and a.extra or nil,
				created_at = iso(a.created_at),
				updated_at = iso(a.updated_at),
			},
		}
		n.datasets = n.datasets + 1
		for _, ref in ipairs(list(a.producing_tasks, "producing tasks")) do
			local src = task_ref(ref)
			if src then
				emit.edge(src, id, "lineage")
			end
		end
		for _, ref in ipairs(list(a.consuming_dags or a.scheduled_dags, "consuming DAGs")) do
			local dst = dag_ref(ref)
			if dst then
				emit.edge(id, dst, "lineage")
			end
		end
		for _, ref in ipairs(list(a.consuming_tasks, "consuming tasks")) do
			local dst = task_ref(ref)
			if dst then
				emit.edge(id, dst, "lineage")
			end
		end
	end
end

-- --- the server, tile and metrics --------------------------------------------------------

emit.service {
	namespace = namespace,
	name = "server",
	subtype = "webserver",
	platform = "airflow",
	display_name = "Airflow " .. label,
	properties = { url = base, version = version, api = api },
}

local function healthy(part)
	return part == nil or part.status == nil or part.status == "healthy"
end

local status = "up"
local problems = {}
for _, k in ipairs({ "metadatabase", "scheduler", "triggerer", "dag_processor" }) do
	-- a component that reports no status (status null: no triggerer runs) is not a problem
	local p = health[k]
	if p and p.status and p.status ~= "healthy" then
		problems[#problems + 1] = k .. " " .. p.status
	end
end
if not healthy(health.metadatabase) then
	status = "down"
elseif #problems > 0 then
	status = "degraded"
end
local failed_list = {}
for id in pairs(failed_dags) do
	failed_list[#failed_list + 1] = id
end
table.sort(failed_list)
local desc = base
if #problems > 0 then
	desc = desc .. "; unhealthy: " .. table.concat(problems, ", ")
end
if #failed_list > 0 then
	desc = desc .. "; failed runs in " .. table.concat(failed_list, ", ")
end

local sched = health.scheduler or {}
tile {
	status = status,
	title = "Airflow",
	description = clip(desc, 1000),
	numbers = {
		version = version,
		dags = n.dags,
		paused = n.paused,
		tasks = n.tasks,
		datasets = n.datasets,
		failed_runs = n.failed_runs,
		import_errors = n.import_errors,
		scheduler = sched.status or "unknown",
		metadatabase = (health.metadatabase or {}).status or "unknown",
		heartbeat = sched.heartbeat and iso(sched.heartbeat) or nil,
	},
}

local labels = { server = namespace }
metric("dags", n.dags, labels)
metric("dags_paused", n.paused, labels)
metric("tasks", n.tasks, labels)
metric("datasets", n.datasets, labels)
metric("recent_runs", n.runs, labels)
metric("recent_failed_runs", n.failed_runs, labels)
metric("scheduler_healthy", healthy(health.scheduler) and 1 or 0, labels)
metric("metadatabase_healthy", healthy(health.metadatabase) and 1 or 0, labels)
local hb = sched.heartbeat and time.parse(sched.heartbeat)
if hb then
	metric("scheduler_heartbeat_age_seconds", math.max(0, time.now() - hb), labels)
end
metric("crawl_seconds", time.now() - t0, labels)
log.info(string.format("airflow: crawled %s (Airflow %s, /api/%s): %d DAGs (%d paused), %d tasks, "
	.. "%d datasets, %d failed of %d recent runs in %.2f s", label, version, api, n.dags, n.paused,
	n.tasks, n.datasets, n.failed_runs, n.runs, time.now() - t0))
