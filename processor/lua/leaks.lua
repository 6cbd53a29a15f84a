-- leaks.lua — what the dashboard's "lead leaks" card lists, kept as the rules decide it so
-- that the HTTP API reads a few sorted sets and never scans leads (keys.tab: leaks_*,
-- latest). Nothing here emits: derived events are the other files' alone.
--   leaks_waiting    a lead enters when its call-back or idle deadline fires, and leaves on
--                    its first response, its closing or a duplicate verdict
--   leaks_untracked  calls that became lead.untracked_contact, by call time
--   leaks_dups       leads found duplicates, by creation time
-- "Today" is the local day (the tenant's time zone, applied by the API's reader) of the
-- latest event time applied, kept in latest.

-- Untracked contacts and duplicates older than this before the latest event are dropped: a
-- local day is at most 24 h before the latest event plus the largest zone offset (14 h).
local LEAKS_KEEP_MS = 2 * 86400000

function leaks.lead_waiting(ctx, lead_id, created_ms)
    redis.call('ZADD', keys.leaks_waiting(ctx), int(created_ms), lead_id)
end

-- A response, the closing or a duplicate verdict: the lead no longer waits.
function leaks.lead_settled(ctx, lead_id)
    redis.call('ZREM', keys.leaks_waiting(ctx), lead_id)
end

local function add_trimmed(ctx, k, member, time_ms)
    redis.call('ZADD', k, int(time_ms), member)
    local latest = tonumber(redis.call('ZSCORE', keys.latest(ctx), 'event')) or time_ms
    redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. int(math.max(latest, time_ms) - LEAKS_KEEP_MS))
end

function leaks.untracked(ctx, call_id, called_ms)
    add_trimmed(ctx, keys.leaks_untracked(ctx), call_id, called_ms)
end

function leaks.duplicate(ctx, lead_id, created_ms)
    add_trimmed(ctx, keys.leaks_dups(ctx), lead_id, created_ms)
end

function leaks.not_duplicate(ctx, lead_id)
    redis.call('ZREM', keys.leaks_dups(ctx), lead_id)
end

-- Called for every event applied: keeps the latest event time, in one command (ZADD GT
-- keeps the greater score; a GET and a SET were two on the hot path).
function leaks.saw_event(ctx, time_ms)
    redis.call('ZADD', keys.latest(ctx), 'GT', int(time_ms), 'event')
end
