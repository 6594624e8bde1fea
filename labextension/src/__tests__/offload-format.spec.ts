import { elapsedSeconds, siteHealth, siteLabel } from '../offload/format';
import { IJob, ISite } from '../offload/types';

const NOW = Date.parse('2026-11-27T12:00:00Z');

function site(extra: Partial<ISite>): ISite {
  return {
    name: 'bo',
    display_name: 'INFN Bologna',
    ready: true,
    last_seen: '2026-11-27T11:59:55Z',
    accelerators: { 'nvidia.com/gpu': 2 },
    queue: 1,
    message: null,
    ...extra
  };
}

describe('site health', () => {
  it('is Ready, NotReady while recently seen, unreachable when silent or never seen', () => {
    expect(siteHealth(site({}), NOW)).toBe('Ready');
    expect(siteHealth(site({ ready: false }), NOW)).toBe('NotReady');
    expect(siteHealth(site({ ready: false, last_seen: '2026-11-27T11:50:00Z' }), NOW)).toBe(
      'unreachable'
    );
    expect(siteHealth(site({ ready: false, last_seen: null }), NOW)).toBe('unreachable');
  });

  it('labels a site with health, free accelerators by type, queue and last seen', () => {
    expect(siteLabel(site({}), NOW)).toBe(
      'INFN Bologna — Ready (2 nvidia.com/gpu free, 1 queued, last seen 5 s ago)'
    );
    expect(siteLabel(site({ accelerators: {}, last_seen: null, ready: false }), NOW)).toBe(
      'INFN Bologna — unreachable (no accelerators free, 1 queued)'
    );
    const silent = site({ ready: false, message: 'The site does not answer.' });
    expect(siteLabel(silent, NOW)).toBe(
      'INFN Bologna — NotReady: The site does not answer. (2 nvidia.com/gpu free, 1 queued, last seen 5 s ago)'
    );
    expect(siteLabel(site({ message: 'stale' }), NOW)).not.toContain('stale');
  });
});

describe('elapsedSeconds', () => {
  const job = (provenance: IJob['provenance']): IJob => ({
    id: 'j',
    user: 'u',
    name: 'n',
    state: 'running',
    site: 's',
    flavor: 'f',
    provenance
  });

  it('counts from the start to the end, or to now while it runs', () => {
    expect(
      elapsedSeconds(
        job({ started_at: '2026-11-27T11:58:00Z', finished_at: '2026-11-27T11:59:30Z' }),
        NOW
      )
    ).toBe(90);
    expect(elapsedSeconds(job({ submitted_at: '2026-11-27T11:59:00Z' }), NOW)).toBe(60);
    expect(elapsedSeconds(job({}), NOW)).toBeNull();
  });
});
