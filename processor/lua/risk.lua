-- risk.lua — potentially lost revenue, "who to call right now" (PRODUCT.md §4).
--
-- State: lw:{t}:overdue zset task_id -> due_ms: every task overdue now (task.lua keeps it).
-- lw:{t}:risk hash: summary (the last risk.summary data, for the API).
-- A change schedules the deadline risk.summary|<tenant> at the next whole second (kept if
-- already set), so the summary is published at most once a second per tenant; it is valid
-- as of the clock it fires at (as_of).

local function risk_changed(ctx, time_ms)
    schedule_once(ctx, 'risk.summary', ctx.tenant, (math.floor(time_ms / 1000) + 1) * 1000)
end

-- One overdue task as a line of the list, or nil when its deal is won or lost.
local function call_first_line(ctx, task_id, due_ms, as_of)
    local t = redis.call('HMGET', key(ctx, 'task:' .. task_id), 'deal_id', 'lead_id',
        'manager_id', 'title', 'contact_name')
    local line = { task_id = task_id, deal_id = t[1] or nil, lead_id = t[2] or nil,
        manager_id = t[3] or nil, title = t[4] or nil, contact_name = t[5] or nil,
        overdue_seconds = math.floor((as_of - due_ms) / 1000), due_at = rfc3339(due_ms) }
    if line.deal_id then
        local d = redis.call('HMGET', key(ctx, 'deal:' .. line.deal_id), 'status',
            'amount_minor', 'currency', 'contact_name', 'manager_id')
        if d[1] == 'won' or d[1] == 'lost' then
            return nil
        end
        line.minor = tonumber(d[2]) or 0
        line.currency = d[3] or nil
        line.contact_name = line.contact_name or d[4] or nil
        line.manager_id = line.manager_id or d[5] or nil
    end
    line.client = line.contact_name or (line.deal_id and 'deal ' .. line.deal_id)
        or (line.lead_id and 'lead ' .. line.lead_id) or 'task ' .. task_id
    return line
end

local function sorted_counts(counts, name)
    local list = {}
    for k, n in pairs(counts) do
        table.insert(list, { [name] = k, overdue_tasks = n })
    end
    table.sort(list, function(a, b)
        return a.overdue_tasks > b.overdue_tasks
            or (a.overdue_tasks == b.overdue_tasks and a[name] < b[name])
    end)
    return list
end

local function summary_json(ctx, as_of)
    local overdue = redis.call('ZRANGE', key(ctx, 'overdue'), 0, -1, 'WITHSCORES')
    local lines, clients, deals_counted, stake, by_manager, n = {}, {}, {}, {}, {}, 0
    for i = 1, #overdue, 2 do
        local line = call_first_line(ctx, overdue[i], tonumber(overdue[i + 1]), as_of)
        if line then
            n = n + 1
            table.insert(lines, line)
            if line.deal_id then
                clients[line.client] = (clients[line.client] or 0) + 1
                if not deals_counted[line.deal_id] and line.currency then
                    deals_counted[line.deal_id] = true
                    stake[line.currency] = (stake[line.currency] or 0) + line.minor
                end
            end
            local m = line.manager_id or '-'
            by_manager[m] = (by_manager[m] or 0) + 1
        end
    end
    -- call the biggest money first; among equals, the longest overdue
    table.sort(lines, function(a, b)
        local am, bm = a.minor or 0, b.minor or 0
        return am > bm or (am == bm and (a.overdue_seconds > b.overdue_seconds
            or (a.overdue_seconds == b.overdue_seconds and a.task_id < b.task_id)))
    end)
    for _, line in ipairs(lines) do
        line.amount = line.minor and money(line.minor) or nil
        line.minor = nil
    end
    local at_stake, nclients = {}, 0
    for currency, minor in pairs(stake) do
        table.insert(at_stake, { currency = currency, amount = money(minor) })
    end
    table.sort(at_stake, function(a, b) return a.currency < b.currency end)
    for _ in pairs(clients) do
        nclients = nclients + 1
    end
    local data = { as_of = rfc3339(as_of), clients_at_risk = nclients, overdue_tasks = n }
    return encode_with_lists(data, { { 'at_stake', at_stake },
        { 'by_manager', sorted_counts(by_manager, 'manager_id') },
        { 'clients', sorted_counts(clients, 'client') }, { 'call_first', lines } })
end

-- Valid as of the clock it fires at: the state then holds every change up to that moment.
timer_handlers['risk.summary'] = function(ctx, _, due)
    local as_of = math.max(due, ctx.now)
    local json = summary_json(ctx, as_of)
    redis.call('HSET', key(ctx, 'risk'), 'summary', json, 'as_of', int(as_of))
    emit(ctx, 'risk.summary', 'risk|' .. ctx.tenant, as_of, int(due), json)
end
