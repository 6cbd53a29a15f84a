/* test_normalize.c — dedup keys: phones to E.164 (processor/phone.cc, libphonenumber) and
 * e-mails (processor/normalize.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "leakwatch/leakwatch.h"

/* want == NULL: not a phone (false, out ""). */
typedef struct {
    const char *raw;
    const char *region;
    const char *want;
} phone_case;

static const phone_case phone_cases[] = {
    /* Kazakhstan: national prefix 8, country code 7 shared with Russia */
    {"8 (701) 123-45-67", "KZ", "+77011234567"},
    {"+7 701 1234567", "KZ", "+77011234567"},
    {"77011234567", "KZ", "+77011234567"}, /* no plus: 11 digits from the country code */
    {"7 701 123 45 67", "KZ", "+77011234567"},
    {"87011234567", "KZ", "+77011234567"},
    {"7011234567", "KZ", "+77011234567"}, /* the national number alone */
    {"+7 (701) 123-45-67", "KZ", "+77011234567"},
    {"8-701-123-45-67", "KZ", "+77011234567"},
    {"8.701.123.45.67", "KZ", "+77011234567"},
    {"+7.701.123.45.67", "KZ", "+77011234567"},
    {"(8701) 1234567", "KZ", "+77011234567"},
    {"  +7 701 123 45 67  ", "KZ", "+77011234567"},
    {"\t87011234567\r\n", "KZ", "+77011234567"},
    {"87011234567", "kz", "+77011234567"}, /* region as written in a config */
    /* extensions: the same line */
    {"+7 701 123 45 67 ext. 123", "KZ", "+77011234567"},
    {"+7 701 123 45 67 x123", "KZ", "+77011234567"},
    {"8 701 123 45 67 доб. 123", "KZ", "+77011234567"},
    {"+7 701 123 45 67 #123", "KZ", "+77011234567"},
    /* international prefixes: 00 (what people type), 8~10 (what KZ/RU metadata knows) */
    {"0077011234567", "KZ", "+77011234567"},
    {"00 7 701 123 45 67", "KZ", "+77011234567"},
    {"00 91 98765 43210", "RU", "+919876543210"},
    {"810 91 98765 43210", "RU", "+919876543210"},
    {"0091 98765 43210", "IN", "+919876543210"},
    {"00 44 20 7946 0958", "KZ", "+442079460958"},
    /* Russia */
    {"8 800 555-35-35", "RU", "+78005553535"}, /* toll-free: valid though not a mobile */
    {"8 800 555-35-35", "KZ", "+78005553535"},
    {"8 (916) 123-45-67", "RU", "+79161234567"},
    {"+7 916 123 45 67", "RU", "+79161234567"},
    {"79161234567", "RU", "+79161234567"},
    {"9161234567", "RU", "+79161234567"},
    {"8 (495) 123-45-67", "RU", "+74951234567"}, /* Moscow fixed line */
    {"8 (916) 123-45-67", "KZ", "+79161234567"}, /* a Russian mobile seen by a KZ tenant */
    /* India: national prefix 0 */
    {"098765 43210", "IN", "+919876543210"},
    {"+91 98765 43210", "IN", "+919876543210"},
    {"98765 43210", "IN", "+919876543210"},
    {"98765-43210", "IN", "+919876543210"},
    {"011 2345 6789", "IN", "+911123456789"}, /* Delhi fixed line */
    /* a '+' number is what it says, whatever the default region */
    {"+91 98765 43210", "KZ", "+919876543210"},
    {"+44 20 7946 0958", "KZ", "+442079460958"},
    {"+1 (650) 253-0000", "RU", "+16502530000"},
    {"+49 30 123456", "IN", "+4930123456"},
    {"+375 29 123 45 67", "KZ", "+375291234567"},
    {"+998 90 123 45 67", "RU", "+998901234567"},
    {"+77011234567", NULL, "+77011234567"},
    {"+77011234567", "", "+77011234567"},
    {"+7 701 123 45 67", "XX", "+77011234567"},
    /* without a region only a '+' number is a phone */
    {"87011234567", NULL, NULL},
    {"87011234567", "XX", NULL},
    /* letters mixed in */
    {"tel: +7 701 123 45 67", "KZ", "+77011234567"},
    {"call me 87011234567", "KZ", "+77011234567"},
    {"+7 701 123 4S 67", "KZ", NULL},           /* a letter for a digit: one digit short */
    {"87011234567 Ivan", "KZ", NULL},           /* 3+ letters read as a keypad word: too long */
    {"+7 701 ABC 45 67", "KZ", "+77012224567"}, /* a keypad word (1-800-FLOWERS style) */
    {"８７０１１２３４５６７", "KZ", "+77011234567"}, /* full-width digits */
    /* garbage */
    {"abc", "KZ", NULL},
    {"", "KZ", NULL},
    {"   ", "KZ", NULL},
    {"12", "KZ", NULL},
    {"+", "KZ", NULL},
    {"000", "KZ", NULL},
    {"0", "IN", NULL},
    {"--- () ---", "RU", NULL},
    {"n/a", "RU", NULL},
    {"1234567", "KZ", NULL},      /* 7 digits: a local number without its area code */
    {"123-45-67", "RU", NULL},    /* same */
    {"+7 701 1234", "KZ", NULL},  /* too short */
    {"8 701 123 45", "KZ", NULL}, /* too short */
    /* too long: libphonenumber calls a 14-digit +7 number "possible", not valid */
    {"+7 701 123 45 67 89 01", "KZ", NULL},
    {"+7 701 123 45 67 89 01 23 45 67 89", "KZ", NULL},
    {"870112345678", "KZ", NULL},
    {"+7 000 000 00 00", "RU", NULL}, /* the right length in no real range */
    {"1111111111", "RU", NULL},
    {"+8 701 123 45 67", "KZ", NULL}, /* no country code 8 */
    {"+999 123 456 789", "KZ", NULL},
    {"0000000000", "IN", NULL},
};

