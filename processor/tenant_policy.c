/* tenant_policy.c — which tenant ids are accepted. A tenant id becomes Redis keys and their
 * hash tag, log fields and metric labels, so only what tenants.pattern (POSIX ERE, anchored,
 * compiled once at load) matches is taken, and with tenants.allow only the tenants listed:
 * a typo in one integration must not open a new tenant with its own streams and deadlines.
 * Whatever the pattern, braces (hash tags), control characters (log lines) and more than
 * LW_TENANT_MAX bytes never pass. */
#include "leakwatch/leakwatch.h"

#include <regex.h>
#include <string.h>

struct lw_tenant_policy {
    uint64_t serial; /* unique per policy made: what the check's cache is keyed on */
    regex_t pattern;
    char **allow; /* NULL: any tenant the pattern matches */
    size_t allow_n;
};

static bool always_refused(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > LW_TENANT_MAX)
        return true;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '{' || *p == '}')
            return true;
    return false;
}

static bool add_allowed(lw_tenant_policy *p, const char *name, size_t len, char *err, size_t errlen)
{
    char *copy = strndup(name, len);
    if (always_refused(copy) || regexec(&p->pattern, copy, 0, NULL, 0) != 0) {
        snprintf(err, errlen, "config: tenants.allow: '%s' does not match tenants.pattern", copy);
        free(copy);
        return false;
    }
    p->allow = realloc(p->allow, (p->allow_n + 1) * sizeof(*p->allow));
    p->allow[p->allow_n++] = copy;
    return true;
}

/* allow: comma separated, "" for none (any tenant). */
static bool parse_allow(lw_tenant_policy *p, const char *allow, char *err, size_t errlen)
{
    for (const char *s = allow; *s;) {
        size_t len = strcspn(s, ",");
        if (len && !add_allowed(p, s, len, err, errlen))
            return false;
        s += len + (s[len] == ',');
    }
    if (*allow && !p->allow_n) {
        snprintf(err, errlen, "config: tenants.allow expects tenant names, got '%s'", allow);
        return false;
    }
    return true;
}

lw_tenant_policy *lw_tenant_policy_new(const char *pattern, const char *allow, char *err,
                                       size_t errlen)
{
    static _Atomic uint64_t made;
    lw_tenant_policy *p = calloc(1, sizeof(*p));
    p->serial = ++made;
    char anchored[1100], why[200];
    snprintf(anchored, sizeof(anchored), "^(%s)$", pattern);
    int rc = regcomp(&p->pattern, anchored, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, &p->pattern, why, sizeof(why));
        snprintf(err, errlen,
                 "config: tenants.pattern expects a POSIX extended regular expression, "
                 "got '%s' (%s)",
                 pattern, why);
        free(p);
        return NULL;
    }
    if (!parse_allow(p, allow, err, errlen)) {
        lw_tenant_policy_free(p);
        return NULL;
    }
    return p;
}

/* The last tenant checked, per thread (the HTTP API checks too): a batch is a few tenants
 * over and over, and regexec cost half a microsecond an event. */
static _Thread_local struct {
    uint64_t policy; /* its serial: a policy freed and another made at its address differ */
    char tenant[128];
    lw_reject_reason answer;
} last_checked;

static lw_reject_reason check_uncached(const lw_tenant_policy *p, const char *tenant)
{
    if (always_refused(tenant) || regexec(&p->pattern, tenant, 0, NULL, 0) != 0)
        return LW_REJECT_INVALID_TENANT;
    if (!p->allow)
        return LW_REJECT_NONE;
    for (size_t i = 0; i < p->allow_n; i++)
        if (!strcmp(p->allow[i], tenant))
            return LW_REJECT_NONE;
    return LW_REJECT_UNKNOWN_TENANT;
}

lw_reject_reason lw_tenant_policy_check(const lw_tenant_policy *p, const char *tenant)
{
    if (last_checked.policy == p->serial && !strcmp(last_checked.tenant, tenant))
        return last_checked.answer;
    lw_reject_reason answer = check_uncached(p, tenant);
    if (strlen(tenant) < sizeof(last_checked.tenant)) {
        last_checked.policy = p->serial;
        strcpy(last_checked.tenant, tenant);
        last_checked.answer = answer;
    }
    return answer;
}

bool lw_tenant_policy_admit(const lw_tenant_policy *p, const char *tenant, lw_reject *why)
{
    lw_reject_reason r = lw_tenant_policy_check(p, tenant);
    if (r == LW_REJECT_NONE)
        return true;
    why->reason = r;
    snprintf(why->detail, sizeof(why->detail),
             r == LW_REJECT_INVALID_TENANT ? "tenant does not match tenants.pattern"
                                           : "tenant is not in tenants.allow");
    return false;
}

void lw_tenant_policy_free(lw_tenant_policy *p)
{
    if (!p)
        return;
    regfree(&p->pattern);
    for (size_t i = 0; i < p->allow_n; i++)
        free(p->allow[i]);
    free(p->allow);
    free(p);
}
