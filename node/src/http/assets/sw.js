// The rider's page offline: its shell (page, scripts, style) is cached
// when the worker installs and served from the cache when the network
// fails. Everything else (the API, Open311, photos) always goes to the
// network: a report made offline waits in the page's outbox instead.
"use strict";

const CACHE = "yizhan-shell-v1";
const SHELL = ["/", "/static/style.css", "/static/common.js", "/static/queue.js", "/static/rider.js"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// Network first, so an upgraded node's page reaches riders at once; the
// cached copy only when the network fails.
self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!SHELL.includes(url.pathname)) return;
  ev.respondWith(fetch(ev.request).then((res) => {
    if (res.ok) {
      const copy = res.clone();
      caches.open(CACHE).then((c) => c.put(url.pathname, copy));
    }
    return res;
  }).catch(() => caches.match(url.pathname).then((hit) => hit || Response.error())));
});
