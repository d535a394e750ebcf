// The live feed (GET /events/stream) for the browser: EventSource cannot send a bearer header,
// so each connection opens with a fresh single-use ticket, and resumes after the last event it
// saw (?after=) whenever it reconnects — after an error, an overflow notice or a server restart.
import { api, query } from "./api.js";

export function openFeed(filters, onEvent, onStatus = () => {}) {
  let last = null; // position of the last event seen; null: start from now
  let source = null;
  let closed = false;
  let delay = 500;
  let timer = null;

  const connect = async () => {
    if (closed) return;
    let ticket;
    try {
      ticket = (await api("POST", "/events/stream-tickets")).data.ticket;
    } catch {
      return retry();
    }
    if (closed) return;
    const params = { ...filters, ticket };
    if (last !== null) params.after = last;
    source = new EventSource("/api/v2/events/stream" + query(params));
    source.onopen = () => {
      delay = 500;
      onStatus("live");
    };
    source.addEventListener("ready", (m) => {
      if (last === null) last = JSON.parse(m.data).after;
    });
    source.onmessage = (m) => {
      last = Number(m.lastEventId);
      onEvent(JSON.parse(m.data));
    };
    source.addEventListener("overflow", (m) => {
      last = JSON.parse(m.data).resume_after;
      source.close();
      retry();
    });
    source.onerror = () => {
      source.close();
      retry();
    };
  };
  const retry = () => {
    if (closed) return;
    onStatus("reconnecting");
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 8000);
  };
  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (source) source.close();
    },
  };
}
