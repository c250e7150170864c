/* Live generation updates for signed-in pages.
 *
 * One WebSocket to /ws/generations/ (the server sends a snapshot from the database on every connect, then
 * each change of the user's own generations). Every update carries `seq`, a number per generation that only
 * grows: the page drops an update older than one it has, and when it reconnects it says the last number it
 * saw (`?since=`), so the server sends what it missed first. Channels delivers at most once, so the page never trusts a
 * single event: it reconnects with exponential backoff and jitter, asks for a fresh snapshot when it
 * comes back to the foreground or hears nothing for a while, and polls the HTTP API whenever the socket is
 * not open (or WebSockets are not available at all).
 *
 *   Live.watch(["<generation id>", ...]);  // ids this page shows
 *   Live.on(function (payload, source) {}); // payload: {id, status, stage, stage_label, progress, ...}
 *   Live.onState(function (state) {});      // "connecting" | "live" | "reconnecting" | "polling" | "offline"
 */
(function () {
  "use strict";

  var FINAL = { succeeded: true, failed: true, cancelled: true };
  // The status in words, as the pages render it (web/templatetags/web_extras.py STATUS_WORDS).
  var WORDS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  var POLL_MS = 2500;
  var RESYNC_MS = 5000;    // while queued: positions change without events of their own
  var QUIET_MS = 12000;    // no message for this long while a watched job runs: ask the database
  var GIVE_UP_AFTER = 4;   // failed connects in a row before the page says it is polling
  var DOWN_AFTER_MS = 2000;

  var listeners = [];
  var stateListeners = [];
  var watched = {};        // id -> last known status
  var lastSeq = {};        // id -> the number of the last update applied
  var socket = null;
  var state = "connecting";
  var failures = 0;
  var reconnectTimer = null;
  var downTimer = null;
  var pollTimer = null;
  var lastMessageAt = 0;
  var started = false;
  var polling = false;

  function setState(next) {
    if (state === next) return;
    state = next;
    stateListeners.forEach(function (fn) { fn(state); });
  }

  // Whether the payload is news: an update older than one applied is dropped, and a snapshot older than that too
  // (a payload without a number, from the HTTP API or a server that could not number it, is the database's word).
  function fresh(payload, source) {
    if (typeof payload.seq !== "number" || !payload.seq) return true;
    var last = lastSeq[payload.id] || 0;
    if (source === "snapshot" ? payload.seq < last : payload.seq <= last) return false;
    lastSeq[payload.id] = payload.seq;
    return true;
  }

  function emit(payload, source) {
    if (!payload || !payload.id || !fresh(payload, source)) return;
    if (Object.prototype.hasOwnProperty.call(watched, payload.id)) watched[payload.id] = payload.status;
    listeners.forEach(function (fn) {
      try { fn(payload, source); } catch (err) { if (window.console) console.error(err); }
    });
  }

  function unfinishedIds() {
    return Object.keys(watched).filter(function (id) { return !FINAL[watched[id]]; });
  }

  function socketUrl() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ids = Object.keys(watched);
    var since = ids.filter(function (id) { return lastSeq[id]; }).map(function (id) { return id + ":" + lastSeq[id]; });
    var query = [];
    if (ids.length) query.push("watch=" + ids.join(","));
    if (since.length) query.push("since=" + since.join(","));
    return scheme + location.host + "/ws/generations/" + (query.length ? "?" + query.join("&") : "");
  }

  function connect() {
    clearTimeout(reconnectTimer);
    if (!("WebSocket" in window)) { setState("polling"); startPolling(); return; }
    if (socket) return;
    var ws;
    try { ws = new WebSocket(socketUrl()); } catch (err) { scheduleReconnect(); return; }
    socket = ws;
    ws.onopen = function () {
      clearTimeout(downTimer);
      failures = 0;
      lastMessageAt = Date.now();
      setState("live");
      stopPolling();
    };
    ws.onmessage = function (event) {
      lastMessageAt = Date.now();
      var message;
      try { message = JSON.parse(event.data); } catch (err) { return; }
      if (message.type === "generation.update") {
        emit(message.payload, "live");
      } else if (message.type === "generation.snapshot") {
        var seen = {};
        (message.payload.generations || []).forEach(function (payload) { seen[payload.id] = true; emit(payload, "snapshot"); });
        // A watched job missing from the snapshot is finished or gone: ask the API for its last word.
        unfinishedIds().forEach(function (id) { if (!seen[id]) fetchOne(id); });
      }
    };
    ws.onclose = function () {
      if (socket === ws) socket = null;
      failures += 1;
      scheduleReconnect();
      if (unfinishedIds().length) startPolling();
    };
  }

  function scheduleReconnect() {
    clearTimeout(reconnectTimer);
    // A blip that heals within a moment is not worth alarming anyone about.
    clearTimeout(downTimer);
    downTimer = setTimeout(function () {
      if (!socket || socket.readyState !== WebSocket.OPEN) setState(failures >= GIVE_UP_AFTER ? "polling" : "reconnecting");
    }, failures >= GIVE_UP_AFTER ? 0 : DOWN_AFTER_MS);
    var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, Math.max(failures - 1, 0)));
    var delay = ceiling / 2 + Math.random() * ceiling / 2;  // jitter: a restarted server is not stampeded
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    failures = Math.min(failures, 1);
    if (socket && socket.readyState === WebSocket.OPEN) { requestSnapshot(); return; }
    if (!socket) connect();
  }

  function requestSnapshot() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "snapshot", ids: Object.keys(watched) }));
    }
  }

  function fetchOne(id) {
    return fetch("/api/v1/generations/" + encodeURIComponent(id) + "/", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) { setState("offline"); return null; }
      return response.ok ? response.json() : null;
    }).then(function (payload) {
      if (payload) emit(payload, "poll");
    }).catch(function () { /* offline: the next poll or reconnect catches up */ });
  }

  function startPolling() {
    if (polling) return;
    polling = true;
    var tick = function () {
      if (!polling) return;
      var ids = unfinishedIds();
      if (!ids.length) { stopPolling(); return; }
      Promise.all(ids.map(fetchOne)).then(function () {
        if (polling) pollTimer = setTimeout(tick, POLL_MS);
      });
    };
    tick();
  }

  function stopPolling() {
    polling = false;
    clearTimeout(pollTimer);
  }

  // The watchdog: events lost while the socket stayed open must not leave a page stuck.
  setInterval(function () {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    var ids = unfinishedIds();
    if (!ids.length) return;
    var queued = ids.some(function (id) { return watched[id] === "queued"; });
    if (Date.now() - lastMessageAt > QUIET_MS || queued) requestSnapshot();
  }, RESYNC_MS);

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && started) reconnectNow();
  });
  window.addEventListener("online", function () { if (started) reconnectNow(); });
  window.addEventListener("pagehide", function () { if (socket) socket.close(1000); });
  window.addEventListener("pageshow", function (event) { if (event.persisted && started) reconnectNow(); });

  window.Live = {
    FINAL: FINAL,
    WORDS: WORDS,
    watch: function (ids) {
      ids.forEach(function (id) { if (!(id in watched)) watched[id] = "unknown"; });
    },
    known: function (id, status) { watched[id] = status; },
    on: function (fn) { listeners.push(fn); },
    onState: function (fn) { stateListeners.push(fn); fn(state); },
    start: function () {
      if (started) return;
      started = true;
      connect();
    },
    state: function () { return state; },
  };
})();
