-- common.lua — the start of the leakwatch library: the module tables and what every rule
-- shares. cmake/lua_library.cmake puts it first and every other file after it, each in a
-- "do ... end" of its own, so a file's locals are its own and files reach each other only
-- through the module tables below, looked up when a rule runs: the files load in any order.
--
-- Keys: every function gets KEYS[1] = lw:{tenant}:outbox and derives the tenant's other
-- keys from the same lw:{tenant}: prefix, so one call touches one hash slot and one tenant.
-- Every key is built by keys.<kind>(ctx, ...), generated from processor/keys.tab, where
-- each kind's shape and contents are written down once.
-- Derived events are appended to that outbox stream in the same atomic call that decides
-- them; the emitter (processor/outbox.c) moves them to Kafka.

-- One table per file, filled in by it (keys by the generated keys.lua).
local keys = {}     -- keys.lua: one builder per key kind (processor/keys.tab)
local lead = {}     -- lead.lua: lead state, first response, idle and call-back deadlines
local contacts = {} -- contacts.lua: duplicates, calls by phone, untracked contacts
local task = {}     -- task.lua: overdue tasks and their deals
local deal = {}     -- deal.lua: deal state and deals at risk
local risk = {}     -- risk.lua: the risk list and its summary
local loss = {}     -- loss.lua: the loss totals
local stats = {}    -- stats.lua: response-time statistics
local timers = {}   -- timers.lua: firing deadlines (lw_fire, lw_flush)
local leaks = {}    -- leaks.lua: what the dashboard's lead leaks card lists
local estimate = {} -- estimate.lua: what the leaks cost (leak.estimate)
local funnel = {}   -- funnel.lua: the funnel summary
local manager = {}  -- manager.lua: the manager report

-- Numbers go to redis.call as text: Redis would format a Lua number with "%.14g" itself,
-- about 1 us an argument, three times what int() costs.
local STATE_RETENTION_MS = '34560000000' -- 400 d: state.retention's default (config.c)
local SEEN_TTL_MS = '691200000'   -- 8 d: how long an applied event id is remembered

-- What runs, by kind: 'event' (an input event type -> function(ctx, fields, time_ms)),
-- 'deadline' (a deadline kind -> function(ctx, entity_id, due_ms)) and 'publish' (an
-- aggregate type -> function(ctx, scope, as_of_ms)).
local handlers = { event = {}, deadline = {}, publish = {} }

-- Registers the one handler of an event type, a deadline kind or an aggregate. An event
-- several modules care about has one owner that calls the others in an order it states, so
-- what runs never depends on the order the files were loaded in; a second registration
-- fails the load.
local function on(kind, name, handler)
    local registry = handlers[kind]
    if not registry then
        error('on(): the kinds are event, deadline and publish, not ' .. tostring(kind))
    end
    if registry[name] then
        error('on(): a second ' .. kind .. ' handler for ' .. name)
    end
    registry[name] = handler
end

