-- stats.lua — rolling response times (response.stats) per tenant, per manager and per
-- channel over the last 24 h and 7 d: count, mean, median, p90 of the first responses made
-- in the window; and of the leads created in it (neither duplicates nor spam): leads,
-- answered, unanswered (no response yet and the idle alert went out),
-- answered_within_callback and answered_within_idle, as counts and shares of leads.
--
-- State: time-bucketed histograms, never lists of samples. Per scope ("tenant",
-- "manager:<id>", "channel:<name>") and unit (h: hours, window 24; d: days, window 7):
--   rs_bucket (processor/keys.tab) <scope>:<unit>:<index>: one bucket, "n", "sum"
--   (seconds), "b<i>" (bin counts); index w: the running sum of the window's closed
--   buckets "from".."upto" (the current one is read live)
-- A response is queued (rs_pending) and goes, with the rest of its batch, to its bucket
-- only (and to the window too in the rare case its bucket was already folded in).
-- Publishing folds buckets that closed and subtracts those that left,
-- so a summary costs the same however busy the day. Buckets live 8 d (hours) and 15 d
-- (days), longer than any slide needs them.
-- Deadline response.stats|<scope> makes a scope due at most once a second (published once
-- per batch, publish_due);
-- rs_latest: scope -> the last data published (the HTTP API reads it); rs_changed: scope
-- -> the latest response time recorded. lead.lua calls record_response_time.
-- Leads count in the buckets of their creation time, in the scopes of their manager and
-- channel at creation (kept in the lead hash with its share: s_* fields), so a later
-- change moves the counts of the same buckets; changes are queued in rs_lead_pending and
-- folded with the responses. lead.lua calls sync_lead when a lead's counts may change.

local BINS = { 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400, 28800, 86400,
    604800 }
local HOUR_MS, DAY_MS = 3600000, 86400000

local function bin_of(seconds)
    for i, upper in ipairs(BINS) do
        if seconds <= upper then
            return i
        end
    end
    return #BINS
end

-- index: a bucket's hour or day number, or 'w' for the window
local function bucket_key(ctx, scope, unit, index)
    local suffix = type(index) == 'number' and int(index) or index
    return keys.rs_bucket(ctx, scope, unit, suffix)
end

