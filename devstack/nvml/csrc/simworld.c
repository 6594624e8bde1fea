/*
 * accelhub devstack: simulated NVML, the simulation file reader.
 *
 * The file is line based: a record type, then TAB-separated key=value fields.
 * Every copy is bounded; a malformed line is skipped (set ACCELHUB_NVML_SIM_DEBUG=1
 * to see why on stderr); unknown keys are ignored.
 */
#define _GNU_SOURCE
#include "simnvml.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define SIM_MAX_FILE (256 * 1024)
#define SIM_MAX_FIELDS 64

static struct timespec g_mtime;
static long long g_size = -1;

static sim_world g_staging;

static void debug(const char *what, int line) {
    const char *flag = getenv("ACCELHUB_NVML_SIM_DEBUG");
    if (flag && flag[0] == '1') fprintf(stderr, "accelhub simulated NVML: line %d: %s\n", line, what);
}

double sim_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double sim_wave(unsigned int seed, double period, double t) {
    double phase = (double)(seed % 1000u) * 2.399963; /* golden angle spreads the seeds */
    double x = 2.0 * M_PI * t / (period > 1.0 ? period : 1.0);
    double v = 0.5 + 0.35 * sin(x + phase) + 0.15 * sin(2.7 * x + 2.0 * phase);
    return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
}

/* Copy src into dst (capacity cap) only if it fits with its terminator. */
static int copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n + 1 > cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static int parse_ull(const char *s, unsigned long long *out) {
    char *end = NULL;
    if (!*s || *s == '-') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || !end || *end) return -1;
    *out = v;
    return 0;
}

static int parse_uint(const char *s, unsigned int *out) {
    unsigned long long v;
    if (parse_ull(s, &v) || v > 0xFFFFFFFFull) return -1;
    *out = (unsigned int)v;
    return 0;
}

static int parse_int(const char *s, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (!*s || errno || !end || *end || v < -2147483647L || v > 2147483647L) return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || errno || !end || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_fail(const char *s, int *out) {
    if (!strcmp(s, "") || !strcmp(s, "none")) *out = SIM_OK;
    else if (!strcmp(s, "driver_not_loaded")) *out = SIM_FAIL_DRIVER_NOT_LOADED;
    else if (!strcmp(s, "gpu_lost")) *out = SIM_FAIL_GPU_LOST;
    else if (!strcmp(s, "unknown_error")) *out = SIM_FAIL_UNKNOWN;
    else return -1;
    return 0;
}

typedef struct {
    char *key[SIM_MAX_FIELDS];
    char *value[SIM_MAX_FIELDS];
    int n;
} fields;

/* Split a line (modified in place) into its record type and key=value fields. */
static char *split_line(char *line, fields *f) {
    char *save = NULL;
    char *type = strtok_r(line, "\t", &save);
    f->n = 0;
    for (char *tok = strtok_r(NULL, "\t", &save); tok; tok = strtok_r(NULL, "\t", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || f->n >= SIM_MAX_FIELDS) return NULL;
        *eq = '\0';
        f->key[f->n] = tok;
        f->value[f->n] = eq + 1;
        f->n++;
    }
    return type;
}

static const char *field(const fields *f, const char *key) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->key[i], key)) return f->value[i];
    return NULL;
}

#define GET_STR(dst, key) do { const char *v_ = field(f, key); \
    if (v_ && copy_str(dst, sizeof(dst), v_)) return -1; } while (0)
#define GET_UINT(dst, key) do { const char *v_ = field(f, key); \
    if (v_ && parse_uint(v_, &(dst))) return -1; } while (0)
#define GET_ULL(dst, key) do { const char *v_ = field(f, key); \
    if (v_ && parse_ull(v_, &(dst))) return -1; } while (0)
#define GET_INT(dst, key) do { const char *v_ = field(f, key); \
    if (v_ && parse_int(v_, &(dst))) return -1; } while (0)
#define GET_DBL(dst, key) do { const char *v_ = field(f, key); \
    if (v_ && parse_double(v_, &(dst))) return -1; } while (0)

static int parse_driver(sim_world *w, const fields *f) {
    GET_STR(w->driver_version, "version");
    GET_STR(w->nvml_version, "nvml_version");
    GET_INT(w->cuda_version, "cuda_version");
    const char *fail = field(f, "fail");
    if (fail && parse_fail(fail, &w->fail)) return -1;
    return 0;
}

