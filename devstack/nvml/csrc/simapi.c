/*
 * accelhub devstack: simulated NVML, the NVML entry points.
 *
 * Return codes follow nvml.h: UNINITIALIZED before nvmlInit, INVALID_ARGUMENT for
 * unknown handles and NULL outputs, NOT_SUPPORTED where the simulated card would
 * say so, GPU_IS_LOST / UNKNOWN when the simulation file injects those failures.
 * Versioned structs are checked against their version macros. One mutex guards
 * everything, as NVML is thread safe.
 */
#define _GNU_SOURCE
#include "simnvml.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define API __attribute__((visibility("default")))
#define RELOAD_EVERY_S 0.5

struct nvmlDevice_st {
    int unused;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_world g_world;
static unsigned int g_refcount;
static double g_last_check;
static struct nvmlDevice_st g_gpu_handles[SIM_MAX_GPUS];
static struct nvmlDevice_st g_mig_handles[SIM_MAX_GPUS][SIM_MAX_MIGS];

typedef struct {
    sim_gpu *gpu;
    sim_mig *mig; /* NULL for a physical GPU handle */
    unsigned int gpu_index, mig_index;
} target;

/* ---------------------------------------------------------------- helpers */

static int copy_out(char *dst, unsigned int cap, const char *src) {
    size_t n = strlen(src);
    if ((size_t)cap < n + 1) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static nvmlReturn_t string_out(char *dst, unsigned int cap, const char *src) {
    if (!dst) return NVML_ERROR_INVALID_ARGUMENT;
    return copy_out(dst, cap, src) ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
}

static void maybe_reload(void) {
    double now = sim_now();
    if (now - g_last_check < RELOAD_EVERY_S) return;
    g_last_check = now;
    if (!sim_file_changed()) return;
    static sim_world fresh;
    memset(&fresh, 0, sizeof(fresh));
    if (sim_load(&fresh) == NVML_SUCCESS) memcpy(&g_world, &fresh, sizeof(g_world));
}

/* Lock; fail unless initialised. Pair with leave(). */
static nvmlReturn_t enter(void) {
    pthread_mutex_lock(&g_lock);
    if (!g_refcount) return NVML_ERROR_UNINITIALIZED;
    maybe_reload();
    return NVML_SUCCESS;
}

static nvmlReturn_t leave(nvmlReturn_t r) {
    pthread_mutex_unlock(&g_lock);
    return r;
}

static int handle_slot(const void *p, const void *base, size_t count, size_t *index) {
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base, size = sizeof(struct nvmlDevice_st);
    if (a < b || a >= b + count * size || (a - b) % size) return -1;
    *index = (a - b) / size;
    return 0;
}

static nvmlReturn_t device_health(const sim_gpu *g) {
    if (g->fail == SIM_FAIL_GPU_LOST && sim_now() >= g->fail_at) return NVML_ERROR_GPU_IS_LOST;
    if (g->fail == SIM_FAIL_UNKNOWN && sim_now() >= g->fail_at) return NVML_ERROR_UNKNOWN;
    return NVML_SUCCESS;
}

/* Handle lookups fail only for a lost GPU; an unknown error shows on the queries. */
static nvmlReturn_t lookup_health(const sim_gpu *g) {
    nvmlReturn_t r = device_health(g);
    return r == NVML_ERROR_GPU_IS_LOST ? r : NVML_SUCCESS;
}

/* Resolve a handle into t; INVALID_ARGUMENT for anything we did not hand out. */
static nvmlReturn_t resolve(nvmlDevice_t device, target *t) {
    size_t i;
    memset(t, 0, sizeof(*t));
    if (!device) return NVML_ERROR_INVALID_ARGUMENT;
    if (!handle_slot(device, g_gpu_handles, SIM_MAX_GPUS, &i)) {
        if (i >= g_world.ngpus) return NVML_ERROR_INVALID_ARGUMENT;
        t->gpu = &g_world.gpus[i];
        t->gpu_index = (unsigned int)i;
    } else if (!handle_slot(device, g_mig_handles, SIM_MAX_GPUS * SIM_MAX_MIGS, &i)) {
        size_t gi = i / SIM_MAX_MIGS, mi = i % SIM_MAX_MIGS;
        if (gi >= g_world.ngpus || mi >= g_world.gpus[gi].nmigs) return NVML_ERROR_INVALID_ARGUMENT;
        t->gpu = &g_world.gpus[gi];
        t->mig = &t->gpu->migs[mi];
        t->gpu_index = (unsigned int)gi;
        t->mig_index = (unsigned int)mi;
    } else {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    return device_health(t->gpu);
}

/* enter() + resolve() + a NULL check of the caller's output pointer. */
static nvmlReturn_t begin(nvmlDevice_t device, target *t, const void *out) {
    nvmlReturn_t r = enter();
    if (r != NVML_SUCCESS) return r;
    r = resolve(device, t);
    if (r != NVML_SUCCESS) return r;
    return out ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

/* Physical-GPU-only queries report NOT_SUPPORTED on MIG device handles. */
static nvmlReturn_t begin_physical(nvmlDevice_t device, target *t, const void *out) {
    nvmlReturn_t r = begin(device, t, out);
    if (r == NVML_SUCCESS && t->mig) return NVML_ERROR_NOT_SUPPORTED;
    return r;
}

/* ---------------------------------------------------------------- dynamics */

static double load_at(const sim_gpu *g, double t) {
    return sim_wave(g->seed, g->period, t);
}

static unsigned int util_gpu(const sim_gpu *g, double t) {
    double u = g->util_min + (g->util_max - g->util_min) * load_at(g, t);
    return (unsigned int)(u < 0 ? 0 : (u > 100 ? 100 : u + 0.5));
}

static unsigned int temperature(const sim_gpu *g, double t) {
    double lagged = load_at(g, t - g->period / 8.0);
    return g->temp_idle + (unsigned int)((double)(g->temp_max - g->temp_idle) * lagged + 0.5);
}

static unsigned long long procs_memory(const sim_proc *p, unsigned int n) {
    unsigned long long sum = 0;
    for (unsigned int i = 0; i < n; i++) sum += p[i].used_memory;
    return sum;
}

static unsigned long long mig_used(const sim_mig *m) {
    unsigned long long used = m->memory_overhead + procs_memory(m->procs, m->nprocs);
    return used > m->memory_total ? m->memory_total : used;
}

/* Allocated memory (excluding the reserved part) of a physical GPU. */
static unsigned long long gpu_used(const sim_gpu *g, double t) {
    unsigned long long used;
    if (g->mig_mode) {
        used = g->memory_overhead + g->mig_memory_used;
    } else {
        double wander = (double)g->memory_wander * sim_wave(g->seed + 7u, g->period * 1.7, t);
        used = g->memory_overhead + procs_memory(g->procs, g->nprocs) + (unsigned long long)wander;
    }
    unsigned long long cap = g->memory_total - g->memory_reserved;
    return used > cap ? cap : used;
}

static int busy(const sim_gpu *g, double t) {
    return g->mig_mode ? g->mig_memory_used > 0 : util_gpu(g, t) > 2;
}

/* ---------------------------------------------------------------- init */

static nvmlReturn_t do_init(void) {
    pthread_mutex_lock(&g_lock);
    static sim_world fresh;
    memset(&fresh, 0, sizeof(fresh));
    nvmlReturn_t r = sim_load(&fresh);
    if (r == NVML_SUCCESS) {
        memcpy(&g_world, &fresh, sizeof(g_world));
        g_refcount++;
        g_last_check = sim_now();
    }
    pthread_mutex_unlock(&g_lock);
    return r;
}

API nvmlReturn_t nvmlInit(void) { return do_init(); }
API nvmlReturn_t nvmlInit_v2(void) { return do_init(); }
API nvmlReturn_t nvmlInitWithFlags(unsigned int flags) { (void)flags; return do_init(); }

API nvmlReturn_t nvmlShutdown(void) {
    pthread_mutex_lock(&g_lock);
    nvmlReturn_t r = NVML_ERROR_UNINITIALIZED;
    if (g_refcount) { g_refcount--; r = NVML_SUCCESS; }
    return leave(r);
}

API const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupt Request Issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires restart";
    case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No data";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    case NVML_ERROR_UNKNOWN: return "Unknown Error";
    default: return "Unknown Error";
    }
}

/* ---------------------------------------------------------------- system */

API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS) r = string_out(version, length, g_world.driver_version);
    return leave(r);
}

