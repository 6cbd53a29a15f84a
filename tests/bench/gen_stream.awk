# gen_stream.awk — a deterministic, realistic multi-day CRM stream for the exactness check
# (tests/bench/exactness.sh, tests/integration/test_exactness.sh): leads from several
# channels with phones in varied formats and e-mails, ~10 % duplicates, calls answering
# them after 1 s..2 h or never, status changes, closings (some as spam), inbound calls from
# phones no lead has (untracked contacts, some followed by their lead within 15 min),
# deals moving through stages, won, lost for classified and unclassified reasons, reopened
# and re-priced, and their tasks: done in time, done late, deleted, re-dated or left open;
# deals left with no open task for over a day and deals sitting over 7 days in a stage.
# A handful of deliberate ties: two events of one tenant at the very same millisecond.
#
#   awk -v N=20000 -v TENANTS=3 -v DAYS=9 -v SEED=7 -f tests/bench/gen_stream.awk |
#       LC_ALL=C sort -t$'\t' -k1,1 -k2,2 | cut -f3-
#
# Each line is "<time in Unix ms, 15 digits><TAB><event id><TAB><event>", so that the
# sort above gives the events in (time, id) order. Times are RFC 3339 with milliseconds
# from 2026-11-02T00:00:00Z on; events after DAYS days are cut (stories still running then
# are left open, as in any snapshot of a live stream). N is approximate (whole stories).
# Deterministic for one awk implementation (srand/rand differ between mawk and gawk).

# ----------------------------------------------------------------- time and numbers
# Days since 1970-01-01 to "YYYY-MM-DD" (H. Hinnant's civil_from_days, days >= 0).
function civil(days,    z, era, doe, yoe, doy, mp, d, m, y) {
    z = days + 719468
    era = int(z / 146097)
    doe = z - era * 146097
    yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
    doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
    mp = int((5 * doy + 2) / 153)
    d = doy - int((153 * mp + 2) / 5) + 1
    m = mp < 10 ? mp + 3 : mp - 9
    y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    return sprintf("%04d-%02d-%02d", y, m, d)
}

# Unix ms as RFC 3339 with milliseconds, in UTC ("Z") or at an offset of off_min minutes.
function iso(ms, off_min,    local, secs, rem, zone) {
    local = ms + off_min * 60000
    secs = int(local / 1000)
    rem = secs % 86400
    zone = off_min == 0 ? "Z" : sprintf("+%02d:%02d", int(off_min / 60), off_min % 60)
    return sprintf("%sT%02d:%02d:%02d.%03d%s", civil(int(secs / 86400)), int(rem / 3600),
                   int(rem / 60) % 60, rem % 60, local - secs * 1000, zone)
}

# A whole random number in [lo, hi).
function uniform(lo, hi) {
    return lo + int(rand() * (hi - lo))
}

# One of the words of list (separated by sep, default a blank), at random.
function pick(list, sep,    parts, n) {
    n = split(list, parts, sep == "" ? " " : sep)
    return parts[1 + int(rand() * n)]
}

# A random moment of the stream (ms): mostly in working hours (03-15 UTC, 08-20 in Almaty).
function working_moment(    day) {
    day = int(rand() * DAYS)
    if (rand() < 0.85)
        return START + day * DAY + uniform(3 * HOUR, 15 * HOUR)
    return START + day * DAY + uniform(0, DAY)
}

function json_str(s) {
    gsub(/\\/, "\\\\", s)
    gsub(/"/, "\\\"", s)
    return "\"" s "\""
}

# ----------------------------------------------------------------- events
# Prints one event (dropped when after the end of the stream). data: the JSON members of
# data, without braces; off_min: the offset its source writes times in (0: UTC).
function event(ms, type, tenant, source, data, off_min,    id) {
    if (ms >= FINISH)
        return
    id = sprintf("ev-%07d", ++SEQ)
    printf("%015.0f\t%s\t{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"%s\"," \
           "\"source\":\"%s\",\"time\":\"%s\",\"tenant\":\"%s\",\"data\":{%s}}\n",
           ms, id, id, type, source, iso(ms, off_min), tenant, data)
    EMITTED++
}

