-- Redis collector: crawls one or more Redis servers without blocking them.
--
-- Emits, per server (docs/collectors/redis.md has the details):
--   * a service entity  service:redis://HOST:PORT:server  (version, mode, role,
--     maxmemory, keyspaces per db);
--   * a dataset per key pattern of each database, inferred from a bounded
--     sample of keys read with SCAN (never KEYS), named DB/PATTERN (0/user:*),
--     with the types, TTL ratio and approximate memory of its keys, the key
--     count estimated from the sample, and for hashes their field names;
--   * a dataset per stream (DB/KEY) with its length, last id and entry fields,
--     and a job per consumer group (DB/KEY/consumer-group/GROUP) with its lag
--     and pending count, and a lineage edge stream -> group;
--   * a dataset per pub/sub channel that has subscribers (pubsub/CHANNEL);
-- and one tile (version, role, memory, clients, ops/s, keys, patterns, streams).
--
-- Config (the collector's table in `plugins`):
--   url = "redis://[[USER]:PASSWORD@]HOST:PORT"  (or unix:///path/redis.sock)
--   servers = { { url = ..., password = ..., namespace = ..., dbs = {...} }, ... }
--   username, password: ACL user and password (use env()); override the URL's
--   dbs: database numbers to crawl (default: every db INFO keyspace lists)
--   sample_keys (10000 per db), scan_count (1000), time_budget (5 s per db),
--   max_patterns (200 per db), fold_threshold (10), max_streams (1000 per db),
--   max_channels (1000), query_timeout (10 s), namespace
-- Keys set at the top level are defaults for every entry of `servers`
-- (except url and namespace, which name one server).

local redis = require "redis"
local names = require "names"

local TEXT_MAX = 64 * 1024
local NAME_MAX = 512          -- bytes of a pattern or key in a name
local HASH_FIELD_KEYS = 3     -- keys per hash pattern whose field names are read
local HASH_FIELDS_MAX = 100   -- field names kept per pattern

-- --- small helpers ------------------------------------------------------------------

-- Text as the catalog accepts it: valid UTF-8 (keys are binary-safe), at most
-- MAX bytes.
local function clean(s, max)
	if s == nil then
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

-- The binding's message without its "redis: " prefix (ours adds one) and
-- without the server's address when LABEL already names it.
local function strip(err, label)
	err = tostring(err or "unknown error"):gsub("^redis: ", "")
	if label and err:sub(-#label - 3) == " (" .. label .. ")" then
		err = err:sub(1, -#label - 4)
	end
	return err
end

-- N rounded to two significant digits (an estimate is no better than that,
-- and the entity's history should record real shifts, not sampling noise).
local function round2(n)
	if n == nil then
		return nil
	end
	if n < 100 then
		return math.tointeger(math.floor(n + 0.5)) or 0
	end
	local mag = 10 ^ (math.floor(math.log(n, 10)) - 1)
	return math.tointeger(math.floor(n / mag + 0.5) * mag) or math.floor(n)
end

local function human_bytes(n)
	local units = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" }
	local i = 1
	while n >= 1024 and i < #units do
		n = n / 1024
		i = i + 1
	end
	if i == 1 then
		return string.format("%d B", n)
	end
	return string.format("%.1f %s", n, units[i])
end

local function int(v)
	if v == nil then
		return nil
	end
	return math.tointeger(tonumber(v))
end

-- A flat reply { k1, v1, k2, v2, ... } as a table.
local function pairs_of(reply)
	local t = {}
	if type(reply) ~= "table" then
		return t
	end
	for i = 1, #reply - 1, 2 do
		t[tostring(reply[i])] = reply[i + 1]
	end
	return t
end

local function is_null(v)
	return v == nil or v == redis.null
end

-- --- key patterns -------------------------------------------------------------------

-- The characters that separate the segments of a key.
local SEPARATORS = "[:/|.#,;=]"

-- Whether a segment of a key is a value (an id, a number, a date, a hash, a
-- token) rather than a name.
local function variable(seg)
	local n = #seg
	if n == 0 then
		return false
	end
	if seg:match("^%-?%d+$") then
		return true
	end
	local digits = select(2, seg:gsub("%d", ""))
	if n >= 4 and digits * 2 >= n then
		return true -- dates, timestamps, phone numbers, 12ab34
	end
	if n == 36 and seg:match("^%x+%-%x+%-%x+%-%x+%-%x+$") then
		return true -- a UUID
	end
	if n >= 8 and digits > 0 and seg:match("^%x+$") then
		return true -- a hex digest or object id
	end
	if n >= 16 and digits > 0 and seg:match("^[%w_%-+=]+$") and seg:find("%a") then
		return true -- a random token (base64, ULID, ...)
	end
	return false
end

-- Split KEY into segments and the separators between them; variable
-- segments become "*".
local function shape(key)
	local segs, seps = {}, {}
	local pos = 1
	while true do
		local s = key:find(SEPARATORS, pos)
		local seg = key:sub(pos, (s or 0) - 1)
		segs[#segs + 1] = variable(seg) and "*" or seg
		if not s then
			break
		end
		seps[#seps + 1] = key:sub(s, s)
		pos = s + 1
	end
	return segs, seps
end

local function join_shape(segs, seps)
	local out = {}
	for i, s in ipairs(segs) do
		out[#out + 1] = s
		if seps[i] then
			out[#out + 1] = seps[i]
		end
	end
	return table.concat(out)
end

local function new_agg(segs, seps)
	return { segs = segs, seps = seps, count = 0, types = {}, ttl = 0, ttl_sum = 0,
		mem_sum = 0, mem_n = 0, examples = {} }
end

local function merge_agg(into, from)
	into.count = into.count + from.count
	for t, n in pairs(from.types) do
		into.types[t] = (into.types[t] or 0) + n
	end
	into.ttl = into.ttl + from.ttl
	into.ttl_sum = into.ttl_sum + from.ttl_sum
	into.mem_sum = into.mem_sum + from.mem_sum
	into.mem_n = into.mem_n + from.mem_n
	for _, k in ipairs(from.examples) do
		if #into.examples < HASH_FIELD_KEYS then
			into.examples[#into.examples + 1] = k
		end
	end
end

-- Fold patterns that differ in one segment only, when that segment takes more
-- than THRESHOLD values: user:alice, user:bob, ... -> user:*.  Positions are
-- folded from the last to the first.
local function fold(patterns, threshold)
	local longest = 0
	for _, a in pairs(patterns) do
		longest = math.max(longest, #a.segs)
	end
	for pos = longest, 1, -1 do
		local groups, order = {}, {}
		for p, a in pairs(patterns) do
			if #a.segs >= pos and a.segs[pos] ~= "*" then
				local segs = table.move(a.segs, 1, #a.segs, 1, {})
				segs[pos] = "*"
				local k = join_shape(segs, a.seps)
				local g = groups[k]
				if not g then
					g = { segs = segs, seps = a.seps, members = {} }
					groups[k] = g
					order[#order + 1] = k
				end
				g.members[#g.members + 1] = p
			end
		end
		table.sort(order)
		for _, k in ipairs(order) do
			local g = groups[k]
			if #g.members > threshold then
				local into = patterns[k]
				if not into then
					into = new_agg(g.segs, g.seps)
					patterns[k] = into
				end
				table.sort(g.members)
				for _, p in ipairs(g.members) do
					merge_agg(into, patterns[p])
					patterns[p] = nil
				end
			end
		end
	end
	return patterns
end

-- The pattern of KEY as a string (bounded in length).
local function pattern_of(key)
	local segs, seps = shape(key)
	return join_shape(segs, seps), segs, seps
end

-- --- configuration --------------------------------------------------------------------

local function setting(server, key, default)
	if server[key] ~= nil then
		return server[key]
	end
	if config[key] ~= nil then
		return config[key]
	end
	return default
end

local function number_setting(s, key, default, min, max)
	local v = setting(s.cfg, key, default)
	if type(v) ~= "number" or v < min or v > max then
		error(string.format("redis: %s.%s: expected a number from %s to %s", s.where, key,
			tostring(min), tostring(max)), 0)
	end
	return v
end

local function pct_decode(s)
	return (s:gsub("%%(%x%x)", function(h)
		return string.char(tonumber(h, 16))
	end))
end

-- redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or unix:///PATH[?db=N] as a table
-- for redis.connect.  Messages never quote the userinfo.
local function parse_url(url, where)
	if type(url) ~= "string" then
		error("redis: " .. where .. ".url: expected a redis:// or unix:// URL", 0)
	end
	if url:match("^rediss://") then
		error("redis: " .. where .. ".url: TLS (rediss://) is not supported: the hiredis "
			.. "this build links (0.14) has no TLS; use a TLS proxy such as stunnel", 0)
	end
	local path, q = url:match("^unix://(/[^?]*)%??(.*)$")
	if path then
		local t = { path = pct_decode(path) }
		if q ~= "" then
			local db = q:match("^db=(%d+)$")
			if not db then
				error("redis: " .. where .. ".url: a unix:// URL takes only ?db=N", 0)
			end
			t.db = tonumber(db)
		end
		return t
	end
	local rest = url:match("^redis://(.*)$")
	if not rest then
		error("redis: " .. where .. ".url: expected a redis:// or unix:// URL", 0)
	end
	local authority, tail = rest:match("^([^/?#]*)(.*)$")
	local t = {}
	local userinfo, hostport = authority:match("^(.*)@(.*)$")
	if userinfo then
		local u, p = userinfo:match("^([^:]*):(.*)$")
		if u then
			if u ~= "" then
				t.username = pct_decode(u)
			end
			t.password = pct_decode(p)
		elseif userinfo ~= "" then
			t.password = pct_decode(userinfo)
		end
	else
		hostport = authority
	end
	local host, port
	if hostport:sub(1, 1) == "[" then
		host, port = hostport:match("^%[(.-)%]:?(%d*)$")
	else
		host, port = hostport:match("^([^:]*):?(%d*)$")
	end
	if not host then
		error("redis: " .. where .. ".url: malformed host or port", 0)
	end
	t.host = host ~= "" and host or "127.0.0.1"
	t.port = port ~= "" and tonumber(port) or 6379
	if t.port < 1 or t.port > 65535 then
		error("redis: " .. where .. ".url: bad port", 0)
	end
	if tail ~= "" and tail ~= "/" then
		local db = tail:match("^/(%d+)$")
		if not db then
			error("redis: " .. where .. ".url: the path must be a database number", 0)
		end
		t.db = tonumber(db)
	end
	return t
end

local function db_list(v, where)
	if v == nil then
		return nil
	end
	if type(v) ~= "table" then
		error("redis: " .. where .. ".dbs: expected a list of database numbers", 0)
	end
	local out = {}
	for i, d in ipairs(v) do
		if math.type(d) ~= "integer" or d < 0 then
			error("redis: " .. where .. ".dbs[" .. i .. "]: expected a database number", 0)
		end
		out[#out + 1] = d
	end
	table.sort(out)
	return out
end

local function server_list()
	local list = {}
	if config.servers ~= nil then
		if type(config.servers) ~= "table" or #config.servers == 0 then
			error("redis: config.servers must be a list of { url = ... }", 0)
		end
		for i, s in ipairs(config.servers) do
			if type(s) ~= "table" or s.url == nil then
				error("redis: config.servers[" .. i .. "] needs a url", 0)
			end
			list[i] = { cfg = s, where = "servers[" .. i .. "]" }
		end
	elseif config.url ~= nil then
		list[1] = { cfg = { url = config.url, namespace = config.namespace }, where = "config" }
	else
		error("redis: no server configured (set config.url, or config.servers = "
			.. "{ { url = ... } })", 0)
	end
	for _, s in ipairs(list) do
		local t = parse_url(s.cfg.url, s.where)
		local user = setting(s.cfg, "username")
		local pass = setting(s.cfg, "password")
		if user ~= nil then
			t.username = tostring(user)
		end
		if pass ~= nil then
			t.password = tostring(pass)
		end
		if t.db then
			-- the URL's database is where the connection starts; the crawl selects each db
			t.db = nil
		end
		s.target = t
		if t.path then
			s.label = t.path
			s.namespace = s.cfg.namespace or names.namespace("redis", "localhost", 6379)
		else
			s.label = names.authority(t.host, t.port)
			s.namespace = s.cfg.namespace or names.namespace("redis", t.host, t.port)
		end
		s.dbs = db_list(setting(s.cfg, "dbs"), s.where)
		s.timeout = number_setting(s, "query_timeout", 10, 0.1, 3600)
		s.sample_keys = math.floor(number_setting(s, "sample_keys", 10000, 0, 10000000))
		s.scan_count = math.floor(number_setting(s, "scan_count", 1000, 1, 100000))
		s.time_budget = number_setting(s, "time_budget", 5, 0.1, 3600)
		s.max_patterns = math.floor(number_setting(s, "max_patterns", 200, 1, 100000))
		s.fold_threshold = math.floor(number_setting(s, "fold_threshold", 10, 1, 100000))
		s.max_streams = math.floor(number_setting(s, "max_streams", 1000, 0, 1000000))
		s.max_channels = math.floor(number_setting(s, "max_channels", 1000, 0, 1000000))
	end
	return list
end

-- --- the crawl ------------------------------------------------------------------------

local warnings = 0
local warned = {}

-- Warn once per server and topic.
local function warn_once(s, topic, msg, fields)
	local k = s.label .. "\0" .. topic
	if warned[k] then
		return
	end
	warned[k] = true
	warnings = warnings + 1
	log.warn("redis: " .. s.label .. ": " .. msg, fields)
end

local function is_denied(err)
	err = tostring(err)
	return err:find("NOPERM", 1, true) ~= nil
end

local function is_unknown(err)
	err = tostring(err)
	return err:find("unknown command", 1, true) ~= nil or err:find("unknown subcommand", 1, true) ~= nil
		or err:find("syntax error", 1, true) ~= nil
end

-- A command that must work: its failure fails the run.
local function must(s, conn, what, ...)
	local v, err = conn:command(...)
	if v == nil and err then
		error(string.format("redis: %s: %s: %s", s.label, what, strip(err, s.label)), 0)
	end
	return v
end

local function pipeline(s, conn, cmds, what)
	local r, err = conn:pipeline(cmds)
	if not r then
		error(string.format("redis: %s: %s: %s", s.label, what, strip(err, s.label)), 0)
	end
	return r
end

-- INFO text as { field = value }, and the keyspace as { [db] = { keys, expires, avg_ttl } }.
local function parse_info(text)
	local info, keyspace = {}, {}
	for line in tostring(text):gmatch("[^\r\n]+") do
		local k, v = line:match("^([%w_]+):(.*)$")
		if k then
			info[k] = v
			local db = k:match("^db(%d+)$")
			if db then
				local e = {}
				for kk, vv in v:gmatch("([%w_]+)=([^,]*)") do
					e[kk] = tonumber(vv)
				end
				keyspace[tonumber(db)] = { keys = e.keys or 0, expires = e.expires or 0,
					avg_ttl = e.avg_ttl or 0 }
			end
		end
	end
	return info, keyspace
end

-- Sample the keys of the current db: SCAN pages until SAMPLE_KEYS keys or the
-- time budget; each page's keys get TYPE, PTTL and MEMORY USAGE in one
-- pipeline.  Then go on scanning with TYPE stream, to find every stream.
local function sample_db(s, conn, db, st)
	local t0 = time.now()
	local deadline = t0 + s.time_budget
	local patterns, seen, streams, stream_list = {}, {}, {}, {}
	local sampled, scanned_pages = 0, 0
	local cursor = "0"
	local memory_ok = not st.no_memory
	local done = false
	local function add_stream(k)
		if not streams[k] then
			streams[k] = true
			stream_list[#stream_list + 1] = k
		end
	end
	repeat
		local page = must(s, conn, "SCAN in db " .. db, "SCAN", cursor, "COUNT", s.scan_count)
		scanned_pages = scanned_pages + 1
		cursor = tostring(page[1])
		local keys = {}
		for _, k in ipairs(page[2] or {}) do
			if not seen[k] then
				seen[k] = true
				keys[#keys + 1] = k
			end
		end
		if #keys > 0 then
			local take = math.min(#keys, s.sample_keys - sampled)
			local cmds, at = {}, {}
			for i, k in ipairs(keys) do
				local x = { ty = #cmds + 1 }
				cmds[#cmds + 1] = { "TYPE", k }
				if i <= take then
					x.pttl = #cmds + 1
					cmds[#cmds + 1] = { "PTTL", k }
					if memory_ok then
						x.mem = #cmds + 1
						cmds[#cmds + 1] = { "MEMORY", "USAGE", k }
					end
				end
				at[i] = x
			end
			local r = pipeline(s, conn, cmds, "TYPE/PTTL/MEMORY USAGE in db " .. db)
			local errs = r.errors or {}
			for i, k in ipairs(keys) do
				local x = at[i]
				local ty = r[x.ty]
				if ty == false then
					error(string.format("redis: %s: TYPE in db %d: %s", s.label, db,
						strip(errs[x.ty])), 0)
				end
				if ty == "stream" then
					add_stream(k)
				end
				if x.pttl and ty ~= "none" then
					local pttl = r[x.pttl]
					local mem = x.mem and r[x.mem]
					if mem == false then
						local err = errs[x.mem]
						if memory_ok and (is_denied(err) or is_unknown(err)) then
							memory_ok = false
							st.no_memory = true
							warn_once(s, "memory", "cannot run MEMORY USAGE, so patterns have "
								.. "no memory estimate (" .. strip(err) .. "); grant +memory|usage",
								{ command = "MEMORY USAGE" })
						end
					end
					sampled = sampled + 1
					local p, segs, seps = pattern_of(k)
					local a = patterns[p]
					if not a then
						a = new_agg(segs, seps)
						patterns[p] = a
					end
					a.count = a.count + 1
					a.types[ty] = (a.types[ty] or 0) + 1
					if math.type(pttl) == "integer" and pttl >= 0 then
						a.ttl = a.ttl + 1
						a.ttl_sum = a.ttl_sum + pttl / 1000
					end
					if math.type(mem) == "integer" then
						a.mem_sum = a.mem_sum + mem
						a.mem_n = a.mem_n + 1
					end
					if #a.examples < HASH_FIELD_KEYS then
						a.examples[#a.examples + 1] = k
					end
				end
			end
		end
		if cursor == "0" then
			done = true
		end
	until done or sampled >= s.sample_keys or time.now() > deadline

	-- streams in the rest of the keyspace
	local streams_complete = done
	if not done and s.max_streams > 0 and not st.no_scan_type then
		while time.now() <= deadline and #stream_list < s.max_streams do
			local page, err = conn:command("SCAN", cursor, "COUNT", s.scan_count, "TYPE", "stream")
			if not page then
				if is_unknown(err) or is_denied(err) then
					st.no_scan_type = true
					warn_once(s, "scantype", "cannot SCAN with TYPE (Redis 6 or newer): only "
						.. "the streams among the sampled keys are found (" .. strip(err) .. ")")
					break
				end
				error(string.format("redis: %s: SCAN TYPE stream in db %d: %s", s.label, db,
					strip(err)), 0)
			end
			scanned_pages = scanned_pages + 1
			cursor = tostring(page[1])
			for _, k in ipairs(page[2] or {}) do
				add_stream(k)
			end
			if cursor == "0" then
				streams_complete = true
				break
			end
		end
	end
	if not streams_complete and #stream_list < s.max_streams then
		warn_once(s, "streams" .. db, string.format("db %d: the time budget (%g s) ran out "
			.. "before every key was scanned for streams; some streams may be missing "
			.. "(raise time_budget)", db, s.time_budget), { db = db })
	end
	table.sort(stream_list)
	if #stream_list > s.max_streams then
		warn_once(s, "maxstreams" .. db, string.format("db %d: more than %d streams; the rest "
			.. "are left out (raise max_streams)", db, s.max_streams), { db = db })
		for i = #stream_list, s.max_streams + 1, -1 do
			stream_list[i] = nil
		end
	end
	return {
		patterns = patterns, sampled = sampled, complete = done, streams = stream_list,
		streams_complete = streams_complete, pages = scanned_pages, seconds = time.now() - t0,
	}
end

-- Field names of up to HASH_FIELD_KEYS keys of each hash pattern (one HSCAN
-- page each), as fields of the pattern's dataset.
local function hash_fields(s, conn, list, st)
	if st.no_hscan then
		return
	end
	local cmds, owners = {}, {}
	for _, a in ipairs(list) do
		if a.type == "hash" then
			for _, k in ipairs(a.examples) do
				cmds[#cmds + 1] = { "HSCAN", k, "0", "COUNT", 100 }
				owners[#cmds] = a
			end
		end
	end
	if #cmds == 0 then
		return
	end
	local r = pipeline(s, conn, cmds, "HSCAN")
	for i, a in ipairs(owners) do
		local page = r[i]
		if page == false then
			local err = r.errors and r.errors[i]
			if is_denied(err) then
				st.no_hscan = true
				warn_once(s, "hscan", "cannot run HSCAN, so hash patterns have no fields ("
					.. strip(err) .. "); grant +hscan", { command = "HSCAN" })
				return
			end
		elseif type(page) == "table" and type(page[2]) == "table" then
			a.fieldset = a.fieldset or {}
			for j = 1, #page[2], 2 do
				local f = page[2][j]
				if type(f) == "string" and not variable(f) then
					a.fieldset[f] = true
				end
			end
		end
	end
	for _, a in ipairs(list) do
		if a.fieldset then
			local fl = {}
			for f in pairs(a.fieldset) do
				fl[#fl + 1] = f
			end
			table.sort(fl)
			local fields = {}
			for i = 1, math.min(#fl, HASH_FIELDS_MAX) do
				fields[i] = { name = clean(fl[i], NAME_MAX), type = "string", nullable = true }
			end
			a.fields = #fields > 0 and fields or nil
		end
	end
end

-- The streams of db DB: one dataset each, a job per consumer group, and the
-- lineage stream -> group.  Returns the number of streams and groups.
local function crawl_streams(s, conn, db, keys, st, out)
	if #keys == 0 or st.no_xinfo then
		return 0, 0
	end
	local nstreams, ngroups = 0, 0
	local BATCH = 200
	for first = 1, #keys, BATCH do
		local cmds = {}
		for i = first, math.min(first + BATCH - 1, #keys) do
			cmds[#cmds + 1] = { "XINFO", "STREAM", keys[i] }
			cmds[#cmds + 1] = { "XINFO", "GROUPS", keys[i] }
		end
		local r = pipeline(s, conn, cmds, "XINFO in db " .. db)
		for n = 0, #cmds / 2 - 1 do
			local key = keys[first + n]
			local info, groups = r[2 * n + 1], r[2 * n + 2]
			if info == false then
				local err = r.errors[2 * n + 1]
				if is_denied(err) then
					st.no_xinfo = true
					warn_once(s, "xinfo", "cannot run XINFO, so streams and consumer groups "
						.. "are not collected (" .. strip(err) .. "); grant +xinfo",
						{ command = "XINFO" })
					return nstreams, ngroups
				end
				-- the key went away or changed type since the scan
			else
				info = pairs_of(info)
				local fields, fseen = {}, {}
				for _, e in ipairs({ info["first-entry"], info["last-entry"] }) do
					if type(e) == "table" and type(e[2]) == "table" then
						for j = 1, #e[2], 2 do
							local f = e[2][j]
							if type(f) == "string" and not fseen[f] and #fields < HASH_FIELDS_MAX then
								fseen[f] = true
								fields[#fields + 1] = { name = clean(f, NAME_MAX), type = "string",
									nullable = true }
							end
						end
					end
				end
				local function entry_id(e)
					if type(e) == "table" and type(e[1]) == "string" then
						return e[1]
					end
					return nil
				end
				local name = db .. "/" .. clean(key, NAME_MAX)
				local last_id = info["last-generated-id"]
				local sid = emit.dataset {
					namespace = s.namespace,
					name = name,
					subtype = "stream",
					platform = "redis",
					display_name = clean(key, NAME_MAX),
					description = string.format("Redis stream in db %d", db),
					properties = {
						db = db,
						key = clean(key, NAME_MAX),
						length = int(info.length),
						last_generated_id = last_id,
						first_entry_id = entry_id(info["first-entry"]),
						last_entry_id = entry_id(info["last-entry"]),
						entries_added = int(info["entries-added"]),
						max_deleted_entry_id = info["max-deleted-entry-id"],
						groups = int(info.groups),
					},
					fields = #fields > 0 and fields or nil,
				}
				out.stream_ids[name] = true
				nstreams = nstreams + 1
				if type(groups) == "table" then
					for _, g in ipairs(groups) do
						g = pairs_of(g)
						local gname = clean(g.name, NAME_MAX)
						local lag = g.lag
						if is_null(lag) then
							lag = nil
						end
						local lag_known = lag ~= nil
						if lag == nil and g["last-delivered-id"] == last_id then
							lag, lag_known = 0, true
						end
						local gid = emit.job {
							namespace = s.namespace,
							name = name .. "/consumer-group/" .. gname,
							subtype = "consumer_group",
							platform = "redis",
							display_name = gname,
							description = string.format("consumer group of the Redis stream %s",
								clean(key, NAME_MAX)),
							properties = {
								stream = name,
								consumers = int(g.consumers),
								pending = int(g.pending),
								lag = lag,
								lag_known = lag_known,
								last_delivered_id = g["last-delivered-id"],
								entries_read = not is_null(g["entries-read"]) and int(g["entries-read"]) or nil,
							},
						}
						emit.edge(sid, gid, "lineage")
						ngroups = ngroups + 1
						local labels = { server = s.namespace, stream = name, group = gname }
						if lag then
							metric("stream_group_lag", lag, labels)
						end
						metric("stream_group_pending", int(g.pending) or 0, labels)
					end
				end
			end
		end
	end
	return nstreams, ngroups
end

-- Pub/sub channels with subscribers.
local function crawl_channels(s, conn, st)
	if s.max_channels == 0 then
		return 0, 0
	end
	local chans, err = conn:command("PUBSUB", "CHANNELS")
	if not chans then
		if is_denied(err) then
			warn_once(s, "pubsub", "cannot run PUBSUB, so channels are not collected ("
				.. strip(err) .. "); grant +pubsub", { command = "PUBSUB" })
			return 0, 0
		end
		error(string.format("redis: %s: PUBSUB CHANNELS: %s", s.label, strip(err)), 0)
	end
	local numpat = conn:command("PUBSUB", "NUMPAT")
	table.sort(chans)
	if #chans > s.max_channels then
		warn_once(s, "maxchannels", string.format("more than %d pub/sub channels; the rest are "
			.. "left out (raise max_channels)", s.max_channels))
		for i = #chans, s.max_channels + 1, -1 do
			chans[i] = nil
		end
	end
	local BATCH = 500
	for first = 1, #chans, BATCH do
		local cmd = { "PUBSUB", "NUMSUB" }
		for i = first, math.min(first + BATCH - 1, #chans) do
			cmd[#cmd + 1] = chans[i]
		end
		local r = must(s, conn, "PUBSUB NUMSUB", table.unpack(cmd))
		local subs = pairs_of(r)
		for i = first, math.min(first + BATCH - 1, #chans) do
			local ch = chans[i]
			emit.dataset {
				namespace = s.namespace,
				name = "pubsub/" .. clean(ch, NAME_MAX),
				subtype = "channel",
				platform = "redis",
				display_name = clean(ch, NAME_MAX),
				description = "Redis pub/sub channel",
				properties = { channel = clean(ch, NAME_MAX), subscribers = int(subs[ch]) },
			}
		end
	end
	st.numpat = int(numpat)
	return #chans, int(numpat) or 0
end

local TYPE_ORDER = { "string", "hash", "list", "set", "zset", "stream" }

local function emit_patterns(s, conn, db, ks, res, st, out)
	local list = {}
	fold(res.patterns, s.fold_threshold)
	for p, a in pairs(res.patterns) do
		a.pattern = clean(p, NAME_MAX)
		local best, bn = nil, -1
		for t, n in pairs(a.types) do
			if n > bn or (n == bn and t < best) then
				best, bn = t, n
			end
		end
		a.type = best
		-- a single key that is a stream is the stream's dataset
		if not (a.pattern:find("*", 1, true) == nil and a.type == "stream" and
				out.stream_ids[db .. "/" .. a.pattern]) then
			list[#list + 1] = a
		end
	end
	table.sort(list, function(x, y)
		if x.count ~= y.count then
			return x.count > y.count
		end
		return x.pattern < y.pattern
	end)
	local left_out = 0
	for i = #list, s.max_patterns + 1, -1 do
		left_out = left_out + list[i].count
		list[i] = nil
	end
	if left_out > 0 then
		warn_once(s, "maxpatterns" .. db, string.format("db %d: more than %d key patterns; "
			.. "%d sampled keys of rarer patterns are left out (raise max_patterns)", db,
			s.max_patterns, left_out), { db = db })
	end
	hash_fields(s, conn, list, st)
	local total = ks.keys
	local sample = res.sampled
	for _, a in ipairs(list) do
		local types = {}
		for t, n in pairs(a.types) do
			types[t] = n
		end
		local est = sample > 0 and a.count / sample * total or 0
		local avg_mem = a.mem_n > 0 and a.mem_sum / a.mem_n or nil
		local sampled_text = string.format("%d of %d keys", sample, total)
		local type_names = {}
		for _, t in ipairs(TYPE_ORDER) do
			if types[t] then
				type_names[#type_names + 1] = t
			end
		end
		for t in pairs(types) do
			local known = false
			for _, k in ipairs(TYPE_ORDER) do
				known = known or k == t
			end
			if not known then
				type_names[#type_names + 1] = t
			end
		end
		emit.dataset {
			namespace = s.namespace,
			name = db .. "/" .. a.pattern,
			subtype = "key_pattern",
			platform = "redis",
			display_name = a.pattern,
			description = string.format("about %s %s keys matching %s in db %d (estimated "
				.. "from a sample of %s)", tostring(round2(est)), table.concat(type_names, "/"),
				a.pattern, db, sampled_text),
			properties = {
				db = db,
				pattern = a.pattern,
				type = a.type,
				types = types,
				sampled = sampled_text,
				sampled_keys = a.count,
				sample_size = sample,
				db_keys = total,
				sample_complete = res.complete,
				estimated_keys = round2(est),
				ttl_ratio = a.count > 0 and math.floor(a.ttl / a.count * 100 + 0.5) / 100 or 0,
				avg_ttl_seconds = a.ttl > 0 and round2(a.ttl_sum / a.ttl) or nil,
				avg_memory_bytes = avg_mem and round2(avg_mem) or nil,
				estimated_memory_bytes = avg_mem and round2(avg_mem * est) or nil,
			},
			fields = a.fields,
		}
	end
	return #list
end

local function crawl_server(s)
	local t0 = time.now()
	local conn, err = redis.connect(s.target, { timeout = s.timeout })
	if not conn then
		tile {
			status = "down",
			title = "Redis " .. s.label,
			description = "cannot connect: " .. clean(strip(err, s.label), 500),
		}
		error(string.format("redis: cannot connect to %s: %s", s.label, strip(err, s.label)), 0)
	end
	local text, ierr = conn:command("INFO")
	if not text then
		tile {
			status = "down",
			title = "Redis " .. s.label,
			description = "cannot read INFO: " .. clean(strip(ierr, s.label), 500),
		}
		error(string.format("redis: %s: cannot read INFO: %s", s.label, strip(ierr, s.label)), 0)
	end
	local info, keyspace = parse_info(text)
	local version = info.redis_version or "?"
	local role = info.role or "?"
	local mode = info.redis_mode or "standalone"
	if info.cluster_enabled == "1" then
		mode = "cluster"
		warn_once(s, "cluster", "cluster mode: only the keys of this node are crawled; list "
			.. "every master in config.servers to cover the whole keyspace")
	end
	local dbs = s.dbs
	if not dbs then
		dbs = {}
		for db, ks in pairs(keyspace) do
			if ks.keys > 0 then
				dbs[#dbs + 1] = db
			end
		end
		table.sort(dbs)
	end
	local out = {
		label = s.label, version = version, role = role, keys = 0, patterns = 0, streams = 0,
		groups = 0, memory = int(info.used_memory) or 0,
		clients = int(info.connected_clients) or 0,
		ops = int(info.instantaneous_ops_per_sec) or 0, stream_ids = {},
	}
	local st = {}
	local labels = { server = s.namespace }
	local keyspaces = {}
	for _, db in ipairs(dbs) do
		local ks = keyspace[db] or { keys = 0, expires = 0, avg_ttl = 0 }
		out.keys = out.keys + ks.keys
		keyspaces[#keyspaces + 1] = { db = db, keys = ks.keys, expires = ks.expires }
		if ks.keys > 0 then
			local ok, serr = conn:command("SELECT", db)
			if not ok then
				error(string.format("redis: %s: SELECT %d: %s", s.label, db, strip(serr)), 0)
			end
			local res = sample_db(s, conn, db, st)
			local ns, ng = crawl_streams(s, conn, db, res.streams, st, out)
			local np = emit_patterns(s, conn, db, ks, res, st, out)
			out.patterns = out.patterns + np
			out.streams = out.streams + ns
			out.groups = out.groups + ng
			local dl = { server = s.namespace, db = tostring(db) }
			metric("keys", ks.keys, dl)
			metric("sampled_keys", res.sampled, dl)
			metric("patterns", np, dl)
			metric("streams", ns, dl)
			log.info(string.format("redis: %s db %d: sampled %d of %d keys in %d SCAN pages "
				.. "(%.2f s): %d patterns, %d streams, %d consumer groups%s", s.label, db,
				res.sampled, ks.keys, res.pages, res.seconds, np, ns, ng,
				res.streams_complete and "" or " (stream scan incomplete)"),
				{ db = db, sampled = res.sampled, keys = ks.keys })
		end
	end
	local nchan, numpat = crawl_channels(s, conn, st)
	conn:close()

	emit.service {
		namespace = s.namespace,
		name = "server",
		subtype = "server",
		platform = "redis",
		display_name = "Redis " .. s.label,
		description = string.format("Redis %s (%s, %s)", version, mode, role),
		properties = {
			version = version,
			mode = mode,
			role = role,
			os = info.os,
			maxmemory = int(info.maxmemory),
			maxmemory_policy = info.maxmemory_policy,
			connected_replicas = int(info.connected_slaves),
			master = role == "slave" and info.master_host and
				names.authority(info.master_host, info.master_port) or nil,
			databases = #dbs > 0 and dbs or nil,
			keyspaces = #keyspaces > 0 and keyspaces or nil,
			pubsub_channels = nchan,
			pubsub_patterns = numpat,
		},
	}
	metric("memory_bytes", out.memory, labels)
	metric("clients", out.clients, labels)
	metric("ops_per_sec", out.ops, labels)
	metric("channels", nchan, labels)
	metric("crawl_seconds", time.now() - t0, labels)
	log.info(string.format("redis: crawled %s: %d keys in %d dbs, %d patterns, %d streams, "
		.. "%d consumer groups, %d channels in %.2f s", s.label, out.keys, #dbs, out.patterns,
		out.streams, out.groups, nchan, time.now() - t0))
	return out
end

-- --- main -----------------------------------------------------------------------------

local servers = server_list()
local total = { keys = 0, patterns = 0, streams = 0, memory = 0, clients = 0, ops = 0 }
local versions, vseen, roles, rseen, labels = {}, {}, {}, {}, {}
for _, s in ipairs(servers) do
	local out = crawl_server(s)
	for _, k in ipairs({ "keys", "patterns", "streams", "memory", "clients", "ops" }) do
		total[k] = total[k] + out[k]
	end
	if not vseen[out.version] then
		vseen[out.version] = true
		versions[#versions + 1] = out.version
	end
	if not rseen[out.role] then
		rseen[out.role] = true
		roles[#roles + 1] = out.role
	end
	labels[#labels + 1] = out.label
end

local desc = table.concat(labels, ", ")
if warnings > 0 then
	desc = desc .. string.format("; %d warning%s in the last run", warnings,
		warnings == 1 and "" or "s")
end
tile {
	status = "up",
	title = "Redis",
	description = desc,
	numbers = {
		version = table.concat(versions, ", "),
		role = table.concat(roles, ", "),
		memory = human_bytes(total.memory),
		clients = total.clients,
		["ops/s"] = total.ops,
		keys = total.keys,
		patterns = total.patterns,
		streams = total.streams,
	},
}