API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS) r = string_out(version, length, g_world.nvml_version);
    return leave(r);
}

static nvmlReturn_t cuda_version(int *v) {
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS) {
        if (!v) r = NVML_ERROR_INVALID_ARGUMENT;
        else *v = g_world.cuda_version;
    }
    return leave(r);
}

API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v) { return cuda_version(v); }
API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { return cuda_version(v); }

API nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int length) {
    nvmlReturn_t r = enter();
    if (r != NVML_SUCCESS) return leave(r);
    if (!name || !length) return leave(NVML_ERROR_INVALID_ARGUMENT);
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%u/comm", pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return leave(NVML_ERROR_NOT_FOUND);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    if (n && buf[n - 1] == '\n') buf[n - 1] = '\0';
    return leave(string_out(name, length, buf));
}

/* ---------------------------------------------------------------- enumeration */

static nvmlReturn_t get_count(unsigned int *count) {
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS) {
        if (!count) r = NVML_ERROR_INVALID_ARGUMENT;
        else *count = g_world.ngpus;
    }
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return get_count(count); }
API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) { return get_count(count); }

static nvmlReturn_t by_index(unsigned int index, nvmlDevice_t *device) {
    nvmlReturn_t r = enter();
    if (r != NVML_SUCCESS) return leave(r);
    if (!device || index >= g_world.ngpus) return leave(NVML_ERROR_INVALID_ARGUMENT);
    r = lookup_health(&g_world.gpus[index]);
    if (r == NVML_SUCCESS) *device = &g_gpu_handles[index];
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, nvmlDevice_t *d) { return by_index(i, d); }
API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) { return by_index(i, d); }

