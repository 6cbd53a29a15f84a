-- deal.lua — deals: state, deals at risk (overdue_tasks, no_next_step, stalled), and their
-- share of the loss totals (loss.lua).
--
-- State: lw:{t}:deal:<id> hash: amount_minor, currency, stage, stage_since_ms,
--   stalled_after_ms, manager_id, lead_id, contact_name, status (open|won|lost),
--   loss_reason, loss_key, loss_class, lost_day, lost_month, updated_ms,
--   no_next_step (1 while it holds), stalled (1 while it holds),
--   risk (the reasons last published, "" when not at risk), risk_amount, c_* (loss share).
-- lw:{t}:deal:<id>:open and :overdue sets: its open and its overdue task ids (task.lua).
-- Deadlines: deal.no_next_step|<id> (no open task for no_next_step_ms), deal.stalled|<id>.
-- A deal known only through its tasks counts as open: its events may come later.

local DEAL_FIELDS = { 'amount_minor', 'currency', 'manager_id', 'lead_id', 'contact_name' }

local function deal_key(ctx, deal_id)
    return key(ctx, 'deal:' .. deal_id)
end

local function deal_is_open(k)
    local status = redis.call('HGET', k, 'status')
    return not status or status == 'open'
end

local function oldest_overdue_ms(ctx, k)
    local oldest
    for _, task_id in ipairs(redis.call('SMEMBERS', k .. ':overdue')) do
        local due = tonumber(redis.call('HGET', key(ctx, 'task:' .. task_id), 'due_ms'))
        if due and (not oldest or due < oldest) then
            oldest = due
        end
    end
    return oldest
end

local function risk_reasons(k, open)
    local reasons = {}
    if not open then
        return reasons
    end
    if redis.call('SCARD', k .. ':overdue') > 0 then
        table.insert(reasons, 'overdue_tasks')
    end
    local v = redis.call('HMGET', k, 'no_next_step', 'stalled')
    if v[1] == '1' then
        table.insert(reasons, 'no_next_step')
    end
    if v[2] == '1' then
        table.insert(reasons, 'stalled')
    end
    return reasons
end

-- Publishes deal.at_risk when its reasons or its amount change while at risk, and
-- deal.risk_cleared when none holds any more or the deal is won or lost.
local function evaluate_deal(ctx, deal_id, time_ms)
    sync_deal_lines(ctx, deal_id, time_ms)
    local k = deal_key(ctx, deal_id)
    local v = redis.call('HMGET', k, 'status', 'amount_minor', 'currency', 'manager_id',
        'contact_name', 'lead_id', 'risk', 'risk_amount')
    local open = not v[1] or v[1] == 'open'
    local reasons = risk_reasons(k, open)
    local now, was = table.concat(reasons, ','), v[7] or ''
    local amount = (v[2] or '') .. ' ' .. (v[3] or '')
    if now == was and (now == '' or amount == (v[8] or '')) then
        return
    end
    redis.call('HSET', k, 'risk', now, 'risk_amount', amount)
    local d = { deal_id = deal_id, lead_id = v[6] or nil, manager_id = v[4] or nil,
        contact_name = v[5] or nil, amount = v[2] and money(tonumber(v[2])) or nil,
        currency = v[3] or nil }
    if now == '' then
        d.cleared_by = open and 'resolved' or ('deal.' .. v[1])
        emit(ctx, 'deal.risk_cleared', deal_id, time_ms, deal_id .. '|clear|' .. int(time_ms), d)
    else
        d.overdue_tasks = redis.call('SCARD', k .. ':overdue')
        local oldest = oldest_overdue_ms(ctx, k)
        d.oldest_overdue_seconds = oldest and math.floor((time_ms - oldest) / 1000) or 0
        emit(ctx, 'deal.at_risk', deal_id, time_ms,
            deal_id .. '|' .. now .. '|' .. amount .. '|' .. int(time_ms),
            encode_with_lists(d, { { 'reasons', reasons } }))
    end
    risk_changed(ctx, time_ms)