/* Twice: the second pass is answered by the cache of numbers normalized last, by region. */
static void test_phone_table(void **state)
{
    int failed = 0;
    size_t n = sizeof(phone_cases) / sizeof(phone_cases[0]);
    for (size_t k = 0; k < 2 * n; k++) {
        size_t i = k < n ? k : 2 * n - 1 - k;
        const phone_case *c = &phone_cases[i];
        char out[LW_PHONE_MAX] = "junk";
        bool ok = lw_phone_normalize(c->raw, c->region, out, sizeof(out));
        bool good = c->want ? ok && strcmp(out, c->want) == 0 : !ok && out[0] == '\0';
        if (!good) {
            print_error("phone case %zu: \"%s\" (%s): got %s \"%s\", want %s\n", i, c->raw,
                        c->region ? c->region : "NULL", ok ? "true" : "false", out,
                        c->want ? c->want : "false");
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

static void test_phone_edges(void **state)
{
    char out[LW_PHONE_MAX];
    assert_false(lw_phone_normalize(NULL, "KZ", out, sizeof(out)));
    assert_string_equal(out, "");
    assert_false(lw_phone_normalize("87011234567", "KZ", NULL, 0));
    /* "+77011234567" needs 13 bytes */
    strcpy(out, "junk");
    assert_false(lw_phone_normalize("87011234567", "KZ", out, 12));
    assert_string_equal(out, "");
    assert_true(lw_phone_normalize("87011234567", "KZ", out, 13));
    assert_string_equal(out, "+77011234567");
    /* a 13-digit E.164 number fits LW_PHONE_MAX (room for 15) */
    assert_true(lw_phone_normalize("+86 134 1234 5678", NULL, out, sizeof(out)));
    assert_string_equal(out, "+8613412345678");
    /* not a C++ crash on bytes that are not UTF-8, nor on a long input */
    assert_false(lw_phone_normalize("\xff\xfe\x80", "KZ", out, sizeof(out)));
    char big[4096];
    memset(big, '7', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(lw_phone_normalize(big, "KZ", out, sizeof(out)));
}

/* libphonenumber is a singleton shared by the processor's threads. */
static void *phone_worker(void *arg)
{
    long bad = 0;
    for (int i = 0; i < 200; i++) {
        char out[LW_PHONE_MAX];
        const phone_case *c = &phone_cases[(i + (long)arg) % 4];
        if (!lw_phone_normalize(c->raw, c->region, out, sizeof(out)) || strcmp(out, c->want) != 0)
            bad++;
    }
    return (void *)bad;
}

static void test_phone_threads(void **state)
{
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, phone_worker, (void *)i), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_int_equal((long)bad, 0);
    }
}

/* want == NULL: not an e-mail (false, out ""). */
typedef struct {
    const char *raw;
    const char *want;
} email_case;

static const email_case email_cases[] = {
    {"ivan@example.com", "ivan@example.com"},
    {"Ivan@Example.COM", "ivan@example.com"},
    {"  ivan@example.com  ", "ivan@example.com"},
    {"\tIVAN.PETROV@MAIL.RU\r\n", "ivan.petrov@mail.ru"},
    {"ivan@mail.example.co.uk", "ivan@mail.example.co.uk"},
    /* Gmail: dots and +tags of the local part do not matter */
    {"Ivan.Petrov@gmail.com", "ivanpetrov@gmail.com"},
    {"i.v.a.n+crm@gmail.com", "ivan@gmail.com"},
    {"ivan+leads+2@GMAIL.COM", "ivan@gmail.com"},
    {"ivan+@gmail.com", "ivan@gmail.com"},
    {" I.van.Petrov+site@Gmail.Com ", "ivanpetrov@gmail.com"},
    {"Ivan.Petrov+x@googlemail.com", "ivanpetrov@gmail.com"},
    {"ivan@GoogleMail.Com", "ivan@gmail.com"},
    /* elsewhere they may matter: kept */
    {"ivan+crm@example.com", "ivan+crm@example.com"},
    {"Ivan.Petrov+CRM@Yandex.ru", "ivan.petrov+crm@yandex.ru"},
    {"i.van@gmail.com.kz", "i.van@gmail.com.kz"},
    {"i.van+x@mail.gmail.com", "i.van+x@mail.gmail.com"},
    {"+tag@example.com", "+tag@example.com"},
    {"иван@пример.рф", "иван@пример.рф"}, /* non-ASCII bytes as they are */
    /* garbage */
    {"", NULL},
    {"   ", NULL},
    {"Ivan Petrov", NULL},
    {"ivan.example.com", NULL},   /* no @ */
    {"ivan@@example.com", NULL},  /* two @ */
    {"ivan@ex@ample.com", NULL},  /* two @ */
    {"@example.com", NULL},       /* empty local part */
    {"  @example.com", NULL},     /* empty local part */
    {"ivan@", NULL},              /* no domain */
    {"ivan@localhost", NULL},     /* no dot in the domain */
    {"ivan@example", NULL},       /* no dot in the domain */
    {"ivan@.com", NULL},          /* empty label */
    {"ivan@example..com", NULL},  /* empty label */
    {"ivan@example.com.", NULL},  /* empty label */
    {"iv an@example.com", NULL},  /* blank inside */
    {"ivan@exa\tmple.com", NULL}, /* blank inside */
    {"+tag@gmail.com", NULL},     /* nothing left of the local part */
    {"...@gmail.com", NULL},      /* nothing left of the local part */
};

static void test_email_table(void **state)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof(email_cases) / sizeof(email_cases[0]); i++) {
        const email_case *c = &email_cases[i];
        char out[256] = "junk";
        bool ok = lw_email_normalize(c->raw, out, sizeof(out));
        bool good = c->want ? ok && strcmp(out, c->want) == 0 : !ok && out[0] == '\0';
        if (!good) {
            print_error("email case %zu: \"%s\": got %s \"%s\", want %s\n", i, c->raw,
                        ok ? "true" : "false", out, c->want ? c->want : "false");
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

static void test_email_edges(void **state)
{
    char out[32];
    assert_false(lw_email_normalize(NULL, out, sizeof(out)));
    assert_string_equal(out, "");
    assert_false(lw_email_normalize("ivan@example.com", NULL, 0));
    /* "ivan@example.com" needs 17 bytes */
    strcpy(out, "junk");
    assert_false(lw_email_normalize("Ivan@Example.com", out, 16));
    assert_string_equal(out, "");
    strcpy(out, "junk");
    assert_false(lw_email_normalize("Ivan@Example.com", out, 4));
    assert_string_equal(out, "");
    assert_true(lw_email_normalize("Ivan@Example.com", out, 17));
    assert_string_equal(out, "ivan@example.com");
    /* the gmail form is shorter than the input: the bound is on the output */
    assert_true(lw_email_normalize("i.v.a.n+long-tag@googlemail.com", out, 15));
    assert_string_equal(out, "ivan@gmail.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phone_table),   cmocka_unit_test(test_phone_edges),
        cmocka_unit_test(test_phone_threads), cmocka_unit_test(test_email_table),
        cmocka_unit_test(test_email_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
