/** Words and numbers the dialog and the panel show: site health, elapsed time. */
import { IJob, ISite } from './types';

/** A site silent for longer than this is shown as unreachable. */
export const UNREACHABLE_AFTER_SECONDS = 120;

export type SiteHealth = 'Ready' | 'NotReady' | 'unreachable';

function secondsSince(iso: string | null | undefined, now: number): number | null {
  if (!iso) {
    return null;
  }
  const at = Date.parse(iso);
  return Number.isNaN(at) ? null : Math.max(0, Math.round((now - at) / 1000));
}

export function siteHealth(site: ISite, now = Date.now()): SiteHealth {
  if (site.ready) {
    return 'Ready';
  }
  const silent = secondsSince(site.last_seen, now);
  return silent === null || silent > UNREACHABLE_AFTER_SECONDS ? 'unreachable' : 'NotReady';
}

export function duration(seconds: number): string {
  if (seconds < 60) {
    return `${seconds} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${seconds % 60} s`;
  }
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** "<display name> — Ready (2 nvidia.com/gpu free, 0 queued, last seen 4 s ago)". */
export function siteLabel(site: ISite, now = Date.now()): string {
  const free = Object.entries(site.accelerators)
    .map(([resource, count]) => `${count} ${resource} free`)
    .join(', ');
  const parts = [free || 'no accelerators free', `${site.queue} queued`];
  const silent = secondsSince(site.last_seen, now);
  if (silent !== null) {
    parts.push(`last seen ${duration(silent)} ago`);
  }
  const health = siteHealth(site, now);
  const why = health !== 'Ready' && site.message ? `: ${site.message}` : '';
  return `${site.display_name} — ${health}${why} (${parts.join(', ')})`;
}

/** Seconds from submission (or start) to the end (or now). */
export function elapsedSeconds(job: IJob, now = Date.now()): number | null {
  const p = job.provenance ?? {};
  const start = p.started_at ?? p.submitted_at;
  if (!start) {
    return null;
  }
  const end = p.finished_at ? Date.parse(p.finished_at) : now;
  const begun = Date.parse(start);
  if (Number.isNaN(begun) || Number.isNaN(end)) {
    return null;
  }
  return Math.max(0, Math.round((end - begun) / 1000));
}
