/** The answer of `GET /accelhub/api/health`. */
export interface IHealth {
  name: string;
  version: string;
  features: Record<string, boolean>;
}

/** Check that a decoded health answer has the shape the UI relies on. */
export function isHealth(value: unknown): value is IHealth {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.name === 'string' &&
    typeof candidate.version === 'string' &&
    typeof candidate.features === 'object' &&
    candidate.features !== null
  );
}

/** One-line summary for the status bar, e.g. `accelhub 0.1.0 · telemetry, offload`. */
export function describeHealth(health: IHealth): string {
  const enabled = Object.keys(health.features)
    .filter(name => health.features[name])
    .sort();
  const suffix = enabled.length > 0 ? ` · ${enabled.join(', ')}` : '';
  return `accelhub ${health.version}${suffix}`;
}
