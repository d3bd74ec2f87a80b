-- OpenLineage naming helpers shared by collectors (docs/identity.md).
--
--   local names = require "names"
--   names.authority(host, port [, default_host])  -> "host:port" ("[::1]:5432" for IPv6)
--   names.namespace(scheme, host, port)            -> "postgres://db.local:5432"
--   names.join(part, ...)                          -> "shop.public.orders"
--   names.last(name)                               -> "orders" (after the last '.')
--   names.ids(kind, namespace)                     -> function(name) -> "<kind>:<ns>:<name>"
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

function names.ids(kind, namespace)
	return function(name)
		return emit.id(kind, namespace, name)
	end
end

return names
