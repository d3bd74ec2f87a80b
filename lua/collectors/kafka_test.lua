-- Tests of kafka.lua without a cluster: terrarium plugin test lua/collectors/kafka_test.lua
--
-- A fake "kafka" binding answers from tables, so what the mock cluster
-- cannot do (ISR smaller than the replicas, leaderless partitions, groups
-- listed and described, topic configs) and odd inputs (bootstrap forms,
-- failures of one call) can be checked.  A fake "http" answers Connect and
-- registry URLs from a table.  tests/integration/test_collector_kafka.c runs
-- the collector against librdkafka's mock cluster, and runs this file too.

local function part(id, leader, replicas, isr)
	return { id = id, leader = leader, replicas = replicas, isr = isr }
end

-- A fake binding.  OPTS:
--   topics = { { name, partitions = {...} }, ... }   (metadata)
--   marks = { [topic] = { [p] = { low, high } } }
--   committed = { [group] = { [topic] = { [p] = offset } } } ; committed_err = { [group] = msg }
--   groups = { {id, state}, ... } or nil (ListGroups unsupported)
--   describe = { [group] = {...} } or nil (fails) ; configs = { [topic] = {...} } or nil (fails)
--   connect_err, metadata_err
local function fake(opts)
	local seen = { committed = {}, closed = 0, describe_calls = 0 }
	local client = {}
	client.__index = client
	function client:metadata()
		if opts.metadata_err then
			return nil, opts.metadata_err
		end
		return {
			brokers = opts.brokers or { { id = 1, host = "b1", port = 9092 }, { id = 2, host = "b2", port = 9092 } },
			controller = 1,
			cluster_id = "abc",
			topics = opts.topics or {},
		}
	end
	function client:watermarks(parts)
		seen.watermark_parts = parts
		local out = {}
		for topic, ids in pairs(parts) do
			out[topic] = {}
			for _, p in ipairs(ids) do
				local m = opts.marks and opts.marks[topic] and opts.marks[topic][p]
				out[topic][p] = m and { low = m[1], high = m[2] } or { error = "Broker: Not leader for partition" }
			end
		end
		return out
	end
	function client:committed(group, parts)
		seen.committed[#seen.committed + 1] = group
		if opts.committed_err and opts.committed_err[group] then
			return nil, opts.committed_err[group]
		end
		return opts.committed and opts.committed[group] or {}
	end
	function client:groups()
		if not opts.groups then
			return nil, "kafka: ListGroups is not supported by the brokers (x)"
		end
		return opts.groups
	end
	function client:describe_groups(ids)
		seen.describe_calls = seen.describe_calls + 1
		seen.described = ids
		if not opts.describe then
			return nil, "kafka: timeout after 10 s describing 1 consumer groups (b1:9092)"
		end
		return opts.describe
	end
	function client:configs(list)
		seen.config_topics = list
		if not opts.configs then
			return nil, "kafka: DescribeConfigs is not supported by the brokers (x)"
		end
		return opts.configs
	end
	function client:close()
		seen.closed = seen.closed + 1
	end
	mock("kafka", {
		connect = function(bootstrap, o)
			seen.bootstrap = bootstrap
			seen.connect_opts = o
			if opts.connect_err then
				return nil, opts.connect_err
			end
			return setmetatable({}, client)
		end,
		version = function()
			return "2.0.2"
		end,
	})
	return seen
end

-- A fake http binding answering URL -> value (a table: JSON; a number: that status).
local function fake_http(answers)
	local seen = { urls = {} }
	local function answer(url)
		seen.urls[#seen.urls + 1] = url
		local a = answers[url]
		if a == nil then
			return 404
		end
		return a
	end
	mock("http", {
		get_json = function(url, o)
			seen.timeout = o and o.timeout
			local a = answer(url)
			if type(a) == "number" then
				return nil, "http: status " .. a .. " (GET " .. url .. ")"
			end
			return a
		end,
		get = function(url)
			local a = answer(url)
			if type(a) == "number" then
				return { status = a, headers = {}, body = "" }
			end
			return { status = 200, headers = {}, body = json.encode(a) }
		end,
	})
	return seen
end

local function find_log(out, level, pattern)
	for _, l in ipairs(out.logs or {}) do
		if l.level == level and string.find(l.msg, pattern, 1, true) then
			return l
		end
	end
	return nil
end

local NS = "kafka://b1:9092"

test("replicas outside the ISR and partitions without a leader make the tile degraded", function()
	fake {
		topics = {
			{ name = "orders", partitions = { part(0, 1, { 1, 2, 3 }, { 1, 2, 3 }), part(1, 2, { 1, 2, 3 }, { 2 }),
				part(2, -1, { 1, 2, 3 }, {}) } },
		},
		marks = { orders = { [0] = { 5, 15 }, [1] = { 0, 4 } } },
	}
	local out, err = run_collector { bootstrap = "b1:9092" }
	assert_eq(err, nil)
	local t = expect_emit(out, { kind = "dataset", namespace = NS, name = "orders" })
	assert_eq(t.properties.under_replicated_partitions, 2)
	assert_eq(t.properties.offline_partitions, 1)
	assert_eq(t.properties.replication_factor, 3)
	assert_eq(t.properties.messages, 14)
	assert_eq(t.properties.messages_incomplete, true, "partition 2 had no watermarks")
	assert_eq(t.properties.watermarks[3].error, "Broker: Not leader for partition")
	assert_eq(out.tile.status, "degraded")
	assert_eq(out.tile.numbers["under-replicated"], 2)
	assert_match(out.tile.description, "2 under%-replicated, 1 offline partitions")
end)

test("listed and described groups: members' assignments are lineage too; configs kept when set", function()
	local seen = fake {
		topics = {
			{ name = "a", partitions = { part(0, 1, { 1 }, { 1 }) } },
			{ name = "b", partitions = { part(0, 1, { 1 }, { 1 }) } },
		},
		marks = { a = { [0] = { 0, 100 } }, b = { [0] = { 0, 50 } } },
		groups = { { id = "etl", state = "Stable", simple = false, protocol = "range", coordinator = 2,
			members = { { client_id = "etl-1", host = "/10.0.0.5", assignment = { a = { 0 }, b = { 0 } } } } } },
		committed = { etl = { a = { [0] = 90 } } },
		configs = { a = {
			["retention.ms"] = { value = "3600000", default = false, source = "DYNAMIC_TOPIC_CONFIG" },
			["cleanup.policy"] = { value = "delete", default = true, source = "DEFAULT_CONFIG" },
			["sasl.jaas.config"] = { default = false, sensitive = true, source = "DYNAMIC_TOPIC_CONFIG" },
		}, b = { error = "Broker: Topic authorization failed" } },
	}
	local out, err = run_collector { bootstrap = "b1:9092", groups = { "etl" } }
	assert_eq(err, nil)
	local g = expect_emit(out, { kind = "job", name = "consumer-group/etl" })
	assert_eq(g.properties.lag, 10)
	assert_eq(g.properties.state, "Stable")
	assert_eq(g.properties.protocol, "range")
	assert_eq(g.properties.source, "ListGroups", "a configured group that is listed comes from the list")
	assert_eq(g.properties.members, { { client_id = "etl-1", host = "/10.0.0.5", topics = { "a", "b" } } })
	expect_emit(out, { src = "dataset:" .. NS .. ":a", dst = "job:" .. NS .. ":consumer-group/etl",
		properties = { lag = 10 } })
	expect_emit(out, { src = "dataset:" .. NS .. ":b", dst = "job:" .. NS .. ":consumer-group/etl" })
	assert_eq(seen.committed, { "etl" }, "each group's offsets are read once")
	local a = expect_emit(out, { kind = "dataset", name = "a" })
	assert_eq(a.properties.configs, { ["retention.ms"] = "3600000" })
	local b = expect_emit(out, { kind = "dataset", name = "b" })
	assert_eq(b.properties.configs_error, "Broker: Topic authorization failed")
	assert_eq(find_log(out, "warn", "could not read"), nil, "nothing to warn about")
	assert_eq(out.tile.status, "up")
	assert_eq(seen.describe_calls, 0, "the admin DescribeGroups only when asked for")
end)

test("describe_groups = true: the admin view replaces the listed one; its failure is a warning", function()
	local seen = fake {
		topics = { { name = "a", partitions = { part(0, 1, { 1 }, { 1 }) } } },
		marks = { a = { [0] = { 0, 1 } } },
		groups = { { id = "g1", state = "Stable", members = {} } },
		describe = { g1 = { state = "PreparingRebalance", protocol = "sticky", members = {
			{ client_id = "c", host = "h", assignment = { a = { 0 } } } } } },
	}
	local out, err = run_collector { bootstrap = "b1:9092", describe_groups = true }
	assert_eq(err, nil)
	assert_eq(seen.described, { "g1" })
	local g = expect_emit(out, { kind = "job", name = "consumer-group/g1" })
	assert_eq(g.properties.state, "PreparingRebalance")
	assert_eq(g.properties.protocol, "sticky")
	expect_emit(out, { src = "dataset:" .. NS .. ":a", dst = "job:" .. NS .. ":consumer-group/g1" })
end)

test("unsupported calls are warnings that the tile and the cluster entity name", function()
	local seen = fake {
		topics = { { name = "a", partitions = { part(0, 1, { 1 }, { 1 }) } } },
		marks = { a = { [0] = { 0, 1 } } },
	}
	local out, err = run_collector { bootstrap = "b1:9092", groups = { "g1" } }
	assert_eq(err, nil)
	assert_eq(seen.describe_calls, 0, "no DescribeGroups when ListGroups was not answered")
	assert_eq(find_log(out, "warn", "kafka: could not read topic configs (DescribeConfigs): "
		.. "DescribeConfigs is not supported by the brokers (x)") ~= nil, true)
	assert_eq(find_log(out, "warn", "kafka: could not read the list of consumer groups (ListGroups)") ~= nil, true)
	assert_eq(find_log(out, "info", "reading the committed offsets of the configured groups only: g1") ~= nil, true)
	local c = expect_emit(out, { kind = "service", namespace = NS, name = "cluster" })
	assert_eq(#c.properties.not_readable, 2)
	assert_match(out.tile.description, "could not read topic configs %(DescribeConfigs%), the list of consumer groups %(ListGroups%)")
end)

test("a group whose offsets or description cannot be read: warnings, the run goes on", function()
	fake {
		topics = { { name = "a", partitions = { part(0, 1, { 1 }, { 1 }) } } },
		marks = { a = { [0] = { 0, 1 } } },
		groups = { { id = "g1", state = "Empty" }, { id = "g2", state = "Stable" } },
		committed_err = { g2 = "kafka: timeout after 10 s reading the committed offsets of group 'g2' (b1:9092)" },
	}
	local out, err = run_collector { bootstrap = "b1:9092", describe_groups = true }
	assert_eq(err, nil)
	local g2 = expect_emit(out, { kind = "job", name = "consumer-group/g2" })
	assert_eq(g2.properties.offsets_error, true)
	assert_eq(g2.properties.lag, nil)
	assert_eq(find_log(out, "warn", "the committed offsets of group g2 (OffsetFetch): timeout after 10 s") ~= nil, true)
	assert_eq(find_log(out, "warn", "consumer group members (DescribeGroups): timeout after 10 s") ~= nil, true)
	assert_eq(expect_emit(out, { kind = "job", name = "consumer-group/g1" }).properties.state, "Empty")
end)

test("an unreachable cluster fails the run, naming it, with a down tile", function()
	fake { connect_err = "kafka: cannot reach b1:9092 within 10 s (connection refused)" }
	local out, err, partial = run_collector { bootstrap = "b1:9092" }
	assert_eq(out, nil)
	assert_eq(err, "kafka: cannot connect to b1:9092: cannot reach b1:9092 within 10 s (connection refused)")
	assert_eq(partial.tile.status, "down")
	fake { metadata_err = "kafka: metadata: Broker: Cluster authorization failed (b1:9092)" }
	out, err = run_collector { bootstrap = "b1:9092" }
	assert_match(err, "^kafka: b1:9092: cannot read the cluster metadata: metadata: Broker: Cluster authorization failed")
end)

test("bootstrap forms: protocol prefixes, lists, IPv6, case; namespace and properties", function()
	local seen = fake {}
	local out, err = run_collector {
		bootstrap = { "SASL_SSL://Broker1.Example.COM:9093", "b2:9093" },
		request_timeout = 7,
		properties = { ["security.protocol"] = "SASL_SSL", ["sasl.username"] = "u" },
	}
	assert_eq(err, nil)
	assert_eq(seen.bootstrap, "SASL_SSL://Broker1.Example.COM:9093,b2:9093")
	assert_eq(seen.connect_opts.timeout, 7)
	assert_eq(seen.connect_opts.properties["sasl.username"], "u")
	expect_emit(out, { kind = "service", namespace = "kafka://broker1.example.com:9093", name = "cluster" })
	out = run_collector { bootstrap = "[::1]:9092" }
	expect_emit(out, { kind = "service", namespace = "kafka://[::1]:9092" })
	out = run_collector { bootstrap = "kafka-0" }
	expect_emit(out, { kind = "service", namespace = "kafka://kafka-0:9092" })
	out = run_collector { bootstrap = "b1:9092", namespace = "kafka://prod" }
	expect_emit(out, { kind = "service", namespace = "kafka://prod" })
	out, err = run_collector {}
	assert_eq(out, nil)
	assert_match(err, "kafka: no cluster configured")
	out, err = run_collector { bootstrap = "b1:9092", request_timeout = "soon" }
	assert_match(err, "config.request_timeout: expected seconds")
	out, err = run_collector { bootstrap = "b1:9092", groups = { 1 } }
	assert_match(err, "config.groups%[1%] must be a string")
end)

test("internal topics are skipped unless asked for; topics and exclude_topics filter", function()
	local seen = fake {
		topics = {
			{ name = "__consumer_offsets", partitions = { part(0, 1, { 1 }, { 1 }) } },
			{ name = "orders", partitions = { part(0, 1, { 1 }, { 1 }) } },
			{ name = "orders.dlq", partitions = { part(0, 1, { 1 }, { 1 }) } },
			{ name = "logs", partitions = { part(0, 1, { 1 }, { 1 }) } },
		},
	}
	local out = run_collector { bootstrap = "b1:9092" }
	assert_eq(out.tile.numbers.topics, 3)
	assert_eq(seen.watermark_parts.__consumer_offsets, nil, "not even its watermarks are read")
	out = run_collector { bootstrap = "b1:9092", include_internal = true }
	assert_eq(out.tile.numbers.topics, 4)
	out = run_collector { bootstrap = "b1:9092", topics = { "^orders" }, exclude_topics = { "%.dlq$" } }
	assert_eq(out.tile.numbers.topics, 1)
	expect_emit(out, { kind = "dataset", name = "orders" })
end)

test("Connect: an older worker without ?expand, JDBC and Debezium variants", function()
	fake { topics = {} }
	local base = "http://connect:8083"
	fake_http {
		[base .. "/connectors?expand=info&expand=status"] = { "dbz-old", "jdbc-src", "sink-dotted", "dbz-regex" },
		[base .. "/connectors/dbz-old"] = { name = "dbz-old", type = "source", config = {
			["connector.class"] = "io.debezium.connector.postgresql.PostgresConnector",
			["database.hostname"] = "PG1", ["database.dbname"] = "crm",
			["database.server.name"] = "legacy", ["table.whitelist"] = "public.accounts" } },
		[base .. "/connectors/dbz-old/status"] = { name = "dbz-old", connector = { state = "PAUSED" }, tasks = {} },
		[base .. "/connectors/jdbc-src"] = { name = "jdbc-src", type = "source", config = {
			["connector.class"] = "io.confluent.connect.jdbc.JdbcSourceConnector",
			["connection.url"] = "jdbc:postgresql://pg-a:6432,pg-b:6432/sales?ssl=true",
			["table.whitelist"] = "inventory.items, prices", ["topic.prefix"] = "s-" } },
		[base .. "/connectors/jdbc-src/status"] = { name = "jdbc-src", connector = { state = "RUNNING" }, tasks = {} },
		[base .. "/connectors/sink-dotted"] = { name = "sink-dotted", type = "sink", config = {
			["connector.class"] = "io.debezium.connector.jdbc.JdbcSinkConnector",
			["connection.url"] = "jdbc:postgresql://dwh:5432/dwh", ["topics"] = "crm.accounts" } },
		[base .. "/connectors/sink-dotted/status"] = { name = "sink-dotted", connector = { state = "RUNNING" }, tasks = {} },
		[base .. "/connectors/dbz-regex"] = { name = "dbz-regex", type = "source", config = {
			["connector.class"] = "io.debezium.connector.postgresql.PostgresConnector",
			["database.hostname"] = "pg1", ["database.dbname"] = "crm", ["topic.prefix"] = "p",
			["table.include.list"] = "public\\.event_.*" } },
		[base .. "/connectors/dbz-regex/status"] = { name = "dbz-regex", connector = { state = "RUNNING" }, tasks = {} },
		[base .. "/connectors/dbz-regex/topics"] = { ["dbz-regex"] = { topics = { "p.public.event_a" } } },
	}
	local out, err = run_collector { bootstrap = "b1:9092", connect = { url = base, timeout = 3 } }
	assert_eq(err, nil)
	local cns = "kafka-connect://connect:8083"
	local function job(n)
		return "job:" .. cns .. ":" .. n
	end
	expect_emit(out, { src = "dataset:postgres://pg1:5432:crm.public.accounts", dst = job("dbz-old") })
	expect_emit(out, { src = job("dbz-old"), dst = "dataset:" .. NS .. ":legacy.public.accounts" })
	expect_emit(out, { src = "dataset:postgres://pg-a:6432:sales.inventory.items", dst = job("jdbc-src") })
	expect_emit(out, { src = "dataset:postgres://pg-a:6432:sales.public.prices", dst = job("jdbc-src") })
	expect_emit(out, { src = job("jdbc-src"), dst = "dataset:" .. NS .. ":s-items" })
	expect_emit(out, { src = job("sink-dotted"), dst = "dataset:postgres://dwh:5432:dwh.crm.accounts" })
	expect_emit(out, { src = job("dbz-regex"), dst = "dataset:" .. NS .. ":p.public.event_a" })
	assert_eq(find_log(out, "info", "table pattern 'public\\.event_.*' is a regular expression") ~= nil, true)
	assert_eq(find_log(out, "warn", "connector dbz-old is PAUSED") ~= nil, true)
	assert_eq(out.tile.numbers.connectors, 4)
	assert_eq(out.tile.numbers["failed connectors"], 1)
end)

test("Connect or the registry failing fails the run, naming it", function()
	fake { topics = { { name = "a", partitions = { part(0, 1, { 1 }, { 1 }) } } }, marks = { a = { [0] = { 0, 1 } } } }
	fake_http { ["http://connect:8083/connectors?expand=info&expand=status"] = 500 }
	local out, err = run_collector { bootstrap = "b1:9092", connect = "http://connect:8083" }
	assert_eq(out, nil)
	assert_eq(err, "kafka: Kafka Connect http://connect:8083: status 500 (GET "
		.. "http://connect:8083/connectors?expand=info&expand=status)")
	fake_http { ["http://reg:8081/subjects"] = { ["not"] = "a list" } }
	out, err = run_collector { bootstrap = "b1:9092", schema_registry = { url = "http://reg:8081" } }
	assert_eq(out, nil)
	assert_match(err, "schema registry http://reg:8081: /subjects is not a list")
	out, err = run_collector { bootstrap = "b1:9092", connect = { url = "connect:8083" } }
	assert_match(err, "config.connect.url must be an http:// or https:// URL")
end)

test("registry: keys and unknown topics are skipped; a protobuf schema has no fields", function()
	fake {
		topics = { { name = "a", partitions = { part(0, 1, { 1 }, { 1 }) } },
			{ name = "b", partitions = { part(0, 1, { 1 }, { 1 }) } } },
		marks = { a = { [0] = { 0, 1 } }, b = { [0] = { 0, 1 } } },
	}
	local seen = fake_http {
		["http://reg:8081/subjects"] = { "a-key", "a-value", "b-value", "gone-value" },
		["http://reg:8081/subjects/a-value/versions/latest"] = { subject = "a-value", version = 1, id = 1,
			schemaType = "PROTOBUF", schema = "syntax = \"proto3\"; message A { int64 id = 1; }" },
		["http://reg:8081/subjects/b-value/versions/latest"] = { subject = "b-value", version = 2, id = 5,
			schema = json.encode { type = "record", name = "B", fields = {
				{ name = "when", type = { type = "long", logicalType = "timestamp-millis" } },
				{ name = "m", type = { type = "map", values = "int" } },
				{ name = "u", type = { "null", "int", "string" } },
			} } },
	}
	local out, err = run_collector { bootstrap = "b1:9092", schema_registry = "http://reg:8081" }
	assert_eq(err, nil)
	for _, u in ipairs(seen.urls) do
		assert_eq(u:find("a-key", 1, true), nil, "key subjects are not read")
		assert_eq(u:find("gone", 1, true), nil, "subjects of topics not crawled are not read")
	end
	local a = expect_emit(out, { kind = "dataset", name = "a" })
	assert_eq(a.fields, nil)
	assert_eq(a.properties.schema.type, "PROTOBUF")
	assert_eq(find_log(out, "info", "subject a-value: a PROTOBUF schema whose fields are not read") ~= nil, true)
	local b = expect_emit(out, { kind = "dataset", name = "b" })
	assert_eq(b.fields, {
		{ name = "when", type = "timestamp-millis", nullable = false, ordinal = 1 },
		{ name = "m", type = "map<int>", nullable = false, ordinal = 2 },
		{ name = "u", type = "int|string", nullable = true, ordinal = 3 },
	})
end)