static int parse_gpu(sim_world *w, const fields *f) {
    if (w->ngpus >= SIM_MAX_GPUS) return -1;
    sim_gpu *g = &w->gpus[w->ngpus];
    memset(g, 0, sizeof(*g));
    g->period = 120.0;
    g->mem_util_ratio = 0.6;
    g->host_index = w->ngpus;
    GET_STR(g->uuid, "uuid");
    GET_STR(g->name, "name");
    GET_STR(g->serial, "serial");
    GET_STR(g->bus_id, "bus_id");
    if (!g->uuid[0] || !g->name[0] || !g->bus_id[0]) return -1;
    if (sscanf(g->bus_id, "%x:%x:%x.%*x", &g->domain, &g->bus, &g->device) != 3) return -1;
    GET_UINT(g->pci_device_id, "pci_device_id");
    GET_UINT(g->pci_subsystem_id, "pci_subsystem_id");
    GET_UINT(g->minor, "minor");
    GET_UINT(g->brand, "brand");
    GET_ULL(g->memory_total, "memory_total");
    GET_ULL(g->memory_reserved, "memory_reserved");
    GET_ULL(g->memory_overhead, "memory_overhead");
    GET_ULL(g->memory_wander, "memory_wander");
    GET_ULL(g->bar1_total, "bar1_total");
    GET_DBL(g->util_min, "util_min");
    GET_DBL(g->util_max, "util_max");
    GET_DBL(g->period, "period");
    GET_DBL(g->mem_util_ratio, "mem_util_ratio");
    GET_UINT(g->seed, "seed");
    GET_UINT(g->temp_idle, "temp_idle");
    GET_UINT(g->temp_max, "temp_max");
    GET_UINT(g->temp_shutdown, "temp_shutdown");
    GET_UINT(g->temp_slowdown, "temp_slowdown");
    GET_UINT(g->temp_gpu_max, "temp_gpu_max");
    GET_UINT(g->temp_mem_max, "temp_mem_max");
    GET_INT(g->has_fan, "fan");
    GET_UINT(g->fan_min, "fan_min");
    GET_UINT(g->fan_max, "fan_max");
    GET_UINT(g->power_idle, "power_idle");
    GET_UINT(g->power_limit, "power_limit");
    GET_UINT(g->power_default_limit, "power_default_limit");
    GET_UINT(g->power_min_limit, "power_min_limit");
    GET_UINT(g->power_max_limit, "power_max_limit");
    GET_UINT(g->clock_sm_idle, "clock_sm_idle");
    GET_UINT(g->clock_sm_max, "clock_sm_max");
    GET_UINT(g->clock_mem_idle, "clock_mem_idle");
    GET_UINT(g->clock_mem_max, "clock_mem_max");
    GET_UINT(g->clock_video_max, "clock_video_max");
    GET_INT(g->ecc_supported, "ecc");
    GET_INT(g->ecc_enabled, "ecc_enabled");
    GET_ULL(g->ecc_corrected, "ecc_corrected");
    GET_ULL(g->ecc_uncorrected, "ecc_uncorrected");
    GET_INT(g->mig_capable, "mig_capable");
    GET_INT(g->mig_mode, "mig_mode");
    GET_INT(g->mig_pending, "mig_pending");
    GET_UINT(g->mig_max, "mig_max");
    GET_UINT(g->cc_major, "cc_major");
    GET_UINT(g->cc_minor, "cc_minor");
    GET_UINT(g->sm_count, "sm_count");
    const char *fail = field(f, "fail");
    if (fail && parse_fail(fail, &g->fail)) return -1;
    GET_DBL(g->fail_at, "fail_at");
    if (g->memory_reserved + g->memory_overhead > g->memory_total) return -1;
    if (g->mig_mode && !g->mig_capable) return -1;
    if (g->mig_max > SIM_MAX_MIGS) return -1;
    if (g->temp_max < g->temp_idle || g->fan_max < g->fan_min || g->fan_max > 100) return -1;
    if (g->util_min < 0 || g->util_max > 100 || g->util_min > g->util_max) return -1;
    if (g->period <= 0 || g->mem_util_ratio < 0 || g->mem_util_ratio > 1) return -1;
    w->ngpus++;
    return 0;
}

static sim_gpu *gpu_by_uuid(sim_world *w, const char *uuid) {
    for (unsigned int i = 0; i < w->ngpus; i++)
        if (!strcmp(w->gpus[i].uuid, uuid)) return &w->gpus[i];
    return NULL;
}

