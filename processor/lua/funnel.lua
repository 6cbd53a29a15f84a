-- funnel.lua — where the funnel loses money: funnel.summary per tenant, pipeline, local
-- month and currency (the month the deal was first seen in, in the tenant's time zone): per
-- stage the deals and money that entered it, moved on, were won, lost or are still open
-- there, the conversions, and the time deals sat in it; by manager and by lead channel the
-- conversion from the top to won.
--
-- Keys (processor/keys.tab): funnel_deal (a deal's cohort and its recorded share),
-- funnel_moves (its stage history), funnel (a cohort's sums), funnel_order (the tenant's
-- deal.stages), funnel_seen (when each stage was first seen), funnel_lead (a lead's deals),
-- funnel_latest (what the HTTP API reads), funnel_stays and funnel_stay_days (stays by the day
-- they ended, for the learned stall limit).
-- Arguments: deal.lua calls funnel.update(ctx, f, t) on every deal event (f: the event's
-- fields: stage, pipeline_id, month (the event's local month), deal_stages (the tenant's
-- deal.stages as config.c normalized it: "pipeline=stage,stage;...", a ',' inside a name
-- written "\,")); lead.lua calls funnel.lead_changed(ctx, lead_id, t) when a lead names its
-- channel; deal.lua asks funnel.stall_after_ms(ctx, f, t, fallback_ms) for the stall limit of a
-- stage without one of its own. Publishes funnel.summary (scope "<month>|<currency>|<pipeline>")
-- once per batch.
--
-- The rules, each a function of the events alone, whatever order they are applied in:
-- - a deal's stage is the stage of its latest stage-bearing event (its history is a sorted
--   set of (time, stage)); it entered every stage up to that one in the pipeline's order (a
--   skipped stage counts as passed); a won deal passed every stage;
-- - the order: the pipeline's deal.stages list, then the stages it does not list that the
--   cohort's deals were in, by the earliest event time any deal of the pipeline was seen in
--   them (then by name);
-- - time in stage: a stay ends when the deal's history moves to another stage; closing a
--   deal ends none (a reopened deal goes on in its stage);
-- - a deal lost for a non-target reason (spam, duplicate) leaves the funnel;
-- - each deal remembers its share (funnel_deal "share"), so a correction, a reopening or a
--   late event moves the sums by the difference, and the same event twice moves nothing.

-- Time in stage: a histogram with fixed upper bin edges (seconds); median and p90 are the
-- upper edge of the bin the rank falls in (an upper bound, at most one bin above the truth);
-- stays beyond the last edge count in it (read "at least 180 d").
local STAY_BINS = { 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400, 4 * 86400,
    5 * 86400, 7 * 86400, 10 * 86400, 14 * 86400, 21 * 86400, 30 * 86400, 45 * 86400,
    60 * 86400, 90 * 86400, 180 * 86400 }
local OUTCOME_PREFIX = { open = 'o', won = 'w', lost = 'l' }
local DAY_MS = 86400000
-- The learned stall limit: the p90 of the stage's stays that ended on the LEARN_DAYS UTC days
-- up to the day of the event that starts the stay (that day included), once LEARN_MIN ended.
local LEARN_DAYS, LEARN_MIN = 90, 20

local function stay_bin(ms)
    local s = ms / 1000
    for i, upper in ipairs(STAY_BINS) do
        if s <= upper then
            return i
        end
    end
    return #STAY_BINS
end

local function trim(s)
    return string.match(s, '^%s*(.-)%s*$')
end

-- Case-folds as processor/loss_reason.c does (ASCII and the Russian alphabet).
local function fold(s)
    s = string.gsub(trim(s), '\208([\144-\159])', function(c)
        return '\208' .. string.char(string.byte(c) + 32)
    end)
    s = string.gsub(s, '\208([\160-\175])', function(c)
        return '\209' .. string.char(string.byte(c) - 32)
    end)
    return string.lower((string.gsub(s, '\208\129', '\209\145')))
end

-- deal.stages parsed: folded pipeline -> its stages as written. The last spec parsed is kept:
-- a cache of a pure function.
local parsed_spec, parsed_lists = nil, nil
local function stage_lists(spec)
    if spec == parsed_spec then
        return parsed_lists
    end
    local lists = {}
    for item in string.gmatch(spec .. ';', '([^;]*);') do
        local pipeline, names = string.match(item, '^([^=]*)=(.*)$')
        if pipeline and not lists[fold(pipeline)] then
            local stages = {}
            for name in string.gmatch(string.gsub(names, '\\,', '\1') .. ',', '([^,]*),') do
                name = string.gsub(trim(name), '\1', ',')
                if name ~= '' then
                    stages[#stages + 1] = name
                end
            end
            lists[fold(pipeline)] = stages
        end
    end
    parsed_spec, parsed_lists = spec, lists
    return lists
end

local function listed_stages(ctx, pipeline)
    local spec = redis.call('HGET', keys.funnel_order(ctx), 'spec') or ''
    return stage_lists(spec)[fold(pipeline)] or {}
end

-- The stage as the pipeline's list writes it, when it lists it.
local function canonical_stage(listed, stage)
    local want = fold(stage)
    for _, name in ipairs(listed) do
        if fold(name) == want then
            return name
        end
    end
    return stage
end

-- The deal's share now, from its state: nil when it is not in the funnel.
local function share_now(ctx, deal_id, fh)
    local moves = redis.call('ZRANGE', keys.funnel_moves(ctx, deal_id), 0, -1, 'WITHSCORES')
    local d = read_hash(keys.deal(ctx, deal_id), { 'status', 'amount_minor', 'currency',
        'manager_id', 'lead_id', 'loss_class' })
    local status = d.status or 'open'
    if #moves == 0 or not fh.month or (status == 'lost' and d.loss_class == 'nontarget') then
        return nil
    end
    local stays, stage, since = {}, nil, nil
    for i = 1, #moves, 2 do
        local s, ms = string.match(moves[i], '^[^|]*|(.*)$'), tonumber(moves[i + 1])
        if s ~= stage then
            if stage then
                stays[#stays + 1] = { stage, stay_bin(ms - since), int(math.floor(ms / DAY_MS)) }
            end
            stage, since = s, ms
        end
    end
    local channel = d.lead_id and redis.call('HGET', keys.lead(ctx, d.lead_id), 'channel')
    return { fh.pipeline or 'default', fh.month, d.currency or '-', stage, status,
        tonumber(d.amount_minor) or 0, status == 'lost' and d.loss_class or '',
        d.manager_id or '-', channel or '-', stays }
end

-- A field that comes back to 0 goes: the sums hold only what the deals' shares add up to now,
-- so a stage no deal is in any more (a deal moved to another cohort) is no row of zeros.
local function add(k, field, n)
    if n ~= 0 and redis.call('HINCRBY', k, field, int(n)) == 0 then -- int: never "-0"
        redis.call('HDEL', k, field)
    end
end

-- The stays of a pipeline's stage by the UTC day they ended (the learned stall limit's window).
local function add_stay_of_day(ctx, stage_key, day, bin, sign)
    local k = keys.funnel_stays(ctx, day, stage_key)
    add(k, bin, sign)
    retain(ctx, k)
    local days = keys.funnel_stay_days(ctx, stage_key)
    redis.call('ZADD', days, day, day)
    retain(ctx, days)
end

-- Adds (sign 1) or takes away (-1) a deal's share of its cohort's sums; returns the scope.
local function add_share(ctx, c, sign)
    local pipeline, month, currency, stage, status, amount, class, manager, channel, stays =
        unpack(c)
    local scope = month .. '|' .. currency .. '|' .. pipeline
    local k = keys.funnel(ctx, scope)
    local at = OUTCOME_PREFIX[status] .. '|' .. stage
    for _, base in ipairs({ 'all', at, 'mg|' .. manager, 'ch|' .. channel }) do
        add(k, base .. '|n', sign)
        add(k, base .. '|m', sign * amount)
    end
    if status == 'won' then
        for _, base in ipairs({ 'mgw|' .. manager, 'chw|' .. channel }) do
            add(k, base .. '|n', sign)
            add(k, base .. '|m', sign * amount)
        end
    elseif status == 'lost' then
        add(k, 'lc|' .. stage .. '|' .. class .. '|n', sign)
        add(k, 'lc|' .. stage .. '|' .. class .. '|m', sign * amount)
    end
    for _, stay in ipairs(stays) do
        add(k, 't|' .. stay[1] .. '|' .. stay[2], sign)
        add_stay_of_day(ctx, pipeline .. '|' .. stay[1], stay[3], stay[2], sign)
    end
    return scope
end

-- Moves the deal's share of the sums to what its state says now.
local function resync(ctx, deal_id, fh, time_ms)
    local fk = keys.funnel_deal(ctx, deal_id)
    local after = share_now(ctx, deal_id, fh)
    local after_text = after and cjson.encode(after) or ''
    if after_text == (fh.share or '') then
        return
    end
    if fh.share and fh.share ~= '' then -- '': no share (a non-target loss)
        publish_later(ctx, 'funnel.summary', add_share(ctx, cjson.decode(fh.share), -1), time_ms)
    end
    if after then
        publish_later(ctx, 'funnel.summary', add_share(ctx, after, 1), time_ms)
    end
    redis.call('HSET', fk, 'share', after_text)
end

local FUNNEL_DEAL = { 'since_ms', 'month', 'pipeline', 'pipeline_ms', 'share' }

-- Every deal event: the cohort (the earliest event's month; the latest event's pipeline),
-- the stage history, the stage order, then the deal's share.
function funnel.update(ctx, f, t)
    local fk = keys.funnel_deal(ctx, f.deal_id)
    local fh = read_hash(fk, FUNNEL_DEAL)
    local writes = {}
    if f.month and (not fh.since_ms or t < tonumber(fh.since_ms)) then
        writes = { 'since_ms', int(t), 'month', f.month }
    end
    if f.pipeline_id and (not fh.pipeline_ms or t >= tonumber(fh.pipeline_ms)) then
        writes[#writes + 1], writes[#writes + 2] = 'pipeline', f.pipeline_id
        writes[#writes + 1], writes[#writes + 2] = 'pipeline_ms', int(t)
    end
    write_hash(fk, fh, writes)
    retain(ctx, fk) -- refreshed with every event of the deal, as the deal is
    local order = keys.funnel_order(ctx)
    if (redis.call('HGET', order, 'spec') or '') ~= (f.deal_stages or '') then
        redis.call('HSET', order, 'spec', f.deal_stages or '')
    end
    local pipeline = fh.pipeline or 'default'
    if f.stage then
        local stage = canonical_stage(listed_stages(ctx, pipeline), f.stage)
        local moves = keys.funnel_moves(ctx, f.deal_id)
        redis.call('ZADD', moves, int(t), int(t) .. '|' .. stage)
        retain(ctx, moves)
        redis.call('ZADD', keys.funnel_seen(ctx, pipeline), 'LT', int(t), stage)
    end
    local lead_id = f.lead_id or redis.call('HGET', keys.deal(ctx, f.deal_id), 'lead_id')
    if lead_id then
        redis.call('SADD', keys.funnel_lead(ctx, lead_id), f.deal_id)
    end
    resync(ctx, f.deal_id, fh, t)
end

-- A lead's channel counts in its deals' shares, whichever came first.
function funnel.lead_changed(ctx, lead_id, t)
    for _, deal_id in ipairs(redis.call('SMEMBERS', keys.funnel_lead(ctx, lead_id))) do
        resync(ctx, deal_id, read_hash(keys.funnel_deal(ctx, deal_id), FUNNEL_DEAL), t)
    end
end

-- ------------------------------ the summary ------------------------------

-- The cohort's stages in order: those deal.stages lists, then the others its deals were in
-- (current stage or a stay) by the earliest event time a deal of the pipeline was in them,
-- then by name. Only the cohort's own stages: what it shows never depends on how far other
-- cohorts had got when it was published (the first-seen time of a stage some deal was in is
-- final, events applying in event-time order).
local function stage_order(ctx, pipeline, h)
    local order, placed = {}, {}
    for _, stage in ipairs(listed_stages(ctx, pipeline)) do
        placed[stage] = true
        order[#order + 1] = stage
    end
    local rest, seen = {}, keys.funnel_seen(ctx, pipeline)
    for field, _ in pairs(h) do
        local stage = string.match(field, '^[owl]|(.*)|n$') or string.match(field, '^t|(.*)|%d+$')
        if stage and not placed[stage] then
            placed[stage] = true
            rest[#rest + 1] = { stage, tonumber(redis.call('ZSCORE', seen, stage)) or math.huge }
        end
    end
    table.sort(rest, function(a, b)
        return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1])
    end)
    for _, r in ipairs(rest) do
        order[#order + 1] = r[1]
    end
    return order
end

local function sum(h, base)
    return { n = tonumber(h[base .. '|n']) or 0, m = tonumber(h[base .. '|m']) or 0 }
end

local function plus(a, b, sign)
    return { n = a.n + sign * b.n, m = a.m + sign * b.m }
end

local function out(s)
    return { count = s.n, amount = money(s.m) }
end

-- A share rounded to 4 places, null when there is nothing to divide by.
local function ratio(a, b)
    if b == 0 then
        return cjson.null
    end
    return math.floor(a / b * 10000 + 0.5) / 10000
end

local function stay_quantile(counts, n, q)
    return bin_quantile(STAY_BINS, counts, n, q) or cjson.null
end

local function time_in_stage(h, stage)
    local counts, n = {}, 0
    for i = 1, #STAY_BINS do
        counts[i] = tonumber(h['t|' .. stage .. '|' .. i]) or 0
        n = n + counts[i]
    end
    return { stays = n, median_seconds = stay_quantile(counts, n, 0.5),
        p90_seconds = stay_quantile(counts, n, 0.9) }
end

local function loss_classes(h, stage)
    local classes = {}
    for _, class in ipairs({ 'manageable', 'objective', 'unclassified' }) do
        local s = sum(h, 'lc|' .. stage .. '|' .. class)
        if s.n ~= 0 then
            classes[class] = out(s)
        end
    end
    return classes
end

-- Per stage, from the bottom up: entered = won (every won deal passed every stage) + the
-- deals open or lost there or further on.
local function stage_rows(h, order)
    local won = { n = 0, m = 0 }
    for _, stage in ipairs(order) do
        won = plus(won, sum(h, 'w|' .. stage), 1)
    end
    local entered, below = {}, won
    for i = #order, 1, -1 do
        local stage = order[i]
        below = plus(plus(below, sum(h, 'o|' .. stage), 1), sum(h, 'l|' .. stage), 1)
        entered[i] = below
    end
    local top = entered[1] or won
    local rows, drops = {}, {}
    for i, stage in ipairs(order) do
        local e, lost, open = entered[i], sum(h, 'l|' .. stage), sum(h, 'o|' .. stage)
        local nxt = entered[i + 1] or won
        local lost_row = out(lost)
        lost_row.classes = loss_classes(h, stage)
        rows[i] = { stage = stage, entered = out(e), moved_on = out(plus(plus(e, lost, -1), open, -1)),
            won = out(sum(h, 'w|' .. stage)), lost = lost_row, open = out(open),
            conversion = { next = ratio(nxt.n, e.n), top = ratio(e.n, top.n) },
            money_share = { next = ratio(nxt.m, e.m), top = ratio(e.m, top.m) },
            time_in_stage = time_in_stage(h, stage) }
        drops[i] = { from = stage, to = order[i + 1] or 'won', count = e.n - nxt.n,
            amount = money(e.m - nxt.m), share = ratio(e.m - nxt.m, top.m) }
    end
    return rows, drops, top, won
end

-- By manager or channel (prefix mg or ch): deals, money, won, conversion top -> won.
local function by(h, prefix, name)
    local rows = {}
    for field, _ in pairs(h) do
        local who = string.match(field, '^' .. prefix .. '|(.*)|n$')
        if who then
            local all, won = sum(h, prefix .. '|' .. who), sum(h, prefix .. 'w|' .. who)
            if all.n ~= 0 then
                rows[#rows + 1] = { [name] = who, deals = all.n, amount = money(all.m),
                    won = out(won), conversion = ratio(won.n, all.n),
                    money_conversion = ratio(won.m, all.m) }
            end
        end
    end
    table.sort(rows, function(a, b)
        return a[name] < b[name]
    end)
    return rows
end

local function emit_summary(ctx, scope, time_ms)
    local month, currency, pipeline = string.match(scope, '^([^|]*)|([^|]*)|(.*)$')
    local flat = redis.call('HGETALL', keys.funnel(ctx, scope))
    local h = {}
    for i = 1, #flat, 2 do
        h[flat[i]] = flat[i + 1]
    end
    local rows, drops, top, won = stage_rows(h, stage_order(ctx, pipeline, h))
    local data = { pipeline = pipeline, period = month, currency = currency,
        deals = sum(h, 'all').n, amount = money(sum(h, 'all').m), won = out(won),
        conversion = ratio(won.n, top.n), money_conversion = ratio(won.m, top.m) }
    local json = encode_with_lists(data, { { 'stages', rows }, { 'drops', drops },
        { 'by_manager', by(h, 'mg', 'manager_id') }, { 'by_channel', by(h, 'ch', 'channel') } })
    redis.call('HSET', keys.funnel_latest(ctx), scope, json) -- for the API
    emit(ctx, 'funnel.summary', aggregate_key(ctx, 'funnel|' .. pipeline .. '|' .. month .. '|'
        .. currency), time_ms, scope .. '|' .. json, json)
end

-- How long a deal may stay in its new stage before it is stalled, for a stage deal.stage_limits
-- does not list (f.stalled_learn): the p90 of the stage's stays over the trailing LEARN_DAYS
-- (an upper bin edge, as the summary's), else fallback_ms (deal.stalled_after) while fewer
-- than LEARN_MIN stays ended in them. Measured against the event's time t: the stays that
-- ended before it (events apply in event-time order), whatever the wall clock says.
function funnel.stall_after_ms(ctx, f, t, fallback_ms)
    local pipeline = f.pipeline_id or redis.call('HGET', keys.funnel_deal(ctx, f.deal_id),
        'pipeline') or 'default'
    local stage_key = pipeline .. '|' .. canonical_stage(listed_stages(ctx, pipeline), f.stage)
    local today = math.floor(t / DAY_MS)
    local counts, n = {}, 0
    for _, day in ipairs(redis.call('ZRANGEBYSCORE', keys.funnel_stay_days(ctx, stage_key),
        int(today - LEARN_DAYS + 1), int(today))) do
        local flat = redis.call('HGETALL', keys.funnel_stays(ctx, day, stage_key))
        for i = 1, #flat, 2 do
            local bin, c = tonumber(flat[i]), tonumber(flat[i + 1])
            counts[bin] = (counts[bin] or 0) + c
            n = n + c
        end
    end
    if n < LEARN_MIN then
        return fallback_ms
    end
    return stay_quantile(counts, n, 0.9) * 1000
end

on('publish', 'funnel.summary', emit_summary)