end

-- An open deal without an open task gets the no_next_step deadline; one with a task loses it.
local function check_next_step(ctx, deal_id, time_ms, after_ms)
    local k = deal_key(ctx, deal_id)
    after_ms = tonumber(after_ms) or tonumber(redis.call('HGET', k, 'no_next_step_ms'))
    if after_ms then
        redis.call('HSET', k, 'no_next_step_ms', int(after_ms))
    end
    if deal_is_open(k) and redis.call('SCARD', k .. ':open') == 0 and after_ms and after_ms > 0 then
        schedule_once(ctx, 'deal.no_next_step', deal_id, time_ms + after_ms)
    else
        unschedule(ctx, 'deal.no_next_step', deal_id)
        redis.call('HSET', k, 'no_next_step', '0')
    end
end

local function track_stage(ctx, k, deal_id, f, time_ms, stale)
    if not f.stage then
        return
    end
    if stale then
        if redis.call('HSETNX', k, 'stage', f.stage) == 1 then
            redis.call('HSET', k, 'stage_since_ms', int(time_ms))
        end
        return
    end
    if redis.call('HGET', k, 'stage') == f.stage then
        return
    end
    local limit = tonumber(f.stalled_after_ms) or 0
    redis.call('HSET', k, 'stage', f.stage, 'stage_since_ms', int(time_ms), 'stalled', '0',
        'stalled_after_ms', int(limit))
    unschedule(ctx, 'deal.stalled', deal_id)
    if limit > 0 then
        schedule(ctx, 'deal.stalled', deal_id, time_ms + limit)
    end
end

local function set_status(k, status, f, stale)
    if stale then
        redis.call('HSETNX', k, 'status', status)
        return
    end
    redis.call('HSET', k, 'status', status)
    if status == 'lost' then
        redis.call('HSET', k, 'loss_reason', f.loss_reason, 'loss_key', f.loss_key, 'loss_class',
            f.loss_class, 'lost_day', f.day, 'lost_month', f.month)
    end
end

-- Every deal event: fields, stage, status, then what follows from them.
local function deal_event(status)
    return function(ctx, f, t)
        local k = deal_key(ctx, f.deal_id)
        local stale = apply_fields(k, f, t, DEAL_FIELDS)
        track_stage(ctx, k, f.deal_id, f, t, stale)
        set_status(k, status or 'open', f, stale or (status == nil and redis.call('HEXISTS', k,
            'status') == 1))
        if not deal_is_open(k) then
            unschedule(ctx, 'deal.stalled', f.deal_id)
        end
        check_next_step(ctx, f.deal_id, t, f.no_next_step_ms)
        update_loss_totals(ctx, k, t, ctx.event_id)
        evaluate_deal(ctx, f.deal_id, t)
    end
end

on('deal.created', deal_event(nil))
on('deal.updated', deal_event(nil))
on('deal.stage_changed', deal_event(nil))
on('deal.won', deal_event('won'))
on('deal.lost', deal_event('lost'))
on('deal.reopened', deal_event('open'))

timer_handlers['deal.no_next_step'] = function(ctx, deal_id, due)
    local k = deal_key(ctx, deal_id)
    if deal_is_open(k) and redis.call('SCARD', k .. ':open') == 0 then
        redis.call('HSET', k, 'no_next_step', '1')
        evaluate_deal(ctx, deal_id, due)
    end
end

timer_handlers['deal.stalled'] = function(ctx, deal_id, due)
    local k = deal_key(ctx, deal_id)
    local v = redis.call('HMGET', k, 'stage_since_ms', 'stalled_after_ms')
    if deal_is_open(k) and tonumber(v[1]) + tonumber(v[2]) <= due then
        redis.call('HSET', k, 'stalled', '1')
        evaluate_deal(ctx, deal_id, due)
    end
end