# The tenant of a new story: t1 busiest, t2 next... (weights 1, 1/2, 1/3...).
function some_tenant(    r, k) {
    r = rand() * WEIGHTS
    for (k = 1; k < TENANTS; k++) {
        r -= 1 / k
        if (r < 0)
            return "t" k
    }
    return "t" TENANTS
}

function some_manager(tenant) {
    return tenant "-m" uniform(1, 9)
}

# ----------------------------------------------------------------- contacts
# A fresh Kazakh mobile number: "<3-digit operator code><7 digits>" (never used before).
function new_phone() {
    PHONES++
    return pick("700 701 702 705 707 708 747 771 775 776 777 778") sprintf("%07d", 1000000 + PHONES * 37 % 9000000)
}

# The number as a person or a system writes it; all of them normalize to +7<digits>
# (the "8..." national form with phone.region RU, the default).
function phone_as_written(digits,    r) {
    r = rand()
    if (r < 0.45)
        return "+7" digits
    if (r < 0.70)
        return "+7 " substr(digits, 1, 3) " " substr(digits, 4, 3) "-" substr(digits, 7, 2) "-" substr(digits, 9, 2)
    if (r < 0.85)
        return "8" digits
    return "+7 (" substr(digits, 1, 3) ") " substr(digits, 4, 3) " " substr(digits, 7, 2) " " substr(digits, 9, 2)
}

# The same address as typed again: another case, sometimes with blanks around it.
function email_as_written(addr,    r) {
    if (addr == "")
        return ""
    r = rand()
    if (r < 0.5)
        return addr
    if (r < 0.8)
        return toupper(substr(addr, 1, 1)) substr(addr, 2)
    return " " toupper(addr) " "
}

# ----------------------------------------------------------------- leads
# The JSON members of a lead.created: phone and e-mail optional.
function lead_data(lead, name, phone, email, mgr, channel) {
    return "\"lead_id\":\"" lead "\",\"name\":" json_str(name) \
           (phone != "" ? ",\"phone\":\"" phone "\"" : "") \
           (email != "" ? ",\"email\":" json_str(email) : "") \
           ",\"manager_id\":\"" mgr "\",\"status\":\"new\",\"channel\":\"" channel "\"," \
           "\"pipeline_id\":\"main\""
}

function source_of(channel) {
    return channel == "form" ? "forms/site" : channel == "whatsapp" ? "whatsapp/gateway" : \
           channel == "telegram" ? "telegram/bot" : channel == "email" ? "mail/imap" : \
           channel == "call" ? "telephony/asterisk" : "amocrm/webhook"
}

# Remembers a lead of tenant for later duplicates.
function remember_lead(tenant, lead, at, digits, email,    k) {
    k = ++LEADS_OF[tenant]
    LEAD_ID[tenant, k] = lead
    LEAD_AT[tenant, k] = at
    LEAD_PHONE[tenant, k] = digits
    LEAD_EMAIL[tenant, k] = email
}

# One call.completed (lead may be ""): times from telephony carry the +05:00 offset half the
# time, as a PBX in Almaty writes them.
function call(ms, tenant, dir, status, digits, mgr, lead, deal,    c) {
    c = "C" sprintf("%06d", ++CALLS)
    event(ms, "call.completed", tenant, "telephony/asterisk",
          "\"call_id\":\"" c "\",\"direction\":\"" dir "\",\"status\":\"" status "\"," \
          "\"phone\":\"" phone_as_written(digits) "\",\"duration_s\":" \
          (status == "answered" ? uniform(15, 900) : 0) \
          (mgr != "" ? ",\"manager_id\":\"" mgr "\"" : "") \
          (lead != "" ? ",\"lead_id\":\"" lead "\"" : "") \
          (deal != "" ? ",\"deal_id\":\"" deal "\"" : ""), rand() < 0.5 ? 300 : 0)
}

