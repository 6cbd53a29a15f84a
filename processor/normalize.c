/* normalize.c — e-mail addresses as dedup keys (phones are in phone.cc). */
#include "leakwatch/leakwatch.h"

#include <ctype.h>
#include <string.h>

/* The domain after '@': labels separated by single dots, at least two of them. */
static bool domain_ok(const char *d, size_t n)
{
    if (n == 0 || d[0] == '.' || d[n - 1] == '.' || !memchr(d, '.', n))
        return false;
    for (size_t i = 1; i < n; i++)
        if (d[i] == '.' && d[i - 1] == '.')
            return false;
    return true;
}

bool lw_email_normalize(const char *raw, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return false;
    out[0] = '\0';
    if (!raw)
        return false;

    /* trimmed */
    const char *s = raw, *e = raw + strlen(raw);
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;

    /* exactly one '@'; nothing blank or control inside */
    const char *at = NULL;
    for (const char *p = s; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (isspace(c) || iscntrl(c))
            return false;
        if (c == '@') {
            if (at)
                return false;
            at = p;
        }
    }
    if (!at || at == s || !domain_ok(at + 1, (size_t)(e - at - 1)))
        return false;

    /* lower-cased (ASCII; other bytes as they are) */
    size_t local_len = (size_t)(at - s), domain_len = (size_t)(e - at - 1);
    char domain[256];
    if (domain_len >= sizeof(domain))
        return false;
    for (size_t i = 0; i < domain_len; i++)
        domain[i] = (char)tolower((unsigned char)at[1 + i]);
    domain[domain_len] = '\0';

    /* Gmail ignores dots and +tags in the local part, and googlemail.com is gmail.com. Other
     * providers may not: their local part stays as it is, +tag included. */
    bool gmail = strcmp(domain, "gmail.com") == 0 || strcmp(domain, "googlemail.com") == 0;
    const char *dom = gmail ? "gmail.com" : domain;
    size_t n = 0;
    for (size_t i = 0; i < local_len; i++) {
        char c = (char)tolower((unsigned char)s[i]);
        if (gmail && c == '+')
            break;
        if (gmail && c == '.')
            continue;
        if (n + 1 >= outlen)
            goto fail;
        out[n++] = c;
    }
    size_t dn = strlen(dom);
    if (n == 0 || n + 1 + dn + 1 > outlen) /* n == 0: "+tag@gmail.com", ".@gmail.com" */
        goto fail;
    out[n++] = '@';
    memcpy(out + n, dom, dn + 1);
    return true;
fail:
    out[0] = '\0';
    return false;
}
