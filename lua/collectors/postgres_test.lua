-- Tests of postgres.lua without a server: terrarium plugin test lua/collectors/postgres_test.lua
--
-- A fake "postgres" binding records the connection strings the collector
-- builds and answers its queries from tables, so connection strings, names,
-- privilege warnings and failures can be checked for inputs a real server
-- would make awkward (IPv6, sockets, old versions, refused connections).
-- tests/integration/test_collector_postgres.c runs the collector against a
-- real PostgreSQL, and runs this file too.

local function rows(list)
	list.count = #list
	return list
end

-- The value of KEY in a conninfo string as the collector writes it
-- (every value single-quoted, \ escapes).
local function conn_value(dsn, key)
	if dsn:find("%f[%w_]" .. key .. "=''") then
		return ""
	end
	local v = dsn:match("%f[%w_]" .. key .. "='(.-[^\\])'")
	if v == nil then
		return nil
	end
	return (v:gsub("\\(.)", "%1"))
end

-- A fake binding.  OPTS:
--   databases = { { oid, name }, ... }   (default: just "postgres")
--   relations = { [db] = { row, ... } }, columns = { [db] = { row, ... } }
--   refuse = true                         every connect fails
--   deny_connect = { [db] = message }     connecting to db fails with message
--   deny_size = { [oid] = true }          pg_database_size fails with 42501
--   version, version_num
local function fake(opts)
	opts = opts or {}
	local seen = { connects = {}, closed = 0 }
	local conn = {}
	conn.__index = conn
	function conn:query(sql, params)
		if sql:find("server_version_num", 1, true) then
			return rows {
				{
					version = opts.version or "15.4 (Debian 15.4-1)",
					version_num = opts.version_num or "150004",
					db = self.db,
					role = "u",
					max_connections = "100",
					in_recovery = "f",
					started_at = "2024-05-01T10:00:00Z",
					connections = "3",
				},
			}
		elseif sql:find("FROM pg_database d", 1, true) then
			return rows(opts.databases or { { oid = "5", name = "postgres", owner = "u" } })
		elseif sql:find("pg_database_size", 1, true) then
			if opts.deny_size and opts.deny_size[params[1]] then
				return nil, "postgres: permission denied for database x (SQLSTATE 42501)"
			end
			return rows { { bytes = "1048576" } }
		elseif sql:find("c.relname AS name", 1, true) then
			return rows(opts.relations and opts.relations[self.db] or {})
		elseif sql:find("FROM pg_attribute a", 1, true) then
			return rows(opts.columns and opts.columns[self.db] or {})
		end
		return rows {}
	end
	function conn:close()
		seen.closed = seen.closed + 1
	end
	local binding = {
		connect = function(dsn, o)
			assert(type(dsn) == "string", "the collector passes conninfo strings")
			seen.connects[#seen.connects + 1] = dsn
			seen.timeout = o and o.timeout
			local db = conn_value(dsn, "dbname")
			if opts.refuse then
				return nil, "postgres: connection refused (" .. (conn_value(dsn, "host") or "?") .. ")"
			end
			if opts.deny_connect and opts.deny_connect[db] then
				return nil, opts.deny_connect[db]
			end
			return setmetatable({ db = db }, conn)
		end,
	}
	mock("postgres", binding)
	return seen
end

local function table_row(oid, schema, name, extra)
	local r = { oid = oid, schema = schema, name = name, kind = "r", owner = "u", rows = "7",
		bytes = "8192", persistence = "p" }
	for k, v in pairs(extra or {}) do
		r[k] = v
	end
	return r
end

local function find_log(out, level, pattern)
	for _, l in ipairs(out.logs or {}) do
		if l.level == level and string.find(l.msg, pattern, 1, true) then
			return l
		end
	end
	return nil
end

test("a keyword DSN: its host and port name the namespace, every database is crawled", function()
	local seen = fake {
		databases = { { oid = "5", name = "postgres" }, { oid = "6", name = "odd 'db' x=y" } },
		relations = { ["odd 'db' x=y"] = { table_row("100", "public", "t") } },
		columns = { ["odd 'db' x=y"] = {
			{ rel = "100", num = "1", name = "id", type = "integer", notnull = "t" },
		} },
	}
	local out, err = run_collector {
		dsn = [[host=DB.Example.org port = 6543 user=u password='p w\'x' dbname=postgres]],
	}
	assert_eq(err, nil)
	local ns = "postgres://db.example.org:6543"
	-- the first connection uses the DSN's database; the second one replaces it, quoted
	assert_eq(conn_value(seen.connects[1], "dbname"), "postgres")
	assert_eq(conn_value(seen.connects[2], "dbname"), "odd 'db' x=y")
	for _, dsn in ipairs(seen.connects) do
		assert_eq(conn_value(dsn, "password"), "p w'x")
		assert_eq(conn_value(dsn, "host"), "DB.Example.org")
		assert_eq(conn_value(dsn, "port"), "6543")
		assert_eq(conn_value(dsn, "application_name"), "terrarium")
		assert_eq(conn_value(dsn, "client_encoding"), "UTF8")
	end
	assert_eq(seen.timeout, 30, "query_timeout defaults to 30 s")
	assert_eq(seen.closed, 2, "every connection is closed")
	local t = expect_emit(out, { kind = "dataset", namespace = ns, name = "odd 'db' x=y.public.t" })
	assert_eq(t.subtype, "table")
	assert_eq(t.display_name, "t")
	assert_eq(t.properties.rows, 7)
	assert_eq(t.properties.size_bytes, 8192)
	assert_eq(t.fields, { { name = "id", type = "integer", nullable = false, ordinal = 1 } })
	local s = expect_emit(out, { kind = "service", namespace = ns, name = "server" })
	assert_eq(s.properties.version, "15.4")
	assert_eq(s.properties.databases, { "postgres", "odd 'db' x=y" })
	assert_eq(out.tile.numbers.databases, 2)
	assert_eq(out.tile.numbers.connections, 3)
	assert_eq(out.tile.numbers.size, "2.0 MiB")
	assert_eq(out.tile.status, "up")
end)

test("a URI: user, password and IPv6 host are decoded; the namespace brackets the address", function()
	local seen = fake()
	local out, err = run_collector {
		dsn = "postgresql://u%40corp:s%3Acret@[::1]:5433/postgres?sslmode=require&connect_timeout=3",
	}
	assert_eq(err, nil)
	local dsn = seen.connects[1]
	assert_eq(conn_value(dsn, "user"), "u@corp")
	assert_eq(conn_value(dsn, "password"), "s:cret")
	assert_eq(conn_value(dsn, "host"), "::1")
	assert_eq(conn_value(dsn, "port"), "5433")
	assert_eq(conn_value(dsn, "sslmode"), "require")
	assert_eq(conn_value(dsn, "connect_timeout"), "3")
	expect_emit(out, { kind = "service", namespace = "postgres://[::1]:5433" })
end)

test("a socket directory is localhost; no port is 5432; a table DSN works too", function()
	fake()
	local out = run_collector { dsn = "host=/var/run/postgresql dbname=postgres" }
	expect_emit(out, { kind = "service", namespace = "postgres://localhost:5432" })
	out = run_collector { dsn = { host = "pg1", port = 5544, dbname = "postgres" } }
	expect_emit(out, { kind = "service", namespace = "postgres://pg1:5544" })
end)

test("namespace overrides the name from the DSN", function()
	fake { relations = { postgres = { table_row("100", "s", "t") } } }
	local out = run_collector { dsn = "host=10.0.0.5 dbname=postgres", namespace = "postgres://db.prod:5432" }
	expect_emit(out, { kind = "dataset", namespace = "postgres://db.prod:5432", name = "postgres.s.t" })
end)

test("several servers; databases and exclude_databases filter", function()
	local seen = fake {
		databases = { { oid = "5", name = "postgres" }, { oid = "6", name = "shop" },
			{ oid = "7", name = "scratch" } },
	}
	local out, err = run_collector {
		exclude_databases = { "scratch" },
		servers = {
			{ dsn = "host=a dbname=postgres" },
			{ dsn = "host=b dbname=postgres", databases = { "shop" } },
		},
	}
	assert_eq(err, nil)
	local a = expect_emit(out, { kind = "service", namespace = "postgres://a:5432" })
	local b = expect_emit(out, { kind = "service", namespace = "postgres://b:5432" })
	assert_eq(a.properties.databases, { "postgres", "shop" })
	assert_eq(b.properties.databases, { "shop" })
	assert_eq(out.tile.numbers.databases, 3)
	assert_eq(out.tile.numbers.version, "15.4")
	assert_eq(out.tile.description, "a:5432, b:5432")
	for _, dsn in ipairs(seen.connects) do
		assert_eq(conn_value(dsn, "dbname") ~= "scratch", true, "scratch is never connected to")
	end
end)

test("no server configured, or a malformed DSN: the run fails saying so", function()
	fake()
	local out, err = run_collector {}
	assert_eq(out, nil)
	assert_match(err, "postgres: no server configured")
	out, err = run_collector { dsn = "host=a port" }
	assert_eq(out, nil)
	assert_match(err, "postgres: dsn: expected keyword=value at character 8")
	out, err = run_collector { dsn = "host='a" }
	assert_match(err, "unterminated quoted value of 'host'")
	out, err = run_collector { servers = { { namespace = "x" } } }
	assert_match(err, "servers%[1%] needs a dsn")
end)

test("a server that refuses the connection fails the run, naming it", function()
	fake { refuse = true }
	local out, err = run_collector { dsn = "host=db.local port=5432 password=hunter22 dbname=postgres" }
	assert_eq(out, nil)
	assert_eq(err, "postgres: cannot connect to db.local:5432: connection refused (db.local)")
	assert_eq(string.find(err, "hunter22", 1, true), nil)
end)

test("an old server fails the run with the version", function()
	fake { version = "11.22", version_num = "110022" }
	local out, err = run_collector { dsn = "host=old dbname=postgres" }
	assert_eq(out, nil)
	assert_match(err, "old:5432 runs PostgreSQL 11.22; the collector needs 12 or newer")
end)

test("missing CONNECT: a warning naming the privilege, the run goes on", function()
	fake {
		databases = { { oid = "5", name = "postgres" }, { oid = "6", name = "secret" } },
		deny_size = { ["6"] = true },
		deny_connect = { secret = 'postgres: permission denied for database "secret" (h:1)' },
	}
	local out, err = run_collector { dsn = "host=h dbname=postgres" }
	assert_eq(err, nil)
	local w = find_log(out, "warn", 'missing privilege: CONNECT on database "secret"; its tables are not crawled')
	assert_eq(w ~= nil, true, "a warning for the connection")
	assert_eq(w.fields, { privilege = "CONNECT", database = "secret" })
	w = find_log(out, "warn", 'CONNECT on database "secret" (or membership in pg_read_all_stats), to read its size')
	assert_eq(w ~= nil, true, "a warning for the size")
	assert_match(out.tile.description, "size leaves out 1 database without CONNECT privilege")
	assert_match(out.tile.description, "2 privilege warnings")
	assert_eq(out.tile.numbers.size, "1.0 MiB")
end)

test("another connection failure on one database fails the run", function()
	fake {
		databases = { { oid = "5", name = "postgres" }, { oid = "6", name = "busy" } },
		deny_connect = { busy = "postgres: sorry, too many clients already (h:1)" },
	}
	local out, err = run_collector { dsn = "host=h dbname=postgres" }
	assert_eq(out, nil)
	assert_eq(err, "postgres: cannot connect to h:5432 (database busy): sorry, too many clients already (h:1)")
end)

test("a database dropped during the crawl is skipped", function()
	fake {
		databases = { { oid = "5", name = "postgres" }, { oid = "6", name = "gone" } },
		deny_connect = { gone = 'postgres: database "gone" does not exist (h:1)' },
	}
	local out, err = run_collector { dsn = "host=h dbname=postgres" }
	assert_eq(err, nil)
	assert_eq(find_log(out, "info", "database gone during the crawl") ~= nil, true)
end)

test("text that is not UTF-8 is repaired, long text is cut on a character", function()
	local long = string.rep("é", 40000) -- 80,000 bytes
	fake {
		relations = { postgres = { table_row("100", "s", "t", { comment = "caf\xe9 ok", definition = long }) } },
	}
	local out, err = run_collector { dsn = "host=h dbname=postgres" }
	assert_eq(err, nil)
	local t = expect_emit(out, { name = "postgres.s.t" })
	assert_eq(t.description, "caf\u{FFFD} ok")
	assert_eq(#t.properties.definition, 65536)
	assert_eq(utf8.len(t.properties.definition), 32768)
end)

test("a top-level namespace is not given to every server", function()
	fake()
	local out, err = run_collector {
		namespace = "postgres://shared:5432",
		servers = { { dsn = "host=a dbname=postgres" }, { dsn = "host=b dbname=postgres", namespace = "postgres://bee:1" } },
	}
	assert_eq(err, nil)
	expect_emit(out, { kind = "service", namespace = "postgres://a:5432" })
	expect_emit(out, { kind = "service", namespace = "postgres://bee:1" })
end)

test("query_timeout is passed to the binding, and checked", function()
	local seen = fake()
	local out, err = run_collector { dsn = "host=a dbname=postgres", query_timeout = 7 }
	assert_eq(err, nil)
	assert_eq(seen.timeout, 7)
	out, err = run_collector { dsn = "host=a dbname=postgres", query_timeout = "soon" }
	assert_eq(out, nil)
	assert_match(err, "config.query_timeout: expected seconds above 0")
end)
