/* log.c — one line per event of note on stderr, logfmt or JSON, with function and line. */
#include "leakwatch/leakwatch.h"

#include <string.h>
#include <time.h>

static lw_log_level min_level = LW_LOG_INFO;
static lw_log_format log_format = LW_LOG_LOGFMT;

static const char *level_names[] = {"debug", "info", "warn", "error", "fatal"};

void lw_log_setup(lw_log_level level, lw_log_format format)
{
    min_level = level;
    log_format = format;
}

bool lw_log_enabled(lw_log_level level)
{
    return level >= min_level;
}

/* Escapes msg for a double-quoted logfmt or JSON string. */
static void append_quoted(lw_buf *b, const char *msg)
{
    lw_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '"' || *p == '\\') {
            lw_buf_append(b, "\\", 1);
            lw_buf_append(b, p, 1);
        } else if (*p == '\n') {
            lw_buf_append(b, "\\n", 2);
        } else if (*p < 0x20) {
            lw_buf_appendf(b, "\\u%04x", *p);
        } else {
            lw_buf_append(b, p, 1);
        }
    }
    lw_buf_append(b, "\"", 1);
}

void lw_log(lw_log_level level, const char *func, int line, const char *fmt, ...)
{
    if (!lw_log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char ts[32];
    lw_rfc3339_format(lw_now_ms(), ts);

    lw_buf b = {0};
    if (log_format == LW_LOG_JSON) {
        lw_buf_appendf(&b,
                       "{\"ts\":\"%s\",\"level\":\"%s\",\"func\":\"%s\",\"line\":%d,\"msg\":", ts,
                       level_names[level], func, line);
        append_quoted(&b, msg);
        lw_buf_append(&b, "}\n", 2);
    } else {
        lw_buf_appendf(&b, "ts=%s level=%s func=%s line=%d msg=", ts, level_names[level], func,
                       line);
        append_quoted(&b, msg);
        lw_buf_append(&b, "\n", 1);
    }
    lw_progress_write(b.data, b.len); /* never on the progress line */
    lw_buf_free(&b);
}
