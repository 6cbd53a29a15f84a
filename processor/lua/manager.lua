-- manager.lua — the manager report (manager.report): per tenant, manager and local month,
-- what the manager's leads and deals did.
--
-- A lead counts in the local month it was created in (l_day), for the manager it is
-- assigned to now: assigned, answered (a first response known), its response time in the
-- histogram, idle (lead.idle fired and no response or closing came in time). A duplicate
-- or a lead closed as spam counts nowhere.
-- A deal counts as created in the local month of its earliest event (m_since, m_first),
-- and as won (won_day's month) or lost (lost_month) in the month it closed, for its
-- manager now; won amounts per currency (the average won deal), and lost amounts of the
-- manageable class per currency (loss_reason.c classifies reasons).
--
-- Each lead's and deal's share is recorded in its own hash (m_* fields), as estimate.lua
-- does: a reassignment, a reopened deal, a new amount or reason moves the counts, and the
-- same event twice changes nothing. No rescans: a change touches the hashes of the one or
-- two manager-months its old and new share name.
--
-- Response times: a fixed histogram of seconds (RESPONSE_EDGES: 1 min bins to 1 h, 5 min to
-- 4 h, 1 h to 48 h, then one open bin); median and p90 are the upper edge of the bin the rank
-- falls in (common.lua: bin_quantile), exact to the bin, as stats.lua reports them. 15 and
-- 30 min are edges, so the shares answered within them are exact.
--
-- State (processor/keys.tab): mgr (one hash per month and manager), mgr_latest (the API).
-- Publishing: once per batch per month and manager (publish_later, scope "<month>|<manager>").

local RESPONSE_EDGES = {}
for s = 60, 3600, 60 do
    RESPONSE_EDGES[#RESPONSE_EDGES + 1] = s
end
for s = 3900, 14400, 300 do
    RESPONSE_EDGES[#RESPONSE_EDGES + 1] = s
end
for s = 18000, 172800, 3600 do
    RESPONSE_EDGES[#RESPONSE_EDGES + 1] = s
end
local OPEN_BIN = #RESPONSE_EDGES + 1 -- beyond 48 h: counted, its quantile has no edge
local BIN_15_MIN, BIN_30_MIN = 15, 30

-- The bin of a response of seconds.
local function response_bin(seconds)
    for i, upper in ipairs(RESPONSE_EDGES) do
        if seconds <= upper then
            return i
        end
    end
    return OPEN_BIN
end

-- An entity's share moved from what hash k records (fields prefix..name) to after:
-- add(ctx, share, sign, time_ms) counts one (common.lua share_move).
local function move(ctx, k, h, prefix, names, after, add, time_ms)
    share_move(k, h, prefix, names, after, function(share, sign)
        add(ctx, share, sign, time_ms)
    end)
end

-- Adds sign to the named counters of a manager-month in one call per counter, marks it due.
local function count(ctx, month, manager, counters, sign, time_ms)
    local k = keys.mgr(ctx, month, manager)
    for _, name in ipairs(counters) do
        redis.call('HINCRBY', k, name, int(sign))
    end
    redis.call('PEXPIRE', k, STATE_RETENTION_MS)
    publish_later(ctx, 'manager.report', month .. '|' .. manager, time_ms)
end

-- ---------------------------------------------------------------- leads

local LEAD_FIELDS = { 'created_ms', 'l_day', 'manager_id', 'dup_of', 'closed_reason',
    'closed_ms', 'resp_ms', 'idle_fired', 'idle_after_ms', 'm_month', 'm_mgr', 'm_bin', 'm_idle' }
local LEAD_SHARE = { 'month', 'mgr', 'bin', 'idle' }

local function lead_share_now(h)
    local created = tonumber(h.created_ms)
    if not created or not h.l_day or not h.manager_id or h.dup_of
        or h.closed_reason == 'spam' then
        return nil
    end
    local resp = tonumber(h.resp_ms)
    local bin = resp and int(response_bin(math.max(0, math.floor((resp - created) / 1000)))) or ''
    local idle = false
    if h.idle_fired then
        idle = not lead.deadline_met({ resp = resp, closed = tonumber(h.closed_ms) },
            created + (tonumber(h.idle_after_ms) or 0))
    end
    return { month = string.sub(h.l_day, 1, 7), mgr = h.manager_id, bin = bin,
        idle = idle and '1' or '0' }
end

local function add_lead(ctx, s, sign, time_ms)
    local counters = { 'leads' }
    if s.bin ~= '' then
        counters[#counters + 1] = 'answered'
        counters[#counters + 1] = 'b' .. s.bin
    end
    if s.idle == '1' then
        counters[#counters + 1] = 'idle'
    end
    count(ctx, s.month, s.mgr, counters, sign, time_ms)
end

function manager.sync_lead(ctx, lead_id, time_ms)
    local k = keys.lead(ctx, lead_id)
    local h = read_hash(k, LEAD_FIELDS)
    move(ctx, k, h, 'm_', LEAD_SHARE, lead_share_now(h), add_lead, time_ms)
end

-- ---------------------------------------------------------------- deals

local DEAL_SHARE = { 'mgr', 'cmonth', 'status', 'omonth', 'cur', 'amount', 'class' }

local function deal_share_now(h)
    if not h.manager_id or not h.m_first then
        return nil
    end
    local omonth = ''
    if h.status == 'won' and h.won_day then
        omonth = string.sub(h.won_day, 1, 7)
    elseif h.status == 'lost' and h.lost_month then
        omonth = h.lost_month
    end
    local status = omonth ~= '' and h.status or 'open'
    -- money only where it counts (won, lost for a manageable reason): a new amount of any
    -- other deal moves nothing and publishes nothing
    local counted = status == 'won' or (status == 'lost' and h.loss_class == 'manageable')
    return { mgr = h.manager_id, cmonth = h.m_first, status = status, omonth = omonth,
        cur = counted and (h.currency or '') or '', amount = counted and (h.amount_minor or '0')
            or '0', class = status == 'lost' and (h.loss_class or '') or '' }
end

local function add_deal(ctx, s, sign, time_ms)
    count(ctx, s.cmonth, s.mgr, { 'deals' }, sign, time_ms)
    if s.status == 'open' then
        return
    end
    local k = keys.mgr(ctx, s.omonth, s.mgr)
    if s.status == 'won' then
        count(ctx, s.omonth, s.mgr, { 'won', 'won|' .. s.cur .. '|n' }, sign, time_ms)
        redis.call('HINCRBY', k, 'won|' .. s.cur .. '|sum', int(sign * tonumber(s.amount)))
    else
        count(ctx, s.omonth, s.mgr, { 'lost' }, sign, time_ms)
        if s.class == 'manageable' then
            redis.call('HINCRBY', k, 'ml|' .. s.cur, int(sign * tonumber(s.amount)))
            redis.call('HINCRBY', k, 'mln|' .. s.cur, int(sign))
        end
    end
end

local DEAL_FIELDS = { 'manager_id', 'status', 'won_day', 'lost_month', 'currency',
    'amount_minor', 'loss_class', 'm_since', 'm_first', 'm_mgr', 'm_cmonth', 'm_status',
    'm_omonth', 'm_cur', 'm_amount', 'm_class' }

-- After every deal event: the local month of its earliest event (month: this event's; the
-- earliest wins whatever the order read: m_since, m_first), then its share.
function manager.sync_deal(ctx, k, month, time_ms)
    local h = read_hash(k, DEAL_FIELDS)
    local since = tonumber(h.m_since)
    if month and (not since or time_ms < since) then
        write_hash(k, h, { 'm_since', int(time_ms), 'm_first', month })
    end
    move(ctx, k, h, 'm_', DEAL_SHARE, deal_share_now(h), add_deal, time_ms)
end

-- ---------------------------------------------------------------- calls

-- A call counts once, in the local month it was made, for its manager: outbound calls as
-- made, inbound ones with status answered as answered. Its share is kept in mgr_call, so a
-- second event of the same call (a status corrected) moves it instead of adding.
local CALL_SHARE = { 'month', 'mgr', 'kind' }

local function call_share_now(f)
    if not f.manager_id or not f.month then
        return nil
    end
    local kind = f.direction == 'outbound' and 'calls'
        or (f.status == 'answered' and 'calls_answered' or '')
    if kind == '' then
        return nil
    end
    return { month = f.month, mgr = f.manager_id, kind = kind }
end

local function add_call(ctx, s, sign, time_ms)
    count(ctx, s.month, s.mgr, { s.kind }, sign, time_ms)
end

function manager.sync_call(ctx, f, t)
    local k = keys.mgr_call(ctx, f.call_id)
    local h = read_hash(k, { 'm_month', 'm_mgr', 'm_kind', 'updated_ms' })
    if is_stale(h, t) then
        return -- the latest event of the call decides
    end
    h.updated_ms = int(t)
    redis.call('HSET', k, 'updated_ms', h.updated_ms)
    move(ctx, k, h, 'm_', CALL_SHARE, call_share_now(f), add_call, t)
    retain(ctx, k)
end

-- ---------------------------------------------------------------- overdue tasks

-- An overdue task counts, while overdue, in the local month it is due in (due_month, from
-- transition.c), for its manager: task.lua calls this on its overdue and resolved
-- transitions and on every task event (a task reassigned while overdue moves).
local TASK_SHARE = { 'month', 'mgr' }

function manager.sync_task(ctx, task_id, time_ms)
    local k = keys.task(ctx, task_id)
    local h = read_hash(k, { 'overdue', 'manager_id', 'due_month', 'm_month', 'm_mgr' })
    local now = nil
    if h.overdue == '1' and h.manager_id and h.due_month then
        now = { month = h.due_month, mgr = h.manager_id }
    end
    move(ctx, k, h, 'm_', TASK_SHARE, now, function(c, s, sign, t)
        count(c, s.month, s.mgr, { 'overdue' }, sign, t)
    end, time_ms)
end

-- ---------------------------------------------------------------- publishing

-- A ratio as a decimal with 4 places ("0.0800"); "0.0000" when den is 0 (rounded half up).
local function ratio(num, den)
    local q = den > 0 and math.floor((2 * num * 10000 + den) / (2 * den)) or 0
    return string.format('%d.%04d', math.floor(q / 10000), q % 10000)
end

local function report_data(month, manager_id, h)
    local function n(name)
        return tonumber(h[name]) or 0
    end
    local counts, within15, within30 = {}, 0, 0
    for i = 1, OPEN_BIN do
        counts[i] = n('b' .. i)
        if i <= BIN_15_MIN then
            within15 = within15 + counts[i]
        end
        if i <= BIN_30_MIN then
            within30 = within30 + counts[i]
        end
    end
    local answered, leads = n('answered'), n('leads')
    local won_deals, lost_money = {}, {}
    local currencies = {}
    for field in pairs(h) do
        local cur = string.match(field, '^won|(.*)|n$') or string.match(field, '^ml|(.*)$')
        if cur then
            currencies[cur] = true
        end
    end
    local sorted = {}
    for cur in pairs(currencies) do
        sorted[#sorted + 1] = cur
    end
    table.sort(sorted)
    for _, cur in ipairs(sorted) do
        local won, sum = n('won|' .. cur .. '|n'), n('won|' .. cur .. '|sum')
        if won > 0 then
            won_deals[#won_deals + 1] = { currency = cur, count = won, amount = money(sum),
                average = money(math.floor((2 * sum + won) / (2 * won))) }
        end
        if n('mln|' .. cur) > 0 then
            lost_money[#lost_money + 1] = { currency = cur, count = n('mln|' .. cur),
                amount = money(n('ml|' .. cur)) }
        end
    end
    local data = { period = month, manager_id = manager_id, leads = leads, answered = answered,
        median_response_seconds = bin_quantile(RESPONSE_EDGES, counts, answered, 0.5),
        p90_response_seconds = bin_quantile(RESPONSE_EDGES, counts, answered, 0.9),
        answered_within_15m = within15, answered_within_30m = within30,
        share_within_15m = ratio(within15, leads), share_within_30m = ratio(within30, leads),
        idle = n('idle'), deals_created = n('deals'), deals_won = n('won'),
        deals_lost = n('lost'), conversion = ratio(n('won'), leads), calls_made = n('calls'),
        calls_answered = n('calls_answered'), overdue_tasks = n('overdue') }
    return encode_with_lists(data, { { 'won', won_deals }, { 'lost_manageable', lost_money } })
end

on('publish', 'manager.report', function(ctx, scope, time_ms)
    local month, manager_id = string.match(scope, '^([^|]*)|(.*)$')
    local flat = redis.call('HGETALL', keys.mgr(ctx, month, manager_id))
    local h = {}
    for i = 1, #flat, 2 do
        h[flat[i]] = flat[i + 1]
    end
    local json = report_data(month, manager_id, h)
    redis.call('HSET', keys.mgr_latest(ctx), scope, json) -- for the API
    emit(ctx, 'manager.report', aggregate_key(ctx, 'managers|' .. month .. '|' .. manager_id),
        time_ms, scope .. '|' .. json, json)
end)
