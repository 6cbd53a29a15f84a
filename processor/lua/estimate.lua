-- estimate.lua — what the leaks cost (leak.estimate): the seed's calculator on observed data,
-- per tenant, local month and currency.
--
-- Observed per local month M (the tenant's time zone; transition.c passes the local day and
-- month of lead.created, call.completed and deal.won):
--   leads       leads created in M, neither duplicates nor closed as spam
--   untracked   lead.untracked_contact alerts of calls made in M
--   unanswered  of those leads, the ones with neither a response nor a closing within
--               leak.unanswered_after (deadline lead.unanswered|<lead_id>)
--   conversion  won deals with a lead_id and an amount ÷ leads, both over the
--               leak.conversion_window local days that end with M's last day (a lead by
--               its creation day, a deal by the day it was won); per currency: the deals of
--               that currency
-- Arithmetic, all in integers, each rounding half up, each step on the rounded value before
-- it (so the figures shown can be checked by hand):
--   lost_deals (hundredths)  = lost_leads × won × 100 ÷ window leads
--   average_deal (minor)     = won amount ÷ won
--   lost_revenue             = lost_deals × average_deal ÷ 100
--   lost_margin              = lost_revenue × margin ÷ 10000 (settings in ten-thousandths)
--   lost_margin_per_year     = lost_margin × 12
--   lost_lifetime_value      = lost_revenue × lifetime_purchases ÷ 10000
--
-- State (processor/keys.tab): est_month (counts of a month), est_days (per local day of a
-- month: leads and won deals), est_months (months by their last day), est_settings,
-- est_latest (the HTTP API reads it). A lead's and a won deal's share is remembered in its
-- own hash (e_* and w_* fields), so a duplicate verdict, a spam closing, a late response, a
-- reopened deal or a new amount move the counts, and the same event twice changes nothing.
-- Publishing: once per batch per month (publish_later), every currency the month ever
-- published, of its window's won deals, else the tenant's currency.

local DAY_MS = 86400000
local DEFAULT_WINDOW_DAYS = 90
-- A month's counts are read by the windows of the months after it: they live 430 d from the
-- month's first lead (a window of up to a year, and the months it ends in), not the 100 d
-- of entity state, so a live run and a replay of the same input read the same counts.
local EST_TTL_MS = '37152000000'

-- Days since 1970-01-01 of a date "2026-11-22" (the inverse of common.lua's civil_date).
local function day_number(date)
    local y, m, d = string.match(date, '^(%d+)-(%d+)-(%d+)$')
    y, m, d = tonumber(y), tonumber(m), tonumber(d)
    if m <= 2 then
        y = y - 1
    end
    local era = math.floor(y / 400)
    local yoe = y - era * 400
    local mp = m > 2 and m - 3 or m + 9
    local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100)
        + math.floor((153 * mp + 2) / 5) + d - 1
    return era * 146097 + doe - 719468
end

-- The day number of the last day of month "2026-11".
local function last_day_of(month)
    local y, m = string.match(month, '^(%d+)-(%d+)$')
    y, m = tonumber(y), tonumber(m)
    if m == 12 then
        y, m = y + 1, 1
    else
        m = m + 1
    end
    return day_number(string.format('%04d-%02d-01', y, m)) - 1
end

local function window_days(settings)
    local ms = tonumber(settings.window_ms)
    return ms and math.max(1, math.ceil(ms / DAY_MS)) or DEFAULT_WINDOW_DAYS
end

-- Marks due month (its counts changed) and, when day's leads or won deals changed, every
-- month whose conversion window holds that day.
local function mark_due(ctx, month, day, time_ms)
    local noted = false -- month is marked by the range below when est_months has it
    if day then
        local n = day_number(day)
        -- an event's own settings (keep_settings), else those kept (a deadline)
        local settings = ctx.leak_window_ms and { window_ms = ctx.leak_window_ms }
            or read_hash(keys.est_settings(ctx), { 'window_ms' })
        for _, m in ipairs(redis.call('ZRANGE', keys.est_months(ctx), int(n),
            int(n + window_days(settings) - 1), 'BYSCORE')) do
            publish_later(ctx, 'leak.estimate', m, time_ms)
            noted = noted or m == month
        end
    end
    if not noted then
        publish_later(ctx, 'leak.estimate', month, time_ms)
    end
end

local function note_month(ctx, month)
    redis.call('ZADD', keys.est_months(ctx), 'NX', int(last_day_of(month)), month)
end

-- ---------------------------------------------------------------- shares

-- Moves an entity's share (a table of text fields, day among them; nil: none) from what its
-- hash k records to after (common.lua share_move): add(ctx, share, sign) counts one, and the
-- months either touches are marked due.
local function move_share(ctx, k, h, prefix, names, after, add, time_ms)
    share_move(k, h, prefix, names, after, function(share, sign)
        add(ctx, share, sign)
        mark_due(ctx, string.sub(share.day, 1, 7), share.day, time_ms)
    end)