# The delay of a lead's first response (ms), or -1 for a lead nobody answers: 35 % within
# the 15-min call-back, 20 % before the 30-min idle threshold, 25 % later (up to 2 h).
function first_response_delay(    r) {
    r = rand()
    if (r < 0.35)
        return uniform(SECOND, 15 * MINUTE - SECOND)
    if (r < 0.55)
        return uniform(15 * MINUTE + SECOND, 30 * MINUTE - SECOND)
    if (r < 0.80)
        return uniform(30 * MINUTE + SECOND, 2 * HOUR)
    return -1
}

# A response to a lead at ms: an outbound call (any status), an answered inbound call,
# a status change, or a task on the lead completed then.
function respond(ms, tenant, lead, digits, mgr,    r, t) {
    r = rand()
    if (r < 0.55 && digits != "") {
        call(ms, tenant, "outbound", pick("answered answered answered no_answer no_answer busy failed"),
             digits, mgr, lead, "")
    } else if (r < 0.65 && digits != "") {
        call(ms, tenant, "inbound", "answered", digits, mgr, lead, "")
    } else if (r < 0.85) {
        event(ms, "lead.status_changed", tenant, "amocrm/webhook",
              "\"lead_id\":\"" lead "\",\"status\":\"" pick("in_work contacted qualified") "\"," \
              "\"manager_id\":\"" mgr "\"")
    } else {
        t = "T" sprintf("%06d", ++TASKS)
        event(ms - uniform(MINUTE, 10 * MINUTE), "task.created", tenant, "amocrm/webhook",
              "\"task_id\":\"" t "\",\"lead_id\":\"" lead "\",\"due_at\":\"" iso(ms + HOUR, 0) "\"," \
              "\"manager_id\":\"" mgr "\",\"title\":\"Reply to the request\",\"kind\":\"email\"")
        event(ms, "task.completed", tenant, "amocrm/webhook",
              "\"task_id\":\"" t "\",\"lead_id\":\"" lead "\",\"manager_id\":\"" mgr "\"")
    }
}

# A lead's story from its creation at c: its responses (the first, and often more later,
# through other topics), closing, sometimes a deal. digits/email: its contacts ("" if none).
function lead_story(tenant, c, digits, email, channel, dup,    lead, mgr, name, d, r, phone) {
    lead = "L" sprintf("%06d", ++LEADS)
    mgr = some_manager(tenant)
    name = pick("Aigerim Нурлан Dana Arman Айгерим Timur Madina Ерлан Sultan Алия")
    phone = digits != "" ? phone_as_written(digits) : ""
    event(c, "lead.created", tenant, source_of(channel),
          lead_data(lead, name, phone, email_as_written(email), mgr, channel))
    remember_lead(tenant, lead, c, digits, email)
    if (digits != "" && rand() < 0.06) # the client calls before anyone answers: not a response
        call(c + uniform(30 * SECOND, 10 * MINUTE), tenant, "inbound", "missed", digits, "", lead, "")
    if (!dup && rand() < 0.03) { # spam, closed before it could go idle
        event(c + uniform(2 * MINUTE, 20 * MINUTE), "lead.closed", tenant, "amocrm/webhook",
              "\"lead_id\":\"" lead "\",\"status\":\"closed\",\"closed_reason\":\"spam\"")
        return lead
    }
    if (dup && rand() < 0.5)
        event(c + uniform(5 * MINUTE, DAY), "lead.closed", tenant, "amocrm/webhook",
              "\"lead_id\":\"" lead "\",\"status\":\"closed\",\"closed_reason\":\"duplicate\"")
    d = first_response_delay()
    if (d < 0) {
        if (rand() < 0.3)
            event(c + uniform(DAY, 3 * DAY), "lead.closed", tenant, "amocrm/webhook",
                  "\"lead_id\":\"" lead "\",\"status\":\"closed\",\"closed_reason\":\"no_response\"")
        return lead
    }
    if (digits != "" && rand() < 0.08) # a call naming no lead: attributed by phone
        call(c + d, tenant, "inbound", "answered", digits, mgr, "", "")
    else
        respond(c + d, tenant, lead, digits, mgr)
    for (r = rand(); r < 0.45; r = rand() * 1.6) # more responses later, in other topics
        respond(c + d + uniform(MINUTE, 6 * HOUR), tenant, lead, digits, mgr)
    if (rand() < 0.35 && !dup)
        deal_story(tenant, lead, mgr, name, c + d + uniform(10 * MINUTE, DAY))
    return lead
}

