import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readMarker, type Marked } from './readMarker';

const timing = { delay: 300, retryDelay: 700, retries: 2 };

describe('the read marker', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends the newest seen once per pause, never one at or before the position', async () => {
    const sent: string[] = [];
    const marker = readMarker('01B', async (ulid) => (sent.push(ulid), 'done'), timing);
    marker.mark('01A');
    marker.mark('01B');
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual([]);
    marker.mark('01C');
    marker.mark('01E');
    marker.mark('01D');
    await vi.advanceTimersByTimeAsync(299);
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toEqual(['01E']);
    marker.mark('01E');
    marker.mark('01D');
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual(['01E']);
  });

  it('a mark made while one is in flight follows it', async () => {
    const sent: string[] = [];
    let answer: (value: Marked) => void = () => {};
    const marker = readMarker(null, (ulid) => {
      sent.push(ulid);
      return new Promise((resolve) => (answer = resolve));
    }, timing);
    marker.mark('01A');
    await vi.advanceTimersByTimeAsync(300);
    marker.mark('01B');
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual(['01A']);
    answer('done');
    await vi.advanceTimersByTimeAsync(300);
    expect(sent).toEqual(['01A', '01B']);
  });

  it('retries a message not stored yet, then gives up; a refused mark is not retried', async () => {
    const sent: string[] = [];
    const answers: Marked[] = ['retry', 'retry', 'done'];
    const marker = readMarker(null, async (ulid) => (sent.push(ulid), answers.shift() ?? 'retry'), timing);
    marker.mark('01A');
    await vi.advanceTimersByTimeAsync(300 + 700 + 700);
    expect(sent).toEqual(['01A', '01A', '01A']);
    marker.mark('01B');
    await vi.advanceTimersByTimeAsync(300 + 3 * 700 + 5000);
    expect(sent).toEqual(['01A', '01A', '01A', '01B', '01B', '01B']);

    const refused: string[] = [];
    const other = readMarker(null, async (ulid) => (refused.push(ulid), 'refused'), timing);
    other.mark('01A');
    await vi.advanceTimersByTimeAsync(5000);
    expect(refused).toEqual(['01A']);
  });

  it('sends nothing once stopped', async () => {
    const sent: string[] = [];
    const marker = readMarker(null, async (ulid) => (sent.push(ulid), 'done'), timing);
    marker.mark('01A');
    marker.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual([]);
  });
});
