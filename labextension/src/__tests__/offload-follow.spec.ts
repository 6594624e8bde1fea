import { JobFollower, MAX_SILENT_ATTEMPTS, OffloadClient } from '../offload/api';
import { JobsModel } from '../offload/model';
import { IJob } from '../offload/types';

/** A WebSocket the test drives: it records its URL and lets the test send and drop. */
class FakeSocket {
  static opened: FakeSocket[] = [];
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.opened.push(this);
  }
  send(frame: object): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  close(): void {
    this.onclose?.();
  }
}

const running: IJob = { id: 'j1', user: 'ada', name: 'a.ipynb', state: 'running', site: 's', flavor: 'gpu' };

describe('JobFollower', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    (globalThis as any).window = globalThis;
    FakeSocket.opened = [];
  });
  afterEach(() => jest.useRealTimers());

  it('reconnects after a drop from the cursor, without duplicating log lines', () => {
    const client = new OffloadClient({
      baseUrl: 'http://h/user/ada/',
      wsUrl: 'ws://h/user/ada/',
      token: 't0k',
      WebSocket: FakeSocket
    } as any);
    const model = new JobsModel();
    model.upsert(running);
    let done: boolean | null = null;
    const follower = new JobFollower(
      client,
      'j1',
      () => ({ stream: model.get('j1')!.stream, after: model.get('j1')!.after }),
      frame => model.apply('j1', frame),
      lost => (done = lost)
    );
    follower.start();
    const first = FakeSocket.opened[0];
    expect(first.url).toBe('ws://h/user/ada/accelhub/api/offload/jobs/j1/events?after=0&token=t0k');
    first.send({ type: 'hello', stream: 'abc', first: 1, last: 2, reset: false });
    first.send({ seq: 1, type: 'log', line: 'one' });
    first.send({ seq: 2, type: 'log', line: 'two' });
    first.close(); // dropped before the end

    jest.advanceTimersByTime(1000);
    const second = FakeSocket.opened[1];
    expect(second.url).toBe(
      'ws://h/user/ada/accelhub/api/offload/jobs/j1/events?after=2&stream=abc&token=t0k'
    );
    second.send({ type: 'hello', stream: 'abc', first: 1, last: 4, reset: false });
    second.send({ seq: 2, type: 'log', line: 'two' }); // an overlap is ignored
    second.send({ seq: 3, type: 'log', line: 'three' });
    second.send({ seq: 4, type: 'end', state: 'succeeded' });
    second.close();

    expect(model.get('j1')!.log).toEqual(['one', 'two', 'three']);
    expect(done).toBe(false); // ended, not lost
    jest.advanceTimersByTime(60_000);
    expect(FakeSocket.opened).toHaveLength(2); // no reconnect after the end
  });

  it('gives up after sockets that close before any frame, saying the job is lost', () => {
    const client = new OffloadClient({ baseUrl: 'http://h/', wsUrl: 'ws://h/', token: '', WebSocket: FakeSocket } as any);
    let lost: boolean | null = null;
    const follower = new JobFollower(client, 'gone', () => ({ stream: null, after: 0 }), () => undefined, l => (lost = l));
    follower.start();
    for (let i = 0; i < MAX_SILENT_ATTEMPTS; i++) {
      expect(lost).toBeNull();
      FakeSocket.opened[i].close(); // the upgrade was refused
      jest.advanceTimersByTime(30_000);
    }
    expect(lost).toBe(true);
    expect(FakeSocket.opened).toHaveLength(MAX_SILENT_ATTEMPTS);
  });
});
