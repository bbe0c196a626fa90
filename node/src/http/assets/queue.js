// The rider's outbox: reports made without a connection wait in IndexedDB
// (photo and voice note as Blobs) and are sent when the phone is online
// again. Each carries the Idempotency-Key it was given when made, so a
// report sent twice (an answer lost on a bad connection, two tabs
// flushing at once) is recorded once: the server answers the resend with
// the first answer.
"use strict";

const Outbox = {};

Outbox.open = function () {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("yizhan", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("outbox", { keyPath: "key" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
};

Outbox.tx = async function (mode, work) {
  const db = await Outbox.open();
  return new Promise((resolve, reject) => {
    const t = db.transaction("outbox", mode);
    const result = work(t.objectStore("outbox"));
    t.oncomplete = () => { db.close(); resolve(result && "result" in result ? result.result : undefined); };
    t.onerror = () => { db.close(); reject(t.error); };
  });
};

Outbox.put = (entry) => Outbox.tx("readwrite", (s) => s.put(entry));
Outbox.remove = (key) => Outbox.tx("readwrite", (s) => s.delete(key));
Outbox.all = () => Outbox.tx("readonly", (s) => s.getAll());

// Sends every waiting report with `send(entry)`, oldest first. `send`
// resolves when the server answered (recorded or refused for good: the
// entry leaves the outbox) and rejects with `offline` set when the
// network failed (the entry stays for the next try).
let flushing = null;
Outbox.flush = function (send) {
  if (flushing) return flushing;
  flushing = (async () => {
    let sent = 0;
    try {
      const entries = (await Outbox.all()).sort((a, b) => a.made - b.made);
      for (const entry of entries) {
        try {
          await send(entry);
        } catch (e) {
          if (e.offline || e.status === 429 || e.status === 503) break;
        }
        await Outbox.remove(entry.key);
        sent += 1;
      }
    } finally {
      flushing = null;
    }
    return sent;
  })();
  return flushing;
};
