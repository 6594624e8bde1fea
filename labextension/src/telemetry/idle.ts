import { leafDevices } from './format';
import { ISnapshot } from './model';

/** Utilisation at or below this (percent) counts as idle, as the server's activity reports. */
export const IDLE_UTILISATION = 1;

/** Is every device of the snapshot idle? (No utilisation counter: idle without processes.) */
export function snapshotIdle(snapshot: ISnapshot): boolean | null {
  if (snapshot.status !== 'ok') {
    return null;
  }
  const devices = leafDevices(snapshot.devices);
  if (devices.length === 0) {
    return null;
  }
  return devices.every(d =>
    d.utilization_gpu === null
      ? (d.processes ?? []).length === 0
      : d.utilization_gpu <= IDLE_UTILISATION
  );
}

/**
 * Since when the held devices sit idle, snapshot after snapshot; `warn` once that lasts
 * `warnAfterSeconds` (the status bar then turns to the warning colour).
 */
export class IdleWatch {
  constructor(readonly warnAfterSeconds: number) {}

  /** Seconds since the epoch when the idle run began, or null while busy or unknown. */
  idleSince: number | null = null;

  update(snapshot: ISnapshot): void {
    const idle = snapshotIdle(snapshot);
    if (idle !== true) {
      this.idleSince = null;
    } else if (this.idleSince === null) {
      this.idleSince = snapshot.timestamp;
    }
  }

  idleSeconds(now: number): number {
    return this.idleSince === null ? 0 : Math.max(now - this.idleSince, 0);
  }

  warn(now: number): boolean {
    return this.idleSince !== null && this.idleSeconds(now) >= this.warnAfterSeconds;
  }
}