end

-- ---------------------------------------------------------------- leads

local LEAD_SHARE = { 'created_ms', 'l_day', 'dup_of', 'closed_reason', 'closed_ms', 'resp_ms',
    'unans_fired', 'unanswered_after_ms', 'e_day', 'e_unans' }
local LEAD_SHARE_NAMES = { 'day', 'unans' }

-- What a lead adds now: nil, or its local creation day and whether it is unanswered.
local function lead_share_now(h)
    local created = tonumber(h.created_ms)
    if not created or not h.l_day or h.dup_of or h.closed_reason == 'spam' then
        return nil
    end
    local unanswered = false
    if h.unans_fired then
        local due = created + (tonumber(h.unanswered_after_ms) or 0)
        unanswered = not lead.deadline_met({ resp = tonumber(h.resp_ms),
            closed = tonumber(h.closed_ms) }, due)
    end
    return { day = h.l_day, unans = unanswered and '1' or '0' }
end

local function add_lead_share(ctx, s, sign)
    local month = string.sub(s.day, 1, 7)
    local k, days = keys.est_month(ctx, month), keys.est_days(ctx, month)
    local first = redis.call('HINCRBY', k, 'leads', int(sign)) == 1 -- the month's first lead
    if s.unans == '1' then
        redis.call('HINCRBY', k, 'unanswered', int(sign))
    end
    redis.call('HINCRBY', days, s.day .. '|leads', int(sign))
    if first then -- (or first again): its time to live starts, it is noted
        redis.call('PEXPIRE', k, EST_TTL_MS)
        redis.call('PEXPIRE', days, EST_TTL_MS)
        note_month(ctx, month)
    end
end

-- Moves a lead's share of its month to what its state says now (created, duplicate verdict,
-- spam closing, unanswered deadline, a response or closing read late).
function estimate.sync_lead(ctx, lead_id, time_ms)
    local k = keys.lead(ctx, lead_id)
    local h = read_hash(k, LEAD_SHARE)
    move_share(ctx, k, h, 'e_', LEAD_SHARE_NAMES, lead_share_now(h), add_lead_share, time_ms)
end

-- The unanswered deadline: the lead had neither a response nor a closing in time.
on('deadline', 'lead.unanswered', function(ctx, lead_id, due)
    local k = keys.lead(ctx, lead_id)
    if redis.call('EXISTS', k) == 0 then
        return
    end
    redis.call('HSET', k, 'unans_fired', '1')
    estimate.sync_lead(ctx, lead_id, due)
end)

-- ---------------------------------------------------------------- untracked contacts

-- An untracked contact alert was sent for a call made on month (fires once: its deadline).
function estimate.untracked(ctx, month, time_ms)
    if not month then
        return
    end
    local k = keys.est_month(ctx, month)
    redis.call('HINCRBY', k, 'untracked', '1')
    redis.call('PEXPIRE', k, EST_TTL_MS)
    note_month(ctx, month)
    mark_due(ctx, month, nil, time_ms)
end

-- ---------------------------------------------------------------- won deals

local DEAL_SHARE_NAMES = { 'day', 'currency', 'amount' }

-- What a deal adds now: nil unless won, with a lead and an amount.
local function deal_share_now(h)
    if h.status ~= 'won' or not h.won_day or not h.lead_id or not h.amount_minor then
        return nil
    end
    return { day = h.won_day, currency = h.currency or '-', amount = h.amount_minor }
end

local function add_deal_share(ctx, s, sign)
    local k = keys.est_days(ctx, string.sub(s.day, 1, 7))
    redis.call('HINCRBY', k, s.day .. '|won|' .. s.currency, int(sign))
    redis.call('HINCRBY', k, s.day .. '|sum|' .. s.currency, int(sign * tonumber(s.amount)))
    redis.call('PEXPIRE', k, EST_TTL_MS)
end

-- Moves a deal's share of the won deals to what its state says now. h: the deal's hash as
-- deal.lua read and wrote it (status, won_day, lead_id, amount_minor, currency, w_*).
function estimate.sync_deal(ctx, k, h, time_ms)
    move_share(ctx, k, h, 'w_', DEAL_SHARE_NAMES, deal_share_now(h), add_deal_share, time_ms)
end

-- The tenant's leak.* settings and currency, passed by transition.c on lead.created,
-- call.completed and deal.won: the latest given is what the next publication uses.
function estimate.keep_settings(ctx, f)
    ctx.leak_window_ms = f.leak_window_ms
    if f.leak_margin then
        redis.call('HSET', keys.est_settings(ctx), 'margin', f.leak_margin, 'lifetime',
            f.leak_lifetime, 'window_ms', f.leak_window_ms, 'currency', f.leak_currency)
    end
end

-- ---------------------------------------------------------------- publishing

