// The live event stream. EventSource reconnects by itself after a dropped connection and sends
// Last-Event-ID; when it gives up (an error answer, e.g. a proxy's 502), it is re-opened here with
// back-off, resuming with ?after=<last id> since a new EventSource cannot set that header.

const KINDS = [
  "bot.started", "bot.stopping", "bot.tick_failed",
  "execution.started", "execution.long_confirmed", "execution.retry", "execution.failed",
  "execution.hedge_failed", "execution.delta", "execution.recovering",
  "position.opened", "position.closed", "position.unwound", "position.reduced", "position.rebalanced",
  "risk.tripped", "risk.changed", "risk.cleared", "risk.state_changed", "risk.halted", "risk.resumed",
  "risk.kill_switch",
  "job.progress", "rates.tick", "pnl.tick",
  "control.paused", "control.resumed", "control.emergency_stop",
  "settings.changed", "notify.failed",
];

export class EventStream {
  constructor(url, { onEvent, onState }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.source = null;
    this.delay = 1000;
    this.timer = null;
    this.opened = false;
  }

  start() {
    this.open();
    window.addEventListener("online", () => this.reopenSoon(0));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && (!this.source || this.source.readyState === EventSource.CLOSED)) {
        this.reopenSoon(0);
      }
    });
  }

  open() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.source) this.source.close();
    const url = this.lastId === null ? this.url : `${this.url}?after=${encodeURIComponent(this.lastId)}`;
    const source = new EventSource(url);
    this.source = source;
    this.onState(this.opened ? "reconnecting" : "connecting");
    source.onopen = () => {
      this.delay = 1000;
      const again = this.opened;
      this.opened = true;
      this.onState("open", again);
    };
    const handle = (message) => {
      if (message.lastEventId) this.lastId = message.lastEventId;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!event.kind) event.kind = message.type;
      this.onEvent(event);
    };
    source.onmessage = handle;
    for (const kind of KINDS) source.addEventListener(kind, handle);
    source.onerror = () => {
      if (source !== this.source) return;
      if (source.readyState === EventSource.CLOSED) {
        this.onState("reconnecting");
        this.reopenSoon(this.delay);
        this.delay = Math.min(this.delay * 2, 30000);
      } else {
        this.onState("reconnecting");
      }
    };
  }

  reopenSoon(ms) {
    if (this.timer) return;
    const jitter = ms ? Math.random() * 0.3 * ms : 0;
    this.timer = setTimeout(() => this.open(), ms + jitter);
  }
}
