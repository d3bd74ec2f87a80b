-- Tests of redis.lua without a server: terrarium plugin test lua/collectors/redis_test.lua
--
-- A fake "redis" binding answers from tables (keys with a type, TTL and size
-- per db; streams; channels) the commands the collector sends, and records
-- them, so that the pattern rule, the sampling budget, missing permissions,
-- old servers and URLs can be checked for inputs a real server makes awkward.
-- tests/integration/test_collector_redis.c runs the collector against a real
-- redis-server, and runs this file too.

local NULL = json.null

-- A fake server.  OPTS:
--   dbs = { [db] = { key = { type = "hash", ttl = -1, mem = 64 } or "string", ... } }
--   streams = { [key] = { info = {...flat...}, groups = { {...flat...}, ... } } }  (db 0)
--   channels = { name = subscribers }
--   deny = { COMMAND = true }     NOPERM for these ("MEMORY", "XINFO", "HSCAN", "PUBSUB")
--   unknown = { "SCAN TYPE" = true }  the server is too old for SCAN ... TYPE
--   info = { extra INFO lines }, refuse = "message", endless = true (SCAN never ends)
local function fake(opts)
	opts = opts or {}
	local seen = { commands = {}, connects = {}, counts = {} }
	local function count(name)
		seen.counts[name] = (seen.counts[name] or 0) + 1
	end
	local conn = {}
	conn.__index = conn
	local function sorted_keys(db)
		local ks = {}
		for k in pairs(opts.dbs and opts.dbs[db] or {}) do
			ks[#ks + 1] = k
		end
		table.sort(ks)
		return ks
	end
	local function entry(db, k)
		local e = opts.dbs and opts.dbs[db] and opts.dbs[db][k]
		if type(e) == "string" then
			e = { type = e }
		end
		return e
	end
	local function run(self, args)
		local name = args[1]:upper()
		count(name)
		seen.commands[#seen.commands + 1] = table.concat(args, " ")
		if opts.deny and opts.deny[name] then
			return nil, "redis: NOPERM this user has no permissions to run the '" .. name:lower() .. "' command"
		end
		if name == "INFO" then
			local lines = { "# Server", "redis_version:7.0.15", "redis_mode:standalone", "os:Linux",
				"# Clients", "connected_clients:3", "# Memory", "used_memory:2097152", "maxmemory:0",
				"maxmemory_policy:noeviction", "# Stats", "instantaneous_ops_per_sec:12",
				"# Replication", "role:master", "connected_slaves:0", "# Keyspace" }
			for _, l in ipairs(opts.info or {}) do
				lines[#lines + 1] = l
			end
			for db in pairs(opts.dbs or {}) do
				local n, ex = 0, 0
				for k in pairs(opts.dbs[db]) do
					n = n + 1
					local e = entry(db, k)
					if (e.ttl or -1) >= 0 then
						ex = ex + 1
					end
				end
				lines[#lines + 1] = string.format("db%d:keys=%d,expires=%d,avg_ttl=0", db, n, ex)
			end
			return table.concat(lines, "\r\n") .. "\r\n"
		elseif name == "SELECT" then
			self.db = tonumber(args[2])
			return "OK"
		elseif name == "SCAN" then
			local keys = sorted_keys(self.db)
			local cur = tonumber(args[2])
			local n = tonumber(args[4])
			if args[5] == "TYPE" and opts.unknown and opts.unknown["SCAN TYPE"] then
				return nil, "redis: ERR syntax error"
			end
			local page = {}
			local last = math.min(cur + n, #keys)
			for i = cur + 1, last do
				local e = entry(self.db, keys[i])
				if args[5] ~= "TYPE" or e.type == args[6] then
					page[#page + 1] = keys[i]
				end
			end
			if opts.endless then
				return { tostring(last + 1), page }
			end
			return { last >= #keys and "0" or tostring(last), page }
		elseif name == "TYPE" then
			local e = entry(self.db, args[2])
			return e and e.type or "none"
		elseif name == "PTTL" then
			local e = entry(self.db, args[2])
			return e and (e.ttl or -1) or -2
		elseif name == "MEMORY" then
			local e = entry(self.db, args[3])
			return e and (e.mem or 50) or nil
		elseif name == "HSCAN" then
			local e = entry(self.db, args[2])
			local flat = {}
			for _, f in ipairs(e and e.fields or {}) do
				flat[#flat + 1] = f
				flat[#flat + 1] = "v"
			end
			return { "0", flat }
		elseif name == "XINFO" then
			local st = opts.streams and opts.streams[args[3]]
			if not st then
				return nil, "redis: ERR no such key"
			end
			return args[2] == "STREAM" and st.info or st.groups
		elseif name == "PUBSUB" then
			if args[2] == "CHANNELS" then
				local l = {}
				for ch in pairs(opts.channels or {}) do
					l[#l + 1] = ch
				end
				return l
			elseif args[2] == "NUMPAT" then
				return 0
			else
				local out = {}
				for i = 3, #args do
					out[#out + 1] = args[i]
					out[#out + 1] = opts.channels[args[i]] or 0
				end
				return out
			end
		end
		return nil, "redis: ERR unknown command '" .. name .. "'"
	end
	function conn:command(...)
		return run(self, { ... })
	end
	function conn:pipeline(cmds)
		local out, errs = {}, nil
		for i, c in ipairs(cmds) do
			local v, err = run(self, c)
			if v == nil and err then
				errs = errs or {}
				errs[i] = err
				out[i] = false
			elseif v == nil then
				out[i] = NULL
			else
				out[i] = v
			end
		end
		out.errors = errs
		return out
	end
	function conn:close()
		seen.closed = (seen.closed or 0) + 1
	end
	mock("redis", {
		null = NULL,
		connect = function(target, o)
			seen.connects[#seen.connects + 1] = target
			seen.timeout = o and o.timeout
			if opts.refuse then
				return nil, "redis: " .. opts.refuse
			end
			return setmetatable({ db = 0 }, conn)
		end,
	})
	return seen
end

local function find_log(out, level, text)
	for _, l in ipairs(out.logs or {}) do
		if l.level == level and string.find(l.msg, text, 1, true) then
			return l
		end
	end
	return nil
end

local function patterns_of(out)
	local p = {}
	for _, e in ipairs(out.entities) do
		if e.subtype == "key_pattern" then
			p[#p + 1] = e.name
		end
	end
	table.sort(p)
	return p
end

test("the pattern rule: ids, UUIDs, dates, hashes and tokens are '*'; names stay", function()
	local keys = {
		["api:v2:config"] = "string",
		["blob:9f86d081884c7d65"] = "string",
		["blob:deadbeef00112233"] = "string",
		["events:2024-05-01"] = "list",
		["events:2024-05-02"] = "list",
		["session:0b6e7d8c-3f1a-4c2e-9d4b-1a2b3c4d5e6f"] = "string",
		["tok:Zx81aQ0pLmN3bV7cXy2k"] = "string",
		["user:1"] = "hash",
		["user:2"] = "hash",
		["user:2:cart"] = "hash",
		["user:17:cart"] = "hash",
		["config"] = "string",
		["feature:dark_mode"] = "string",
		["feature:beta"] = "string",
		["path/to/1"] = "string",
	}
	fake { dbs = { [0] = keys } }
	local out, err = run_collector { url = "redis://127.0.0.1:6379" }
	assert_eq(err, nil)
	assert_eq(patterns_of(out), {
		"0/api:v2:config", "0/blob:*", "0/config", "0/events:*", "0/feature:beta",
		"0/feature:dark_mode", "0/path/to/*", "0/session:*", "0/tok:*", "0/user:*",
		"0/user:*:cart",
	})
	local u = expect_emit(out, { kind = "dataset", name = "0/user:*" })
	assert_eq(u.properties.sampled_keys, 2)
	assert_eq(u.properties.types, { hash = 2 })
	assert_eq(u.properties.sampled, "15 of 15 keys")
	assert_eq(u.display_name, "user:*")
	assert_eq(u.namespace, "redis://127.0.0.1:6379")
end)

test("a segment with more than fold_threshold values is folded: user:alice, user:bob, ... -> user:*", function()
	local keys = { ["feature:a"] = "string", ["feature:b"] = "string" }
	local people = { "ann", "bob", "cid", "dee", "eve", "fay", "gus", "hal", "ida", "jon", "kim", "lou" }
	for _, p in ipairs(people) do
		keys["user:" .. p .. ":profile"] = "hash"
		keys[p] = "string" -- bare words
	end
	fake { dbs = { [0] = keys } }
	local out = run_collector { url = "redis://h:1" }
	assert_eq(patterns_of(out), { "0/*", "0/feature:a", "0/feature:b", "0/user:*:profile" })
	local p = expect_emit(out, { name = "0/user:*:profile" })
	assert_eq(p.properties.sampled_keys, 12)
	-- a lower threshold folds feature:* too
	out = run_collector { url = "redis://h:1", fold_threshold = 1 }
	assert_eq(patterns_of(out), { "0/*", "0/feature:*", "0/user:*:profile" })
end)

test("the sampling budget: N of M keys, TTL ratio, memory extrapolated, never KEYS", function()
	local keys = {}
	for i = 1, 1000 do
		keys["item:" .. i] = { type = "string", ttl = i % 4 == 0 and 60000 or -1, mem = 80 }
	end
	local seen = fake { dbs = { [3] = keys } }
	local out, err = run_collector { url = "redis://h:1", sample_keys = 100, scan_count = 30 }
	assert_eq(err, nil)
	local p = expect_emit(out, { name = "3/item:*" })
	assert_eq(p.properties.sampled, "100 of 1000 keys")
	assert_eq(p.properties.sample_size, 100)
	assert_eq(p.properties.db_keys, 1000)
	assert_eq(p.properties.estimated_keys, 1000)
	assert_eq(p.properties.sample_complete, false)
	assert_eq(p.properties.avg_memory_bytes, 80)
	assert_eq(p.properties.estimated_memory_bytes, 80000)
	assert_eq(p.properties.avg_ttl_seconds, 60)
	assert_eq(seen.counts.KEYS, nil)
	assert_eq(seen.counts.PTTL, 100, "PTTL only for the sampled keys")
	assert_eq(seen.counts.MEMORY, 100)
	-- sorted keys item:1, item:10, item:100, ... : count the sampled TTLs to check the ratio
	local names = {}
	for k in pairs(keys) do
		names[#names + 1] = k
	end
	table.sort(names)
	local with_ttl = 0
	for i = 1, 100 do
		if keys[names[i]].ttl >= 0 then
			with_ttl = with_ttl + 1
		end
	end
	assert_eq(p.properties.ttl_ratio, math.floor(with_ttl / 100 * 100 + 0.5) / 100)
	-- the rest of the keyspace is scanned only for streams (SCAN ... TYPE stream)
	local typed = 0
	for _, c in ipairs(seen.commands) do
		if c:find("TYPE stream", 1, true) then
			typed = typed + 1
		end
	end
	assert_eq(typed > 0, true)
	assert_eq(out.tile.numbers.keys, 1000)
	assert_eq(out.tile.numbers.patterns, 1)
end)

test("the time budget stops a scan that never ends, and says streams may be missing", function()
	local keys = {}
	for i = 1, 50 do
		keys["k:" .. i] = "string"
	end
	fake { dbs = { [0] = keys }, endless = true }
	local t0 = time.now()
	local out, err = run_collector { url = "redis://h:1", sample_keys = 1000000, scan_count = 10,
		time_budget = 0.2 }
	assert_eq(err, nil)
	assert_eq(time.now() - t0 < 5, true)
	assert_eq(find_log(out, "warn", "the time budget (0.2 s) ran out") ~= nil, true)
end)

test("streams: a dataset with fields, a job per group with lag and pending, lineage", function()
	fake {
		dbs = { [0] = { ["orders"] = "stream", ["jobs:1"] = "stream", ["x"] = "string" } },
		streams = {
			orders = {
				info = { "length", 5, "last-generated-id", "5-0", "entries-added", 5, "groups", 2,
					"first-entry", { "1-0", { "id", "1", "amount", "3" } },
					"last-entry", { "5-0", { "id", "5", "note", "x" } } },
				groups = {
					{ "name", "billing", "consumers", 2, "pending", 3, "last-delivered-id", "2-0",
						"entries-read", 2, "lag", 3 },
					-- Redis 6: no lag field; caught up
					{ "name", "audit", "consumers", 0, "pending", 0, "last-delivered-id", "5-0" },
				},
			},
			["jobs:1"] = {
				info = { "length", 0, "last-generated-id", "0-0", "groups", 1,
					"first-entry", NULL, "last-entry", NULL },
				-- Redis 6, behind: lag unknown
				groups = { { "name", "w", "consumers", 1, "pending", 0, "last-delivered-id", "0-0x" } },
			},
		},
	}
	local out, err = run_collector { url = "redis://h:1" }
	assert_eq(err, nil)
	local s = expect_emit(out, { kind = "dataset", name = "0/orders", subtype = "stream" })
	assert_eq(s.properties.length, 5)
	assert_eq(s.properties.last_generated_id, "5-0")
	assert_eq(s.properties.first_entry_id, "1-0")
	local fields = {}
	for _, f in ipairs(s.fields) do
		fields[#fields + 1] = f.name
	end
	assert_eq(fields, { "id", "amount", "note" })
	local g = expect_emit(out, { kind = "job", name = "0/orders/consumer-group/billing" })
	assert_eq(g.properties.lag, 3)
	assert_eq(g.properties.pending, 3)
	assert_eq(g.properties.consumers, 2)
	assert_eq(g.properties.stream, "0/orders")
	expect_emit(out, { src = s.id or "dataset:redis://h:1:0/orders",
		dst = "job:redis://h:1:0/orders/consumer-group/billing", kind = "lineage" })
	local a = expect_emit(out, { kind = "job", name = "0/orders/consumer-group/audit" })
	assert_eq(a.properties.lag, 0)
	assert_eq(a.properties.lag_known, true)
	local w = expect_emit(out, { kind = "job", name = "0/jobs:1/consumer-group/w" })
	assert_eq(w.properties.lag, nil)
	assert_eq(w.properties.lag_known, false)
	-- a stream that is a single key is not also a key pattern; a pattern of streams stays
	assert_eq(patterns_of(out), { "0/jobs:*", "0/x" })
	assert_eq(out.tile.numbers.streams, 2)
end)

test("missing permissions: MEMORY, HSCAN, XINFO and PUBSUB denied give warnings, not a failure", function()
	fake {
		dbs = { [0] = { ["user:1"] = { type = "hash", fields = { "a" } }, ["s"] = "stream" } },
		streams = { s = { info = { "length", 1 }, groups = {} } },
		channels = { news = 1 },
		deny = { MEMORY = true, HSCAN = true, XINFO = true, PUBSUB = true },
	}
	local out, err = run_collector { url = "redis://h:1" }
	assert_eq(err, nil)
	for _, what in ipairs({ "+memory|usage", "+hscan", "+xinfo", "+pubsub" }) do
		assert_eq(find_log(out, "warn", what) ~= nil, true, "a warning naming " .. what)
	end
	local u = expect_emit(out, { name = "0/user:*" })
	assert_eq(u.properties.avg_memory_bytes, nil)
	assert_eq(u.fields, nil)
	assert_eq(out.tile.description:find("4 warnings", 1, true) ~= nil, true)
end)

test("hash fields come from HSCAN of a few keys; pub/sub channels are datasets", function()
	fake {
		dbs = { [0] = { ["user:1"] = { type = "hash", fields = { "name", "email" } },
			["user:2"] = { type = "hash", fields = { "name", "plan", "1700000000" } } } },
		channels = { news = 2, ["alerts:ops"] = 1 },
	}
	local out = run_collector { url = "redis://h:1" }
	local u = expect_emit(out, { name = "0/user:*" })
	assert_eq(u.fields, {
		{ name = "email", type = "string", nullable = true },
		{ name = "name", type = "string", nullable = true },
		{ name = "plan", type = "string", nullable = true },
	})
	local c = expect_emit(out, { kind = "dataset", name = "pubsub/news", subtype = "channel" })
	assert_eq(c.properties.subscribers, 2)
	expect_emit(out, { name = "pubsub/alerts:ops" })
	local sv = expect_emit(out, { kind = "service", name = "server" })
	assert_eq(sv.properties.pubsub_channels, 2)
end)

test("an old server without SCAN TYPE: only sampled streams, and a warning", function()
	local keys = {}
	for i = 1, 20 do
		keys["k:" .. i] = "string"
	end
	fake { dbs = { [0] = keys }, unknown = { ["SCAN TYPE"] = true } }
	local out, err = run_collector { url = "redis://h:1", sample_keys = 5, scan_count = 5 }
	assert_eq(err, nil)
	assert_eq(find_log(out, "warn", "cannot SCAN with TYPE") ~= nil, true)
end)

test("URLs: user and password decoded, host lowercased in the namespace, db ignored", function()
	local seen = fake { dbs = { [0] = { a = "string" } } }
	local out, err = run_collector { url = "redis://ops%40corp:p%3Aw@Cache.Local:6380/2", query_timeout = 3 }
	assert_eq(err, nil)
	assert_eq(seen.connects[1], { host = "Cache.Local", port = 6380, username = "ops@corp", password = "p:w" })
	assert_eq(seen.timeout, 3)
	expect_emit(out, { kind = "service", namespace = "redis://cache.local:6380", name = "server" })
	-- a password given apart wins over the URL's; IPv6; a socket
	seen = fake { dbs = {} }
	run_collector { url = "redis://:old@[::1]:7000", password = "new" }
	assert_eq(seen.connects[1], { host = "::1", port = 7000, password = "new" })
	out = run_collector { url = "unix:///run/redis.sock" }
	expect_emit(out, { kind = "service", namespace = "redis://localhost:6379" })
	out = run_collector { url = "unix:///run/redis.sock", namespace = "redis://cache:6379" }
	expect_emit(out, { kind = "service", namespace = "redis://cache:6379" })
end)

test("several servers; dbs filters", function()
	local seen = fake { dbs = { [0] = { a = "string" }, [5] = { b = "string" } } }
	local out, err = run_collector { servers = { { url = "redis://a:1" }, { url = "redis://b:2", dbs = { 5 } } } }
	assert_eq(err, nil)
	expect_emit(out, { namespace = "redis://a:1", name = "0/a" })
	expect_emit(out, { namespace = "redis://a:1", name = "5/b" })
	expect_emit(out, { namespace = "redis://b:2", name = "5/b" })
	for _, e in ipairs(out.entities) do
		assert_eq(e.namespace == "redis://b:2" and e.name == "0/a", false, "db 0 of b is left out")
	end
	assert_eq(#seen.connects, 2)
	assert_eq(out.tile.description, "a:1, b:2")
end)

test("failures: nothing configured, TLS, a refused connection (tile down)", function()
	fake { refuse = "connection refused (h:1)" }
	local out, err = run_collector {}
	assert_match(err, "no server configured")
	out, err = run_collector { url = "rediss://h:1" }
	assert_match(err, "TLS %(rediss://%) is not supported")
	local _, err2, partial = run_collector { url = "redis://h:1" }
	assert_eq(err2, "redis: cannot connect to h:1: connection refused")
	assert_eq(partial.tile.status, "down")
	out, err = run_collector { url = "redis://h:1", sample_keys = "many" }
	assert_match(err, "sample_keys: expected a number")
end)

test("cluster mode is said: only this node's keys", function()
	fake { dbs = { [0] = { a = "string" } }, info = { "cluster_enabled:1" } }
	local out = run_collector { url = "redis://h:1" }
	assert_eq(find_log(out, "warn", "cluster mode: only the keys of this node are crawled") ~= nil, true)
	local sv = expect_emit(out, { kind = "service" })
	assert_eq(sv.properties.mode, "cluster")
end)