static int parse_mig(sim_world *w, const fields *f) {
    const char *parent = field(f, "parent");
    sim_gpu *g = parent ? gpu_by_uuid(w, parent) : NULL;
    if (!g || !g->mig_mode || g->nmigs >= SIM_MAX_MIGS || g->nmigs >= g->mig_max) return -1;
    sim_mig *m = &g->migs[g->nmigs];
    memset(m, 0, sizeof(*m));
    GET_STR(m->uuid, "uuid");
    GET_STR(m->name, "name");
    GET_STR(m->profile, "profile");
    if (!m->uuid[0] || !m->name[0]) return -1;
    GET_UINT(m->gi, "gi");
    GET_UINT(m->ci, "ci");
    GET_ULL(m->memory_total, "memory_total");
    GET_ULL(m->memory_overhead, "memory_overhead");
    GET_UINT(m->sm_count, "sm_count");
    GET_UINT(m->copy_engines, "copy_engines");
    GET_UINT(m->decoders, "decoders");
    GET_UINT(m->encoders, "encoders");
    GET_UINT(m->jpegs, "jpegs");
    GET_UINT(m->ofas, "ofas");
    GET_UINT(m->gi_slices, "gi_slices");
    GET_UINT(m->ci_slices, "ci_slices");
    if (m->memory_overhead > m->memory_total) return -1;
    g->nmigs++;
    return 0;
}

static int parse_proc(sim_world *w, const fields *f) {
    const char *dev = field(f, "device");
    if (!dev) return -1;
    sim_proc p = {0, 0, 0};
    GET_UINT(p.pid, "pid");
    GET_ULL(p.used_memory, "used_memory");
    const char *type = field(f, "type");
    if (type && strcmp(type, "compute") && strcmp(type, "graphics")) return -1;
    p.graphics = type && !strcmp(type, "graphics");
    if (!p.pid) return -1;
    for (unsigned int i = 0; i < w->ngpus; i++) {
        sim_gpu *g = &w->gpus[i];
        if (!strcmp(g->uuid, dev) && !g->mig_mode) {
            if (g->nprocs >= SIM_MAX_PROCS) return -1;
            g->procs[g->nprocs++] = p;
            return 0;
        }
        for (unsigned int j = 0; j < g->nmigs; j++) {
            sim_mig *m = &g->migs[j];
            if (strcmp(m->uuid, dev)) continue;
            if (m->nprocs >= SIM_MAX_PROCS) return -1;
            m->procs[m->nprocs++] = p;
            return 0;
        }
    }
    return -1;
}

static int parse_text(sim_world *w, char *text) {
    int lineno = 0, seen_format = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[len - 1] = '\0';
        if (!line[0] || line[0] == '#') continue;
        fields f;
        char *type = split_line(line, &f);
        if (!type) { debug("malformed fields", lineno); continue; }
        int bad = 0;
        if (!strcmp(type, "format")) {
            const char *v = field(&f, "version");
            if (!v || strcmp(v, "1")) { debug("unsupported format version", lineno); return -1; }
            seen_format = 1;
        } else if (!seen_format) {
            debug("the first record must be 'format'", lineno);
            return -1;
        } else if (!strcmp(type, "driver")) bad = parse_driver(w, &f);
        else if (!strcmp(type, "gpu")) bad = parse_gpu(w, &f);
        else if (!strcmp(type, "mig")) bad = parse_mig(w, &f);
        else if (!strcmp(type, "proc")) bad = parse_proc(w, &f);
        else debug("unknown record type ignored", lineno);
        if (bad) debug("invalid record skipped", lineno);
    }
    return seen_format ? 0 : -1;
}

static unsigned long long mig_used(const sim_mig *m) {
    unsigned long long used = m->memory_overhead;
    for (unsigned int k = 0; k < m->nprocs; k++) used += m->procs[k].used_memory;
    return used > m->memory_total ? m->memory_total : used;
}

/* Visibility request parsed from NVIDIA_VISIBLE_DEVICES. */
typedef struct {
    int all;
    int gpu[SIM_MAX_GPUS];               /* whole GPU requested */
    unsigned int mig_mask[SIM_MAX_GPUS]; /* single MIG devices requested */
} visibility;

static void want_token(const sim_world *w, const char *tok, visibility *v) {
    unsigned int gi, mi;
    char tail;
    if (sscanf(tok, "%u:%u%c", &gi, &mi, &tail) == 2) {
        if (gi < w->ngpus && mi < w->gpus[gi].nmigs) v->mig_mask[gi] |= 1u << mi;
        return;
    }
    if (sscanf(tok, "%u%c", &gi, &tail) == 1) {
        if (gi < w->ngpus) v->gpu[gi] = 1;
        return;
    }
    for (unsigned int i = 0; i < w->ngpus; i++) {
        if (!strcasecmp(w->gpus[i].uuid, tok)) v->gpu[i] = 1;
        for (unsigned int j = 0; j < w->gpus[i].nmigs; j++)
            if (!strcasecmp(w->gpus[i].migs[j].uuid, tok)) v->mig_mask[i] |= 1u << j;
    }
}

