-- terrarium plugin test lua/collectors/mlflow_test.lua
--
-- names.from_uri (the OpenLineage names of dataset URIs), and the MLflow
-- collector on a fake `http` binding for what the recorded answers do not
-- hold: an empty server, a failed run, a dataset without a URI, a model
-- version whose run is beyond the crawled ones, a server that pages forever.

local names = require "names"

test("names.from_uri follows the OpenLineage naming spec", function()
	local cases = {
		{ "s3://demo-bucket/raw/orders.parquet", "s3://demo-bucket", "raw/orders.parquet" },
		{ "s3a://lake/x/y.csv", "s3://lake", "x/y.csv" },
		{ "gs://bkt/k%20v.json", "gs://bkt", "k v.json" },
		{ "gcs://bkt/k", "gs://bkt", "k" },
		{ "file:///srv/ml/data/train.csv", "file", "/srv/ml/data/train.csv", "file" },
		{ "file:/tmp/x.csv", "file", "/tmp/x.csv", "file" },
		{ "/abs/path.csv", "file", "/abs/path.csv", "file" },
		{ "file://NAS1/exports/o.csv", "file://nas1", "/exports/o.csv" },
		{ "postgres://DB.local:5432/shop/public/orders", "postgres://db.local:5432", "shop.public.orders" },
		{ "postgresql://u:pw@db/shop/orders", "postgres://db:5432", "shop.public.orders" },
		{ "postgres://h:6543/shop.sales.orders", "postgres://h:6543", "shop.sales.orders" },
		{ "mysql://m1/shop/orders", "mysql://m1:3306", "shop.orders" },
		{ "kafka://Broker1:9092/orders", "kafka://broker1:9092", "orders" },
		{ "kafka://b/orders", "kafka://b:9092", "orders" },
		{ "bigquery://proj/ds/t", "bigquery", "proj.ds.t", "bigquery" },
		{ "hdfs://nn:8020/warehouse/orders", "hdfs://nn:8020", "/warehouse/orders" },
		{ "https://Example.com/data.csv#frag", "https://example.com", "/data.csv" },
		{ "abfss://c@svc.dfs.core.windows.net/p/q", "abfss://c@svc.dfs.core.windows.net", "p/q" },
		{ "mlflow-artifacts:/1/abc/artifacts", "mlflow-artifacts", "/1/abc/artifacts", "mlflow-artifacts" },
		{ "postgres://[::1]:5432/a/b/c", "postgres://[::1]:5432", "a.b.c" },
	}
	for _, c in ipairs(cases) do
		local ns, name, platform = names.from_uri(c[1])
		assert_eq({ ns, name, platform }, { c[2], c[3], c[4] }, c[1])
	end
	for _, bad in ipairs({ "", "orders", "postgres://h/a/b/c/d", "s3:///key", "kafka://h:1/" }) do
		local ns, err = names.from_uri(bad)
		assert_eq(ns, nil, bad)
		assert_match(err, "^names: ")
	end
end)

