// Marking a chat read: the newest message seen is sent to the server at most
// once per pause (`PUT /chats/{id}/read`), never one older than what was
// already marked. A message delivered live a moment ago may not be stored yet
// (404): the mark is retried shortly.

/** What became of one mark: stored, worth retrying, or refused for good. */
export type Marked = 'done' | 'retry' | 'refused';

export interface ReadMarker {
  /** `ulid` was seen; marks it after a pause unless a newer one comes. */
  mark(ulid: string): void;
  stop(): void;
}

export interface MarkerTiming {
  /** The pause before a mark is sent. */
  delay: number;
  /** The wait before retrying a mark the server could not place yet. */
  retryDelay: number;
  retries: number;
}

export const MARKER_TIMING: MarkerTiming = { delay: 300, retryDelay: 700, retries: 8 };

/** A marker starting from the server's position `position` (null: none yet). */
export function readMarker(
  position: string | null | undefined,
  put: (ulid: string) => Promise<Marked>,
  timing: MarkerTiming = MARKER_TIMING,
): ReadMarker {
  let marked = position ?? '';
  let wanted = marked;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sending = false;
  let failures = 0;
  let stopped = false;

  function schedule(wait: number) {
    if (timer === undefined && !stopped) timer = setTimeout(flush, wait);
  }

  async function flush() {
    timer = undefined;
    if (sending || wanted <= marked || stopped) return;
    sending = true;
    const ulid = wanted;
    const result = await put(ulid).catch((): Marked => 'retry');
    sending = false;
    if (result === 'done' || result === 'refused') {
      failures = 0;
      if (result === 'done' && ulid > marked) marked = ulid;
      if (result === 'refused' && wanted === ulid) wanted = marked;
      if (wanted > marked) schedule(timing.delay);
    } else if (++failures <= timing.retries) {
      schedule(timing.retryDelay);
    } else {
      failures = 0;
      wanted = marked;
    }
  }

  return {
    mark(ulid) {
      if (ulid <= wanted) return;
      wanted = ulid;
      schedule(timing.delay);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
