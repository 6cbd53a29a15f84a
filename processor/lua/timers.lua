-- timers.lua — deadlines: each tenant's in one sorted set (lw:{t}:timers, member
-- "<kind>|<entity id>", score the due time), fired one at a time in time order (ties: by
-- member), each claimed (removed) before its handler runs, so it fires once however many
-- instances call. A handler may set further deadlines; those due before the bound fire in
-- the same call, in their place.
--
-- FCALL lw_fire 1 lw:{tenant}:outbox <tenant> <now_ms> <limit>
--   KEYS[1]  the tenant's outbox stream (the derived events go there)
--   now_ms   the clock: deadlines strictly before it fire (an event at exactly the deadline
--            counts as in time)
--   limit    at most this many deadlines in one call (the rest fire with the next call, or
--            before the tenant's next event: lw_event fires them first)
-- Reply: { fired, derived events emitted, next due ms or -1 }
--
-- FCALL lw_flush 1 lw:{tenant}:outbox <tenant>
--   publishes the tenant's aggregates due (common.lua: publish_due); the processor calls it
--   after the tenant's last event of a batch.
-- Reply: derived events emitted

-- Fires the tenant's deadlines due strictly before `before`, at most limit (nil: all).
-- Returns how many fired.
function timers.fire_due(ctx, before, limit)
    if before == nil or before <= 0 then
        return 0
    end
    local pending = keys.timers(ctx)
    local bound = '(' .. int(before)
    local fired = 0
    while limit == nil or fired < limit do
        local due = redis.call('ZRANGE', pending, '-inf', bound, 'BYSCORE', 'LIMIT', '0', '1',
            'WITHSCORES')
        if not due[1] then
            break
        end
        local member, at = due[1], tonumber(due[2])
        -- removed first: a handler that fails must not wedge the tenant's deadlines
        redis.call('ZREM', pending, member)
        ctx.now = at
        local sep = string.find(member, '|', 1, true)
        local fire = sep and handlers.deadline[string.sub(member, 1, sep - 1)]
        if fire then
            fire(ctx, string.sub(member, sep + 1), at)
        end
        fired = fired + 1
    end
    return fired
end

local function lw_fire(key_args, args)
    local ctx = new_ctx(key_args[1], args[1])
    local fired = timers.fire_due(ctx, tonumber(args[2]), tonumber(args[3]))
    publish_due(ctx)
    local nxt = redis.call('ZRANGE', keys.timers(ctx), '0', '0', 'WITHSCORES')
    return { fired, ctx.emitted, nxt[2] and tonumber(nxt[2]) or -1 }
end

local function lw_flush(key_args, args)
    local ctx = new_ctx(key_args[1], args[1])
    publish_due(ctx)
    return ctx.emitted
end

redis.register_function('lw_fire', lw_fire)
redis.register_function('lw_flush', lw_flush)
