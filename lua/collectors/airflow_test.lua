-- terrarium plugin test lua/collectors/airflow_test.lua
--
-- The Airflow collector on a fake `http` binding, for what the recorded
-- Airflow 2.5.3 answers (tests/integration/test_collector_airflow.c) do not
-- hold.  There is no recording of an Airflow 3 server: the /api/v2 answers
-- below are written from the Airflow 3 REST API reference (assets instead of
-- datasets, scheduled_dags and consuming_tasks, logical_date, a JWT from
-- POST /auth/token, /api/v2/monitor/health).

local NS = "airflow://airflow.test:8080"
local requests

-- A fake webserver: ROUTES maps "METHOD /path" to a value (or a function of
-- the request returning one); a number is an HTTP status with no JSON.
local function fake(routes)
	requests = {}
	local function find(method, url, opts, body)
		local path = url:match("^https?://[^/]+(/[^?]*)")
		requests[#requests + 1] = { method = method, path = path, opts = opts or {}, body = body }
		local r = routes[method .. " " .. path]
		if type(r) == "function" then
			r = r(opts or {}, body)
		end
		return r
	end
	mock("http", {
		get = function(url, opts)
			local r = find("GET", url, opts)
			if r == nil then
				return { status = 404, headers = {}, body = "{\"title\": \"Not Found\"}" }
			end
			if type(r) == "number" then
				return { status = r, headers = {}, body = "" }
			end
			return { status = 200, headers = {}, body = json.encode(r) }
		end,
		get_json = function(url, opts)
			local r = find("GET", url, opts)
			if r == nil or type(r) == "number" then
				return nil, "http: status " .. tostring(r or 404) .. " (GET " .. url .. ")"
			end
			return r
		end,
		post_json = function(url, body, opts)
			local r = find("POST", url, opts, body)
			if r == nil then
				return nil, "http: status 404 (POST " .. url .. ")"
			end
			return r
		end,
	})
end

local v2 = {
	["GET /api/v1/version"] = 404,
	["GET /api/v2/version"] = { version = "3.0.2", git_version = json.null },
	["POST /auth/token"] = function(opts, body)
		assert_eq(body, { username = "admin", password = "pw" })
		return { access_token = "jwt-abc" }
	end,
	["GET /api/v2/monitor/health"] = {
		metadatabase = { status = "healthy" },
		scheduler = { status = "healthy", latest_scheduler_heartbeat = "2026-11-21T17:51:33+00:00" },
		triggerer = { status = json.null, latest_triggerer_heartbeat = json.null },
		dag_processor = { status = "healthy", latest_dag_processor_heartbeat = "2026-11-21T17:51:30+00:00" },
	},
	["GET /api/v2/dags"] = { total_entries = 1, dags = {
		{ dag_id = "etl", dag_display_name = "ETL", is_paused = true, is_stale = false,
			owners = { "ops" }, tags = { { name = "nightly", dag_id = "etl" } },
			timetable_summary = "0 3 * * *", description = "nightly load" } } },
	["GET /api/v2/dags/etl/dagRuns"] = function(opts)
		assert_eq(opts.query.order_by, "-logical_date")
		return { total_entries = 2, dag_runs = {
			{ dag_run_id = "r2", state = "failed", logical_date = "2026-11-21T03:00:00Z" },
			{ dag_run_id = "r1", state = "success", logical_date = "2026-11-20T03:00:00Z" } } }
	end,
	["GET /api/v2/dags/etl/tasks"] = { total_entries = 2, tasks = {
		{ task_id = "load", operator_name = "SQLExecuteQueryOperator", downstream_task_ids = {} },
		{ task_id = "extract", operator_name = "PythonOperator", downstream_task_ids = { "load" } } } },
	["GET /api/v2/assets"] = { total_entries = 1, assets = {
		{ id = 4, name = "orders", uri = "postgres://db.local:5432/shop/public/orders",
			scheduled_dags = { { dag_id = "report" } },
			producing_tasks = { { dag_id = "etl", task_id = "load" } },
			consuming_tasks = { { dag_id = "report", task_id = "read" } } } } },
}

test("Airflow 3: /api/v2 found by itself, a token from /auth/token, assets as datasets", function()
	fake(v2)
	local out = assert(run_collector { url = "http://airflow.test:8080", user = "admin", password = "pw" })
	-- every /api/v2 call but version and health carries the token
	for _, r in ipairs(requests) do
		if r.path:match("^/api/v2/dags") or r.path:match("^/api/v2/assets") then
			assert_eq(r.opts.bearer, "jwt-abc", r.path)
			assert_eq(r.opts.basic, nil, r.path)
		end
	end
	local dag = expect_emit(out, { kind = "job", namespace = NS, name = "etl", subtype = "dag" })
	assert_eq(dag.display_name, "ETL")
	assert_eq(dag.tags, { "nightly" })
	assert_eq(dag.properties.paused, true)
	assert_eq(dag.properties.active, true)
	assert_eq(dag.properties.schedule, "0 3 * * *")
	assert_eq(dag.properties.last_run_state, "failed")
	assert_eq(dag.properties.recent_runs, { failed = 1, success = 1 })
	expect_emit(out, { src = "job:" .. NS .. ":etl.extract", dst = "job:" .. NS .. ":etl.load",
		kind = "lineage" })
	-- the asset lands on the table the PostgreSQL collector crawls
	local t = "dataset:postgres://db.local:5432:shop.public.orders"
	expect_emit(out, { src = "job:" .. NS .. ":etl.load", dst = t })
	expect_emit(out, { src = t, dst = "job:" .. NS .. ":report" })
	expect_emit(out, { src = t, dst = "job:" .. NS .. ":report.read" })
	assert_eq(out.tile.numbers.version, "3.0.2")
	assert_eq(out.tile.numbers.failed_runs, 1)
	assert_eq(out.tile.numbers.paused, 1)
	assert_match(out.tile.description, "failed runs in etl")
	-- a triggerer that reports no status (none runs) is not a problem
	assert_eq(out.tile.status, "up")
	assert_eq(out.tile.description:find("unhealthy", 1, true), nil)
end)

test("api = \"v2\" with a token given uses it as it is", function()
	fake(v2)
	local out = assert(run_collector { url = "http://airflow.test:8080", api = "v2", token = "given" })
	for _, r in ipairs(requests) do
		assert_eq(r.path ~= "/auth/token", true)
		if r.path == "/api/v2/dags" then
			assert_eq(r.opts.bearer, "given")
		end
	end
	expect_emit(out, { kind = "service", name = "server", properties = { api = "v2" } })
end)

test("a login that is refused fails the run, naming /auth/token", function()
	local routes = {}
	for k, v in pairs(v2) do
		routes[k] = v
	end
	routes["POST /auth/token"] = nil
	fake(routes)
	local out, err = run_collector { url = "http://airflow.test:8080", user = "admin", password = "pw" }
	assert_eq(out, nil)
	assert_match(err, "cannot log in at airflow%.test:8080/auth/token")
end)

test("a server that is neither API fails the run, saying what it answered", function()
	fake({ ["GET /api/v1/version"] = 404, ["GET /api/v2/version"] = 404 })
	local out, err = run_collector { url = "http://airflow.test:8080" }
	assert_eq(out, nil)
	assert_match(err, "does not look like Airflow %(/api/v1/version: status 404; /api/v2/version: status 404%)")
end)

test("a dataset URI without a scheme stays in Airflow's namespace", function()
	fake({
		["GET /api/v1/version"] = { version = "2.9.0" },
		["GET /api/v1/health"] = { metadatabase = { status = "healthy" },
			scheduler = { status = "unhealthy", latest_scheduler_heartbeat = "2026-11-21T10:00:00+00:00" } },
		["GET /api/v1/dags"] = { dags = {}, total_entries = 0 },
		["GET /api/v1/datasets"] = { datasets = { { id = 1, uri = "my_dataset",
			producing_tasks = {}, consuming_dags = {} } }, total_entries = 1 },
	})
	local out = assert(run_collector { url = "http://airflow.test:8080" })
	expect_emit(out, { kind = "dataset", namespace = NS, name = "datasets/my_dataset",
		platform = "airflow" })
	assert_eq(out.tile.status, "degraded")
	assert_eq(out.tile.numbers.scheduler, "unhealthy")
end)

test("the url is required", function()
	local out, err = run_collector {}
	assert_eq(out, nil)
	assert_match(err, "set plugins.airflow.url")
end)