-- The params of key k of the given kind (keys.tab), or nil if k is not one.
function keys.parts(ctx, kind, k)
    local prefix = ctx.prefix
    if string.sub(k, 1, #prefix) ~= prefix then
        return nil
    end
    return string.match(string.sub(k, #prefix + 1), keys.patterns[kind])
end

-- ctx.retention_ms: how long an entity is kept after its last event (lw_event sets the
-- tenant's state.retention); nil while deadlines fire in lw_fire: a deadline is no event
-- and leaves the time to live as the last event set it.
local function new_ctx(outbox_key, tenant)
    return { tenant = tenant, prefix = keys.tenant_prefix(tenant), outbox = outbox_key, emitted = 0 }
end

local function int(n)
    return string.format('%d', n)
end

-- The date of a day number (days since 1970-01-01) as "2026-11-22".
-- An entity's share of an aggregate as its hash records it (fields prefix .. name), or nil
-- (estimate.lua and manager.lua move shares so that a correction moves the counts).
local function share_recorded(h, prefix, names)
    if not h[prefix .. names[1]] then
        return nil
    end
    local share = {}
    for _, name in ipairs(names) do
        share[name] = h[prefix .. name]
    end
    return share
end

local function share_same(a, b, names)
    if a == nil or b == nil then
        return a == b
    end
    for _, name in ipairs(names) do
        if a[name] ~= b[name] then
            return false
        end
    end
    return true
end

local function civil_date(days)
    local z = days + 719468
    local era = math.floor(z / 146097)
    local doe = z - era * 146097
    local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
        - math.floor(doe / 146096)) / 365)
    local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
    local mp = math.floor((5 * doy + 2) / 153)
    local d = doy - math.floor((153 * mp + 2) / 5) + 1
    local m = mp < 10 and mp + 3 or mp - 9
    local y = yoe + era * 400 + (m <= 2 and 1 or 0)
    return string.format('%04d-%02d-%02d', y, m, d)
end

-- The last day formatted: a call's times are mostly of one day. A cache of a pure function,
-- so what it holds between calls never changes a result.
local last_day, last_date = nil, nil

-- Unix ms as RFC 3339 UTC ("2026-11-22T09:00:00Z", millis only when not whole seconds).
local function rfc3339(ms)
    local secs = math.floor(ms / 1000)
    local frac = ms - secs * 1000
    local days = math.floor(secs / 86400)
    local rem = secs - days * 86400
    if days ~= last_day then
        last_day, last_date = days, civil_date(days)
    end
    local s = string.format('%sT%02d:%02d:%02d', last_date, math.floor(rem / 3600),
        math.floor(rem / 60) % 60, rem % 60)
    if frac ~= 0 then
        s = s .. string.format('.%03d', frac)
    end
    return s .. 'Z'
end

-- Minor units as the input writes money: a decimal string with 2 digits ("5184.00").
local function money(minor)
    local sign = minor < 0 and '-' or ''
    minor = math.abs(minor)
    return string.format('%s%d.%02d', sign, math.floor(minor / 100), minor % 100)
end

-- JSON of obj plus list fields: lists = { {name, items}, ... }. Redis's cjson writes an
-- empty table as {}, so lists are spliced in as text to stay [] when empty.
local function encode_with_lists(obj, lists)
    local s = cjson.encode(obj)
    for _, list in ipairs(lists) do
        local parts = {}
        for i, item in ipairs(list[2]) do
            parts[i] = cjson.encode(item)
        end
        local field = '"' .. list[1] .. '":[' .. table.concat(parts, ',') .. ']'
        s = s == '{}' and '{' .. field .. '}' or string.sub(s, 1, -2) .. ',' .. field .. '}'
    end
    return s
end

-- The quantile q of a histogram of n values (counts[i]: those in bin i, whose upper edge is
-- edges[i]): the upper edge of the bin it falls in, or nil when there is none.
local function bin_quantile(edges, counts, n, q)
    local rank, seen = q * n, 0
    for i, upper in ipairs(edges) do
        seen = seen + (counts[i] or 0)
        if seen >= rank and seen > 0 then
            return upper
        end
    end
    return nil
end

local NO_FIELDS = {}

-- Appends a derived event to the outbox. Its id is a hash of the fact it reports (fact: the
-- entities and moments that identify it), so the same fact always yields the same id and
-- downstream can drop repeats. data is a table, or JSON text already encoded. ctx.trace,
-- while an input event's handlers run (event.lua), adds the field trace: the trigger's trace
-- context goes on with the event, never into its id.
local function emit(ctx, event_type, kafka_key, time_ms, fact, data)
    local id = redis.sha1hex(event_type .. '|' .. ctx.tenant .. '|' .. fact)
    local json = type(data) == 'string' and data or cjson.encode(data)
    redis.call('XADD', ctx.outbox, '*', 'type', event_type, 'tenant', ctx.tenant, 'id', id,
        'key', kafka_key, 'time', int(time_ms), 'data', json, unpack(ctx.trace or NO_FIELDS))
    ctx.emitted = ctx.emitted + 1
end

-- The Kafka key of an aggregate (compacted topics): the tenant first, so that tenants never
-- replace each other's values.
local function aggregate_key(ctx, name)
    return ctx.tenant .. '|' .. name
end

-- The named fields of hash k in one HMGET: a table name -> value, absent fields left out.
-- Each redis.call costs a round of Lua, so a handler reads its entity once and passes the
-- table down (and keeps it up to date as it writes) instead of reading again.
local function read_hash(k, names)
    local v = redis.call('HMGET', k, unpack(names))
    local h = {}
    for i, name in ipairs(names) do
        if v[i] then
            h[name] = v[i]
        end
    end
    return h
end

-- Writes name/value pairs (a flat list) to k in one HSET, and into h, the hash as read, so
-- what follows sees the new values without reading them again.
local function write_hash(k, h, writes)
    for i = 1, #writes, 2 do
        h[writes[i]] = writes[i + 1]
    end
    if #writes > 0 then
        redis.call('HSET', k, unpack(writes))
    end
end

-- Moves an entity's share (a table of text fields; nil: none) from what its hash k records
-- (fields prefix .. name) to after: count(share, sign) takes the old one out and puts the new
-- one in, and the hash records the new one. Nothing moves when they are the same (an event
-- applied twice). h: the hash as read, kept up to date.
local function share_move(k, h, prefix, names, after, count)
    local before = share_recorded(h, prefix, names)
    if share_same(before, after, names) then
        return
    end
    if before then
        count(before, -1)
    end
    local fields, writes = {}, {}
    for i, name in ipairs(names) do
        fields[i] = prefix .. name
        if after then
            writes[#writes + 1] = fields[i]
            writes[#writes + 1] = after[name]
        end
    end
    if after then
        count(after, 1)
        write_hash(k, h, writes)
    else
        redis.call('HDEL', k, unpack(fields))
        for _, field in ipairs(fields) do
            h[field] = nil
        end
    end
end

-- Keeps entity key k for the tenant's retention after this event (in wall time: Redis
-- expires by it, so a replay of old history never expires state on the spot), or for good
-- while kept_open (an open deal, an unresolved task: never dropped while open).
local function retain(ctx, k, kept_open)
    if kept_open then
        redis.call('PERSIST', k)
    elseif ctx.retention_ms then
        redis.call('PEXPIRE', k, ctx.retention_ms)
    end
end

-- Whether an event at time_ms is older than the last one applied to the entity h.
local function is_stale(h, time_ms)
    local last = tonumber(h.updated_ms)
    return last ~= nil and time_ms < last
end

-- Writes fields of an entity hash. A newer event overwrites; a stale one (older than the
-- last applied) only fills fields still unknown, so state never rolls back. h: the hash as
-- read_hash read it, with updated_ms and names (read here when nil); extra: more field,
-- value pairs written in the same HSET whatever the event's age. h is brought up to date.
-- The entity is then retained (retain): with while_open (deals, tasks), for good while its
-- status is open (or still unknown). Returns whether the event is stale, and h.
local function apply_fields(ctx, k, fields, time_ms, names, h, extra, while_open)
    h = h or read_hash(k, { 'updated_ms', unpack(names) })
    local stale = is_stale(h, time_ms)
    local args = {}
    if not stale then
        args[1], args[2] = 'updated_ms', int(time_ms)
    end
    for _, name in ipairs(names) do
        if fields[name] and not (stale and h[name]) then -- stale: as HSETNX would
            args[#args + 1] = name
            args[#args + 1] = fields[name]
        end
    end
    for _, v in ipairs(extra or {}) do
        args[#args + 1] = v
    end
    write_hash(k, h, args) -- one HSET
    retain(ctx, k, while_open and (h.status or 'open') == 'open')
    return stale, h
end

-- Aggregates (loss.totals, risk.summary, response.stats) change many times in a batch and
-- are published once per batch, like a KTable's record cache: a change marks its scope
-- due in lw:{t}:publish (field "<type>|<scope>" -> the latest time it is valid as of), and
-- publish_due (lw_flush, after the tenant's last event of the batch, and lw_fire) publishes
-- each scope once from the state as it is then. The last value of every key is the same
-- however the input was batched.
local function publish_later(ctx, aggregate_type, scope, time_ms)
    redis.call('HSET', keys.publish(ctx), aggregate_type .. '|' .. scope, int(time_ms))
end

-- The time a change to an aggregate counts as of: the clock (ctx.now, the time of the event
-- or deadline being applied) or later. A rule may date a change earlier (a lead's creation
-- when a duplicate verdict moves it, a call read before its lead), but a summary already due
-- as of a second the clock has passed must not fall due again as of that second: it would go
-- out twice as of one time, from two states.
local function aggregate_time(ctx, time_ms)
    return ctx.now and math.max(time_ms, ctx.now) or time_ms
end

local function publish_due(ctx)
    local k = keys.publish(ctx)
    local flat = redis.call('HGETALL', k)
    if #flat == 0 then
        return
    end
    redis.call('DEL', k)
    for i = 1, #flat, 2 do
        local sep = string.find(flat[i], '|', 1, true)
        handlers.publish[string.sub(flat[i], 1, sep - 1)](ctx, string.sub(flat[i], sep + 1),
            tonumber(flat[i + 1]))
    end
end

-- Sets a deadline: member "<kind>|<entity id>" in the tenant's timers sorted set.
local function schedule(ctx, kind, entity_id, due_ms)
    redis.call('ZADD', keys.timers(ctx), int(due_ms), kind .. '|' .. entity_id)
end

-- The same, unless that deadline is already set (an earlier one is kept).
local function schedule_once(ctx, kind, entity_id, due_ms)
    redis.call('ZADD', keys.timers(ctx), 'NX', int(due_ms), kind .. '|' .. entity_id)
end

-- schedule_once for several entities due at the same time, in one ZADD.
local function schedule_once_each(ctx, kind, entity_ids, due_ms)
    local args, due = { 'NX' }, int(due_ms)
    for _, id in ipairs(entity_ids) do
        args[#args + 1] = due
        args[#args + 1] = kind .. '|' .. id
    end
    redis.call('ZADD', keys.timers(ctx), unpack(args))
end

local function unschedule(ctx, kind, entity_id)
    redis.call('ZREM', keys.timers(ctx), kind .. '|' .. entity_id)
end
