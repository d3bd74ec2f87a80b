-- OpenLineage naming helpers shared by collectors (docs/identity.md).
--
--   local names = require "names"
--   names.authority(host, port [, default_host])  -> "host:port" ("[::1]:5432" for IPv6)
--   names.namespace(scheme, host, port)            -> "postgres://db.local:5432"
--   names.join(part, ...)                          -> "shop.public.orders"
--   names.last(name)                               -> "orders" (after the last '.')
--   names.ids(kind, namespace)                     -> function(name) -> "<kind>:<ns>:<name>"
--   names.http_base(url)                           -> base, host, port of an http(s) URL
--   names.from_uri(uri)                            -> namespace, name, platform | nil, err
--       a dataset URI (Airflow dataset, MLflow dataset source, ...) as the
--       OpenLineage naming spec names it: "s3://b/k/x.csv" -> "s3://b", "k/x.csv";
--       "postgres://h:5432/db/schema/t" -> "postgres://h:5432", "db.schema.t";
--       "file:///srv/x.csv" -> "file", "/srv/x.csv", "file" (the platform is
--       returned for namespaces without "://", which imply none)
--
-- Names are kept exactly as the source spells them (quotes, spaces, unicode,
-- dots inside a segment): OpenLineage producers do the same, and the catalog
-- never splits a name.

local names = {}

-- A host as it goes into an authority: a Unix socket directory (or an
-- abstract socket, "@name") has no network name, so it is "localhost"; an
-- IPv6 literal gets brackets; DNS names are lowercased (they are not case
-- sensitive, and every producer must spell a host the same way).
function names.host(host, default_host)
	host = host or ""
	if host == "" or host:sub(1, 1) == "/" or host:sub(1, 1) == "@" then
		return default_host or "localhost"
	end
	if host:find(":", 1, true) and host:sub(1, 1) ~= "[" then
		return "[" .. host:lower() .. "]"
	end
	return host:lower()
end

function names.authority(host, port, default_host)
	local h = names.host(host, default_host)
	if port == nil or tostring(port) == "" then
		return h
	end
	return h .. ":" .. tostring(port)
end

function names.namespace(scheme, host, port, default_host)
	return scheme .. "://" .. names.authority(host, port, default_host)
end

function names.join(...)
	return table.concat({ ... }, ".")
end

function names.last(name)
	return name:match("([^.]*)$")
end

-- An http(s) service's base URL: BASE (URL without trailing '/'), HOST
-- (without brackets or credentials) and PORT (the scheme's default when the
-- URL has none, as a string).  HOST and PORT are nil when there is no host.
function names.http_base(url)
	local base = url:gsub("/+$", "")
	local scheme, authority = base:match("^(https?)://([^/?#]+)")
	if not scheme then
		return base, nil, nil
	end
	authority = authority:gsub("^.*@", "")
	local host, port
	if authority:sub(1, 1) == "[" then
		host, port = authority:match("^%[(.-)%]:?(%d*)$")
	else
		host, port = authority:match("^([^:]*):?(%d*)$")
	end
	if not host or host == "" then
		return base, nil, nil
	end
	if port == "" then
		port = scheme == "https" and "443" or "80"
	end
	return base, host, port
end

function names.ids(kind, namespace)
	return function(name)
		return emit.id(kind, namespace, name)
	end
end

