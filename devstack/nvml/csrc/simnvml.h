/*
 * accelhub devstack: simulated NVML, shared declarations.
 *
 * A test and demo double of libnvidia-ml.so.1. It is never loaded in
 * production: the real NVIDIA driver provides that library there.
 */
#ifndef ACCELHUB_SIMNVML_H
#define ACCELHUB_SIMNVML_H

#define NVML_NO_UNVERSIONED_FUNC_DEFS 1
#include <nvml.h>

#define SIM_MAX_GPUS 64
#define SIM_MAX_MIGS 7
#define SIM_MAX_PROCS 32
#define SIM_STR 96
#define SIM_SHORT 32

enum sim_fail { SIM_OK = 0, SIM_FAIL_DRIVER_NOT_LOADED, SIM_FAIL_GPU_LOST, SIM_FAIL_UNKNOWN };

typedef struct {
    unsigned int pid;
    unsigned long long used_memory;
    int graphics;
} sim_proc;

typedef struct {
    char uuid[SIM_STR];
    char name[SIM_STR];
    char profile[SIM_SHORT];
    unsigned int gi, ci;
    unsigned long long memory_total, memory_overhead;
    unsigned int sm_count, copy_engines, decoders, encoders, jpegs, ofas, gi_slices, ci_slices;
    sim_proc procs[SIM_MAX_PROCS];
    unsigned int nprocs;
} sim_mig;

typedef struct {
    char uuid[SIM_STR];
    char name[SIM_STR];
    char serial[SIM_SHORT];
    char bus_id[SIM_SHORT];
    unsigned int pci_device_id, pci_subsystem_id, domain, bus, device, minor, brand;
    unsigned int host_index;
    unsigned long long memory_total, memory_reserved, memory_overhead, memory_wander, bar1_total;
    double util_min, util_max, period, mem_util_ratio;
    unsigned int seed;
    unsigned int temp_idle, temp_max, temp_shutdown, temp_slowdown, temp_gpu_max, temp_mem_max;
    int has_fan;
    unsigned int fan_min, fan_max;
    unsigned int power_idle, power_limit, power_default_limit, power_min_limit, power_max_limit;
    unsigned int clock_sm_idle, clock_sm_max, clock_mem_idle, clock_mem_max, clock_video_max;
    int ecc_supported, ecc_enabled;
    unsigned long long ecc_corrected, ecc_uncorrected;
    int mig_capable, mig_mode, mig_pending;
    unsigned int mig_max;
    unsigned int cc_major, cc_minor, sm_count;
    int fail;
    double fail_at;
    unsigned long long mig_memory_used; /* all MIG devices, visible or not */
    sim_mig migs[SIM_MAX_MIGS];
    unsigned int nmigs;
    sim_proc procs[SIM_MAX_PROCS];
    unsigned int nprocs;
} sim_gpu;

typedef struct {
    char driver_version[SIM_SHORT * 2];
    char nvml_version[SIM_SHORT * 2];
    int cuda_version;
    int fail;
    sim_gpu gpus[SIM_MAX_GPUS];
    unsigned int ngpus;
} sim_world;

/* Load the simulation file named by ACCELHUB_NVML_SIM_FILE into *out, filtered
 * by NVIDIA_VISIBLE_DEVICES. Returns NVML_SUCCESS or the error nvmlInit reports. */
nvmlReturn_t sim_load(sim_world *out);

/* Whether the simulation file changed since the last sim_load (by mtime and size). */
int sim_file_changed(void);

/* Seconds since the epoch, with sub-second resolution. */
double sim_now(void);

/* A smooth deterministic load curve in [0, 1] for a seed at time t. */
double sim_wave(unsigned int seed, double period, double t);

#endif
