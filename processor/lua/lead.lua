-- lead.lua — lead state, first response, and the idle and call-back deadlines.
--
-- State: lw:{t}:lead:<lead_id> hash: created_ms, updated_ms, manager_id, channel, status,
--   closed_ms, closed_reason, resp_ms (earliest response), resp_by, responded_sent,
--   idle_after_ms, callback_after_ms, idle_fired, callback_fired, dup_of.
-- Deadlines: lead.callback_due|<id> and lead.idle|<id> in lw:{t}:timers.
-- Every decision compares event times (a response counts only if it came before the
-- deadline), so the outcome does not depend on the order events are read in.

local LEAD_FIELDS = { 'manager_id', 'channel', 'status', 'pipeline_id' }

local function lead_key(ctx, lead_id)
    return key(ctx, 'lead:' .. lead_id)
end

local function lead_state(k)
    local v = redis.call('HMGET', k, 'created_ms', 'resp_ms', 'resp_by', 'closed_ms', 'dup_of',
        'manager_id', 'channel', 'idle_after_ms', 'callback_after_ms', 'responded_sent')
    return {
        created = tonumber(v[1]), resp = tonumber(v[2]), resp_by = v[3] or nil,
        closed = tonumber(v[4]), dup_of = v[5] or nil, manager_id = v[6] or nil,
        channel = v[7] or nil, idle_after = tonumber(v[8]), callback_after = tonumber(v[9]),
        responded_sent = v[10] or nil,
    }
end

local function lead_data(lead_id, s)
    return { lead_id = lead_id, manager_id = s.manager_id, channel = s.channel,
        created_at = rfc3339(s.created) }
end

-- A deadline that the (earliest) response or the closing came in time for never fires.
local function deadline_met(s, due)
    return (s.resp ~= nil and s.resp <= due) or (s.closed ~= nil and s.closed <= due)
        or s.dup_of ~= nil
end

-- Emits lead.responded once both the creation and a response are known, in either order.
local function emit_responded_if_known(ctx, lead_id, k)
    local s = lead_state(k)
    if s.responded_sent or s.created == nil or s.resp == nil then
        return
    end
    redis.call('HSET', k, 'responded_sent', '1')
    local at = math.max(s.resp, s.created)
    local d = lead_data(lead_id, s)
    d.response_seconds = math.floor((at - s.created) / 1000)
    d.responded_by = s.resp_by
    d.responded_at = rfc3339(at)
    emit(ctx, 'lead.responded', lead_id, at, lead_id, d)
    record_response_time(ctx, d.response_seconds, at, s.manager_id, s.channel)
    if s.callback_after and at <= s.created + s.callback_after then
        unschedule(ctx, 'lead.callback_due', lead_id)
    end
    if s.idle_after and at <= s.created + s.idle_after then
        unschedule(ctx, 'lead.idle', lead_id)
    end
end

local function record_response(ctx, lead_id, time_ms, by)
    local k = lead_key(ctx, lead_id)
    local cur = tonumber(redis.call('HGET', k, 'resp_ms'))
    if cur == nil or time_ms < cur then
        redis.call('HSET', k, 'resp_ms', int(time_ms), 'resp_by', by)
    end
    redis.call('PEXPIRE', k, STATE_TTL_MS)
    emit_responded_if_known(ctx, lead_id, k)
end

local function schedule_unless_met(ctx, k, kind, lead_id, after_ms, fired_flag)
    local s = lead_state(k)
    local due = s.created + after_ms
    if after_ms <= 0 or deadline_met(s, due) or redis.call('HEXISTS', k, fired_flag) == 1 then
        return
    end
    schedule(ctx, kind, lead_id, due)
end

on('lead.created', function(ctx, f, t)
    local k = lead_key(ctx, f.lead_id)
    apply_fields(k, f, t, LEAD_FIELDS)
    keep_min(k, 'created_ms', t)
    local idle_after, callback_after = tonumber(f.idle_after_ms), tonumber(f.callback_after_ms)
    redis.call('HSET', k, 'idle_after_ms', int(idle_after), 'callback_after_ms', int(callback_after))
    schedule_unless_met(ctx, k, 'lead.callback_due', f.lead_id, callback_after, 'callback_fired')
    schedule_unless_met(ctx, k, 'lead.idle', f.lead_id, idle_after, 'idle_fired')
    emit_responded_if_known(ctx, f.lead_id, k)
end)

local function update_lead(ctx, f, t)
    apply_fields(lead_key(ctx, f.lead_id), f, t, LEAD_FIELDS)
end
on('lead.updated', update_lead)
on('lead.assigned', update_lead)


on('lead.status_changed', function(ctx, f, t)
    apply_fields(lead_key(ctx, f.lead_id), f, t, LEAD_FIELDS)
    record_response(ctx, f.lead_id, t, 'lead.status_changed')
end)

on('lead.closed', function(ctx, f, t)
    local k = lead_key(ctx, f.lead_id)
    apply_fields(k, f, t, { 'manager_id', 'channel', 'status', 'closed_reason' })
    keep_min(k, 'closed_ms', t)
end)

-- Outbound calls answer a lead whatever their status; inbound ones only when answered.
on('call.completed', function(ctx, f, t)
    if not f.lead_id then
        return
    end
    if f.direction == 'outbound' then
        record_response(ctx, f.lead_id, t, 'call.outbound')
    elseif f.status == 'answered' then
        record_response(ctx, f.lead_id, t, 'call.inbound_answered')
    end
end)

on('task.completed', function(ctx, f, t)
    if f.lead_id then
        record_response(ctx, f.lead_id, t, 'task.completed')
    end
end)

-- Fires a lead deadline unless a response, the closing or a duplicate verdict came first.
local function fire_lead_deadline(ctx, lead_id, due, kind, fired_flag, threshold_field)
    local k = lead_key(ctx, lead_id)
    local s = lead_state(k)
    if s.created == nil or deadline_met(s, due) then
        return
    end
    if redis.call('HSETNX', k, fired_flag, '1') == 0 then
        return
    end
    local d = lead_data(lead_id, s)
    d.threshold_seconds = math.floor(s[threshold_field] / 1000)
    if kind == 'lead.idle' then
        d.idle_seconds = math.floor((due - s.created) / 1000)
    else
        d.due_at = rfc3339(due)
    end
    emit(ctx, kind, lead_id, due, lead_id, d)
end

timer_handlers['lead.callback_due'] = function(ctx, lead_id, due)
    fire_lead_deadline(ctx, lead_id, due, 'lead.callback_due', 'callback_fired', 'callback_after')
end

timer_handlers['lead.idle'] = function(ctx, lead_id, due)
    fire_lead_deadline(ctx, lead_id, due, 'lead.idle', 'idle_fired', 'idle_after')
end