API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
    nvmlReturn_t r = enter();
    if (r != NVML_SUCCESS) return leave(r);
    if (!uuid || !device) return leave(NVML_ERROR_INVALID_ARGUMENT);
    for (unsigned int i = 0; i < g_world.ngpus; i++) {
        sim_gpu *g = &g_world.gpus[i];
        if (!strcmp(g->uuid, uuid)) {
            r = lookup_health(g);
            if (r == NVML_SUCCESS) *device = &g_gpu_handles[i];
            return leave(r);
        }
        for (unsigned int j = 0; j < g->nmigs; j++) {
            if (strcmp(g->migs[j].uuid, uuid)) continue;
            r = lookup_health(g);
            if (r == NVML_SUCCESS) *device = &g_mig_handles[i][j];
            return leave(r);
        }
    }
    return leave(NVML_ERROR_NOT_FOUND);
}

static nvmlReturn_t by_pci(const char *bus_id, nvmlDevice_t *device) {
    nvmlReturn_t r = enter();
    if (r != NVML_SUCCESS) return leave(r);
    unsigned int dom, bus, dev;
    if (!bus_id || !device || sscanf(bus_id, "%x:%x:%x", &dom, &bus, &dev) != 3)
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    for (unsigned int i = 0; i < g_world.ngpus; i++) {
        sim_gpu *g = &g_world.gpus[i];
        if (g->domain != dom || g->bus != bus || g->device != dev) continue;
        r = lookup_health(g);
        if (r == NVML_SUCCESS) *device = &g_gpu_handles[i];
        return leave(r);
    }
    return leave(NVML_ERROR_NOT_FOUND);
}

API nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *b, nvmlDevice_t *d) { return by_pci(b, d); }
API nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *b, nvmlDevice_t *d) { return by_pci(b, d); }

API nvmlReturn_t nvmlDeviceGetHandleBySerial(const char *serial, nvmlDevice_t *device) {
    nvmlReturn_t r = enter();
    if (r != NVML_SUCCESS) return leave(r);
    if (!serial || !device) return leave(NVML_ERROR_INVALID_ARGUMENT);
    for (unsigned int i = 0; i < g_world.ngpus; i++) {
        if (strcmp(g_world.gpus[i].serial, serial)) continue;
        r = lookup_health(&g_world.gpus[i]);
        if (r == NVML_SUCCESS) *device = &g_gpu_handles[i];
        return leave(r);
    }
    return leave(NVML_ERROR_NOT_FOUND);
}

API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
    target t;
    nvmlReturn_t r = begin(device, &t, index);
    if (r == NVML_SUCCESS) *index = t.mig ? t.mig_index : t.gpu_index;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minor) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, minor);
    if (r == NVML_SUCCESS) *minor = t.gpu->minor;
    return leave(r);
}

/* ---------------------------------------------------------------- identity */

