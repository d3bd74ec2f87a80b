-- Kafka collector: one cluster, and optionally its Kafka Connect and schema registry.
--
-- Emits (docs/collectors/kafka.md has the details):
--   * the cluster as a service      service:kafka://HOST:PORT:cluster
--     (brokers, controller, cluster id, what the brokers would not answer);
--   * each topic as a dataset        dataset:kafka://HOST:PORT:TOPIC
--     (partitions, replication factor, under-replicated partitions, messages =
--     sum(high - low), per-partition watermarks, configs where answered, and
--     the fields of its "TOPIC-value" subject when a schema registry is set);
--   * each consumer group as a job   job:kafka://HOST:PORT:consumer-group/GROUP
--     with committed offsets and lag, and lineage topic -> group;
--   * each Kafka Connect connector as a job  job:kafka-connect://HOST:PORT:NAME
--     with lineage source table -> connector -> topic and topic -> connector
--     -> sink table (tables named as the PostgreSQL collector names them).
-- and one tile (brokers, topics, partitions, under-replicated, groups, lag).
--
-- Config (the collector's table in `plugins`):
--   bootstrap = "broker1:9092,broker2:9092"   (or a list)
--   namespace, request_timeout (s, default 10), properties = { librdkafka props }
--   groups = { "billing" }, include_internal, topics, exclude_topics (Lua patterns),
--   configs (default true), describe_groups (default false: the admin API's view)
--   connect = { url = "http://connect:8083", timeout, basic, bearer, namespace }
--   schema_registry = { url = "http://registry:8081", timeout, basic, bearer }

local kafka = require "kafka"
local names = require "names"

local TEXT_MAX = 64 * 1024
local GROUP_METRICS = 200    -- per-group lag series at most (the runtime caps series)

-- --- small helpers -------------------------------------------------------------------

local function strip(err)
	return (tostring(err or "unknown error"):gsub("^kafka: ", ""):gsub("^http: ", ""))
end

local function list_of(v, key)
	if v == nil then
		return {}
	end
	if type(v) == "string" then
		return { v }
	end
	if type(v) ~= "table" then
		error("kafka: config." .. key .. " must be a list of strings", 0)
	end
	local out = {}
	for i, x in ipairs(v) do
		if type(x) ~= "string" then
			error("kafka: config." .. key .. "[" .. i .. "] must be a string", 0)
		end
		out[i] = x
	end
	return out
end

local function split(s)
	local out = {}
	for item in tostring(s or ""):gmatch("[^,%s]+") do
		out[#out + 1] = item
	end
	return out
end

local function sorted_keys(t)
	local keys = {}
	for k in pairs(t) do
		keys[#keys + 1] = k
	end
	table.sort(keys)
	return keys
end

local function clean(s, max)
	if s == nil then
		return nil
	end
	s = tostring(s)
	if not utf8.len(s) then
		s = s:gsub("[\128-\255]", "?")
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

-- "host:port" (or "[v6]:port", or "proto://host:port") -> host, port
local function host_port(server)
	server = server:gsub("^%a[%w_+.-]*://", "")
	local h, p = server:match("^%[([^%]]+)%]:?(%d*)$")
	if not h then
		h, p = server:match("^([^:]+):?(%d*)$")
	end
	if not h then
		return nil
	end
	return h, (p ~= "" and p or nil)
end

-- The authority of a URL: "http://Connect.local:8083/x" -> "connect.local", "8083"
local function url_authority(url)
	local auth = url:match("^%a[%w_+.-]*://([^/?#]+)")
	if not auth then
		return nil
	end
	auth = auth:gsub("^.*@", "")
	return host_port(auth)
end

local function matches_any(s, patterns)
	for _, p in ipairs(patterns) do
		if s:find(p) then
			return true
		end
	end
	return false
end

local function urlencode(s)
	return (s:gsub("[^%w%-%._~]", function(c)
		return string.format("%%%02X", c:byte())
	end))
end

-- --- settings ------------------------------------------------------------------------

local function number_setting(v, key, default, max)
	if v == nil then
		return default
	end
	if type(v) ~= "number" or v <= 0 or v > max then
		error(string.format("kafka: config.%s: expected seconds above 0, at most %d", key, max), 0)
	end
	return v
end

local function rest_settings(v, key)
	if v == nil then
		return nil
	end
	if type(v) == "string" then
		v = { url = v }
	end
	if type(v) ~= "table" or type(v.url) ~= "string" or not v.url:match("^https?://") then
		error("kafka: config." .. key .. ".url must be an http:// or https:// URL", 0)
	end
	local host, port = url_authority(v.url)
	if not host then
		error("kafka: config." .. key .. ".url has no host", 0)
	end
	return {
		url = v.url:gsub("/+$", ""),
		host = host,
		port = port,
		namespace = v.namespace,
		opts = {
			timeout = number_setting(v.timeout, key .. ".timeout", 10, 3600),
			basic = v.basic,
			bearer = v.bearer,
			headers = v.headers,
			verify = v.verify,
		},
	}
end

local function settings()
	local s = {}
	local boot = config.bootstrap or config.brokers
	if type(boot) == "table" then
		boot = table.concat(list_of(boot, "bootstrap"), ",")
	end
	if type(boot) ~= "string" or boot == "" then
		error("kafka: no cluster configured (set config.bootstrap = \"host:port[,host:port]\")", 0)
	end
	s.bootstrap = boot
	local first = boot:match("^%s*([^,%s]+)")
	local host, port = host_port(first or "")
	if not host then
		error("kafka: config.bootstrap: '" .. clean(first or boot, 200) .. "' is not host:port", 0)
	end
	s.label = names.authority(host, port or "9092")
	s.namespace = config.namespace or names.namespace("kafka", host, port or "9092")
	s.timeout = number_setting(config.request_timeout, "request_timeout", 10, 3600)
	if config.properties ~= nil and type(config.properties) ~= "table" then
		error("kafka: config.properties must be a table of librdkafka properties", 0)
	end
	s.properties = config.properties
	s.groups = list_of(config.groups, "groups")
	s.topics = list_of(config.topics, "topics")
	s.exclude_topics = list_of(config.exclude_topics, "exclude_topics")
	s.include_internal = config.include_internal == true
	s.configs = config.configs ~= false
	s.describe_groups = config.describe_groups == true
	s.connect = rest_settings(config.connect, "connect")
	s.registry = rest_settings(config.schema_registry, "schema_registry")
	return s
end

-- --- the cluster --------------------------------------------------------------------

local notes = {}      -- what could not be read, with why: for the cluster entity
local unread = {}     -- the same, short: for the tile

local function cannot(what, err)
	notes[#notes + 1] = what .. ": " .. strip(err)
	unread[#unread + 1] = what
	log.warn(string.format("kafka: could not read %s: %s", what, strip(err)))
end

local function keep_topic(s, name)
	if not s.include_internal and name:sub(1, 2) == "__" then
		return false
	end
	if #s.topics > 0 and not matches_any(name, s.topics) then
		return false
	end
	return not matches_any(name, s.exclude_topics)
end

local function crawl_cluster(s)
	local client, err = kafka.connect(s.bootstrap, { timeout = s.timeout, properties = s.properties })
	if not client then
		tile {
			status = "down",
			title = "Kafka " .. s.label,
			description = "cannot connect: " .. clean(strip(err), 500),
		}
		error("kafka: cannot connect to " .. s.label .. ": " .. strip(err), 0)
	end
	local md, merr = client:metadata()
	if not md then
		error("kafka: " .. s.label .. ": cannot read the cluster metadata: " .. strip(merr), 0)
	end

	local topics, parts = {}, {}
	for _, t in ipairs(md.topics) do
		if keep_topic(s, t.name) then
			topics[#topics + 1] = t
			if not t.error then
				local ids = {}
				for i, p in ipairs(t.partitions) do
					ids[i] = p.id
				end
				parts[t.name] = ids
			end
		end
	end
	table.sort(topics, function(a, b)
		return a.name < b.name
	end)

	local wm, werr = client:watermarks(parts)
	if not wm then
		error("kafka: " .. s.label .. ": cannot read the partition watermarks: " .. strip(werr), 0)
	end

	local cfgs = {}
	if s.configs and #topics > 0 then
		local list = {}
		for _, t in ipairs(topics) do
			list[#list + 1] = t.name
		end
		local c, cerr = client:configs(list)
		if c then
			cfgs = c
		else
			cannot("topic configs (DescribeConfigs)", cerr)
		end
	end

	-- groups: listed by the brokers when they answer, plus the configured ones
	local groups, gset = {}, {}
	local listed, lerr = client:groups()
	if listed then
		for _, g in ipairs(listed) do
			if not gset[g.id] then
				gset[g.id] = { id = g.id, state = g.state, simple = g.simple, error = g.error,
					protocol = g.protocol, coordinator = g.coordinator,
					desc = { members = g.members or {} } }
				groups[#groups + 1] = gset[g.id]
			end
		end
		for _, e in ipairs(listed.errors or {}) do
			cannot("consumer groups of one broker (ListGroups)", e)
		end
	else
		cannot("the list of consumer groups (ListGroups)", lerr)
		if #s.groups > 0 then
			log.info("kafka: reading the committed offsets of the configured groups only: "
				.. table.concat(s.groups, ", "))
		end
	end
	for _, name in ipairs(s.groups) do
		if not gset[name] then
			gset[name] = { id = name, configured = true }
			groups[#groups + 1] = gset[name]
		end
	end
	table.sort(groups, function(a, b)
		return a.id < b.id
	end)
	for _, g in ipairs(groups) do
		local offs, oerr = client:committed(g.id, parts)
		if offs then
			g.offsets = offs
		else
			cannot("the committed offsets of group " .. g.id .. " (OffsetFetch)", oerr)
		end
	end
	-- The admin DescribeGroups, last and only when asked for and ListGroups
	-- answered (the binding refuses otherwise, see plugins/kafka/kafka.c):
	-- client:groups() already has states, members and assignments.
	if listed and s.describe_groups and #groups > 0 then
		local ids = {}
		for i, g in ipairs(groups) do
			ids[i] = g.id
		end
		local desc, derr = client:describe_groups(ids)
		if desc then
			for _, g in ipairs(groups) do
				g.desc = desc[g.id] or g.desc
			end
		else
			cannot("consumer group members (DescribeGroups)", derr)
		end
	end
	client:close()
	return md, topics, wm, cfgs, groups
end

-- --- Kafka Connect -----------------------------------------------------------------------

local http -- required only when Connect or a registry is configured

local function get_json(rest, path, what)
	local v, err = http.get_json(rest.url .. path, rest.opts)
	if v == nil then
		error(string.format("kafka: %s: %s", what, strip(err)), 0)
	end
	return v
end

-- jdbc:postgresql://HOST[:PORT]/DB?... -> namespace, db
local function jdbc_postgres(url)
	if type(url) ~= "string" then
		return nil
	end
	local rest = url:match("^jdbc:postgresql://(.*)$")
	if not rest then
		local db = url:match("^jdbc:postgresql:([^/?]+)")
		if db then
			return names.namespace("postgres", "localhost", "5432"), db
		end
		return nil
	end
	local authority, db = rest:match("^([^/]*)/([^?;]*)")
	if not authority or db == "" then
		return nil
	end
	authority = authority:match("^([^,]*)") -- the first host of a list
	local host, port = host_port(authority)
	if not host then
		return nil
	end
	return names.namespace("postgres", host, port or "5432"), db
end

-- A JDBC sink's table for TOPIC: table.name.format with ${topic} replaced; a
-- dotted result is schema.table (catalog.schema.table: the database is the URL's)
local function sink_table(cfg, topic, db)
	local fmt = cfg["table.name.format"] or "${topic}"
	local t = fmt:gsub("%${topic}", function()
		return topic
	end)
	local segs = {}
	for seg in (t .. "."):gmatch("([^.]*)%.") do
		segs[#segs + 1] = seg
	end
	if #segs == 1 then
		return names.join(db, "public", segs[1])
	end
	return names.join(db, segs[#segs - 1], segs[#segs])
end

local function schema_table(entry)
	local sch, tbl = entry:match("^([^.]+)%.(.+)$")
	if not sch then
		return "public", entry
	end
	return sch, tbl
end

local function is_regex(s)
	return s:find("[%*%+%?%[%]%(%)%|%^%$\\]") ~= nil
end

-- Read the connectors: { name = { info = {...}, status = {...}, topics = {...} } }
local function read_connectors(rest)
	local v = get_json(rest, "/connectors?expand=info&expand=status", "Kafka Connect "
		.. rest.url)
	local out = {}
	if type(v) ~= "table" then
		error("kafka: Kafka Connect " .. rest.url .. ": /connectors answered "
			.. type(v) .. ", not an object of connectors", 0)
	end
	if #v > 0 or next(v) == nil then
		-- a list of names: an older Connect without ?expand
		for _, name in ipairs(v) do
			local p = "/connectors/" .. urlencode(name)
			out[name] = {
				info = get_json(rest, p, "Kafka Connect " .. rest.url),
				status = get_json(rest, p .. "/status", "Kafka Connect " .. rest.url),
			}
		end
	else
		for name, c in pairs(v) do
			if type(c) ~= "table" or type(c.info) ~= "table" then
				error("kafka: Kafka Connect " .. rest.url .. ": connector '" .. clean(name, 200)
					.. "' has no info", 0)
			end
			out[name] = c
		end
	end
	-- the topics each connector used (KIP-558, Connect 2.5 and later)
	for name, c in pairs(out) do
		local resp, err = http.get(rest.url .. "/connectors/" .. urlencode(name) .. "/topics",
			rest.opts)
		if not resp then
			error("kafka: Kafka Connect " .. rest.url .. ": " .. strip(err), 0)
		end
		if resp.status == 200 then
			local t = json.decode(resp.body)
			if type(t) == "table" and type(t[name]) == "table" and type(t[name].topics) == "table" then
				c.topics = t[name].topics
			end
		elseif resp.status ~= 404 and resp.status ~= 405 and resp.status ~= 403 then
			error(string.format("kafka: Kafka Connect %s: /connectors/%s/topics answered %d",
				rest.url, name, resp.status), 0)
		end
	end
	return out
end

local function crawl_connect(rest, kafka_ns, counts)
	local ns = rest.namespace or names.namespace("kafka-connect", rest.host, rest.port)
	local conns = read_connectors(rest)
	local topic_id = names.ids("dataset", kafka_ns)
	for _, name in ipairs(sorted_keys(conns)) do
		local c = conns[name]
		local cfg = c.info.config or {}
		local ctype = c.info.type or (c.status and c.status.type) or "unknown"
		local status = c.status or {}
		local state = status.connector and status.connector.state or "UNKNOWN"
		local tasks, failed_tasks = {}, 0
		for _, t in ipairs(status.tasks or {}) do
			tasks[#tasks + 1] = { id = t.id, state = t.state, worker_id = t.worker_id }
			if t.state == "FAILED" then
				failed_tasks = failed_tasks + 1
			end
		end
		if state == "RUNNING" and failed_tasks == 0 then
			counts.running = counts.running + 1
		else
			counts.failed = counts.failed + 1
			log.warn(string.format("kafka: connector %s is %s (%d failed tasks)", name, state,
				failed_tasks), { connector = name, state = state })
		end
		local class = cfg["connector.class"]
		local ins, outs = {}, {}
		local function add(list, id)
			for _, x in ipairs(list) do
				if x == id then
					return
				end
			end
			list[#list + 1] = id
		end
		local active = c.topics or {}
		if ctype == "sink" then
			local topics = split(cfg.topics)
			for _, t in ipairs(active) do
				local seen = false
				for _, x in ipairs(topics) do
					seen = seen or x == t
				end
				if not seen then
					topics[#topics + 1] = t
				end
			end
			local pg_ns, db = nil, nil
			if class and class:find("JdbcSink") then
				pg_ns, db = jdbc_postgres(cfg["connection.url"])
			end
			for _, t in ipairs(topics) do
				add(ins, topic_id(t))
				if pg_ns then
					add(outs, emit.id("dataset", pg_ns, sink_table(cfg, t, db)))
				end
			end
		elseif ctype == "source" then
			if class and class:find("JdbcSource") then
				local pg_ns, db = jdbc_postgres(cfg["connection.url"])
				local tables = split(cfg["table.whitelist"] or cfg["table.include.list"])
				for _, entry in ipairs(tables) do
					local sch, tbl = schema_table(entry)
					if pg_ns then
						add(ins, emit.id("dataset", pg_ns, names.join(db, sch, tbl)))
					end
					add(outs, topic_id((cfg["topic.prefix"] or "") .. tbl))
				end
			elseif class and class:find("debezium.connector.postgresql") then
				local host = cfg["database.hostname"]
				local prefix = cfg["topic.prefix"] or cfg["database.server.name"]
				local db = cfg["database.dbname"]
				local tables = split(cfg["table.include.list"] or cfg["table.whitelist"])
				for _, entry in ipairs(tables) do
					if is_regex(entry) then
						log.info(string.format("kafka: connector %s: table pattern '%s' is a "
							.. "regular expression; its tables come from the topics it used",
							name, entry))
					else
						local sch, tbl = schema_table(entry)
						if host and db then
							add(ins, emit.id("dataset", names.namespace("postgres", host,
								cfg["database.port"] or "5432"), names.join(db, sch, tbl)))
						end
						if prefix then
							add(outs, topic_id(names.join(prefix, sch, tbl)))
						end
					end
				end
			end
			for _, t in ipairs(active) do
				add(outs, topic_id(t))
			end
		end
		local props = {
			type = ctype,
			class = clean(class),
			state = state,
			worker_id = status.connector and status.connector.worker_id or nil,
			tasks = #tasks > 0 and tasks or nil,
			tasks_max = tonumber(cfg["tasks.max"]),
			topics = #active > 0 and active or nil,
		}
		local job = emit.job {
			namespace = ns,
			name = name,
			subtype = ctype == "unknown" and "connector" or (ctype .. "_connector"),
			platform = "kafka-connect",
			display_name = name,
			description = clean(class, TEXT_MAX),
			properties = props,
		}
		for _, id in ipairs(ins) do
			emit.edge(id, job)
			counts.edges = counts.edges + 1
		end
		for _, id in ipairs(outs) do
			emit.edge(job, id)
			counts.edges = counts.edges + 1
		end
		counts.connectors = counts.connectors + 1
	end
end

-- --- schema registry ------------------------------------------------------------------------

local function avro_type(t)
	if type(t) == "string" then
		return t, false
	end
	if type(t) ~= "table" then
		return "unknown", false
	end
	if #t > 0 then -- a union
		local kinds, nullable = {}, false
		for _, x in ipairs(t) do
			local name = avro_type(x)
			if name == "null" then
				nullable = true
			else
				kinds[#kinds + 1] = name
			end
		end
		return table.concat(kinds, "|"), nullable
	end
	if t.logicalType then
		return t.logicalType, false
	end
	if t.type == "array" then
		return "array<" .. (avro_type(t.items)) .. ">", false
	end
	if t.type == "map" then
		return "map<" .. (avro_type(t.values)) .. ">", false
	end
	if (t.type == "record" or t.type == "enum" or t.type == "fixed") and t.name then
		return t.type .. " " .. t.name, false
	end
	return avro_type(t.type)
end

-- The fields of a registered schema (AVRO record or simple JSON schema), or nil.
local function schema_fields(kind, text)
	local ok, s = pcall(json.decode, text)
	if not ok or type(s) ~= "table" then
		return nil
	end
	local fields = {}
	if kind == "AVRO" then
		if s.type ~= "record" or type(s.fields) ~= "table" then
			return nil
		end
		for i, f in ipairs(s.fields) do
			local t, nullable = avro_type(f.type)
			fields[#fields + 1] = {
				name = clean(f.name),
				type = clean(t),
				nullable = nullable,
				ordinal = i,
				description = clean(f.doc, TEXT_MAX),
			}
		end
	elseif kind == "JSON" then
		if type(s.properties) ~= "table" then
			return nil
		end
		local required = {}
		for _, r in ipairs(type(s.required) == "table" and s.required or {}) do
			required[r] = true
		end
		for i, k in ipairs(sorted_keys(s.properties)) do
			local p = s.properties[k]
			local t = type(p) == "table" and p.type or nil
			if type(t) == "table" then
				t = table.concat(t, "|")
			end
			fields[#fields + 1] = {
				name = clean(k),
				type = clean(t or "any"),
				nullable = not required[k],
				ordinal = i,
				description = type(p) == "table" and clean(p.description, TEXT_MAX) or nil,
			}
		end
	else
		return nil
	end
	return fields
end

-- { [topic] = { fields = {...}, subject = , version = , id = , type = } }
local function crawl_registry(rest, wanted)
	local subjects = get_json(rest, "/subjects", "schema registry " .. rest.url)
	if type(subjects) ~= "table" or (#subjects == 0 and next(subjects) ~= nil) then
		error("kafka: schema registry " .. rest.url .. ": /subjects is not a list", 0)
	end
	local out = {}
	for _, subject in ipairs(subjects) do
		local topic = type(subject) == "string" and subject:match("^(.+)%-value$")
		if topic and wanted[topic] then
			local v = get_json(rest, "/subjects/" .. urlencode(subject) .. "/versions/latest",
				"schema registry " .. rest.url)
			if type(v) ~= "table" or type(v.schema) ~= "string" then
				error("kafka: schema registry " .. rest.url .. ": subject " .. subject
					.. " has no schema", 0)
			end
			local kind = v.schemaType or "AVRO"
			local fields = schema_fields(kind, v.schema)
			if not fields then
				log.info(string.format("kafka: subject %s: a %s schema whose fields are not read",
					subject, kind))
			end
			out[topic] = { fields = fields, subject = subject, version = v.version, id = v.id,
				type = kind }
		end
	end
	return out
end

-- --- main ------------------------------------------------------------------------------------

local t0 = time.now()
local s = settings()
local md, topics, wm, cfgs, groups = crawl_cluster(s)

if s.connect or s.registry then
	http = require "http"
end
local schemas = {}
if s.registry then
	local wanted = {}
	for _, t in ipairs(topics) do
		wanted[t.name] = true
	end
	schemas = crawl_registry(s.registry, wanted)
end

local topic_id = names.ids("dataset", s.namespace)
local total = { topics = 0, partitions = 0, urp = 0, offline = 0, messages = 0, groups = 0,
	lag = 0, edges = 0 }
local high_of = {} -- topic -> partition -> high watermark

for _, t in ipairs(topics) do
	total.topics = total.topics + 1
	local props = {}
	if t.error then
		props.error = t.error
		log.warn("kafka: topic " .. t.name .. ": " .. t.error)
	end
	local rf, urp, offline, messages, marks = 0, 0, 0, 0, {}
	local known = true
	local tw = wm[t.name] or {}
	high_of[t.name] = {}
	for _, p in ipairs(t.partitions) do
		total.partitions = total.partitions + 1
		if #p.replicas > rf then
			rf = #p.replicas
		end
		if #p.isr < #p.replicas then
			urp = urp + 1
		end
		if p.leader < 0 then
			offline = offline + 1
		end
		local w = tw[p.id] or { error = "not answered" }
		local mark = { partition = p.id, leader = p.leader, replicas = p.replicas, isr = p.isr }
		if w.error then
			known = false
			mark.error = w.error
		else
			mark.low, mark.high = w.low, w.high
			messages = messages + (w.high - w.low)
			high_of[t.name][p.id] = w.high
		end
		marks[#marks + 1] = mark
	end
	table.sort(marks, function(a, b)
		return a.partition < b.partition
	end)
	total.urp = total.urp + urp
	total.offline = total.offline + offline
	total.messages = total.messages + messages
	props.partitions = #t.partitions
	props.replication_factor = rf
	props.under_replicated_partitions = urp
	props.offline_partitions = offline
	props.messages = messages
	if not known then
		props.messages_incomplete = true
	end
	props.watermarks = marks
	local c = cfgs[t.name]
	if c then
		if c.error then
			props.configs_error = c.error
		else
			local set = {}
			for _, k in ipairs(sorted_keys(c)) do
				local e = c[k]
				if not e.default and e.value ~= nil then
					set[k] = clean(e.value, 4096)
				end
			end
			props.configs = next(set) and set or nil
		end
	end
	local sch = schemas[t.name]
	if sch then
		props.schema = { subject = sch.subject, version = sch.version, id = sch.id, type = sch.type }
	end
	emit.dataset {
		namespace = s.namespace,
		name = t.name,
		subtype = "topic",
		platform = "kafka",
		display_name = t.name,
		properties = props,
		fields = sch and sch.fields and #sch.fields > 0 and sch.fields or nil,
	}
end

local group_lag = {}
for _, g in ipairs(groups) do
	total.groups = total.groups + 1
	local by_topic, committed, lag_total = {}, {}, 0
	local reads = {}
	for topic, offs in pairs(g.offsets or {}) do
		local lag, list = 0, {}
		for partition, off in pairs(offs) do
			local hi = high_of[topic] and high_of[topic][partition]
			local l = hi and math.max(0, hi - off) or nil
			if l then
				lag = lag + l
			end
			list[#list + 1] = { partition = partition, offset = off, lag = l }
		end
		table.sort(list, function(a, b)
			return a.partition < b.partition
		end)
		by_topic[topic] = lag
		committed[topic] = list
		lag_total = lag_total + lag
		reads[topic] = true
	end
	local members
	if g.desc and not g.desc.error then
		members = {}
		for _, m in ipairs(g.desc.members or {}) do
			local assigned = {}
			for topic in pairs(m.assignment or {}) do
				assigned[#assigned + 1] = topic
				if high_of[topic] then
					reads[topic] = true
				end
			end
			table.sort(assigned)
			members[#members + 1] = { client_id = m.client_id, host = m.host, topics = assigned }
		end
	end
	total.lag = total.lag + lag_total
	group_lag[#group_lag + 1] = { id = g.id, lag = lag_total }
	local job = emit.job {
		namespace = s.namespace,
		name = "consumer-group/" .. g.id,
		subtype = "consumer_group",
		platform = "kafka",
		display_name = g.id,
		properties = {
			group_id = g.id,
			state = g.desc and g.desc.state or g.state,
			simple = g.simple,
			protocol = g.desc and g.desc.protocol or g.protocol,
			coordinator = g.desc and g.desc.coordinator or g.coordinator,
			error = g.error,
			members = members,
			lag = g.offsets and lag_total or nil,
			lag_by_topic = next(by_topic) and by_topic or nil,
			committed = next(committed) and committed or nil,
			offsets_error = g.offsets == nil or nil,
			source = g.configured and "config" or "ListGroups",
		},
	}
	for _, topic in ipairs(sorted_keys(reads)) do
		emit.edge(topic_id(topic), job, "lineage", by_topic[topic] and { lag = by_topic[topic] } or nil)
		total.edges = total.edges + 1
	end
end

local connect = nil
if s.connect then
	connect = { connectors = 0, running = 0, failed = 0, edges = 0 }
	crawl_connect(s.connect, s.namespace, connect)
end

-- the cluster
local brokers = {}
for _, b in ipairs(md.brokers) do
	brokers[#brokers + 1] = { id = b.id, host = b.host, port = b.port }
end
table.sort(brokers, function(a, b)
	return a.id < b.id
end)
emit.service {
	namespace = s.namespace,
	name = "cluster",
	subtype = "kafka_cluster",
	platform = "kafka",
	display_name = "Kafka " .. s.label,
	description = string.format("Kafka cluster of %d brokers", #brokers),
	properties = {
		bootstrap = s.bootstrap,
		brokers = brokers,
		controller = md.controller,
		cluster_id = md.cluster_id,
		client = "librdkafka " .. kafka.version(),
		not_readable = #notes > 0 and notes or nil,
	},
}

-- tile and metrics
local labels = { cluster = s.namespace }
metric("brokers", #brokers, labels)
metric("topics", total.topics, labels)
metric("partitions", total.partitions, labels)
metric("under_replicated_partitions", total.urp, labels)
metric("offline_partitions", total.offline, labels)
metric("messages", total.messages, labels)
metric("consumer_groups", total.groups, labels)
metric("consumer_lag", total.lag, labels)
table.sort(group_lag, function(a, b)
	return a.lag > b.lag or (a.lag == b.lag and a.id < b.id)
end)
for i = 1, math.min(#group_lag, GROUP_METRICS) do
	metric("group_lag", group_lag[i].lag, { cluster = s.namespace, group = group_lag[i].id })
end
metric("crawl_seconds", time.now() - t0, labels)

local numbers = {
	brokers = #brokers,
	topics = total.topics,
	partitions = total.partitions,
	["under-replicated"] = total.urp,
	groups = total.groups,
	lag = total.lag,
}
local status = "up"
local desc = { s.label .. ", " .. #brokers .. " brokers" }
if total.urp > 0 or total.offline > 0 then
	status = "degraded"
	desc[#desc + 1] = string.format("%d under-replicated, %d offline partitions", total.urp,
		total.offline)
end
if connect then
	numbers.connectors = connect.connectors
	numbers["failed connectors"] = connect.failed
	if connect.failed > 0 then
		status = "degraded"
	end
end
if #unread > 0 then
	desc[#desc + 1] = "could not read " .. table.concat(unread, ", ")
end
tile {
	status = status,
	title = "Kafka",
	description = clean(table.concat(desc, "; "), 2000),
	numbers = numbers,
}
log.info(string.format("kafka: crawled %s: %d brokers, %d topics, %d partitions, %d groups%s "
	.. "in %.2f s", s.label, #brokers, total.topics, total.partitions, total.groups,
	connect and string.format(", %d connectors", connect.connectors) or "", time.now() - t0))
