/**
 * The telemetry data the server extension sends, as the frontend reads it.
 *
 * Every metric a device does not support is `null` and named in
 * `unsupported`; the UI shows "n/a" for it, never a zero.
 */

/** Why telemetry is (or is not) available on this server. */
export type TelemetryStatus =
  | 'ok'
  | 'no_library'
  | 'no_driver'
  | 'no_devices'
  | 'error'
  | string;

export interface IProcessInfo {
  pid: number;
  used_memory_bytes: number | null;
  user: string | null;
  name: string | null;
  own: boolean;
}

export interface IDeviceSample {
  /** Stable key for charts: the UUID of a GPU or MIG device. */
  uuid: string;
  index: number | string;
  name: string;
  kind: 'gpu' | 'mig';
  /** MIG profile such as `1g.10gb`; absent for full GPUs. */
  profile?: string | null;
  parent_uuid?: string | null;
  utilization_gpu: number | null;
  utilization_memory: number | null;
  memory_used_bytes: number | null;
  memory_total_bytes: number | null;
  temperature_c: number | null;
  fan_percent: number | null;
  power_draw_w: number | null;
  power_limit_w: number | null;
  /** Watt-hours the GPU drew since the server started (whole GPUs only). */
  energy_wh?: number | null;
  sm_clock_mhz: number | null;
  memory_clock_mhz: number | null;
  performance_state: string | null;
  unsupported: string[];
  processes: IProcessInfo[];
  error?: string | null;
}

export interface ISnapshot {
  status: TelemetryStatus;
  message: string;
  /** Seconds since the epoch. */
  timestamp: number;
  devices: IDeviceSample[];
}

function asNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function asString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function normaliseProcess(raw: Record<string, any>): IProcessInfo {
  return {
    pid: asNumber(raw.pid) ?? -1,
    used_memory_bytes: asNumber(raw.used_memory_bytes),
    user: asString(raw.user),
    name: asString(raw.command),
    own: raw.own === true
  };
}

/** NVML performance states are numbers: 0 is P0 (fastest), 32 means unknown. */
function formatPerformanceState(value: unknown): string | null {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' && value >= 0 && value <= 15) {
    return `P${value}`;
  }
  return null;
}

/** Turn one device of the server's JSON into the shape the UI draws. */
export function normaliseDevice(
  raw: Record<string, any>,
  parent?: IDeviceSample
): IDeviceSample {
  const unsupported: string[] = Array.isArray(raw.unsupported) ? [...raw.unsupported] : [];
  const device: IDeviceSample = {
    uuid: asString(raw.uuid) ?? `${parent?.uuid ?? 'device'}-${raw.index ?? '?'}`,
    index: raw.index ?? '?',
    name: asString(raw.name) ?? 'GPU',
    kind: raw.kind === 'mig' || parent ? 'mig' : 'gpu',
    profile: asString(raw.profile),
    parent_uuid: parent?.uuid ?? asString(raw.parent_uuid),
    utilization_gpu: asNumber(raw.utilization_gpu),
    utilization_memory: asNumber(raw.utilization_memory),
    memory_used_bytes: asNumber(raw.memory_used_bytes),
    memory_total_bytes: asNumber(raw.memory_total_bytes),
    temperature_c: asNumber(raw.temperature_c),
    fan_percent: asNumber(raw.fan_percent),
    power_draw_w: asNumber(raw.power_draw_w),
    power_limit_w: asNumber(raw.power_limit_w),
    energy_wh: asNumber(raw.energy_wh),
    sm_clock_mhz: asNumber(raw.clock_sm_mhz),
    memory_clock_mhz: asNumber(raw.clock_memory_mhz),
    performance_state: formatPerformanceState(raw.performance_state),
    unsupported,
    processes: Array.isArray(raw.processes) ? raw.processes.map(normaliseProcess) : [],
    error: raw.status && raw.status !== 'ok' ? (asString(raw.message) ?? raw.status) : null
  };
  return device;
}

/**
 * Flatten the server's snapshot into one list of chartable devices: each GPU,
 * followed by its MIG devices.
 */
export function normaliseSnapshot(raw: unknown): ISnapshot {
  const source = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, any>;
  const devices: IDeviceSample[] = [];
  const rawDevices: any[] = Array.isArray(source.devices) ? source.devices : [];
  for (const rawDevice of rawDevices) {
    const device = normaliseDevice(rawDevice);
    devices.push(device);
    const migDevices: unknown = rawDevice?.mig?.devices;
    if (Array.isArray(migDevices)) {
      for (const rawMig of migDevices) {
        devices.push(normaliseDevice(rawMig, device));
      }
    }
  }
  return {
    status: asString(source.status) ?? 'error',
    message: asString(source.message) ?? '',
    timestamp: asNumber(source.timestamp) ?? Date.now() / 1000,
    devices
  };
}

/**
 * Turn the server's history answer (device list plus compact samples) into
 * snapshots, oldest first, so panels can replay them like live frames.
 */
export function historyToSnapshots(raw: unknown): ISnapshot[] {
  const source = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, any>;
  const meta: any[] = Array.isArray(source.devices) ? source.devices : [];
  const samples: any[] = Array.isArray(source.samples) ? source.samples : [];
  const byUuid = new Map<string, Record<string, any>>();
  for (const device of meta) {
    if (typeof device?.uuid === 'string') {
      byUuid.set(device.uuid, device);
    }
  }
  return samples.map(sample => {
    const values: Record<string, any> = sample?.values ?? {};
    const devices: IDeviceSample[] = [];
    for (const [uuid, metrics] of Object.entries(values)) {
      const info = byUuid.get(uuid) ?? { uuid };
      const device = normaliseDevice({ ...info, ...metrics, processes: [] });
      device.parent_uuid = asString(info.parent_uuid);
      device.kind = info.kind === 'mig' ? 'mig' : 'gpu';
      devices.push(device);
    }
    return {
      status: 'ok',
      message: '',
      timestamp: asNumber(sample?.timestamp) ?? 0,
      devices
    };
  });
}