-- A fake MLflow: ANSWERS maps "METHOD endpoint" to a function(body_or_query) -> value.
local requests
local function fake(answers)
	requests = {}
	local function answer(method, url, arg)
		local ep = url:match("/api/2%.0/mlflow/(.*)$") or url:match("//[^/]+(/.*)$")
		requests[#requests + 1] = { method = method, ep = ep, arg = arg }
		local f = answers[method .. " " .. ep]
		if not f then
			return nil, "http: status 404 (" .. method .. " " .. url .. ")"
		end
		return f(arg)
	end
	mock("http", {
		get = function(url, opts)
			if url:match("/health$") then
				return { status = 200, headers = {}, body = "OK" }
			end
			return nil, "http: unexpected get"
		end,
		get_json = function(url, opts)
			return answer("GET", url, opts and opts.query or {})
		end,
		post_json = function(url, body, opts)
			return answer("POST", url, body)
		end,
	})
end

local settings = { url = "http://mlflow.test:5000" }
local NS = "mlflow://mlflow.test:5000"

test("an empty server (MLflow omits empty lists) crawls to zeros", function()
	fake({
		["POST experiments/search"] = function() return {} end,
		["GET registered-models/search"] = function() return {} end,
		["GET model-versions/search"] = function() return {} end,
	})
	local out = assert(run_collector(settings))
	assert_eq(out.tile.numbers, { experiments = 0, runs = 0, failed_runs = 0, models = 0,
		versions = 0, health = "OK" })
	assert_eq(out.tile.status, "up")
	expect_emit(out, { kind = "service", namespace = NS, name = "server" })
end)

local function run(id, status, inputs)
	return {
		info = { run_id = id, experiment_id = "7", status = status, start_time = 1000,
			end_time = 4500, user_id = "bob" },
		data = { params = { { key = "lr", value = "0.1" } } },
		inputs = { dataset_inputs = inputs },
	}
end

test("failed runs, datasets without a URI, and runs found through their model version", function()
	fake({
		["POST experiments/search"] = function() return { experiments = {
			{ experiment_id = "7", name = "churn" } } } end,
		["POST runs/search"] = function(body)
			assert_eq(body.experiment_ids, { "7" })
			assert_eq(body.max_results, 1)   -- max_runs_per_experiment bounds the page
			return { runs = { run("r1", "FAILED", { { dataset = { name = "frame",
				digest = "abc", source_type = "code", source = "{}" } } }) },
				next_page_token = "more" }
		end,
		["GET runs/get"] = function(q)
			assert_eq(q.run_id, "r2")
			return { run = run("r2", "FINISHED", { { dataset = { name = "lake",
				source = "{\"uri\": \"s3://lake/churn/train.parquet\"}" } } }) }
		end,
		["GET registered-models/search"] = function() return { registered_models = {
			{ name = "churn", aliases = { { alias = "prod", version = "3" } } } } } end,
		["GET model-versions/search"] = function() return { model_versions = {
			{ name = "churn", version = "3", run_id = "r2", current_stage = "Production",
				aliases = { "prod", "latest" } } } } end,
	})
	local out = assert(run_collector { url = "http://mlflow.test:5000", max_runs_per_experiment = 1 })
	assert_eq(out.tile.numbers.failed_runs, 1)
	assert_eq(out.tile.numbers.runs, 2)
	local r1 = expect_emit(out, { kind = "job", name = "experiments/7/runs/r1" })
	assert_eq(r1.properties.duration_s, 3.5)
	assert_eq(r1.owners, { "bob" })
	-- no URI: the dataset keeps MLflow's name in MLflow's namespace
	expect_emit(out, { kind = "dataset", namespace = NS, name = "datasets/frame/abc" })
	expect_emit(out, { src = "dataset:" .. NS .. ":datasets/frame/abc",
		dst = "job:" .. NS .. ":experiments/7/runs/r1" })
	-- r2 was beyond max_runs_per_experiment: read through runs/get for its version
	expect_emit(out, { src = "dataset:s3://lake:churn/train.parquet",
		dst = "job:" .. NS .. ":experiments/7/runs/r2" })
	expect_emit(out, { src = "job:" .. NS .. ":experiments/7/runs/r2",
		dst = "model:" .. NS .. ":models/churn/3", kind = "lineage" })
	local v = expect_emit(out, { kind = "model", name = "models/churn/3" })
	assert_eq(v.properties.stage, "Production")
	assert_eq(v.properties.aliases, { "latest", "prod" })
end)

test("a server that repeats its page token fails the run", function()
	fake({
		["POST experiments/search"] = function() return { experiments = {},
			next_page_token = "same" } end,
	})
	local out, err = run_collector(settings)
	assert_eq(out, nil)
	assert_match(err, "repeats page token")
end)

test("an answer of the wrong shape fails the run, naming it", function()
	fake({ ["POST experiments/search"] = function() return { experiments = "none" } end })
	local out, err = run_collector(settings)
	assert_eq(out, nil)
	assert_match(err, "experiments: unexpected answer %(not a list%)")
end)

test("the url is required", function()
	local out, err = run_collector {}
	assert_eq(out, nil)
	assert_match(err, "set plugins.mlflow.url")
end)
