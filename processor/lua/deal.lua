-- deal.lua — deals: state, deals at risk (overdue_tasks, no_next_step, stalled), and their
-- share of the loss totals (loss.lua).
--
-- State (processor/keys.tab): the deal hash, and its deal_open and deal_overdue sets of
-- task ids (kept by task.lua). Owns deal.* events; a deal's change moves its lines of the
-- risk list (risk.lua), its share of the loss totals (loss.lua) and of the funnel
-- (funnel.lua).
-- Deadlines: deal.no_next_step|<id> (no open task for no_next_step_ms), deal.stalled|<id>.
-- A deal known only through its tasks counts as open: its events may come later.

local DEAL_FIELDS = { 'amount_minor', 'currency', 'manager_id', 'lead_id', 'contact_name' }
-- What the rules read of a deal, in one HMGET, handed down as a table kept up to date.
local DEAL_STATE = { 'updated_ms', 'amount_minor', 'currency', 'manager_id', 'lead_id',
    'contact_name', 'stage', 'status', 'no_next_step_ms', 'no_next_step', 'stalled', 'risk',
    'risk_amount', 'risk_since', 'won_day', 'w_day', 'w_currency', 'w_amount' }

local function deal_is_open(k)
    local status = redis.call('HGET', k, 'status')
    return not status or status == 'open'
end

local function oldest_overdue_ms(ctx, deal_id)
    local oldest
    for _, task_id in ipairs(redis.call('SMEMBERS', keys.deal_overdue(ctx, deal_id))) do
        local due = tonumber(redis.call('HGET', keys.task(ctx, task_id), 'due_ms'))
        if due and (not oldest or due < oldest) then
            oldest = due
        end
    end
    return oldest
end

-- Publishes deal.at_risk when its reasons or its amount change while at risk, and
-- deal.risk_cleared when none holds any more or the deal is won or lost. Ids are of the
-- episode (the deal and the moment its risk began), what is reported of it and when it
-- changed (reasons can go and come back within one episode). h: the deal's
-- hash as read_hash(k, DEAL_STATE) read it and the caller wrote it since (read here when nil).
function deal.evaluate(ctx, deal_id, time_ms, h)
    risk.sync_deal_lines(ctx, deal_id, time_ms) -- writes only the deal's stake_* fields
    local k = keys.deal(ctx, deal_id)
    h = h or read_hash(k, DEAL_STATE)
    local open = not h.status or h.status == 'open'
    local reasons, overdue = {}, 0
    if open then
        overdue = redis.call('SCARD', keys.deal_overdue(ctx, deal_id))
        if overdue > 0 then
            table.insert(reasons, 'overdue_tasks')
        end
        if h.no_next_step == '1' then
            table.insert(reasons, 'no_next_step')
        end
        if h.stalled == '1' then
            table.insert(reasons, 'stalled')
        end
    end
    local now, was = table.concat(reasons, ','), h.risk or ''
    local amount = (h.amount_minor or '') .. ' ' .. (h.currency or '')
    if now == was and (now == '' or amount == (h.risk_amount or '')) then
        return
    end
    local since = was == '' and int(time_ms) or h.risk_since or int(time_ms)
    redis.call('HSET', k, 'risk', now, 'risk_amount', amount, 'risk_since', since)
    h.risk, h.risk_amount, h.risk_since = now, amount, since
    local d = { deal_id = deal_id, lead_id = h.lead_id, manager_id = h.manager_id,
        contact_name = h.contact_name, amount = h.amount_minor and money(tonumber(h.amount_minor))
        or nil, currency = h.currency }
    if now == '' then
        d.cleared_by = open and 'resolved' or ('deal.' .. h.status)
        emit(ctx, 'deal.risk_cleared', deal_id, time_ms, deal_id .. '|clear|' .. since, d)
    else
        d.overdue_tasks = overdue
        local oldest = oldest_overdue_ms(ctx, deal_id)
        d.oldest_overdue_seconds = oldest and math.floor((time_ms - oldest) / 1000) or 0
        emit(ctx, 'deal.at_risk', deal_id, time_ms,
            deal_id .. '|' .. since .. '|' .. now .. '|' .. amount .. '|' .. int(time_ms),
            encode_with_lists(d, { { 'reasons', reasons } }))
    end
    risk.changed(ctx, time_ms)
end

