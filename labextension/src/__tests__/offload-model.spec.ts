import { IJobChange, JobsModel } from '../offload/model';
import { placeOutputs } from '../offload/placement';
import { EventFrame, IJob, JobState } from '../offload/types';

function job(state: JobState, extra: Partial<IJob> = {}): IJob {
  return { id: 'j1', user: 'ada', name: 'a.ipynb', state, site: 'site-a', flavor: 'gpu', ...extra };
}

const hello = (stream: string, reset = false): EventFrame => ({
  type: 'hello',
  stream,
  first: 1,
  last: 0,
  reset
});
const log = (seq: number, line: string): EventFrame => ({ seq, type: 'log', line });

describe('JobsModel state transitions', () => {
  it('moves pending -> running -> succeeded and reports each move', () => {
    const model = new JobsModel();
    const seen: IJobChange[] = [];
    model.changed.connect((_, change) => seen.push(change));
    model.upsert(job('pending'));
    model.apply('j1', { seq: 1, type: 'state', job: job('running') });
    model.apply('j1', { seq: 2, type: 'state', job: job('succeeded') });
    expect(seen.map(c => [c.from, c.to])).toEqual([
      [null, 'pending'],
      ['pending', 'running'],
      ['running', 'succeeded']
    ]);
    expect(model.get('j1')!.job.state).toBe('succeeded');
  });

  it('ignores a stale snapshot that would reopen a final job or step back to pending', () => {
    const model = new JobsModel();
    model.upsert(job('running'));
    model.upsert(job('pending'));
    expect(model.get('j1')!.job.state).toBe('running');
    model.upsert(job('failed', { message: 'sbatch: error: invalid partition' }));
    model.upsert(job('running'));
    const entry = model.get('j1')!;
    expect(entry.job.state).toBe('failed');
    expect(entry.job.message).toBe('sbatch: error: invalid partition');
  });

  it('tracks per-cell progress from progress frames and the job field', () => {
    const model = new JobsModel();
    model.upsert(job('running', { progress: { cell: 1, of: 4 } }));
    expect(model.get('j1')!.progress).toEqual({ current: 2, done: 1, of: 4 });
    model.apply('j1', { seq: 1, type: 'progress', event: 'start', cell: 3, of: 4 });
    expect(model.get('j1')!.progress).toEqual({ current: 3, done: 2, of: 4 });
    model.apply('j1', { seq: 2, type: 'progress', event: 'end', cell: 3, of: 4 });
    expect(model.get('j1')!.progress).toEqual({ current: 3, done: 3, of: 4 });
  });

  it('keeps the sentence of an error frame and marks the feed ended', () => {
    const model = new JobsModel();
    model.upsert(job('running'));
    model.apply('j1', { seq: 1, type: 'error', message: 'There is no job j1.' });
    expect(model.get('j1')!.error).toBe('There is no job j1.');
    expect(model.get('j1')!.ended).toBe(true);
  });
});

describe('JobsModel reconnect catch-up', () => {
  it('skips frames already applied when a reconnect replays them', () => {
    const model = new JobsModel();
    model.upsert(job('running'));
    model.apply('j1', hello('s1'));
    [1, 2, 3].forEach(n => model.apply('j1', log(n, `line ${n}`)));
    expect(model.get('j1')!.after).toBe(3);
    // The socket dropped; the new one (same stream) overlaps what was seen.
    model.apply('j1', hello('s1'));
    [2, 3, 4, 5].forEach(n => model.apply('j1', log(n, `line ${n}`)));
    expect(model.get('j1')!.log).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
  });

  it('starts the log over when the server restarted (new stream) and resends from 1', () => {
    const model = new JobsModel();
    model.upsert(job('running'));
    model.apply('j1', hello('s1'));
    [1, 2].forEach(n => model.apply('j1', log(n, `line ${n}`)));
    model.apply('j1', hello('s2', true));
    [1, 2, 3].forEach(n => model.apply('j1', log(n, `line ${n}`)));
    const entry = model.get('j1')!;
    expect(entry.log).toEqual(['line 1', 'line 2', 'line 3']);
    expect(entry.stream).toBe('s2');
  });
});

describe('placeOutputs', () => {
  const origin = { path: 'a.ipynb', cellId: 'c2', source: 'x = 1' };

  it('finds the cell where it moved to', () => {
    const cells = [
      { id: 'c3', source: 'y' },
      { id: 'c1', source: 'z' },
      { id: 'c2', source: 'x = 1' }
    ];
    expect(placeOutputs(cells, origin)).toEqual({ kind: 'cell', index: 2 });
  });

  it('holds the outputs when the cell was deleted', () => {
    const placed = placeOutputs([{ id: 'c1', source: 'x = 1' }], origin);
    expect(placed.kind).toBe('held');
    expect(placed).toMatchObject({ index: null, reason: expect.stringContaining('deleted') });
  });

  it('holds the outputs when the cell was edited, remembering where it is', () => {
    const placed = placeOutputs([{ id: 'c2', source: 'x = 2' }], origin);
    expect(placed).toMatchObject({ kind: 'held', index: 0, reason: expect.stringContaining('edited') });
  });

  it('holds the outputs when the notebook is not open', () => {
    expect(placeOutputs(null, origin)).toMatchObject({ kind: 'held', index: null });
  });

  it('model keeps held outputs until released', () => {
    const model = new JobsModel();
    model.upsert(job('succeeded', { cell_id: 'c2' }), origin);
    model.hold('j1', { cell_id: 'c2', execution_count: 3, outputs: [{ output_type: 'stream' }] }, 'edited');
    expect(model.get('j1')!.heldOutputs?.execution_count).toBe(3);
    model.release('j1');
    expect(model.get('j1')!.heldOutputs).toBeNull();
  });
});