API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    target t;
    nvmlReturn_t r = begin(device, &t, name);
    if (r == NVML_SUCCESS) r = string_out(name, length, t.mig ? t.mig->name : t.gpu->name);
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    target t;
    nvmlReturn_t r = begin(device, &t, uuid);
    if (r == NVML_SUCCESS) r = string_out(uuid, length, t.mig ? t.mig->uuid : t.gpu->uuid);
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char *serial, unsigned int length) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, serial);
    if (r == NVML_SUCCESS) r = t.gpu->serial[0] ? string_out(serial, length, t.gpu->serial)
                                                 : NVML_ERROR_NOT_SUPPORTED;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, nvmlBrandType_t *type) {
    target t;
    nvmlReturn_t r = begin(device, &t, type);
    if (r == NVML_SUCCESS) *type = (nvmlBrandType_t)t.gpu->brand;
    return leave(r);
}

static void fill_pci(const sim_gpu *g, nvmlPciInfo_t *pci) {
    memset(pci, 0, sizeof(*pci));
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), NVML_DEVICE_PCI_BUS_ID_LEGACY_FMT,
             g->domain & 0xFFFFu, g->bus & 0xFFu, g->device & 0xFFu);
    snprintf(pci->busId, sizeof(pci->busId), NVML_DEVICE_PCI_BUS_ID_FMT, g->domain, g->bus & 0xFFu,
             g->device & 0xFFu);
    pci->domain = g->domain;
    pci->bus = g->bus;
    pci->device = g->device;
    pci->pciDeviceId = g->pci_device_id;
    pci->pciSubSystemId = g->pci_subsystem_id;
}

static nvmlReturn_t pci_info(nvmlDevice_t device, nvmlPciInfo_t *pci) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, pci);
    if (r == NVML_SUCCESS) fill_pci(t.gpu, pci);
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t d, nvmlPciInfo_t *p) { return pci_info(d, p); }
API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t d, nvmlPciInfo_t *p) { return pci_info(d, p); }
API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p) { return pci_info(d, p); }

API nvmlReturn_t nvmlDeviceGetPciInfoExt(nvmlDevice_t device, nvmlPciInfoExt_t *pci) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, pci);
    if (r == NVML_SUCCESS && pci->version != nvmlPciInfoExt_v1) r = NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (r == NVML_SUCCESS) {
        nvmlPciInfo_t p;
        fill_pci(t.gpu, &p);
        memset(pci, 0, sizeof(*pci));
        pci->version = nvmlPciInfoExt_v1;
        pci->domain = p.domain;
        pci->bus = p.bus;
        pci->device = p.device;
        pci->pciDeviceId = p.pciDeviceId;
        pci->pciSubSystemId = p.pciSubSystemId;
        pci->baseClass = 0x03;
        pci->subClass = 0x02;
        memcpy(pci->busId, p.busId, sizeof(pci->busId));
    }
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor) {
    target t;
    nvmlReturn_t r = begin(device, &t, major);
    if (r == NVML_SUCCESS && !minor) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) {
        *major = (int)t.gpu->cc_major;
        *minor = (int)t.gpu->cc_minor;
    }
    return leave(r);
}

static nvmlReturn_t attributes(nvmlDevice_t device, nvmlDeviceAttributes_t *a) {
    target t;
    nvmlReturn_t r = begin(device, &t, a);
    if (r != NVML_SUCCESS) return leave(r);
    memset(a, 0, sizeof(*a));
    if (t.mig) {
        a->multiprocessorCount = t.mig->sm_count;
        a->sharedCopyEngineCount = t.mig->copy_engines;
        a->sharedDecoderCount = t.mig->decoders;
        a->sharedEncoderCount = t.mig->encoders;
        a->sharedJpegCount = t.mig->jpegs;
        a->sharedOfaCount = t.mig->ofas;
        a->gpuInstanceSliceCount = t.mig->gi_slices;
        a->computeInstanceSliceCount = t.mig->ci_slices;
        a->memorySizeMB = t.mig->memory_total >> 20;
    } else {
        a->multiprocessorCount = t.gpu->sm_count;
        a->memorySizeMB = t.gpu->memory_total >> 20;
    }
    return leave(NVML_SUCCESS);
}

API nvmlReturn_t nvmlDeviceGetAttributes(nvmlDevice_t d, nvmlDeviceAttributes_t *a) { return attributes(d, a); }
API nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t d, nvmlDeviceAttributes_t *a) { return attributes(d, a); }

/* ---------------------------------------------------------------- memory */