local function scopes_of(manager_id, channel)
    local scopes = { 'tenant' }
    if manager_id then
        scopes[#scopes + 1] = 'manager:' .. manager_id
    end
    if channel then
        scopes[#scopes + 1] = 'channel:' .. channel
    end
    return scopes
end

-- ttl: as text, for PEXPIRE
local UNITS = { { name = 'h', ms = HOUR_MS, span = 24, ttl = '691200000' },     -- 8 d
    { name = 'd', ms = DAY_MS, span = 7, ttl = '1296000000' } }                 -- 15 d

-- Adds (sign 1) or subtracts (-1) the bucket at index to the window's fields w, noting
-- each field touched in changed.
local function fold_bucket(ctx, scope, unit, index, w, changed, sign)
    local v = redis.call('HGETALL', bucket_key(ctx, scope, unit.name, index))
    for i = 1, #v, 2 do
        local f = v[i]
        w[f] = (w[f] or 0) + sign * tonumber(v[i + 1])
        changed[f] = true
    end
end

-- A hash of counts as field -> number.
local function read_counts(k)
    local v, counts = redis.call('HGETALL', k), {}
    for i = 1, #v, 2 do
        counts[v[i]] = tonumber(v[i + 1])
    end
    return counts
end

-- Makes the window hold the closed buckets new_from..last-1 and returns its fields. The
-- buckets folded in and out are summed here and each field changed is written once (a day
-- passed is 23 buckets' worth of fields, an hour two).
local function slide(ctx, scope, unit, last)
    local window = bucket_key(ctx, scope, unit.name, 'w')
    local w, changed = read_counts(window), {}
    local from, upto = w.from, w.upto
    local new_from, new_upto = last - unit.span + 1, last - 1
    if not from or new_from > upto then
        redis.call('DEL', window) -- nothing of the old window is left: rebuild it
        w = {}
        for index = new_from, new_upto do
            fold_bucket(ctx, scope, unit, index, w, changed, 1)
        end
    else
        for index = upto + 1, new_upto do
            fold_bucket(ctx, scope, unit, index, w, changed, 1)
        end
        for index = from, new_from - 1 do
            fold_bucket(ctx, scope, unit, index, w, changed, -1)
        end
    end
    w.from, w.upto = new_from, new_upto
    local fields = { 'from', int(new_from), 'upto', int(new_upto) }
    for f in pairs(changed) do
        fields[#fields + 1] = f
        fields[#fields + 1] = int(w[f]) -- int: never "-0"
    end
    redis.call('HSET', window, unpack(fields))
    redis.call('PEXPIRE', window, unit.ttl)
    return w
end

-- Adds counts = { n, sum, bins = { ['b<i>'] = count, ... }, order = { 'b<i>', ... } } to
-- hash k (bins holds the lead counts too, by their names); a hash that was empty starts
-- its time to live.
local function add_to(k, counts, ttl)
    if redis.call('HINCRBY', k, 'n', int(counts.n)) == counts.n then
        redis.call('PEXPIRE', k, ttl)
    end
    if counts.sum ~= 0 then
        redis.call('HINCRBY', k, 'sum', int(counts.sum))
    end
    for _, bin in ipairs(counts.order) do
        redis.call('HINCRBY', k, bin, int(counts.bins[bin]))
    end
end

-- Present (=value) or absent (''): how a pending response keeps a manager or channel.
local function opt_in(v)
    return v and '=' .. v or ''
end

local function opt_out(v)
    return v ~= '' and string.sub(v, 2) or nil
end

-- Marks the scopes changed at at_ms and due the whole second after it.
local function scopes_changed(ctx, manager_id, channel, at_ms)
    at_ms = aggregate_time(ctx, at_ms)
    local scopes, changed = scopes_of(manager_id, channel), { 'GT' }
    for _, scope in ipairs(scopes) do
        changed[#changed + 1] = int(at_ms)
        changed[#changed + 1] = scope
    end
    redis.call('ZADD', keys.rs_changed(ctx), unpack(changed))
    schedule_once_each(ctx, 'response.stats', scopes, (math.floor(at_ms / 1000) + 1) * 1000)
end

-- Adds one first response (at at_ms, taking seconds) to every scope it belongs to. Like a
-- record cache, it only queues the response (rs_pending) and marks its scopes changed and
-- due: fold_pending adds what a batch queued to the buckets at once, before they are read.
function stats.record_response_time(ctx, seconds, at_ms, manager_id, channel)
    redis.call('RPUSH', keys.rs_pending(ctx), int(at_ms), int(seconds), opt_in(manager_id),
        opt_in(channel))
    scopes_changed(ctx, manager_id, channel, at_ms)
end

-- What a lead counts, in this order (bucket fields).
local LEAD_COUNTS = { 'leads', 'answered', 'unanswered', 'in_cb', 'in_idle' }
local LEAD_COUNT_STATE = { 'created_ms', 'dup_of', 'closed_reason', 'resp_ms', 'idle_fired',
    'idle_after_ms', 'callback_after_ms', 'manager_id', 'channel', 's_created', 's_manager',
    's_channel', 's_counts' }

-- A lead's counts now, as text "leads answered unanswered in_cb in_idle" (nil: none).
local function lead_counts_now(h)
    local created = tonumber(h.created_ms)
    if not created or h.dup_of or h.closed_reason == 'spam' then
        return nil
    end
    local resp = tonumber(h.resp_ms)
    local at = resp and math.max(resp, created)
    local function within(after)
        return (at and after and at <= created + tonumber(after)) and 1 or 0
    end
    return table.concat({ 1, resp and 1 or 0, (not resp and h.idle_fired) and 1 or 0,
        within(h.callback_after_ms), within(h.idle_after_ms) }, ' ')
end

-- Queues counts (text as above, times sign) of a lead created at created_ms.
local function queue_lead_counts(ctx, created_ms, manager, channel, counts, sign)
    local args = { int(created_ms), manager, channel }
    for n in string.gmatch(counts, '%d+') do
        args[#args + 1] = int(sign * tonumber(n))
    end
    redis.call('RPUSH', keys.rs_lead_pending(ctx), unpack(args))
end

-- Moves a lead's counts to what its state says now (created, a response, the idle alert, a
-- duplicate verdict, a spam closing), and marks its scopes changed at time_ms.
function stats.sync_lead(ctx, lead_id, time_ms)
    local k = keys.lead(ctx, lead_id)
    local h = read_hash(k, LEAD_COUNT_STATE)
    local now = lead_counts_now(h)
    local created = h.created_ms
    if h.s_counts == now and (now == nil or h.s_created == created) then
        return
    end
    if h.s_counts then
        queue_lead_counts(ctx, tonumber(h.s_created), h.s_manager, h.s_channel, h.s_counts, -1)
        scopes_changed(ctx, opt_out(h.s_manager), opt_out(h.s_channel), time_ms)
    end
    if now then
        local manager, channel = h.s_manager or opt_in(h.manager_id), h.s_channel
            or opt_in(h.channel)
        queue_lead_counts(ctx, tonumber(created), manager, channel, now, 1)
        redis.call('HSET', k, 's_created', created, 's_manager', manager, 's_channel', channel,
            's_counts', now)
        scopes_changed(ctx, opt_out(manager), opt_out(channel), time_ms)
    else
        redis.call('HDEL', k, 's_created', 's_counts')
    end
end

-- The counts kept for hash k in sums (created in order when new).
local function counts_for(sums, order, k, ttl)
    local c = sums[k]
    if not c then
        c = { n = 0, sum = 0, bins = {}, order = {}, ttl = ttl }
        sums[k] = c
        order[#order + 1] = k
    end
    return c
end

-- Adds by to field (a bin or a lead count) of c.
local function count_field(c, field, by)
    if not c.bins[field] then
        c.bins[field] = 0
        c.order[#c.order + 1] = field
    end
    c.bins[field] = c.bins[field] + by
end

local function count(c, bin, seconds)
    c.n, c.sum = c.n + 1, c.sum + seconds
    count_field(c, bin, 1)
end

-- Calls add(counts) for the bucket of at_ms of every scope and unit, and for a window that
-- already holds that bucket (a late change). windows caches the windows' from and upto.
local function each_bucket(ctx, sums, order, windows, at_ms, manager, channel, add)
    for _, scope in ipairs(scopes_of(opt_out(manager), opt_out(channel))) do
        for _, unit in ipairs(UNITS) do
            local index = math.floor(at_ms / unit.ms)
            add(counts_for(sums, order, bucket_key(ctx, scope, unit.name, index), unit.ttl))
            local window = bucket_key(ctx, scope, unit.name, 'w')
            local w = windows[window]
            if not w then
                w = redis.call('HMGET', window, 'from', 'upto')
                windows[window] = w
            end
            if w[1] and index >= tonumber(w[1]) and index <= tonumber(w[2]) then
                add(counts_for(sums, order, window, unit.ttl))
            end
        end
    end
end

local function take(k)
    local flat = redis.call('LRANGE', k, '0', '-1')
    if #flat > 0 then
        redis.call('DEL', k)
    end
    return flat
end

-- Adds the queued responses and lead counts to their buckets, and to a window that already
-- holds their bucket: one HINCRBY per field changed, however many were queued.
local function fold_pending(ctx)
    local responses, leads = take(keys.rs_pending(ctx)), take(keys.rs_lead_pending(ctx))
    if #responses == 0 and #leads == 0 then
        return
    end
    local sums, order, windows = {}, {}, {}
    for i = 1, #responses, 4 do
        local seconds = tonumber(responses[i + 1])
        local bin = 'b' .. bin_of(seconds)
        each_bucket(ctx, sums, order, windows, tonumber(responses[i]), responses[i + 2],
            responses[i + 3], function(c) count(c, bin, seconds) end)
    end
    local width = 3 + #LEAD_COUNTS
    for i = 1, #leads, width do
        each_bucket(ctx, sums, order, windows, tonumber(leads[i]), leads[i + 1], leads[i + 2],
            function(c)
                for j, field in ipairs(LEAD_COUNTS) do
                    local by = tonumber(leads[i + 2 + j])
                    if by ~= 0 then
                        count_field(c, field, by)
                    end
                end
            end)
    end
    for _, k in ipairs(order) do
        add_to(k, sums[k], sums[k].ttl)
    end
end

-- "median 300" reads "half answered within 300 s" (never better than the truth; the mean is
-- exact).
local function quantile(counts, n, q)
    return bin_quantile(BINS, counts, n, q) or 0
end

-- part ÷ whole as a decimal with 4 places, rounded half up ("0.0000" when whole is 0).
local function share(part, whole)
    local q = whole > 0 and math.floor((2 * part * 10000 + whole) / (2 * whole)) or 0
    return string.format('%d.%04d', math.floor(q / 10000), q % 10000)
end

-- The lead counts of a window, and their shares of its leads.
local function lead_stats(d, totals)
    local leads = totals.leads or 0
    d.leads = leads
    for _, f in ipairs({ { 'answered', 'answered' }, { 'unanswered', 'unanswered' },
        { 'answered_within_callback', 'in_cb' }, { 'answered_within_idle', 'in_idle' } }) do
        local n = totals[f[2]] or 0
        d[f[1]] = n
        d[f[1] .. '_share'] = share(n, leads)
    end
    return d
end

local function window_stats(ctx, scope, unit, as_of)
    local last = math.floor(as_of / unit.ms)
    local n, sum, counts, totals = 0, 0, {}, {}
    for _, fields in ipairs({ slide(ctx, scope, unit, last),
        read_counts(bucket_key(ctx, scope, unit.name, last)) }) do
        for f, c in pairs(fields) do
            if f == 'n' then
                n = n + c
            elseif f == 'sum' then
                sum = sum + c
            elseif string.match(f, '^b%d+$') then
                local b = tonumber(string.sub(f, 2))
                counts[b] = (counts[b] or 0) + c
            elseif f ~= 'from' and f ~= 'upto' then
                totals[f] = (totals[f] or 0) + c
            end
        end
    end
    if n <= 0 then
        return lead_stats({ count = 0 }, totals)
    end
    return lead_stats({ count = n, mean_seconds = math.floor(sum / n + 0.5),
        median_seconds = quantile(counts, n, 0.5), p90_seconds = quantile(counts, n, 0.9) },
        totals)
end

on('deadline', 'response.stats', function(ctx, scope, due)
    publish_later(ctx, 'response.stats', scope, due)
    -- responses later than due were recorded while an earlier deadline was pending: due
    -- again once the clock reaches them
    local changed = tonumber(redis.call('ZSCORE', keys.rs_changed(ctx), scope))
    if changed and changed >= due then
        schedule(ctx, 'response.stats', scope, (math.floor(changed / 1000) + 1) * 1000)
    end
end)

on('publish', 'response.stats', function(ctx, scope, as_of)
    fold_pending(ctx)
    local kind, name = string.match(scope, '^(%a+):(.*)$')
    local d = { scope = kind or 'tenant', as_of = rfc3339(as_of),
        last_24h = window_stats(ctx, scope, UNITS[1], as_of),
        last_7d = window_stats(ctx, scope, UNITS[2], as_of) }
    if kind == 'manager' then
        d.manager_id = name
    elseif kind == 'channel' then
        d.channel = name
    end
    local json = cjson.encode(d)
    redis.call('HSET', keys.rs_latest(ctx), scope, json) -- for the HTTP API
    emit(ctx, 'response.stats', aggregate_key(ctx, 'rs|' .. scope), as_of,
        scope .. '|' .. int(as_of) .. '|' .. json, json)
end)