-- An open deal without an open task gets the no_next_step deadline; one with a task loses it.
-- Appends what to write to the deal hash to writes (field, value pairs); returns whether
-- the deadline is set (else the caller unschedules it). h: the deal's hash, status current.
local function next_step(ctx, deal_id, h, after_ms, writes)
    after_ms = tonumber(after_ms) or tonumber(h.no_next_step_ms)
    if after_ms then
        writes[#writes + 1] = 'no_next_step_ms'
        writes[#writes + 1] = int(after_ms)
    end
    local open = not h.status or h.status == 'open'
    if open and after_ms and after_ms > 0
        and redis.call('SCARD', keys.deal_open(ctx, deal_id)) == 0 then
        return true, after_ms
    end
    writes[#writes + 1] = 'no_next_step'
    writes[#writes + 1] = '0'
    return false
end

-- next_step for a deal whose task changed; returns the deal's hash for deal.evaluate.
function deal.check_next_step(ctx, deal_id, time_ms, after_ms)
    local k = keys.deal(ctx, deal_id)
    local h = read_hash(k, DEAL_STATE)
    local writes = {}
    local set, after = next_step(ctx, deal_id, h, after_ms, writes)
    if set then
        schedule_once(ctx, 'deal.no_next_step', deal_id, time_ms + after)
    else
        unschedule(ctx, 'deal.no_next_step', deal_id)
    end
    write_hash(k, h, writes)
    return h
end

-- Every deal event: fields, stage, status and next step in one HSET, then the deadlines,
-- then what follows from them. A stale event only fills the stage and status still unknown.
local function deal_event(status)
    return function(ctx, f, t)
        local k = keys.deal(ctx, f.deal_id)
        local h = read_hash(k, DEAL_STATE)
        local stale = is_stale(h, t)
        local extra = {}
        local function put(name, value)
            extra[#extra + 1] = name
            extra[#extra + 1] = value
            if name == 'status' and value == 'won' and f.day then
                put('won_day', f.day) -- its local day: the conversion of estimate.lua
            end
        end
        -- stage: a new one restarts the stalled deadline
        local restaged, limit = false, 0
        if f.stage and stale then
            if not h.stage then
                put('stage', f.stage)
                put('stage_since_ms', int(t))
            end
        elseif f.stage and h.stage ~= f.stage then
            restaged, limit = true, tonumber(f.stalled_after_ms) or 0
            if f.stalled_learn and limit > 0 then -- no limit of its own: what is normal here
                limit = funnel.stall_after_ms(ctx, f, t, limit)
            end
            put('stage', f.stage)
            put('stage_since_ms', int(t))
            put('stalled', '0')
            put('stalled_after_ms', int(limit))
        end
        -- status: deal.created/updated/stage_changed only fill it in
        local st = status or 'open'
        if stale or (status == nil and h.status) then
            if not h.status then
                put('status', st)
            end
        else
            put('status', st)
            if st == 'lost' then
                if f.loss_reason and f.loss_key and f.loss_class and f.day and f.month then
                    put('loss_reason', f.loss_reason)
                    put('loss_key', f.loss_key)
                    put('loss_class', f.loss_class)
                    put('lost_day', f.day)
                    put('lost_month', f.month)
                else -- fails as it always did: Redis takes no nil argument
                    redis.call('HSET', k, 'loss_reason', f.loss_reason, 'loss_key', f.loss_key,
                        'loss_class', f.loss_class, 'lost_day', f.day, 'lost_month', f.month)
                end
            end
        end
        local status_now = h.status
        for i = 1, #extra, 2 do
            if extra[i] == 'status' then
                status_now = extra[i + 1]
            end
        end
        local open = not status_now or status_now == 'open'
        local next_set, next_after = next_step(ctx, f.deal_id, { status = status_now,
            no_next_step_ms = h.no_next_step_ms }, f.no_next_step_ms, extra)
        apply_fields(ctx, k, f, t, DEAL_FIELDS, h, extra, true) -- one HSET; kept while open
        -- deadlines: one ZREM for those that go
        local gone = {}
        if not open or (restaged and limit <= 0) then
            gone[#gone + 1] = 'deal.stalled|' .. f.deal_id
        elseif restaged then
            schedule(ctx, 'deal.stalled', f.deal_id, t + limit)
        end
        if next_set then
            schedule_once(ctx, 'deal.no_next_step', f.deal_id, t + next_after)
        else
            gone[#gone + 1] = 'deal.no_next_step|' .. f.deal_id
        end
        if #gone > 0 then
            redis.call('ZREM', keys.timers(ctx), unpack(gone))
        end
        loss.update_totals(ctx, k, t)
        estimate.sync_deal(ctx, k, h, t)
        funnel.update(ctx, f, t)
        manager.sync_deal(ctx, k, f.month, t)
        deal.evaluate(ctx, f.deal_id, t, h)
    end
end

local function no_next_step_due(ctx, deal_id, due)
    local k = keys.deal(ctx, deal_id)
    if deal_is_open(k) and redis.call('SCARD', keys.deal_open(ctx, deal_id)) == 0 then
        redis.call('HSET', k, 'no_next_step', '1')
        deal.evaluate(ctx, deal_id, due)
    end
end

local function stalled_due(ctx, deal_id, due)
    local k = keys.deal(ctx, deal_id)
    local v = redis.call('HMGET', k, 'stage_since_ms', 'stalled_after_ms')
    if deal_is_open(k) and tonumber(v[1]) + tonumber(v[2]) <= due then
        redis.call('HSET', k, 'stalled', '1')
        deal.evaluate(ctx, deal_id, due)
    end
end

on('event', 'deal.created', deal_event(nil))
on('event', 'deal.updated', deal_event(nil))
on('event', 'deal.stage_changed', deal_event(nil))
on('event', 'deal.won', deal_event('won'))
on('event', 'deal.lost', deal_event('lost'))
on('event', 'deal.reopened', deal_event('open'))
on('deadline', 'deal.no_next_step', no_next_step_due)
on('deadline', 'deal.stalled', stalled_due)
