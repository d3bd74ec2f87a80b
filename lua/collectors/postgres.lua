-- PostgreSQL collector: crawls one or more servers and every database on them.
--
-- Emits, per server (docs/collectors/postgres.md has the details):
--   * a service entity  service:postgres://HOST:PORT:server  (version, databases, ...)
--   * a dataset per table, view, materialized view, foreign table and
--     partitioned table, named per OpenLineage:
--       dataset:postgres://HOST:PORT:DATABASE.SCHEMA.TABLE
--     with columns (type, nullability, default, comment, keys), owner, row
--     estimate, size and comment;
--   * lineage edges table/view -> view/materialized view (from pg_depend of the
--     view's rewrite rule), with the source columns read as {columns = {...}};
--   * relationship edges child table -> parent table for foreign keys, with
--     the column pairs.
-- and one tile (version, databases, tables, connections, size).
--
-- Config (the collector's table in `plugins`):
--   dsn = "host=db port=5432 user=terrarium dbname=postgres"   (or a URI, or a table)
--   servers = { { dsn = ..., namespace = ..., databases = {...}, ... }, ... }
--   databases, exclude_databases, schemas, exclude_schemas: lists of names
--   query_timeout (s, default 30): connect and statement timeout
--   namespace: override "postgres://HOST:PORT" (per server)
-- Keys set at the top level are defaults for every entry of `servers`.

local pg = require "postgres"
local names = require "names"

local PAGE = 500              -- relations per columns query (bounds memory)
local TEXT_MAX = 64 * 1024    -- the catalog's bound on a description
local MIN_VERSION = 120000    -- pg_partition_tree, attgenerated

local SUBTYPES = {
	r = "table",
	p = "partitioned_table",
	v = "view",
	m = "materialized_view",
	f = "foreign_table",
}

local FK_ACTIONS = { a = "no action", r = "restrict", c = "cascade", n = "set null", d = "set default" }

-- --- small helpers ------------------------------------------------------------------

local function truthy(v)
	return v == "t" or v == "true"
end

local function int(v)
	if v == nil then
		return nil
	end
	return math.tointeger(tonumber(v))
end

-- Text as the catalog accepts it: valid UTF-8 (a SQL_ASCII database can hold
-- anything), at most MAX bytes.
local function clean(s, max)
	if s == nil then
		return nil
	end
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
		-- cut on a character boundary
		local cut = max
		while cut > 0 and (s:byte(cut + 1) or 0) & 0xC0 == 0x80 do
			cut = cut - 1
		end
		s = s:sub(1, cut)
	end
	return s
end

-- The binding's message without its "postgres: " prefix (ours adds one).
local function strip(err)
	err = tostring(err or "unknown error")
	return (err:gsub("^postgres: ", ""))
end

-- A Lua list of strings as a PostgreSQL array literal, for $n::text[].
local function pg_array(list)
	local out = {}
	for i, v in ipairs(list or {}) do
		out[i] = '"' .. tostring(v):gsub('[\\"]', "\\%0") .. '"'
	end
	return "{" .. table.concat(out, ",") .. "}"
end

local function set_of(list)
	local s = {}
	for _, v in ipairs(list or {}) do
		s[v] = true
	end
	return s
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

local function list_of(v, key)
	if v == nil then
		return {}
	end
	if type(v) ~= "table" then
		error("postgres: config." .. key .. " must be a list of names", 0)
	end
	local out = {}
	for i, x in ipairs(v) do
		if type(x) ~= "string" then
			error("postgres: config." .. key .. "[" .. i .. "] must be a string", 0)
		end
		out[i] = x
	end
	return out
end

-- --- connection strings ---------------------------------------------------------------

-- libpq "keyword = value" conninfo: values bare or single-quoted, with
-- backslash escapes in both.  Messages never quote values (passwords).
local function parse_conninfo(s)
	local params, i, n = {}, 1, #s
	while true do
		i = s:find("%S", i)
		if not i then
			break
		end
		local key, j = s:match("^([%w_]+)%s*=%s*()", i)
		if not key then
			error("postgres: dsn: expected keyword=value at character " .. i, 0)
		end
		i = j
		local val = {}
		if s:sub(i, i) == "'" then
			i = i + 1
			while true do
				local c = s:sub(i, i)
				if c == "" then
					error("postgres: dsn: unterminated quoted value of '" .. key .. "'", 0)
				elseif c == "\\" then
					val[#val + 1] = s:sub(i + 1, i + 1)
					i = i + 2
				elseif c == "'" then
					i = i + 1
					break
				else
					val[#val + 1] = c
					i = i + 1
				end
			end
		else
			while i <= n do
				local c = s:sub(i, i)
				if c:match("%s") then
					break
				end
				if c == "\\" then
					val[#val + 1] = s:sub(i + 1, i + 1)
					i = i + 2
				else
					val[#val + 1] = c
					i = i + 1
				end
			end
		end
		params[key] = table.concat(val)
	end
	return params
end

local function pct_decode(s)
	return (s:gsub("%%(%x%x)", function(h)
		return string.char(tonumber(h, 16))
	end))
end

-- postgresql://[user[:password]@][host][:port][,...][/dbname][?key=value&...]
local function parse_uri(s)
	local rest = s:match("^postgresql://(.*)$") or s:match("^postgres://(.*)$")
	local params = {}
	local body, query = rest:match("^([^?]*)%??(.*)$")
	local authority, path = body:match("^([^/]*)(.*)$")
	local userinfo, hostspec = authority:match("^(.*)@(.*)$")
	if not userinfo then
		hostspec = authority
	else
		local u, p = userinfo:match("^([^:]*):(.*)$")
		if u then
			params.user, params.password = pct_decode(u), pct_decode(p)
		elseif userinfo ~= "" then
			params.user = pct_decode(userinfo)
		end
	end
	if hostspec ~= "" then
		local hosts, ports, any_port = {}, {}, false
		for item in (hostspec .. ","):gmatch("([^,]*),") do
			local h, p
			if item:sub(1, 1) == "[" then
				h, p = item:match("^%[(.-)%]:?(%d*)$")
			else
				h, p = item:match("^([^:]*):?(%d*)$")
			end
			if not h then
				error("postgres: dsn: malformed host list in the URI", 0)
			end
			hosts[#hosts + 1] = pct_decode(h)
			ports[#ports + 1] = p
			any_port = any_port or p ~= ""
		end
		params.host = table.concat(hosts, ",")
		if any_port then
			params.port = table.concat(ports, ",")
		end
	end
	if #path > 1 then
		params.dbname = pct_decode(path:sub(2))
	end
	for kv in query:gmatch("[^&]+") do
		local k, v = kv:match("^([^=]+)=(.*)$")
		if not k then
			error("postgres: dsn: malformed parameter in the URI query", 0)
		end
		params[pct_decode(k)] = pct_decode(v)
	end
	return params
end

local function params_of(dsn, where)
	local params
	if type(dsn) == "string" then
		if dsn:match("^postgresql://") or dsn:match("^postgres://") then
			params = parse_uri(dsn)
		else
			params = parse_conninfo(dsn)
		end
	elseif type(dsn) == "table" then
		params = {}
		for k, v in pairs(dsn) do
			if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
				error("postgres: " .. where .. ".dsn: a table of keyword = text", 0)
			end
			params[k] = tostring(v)
		end
	else
		error("postgres: " .. where .. ".dsn: expected a connection string or a table", 0)
	end
	for k in pairs(params) do
		if not k:match("^[%a_][%w_]*$") then
			error("postgres: " .. where .. ".dsn: '" .. clean(k, 64) .. "' is not a keyword", 0)
		end
	end
	if params.application_name == nil then
		params.application_name = "terrarium"
	end
	if params.client_encoding == nil then
		params.client_encoding = "UTF8"
	end
	return params
end

-- PARAMS as a conninfo string, every value quoted (so a database called
-- "a b'c" or "x=y" is a name, never more keywords).
local function conninfo(params, dbname)
	local keys = {}
	for k in pairs(params) do
		if k ~= "dbname" then
			keys[#keys + 1] = k
		end
	end
	table.sort(keys)
	local out = {}
	local function add(k, v)
		out[#out + 1] = k .. "='" .. tostring(v):gsub("[\\']", "\\%0") .. "'"
	end
	for _, k in ipairs(keys) do
		add(k, params[k])
	end
	if dbname or params.dbname then
		add("dbname", dbname or params.dbname)
	end
	return table.concat(out, " ")
end

-- --- queries --------------------------------------------------------------------------

local SERVER_SQL = [[
SELECT current_setting('server_version') AS version,
       current_setting('server_version_num') AS version_num,
       current_database() AS db,
       current_user AS role,
       current_setting('max_connections') AS max_connections,
       pg_is_in_recovery()::text AS in_recovery,
       to_char(pg_postmaster_start_time() AT TIME ZONE 'UTC',
               'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS started_at,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend')::text AS connections
]]

local DATABASES_SQL = [[
SELECT d.oid::text AS oid, d.datname AS name, pg_get_userbyid(d.datdba) AS owner,
       pg_encoding_to_char(d.encoding) AS encoding,
       shobj_description(d.oid, 'pg_database') AS comment
  FROM pg_database d
 WHERE d.datallowconn AND NOT d.datistemplate
 ORDER BY d.datname
]]

local DBSIZE_SQL = "SELECT pg_database_size($1::oid)::text AS bytes"

-- $1: schemas left out; $2: schemas kept (empty: all)
local SCHEMA_FILTER = [[
n.nspname <> ALL ($1::text[]) AND n.nspname !~ '^pg_(toast|temp_)'
AND (cardinality($2::text[]) = 0 OR n.nspname = ANY ($2::text[]))]]

local RELATIONS_SQL = [[
SELECT c.oid::text AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
       pg_get_userbyid(c.relowner) AS owner,
       CASE WHEN c.relkind IN ('r', 'm', 'f') AND c.reltuples >= 0
            THEN c.reltuples::bigint::text END AS rows,
       CASE WHEN c.relkind IN ('r', 'm') THEN pg_total_relation_size(c.oid)::text
            WHEN c.relkind = 'p' THEN (SELECT sum(pg_total_relation_size(t.relid))
                                         FROM pg_partition_tree(c.oid) t)::text END AS bytes,
       d.description AS comment,
       c.relpersistence::text AS persistence,
       (SELECT i.inhparent::text FROM pg_inherits i
         WHERE i.inhrelid = c.oid AND c.relispartition LIMIT 1) AS partition_of,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS definition,
       fs.srvname AS foreign_server
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_description d
         ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
  LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
  LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ]] .. SCHEMA_FILTER .. [[

 ORDER BY c.oid
]]

local COLUMNS_SQL = [[
SELECT a.attrelid::text AS rel, a.attnum::text AS num, a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull::text AS notnull,
       pg_get_expr(ad.adbin, ad.adrelid) AS expr, d.description AS comment,
       a.attidentity::text AS identity, a.attgenerated::text AS generated
  FROM pg_attribute a
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  LEFT JOIN pg_description d
         ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
 WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum
]]

-- Primary keys, unique constraints and foreign keys, one row per column.
-- A foreign key copied onto a partition (conparentid set) is its parent's.
local CONSTRAINTS_SQL = [[
SELECT con.conrelid::text AS rel, con.conname AS name, con.contype::text AS type,
       con.confrelid::text AS ref, k.ord::text AS ord, a.attname AS col, fa.attname AS ref_col,
       con.confupdtype::text AS on_update, con.confdeltype::text AS on_delete
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
  LEFT JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[k.ord]
 WHERE con.contype IN ('p', 'u', 'f') AND (con.contype <> 'f' OR con.conparentid = 0)
   AND ]] .. SCHEMA_FILTER .. [[

 ORDER BY con.conrelid, con.conname, k.ord
]]

-- What each view and materialized view reads: the relations (and their
-- columns, refobjsubid > 0) its ON SELECT rewrite rule depends on.
local LINEAGE_SQL = [[
SELECT DISTINCT r.ev_class::text AS view, dep.refobjid::text AS src, a.attname AS col
  FROM pg_rewrite r
  JOIN pg_class v ON v.oid = r.ev_class
  JOIN pg_namespace n ON n.oid = v.relnamespace
  JOIN pg_depend dep ON dep.classid = 'pg_rewrite'::regclass AND dep.objid = r.oid
  LEFT JOIN pg_attribute a
         ON dep.refobjsubid > 0 AND a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
 WHERE dep.refclassid = 'pg_class'::regclass AND dep.refobjid <> r.ev_class
   AND v.relkind IN ('v', 'm') AND ]] .. SCHEMA_FILTER .. [[

 ORDER BY 1, 2, 3
]]

-- --- the crawl --------------------------------------------------------------------------

local warnings = 0

-- Run SQL; a privilege failure (SQLSTATE 42501) is logged as a warning
-- naming NEED and gives nil; any other failure fails the run.
local function try(conn, where, need, sql, params, fields)
	local rows, err = conn:query(sql, params)
	if rows then
		return rows
	end
	if tostring(err):find("SQLSTATE 42501", 1, true) then
		warnings = warnings + 1
		log.warn(string.format("postgres: %s: missing privilege: %s (%s)", where, need, strip(err)),
			fields)
		return nil
	end
	error(string.format("postgres: %s: %s", where, strip(err)), 0)
end

-- One server's settings: its own keys over the top-level ones.
local function setting(server, key)
	if server[key] ~= nil then
		return server[key]
	end
	return config[key]
end

local function server_list()
	local list = {}
	if config.servers ~= nil then
		if type(config.servers) ~= "table" or #config.servers == 0 then
			error("postgres: config.servers must be a list of { dsn = ... }", 0)
		end
		for i, s in ipairs(config.servers) do
			if type(s) ~= "table" or s.dsn == nil then
				error("postgres: config.servers[" .. i .. "] needs a dsn", 0)
			end
			list[i] = { cfg = s, where = "servers[" .. i .. "]" }
		end
	elseif config.dsn ~= nil then
		list[1] = { cfg = {}, where = "config" }
		list[1].cfg.dsn = config.dsn
	else
		error("postgres: no server configured (set config.dsn, or config.servers = "
			.. "{ { dsn = ... } })", 0)
	end
	for _, s in ipairs(list) do
		local p = params_of(s.cfg.dsn, s.where)
		local host = (p.host or ""):match("^([^,]*)")
		if host == "" and p.hostaddr then
			host = p.hostaddr:match("^([^,]*)")
		end
		local port = (p.port or ""):match("^([^,]*)")
		if port == "" then
			port = "5432"
		end
		s.params = p
		s.label = names.authority(host, port)
		-- a namespace names one server: it is never a default for every entry of `servers`
		local ns = config.servers == nil and config.namespace or s.cfg.namespace
		s.namespace = ns or names.namespace("postgres", host, port)
		local qt = setting(s.cfg, "query_timeout")
		if qt ~= nil and (type(qt) ~= "number" or qt <= 0 or qt > 3600) then
			error("postgres: " .. s.where .. ".query_timeout: expected seconds above 0, at most 3600", 0)
		end
		s.timeout = qt or 30
		s.databases = set_of(list_of(setting(s.cfg, "databases"), "databases"))
		s.only_databases = #list_of(setting(s.cfg, "databases"), "databases") > 0
		s.exclude_databases = set_of(list_of(setting(s.cfg, "exclude_databases"),
			"exclude_databases"))
		local ex = { "pg_catalog", "information_schema" }
		for _, x in ipairs(list_of(setting(s.cfg, "exclude_schemas"), "exclude_schemas")) do
			ex[#ex + 1] = x
		end
		s.exclude_schemas = pg_array(ex)
		s.schemas = pg_array(list_of(setting(s.cfg, "schemas"), "schemas"))
	end
	return list
end

local function connect(s, dbname)
	return pg.connect(conninfo(s.params, dbname), { timeout = s.timeout })
end

-- Emit the datasets and edges of one database.  Returns counts.
local function crawl_database(s, conn, db)
	local where = s.label .. "/" .. db
	local sp = { s.exclude_schemas, s.schemas }
	local n = { tables = 0, views = 0, columns = 0, edges = 0 }
	local need = "SELECT on the system catalogs"
	local fields_of_warning = { privilege = "SELECT", database = db }
	local rels = try(conn, where, need, RELATIONS_SQL, sp, fields_of_warning)
	if not rels then
		return n
	end
	local by_oid, order = {}, {}
	for i, r in ipairs(rels) do
		r.full = names.join(db, r.schema, r.name)
		r.id = emit.id("dataset", s.namespace, r.full)
		by_oid[r.oid] = r
		order[i] = r
		if r.kind == "v" or r.kind == "m" then
			n.views = n.views + 1
		else
			n.tables = n.tables + 1
		end
	end
	rels = nil

	-- keys: per relation, its primary key, unique keys and foreign keys
	local cons = try(conn, where, need, CONSTRAINTS_SQL, sp, fields_of_warning) or {}
	local keys = {}
	for _, c in ipairs(cons) do
		local rel = by_oid[c.rel]
		if rel then
			local k = keys[c.rel]
			if not k then
				k = { pk = nil, unique = {}, fks = {}, fk_by_name = {}, pk_name = nil }
				keys[c.rel] = k
			end
			if c.type == "p" then
				k.pk = k.pk or {}
				k.pk_name = c.name
				k.pk[#k.pk + 1] = c.col
			elseif c.type == "u" then
				local u = k.unique[c.name]
				if not u then
					u = {}
					k.unique[c.name] = u
				end
				u[#u + 1] = c.col
			else
				local fk = k.fk_by_name[c.name]
				if not fk then
					fk = { name = c.name, ref = c.ref, columns = {}, references = {},
						on_update = FK_ACTIONS[c.on_update], on_delete = FK_ACTIONS[c.on_delete] }
					k.fk_by_name[c.name] = fk
					k.fks[#k.fks + 1] = fk
				end
				fk.columns[#fk.columns + 1] = c.col
				fk.references[#fk.references + 1] = c.ref_col
			end
		end
	end
	cons = nil

	-- lineage: view <- what it reads (only relations crawled here)
	local deps = try(conn, where, need, LINEAGE_SQL, sp, fields_of_warning) or {}
	local reads = {}   -- view oid -> { src oid -> { columns } }, and an order
	for _, d in ipairs(deps) do
		if by_oid[d.view] and by_oid[d.src] then
			local v = reads[d.view]
			if not v then
				v = { srcs = {}, order = {} }
				reads[d.view] = v
			end
			local cols = v.srcs[d.src]
			if not cols then
				cols = {}
				v.srcs[d.src] = cols
				v.order[#v.order + 1] = d.src
			end
			if d.col then
				cols[#cols + 1] = clean(d.col)
			end
		end
	end
	deps = nil

	-- columns, a page of relations at a time, then the documents of that page
	for first = 1, #order, PAGE do
		local oids = {}
		for i = first, math.min(first + PAGE - 1, #order) do
			oids[#oids + 1] = order[i].oid
		end
		local cols = try(conn, where, need, COLUMNS_SQL,
			{ "{" .. table.concat(oids, ",") .. "}" }, fields_of_warning) or {}
		local by_rel = {}
		for _, c in ipairs(cols) do
			local l = by_rel[c.rel]
			if not l then
				l = {}
				by_rel[c.rel] = l
			end
			l[#l + 1] = c
		end
		cols = nil
		for i = first, math.min(first + PAGE - 1, #order) do
			local r = order[i]
			local k = keys[r.oid] or { unique = {}, fks = {} }
			local pk, uniq, refs = {}, {}, {}
			for _, c in ipairs(k.pk or {}) do
				pk[c] = true
			end
			for _, u in pairs(k.unique) do
				if #u == 1 then
					uniq[u[1]] = true
				end
			end
			for _, fk in ipairs(k.fks) do
				local parent = by_oid[fk.ref]
				for j, c in ipairs(fk.columns) do
					if parent and fk.references[j] then
						refs[c] = names.join(parent.full, fk.references[j])
					end
				end
			end
			local fields = {}
			for _, c in ipairs(by_rel[r.oid] or {}) do
				local props = {}
				if c.generated == "s" then
					props.generated = clean(c.expr, TEXT_MAX)
				elseif c.expr then
					props.default = clean(c.expr, TEXT_MAX)
				end
				if c.identity == "a" then
					props.identity = "always"
				elseif c.identity == "d" then
					props.identity = "by default"
				end
				if pk[c.name] then
					props.primary_key = true
				end
				if uniq[c.name] then
					props.unique = true
				end
				if refs[c.name] then
					props.references = clean(refs[c.name])
				end
				fields[#fields + 1] = {
					name = clean(c.name),
					type = clean(c.type),
					nullable = not truthy(c.notnull),
					ordinal = int(c.num),
					description = clean(c.comment, TEXT_MAX),
					properties = next(props) and props or nil,
				}
			end
			n.columns = n.columns + #fields
			local props = {
				database = clean(db),
				schema = clean(r.schema),
				owner = clean(r.owner),
				rows = int(r.rows),
				size_bytes = int(r.bytes),
			}
			if k.pk then
				local l = {}
				for j, c in ipairs(k.pk) do
					l[j] = clean(c)
				end
				props.primary_key = l
			end
			if r.persistence == "u" then
				props.persistence = "unlogged"
			end
			if r.partition_of and by_oid[r.partition_of] then
				props.partition_of = clean(by_oid[r.partition_of].full)
				props.partition_bound = clean(r.partition_bound, TEXT_MAX)
			end
			props.partition_key = clean(r.partition_key, TEXT_MAX)
			props.definition = clean(r.definition, TEXT_MAX)
			props.foreign_server = clean(r.foreign_server)
			emit.dataset {
				namespace = s.namespace,
				name = clean(r.full),
				subtype = SUBTYPES[r.kind],
				platform = "postgres",
				display_name = clean(r.name),
				description = clean(r.comment, TEXT_MAX),
				owners = r.owner and { clean(r.owner) } or nil,
				properties = props,
				fields = #fields > 0 and fields or nil,
			}
		end
		by_rel = nil
	end

	-- lineage edges: source -> view
	for _, r in ipairs(order) do
		local v = reads[r.oid]
		if v then
			for _, src in ipairs(v.order) do
				local cols = v.srcs[src]
				table.sort(cols)
				emit.edge(by_oid[src].id, r.id, "lineage",
					#cols > 0 and { columns = cols } or nil)
				n.edges = n.edges + 1
			end
		end
	end

	-- foreign keys: child -> parent, one edge per pair of tables
	for _, r in ipairs(order) do
		local k = keys[r.oid]
		if k and #k.fks > 0 then
			local by_parent, porder = {}, {}
			for _, fk in ipairs(k.fks) do
				if by_oid[fk.ref] then
					local e = by_parent[fk.ref]
					if not e then
						e = { columns = {}, constraints = {} }
						by_parent[fk.ref] = e
						porder[#porder + 1] = fk.ref
					end
					e.constraints[#e.constraints + 1] = {
						name = clean(fk.name),
						on_update = fk.on_update,
						on_delete = fk.on_delete,
					}
					for j, c in ipairs(fk.columns) do
						e.columns[#e.columns + 1] = { clean(c), clean(fk.references[j]) }
					end
				end
			end
			for _, ref in ipairs(porder) do
				emit.edge(r.id, by_oid[ref].id, "relationship", by_parent[ref])
				n.edges = n.edges + 1
			end
		end
	end
	return n
end

local function crawl_server(s)
	local t0 = time.now()
	local conn, err = connect(s)
	if not conn then
		tile {
			status = "down",
			title = "PostgreSQL " .. s.label,
			description = "cannot connect: " .. clean(strip(err), 500),
		}
		error(string.format("postgres: cannot connect to %s: %s", s.label, strip(err)), 0)
	end
	local rows, qerr = conn:query(SERVER_SQL)
	if not rows or not rows[1] then
		error(string.format("postgres: %s: cannot read the server's settings: %s", s.label,
			strip(qerr)), 0)
	end
	local info = rows[1]
	local vnum = int(info.version_num) or 0
	if vnum < MIN_VERSION then
		error(string.format("postgres: %s runs PostgreSQL %s; the collector needs 12 or newer",
			s.label, info.version), 0)
	end
	local version = info.version:match("^(%S+)")
	local dbs = try(conn, s.label, "SELECT on pg_database", DATABASES_SQL) or {}
	local out = {
		label = s.label, version = version, connections = int(info.connections) or 0,
		databases = 0, tables = 0, views = 0, columns = 0, edges = 0, size = 0,
		sizes_missing = 0,
	}
	local db_names = {}
	for _, d in ipairs(dbs) do
		if (not s.only_databases or s.databases[d.name]) and not s.exclude_databases[d.name] then
			out.databases = out.databases + 1
			db_names[#db_names + 1] = clean(d.name)
			local where = s.label .. "/" .. d.name
			local sz = try(conn, where,
				string.format("CONNECT on database \"%s\" (or membership in pg_read_all_stats), "
					.. "to read its size", d.name), DBSIZE_SQL, { d.oid },
				{ privilege = "CONNECT", database = d.name })
			if sz and sz[1] and sz[1].bytes then
				out.size = out.size + (int(sz[1].bytes) or 0)
			else
				out.sizes_missing = out.sizes_missing + 1
			end
			local dconn
			if d.name == info.db then
				dconn = conn
			else
				local derr
				dconn, derr = connect(s, d.name)
				if not dconn then
					local msg = strip(derr)
					if msg:find("permission denied", 1, true) then
						warnings = warnings + 1
						log.warn(string.format("postgres: %s: missing privilege: CONNECT on "
							.. "database \"%s\"; its tables are not crawled (%s)", where,
							d.name, msg), { privilege = "CONNECT", database = d.name })
					elseif msg:find("does not exist", 1, true) then
						log.info(string.format("postgres: %s: database gone during the crawl",
							where))
					else
						error(string.format("postgres: cannot connect to %s (database %s): %s",
							s.label, d.name, msg), 0)
					end
				end
			end
			if dconn then
				local n = crawl_database(s, dconn, d.name)
				out.tables = out.tables + n.tables
				out.views = out.views + n.views
				out.columns = out.columns + n.columns
				out.edges = out.edges + n.edges
				if dconn ~= conn then
					dconn:close()
				end
			end
		end
	end
	conn:close()

	emit.service {
		namespace = s.namespace,
		name = "server",
		subtype = "server",
		platform = "postgres",
		display_name = "PostgreSQL " .. s.label,
		description = "PostgreSQL " .. info.version,
		properties = {
			version = version,
			version_num = vnum,
			databases = #db_names > 0 and db_names or nil,
			max_connections = int(info.max_connections),
			in_recovery = truthy(info.in_recovery),
			started_at = info.started_at,
		},
	}
	local labels = { server = s.namespace }
	metric("databases", out.databases, labels)
	metric("tables", out.tables, labels)
	metric("views", out.views, labels)
	metric("columns", out.columns, labels)
	metric("connections", out.connections, labels)
	metric("size_bytes", out.size, labels)
	metric("crawl_seconds", time.now() - t0, labels)
	log.info(string.format("postgres: crawled %s: %d databases, %d tables, %d views, "
		.. "%d columns, %d edges in %.2f s", s.label, out.databases, out.tables, out.views,
		out.columns, out.edges, time.now() - t0))
	return out
end

-- --- main -----------------------------------------------------------------------------

local servers = server_list()
local total = { databases = 0, tables = 0, views = 0, connections = 0, size = 0, missing = 0 }
local versions, vseen, labels = {}, {}, {}
for _, s in ipairs(servers) do
	local out = crawl_server(s)
	total.databases = total.databases + out.databases
	total.tables = total.tables + out.tables
	total.views = total.views + out.views
	total.connections = total.connections + out.connections
	total.size = total.size + out.size
	total.missing = total.missing + out.sizes_missing
	if not vseen[out.version] then
		vseen[out.version] = true
		versions[#versions + 1] = out.version
	end
	labels[#labels + 1] = out.label
end

local desc = table.concat(labels, ", ")
if total.missing > 0 then
	desc = desc .. string.format(" (size leaves out %d database%s without CONNECT privilege)",
		total.missing, total.missing == 1 and "" or "s")
end
if warnings > 0 then
	desc = desc .. string.format("; %d privilege warning%s in the last run", warnings,
		warnings == 1 and "" or "s")
end
tile {
	status = "up",
	title = "PostgreSQL",
	description = desc,
	numbers = {
		version = table.concat(versions, ", "),
		databases = total.databases,
		tables = total.tables,
		views = total.views,
		connections = total.connections,
		size = human_bytes(total.size),
	},
}
