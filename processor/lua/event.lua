-- event.lua — lw_event: applies one input event to the tenant's state, atomically and
-- idempotently (an event id already applied changes nothing), after the tenant's deadlines
-- due before it: events and deadlines apply in one event-time order.
--
-- FCALL lw_event 1 lw:{tenant}:outbox <tenant> <id> <type> <time_ms> <fire_before_ms>
--       [<name> <value>]...
--   KEYS[1]  the tenant's outbox stream
--   id       the CloudEvent id (the idempotency key); type and time_ms its type and time
--   fire_before_ms  the tenant's deadlines strictly before it fire first (the processor
--            bounds it by the event time and by what the other instances have applied)
--   pairs    data fields, normalized by processor/transition.c: ids as strings, due_ms,
--            amount_minor + currency, and the tenant's thresholds on lead.created
--            (idle_after_ms, callback_after_ms, unanswered_after_ms); the local day and
--            month and the leak.* settings (leak_margin, leak_lifetime, leak_window_ms,
--            leak_currency) on what the leak estimate counts (estimate.lua); trace, the
--            input's trace context, when it has one: what the event's handlers emit carries
--            it (not the deadlines fired before it, nor aggregates, which lw_flush publishes);
--            retention_ms, the tenant's state.retention (common.lua: retain); position and
--            next_offset, "<group>:<topic>:<partition>" and the offset after the event's:
--            written to lw:{tenant}:positions in this call, applied or a repeat, so that what
--            Redis keeps of the state it keeps with the position (position.c)
-- Reply: { 1 if applied or 0 if this id was applied before, derived events emitted }

-- The input position after this event, in the tenant's slot: one event per call, and the
-- events of a partition are applied in offset order, so the highest position over the
-- tenants is where the partition resumes. Redis keeps a prefix of its writes: whatever
-- state it lost, it lost the positions written with it (README: State and positions).
local function record_position(ctx, fields)
    if fields.position and fields.next_offset then
        redis.call('HSET', keys.positions(ctx), fields.position, fields.next_offset)
    end
end

local function lw_event(key_args, args)
    local ctx = new_ctx(key_args[1], args[1])
    local id, event_type, time_ms = args[2], args[3], tonumber(args[4])
    local fields = {}
    for i = 6, #args - 1, 2 do
        fields[args[i]] = args[i + 1]
    end
    ctx.retention_ms = fields.retention_ms or ctx.retention_ms
    timers.fire_due(ctx, tonumber(args[5]), nil)
    ctx.event_id, ctx.now = id, time_ms
    -- ids are remembered per day of event time, so the sets expire as history ages
    local seen = keys.seen(ctx, int(math.floor(time_ms / 86400000)))
    if redis.call('SISMEMBER', seen, id) == 1 then
        record_position(ctx, fields)
        return { 0, ctx.emitted }
    end
    leaks.saw_event(ctx, time_ms)
    estimate.keep_settings(ctx, fields) -- the leak.* settings some types carry
    local rule = handlers.event[event_type] -- the type's one owner (common.lua: on)
    if rule then
        ctx.trace = fields.trace and { 'trace', fields.trace } -- set after fire_due
        rule(ctx, fields, time_ms)
    end
    -- recorded last: Redis does not roll back a failed script, and an event whose handler
    -- failed must apply again once fed anew
    redis.call('SADD', seen, id)
    redis.call('PEXPIRE', seen, SEEN_TTL_MS, 'NX')
    record_position(ctx, fields)
    return { 1, ctx.emitted }
end

redis.register_function('lw_event', lw_event)
