/* eval_suite.c — see eval_suite.h. */
#include "eval_suite.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errors.h"
#include "tasks.h"

#define DIRECTIVE_TRAINING "@meta-training-tasks"

/* 1 when d is the domain of some task family. */
static int known_domain(const char *d)
{
    for (int i = 0; i < tasks_count(); i++)
        if (strcmp(tasks_at(i)->domain, d) == 0) return 1;
    return 0;
}

/* One entry from its words (the line without comment); `where` and `line`
 * for messages.  The task text is rebuilt with single spaces. */
static int add_entry(eval_suite *s, char *words, const char *where, int line, int dup_ok, char *msg, size_t cap)
{
    eval_suite_entry e;
    memset(&e, 0, sizeof e);
    char tbuf[EVAL_SUITE_MAX_LINE + 1] = "";
    size_t tn = 0;
    char *save = NULL;
    for (char *w = strtok_r(words, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
        if (strncmp(w, "domain=", 7) == 0) {
            const char *d = w + 7;
            if (e.domain[0])
                return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s:%d: domain= given twice", where, line);
            if (strlen(d) >= EVAL_SUITE_DOMAIN || !known_domain(d))
                return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s:%d: domain \"%.40s\" is no task family's domain",
                             where, line, d);
            snprintf(e.domain, sizeof e.domain, "%s", d);
            continue;
        }
        if (strncmp(w, "min=", 4) == 0) {
            if (e.has_min || meta_spec_parse_num(w + 4, &e.min))
                return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s:%d: min= must be one finite number, not \"%.40s\"",
                             where, line, w + 4);
            e.has_min = 1;
            continue;
        }
        size_t wl = strlen(w);
        if (tn + wl + 2 > sizeof tbuf)
            return err_failf(msg, cap, ERR_OUT_OF_RANGE, "%s:%d: the line is too long", where, line);
        if (tn) tbuf[tn++] = ' ';
        memcpy(tbuf + tn, w, wl + 1);
        tn += wl;
    }
    if (!tn) return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s:%d: domain= or min= without a task", where, line);
    char m[240];
    int rc = meta_task_parse(tbuf, &e.t, m, sizeof m);
    if (rc) return err_failf(msg, cap, rc, "%s:%d: %s", where, line, m);
    snprintf(e.text, sizeof e.text, "%s", tbuf);
    if (!e.domain[0]) snprintf(e.domain, sizeof e.domain, "%s", tasks_find(e.t.family)->domain);
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->e[i].text, e.text) == 0) {
            if (dup_ok) return 0;
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s:%d: \"%.60s\" is already in the suite", where, line, e.text);
        }
    if (s->n >= EVAL_SUITE_MAX_ENTRIES)
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "%s:%d: more than %d entries", where, line, EVAL_SUITE_MAX_ENTRIES);
    s->e[s->n++] = e;
    return 0;
}

int eval_suite_parse(const char *text, size_t len, const char *where, eval_suite *s, char *msg, size_t cap)
{
    memset(s, 0, sizeof *s);
    if (len > EVAL_SUITE_MAX_BYTES)
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "%s: larger than %d bytes", where, EVAL_SUITE_MAX_BYTES);
    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (ll > EVAL_SUITE_MAX_LINE)
            return err_failf(msg, cap, ERR_OUT_OF_RANGE, "%s:%d: longer than %d characters", where, line,
                         EVAL_SUITE_MAX_LINE);
        char buf[EVAL_SUITE_MAX_LINE + 1];
        memcpy(buf, text + pos, ll);
        buf[ll] = '\0';
        pos += ll + (nl ? 1 : 0);
        if (memchr(buf, '\0', ll))
            return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s:%d: holds a NUL byte", where, line);
        char *h = strchr(buf, '#');
        if (h) *h = '\0';
        char *w = buf;
        while (isspace((unsigned char)*w)) w++;
        if (!*w) continue;
        if (*w == '@') {
            char *end = w + strlen(w);
            while (end > w && isspace((unsigned char)end[-1])) *--end = '\0';
            if (strcmp(w, DIRECTIVE_TRAINING) != 0)
                return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s:%d: unknown directive \"%.40s\" (only %s)", where,
                             line, w, DIRECTIVE_TRAINING);
            if (s->from_training)
                return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "%s:%d: %s given twice", where, line, DIRECTIVE_TRAINING);
            s->from_training = 1;
            continue;
        }
        int rc = add_entry(s, w, where, line, 0, msg, cap);
        if (rc) return rc;
    }
    return 0;
}

int eval_suite_load(const char *path, eval_suite *s, char *msg, size_t cap)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (!f) return err_failf(msg, cap, ERR_NOT_FOUND, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return err_failf(msg, cap, ERR_NOT_FOUND, "%s is not a regular file", path);
    }
    if (st.st_size > EVAL_SUITE_MAX_BYTES) {
        fclose(f);
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "%s: larger than %d bytes", path, EVAL_SUITE_MAX_BYTES);
    }
    char *buf = malloc(EVAL_SUITE_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return err_failf(msg, cap, ERR_NO_MEMORY, "out of memory reading %s", path);
    }
    /* one byte more than the bound: a file that grew since fstat is still refused */
    size_t n = fread(buf, 1, EVAL_SUITE_MAX_BYTES + 1, f);
    int err = ferror(f);
    fclose(f);
    int rc = err ? err_failf(msg, cap, ERR_NOT_FOUND, "cannot read %s", path)
                 : eval_suite_parse(buf, n, path, s, msg, cap);
    free(buf);
    return rc;
}

int eval_suite_add(eval_suite *s, const char *task_text, char *msg, size_t cap)
{
    char buf[EVAL_SUITE_MAX_LINE + 1];
    if (strlen(task_text) >= sizeof buf)
        return err_failf(msg, cap, ERR_OUT_OF_RANGE, "task \"%.40s…\" is too long", task_text);
    snprintf(buf, sizeof buf, "%s", task_text);
    if (strpbrk(buf, "#\n"))
        return err_failf(msg, cap, ERR_INVALID_ARGUMENT, "task \"%.40s\" holds '#' or a newline", task_text);
    return add_entry(s, buf, "meta-training task", s->n + 1, 1, msg, cap);
}

int eval_suite_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 32) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-') return 0;
    return 1;
}

int eval_suite_keep_domain(eval_suite *s, const char *domain)
{
    int k = 0;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->e[i].domain, domain) == 0) {
            if (k != i) s->e[k] = s->e[i];
            k++;
        }
    s->n = k;
    return k;
}