-- --- dataset URIs (OpenLineage naming: https://openlineage.io/docs/spec/naming) -----

local function pct_decode(s)
	return (s:gsub("%%(%x%x)", function(h)
		return string.char(tonumber(h, 16))
	end))
end

-- Schemes that are one engine under several spellings.
local SCHEME_ALIASES = {
	s3a = "s3", s3n = "s3", gcs = "gs", postgresql = "postgres", ["postgresql+psycopg2"] = "postgres",
	mariadb = "mysql",
}

-- Database engines: default port and how many path parts a table name has.
local DATABASES = {
	postgres = { port = "5432", parts = 3, default_schema = "public" },
	mysql = { port = "3306", parts = 2 },
	redshift = { port = "5439", parts = 3, default_schema = "public" },
	trino = { port = "8080", parts = 3 },
	mssql = { port = "1433", parts = 3, default_schema = "dbo" },
	sqlserver = { port = "1433", parts = 3, default_schema = "dbo" },
	oracle = { port = "1521", parts = 3 },
	hive = { port = "10000", parts = 2 },
	cassandra = { port = "9042", parts = 2 },
}

-- Object stores: the bucket (container) is the authority, the key the name.
local OBJECT_STORES = { s3 = true, gs = true, abfss = true, abfs = true, wasbs = true, wasb = true,
	oss = true, r2 = true, dbfs = true }

-- "host:port" of an authority without userinfo; the port given or DEFAULT_PORT.
local function host_port(authority, default_port)
	authority = authority:gsub("^.*@", "")
	local host, port
	if authority:sub(1, 1) == "[" then
		host, port = authority:match("^%[(.-)%]:?(%d*)$")
	else
		host, port = authority:match("^([^:]*):?(%d*)$")
	end
	if not host or host == "" then
		return nil
	end
	if port == "" then
		port = default_port
	end
	return names.authority(host, port)
end

function names.from_uri(uri)
	if type(uri) ~= "string" or uri == "" then
		return nil, "names: empty dataset URI"
	end
	uri = uri:gsub("#.*$", "")
	-- a bare absolute path is a local file
	if uri:sub(1, 1) == "/" then
		return "file", uri, "file"
	end
	local scheme, rest = uri:match("^([%a][%w+.-]*):(.*)$")
	if not scheme then
		return nil, "names: '" .. uri .. "' is not a URI (no scheme)"
	end
	scheme = scheme:lower()
	scheme = SCHEME_ALIASES[scheme] or scheme
	local authority, path = rest:match("^//([^/?]*)([^?]*)")
	if scheme == "file" then
		if authority == nil then
			-- file:/srv/x.csv
			return "file", pct_decode(rest:gsub("%?.*$", "")), "file"
		end
		path = pct_decode(path)
		if authority == "" or authority:lower() == "localhost" then
			return "file", path, "file"
		end
		return "file://" .. names.host(authority), path
	end
	if scheme == "bigquery" then
		-- bigquery://project/dataset/table (Airflow) or bigquery:project.dataset.table
		local body = authority and (authority .. path) or rest
		local parts = {}
		for p in body:gmatch("[^/]+") do
			parts[#parts + 1] = pct_decode(p)
		end
		if #parts == 0 then
			return nil, "names: '" .. uri .. "' names no BigQuery table"
		end
		return "bigquery", table.concat(parts, "."), "bigquery"
	end
	if authority == nil then
		-- scheme:opaque (mlflow-artifacts:/1/..., urn:...): the scheme is the namespace
		local name = rest:gsub("%?.*$", "")
		if name == "" then
			return nil, "names: '" .. uri .. "' has nothing after its scheme"
		end
		return scheme, name, scheme
	end
	if OBJECT_STORES[scheme] then
		if authority == "" then
			return nil, "names: '" .. uri .. "' has no bucket"
		end
		local key = pct_decode(path):gsub("^/+", "")
		if key == "" then
			key = "/"
		end
		return scheme .. "://" .. authority, key
	end
	local db = DATABASES[scheme]
	if db then
		local hp = host_port(authority, db.port)
		if not hp then
			return nil, "names: '" .. uri .. "' has no host"
		end
		local parts = {}
		for p in path:gmatch("[^/]+") do
			parts[#parts + 1] = pct_decode(p)
		end
		-- "db.schema.table" in one segment (the OpenLineage URI form) stays as it is
		if #parts == db.parts - 1 and db.default_schema then
			table.insert(parts, 2, db.default_schema)
		end
		if #parts ~= db.parts and #parts ~= 1 then
			return nil, string.format("names: '%s': a %s table is /%s", uri, scheme,
				db.parts == 3 and "database/schema/table" or "database/table")
		end
		return scheme .. "://" .. hp, table.concat(parts, ".")
	end
	if scheme == "kafka" then
		local hp = host_port(authority, "9092")
		local topic = pct_decode(path):gsub("^/+", "")
		if not hp or topic == "" then
			return nil, "names: '" .. uri .. "' is not kafka://HOST:PORT/TOPIC"
		end
		return "kafka://" .. hp, topic
	end
	-- anything else (hdfs, http(s), ...): scheme://host[:port] and the path as it is
	local hp = host_port(authority, "")
	if not hp then
		return nil, "names: '" .. uri .. "' has no host"
	end
	path = pct_decode(path)
	if path == "" then
		path = "/"
	end
	return scheme .. "://" .. hp, path
end

return names
