import { IDeviceSample, ISnapshot } from './model';

const GB = 1024 ** 3;

/** `12.1` for 12.1 GiB, `40` for 40 GiB: one decimal below 100 when it says something. */
export function formatGigabytes(bytes: number): string {
  const value = bytes / GB;
  const text = value >= 100 ? value.toFixed(0) : value.toFixed(1);
  return text.endsWith('.0') ? text.slice(0, -2) : text;
}

/** A metric for people: its value with a unit, or `n/a` when unsupported. */
export function formatMetric(value: number | null, unit: string, digits = 0): string {
  return value === null ? 'n/a' : `${value.toFixed(digits)}${unit}`;
}

/** Devices that hold memory of their own: MIG slices and GPUs without MIG slices shown. */
export function leafDevices(devices: IDeviceSample[]): IDeviceSample[] {
  const parents = new Set(devices.filter(d => d.kind === 'mig').map(d => d.parent_uuid));
  return devices.filter(device => !(device.kind === 'gpu' && parents.has(device.uuid)));
}

/**
 * The status-bar text, e.g. `GPU 37% · 12.1/40 GB`; MIG slices have no
 * utilisation counter, so only their memory shows.
 */
export function statusBarText(snapshot: ISnapshot | null): string {
  if (snapshot === null) {
    return 'GPU …';
  }
  if (snapshot.status !== 'ok') {
    return 'No GPU';
  }
  const devices = leafDevices(snapshot.devices);
  if (devices.length === 0) {
    return 'No GPU';
  }
  const utilisations = devices
    .map(d => d.utilization_gpu)
    .filter((v): v is number => v !== null);
  const used = devices.reduce((sum, d) => sum + (d.memory_used_bytes ?? 0), 0);
  const total = devices.reduce((sum, d) => sum + (d.memory_total_bytes ?? 0), 0);
  const parts: string[] = [];
  const label = devices.every(d => d.kind === 'mig') ? 'MIG' : 'GPU';
  if (utilisations.length > 0) {
    const mean = utilisations.reduce((a, b) => a + b, 0) / utilisations.length;
    parts.push(`${label} ${Math.round(mean)}%`);
  } else {
    parts.push(label);
  }
  if (total > 0) {
    parts.push(`${formatGigabytes(used)}/${formatGigabytes(total)} GB`);
  }
  return parts.join(' · ');
}

/** A sentence for the panel when there is nothing to chart. */
export function unavailableMessage(snapshot: ISnapshot): string {
  switch (snapshot.status) {
    case 'no_library':
      return 'No GPU: the NVIDIA management library is not installed on this server.';
    case 'no_driver':
      return 'No GPU: the NVIDIA driver is not loaded on this server.';
    case 'no_devices':
      return 'No GPU is attached to this server.';
    default:
      return snapshot.message || 'GPU telemetry is unavailable.';
  }
}

/** `350 Wh`, `2.4 kWh`, or `n/a` without power readings. */
export function formatEnergy(wattHours: number | null | undefined): string {
  if (wattHours === null || wattHours === undefined) {
    return 'n/a';
  }
  return wattHours < 1000 ? `${wattHours.toFixed(0)} Wh` : `${(wattHours / 1000).toFixed(1)} kWh`;
}