static void memory_values(const target *t, unsigned long long *total, unsigned long long *reserved,
                          unsigned long long *used) {
    if (t->mig) {
        *total = t->mig->memory_total;
        *reserved = 0;
        *used = mig_used(t->mig);
    } else {
        *total = t->gpu->memory_total;
        *reserved = t->gpu->memory_reserved;
        *used = gpu_used(t->gpu, sim_now());
    }
}

API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    target t;
    nvmlReturn_t r = begin(device, &t, memory);
    if (r == NVML_SUCCESS) {
        unsigned long long total, reserved, used;
        memory_values(&t, &total, &reserved, &used);
        memory->total = total;
        memory->used = reserved + used; /* v1 counts the reserved part as used */
        memory->free = total - memory->used;
    }
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    target t;
    nvmlReturn_t r = begin(device, &t, memory);
    if (r == NVML_SUCCESS && memory->version != nvmlMemory_v2) r = NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (r == NVML_SUCCESS) {
        unsigned long long total, reserved, used;
        memory_values(&t, &total, &reserved, &used);
        memory->total = total;
        memory->reserved = reserved;
        memory->used = used;
        memory->free = total - reserved - used;
    }
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetBAR1MemoryInfo(nvmlDevice_t device, nvmlBAR1Memory_t *bar1) {
    target t;
    nvmlReturn_t r = begin(device, &t, bar1);
    if (r == NVML_SUCCESS && !t.gpu->bar1_total) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) {
        /* A MIG device gets its share of the aperture, by GPU-instance slices (of 8). */
        bar1->bar1Total = t.mig ? t.gpu->bar1_total / 8 * t.mig->gi_slices : t.gpu->bar1_total;
        bar1->bar1Used = (t.mig ? 1ull : 5ull) << 20;
        if (bar1->bar1Used > bar1->bar1Total) bar1->bar1Used = bar1->bar1Total;
        bar1->bar1Free = bar1->bar1Total - bar1->bar1Used;
    }
    return leave(r);
}

/* ---------------------------------------------------------------- load */

API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *util) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, util);
    if (r == NVML_SUCCESS && t.gpu->mig_mode) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) {
        util->gpu = util_gpu(t.gpu, sim_now());
        util->memory = (unsigned int)((double)util->gpu * t.gpu->mem_util_ratio + 0.5);
    }
    return leave(r);
}

static nvmlReturn_t codec_util(nvmlDevice_t device, unsigned int *util, unsigned int *period_us) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, util);
    if (r == NVML_SUCCESS && !period_us) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS && t.gpu->mig_mode) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) {
        *util = 0;
        *period_us = 167000;
    }
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *p) {
    return codec_util(d, u, p);
}
API nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *p) {
    return codec_util(d, u, p);
}

API nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensor,
                                          unsigned int *temp) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, temp);
    if (r == NVML_SUCCESS && sensor != NVML_TEMPERATURE_GPU) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) *temp = temperature(t.gpu, sim_now());
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_t *temp) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, temp);
    if (r == NVML_SUCCESS && temp->version != nvmlTemperature_v1) r = NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (r == NVML_SUCCESS && temp->sensorType != NVML_TEMPERATURE_GPU) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) temp->temperature = (int)temperature(t.gpu, sim_now());
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t device,
                                                   nvmlTemperatureThresholds_t type,
                                                   unsigned int *temp) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, temp);
    if (r != NVML_SUCCESS) return leave(r);
    unsigned int v = 0;
    switch (type) {
    case NVML_TEMPERATURE_THRESHOLD_SHUTDOWN: v = t.gpu->temp_shutdown; break;
    case NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: v = t.gpu->temp_slowdown; break;
    case NVML_TEMPERATURE_THRESHOLD_MEM_MAX: v = t.gpu->temp_mem_max; break;
    case NVML_TEMPERATURE_THRESHOLD_GPU_MAX: v = t.gpu->temp_gpu_max; break;
    default:
        return leave(type < NVML_TEMPERATURE_THRESHOLD_COUNT ? NVML_ERROR_NOT_SUPPORTED
                                                             : NVML_ERROR_INVALID_ARGUMENT);
    }
    if (!v) return leave(NVML_ERROR_NOT_SUPPORTED);
    *temp = v;
    return leave(NVML_SUCCESS);
}

static unsigned int fan_speed(const sim_gpu *g, double t) {
    unsigned int temp = temperature(g, t);
    double span = (double)(g->temp_max > g->temp_idle ? g->temp_max - g->temp_idle : 1);
    double frac = (double)(temp > g->temp_idle ? temp - g->temp_idle : 0) / span;
    return g->fan_min + (unsigned int)((double)(g->fan_max - g->fan_min) * frac + 0.5);
}

API nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t device, unsigned int *num) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, num);
    if (r == NVML_SUCCESS && !t.gpu->has_fan) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) *num = 1;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, speed);
    if (r == NVML_SUCCESS && !t.gpu->has_fan) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) *speed = fan_speed(t.gpu, sim_now());
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t device, unsigned int fan, unsigned int *speed) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, speed);
    if (r == NVML_SUCCESS && !t.gpu->has_fan) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS && fan != 0) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) *speed = fan_speed(t.gpu, sim_now());
    return leave(r);
}

/* ---------------------------------------------------------------- power */

API nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, power);
    if (r == NVML_SUCCESS && !t.gpu->power_limit) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) {
        double now = sim_now();
        double frac = t.gpu->mig_mode ? 0.3 * load_at(t.gpu, now) : util_gpu(t.gpu, now) / 100.0;
        double top = 0.92 * t.gpu->power_limit;
        double idle = t.gpu->power_idle;
        *power = (unsigned int)(idle + (top > idle ? top - idle : 0) * frac);
    }
    return leave(r);
}

static nvmlReturn_t power_value(nvmlDevice_t device, unsigned int *out, int which) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, out);
    if (r == NVML_SUCCESS && !t.gpu->power_limit) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) *out = which ? t.gpu->power_default_limit : t.gpu->power_limit;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t d, unsigned int *l) {
    return power_value(d, l, 0);
}
API nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *l) {
    return power_value(d, l, 0);
}
API nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t d, unsigned int *l) {
    return power_value(d, l, 1);
}

API nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device,
                                                              unsigned int *min_limit,
                                                              unsigned int *max_limit) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, min_limit);
    if (r == NVML_SUCCESS && !max_limit) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS && !t.gpu->power_limit) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) {
        *min_limit = t.gpu->power_min_limit;
        *max_limit = t.gpu->power_max_limit;
    }
    return leave(r);
}

/* ---------------------------------------------------------------- clocks, pstate */

static unsigned int clock_now(const sim_gpu *g, nvmlClockType_t type, double t) {
    int active = busy(g, t);
    double u = g->mig_mode ? 0.8 : util_gpu(g, t) / 100.0;
    switch (type) {
    case NVML_CLOCK_GRAPHICS:
    case NVML_CLOCK_SM:
        return active ? (unsigned int)(g->clock_sm_max * (0.85 + 0.15 * u)) : g->clock_sm_idle;
    case NVML_CLOCK_MEM: return active ? g->clock_mem_max : g->clock_mem_idle;
    case NVML_CLOCK_VIDEO: return active ? g->clock_video_max : g->clock_sm_idle;
    default: return 0;
    }
}

API nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, clock);
    if (r == NVML_SUCCESS && (unsigned int)type > NVML_CLOCK_VIDEO) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) *clock = clock_now(t.gpu, type, sim_now());
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, clock);
    if (r == NVML_SUCCESS && (unsigned int)type > NVML_CLOCK_VIDEO) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) {
        *clock = type == NVML_CLOCK_MEM     ? t.gpu->clock_mem_max
                 : type == NVML_CLOCK_VIDEO ? t.gpu->clock_video_max
                                            : t.gpu->clock_sm_max;
    }
    return leave(r);
}

static nvmlReturn_t pstate(nvmlDevice_t device, nvmlPstates_t *state) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, state);
    if (r == NVML_SUCCESS) *state = busy(t.gpu, sim_now()) ? NVML_PSTATE_0 : NVML_PSTATE_8;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t d, nvmlPstates_t *s) { return pstate(d, s); }
API nvmlReturn_t nvmlDeviceGetPowerState(nvmlDevice_t d, nvmlPstates_t *s) { return pstate(d, s); }

/* ---------------------------------------------------------------- modes */

API nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t device, nvmlComputeMode_t *mode) {
    target t;
    nvmlReturn_t r = begin(device, &t, mode);
    if (r == NVML_SUCCESS) *mode = NVML_COMPUTEMODE_DEFAULT;
    return leave(r);
}

