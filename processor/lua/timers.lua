-- timers.lua — lw_fire: claims and fires the tenant's due deadlines atomically, so each
-- fires once however many instances call it.
--
-- FCALL lw_fire 1 lw:{tenant}:outbox <tenant> <now_ms> <limit>
--   KEYS[1]  the tenant's outbox stream (the derived events go there)
--   now_ms   the clock: wall time, or the event-time watermark; deadlines before it fire
--   limit    at most this many deadlines in one call
-- Reply: { fired, derived events emitted, next due ms or -1 }

local function lw_fire(keys, args)
    local ctx = new_ctx(keys[1], args[1])
    local now, limit = tonumber(args[2]), tonumber(args[3])
    ctx.now = now
    local timers = key(ctx, 'timers')
    -- strictly before now: an event at exactly the deadline counts as in time, and with the
    -- event clock it may still be unread
    local due = redis.call('ZRANGE', timers, '-inf', '(' .. int(now), 'BYSCORE', 'LIMIT', 0,
        limit, 'WITHSCORES')
    for i = 1, #due, 2 do
        local member, at = due[i], tonumber(due[i + 1])
        -- removed first: a handler that fails must not wedge the tenant's deadlines
        redis.call('ZREM', timers, member)
        local sep = string.find(member, '|', 1, true)
        local fire = sep and timer_handlers[string.sub(member, 1, sep - 1)]
        if fire then
            fire(ctx, string.sub(member, sep + 1), at)
        end
    end
    local nxt = redis.call('ZRANGE', timers, 0, 0, 'WITHSCORES')
    return { #due / 2, ctx.emitted, nxt[2] and tonumber(nxt[2]) or -1 }
end

redis.register_function('lw_fire', lw_fire)
