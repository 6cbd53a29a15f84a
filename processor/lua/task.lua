-- task.lua — tasks: overdue and resolved, the overdue list, and the link to their deal.
--
-- State (processor/keys.tab): the task hash, and the deal_open and deal_overdue sets of its
-- deal; an overdue task is a line of the risk list (risk.lua). Deadline: task.due|<id> at
-- due_ms. Owns task.* events (task.completed also answers the lead it names: lead.lua).
-- A task may come before its deal: the link is kept and the deal fills in when it appears.
-- A task closed after its due time was overdue until then, whichever is read first.

local TASK_FIELDS = { 'deal_id', 'lead_id', 'manager_id', 'title', 'kind', 'contact_name' }

-- What the rules read of a task, in one HMGET: TASK_FIELDS (apply_fields) and the rest.
local TASK_STATE = { 'updated_ms', 'deal_id', 'lead_id', 'manager_id', 'title', 'kind',
    'contact_name', 'status', 'due_ms', 'closed_ms', 'overdue' }

-- A task's state from its hash as read_hash(k, TASK_STATE) read it.
local function task_state_of(h)
    return { status = h.status or 'open', due = tonumber(h.due_ms),
        closed = tonumber(h.closed_ms), overdue = h.overdue == '1', deal_id = h.deal_id,
        lead_id = h.lead_id, manager_id = h.manager_id, title = h.title, kind = h.kind,
        contact_name = h.contact_name }
end

local function task_state(k)
    return task_state_of(read_hash(k, TASK_STATE))
end

local function overdue_changed(ctx, task_id, s, time_ms)
    risk.sync_line(ctx, task_id, time_ms)
    manager.sync_task(ctx, task_id, time_ms)
    if s.deal_id then
        deal.evaluate(ctx, s.deal_id, time_ms)
    end
end

local function mark_overdue(ctx, task_id, k, s)
    redis.call('HSET', k, 'overdue', '1')
    if s.deal_id then
        redis.call('SADD', keys.deal_overdue(ctx, s.deal_id), task_id)
    end
    emit(ctx, 'task.overdue', task_id, s.due, task_id .. '|' .. int(s.due), {
        task_id = task_id, deal_id = s.deal_id, lead_id = s.lead_id, manager_id = s.manager_id,
        title = s.title, kind = s.kind, contact_name = s.contact_name, due_at = rfc3339(s.due) })
    overdue_changed(ctx, task_id, s, s.due)
end

local function resolve_overdue(ctx, task_id, k, s, time_ms, resolution)
    redis.call('HSET', k, 'overdue', '0')
    if s.deal_id then
        redis.call('SREM', keys.deal_overdue(ctx, s.deal_id), task_id)
    end
    emit(ctx, 'task.overdue_resolved', task_id, time_ms,
        task_id .. '|' .. resolution .. '|' .. int(time_ms), {
            task_id = task_id, deal_id = s.deal_id, lead_id = s.lead_id,
            manager_id = s.manager_id, resolution = resolution, resolved_at = rfc3339(time_ms),
            overdue_seconds = math.floor((time_ms - s.due) / 1000) })
    overdue_changed(ctx, task_id, s, time_ms)
end

local function link_to_deal(ctx, task_id, s, time_ms, f)
    if not s.deal_id then
        return
    end
    local open_set = keys.deal_open(ctx, s.deal_id)
    if s.status == 'open' then
        redis.call('SADD', open_set, task_id)
    else
        redis.call('SREM', open_set, task_id)
    end
    deal.evaluate(ctx, s.deal_id, time_ms, deal.check_next_step(ctx, s.deal_id, time_ms,
        f.no_next_step_ms))
end

-- Fields and the new due time in one HSET. A later due time resolves the overdue task and
-- sets the new deadline; a stale event only fills a due time still unknown.
local function task_upsert(ctx, f, t)
    local k = keys.task(ctx, f.task_id)
    local h = read_hash(k, TASK_STATE)
    local stale = is_stale(h, t)
    local old_due, due, extra = h.due_ms, nil, nil
    if f.due_ms and not stale then
        due = tonumber(f.due_ms)
        extra = { 'due_ms', int(due), 'due_month', f.due_month }
    elseif f.due_ms and not h.due_ms then
        extra = { 'due_ms', f.due_ms, 'due_month', f.due_month }
    end
    apply_fields(ctx, k, f, t, TASK_FIELDS, h, extra, true)
    local s = task_state_of(h)
    if due and s.status == 'open' then
        s.due = tonumber(old_due) -- the due time it was overdue for
        if s.overdue and due > t and due > s.due then
            resolve_overdue(ctx, f.task_id, k, s, t, 'rescheduled')
        end
        schedule(ctx, 'task.due', f.task_id, due)
    end
    link_to_deal(ctx, f.task_id, s, t, f) -- reads only its status and deal
    if h.overdue == '1' and (f.manager_id or f.due_ms) then -- its share may move
        manager.sync_task(ctx, f.task_id, t)
    end
end

local function close_task(ctx, f, t, status)
    local k = keys.task(ctx, f.task_id)
    local h = read_hash(k, TASK_STATE)
    local closing = not is_stale(h, t) and (h.status or 'open') == 'open'
    apply_fields(ctx, k, f, t, TASK_FIELDS, h, closing and { 'status', status,
        'closed_ms', int(t) } or nil, true)
    if not closing then
        return
    end
    local s = task_state_of(h)
    unschedule(ctx, 'task.due', f.task_id)
    if s.overdue then
        resolve_overdue(ctx, f.task_id, k, s, t, status)
    elseif s.due and s.due < t then
        -- closed after its due time, read before the deadline fired: it was overdue
        mark_overdue(ctx, f.task_id, k, s)
        resolve_overdue(ctx, f.task_id, k, s, t, status)
    end
    link_to_deal(ctx, f.task_id, s, t, f)
end

-- A completed task that names a lead is also a response to it (lead.lua), after the task.
local function completed(ctx, f, t)
    close_task(ctx, f, t, 'completed')
    if f.lead_id then
        lead.record_response(ctx, f.lead_id, t, 'task.completed')
    end
end

local function due(ctx, task_id, due_ms)
    local k = keys.task(ctx, task_id)
    local s = task_state(k)
    if s.status == 'open' and s.due == due_ms and not s.overdue then
        mark_overdue(ctx, task_id, k, s)
    end
end

on('event', 'task.created', task_upsert)
on('event', 'task.updated', task_upsert)
on('event', 'task.completed', completed)
on('event', 'task.deleted', function(ctx, f, t)
    close_task(ctx, f, t, 'deleted')
end)
on('deadline', 'task.due', due)
