import { ServerConnection } from '@jupyterlab/services';

import { apiURL, IJobEvent } from './api';

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
  const normalised = buffer.includes('\r')
    ? buffer.replace(/\r\n?/g, '\n')
    : buffer;
  const blocks = normalised.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let id: string | null = null;
    const data: string[] = [];
    for (const line of block.split('\n')) {
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
    if (data.length > 0) {
      events.push({ id, data: data.join('\n') });
    }
  }
  return { events, rest };
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
          batch.push(event);
        }
        if (batch.length > 0) {
          options.onEvents(batch);
        }
      }
      return; // a clean end: the server closes after the terminal event
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
