-- risk.lua — potentially lost revenue, "who to call right now" (PRODUCT.md §4).
--
-- Every overdue task of a deal that is not won or lost (or of no deal) is a line of the
-- list. Aggregates are kept as lines come and go, so a summary costs the same with ten
-- overdue tasks or fifty thousand: risk_lines, risk_managers, risk_clients, risk_stake and
-- risk_deals (processor/keys.tab). What a line added is recorded on its task (l_* fields)
-- and what a deal adds to the stake on the deal (stake_minor, stake_currency), so removal
-- subtracts exactly that. The risk hash keeps the last summary for the HTTP API.
-- A change schedules risk.summary|<tenant> at the next whole second (kept if set); when it
-- fires the summary is due as of that second, and goes out once per batch (publish_due).

local LINE = { 'l_deal', 'l_client', 'l_manager', 'l_amount' }

function risk.changed(ctx, time_ms)
    local at = aggregate_time(ctx, time_ms)
    schedule_once(ctx, 'risk.summary', ctx.tenant, (math.floor(at / 1000) + 1) * 1000)
end

-- What an overdue task adds to the list now, or nil.
local function line_now(ctx, tk)
    local t = redis.call('HMGET', tk, 'overdue', 'status', 'deal_id', 'manager_id',
        'contact_name')
    if t[1] ~= '1' or t[2] ~= 'open' and t[2] then
        return nil
    end
    local line = { deal = t[3] or '', manager = t[4] or '-', amount = 0 }
    local client = t[5] or nil
    if t[3] then
        local d = redis.call('HMGET', keys.deal(ctx, t[3]), 'status', 'amount_minor',
            'contact_name', 'manager_id')
        if d[1] == 'won' or d[1] == 'lost' then
            return nil
        end
        line.amount = tonumber(d[2]) or 0
        client = client or d[3] or ('deal ' .. t[3])
        if line.manager == '-' and d[4] then
            line.manager = d[4]
        end
    end
    line.client = t[3] and client or ''
    return line
end

local function bump(ctx, line, sign, task_id)
    local step = int(sign)
    local lines = keys.risk_lines(ctx)
    if sign > 0 then
        redis.call('ZADD', lines, int(line.amount), task_id)
    else
        redis.call('ZREM', lines, task_id)
    end
    for _, z in ipairs({ { keys.risk_managers(ctx), line.manager },
        { keys.risk_clients(ctx), line.client } }) do
        if z[2] ~= '' then
            local zk = z[1]
            if tonumber(redis.call('ZINCRBY', zk, step, z[2])) <= 0 then
                redis.call('ZREM', zk, z[2])
            end
        end
    end
    if line.deal ~= '' then
        redis.call('HINCRBY', keys.risk_deals(ctx), line.deal, step)
    end
end

-- The deal's share of the amount at stake: its amount while it has lines, else nothing.
local function sync_stake(ctx, deal_id)
    local dk = keys.deal(ctx, deal_id)
    local n = tonumber(redis.call('HGET', keys.risk_deals(ctx), deal_id)) or 0
    local d = redis.call('HMGET', dk, 'amount_minor', 'currency', 'stake_minor', 'stake_currency')
    local want, currency = n > 0 and d[2] and tonumber(d[1]) or 0, d[2] or nil
    local had, had_currency = tonumber(d[3]) or 0, d[4] or nil
    if want == had and currency == had_currency then
        return
    end
    local stake = keys.risk_stake(ctx)
    if had_currency and had ~= 0 then
        redis.call('HINCRBY', stake, had_currency, int(-had))
    end
    if currency and want ~= 0 then
        redis.call('HINCRBY', stake, currency, int(want))
    end
    redis.call('HSET', dk, 'stake_minor', int(want), 'stake_currency', currency or '')
end

-- Brings one task's line in step with its state and its deal's.
function risk.sync_line(ctx, task_id, time_ms)
    local tk = keys.task(ctx, task_id)
    local had = redis.call('HMGET', tk, unpack(LINE))
    local now = line_now(ctx, tk)
    local old = had[1] and { deal = had[1], client = had[2], manager = had[3],
        amount = tonumber(had[4]) } or nil
    if old and now and old.deal == now.deal and old.client == now.client
        and old.manager == now.manager and old.amount == now.amount then
        return
    end
    if old then
        bump(ctx, old, -1, task_id)
        redis.call('HDEL', tk, unpack(LINE))
    end
    if now then
        bump(ctx, now, 1, task_id)
        redis.call('HSET', tk, 'l_deal', now.deal, 'l_client', now.client, 'l_manager',
            now.manager, 'l_amount', int(now.amount))
    end
    for _, deal_id in ipairs({ old and old.deal or '', now and now.deal or '' }) do
        if deal_id ~= '' then
            sync_stake(ctx, deal_id)
        end
    end
    risk.changed(ctx, time_ms)