# A new lead of tenant, now and then a duplicate of an earlier one (same phone or e-mail,
# written differently, from another channel; the earlier lead is in another partition
# whenever the two ids hash apart) or two leads at the very same millisecond.
function new_lead(tenant,    c, k, digits, email, channel, same) {
    channel = pick("form form whatsapp whatsapp telegram email call chat")
    if (LEADS_OF[tenant] > 0 && rand() < 0.10) {
        k = uniform(1, LEADS_OF[tenant] + 1)
        c = LEAD_AT[tenant, k] + (rand() < 0.5 ? uniform(30 * SECOND, 10 * MINUTE) : uniform(10 * MINUTE, 3 * DAY))
        digits = LEAD_PHONE[tenant, k]
        email = LEAD_EMAIL[tenant, k]
        if (digits != "" && email != "" && rand() < 0.3)
            digits = new_phone() # matched on e-mail only
        else if (digits != "" && rand() < 0.8)
            email = ""           # matched on phone only
        lead_story(tenant, c, digits, email, channel, 1)
        return
    }
    c = working_moment()
    digits = channel == "email" && rand() < 0.7 ? "" : new_phone()
    email = channel == "email" || rand() < 0.4 ? sprintf("client%05d@%s", LEADS + 1, pick("mail.kz gmail.com inbox.ru yandex.kz")) : ""
    lead_story(tenant, c, digits, email, channel, 0)
    if (rand() < 0.003) { # a tie: another lead at the same ms, sometimes the same person
        TIES++
        same = digits != "" && rand() < 0.5
        lead_story(tenant, c, same ? digits : new_phone(), "", pick("whatsapp form"), same)
    }
}

# An inbound call naming no lead from a phone no lead has: untracked unless a lead with
# that phone comes within 15 min (45 %); some leads come later, after the alert.
function untracked_story(tenant,    c, digits, r) {
    c = working_moment()
    digits = new_phone()
    call(c, tenant, "inbound", pick("answered answered missed no_answer"), digits,
         rand() < 0.5 ? some_manager(tenant) : "", "", "")
    r = rand()
    if (r < 0.45)
        lead_story(tenant, c + uniform(MINUTE, 14 * MINUTE), digits, "", "call", 0)
    else if (r < 0.65)
        lead_story(tenant, c + uniform(20 * MINUTE, 3 * HOUR), digits, "", "call", 0)
}

# ----------------------------------------------------------------- deals and tasks
function money(minor) {
    return sprintf("%d.%02d", int(minor / 100), minor % 100)
}

