-- contacts.lua — leads' phones and e-mails (normalized by processor/transition.c into
-- ';'-lists "phones" and "emails"): duplicates, calls attributed by phone, and inbound calls
-- from phones no lead has (untracked contacts, the requests that never reached the CRM).
--
-- State (processor/keys.tab): the contact index, the lead hash's contacts, dup_of and
-- dup_window_ms, and calls and call for calls from a phone no lead had yet.
-- Deadline: lead.untracked|<call_id>, untracked_after_ms after an unmatched inbound call.
-- Owns call.completed; lead.lua calls index_lead and drop_spam.
-- The original is the earliest lead by event time, whatever order the events come in.

local function split(list)
    local items = {}
    for item in string.gmatch(list or '', '[^;]+') do
        items[#items + 1] = item
    end
    return items
end

-- The index keys of the contacts an event names: { {key, kind, value}, ... }.
local function contacts_of(ctx, f)
    local out = {}
    for _, kind in ipairs({ 'phone', 'email' }) do
        for _, value in ipairs(split(f[kind .. 's'])) do
            out[#out + 1] = { keys.contact(ctx, kind, value), kind, value }
        end
    end
    return out
end

-- The two earliest leads of index key ck created at most window before created (flat:
-- id, score, ...), from nearby (ck -> its ZRANGE around created, read by index_lead) when
-- given, else read here.
local function earliest_two(ck, created, window, nearby)
    local around = nearby and nearby[ck]
    if not around then
        return redis.call('ZRANGE', ck, int(created - window), int(created), 'BYSCORE', 'LIMIT',
            '0', '2', 'WITHSCORES')
    end
    local found = {}
    for i = 1, #around, 2 do
        if #found == 4 or tonumber(around[i + 1]) > created then
            break
        end
        found[#found + 1] = around[i]
        found[#found + 1] = around[i + 1]
    end
    return found
end

-- The earliest other lead sharing a contact with this one and created at most window
-- before it (ties: the smaller id), or nil. contacts: its index keys; nearby: as above.
local function find_original(ctx, lead_id, contact_keys, created, window, nearby)
    local best
    for _, ck in ipairs(contact_keys) do
        local found = earliest_two(ck, created, window, nearby)
        for i = 1, #found, 2 do
            local id, at = found[i], tonumber(found[i + 1])
            local earlier = at < created or (at == created and id < lead_id)
            if id ~= lead_id and earlier and (not best or at < best.at
                or (at == best.at and id < best.id)) then
                local kind, value = keys.parts(ctx, 'contact', ck)
                best = { id = id, at = at, kind = kind, value = value }
            end
        end
    end
    return best
end

local DUP_STATE = { 'created_ms', 'dup_of', 'dup_window_ms', 'contacts' }

-- Works out whether a lead is a duplicate and publishes lead.duplicate when its original
-- changes. A duplicate never goes idle and never gets a call-back. h: the lead's hash with
-- the DUP_STATE fields, as read_hash gives them (read here when nil); nearby: as for
-- find_original.
local function evaluate_duplicate(ctx, lead_id, h, nearby)
    local k = keys.lead(ctx, lead_id)
    h = h or read_hash(k, DUP_STATE)
    local created, window = tonumber(h.created_ms), tonumber(h.dup_window_ms) or 0
    if not created then
        return
    end
    local original = find_original(ctx, lead_id, split(h.contacts), created, window, nearby)
    if not original then
        if h.dup_of then
            redis.call('HDEL', k, 'dup_of') -- its original dropped out (spam)
            leaks.not_duplicate(ctx, lead_id)
            lead.counts_changed(ctx, lead_id, created)
        end
        return
    end
    if h.dup_of == original.id then
        return
    end
    redis.call('HSET', k, 'dup_of', original.id)
    redis.call('ZREM', keys.timers(ctx), 'lead.idle|' .. lead_id,
        'lead.callback_due|' .. lead_id) -- both deadlines unscheduled in one call
    leaks.lead_settled(ctx, lead_id)
    leaks.duplicate(ctx, lead_id, created)
    lead.counts_changed(ctx, lead_id, created)
    emit(ctx, 'lead.duplicate', lead_id, created, lead_id .. '|' .. original.id,
        { lead_id = lead_id, duplicate_of = original.id, matched_on = original.kind,
            value = original.value, created_at = rfc3339(created) })
end

-- Calls from the lead's phones read before it: responses if at or after its creation, and
-- linked either way (an untracked contact whose lead came late).
local function link_pending_calls(ctx, lead_id, created, phones)
    for _, phone in ipairs(phones) do
        local pending = keys.calls(ctx, phone)
        local calls = redis.call('ZRANGE', pending, '0', '-1')
        for _, call_id in ipairs(calls) do
            local ck = keys.call(ctx, call_id)
            local c = redis.call('HMGET', ck, 'time_ms', 'direction', 'status')
            local at = tonumber(c[1])
            redis.call('HSET', ck, 'linked', lead_id)
            if at and at >= created and (c[2] == 'outbound' or c[3] == 'answered') then
                lead.record_response(ctx, lead_id, at,
                    c[2] == 'outbound' and 'call.outbound' or 'call.inbound_answered')
            end
        end
        if #calls > 0 then
            redis.call('DEL', pending) -- (none: there is no key to delete)
        end
    end
end

-- Indexes a lead's contacts (lead.created and lead.updated, once lead.lua has written the
-- lead). h: the lead's hash as lead.lua read and wrote it, with the DUP_STATE fields.
function contacts.index_lead(ctx, f, h)
    local k = keys.lead(ctx, f.lead_id)
    local known = {}
    for _, ck in ipairs(split(h.contacts)) do
        known[ck] = true
    end
    local added = {}
    for _, c in ipairs(contacts_of(ctx, f)) do
        if not known[c[1]] then
            known[c[1]] = true
            added[#added + 1] = c
        end
    end
    local writes = {}
    if #added > 0 then
        local all = {}
        for ck in pairs(known) do
            all[#all + 1] = ck
        end
        writes = { 'contacts', table.concat(all, ';') }
    end
    if f.dedup_window_ms then
        writes[#writes + 1] = 'dup_window_ms'
        writes[#writes + 1] = f.dedup_window_ms
    end
    write_hash(k, h, writes)
    local created = tonumber(h.created_ms)
    if not created then
        return -- indexed once created
    end
    local window = tonumber(h.dup_window_ms) or 0
    local phones = {}
    for ck in pairs(known) do
        redis.call('ZADD', ck, int(created), f.lead_id)
        retain(ctx, ck)
        local kind, phone = keys.parts(ctx, 'contact', ck)
        if kind == 'phone' then
            phones[#phones + 1] = phone
        end
    end
    -- one read per index key serves both the search for this lead's original and the leads
    -- created after it, which may be its duplicates now (nothing below changes the index)
    local nearby = {}
    for ck in pairs(known) do
        nearby[ck] = redis.call('ZRANGE', ck, int(created - window), int(created + window),
            'BYSCORE', 'WITHSCORES')
    end
    evaluate_duplicate(ctx, f.lead_id, h, nearby)
    for ck in pairs(known) do
        local around = nearby[ck]
        for i = 1, #around, 2 do
            if tonumber(around[i + 1]) > created then
                evaluate_duplicate(ctx, around[i])
            end
        end
    end
    link_pending_calls(ctx, f.lead_id, created, phones)
end

-- The first phone among a lead's contacts (the client's phone of risk.lua's call-first
-- list), or nil.
function contacts.first_phone(ctx, lead_id)
    if not lead_id then
        return nil
    end
    for _, ck in ipairs(split(redis.call('HGET', keys.lead(ctx, lead_id), 'contacts'))) do
        local kind, value = keys.parts(ctx, 'contact', ck)
        if kind == 'phone' then
            return value
        end
    end
    return nil
end

-- A lead closed as spam drops out of the index (and stops being anyone's original).
function contacts.drop_spam(ctx, lead_id)
    local k = keys.lead(ctx, lead_id)
    local affected = {}
    for _, ck in ipairs(split(redis.call('HGET', k, 'contacts'))) do
        redis.call('ZREM', ck, lead_id)
        for _, other in ipairs(redis.call('ZRANGE', ck, '0', '-1')) do
            affected[other] = true
        end
    end
    for other in pairs(affected) do
        if redis.call('HGET', keys.lead(ctx, other), 'dup_of') == lead_id then
            evaluate_duplicate(ctx, other)
        end
    end
end

-- The most recent lead with this phone created at or before time_ms, within the window.
local function lead_by_phone(ctx, phone, time_ms, window)
    local found = redis.call('ZRANGE', keys.contact(ctx, 'phone', phone), int(time_ms),
        int(time_ms - window), 'BYSCORE', 'REV', 'LIMIT', 0, 1)
    return found[1]
end

-- A call answers the lead it names. One that names none is attributed by its phone; if no
-- lead has that phone yet, it waits for one, and an inbound one becomes an untracked
-- contact unless a lead appears.
local function call_completed(ctx, f, t)
    if f.call_id then
        manager.sync_call(ctx, f, t)
    end
    if f.lead_id then
        lead.answered_by_call(ctx, f.lead_id, f, t)
        return
    end
    local phone = split(f.phones)[1]
    if not phone then
        return
    end
    local window = tonumber(f.dedup_window_ms) or 0
    local lead_id = lead_by_phone(ctx, phone, t, window)
    if lead_id then
        lead.answered_by_call(ctx, lead_id, f, t)
        return
    end
    local ck = keys.call(ctx, f.call_id)
    redis.call('HSET', ck, 'phone', phone, 'time_ms', int(t), 'direction', f.direction,
        'status', f.status, 'manager_id', f.manager_id or '', 'window_ms', int(window),
        'month', f.month or '')
    retain(ctx, ck)
    local pending = keys.calls(ctx, phone)
    redis.call('ZADD', pending, int(t), f.call_id)
    retain(ctx, pending)
    local after = tonumber(f.untracked_after_ms) or 0
    if f.direction == 'inbound' and after > 0 then
        redis.call('HSET', ck, 'untracked_after_ms', int(after))
        schedule(ctx, 'lead.untracked', f.call_id, t + after)
    end
end

local function untracked_due(ctx, call_id, due)
    local c = redis.call('HMGET', keys.call(ctx, call_id), 'phone', 'time_ms', 'status',
        'manager_id', 'untracked_after_ms', 'linked', 'window_ms', 'month')
    if not c[1] then
        return
    end
    local at, after = tonumber(c[2]), tonumber(c[5])
    local window = tonumber(c[7]) or 0
    -- a lead with this phone created before the deadline: the request reached the CRM
    if lead_by_phone(ctx, c[1], at + after, window + after) then
        return
    end
    leaks.untracked(ctx, call_id, at)
    estimate.untracked(ctx, c[8] ~= '' and c[8] or nil, due)
    emit(ctx, 'lead.untracked_contact', c[1], due, call_id, {
        call_id = call_id, phone = c[1], status = c[3], manager_id = c[4] ~= '' and c[4] or nil,
        called_at = rfc3339(at), threshold_seconds = math.floor(after / 1000) })
end

on('event', 'call.completed', call_completed)
on('deadline', 'lead.untracked', untracked_due)