-- a ÷ b rounded half up, for a ≥ 0 and b > 0
local function div_round(a, b)
    return math.floor((2 * a + b) / (2 * b))
end

-- A ratio as a decimal with 4 places ("0.0800"); "0.0000" when den is 0.
local function ratio(num, den)
    local q = den > 0 and div_round(num * 10000, den) or 0
    return string.format('%d.%04d', math.floor(q / 10000), q % 10000)
end

-- Ten-thousandths as the shortest decimal ("0.4", "10").
local function decimal_e4(v)
    local s = string.format('%d.%04d', math.floor(v / 10000), v % 10000)
    return (string.gsub(string.gsub(s, '0+$', ''), '%.$', ''))
end

-- Leads, won deals and won amount per currency over the window of days ending with last.
local function window_counts(ctx, last, days)
    local first = last - days + 1
    local leads, won, sum = 0, {}, {}
    local months = {}
    for n = first, last, 28 do
        months[string.sub(civil_date(n), 1, 7)] = true
    end
    months[string.sub(civil_date(last), 1, 7)] = true
    for month in pairs(months) do
        local flat = redis.call('HGETALL', keys.est_days(ctx, month))
        for i = 1, #flat, 2 do
            local date, what, currency = string.match(flat[i], '^([^|]+)|([a-z]+)|?(.*)$')
            local n = day_number(date)
            if n >= first and n <= last then
                local v = tonumber(flat[i + 1])
                if what == 'leads' then
                    leads = leads + v
                elseif what == 'won' then
                    won[currency] = (won[currency] or 0) + v
                else
                    sum[currency] = (sum[currency] or 0) + v
                end
            end
        end
    end
    return leads, won, sum
end

-- The currencies to publish, sorted: those published before, those won in the window, else
-- the tenant's.
local function currencies_of(h, won, settings)
    local set, list = {}, {}
    for c in string.gmatch(h.currencies or '', '[^;]+') do
        set[c] = true
    end
    for c, n in pairs(won) do
        if n > 0 then
            set[c] = true
        end
    end
    if next(set) == nil then
        set[settings.currency or '-'] = true
    end
    for c in pairs(set) do
        list[#list + 1] = c
    end
    table.sort(list)
    return list
end

local function estimate_data(month, currency, h, settings, window)
    local leads, untracked = tonumber(h.leads) or 0, tonumber(h.untracked) or 0
    local unanswered = tonumber(h.unanswered) or 0
    local lost_leads, incoming = untracked + unanswered, leads + untracked
    local won, sum = window.won[currency] or 0, window.sum[currency] or 0
    local margin = tonumber(settings.margin) or 4000
    local lifetime = tonumber(settings.lifetime) or 10000
    local lost_deals = window.leads > 0 and div_round(lost_leads * won * 100, window.leads) or 0
    local average = won > 0 and div_round(sum, won) or 0
    local revenue = div_round(lost_deals * average, 100)
    local lost_margin = div_round(revenue * margin, 10000)
    return { period = month, currency = currency, leads = leads, untracked = untracked,
        incoming = incoming, unanswered = unanswered, lost_leads = lost_leads,
        lost_share = ratio(lost_leads, incoming), window_days = window.days,
        window_leads = window.leads, won_deals = won, conversion = ratio(won, window.leads),
        average_deal = money(average), margin = decimal_e4(margin),
        lifetime_purchases = decimal_e4(lifetime),
        lost_deals = string.format('%d.%02d', math.floor(lost_deals / 100), lost_deals % 100),
        lost_revenue = money(revenue), lost_margin = money(lost_margin),
        lost_margin_per_year = money(lost_margin * 12),
        lost_lifetime_value = money(div_round(revenue * lifetime, 10000)) }
end

on('publish', 'leak.estimate', function(ctx, month, time_ms)
    local k = keys.est_month(ctx, month)
    local flat = redis.call('HGETALL', k)
    local h = {}
    for i = 1, #flat, 2 do
        h[flat[i]] = flat[i + 1]
    end
    local settings = read_hash(keys.est_settings(ctx), { 'margin', 'lifetime', 'window_ms',
        'currency' })
    local window = { days = window_days(settings) }
    window.leads, window.won, window.sum = window_counts(ctx, last_day_of(month), window.days)
    local currencies = currencies_of(h, window.won, settings)
    redis.call('HSET', k, 'currencies', table.concat(currencies, ';'))
    redis.call('PEXPIRE', k, EST_TTL_MS)
    for _, currency in ipairs(currencies) do
        local json = cjson.encode(estimate_data(month, currency, h, settings, window))
        redis.call('HSET', keys.est_latest(ctx), month .. ':' .. currency, json) -- for the API
        emit(ctx, 'leak.estimate', aggregate_key(ctx, 'leak|' .. month .. '|' .. currency),
            time_ms, month .. '|' .. currency .. '|' .. json, json)
    end
end)