# One task of deal from c: done in time (50 %), done late (20 %), deleted (10 %), re-dated
# to a later due time (10 %) or left open (10 %). Returns when it closed (FINISH if never).
function task_story(tenant, deal, mgr, client, c,    t, due, r, at, k) {
    t = "T" sprintf("%06d", ++TASKS)
    due = c + uniform(HOUR, 2 * DAY)
    k = pick("call call meeting email")
    event(c, "task.created", tenant, "amocrm/webhook",
          "\"task_id\":\"" t "\",\"deal_id\":\"" deal "\",\"due_at\":\"" iso(due, 0) "\"," \
          "\"manager_id\":\"" mgr "\",\"title\":\"" (k == "meeting" ? "Meet the client" : "Follow up") "\"," \
          "\"kind\":\"" k "\",\"contact_name\":" json_str(client))
    r = rand()
    if (r < 0.5) {
        at = c + uniform(10 * MINUTE, due - c)
    } else if (r < 0.7) {
        at = due + uniform(10 * MINUTE, 2 * DAY)
    } else if (r < 0.8) {
        at = c + uniform(MINUTE, 3 * DAY)
        event(at, "task.deleted", tenant, "amocrm/webhook",
              "\"task_id\":\"" t "\",\"deal_id\":\"" deal "\"")
        return at
    } else if (r < 0.9) {
        at = rand() < 0.5 ? due - uniform(MINUTE, 30 * MINUTE) : due + uniform(MINUTE, DAY)
        due = at + uniform(DAY, 3 * DAY)
        event(at, "task.updated", tenant, "amocrm/webhook",
              "\"task_id\":\"" t "\",\"deal_id\":\"" deal "\",\"due_at\":\"" iso(due, 0) "\"")
        at = rand() < 0.6 ? due - uniform(MINUTE, HOUR) : due + uniform(HOUR, DAY)
    } else {
        return FINISH
    }
    event(at, "task.completed", tenant, "amocrm/webhook",
          "\"task_id\":\"" t "\",\"deal_id\":\"" deal "\",\"manager_id\":\"" mgr "\"")
    if (rand() < 0.01) { # the next task created at the very same ms: a tie on one deal
        TIES++
        return -at
    }
    return at
}

