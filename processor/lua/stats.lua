-- stats.lua — rolling response times (response.stats) per tenant, per manager and per
-- channel over the last 24 h and 7 d: count, mean, median, p90.
--
-- State: time-bucketed histograms, never lists of samples:
--   lw:{t}:rs:<scope>:h:<hour>  and  lw:{t}:rs:<scope>:d:<day>  hashes:
--   "n" (count), "sum" (seconds), "b<i>" (count in bin i of BINS)
-- scope: "tenant", "manager:<id>" or "channel:<name>". Hour buckets live 26 h, day buckets
-- 8 d. Deadline response.stats|<scope> publishes a scope at most once a second.

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

local function bucket_key(ctx, scope, unit, index)
    return key(ctx, 'rs:' .. scope .. ':' .. unit .. ':' .. int(index))
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

-- Adds one first response (at at_ms, taking seconds) to every scope it belongs to.
local function record_response_time(ctx, seconds, at_ms, manager_id, channel)
    local bin = 'b' .. bin_of(seconds)
    for _, scope in ipairs(scopes_of(manager_id, channel)) do
        for _, b in ipairs({ { 'h', math.floor(at_ms / HOUR_MS), 26 * HOUR_MS },
            { 'd', math.floor(at_ms / DAY_MS), 8 * DAY_MS } }) do
            local k = bucket_key(ctx, scope, b[1], b[2])
            redis.call('HINCRBY', k, 'n', 1)
            redis.call('HINCRBY', k, 'sum', seconds)
            redis.call('HINCRBY', k, bin, 1)
            redis.call('PEXPIRE', k, b[3])
        end
        schedule_once(ctx, 'response.stats', scope, (math.floor(at_ms / 1000) + 1) * 1000)
    end
end

-- The quantile q of a histogram: the upper edge of the bin it falls in, so "median 300"
-- reads "half answered within 300 s" (never better than the truth; the mean is exact).
local function quantile(counts, n, q)
    local rank, seen = q * n, 0
    for i, upper in ipairs(BINS) do
        seen = seen + (counts[i] or 0)
        if seen >= rank and seen > 0 then
            return upper
        end
    end
    return 0
end

local function window_stats(ctx, scope, unit, last, count)
    local n, sum, counts = 0, 0, {}
    for index = last - count + 1, last do
        local v = redis.call('HGETALL', bucket_key(ctx, scope, unit, index))
        for i = 1, #v, 2 do
            local f, c = v[i], tonumber(v[i + 1])
            if f == 'n' then
                n = n + c
            elseif f == 'sum' then
                sum = sum + c
            else
                local b = tonumber(string.sub(f, 2))
                counts[b] = (counts[b] or 0) + c
            end
        end
    end
    if n == 0 then
        return { count = 0 }
    end
    return { count = n, mean_seconds = math.floor(sum / n + 0.5),
        median_seconds = quantile(counts, n, 0.5), p90_seconds = quantile(counts, n, 0.9) }
end

timer_handlers['response.stats'] = function(ctx, scope, due)
    local as_of = math.max(due, ctx.now)
    local kind, name = string.match(scope, '^(%a+):(.*)$')
    local d = { scope = kind or 'tenant', as_of = rfc3339(as_of),
        last_24h = window_stats(ctx, scope, 'h', math.floor(as_of / HOUR_MS), 24),
        last_7d = window_stats(ctx, scope, 'd', math.floor(as_of / DAY_MS), 7) }
    if kind == 'manager' then
        d.manager_id = name
    elseif kind == 'channel' then
        d.channel = name
    end
    emit(ctx, 'response.stats', 'rs|' .. scope, as_of, scope .. '|' .. int(due), d)
end
