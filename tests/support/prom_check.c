/* prom_check — reads a /metrics scrape on stdin and checks it as test_metrics checks what
 * lw_metrics_render writes (promtext.h). Prints the problems on stderr and exits 1 when
 * there are any; else prints the TYPE of each family ("# TYPE name type") and each sample
 * as "name{label="value",...} value" (labels as written, values escaped again, numbers as
 * %.17g), for a test to look for series with grep. */
#include "promtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_escaped(const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            putchar('\\');
        if (*v == '\n')
            fputs("\\n", stdout);
        else
            putchar(*v);
    }
}

int main(void)
{
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap);
    for (size_t n; (n = fread(text + len, 1, cap - len, stdin)) > 0;) {
        len += n;
        if (len == cap)
            text = realloc(text, cap *= 2);
    }
    prom_doc doc;
    size_t problems = prom_parse(text, len, &doc);
    if (problems) {
        fprintf(stderr, "prom_check: %zu problem(s):\n%s", problems, doc.problems);
    } else {
        for (size_t i = 0; i < doc.nfamilies; i++)
            printf("# TYPE %s %s\n", doc.families[i].name, doc.families[i].type);
        for (size_t i = 0; i < doc.nsamples; i++) {
            const prom_sample *s = &doc.samples[i];
            fputs(s->name, stdout);
            for (size_t k = 0; k < s->nlabels; k++) {
                printf("%s%s=\"", k ? "," : "{", s->labels[k].name);
                put_escaped(s->labels[k].value);
                putchar('"');
            }
            printf("%s %.17g\n", s->nlabels ? "}" : "", s->value);
        }
    }
    prom_free(&doc);
    free(text);
    return problems ? 1 : 0;
}
