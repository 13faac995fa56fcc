import { ServerConnection } from '@jupyterlab/services';

import { apiURL, IJobEvent, TERMINAL_PHASES } from './api';

/**
 * Options to follow a job's event stream.
 */
export interface IFollowOptions {
  /** The job id. */
  jobId: string;
  /** The last sequence number already seen (0: from the start). */
  after: number;
  /** Called with each batch of events, in order. */
  onEvents: (events: IJobEvent[]) => void;
  /** Aborts the stream. */
  signal: AbortSignal;
  /** Server connection settings. */
  settings?: ServerConnection.ISettings;
}

/**
 * Parse Server-Sent Events from a text buffer.
 *
 * @param buffer - text received so far
 * @returns the complete events' data and the unparsed rest
 */
export function parseSSE(buffer: string): {
  events: { id: string | null; data: string }[];
  rest: string;
} {
  const events: { id: string | null; data: string }[] = [];
  const text = buffer.includes('\r') ? buffer.replace(/\r\n?/g, '\n') : buffer;
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n\n', start);
    if (end < 0) {
      break;
    }
    const event = parseBlock(text, start, end);
    if (event) {
      events.push(event);
    }
    start = end + 2;
  }
  return { events, rest: start === 0 ? text : text.slice(start) };
}

/** One event block `text[start:end]` (no blank line inside), or null. */
function parseBlock(
  text: string,
  start: number,
  end: number
): { id: string | null; data: string } | null {
  // The server's shape, `id: N\ndata: JSON`, without splitting lines.
  if (text.startsWith('id: ', start)) {
    const nl = text.indexOf('\n', start);
    if (
      nl > 0 &&
      nl < end &&
      text.startsWith('data: ', nl + 1) &&
      text.indexOf('\n', nl + 1) === end
    ) {
      return {
        id: text.slice(start + 4, nl),
        data: text.slice(nl + 7, end)
      };
    }
  }
  let id: string | null = null;
  const data: string[] = [];
  for (const line of text.slice(start, end).split('\n')) {
    if (line.length === 0 || line.startsWith(':')) {
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'id') {
      id = value;
    } else if (field === 'data') {
      data.push(value);
    }
  }
  return data.length > 0 ? { id, data: data.join('\n') } : null;
}

/**
 * Follow a job's events with fetch streaming (so the Jupyter token and
 * cookies apply), resuming with `Last-Event-ID` after a dropped connection.
 *
 * Resolves after the terminal event, or when aborted.
 */
export async function followEvents(options: IFollowOptions): Promise<void> {
  const settings = options.settings ?? ServerConnection.makeSettings();
  let after = options.after;
  let finished = false;
  let delay = 500;
  while (!options.signal.aborted) {
    try {
      const headers: { [key: string]: string } = {
        Accept: 'text/event-stream'
      };
      if (after > 0) {
        headers['Last-Event-ID'] = String(after);
      }
      const response = await ServerConnection.makeRequest(
        apiURL(`builds/${encodeURIComponent(options.jobId)}/events`, settings),
        { headers, signal: options.signal, cache: 'no-store' },
        settings
      );
      if (response.status === 404) {
        return;
      }
      if (!response.ok || !response.body) {
        throw new Error(`HTTP ${response.status}`);
      }
      const reader = response.body
        .pipeThrough(new TextDecoderStream())
        .getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        buffer += value;
        const parsed = parseSSE(buffer);
        buffer = parsed.rest;
        const batch: IJobEvent[] = [];
        for (const raw of parsed.events) {
          const event = JSON.parse(raw.data) as IJobEvent;
          if (event.seq <= after) {
            continue; // never show a line twice
          }
          after = event.seq;
          finished = TERMINAL_PHASES.includes(event.phase);
          batch.push(event);
        }
        if (batch.length > 0) {
          delay = 500; // progress: a later drop retries quickly again
          options.onEvents(batch);
        }
      }
      if (finished) {
        return; // the server closes the stream after the terminal event
      }
      // Closed before the end (a proxy or server restart): resume below.
    } catch (error) {
      if (options.signal.aborted) {
        return;
      }
      console.warn('jupyter_r2d: event stream dropped, resuming', error);
    }
    await new Promise(resolve => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
  }
}
