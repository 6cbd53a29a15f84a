-- loss.lua — where the money was lost (PRODUCT.md §3): lost deals summed per tenant,
-- period (day and month of the deal.lost time in the tenant's time zone) and currency, per
-- reason and per class. Reasons arrive classified by processor/transition.c (loss_key, the
-- canonical reason; loss_class: nontarget, manageable, objective or unclassified).
--
-- State (processor/keys.tab): a loss hash per period and currency, loss_periods and
-- loss_latest (the HTTP API reads it). deal.lua calls update_totals on every deal change.
-- A change marks its period and currency due; the totals go out once per batch.
-- Each lost deal remembers its share (c_* fields of its hash), so a reopened deal, a new
-- amount or a new reason moves the totals, and the same event applied twice changes nothing.

local CONTRIBUTION = { 'c_day', 'c_month', 'c_currency', 'c_reason', 'c_class', 'c_amount',
    'c_manager' }
local TARGET_CLASSES = { manageable = true, objective = true, unclassified = true }

local function add_share(ctx, c, sign)
    local step = int(sign)
    for _, period in ipairs({ c.day, c.month }) do
        local k = keys.loss(ctx, period, c.currency)
        for _, bucket in ipairs({ c.class, 'target' }) do
            redis.call('HINCRBY', k, bucket .. '|count', step)
            redis.call('HINCRBY', k, bucket .. '|amount', int(sign * c.amount)) -- int: never "-0"
        end
        redis.call('HINCRBY', k, 'r|' .. c.reason .. '|count', step)
        redis.call('HINCRBY', k, 'r|' .. c.reason .. '|amount', int(sign * c.amount))
        redis.call('HSET', k, 'r|' .. c.reason .. '|class', c.class)
        local m = 'm|' .. c.manager .. '|' .. c.reason
        redis.call('HINCRBY', k, m .. '|count', step)
        redis.call('HINCRBY', k, m .. '|amount', int(sign * c.amount))
        redis.call('SADD', keys.loss_periods(ctx), period .. ':' .. c.currency)
    end
end

-- What a deal adds to the totals now: nothing unless lost for a target reason.
local function share_now(k)
    local v = redis.call('HMGET', k, 'status', 'lost_day', 'lost_month', 'currency', 'loss_key',
        'loss_class', 'amount_minor', 'manager_id')
    if v[1] ~= 'lost' or not v[2] or not v[5] or not TARGET_CLASSES[v[6]] then
        return nil
    end
    return { day = v[2], month = v[3], currency = v[4] or '-', reason = v[5], class = v[6],
        amount = tonumber(v[7]) or 0, manager = v[8] or '-' }
end

local function share_recorded(k)
    local v = redis.call('HMGET', k, unpack(CONTRIBUTION))
    if not v[1] then
        return nil
    end
    return { day = v[1], month = v[2], currency = v[3], reason = v[4], class = v[5],
        amount = tonumber(v[6]), manager = v[7] }
end

local function same_share(a, b)
    if a == nil or b == nil then
        return a == b
    end
    for _, f in ipairs({ 'day', 'month', 'currency', 'reason', 'class', 'amount', 'manager' }) do
        if a[f] ~= b[f] then
            return false
        end
    end
    return true
end

local function sum_of(h, bucket)
    return { count = tonumber(h[bucket .. '|count']) or 0,
        amount = money(tonumber(h[bucket .. '|amount']) or 0) }
end

-- The loss.totals event of one period and currency, from its hash. Its id is of the totals
-- themselves: the same totals are the same fact, whichever event led to them.
local function emit_totals(ctx, period, currency, time_ms)
    local flat = redis.call('HGETALL', keys.loss(ctx, period, currency))
    local h = {}
    for i = 1, #flat, 2 do
        h[flat[i]] = flat[i + 1]
    end
    local reasons, managers = {}, {}
    for field, _ in pairs(h) do
        local reason = string.match(field, '^r|(.*)|class$')
        if reason and (tonumber(h['r|' .. reason .. '|count']) or 0) > 0 then
            local s = sum_of(h, 'r|' .. reason)
            table.insert(reasons, { reason = reason, class = h[field], count = s.count,
                amount = s.amount, minor = tonumber(h['r|' .. reason .. '|amount']) })
        end
        local manager, mreason = string.match(field, '^m|(.-)|(.*)|count$')
        if manager and (tonumber(h[field]) or 0) > 0 then
            local s = sum_of(h, 'm|' .. manager .. '|' .. mreason)
            table.insert(managers, { manager_id = manager, reason = mreason, count = s.count,
                amount = s.amount })
        end
    end
    table.sort(reasons, function(a, b)
        return a.minor > b.minor or (a.minor == b.minor and a.reason < b.reason)
    end)
    for _, r in ipairs(reasons) do
        r.minor = nil
    end
    table.sort(managers, function(a, b)
        return a.manager_id < b.manager_id or (a.manager_id == b.manager_id and a.reason < b.reason)
    end)
    local data = { period = period, period_kind = #period == 7 and 'month' or 'day',
        currency = currency, manageable = sum_of(h, 'manageable'),
        objective = sum_of(h, 'objective'), unclassified = sum_of(h, 'unclassified'),
        target = sum_of(h, 'target') }
    local json = encode_with_lists(data, { { 'reasons', reasons }, { 'by_manager', managers } })
    redis.call('HSET', keys.loss_latest(ctx), period .. ':' .. currency, json) -- for the API
    emit(ctx, 'loss.totals', aggregate_key(ctx, 'loss|' .. period .. '|' .. currency), time_ms,
        period .. '|' .. currency .. '|' .. json, json)
end

-- Moves the deal's share of the totals to what its state says now, and marks the totals of
-- every period and currency that changed due.
function loss.update_totals(ctx, k, time_ms)
    local before, after = share_recorded(k), share_now(k)
    if same_share(before, after) then
        return
    end
    local touched = {}
    if before then
        add_share(ctx, before, -1)
        redis.call('HDEL', k, unpack(CONTRIBUTION))
        touched[before.day .. ':' .. before.currency] = { before.day, before.currency }
        touched[before.month .. ':' .. before.currency] = { before.month, before.currency }
    end
    if after then
        add_share(ctx, after, 1)
        redis.call('HSET', k, 'c_day', after.day, 'c_month', after.month, 'c_currency',
            after.currency, 'c_reason', after.reason, 'c_class', after.class, 'c_amount',
            int(after.amount), 'c_manager', after.manager)
        touched[after.day .. ':' .. after.currency] = { after.day, after.currency }
        touched[after.month .. ':' .. after.currency] = { after.month, after.currency }
    end
    for _, pc in pairs(touched) do
        publish_later(ctx, 'loss.totals', pc[1] .. '|' .. pc[2], time_ms)
    end
end

on('publish', 'loss.totals', function(ctx, scope, time_ms)
    local period, currency = string.match(scope, '^(.-)|(.*)$')
    emit_totals(ctx, period, currency, time_ms)
end)