end

-- After a deal changed (amount, status, contact): every overdue task of it.
function risk.sync_deal_lines(ctx, deal_id, time_ms)
    for _, task_id in ipairs(redis.call('SMEMBERS', keys.deal_overdue(ctx, deal_id))) do
        risk.sync_line(ctx, task_id, time_ms)
    end
    sync_stake(ctx, deal_id)
end

local function top(zset, name, limit)
    local list, flat = {}, redis.call('ZRANGE', zset, '+inf', '-inf', 'BYSCORE', 'REV',
        'LIMIT', '0', int(limit), 'WITHSCORES')
    for i = 1, #flat, 2 do
        list[#list + 1] = { [name] = flat[i], overdue_tasks = tonumber(flat[i + 1]) }
    end
    return list
end

-- The call-first list: the biggest amounts first, then the longest overdue.
local function call_first(ctx, as_of, limit)
    local flat = redis.call('ZRANGE', keys.risk_lines(ctx), '+inf', '-inf', 'BYSCORE', 'REV',
        'LIMIT', '0', int(limit * 2), 'WITHSCORES')
    local lines = {}
    for i = 1, #flat, 2 do
        local t = redis.call('HMGET', keys.task(ctx, flat[i]), 'due_ms', 'l_deal', 'lead_id',
            'l_manager', 'title', 'l_client')
        local due = tonumber(t[1]) or as_of
        lines[#lines + 1] = { task_id = flat[i], deal_id = t[2] ~= '' and t[2] or nil,
            lead_id = t[3] or nil, manager_id = t[4], title = t[5] or nil,
            client = t[6] ~= '' and t[6] or nil, minor = tonumber(flat[i + 1]),
            due_at = rfc3339(due), overdue_seconds = math.floor((as_of - due) / 1000) }
    end
    table.sort(lines, function(a, b)
        return a.minor > b.minor or (a.minor == b.minor and (a.overdue_seconds > b.overdue_seconds
            or (a.overdue_seconds == b.overdue_seconds and a.task_id < b.task_id)))
    end)
    local out = {}
    for i = 1, math.min(limit, #lines) do
        local line = lines[i]
        local deal_lead
        if line.deal_id then
            line.amount = money(line.minor)
            local d = redis.call('HMGET', keys.deal(ctx, line.deal_id), 'currency', 'lead_id')
            line.currency, deal_lead = d[1] or nil, d[2] or nil
        end
        line.phone = contacts.first_phone(ctx, line.lead_id or deal_lead) -- the task's, else the deal's
        line.minor = nil
        out[i] = line
    end
    return out
end

local function summary_json(ctx, as_of)
    local at_stake, flat = {}, redis.call('HGETALL', keys.risk_stake(ctx))
    for i = 1, #flat, 2 do
        if tonumber(flat[i + 1]) ~= 0 then
            at_stake[#at_stake + 1] = { currency = flat[i], amount = money(tonumber(flat[i + 1])) }
        end
    end
    table.sort(at_stake, function(a, b) return a.currency < b.currency end)
    local data = { as_of = rfc3339(as_of),
        clients_at_risk = redis.call('ZCARD', keys.risk_clients(ctx)),
        overdue_tasks = redis.call('ZCARD', keys.risk_lines(ctx)) }
    return encode_with_lists(data, { { 'at_stake', at_stake },
        { 'by_manager', top(keys.risk_managers(ctx), 'manager_id', 100) },
        { 'clients', top(keys.risk_clients(ctx), 'client', 100) },
        { 'call_first', call_first(ctx, as_of, 100) } })
end

on('deadline', 'risk.summary', function(ctx, _, due)
    publish_later(ctx, 'risk.summary', ctx.tenant, due)
end)

on('publish', 'risk.summary', function(ctx, _, as_of)
    local json = summary_json(ctx, as_of)
    redis.call('HSET', keys.risk(ctx), 'summary', json, 'as_of', int(as_of))
    emit(ctx, 'risk.summary', aggregate_key(ctx, 'risk'), as_of, int(as_of) .. '|' .. json,
        json)
end)
