import type { SseEvent } from '../capture/schema.js';

/**
 * Server-sent events as the WHATWG HTML spec reads them (§9.2.6), with one deliberate leniency:
 * a final event without its closing blank line is kept, because a capture of a cut-off stream
 * should still show what arrived.
 *
 * `id` follows the spec's "last event ID" buffer: once set it stays on later events until another
 * `id:` line changes it, exactly what a browser's MessageEvent.lastEventId would report.
 */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  let data: string[] = [];
  let hasData = false;
  let eventType = '';
  let lastId = '';

  const dispatch = (): void => {
    if (hasData) {
      const ev: SseEvent = { data: data.join('\n') };
      if (eventType !== '') ev.event = eventType;
      if (lastId !== '') ev.id = lastId;
      events.push(ev);
    }
    data = [];
    hasData = false;
    eventType = '';
  };

  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  // A trailing terminator yields a final '' here; treating it as a blank line is what makes the
  // lenient end-of-stream rule above work for "data: x\n" too.
  for (const line of body.split(/\r\n|\r|\n/)) {
    if (line === '') {
      dispatch();
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        eventType = value;
        break;
      case 'data':
        data.push(value);
        hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) lastId = value;
        break;
      default:
        // `retry` and unknown fields do not change what an event carries.
        break;
    }
  }
  dispatch();
  return events;
}

/** One event on the wire. Line breaks inside `data` become separate `data:` lines, as the format requires. */
export function formatSse(event: { event?: string; data: string; id?: string }): string {
  let out = '';
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  for (const line of event.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + '\n';
}