# A deal from its lead: tasks one after another (sometimes a gap of over a day: no next
# step), stages (sometimes over 7 days in one: stalled), price changes, then won, lost
# (classified or not), or left open; some lost deals reopen.
function deal_story(tenant, lead, mgr, client, c,    deal, amount, stage, stages, n, i, t, end_at, outcome, r, next_task, reason) {
    deal = "D" sprintf("%06d", ++DEALS)
    amount = uniform(50000, 2000000) * 100 + (rand() < 0.3 ? uniform(1, 100) : 0)
    event(c, "deal.created", tenant, "amocrm/webhook",
          "\"deal_id\":\"" deal "\",\"lead_id\":\"" lead "\",\"amount\":\"" money(amount) "\"," \
          "\"currency\":\"KZT\",\"stage\":\"new\",\"manager_id\":\"" mgr "\"," \
          "\"contact_name\":" json_str(client) ",\"pipeline_id\":\"main\"")
    if (rand() < 0.3)
        event(c + uniform(SECOND, 5 * MINUTE), "lead.closed", tenant, "amocrm/webhook",
              "\"lead_id\":\"" lead "\",\"status\":\"closed\",\"closed_reason\":\"converted\"")
    r = rand()
    outcome = r < 0.25 ? "won" : r < 0.65 ? "lost" : "open"
    end_at = outcome == "open" ? FINISH : c + uniform(DAY, 8 * DAY)
    # stages: spaced hours to days apart, one in eight sits over 7 days
    n = split("qualification proposal negotiation contract", stages, " ")
    t = c
    for (i = 1; i <= n; i++) {
        t += rand() < 0.12 ? uniform(7 * DAY + HOUR, 8 * DAY + 12 * HOUR) : uniform(2 * HOUR, 2 * DAY)
        if (t >= end_at || rand() < 0.25)
            break
        event(t, "deal.stage_changed", tenant, "amocrm/webhook",
              "\"deal_id\":\"" deal "\",\"stage\":\"" stages[i] "\",\"manager_id\":\"" mgr "\"")
    }
    # tasks: the first one soon (a tie with the deal now and then) or after over a day
    r = rand()
    next_task = r < 0.01 ? c : r < 0.65 ? c + uniform(10 * MINUTE, 6 * HOUR) : r < 0.88 ? c + uniform(25 * HOUR, 40 * HOUR) : FINISH
    if (next_task == c)
        TIES++
    while (next_task < end_at) {
        t = task_story(tenant, deal, mgr, client, next_task)
        if (t < 0) {
            next_task = -t
            continue
        }
        r = rand()
        next_task = r < 0.6 ? t + uniform(MINUTE, 4 * HOUR) : r < 0.85 ? t + uniform(25 * HOUR, 40 * HOUR) : FINISH
    }
    if (rand() < 0.15) { # re-priced while open
        amount = int(amount * (0.7 + rand() * 0.6))
        event(c + uniform(HOUR, end_at - c < 3 * DAY ? end_at - c : 3 * DAY), "deal.updated", tenant, "amocrm/webhook",
              "\"deal_id\":\"" deal "\",\"amount\":\"" money(amount) "\",\"currency\":\"KZT\"")
    }
    if (outcome == "won") {
        event(end_at, "deal.won", tenant, "amocrm/webhook",
              "\"deal_id\":\"" deal "\",\"stage\":\"won\",\"manager_id\":\"" mgr "\"")
    } else if (outcome == "lost") {
        reason = pick("no_answer_3_times no_answer_3_times no_answer_3_times chose_competitor chose_competitor not_now not_now no_need spam too_expensive")
        if (rand() < 0.1) # as the CRM names them, one unclassified
            reason = pick("Не отвечает более 3-х раз|Выбрал других|Дорого", "|")
        event(end_at, "deal.lost", tenant, "amocrm/webhook",
              "\"deal_id\":\"" deal "\",\"loss_reason\":" json_str(reason) ",\"manager_id\":\"" mgr "\"")
        r = rand()
        if (r < 0.06) { # re-priced after it was lost: the totals move
            event(end_at + uniform(HOUR, DAY), "deal.updated", tenant, "amocrm/webhook",
                  "\"deal_id\":\"" deal "\",\"amount\":\"" money(int(amount * 0.8)) "\",\"currency\":\"KZT\"")
        } else if (r < 0.14) { # reopened: it leaves the totals, then won or lost again
            t = end_at + uniform(HOUR, 2 * DAY)
            event(t, "deal.reopened", tenant, "amocrm/webhook",
                  "\"deal_id\":\"" deal "\",\"stage\":\"negotiation\",\"manager_id\":\"" mgr "\"")
            t += uniform(HOUR, 3 * DAY)
            if (rand() < 0.5)
                event(t, "deal.won", tenant, "amocrm/webhook", "\"deal_id\":\"" deal "\"")
            else
                event(t, "deal.lost", tenant, "amocrm/webhook",
                      "\"deal_id\":\"" deal "\",\"loss_reason\":\"" pick("not_now chose_competitor too_expensive") "\"")
        }
    }
}

# ----------------------------------------------------------------- main
BEGIN {
    if (SEED == "") SEED = 7
    if (!N) N = 20000
    if (!TENANTS) TENANTS = 3
    if (!DAYS) DAYS = 9
    srand(SEED)
    SECOND = 1000; MINUTE = 60 * SECOND; HOUR = 60 * MINUTE; DAY = 24 * HOUR
    START = 1793577600000 # 2026-11-02T00:00:00Z
    FINISH = START + DAYS * DAY
    for (k = 1; k <= TENANTS; k++)
        WEIGHTS += 1 / k
    while (EMITTED < N) {
        tenant = some_tenant()
        if (rand() < 0.07)
            untracked_story(tenant)
        else
            new_lead(tenant)
    }
    printf("gen_stream: %d events, %d leads, %d calls, %d tasks, %d deals, %d ties (seed %s)\n",
           EMITTED, LEADS, CALLS, TASKS, DEALS, TIES, SEED) > "/dev/stderr"
}