/* Returns -1 for "void"/empty (no driver in the container), else 0. */
static int parse_visibility(const sim_world *w, visibility *v) {
    memset(v, 0, sizeof(*v));
    const char *env = getenv("NVIDIA_VISIBLE_DEVICES");
    if (!env || !strcmp(env, "all")) { v->all = 1; return 0; }
    if (!env[0] || !strcmp(env, "void")) return -1;
    if (!strcmp(env, "none")) return 0;
    char buf[8192];
    if (copy_str(buf, sizeof(buf), env)) return 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        size_t n = strlen(tok);
        while (n && isspace((unsigned char)tok[n - 1])) tok[--n] = '\0';
        if (n) want_token(w, tok, v);
    }
    return 0;
}

static void apply_visibility(const sim_world *in, const visibility *v, sim_world *out) {
    memcpy(out->driver_version, in->driver_version, sizeof(out->driver_version));
    memcpy(out->nvml_version, in->nvml_version, sizeof(out->nvml_version));
    out->cuda_version = in->cuda_version;
    out->fail = in->fail;
    out->ngpus = 0;
    for (unsigned int i = 0; i < in->ngpus; i++) {
        const sim_gpu *g = &in->gpus[i];
        int whole = v->all || v->gpu[i];
        if (!whole && !v->mig_mask[i]) continue;
        sim_gpu *o = &out->gpus[out->ngpus++];
        memcpy(o, g, sizeof(*o));
        o->mig_memory_used = 0;
        for (unsigned int j = 0; j < g->nmigs; j++) o->mig_memory_used += mig_used(&g->migs[j]);
        if (whole) continue;
        o->nmigs = 0;
        for (unsigned int j = 0; j < g->nmigs; j++)
            if (v->mig_mask[i] & (1u << j)) o->migs[o->nmigs++] = g->migs[j];
    }
}

static int stat_file(const char *path, struct timespec *mtime, long long *size) {
    struct stat st;
    if (stat(path, &st)) return -1;
    *mtime = st.st_mtim;
    *size = (long long)st.st_size;
    return 0;
}

int sim_file_changed(void) {
    const char *path = getenv("ACCELHUB_NVML_SIM_FILE");
    struct timespec mtime;
    long long size;
    if (!path || stat_file(path, &mtime, &size)) return g_size != -1;
    return size != g_size || mtime.tv_sec != g_mtime.tv_sec || mtime.tv_nsec != g_mtime.tv_nsec;
}

nvmlReturn_t sim_load(sim_world *out) {
    const char *path = getenv("ACCELHUB_NVML_SIM_FILE");
    g_size = -1;
    if (!path || !path[0]) return NVML_ERROR_DRIVER_NOT_LOADED;
    FILE *fp = fopen(path, "rb");
    if (!fp) return NVML_ERROR_DRIVER_NOT_LOADED;
    struct timespec mtime;
    long long size;
    if (stat_file(path, &mtime, &size) || size > SIM_MAX_FILE) { fclose(fp); return NVML_ERROR_UNKNOWN; }
    char *text = malloc(SIM_MAX_FILE + 1);
    if (!text) { fclose(fp); return NVML_ERROR_MEMORY; }
    size_t n = fread(text, 1, SIM_MAX_FILE, fp);
    fclose(fp);
    text[n] = '\0';
    memset(&g_staging, 0, sizeof(g_staging));
    copy_str(g_staging.driver_version, sizeof(g_staging.driver_version), "580.82.07-devstack-sim");
    copy_str(g_staging.nvml_version, sizeof(g_staging.nvml_version), "13.580.82.07-devstack-sim");
    g_staging.cuda_version = 13000;
    int bad = parse_text(&g_staging, text);
    free(text);
    if (bad) return NVML_ERROR_UNKNOWN;
    g_mtime = mtime;
    g_size = size;
    if (g_staging.fail == SIM_FAIL_DRIVER_NOT_LOADED) return NVML_ERROR_DRIVER_NOT_LOADED;
    if (g_staging.fail == SIM_FAIL_UNKNOWN) return NVML_ERROR_UNKNOWN;
    visibility v;
    if (parse_visibility(&g_staging, &v)) return NVML_ERROR_DRIVER_NOT_LOADED;
    apply_visibility(&g_staging, &v, out);
    return NVML_SUCCESS;
}
