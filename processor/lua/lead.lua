-- lead.lua — lead state, first response, and the idle and call-back deadlines.
--
-- State: the lead hash (processor/keys.tab). Deadlines: lead.callback_due|<id> and
-- lead.idle|<id>. Owns lead.* events; a lead's contacts are indexed by contacts.lua, called
-- once the lead is written.
-- Every decision compares event times (a response counts only if it came before the
-- deadline), so the outcome does not depend on the order events are read in.

local LEAD_FIELDS = { 'manager_id', 'channel', 'status', 'pipeline_id' }
-- What the rules read of a lead, in one HMGET: LEAD_FIELDS (apply_fields) and the rest.
-- contacts and dup_window_ms are contacts.lua's: lead.created and lead.updated hand the
-- hash they read and wrote to contacts.index_lead, so the lead is read once.
local LEAD_STATE = { 'updated_ms', 'manager_id', 'channel', 'status', 'pipeline_id',
    'created_ms', 'resp_ms', 'resp_by', 'closed_ms', 'dup_of', 'idle_after_ms',
    'callback_after_ms', 'responded_sent', 'idle_fired', 'callback_fired', 'contacts',
    'dup_window_ms', 'unans_fired', 'unanswered_after_ms' }

-- A lead's state from its hash as read_hash(k, LEAD_STATE) read it.
local function lead_state_of(h)
    return {
        created = tonumber(h.created_ms), resp = tonumber(h.resp_ms), resp_by = h.resp_by,
        closed = tonumber(h.closed_ms), dup_of = h.dup_of, manager_id = h.manager_id,
        channel = h.channel, idle_after = tonumber(h.idle_after_ms),
        callback_after = tonumber(h.callback_after_ms), responded_sent = h.responded_sent,
        unanswered_after = tonumber(h.unanswered_after_ms),
        idle_fired = h.idle_fired, callback_fired = h.callback_fired,
    }
end

local function lead_state(k)
    return lead_state_of(read_hash(k, LEAD_STATE))
end

local function lead_data(lead_id, s)
    return { lead_id = lead_id, manager_id = s.manager_id, channel = s.channel,
        created_at = rfc3339(s.created) }
end