static nvmlReturn_t feature(nvmlDevice_t device, nvmlEnableState_t *state, nvmlEnableState_t value) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, state);
    if (r == NVML_SUCCESS) *state = value;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t d, nvmlEnableState_t *m) {
    return feature(d, m, NVML_FEATURE_ENABLED);
}
API nvmlReturn_t nvmlDeviceGetDisplayMode(nvmlDevice_t d, nvmlEnableState_t *m) {
    return feature(d, m, NVML_FEATURE_DISABLED);
}
API nvmlReturn_t nvmlDeviceGetDisplayActive(nvmlDevice_t d, nvmlEnableState_t *m) {
    return feature(d, m, NVML_FEATURE_DISABLED);
}

/* ---------------------------------------------------------------- ECC */

API nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, nvmlEnableState_t *current,
                                      nvmlEnableState_t *pending) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, current);
    if (r == NVML_SUCCESS && !pending) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS && !t.gpu->ecc_supported) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) {
        *current = t.gpu->ecc_enabled ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
        *pending = *current;
    }
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t error_type,
                                             nvmlEccCounterType_t counter_type,
                                             unsigned long long *count) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, count);
    if (r == NVML_SUCCESS && ((unsigned int)error_type >= NVML_MEMORY_ERROR_TYPE_COUNT ||
                              (unsigned int)counter_type >= NVML_ECC_COUNTER_TYPE_COUNT))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS && !(t.gpu->ecc_supported && t.gpu->ecc_enabled)) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) {
        unsigned long long v = error_type == NVML_MEMORY_ERROR_TYPE_CORRECTED ? t.gpu->ecc_corrected
                                                                              : t.gpu->ecc_uncorrected;
        *count = counter_type == NVML_AGGREGATE_ECC ? v * 3 : v;
    }
    return leave(r);
}

/* ---------------------------------------------------------------- processes */

static void put_proc(void *infos, size_t stride, unsigned int i, const sim_proc *p, unsigned int gi,
                     unsigned int ci) {
    char *base = (char *)infos + stride * i;
    if (stride == sizeof(nvmlProcessInfo_v1_t)) {
        nvmlProcessInfo_v1_t *o = (nvmlProcessInfo_v1_t *)(void *)base;
        o->pid = p->pid;
        o->usedGpuMemory = p->used_memory;
    } else {
        nvmlProcessInfo_v2_t *o = (nvmlProcessInfo_v2_t *)(void *)base;
        o->pid = p->pid;
        o->usedGpuMemory = p->used_memory;
        o->gpuInstanceId = gi;
        o->computeInstanceId = ci;
    }
}

/* Count (and, when out is given, write) the processes of one kind a handle sees. */
static unsigned int collect(const target *t, int graphics, void *out, size_t stride, unsigned int cap) {
    unsigned int n = 0;
    const sim_gpu *g = t->gpu;
    if (!g->mig_mode) {
        for (unsigned int k = 0; k < g->nprocs; k++) {
            if (g->procs[k].graphics != graphics) continue;
            if (out && n < cap) put_proc(out, stride, n, &g->procs[k], 0xFFFFFFFFu, 0xFFFFFFFFu);
            n++;
        }
        return n;
    }
    for (unsigned int j = 0; j < g->nmigs; j++) {
        const sim_mig *m = &g->migs[j];
        if (t->mig && t->mig != m) continue;
        for (unsigned int k = 0; k < m->nprocs; k++) {
            if (m->procs[k].graphics != graphics) continue;
            if (out && n < cap) put_proc(out, stride, n, &m->procs[k], m->gi, m->ci);
            n++;
        }
    }
    return n;
}

static nvmlReturn_t processes(nvmlDevice_t device, unsigned int *count, void *infos, size_t stride,
                              int graphics) {
    target t;
    nvmlReturn_t r = begin(device, &t, count);
    if (r != NVML_SUCCESS) return leave(r);
    unsigned int needed = collect(&t, graphics, NULL, stride, 0);
    if (*count < needed) {
        *count = needed;
        return leave(NVML_ERROR_INSUFFICIENT_SIZE);
    }
    if (needed && !infos) return leave(NVML_ERROR_INVALID_ARGUMENT);
    *count = collect(&t, graphics, infos, stride, *count);
    return leave(NVML_SUCCESS);
}

#define V1 sizeof(nvmlProcessInfo_v1_t)
#define V2 sizeof(nvmlProcessInfo_v2_t)

