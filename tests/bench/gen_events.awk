# Generates N synthetic but realistic CRM CloudEvents over one day (NDJSON on stdout):
# leads from several channels, calls answering most of them, tasks created and completed,
# deals created, moved and lost. Deterministic (fixed seed). Events come lead by lead; to
# feed them in time order, as a CRM would, sort them:
#   awk -v N=100000 -v TENANTS=4 -f tests/bench/gen_events.awk | sort -s -k1,1 | cut -f2-
# (each line is "<time><TAB><event>"; time order within a partition is what the event
# clock assumes, up to clock.lateness)
function ts(sec,   d, h, m, s) {
    d = 22 + int(sec / 86400); sec %= 86400  # deadlines of late events roll into the 23rd
    h = int(sec / 3600); m = int(sec % 3600 / 60); s = int(sec % 60)
    return sprintf("2026-11-%02dT%02d:%02d:%02dZ", d, h, m, s)
}
function event(id, type, sec, tenant, data) {
    printf("%s\t{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"%s\",\"source\":\"bench/gen\"," \
           "\"time\":\"%s\",\"tenant\":\"%s\",\"data\":{%s}}\n", ts(sec), id, type, ts(sec),
           tenant, data)
}
BEGIN {
    srand(42)
    if (!N) N = 100000
    if (!TENANTS) TENANTS = 4
    split("form whatsapp telegram email call", channels, " ")
    split("no_answer_3_times chose_competitor not_now spam no_need", reasons, " ")
    n = 0; lead = 0
    while (n < N) {
        sec = int(n / N * 80000)                 # spread over the day, in time order
        tenant = "t" (lead % TENANTS)
        lead++
        mgr = "m" int(rand() * 20)
        ch = channels[1 + int(rand() * 5)]
        event("L" lead "-c", "lead.created", sec, tenant,
              sprintf("\"lead_id\":\"L%d\",\"phone\":\"+7701%07d\",\"manager_id\":\"%s\",\"channel\":\"%s\"", lead, lead, mgr, ch)); n++
        r = rand()
        if (r < 0.7 && n < N) {                  # most leads get a call within 40 minutes
            event("C" lead, "call.completed", sec + int(rand() * 2400), tenant,
                  sprintf("\"call_id\":\"C%d\",\"lead_id\":\"L%d\",\"direction\":\"outbound\",\"status\":\"%s\",\"duration_s\":%d,\"manager_id\":\"%s\"", lead, lead, rand() < 0.6 ? "answered" : "no_answer", int(rand() * 300), mgr)); n++
        }
        if (rand() < 0.5 && n + 1 < N) {         # a task, often completed
            event("T" lead "-c", "task.created", sec + 60, tenant,
                  sprintf("\"task_id\":\"T%d\",\"lead_id\":\"L%d\",\"due_at\":\"%s\",\"kind\":\"call\",\"manager_id\":\"%s\"", lead, lead, ts(sec + 3600), mgr)); n++
            if (rand() < 0.7) {
                event("T" lead "-d", "task.completed", sec + 1800, tenant,
                      sprintf("\"task_id\":\"T%d\",\"lead_id\":\"L%d\",\"manager_id\":\"%s\"", lead, lead, mgr)); n++
            }
        }
        if (rand() < 0.4 && n + 1 < N) {         # a deal, some lost
            event("D" lead "-c", "deal.created", sec + 120, tenant,
                  sprintf("\"deal_id\":\"D%d\",\"lead_id\":\"L%d\",\"amount\":\"%d.%02d\",\"currency\":\"KZT\",\"stage\":\"new\",\"manager_id\":\"%s\"", lead, lead, 1000 + int(rand() * 200000), int(rand() * 100), mgr)); n++
            if (rand() < 0.3) {
                event("D" lead "-l", "deal.lost", sec + 7200, tenant,
                      sprintf("\"deal_id\":\"D%d\",\"loss_reason\":\"%s\"", lead, reasons[1 + int(rand() * 5)])); n++
            }
        }
    }
}