-- What a lead counts in (the leak estimate, the response stats' lead counts) may have changed:
-- created, responded, gone idle, found a duplicate or not, closed.
function lead.counts_changed(ctx, lead_id, time_ms)
    estimate.sync_lead(ctx, lead_id, time_ms)
    stats.sync_lead(ctx, lead_id, time_ms)
    manager.sync_lead(ctx, lead_id, time_ms)
end

-- A deadline that the (earliest) response or the closing came in time for never fires.
-- s: lead_state_of's table (estimate.lua asks with resp and closed only).
function lead.deadline_met(s, due)
    return (s.resp ~= nil and s.resp <= due) or (s.closed ~= nil and s.closed <= due)
        or s.dup_of ~= nil
end

-- lead.responded is due once both the creation and a response are known, in either order,
-- and it was not sent yet. The caller writes responded_sent = 1 with its other fields.
local function responded_due(s)
    return not s.responded_sent and s.created ~= nil and s.resp ~= nil
end

local function emit_responded(ctx, lead_id, s)
    local at = math.max(s.resp, s.created)
    local d = lead_data(lead_id, s)
    d.response_seconds = math.floor((at - s.created) / 1000)
    d.responded_by = s.resp_by
    d.responded_at = rfc3339(at)
    emit(ctx, 'lead.responded', lead_id, at, lead_id, d)
    stats.record_response_time(ctx, d.response_seconds, at, s.manager_id, s.channel)
    local late = {}
    if s.callback_after and at <= s.created + s.callback_after then
        late[#late + 1] = 'lead.callback_due|' .. lead_id
    end
    if s.idle_after and at <= s.created + s.idle_after then
        late[#late + 1] = 'lead.idle|' .. lead_id
    end
    if s.unanswered_after and at <= s.created + s.unanswered_after then
        late[#late + 1] = 'lead.unanswered|' .. lead_id
    end
    if #late > 0 then
        redis.call('ZREM', keys.timers(ctx), unpack(late)) -- unschedule them at once
    end
end

-- Keeps the earliest response, then emits lead.responded if now due. h: the lead's hash as
-- read_hash(k, LEAD_STATE) read it (read here when nil).
function lead.record_response(ctx, lead_id, time_ms, by, h)
    local k = keys.lead(ctx, lead_id)
    h = h or read_hash(k, LEAD_STATE)
    local writes = {}
    local cur = tonumber(h.resp_ms)
    local earliest = cur == nil or time_ms < cur
    if earliest then
        h.resp_ms, h.resp_by = int(time_ms), by
        writes = { 'resp_ms', h.resp_ms, 'resp_by', by }
    end
    local s = lead_state_of(h)
    local respond = responded_due(s)
    if respond then
        writes[#writes + 1] = 'responded_sent'
        writes[#writes + 1] = '1'
    end
    if #writes > 0 then
        redis.call('HSET', k, unpack(writes))
    end
    retain(ctx, k)
    if h.idle_fired or h.callback_fired then -- only a fired deadline made it wait
        leaks.lead_settled(ctx, lead_id)
    end
    if respond then
        emit_responded(ctx, lead_id, s)
    end
    if earliest and h.created_ms then -- what the lead counts follows its earliest response
        stats.sync_lead(ctx, lead_id, time_ms)
        manager.sync_lead(ctx, lead_id, time_ms)
        if h.unans_fired then -- read after the deadline, it may have come in time
            estimate.sync_lead(ctx, lead_id, time_ms)
        end
    end
end

-- A lead event naming a channel: the funnel's by-channel rows of its deals follow it.
local function channel_known(ctx, f, t)
    if f.channel then
        funnel.lead_changed(ctx, f.lead_id, t)
    end
end

-- lead.created: one HMGET, one HSET, one ZADD for both deadlines (and the TTL when new).
-- Each deadline is set unless the response, the closing or a duplicate verdict came in time
-- for it, or it already fired.
local function created(ctx, f, t)
    local k = keys.lead(ctx, f.lead_id)
    local h = read_hash(k, LEAD_STATE)
    local idle_after, callback_after = tonumber(f.idle_after_ms), tonumber(f.callback_after_ms)
    local extra = {}
    local created = tonumber(h.created_ms)
    if created == nil or t < created then -- the earliest creation is kept, with its local day
        extra = { 'created_ms', int(t) }
        if f.day then
            extra = { 'created_ms', int(t), 'l_day', f.day }
        end
    end
    extra[#extra + 1] = 'unanswered_after_ms'
    extra[#extra + 1] = int(tonumber(f.unanswered_after_ms) or 0)
    extra[#extra + 1] = 'idle_after_ms'
    extra[#extra + 1] = int(idle_after)
    extra[#extra + 1] = 'callback_after_ms'
    extra[#extra + 1] = int(callback_after)
    local respond = not h.responded_sent and h.resp_ms ~= nil -- created is known now
    if respond then
        extra[#extra + 1] = 'responded_sent'
        extra[#extra + 1] = '1'
    end
    apply_fields(ctx, k, f, t, LEAD_FIELDS, h, extra)
    local s = lead_state_of(h)
    local args = {}
    for _, d in ipairs({ { 'lead.callback_due', callback_after, s.callback_fired },
        { 'lead.idle', idle_after, s.idle_fired },
        { 'lead.unanswered', tonumber(f.unanswered_after_ms) or 0, h.unans_fired } }) do
        local due = s.created + d[2]
        if not (d[2] <= 0 or lead.deadline_met(s, due) or d[3]) then
            args[#args + 1] = int(due)
            args[#args + 1] = d[1] .. '|' .. f.lead_id
        end
    end
    if #args > 0 then
        redis.call('ZADD', keys.timers(ctx), unpack(args))
    end
    if respond then
        emit_responded(ctx, f.lead_id, s)
    end
    contacts.index_lead(ctx, f, h)
    lead.counts_changed(ctx, f.lead_id, t) -- once the duplicate verdict is known
    channel_known(ctx, f, t)
end

local function update_lead(ctx, f, t)
    local k = keys.lead(ctx, f.lead_id)
    local _, h = apply_fields(ctx, k, f, t, LEAD_FIELDS, read_hash(k, LEAD_STATE))
    channel_known(ctx, f, t)
    if f.manager_id then -- reassigned: the manager report follows
        manager.sync_lead(ctx, f.lead_id, t)
    end
    return h
end

local function updated(ctx, f, t)
    contacts.index_lead(ctx, f, update_lead(ctx, f, t))
end

local function status_changed(ctx, f, t)
    local k = keys.lead(ctx, f.lead_id)
    local _, h = apply_fields(ctx, k, f, t, LEAD_FIELDS, read_hash(k, LEAD_STATE))
    channel_known(ctx, f, t)
    lead.record_response(ctx, f.lead_id, t, 'lead.status_changed', h)
end

local CLOSE_FIELDS = { 'manager_id', 'channel', 'status', 'closed_reason' }

-- A lead closed as spam also leaves the contact index (contacts.lua).
local function closed(ctx, f, t)
    local k = keys.lead(ctx, f.lead_id)
    local h = read_hash(k, { 'updated_ms', 'closed_ms', unpack(CLOSE_FIELDS) })
    local closed_ms = tonumber(h.closed_ms)
    -- the earliest closing is kept
    apply_fields(ctx, k, f, t, CLOSE_FIELDS, h, (closed_ms == nil or t < closed_ms) and
        { 'closed_ms', int(t) } or nil)
    channel_known(ctx, f, t)
    leaks.lead_settled(ctx, f.lead_id)
    if f.closed_reason == 'spam' then
        contacts.drop_spam(ctx, f.lead_id)
    end
    lead.counts_changed(ctx, f.lead_id, t)
end

-- A call answers the lead: outbound calls whatever their status, inbound ones only when
-- answered. f: the call's fields (direction, status); contacts.lua owns call.completed.
function lead.answered_by_call(ctx, lead_id, f, t)
    if f.direction == 'outbound' then
        lead.record_response(ctx, lead_id, t, 'call.outbound')
    elseif f.status == 'answered' then
        lead.record_response(ctx, lead_id, t, 'call.inbound_answered')
    end
end

-- Fires a lead deadline unless a response, the closing or a duplicate verdict came first.
local function fire_lead_deadline(ctx, lead_id, due, kind, fired_flag, threshold_field)
    local k = keys.lead(ctx, lead_id)
    local s = lead_state(k)
    if s.created == nil or lead.deadline_met(s, due) then
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
    leaks.lead_waiting(ctx, lead_id, s.created)
    if kind == 'lead.idle' then
        stats.sync_lead(ctx, lead_id, due) -- unanswered past the idle threshold
        manager.sync_lead(ctx, lead_id, due) -- gone idle
    end
end

on('event', 'lead.created', created)
on('event', 'lead.updated', updated)
on('event', 'lead.assigned', update_lead)
on('event', 'lead.status_changed', status_changed)
on('event', 'lead.closed', closed)
on('deadline', 'lead.callback_due', function(ctx, lead_id, due)
    fire_lead_deadline(ctx, lead_id, due, 'lead.callback_due', 'callback_fired', 'callback_after')
end)
on('deadline', 'lead.idle', function(ctx, lead_id, due)
    fire_lead_deadline(ctx, lead_id, due, 'lead.idle', 'idle_fired', 'idle_after')
end)