API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_v1_t *i) {
    return processes(d, c, i, V1, 0);
}
API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_v2_t *i) {
    return processes(d, c, i, V2, 0);
}
API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_t *i) {
    return processes(d, c, i, V2, 0);
}
API nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_v1_t *i) {
    return processes(d, c, i, V1, 1);
}
API nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_v2_t *i) {
    return processes(d, c, i, V2, 1);
}
API nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_t *i) {
    return processes(d, c, i, V2, 1);
}

static nvmlReturn_t no_mps(nvmlDevice_t device, unsigned int *count) {
    target t;
    nvmlReturn_t r = begin(device, &t, count);
    if (r == NVML_SUCCESS) *count = 0;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_v1_t *i) {
    (void)i;
    return no_mps(d, c);
}
API nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_v2_t *i) {
    (void)i;
    return no_mps(d, c);
}
API nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_t *i) {
    (void)i;
    return no_mps(d, c);
}

/* ---------------------------------------------------------------- MIG */

API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, current);
    if (r == NVML_SUCCESS && !pending) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS && !t.gpu->mig_capable) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) {
        *current = t.gpu->mig_mode ? NVML_DEVICE_MIG_ENABLE : NVML_DEVICE_MIG_DISABLE;
        *pending = t.gpu->mig_pending ? NVML_DEVICE_MIG_ENABLE : NVML_DEVICE_MIG_DISABLE;
    }
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count) {
    target t;
    nvmlReturn_t r = begin(device, &t, count);
    if (r == NVML_SUCCESS && t.mig) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) *count = t.gpu->mig_mode ? t.gpu->mig_max : 0;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                     nvmlDevice_t *mig) {
    target t;
    nvmlReturn_t r = begin(device, &t, mig);
    if (r == NVML_SUCCESS && t.mig) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS && !t.gpu->mig_capable) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS && t.gpu->mig_mode && index >= t.gpu->mig_max) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS && (!t.gpu->mig_mode || index >= t.gpu->nmigs)) r = NVML_ERROR_NOT_FOUND;
    if (r == NVML_SUCCESS) *mig = &g_mig_handles[t.gpu_index][index];
    return leave(r);
}

API nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *is_mig) {
    target t;
    nvmlReturn_t r = begin(device, &t, is_mig);
    if (r == NVML_SUCCESS) *is_mig = t.mig != NULL;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t mig, nvmlDevice_t *device) {
    target t;
    nvmlReturn_t r = begin(mig, &t, device);
    if (r == NVML_SUCCESS && !t.mig) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) *device = &g_gpu_handles[t.gpu_index];
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id) {
    target t;
    nvmlReturn_t r = begin(device, &t, id);
    if (r == NVML_SUCCESS && !t.mig) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) *id = t.mig->gi;
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id) {
    target t;
    nvmlReturn_t r = begin(device, &t, id);
    if (r == NVML_SUCCESS && !t.mig) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) *id = t.mig->ci;
    return leave(r);
}

/* ---------------------------------------------------------------- Windows-only and sampling queries */

static nvmlReturn_t driver_model(nvmlDevice_t device, nvmlDriverModel_t *current, nvmlDriverModel_t *pending) {
    target t;
    nvmlReturn_t r = begin(device, &t, current);
    if (r == NVML_SUCCESS && !pending) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) r = NVML_ERROR_NOT_SUPPORTED; /* driver models are a Windows notion */
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetDriverModel(nvmlDevice_t d, nvmlDriverModel_t *c, nvmlDriverModel_t *p) {
    return driver_model(d, c, p);
}
API nvmlReturn_t nvmlDeviceGetDriverModel_v2(nvmlDevice_t d, nvmlDriverModel_t *c, nvmlDriverModel_t *p) {
    return driver_model(d, c, p);
}

API nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t device, nvmlPcieUtilCounter_t counter,
                                             unsigned int *value) {
    target t;
    nvmlReturn_t r = begin_physical(device, &t, value);
    if (r == NVML_SUCCESS && (unsigned int)counter >= NVML_PCIE_UTIL_COUNT) r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) *value = busy(t.gpu, sim_now()) ? 1200u * (counter + 1u) : 0u; /* KB/s */
    return leave(r);
}

API nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device, nvmlProcessUtilizationSample_t *u,
                                                 unsigned int *count, unsigned long long since) {
    target t;
    (void)u;
    (void)since;
    nvmlReturn_t r = begin(device, &t, count);
    if (r == NVML_SUCCESS && (t.mig || t.gpu->mig_mode)) r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS) r = NVML_ERROR_NOT_FOUND; /* no samples recorded */
    return leave(r);
}
