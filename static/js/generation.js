/* The generation page: renders every update (WebSocket, snapshot or poll) into the status card and the
 * before/after viewer. The bar shows the server's progress (CSS smooths the moves) and never reads 100
 * before the status is "succeeded". */
(function () {
  "use strict";

  var root = document.getElementById("generation");
  if (!root || !window.Live) return;

  var id = root.dataset.id;
  var STEP_OF_STAGE = { queued: "queued", waiting_for_capacity: "queued", retrying: "queued", calling_model: "calling", storing: "storing", done: "done" };
  var STEPS = ["queued", "calling", "storing", "done"];
  var RENDERING = { calling_model: true, storing: true };

  var statusEl = root.querySelector("[data-testid=status]");
  var progressEl = root.querySelector("[data-testid=progress]");
  var fill = progressEl.querySelector(".progress-fill");
  var compare = document.getElementById("compare");
  var afterPane = compare.querySelector(".compare-after");
  var range = compare.querySelector(".compare-range");
  var baseTitle = document.title;

  var current = null;
  var waitEndsAt = null;
  var startedAt = parseTime(root.dataset.started);
  var createdAt = parseTime(root.dataset.created) || Date.now();
  var shownImages = null;

  function role(name) { return root.querySelector('[data-role="' + name + '"]'); }
  function show(node, visible) { if (node) node.hidden = !visible; }
  function parseTime(value) { var t = value ? Date.parse(value) : NaN; return isNaN(t) ? null : t; }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes + " min" + (rest ? " " + rest + " s" : "");
  }

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var s = seconds % 60;
    return Math.floor(seconds / 60) + ":" + (s < 10 ? "0" : "") + s;
  }

  function displayedProgress(p) {
    if (p.status === "succeeded") return 100;
    var value = Math.max(0, Math.min(99, Number(p.progress) || 0));
    // A snapshot answered a moment ago may trail the live events: within one attempt the bar never goes back.
    if (current && !Live.FINAL[current.status] && current.stage === p.stage && current.attempts === p.attempts) {
      value = Math.max(value, current.shown || 0);
    }
    return value;
  }

  function stageText(p) {
    if (p.status === "succeeded") return "Your redesign is ready";
    if (p.status === "failed") return "Generation failed";
    if (p.status === "cancelled") return "Generation cancelled";
    return p.stage_label || "Working on it";
  }

  function waitText() {
    if (waitEndsAt === null) return "";
    var left = (waitEndsAt - Date.now()) / 1000;
    return left < 3 ? "any moment now" : "about " + duration(left);
  }

  function render(p) {
    // Delivery can reorder a late snapshot after the final event: a finished job stays finished.
    if (current && Live.FINAL[current.status] && !Live.FINAL[p.status]) return;
    var shown = displayedProgress(p);
    p.shown = shown;
    current = p;

    root.dataset.status = p.status;
    root.dataset.stage = p.stage;
    statusEl.textContent = Live.WORDS[p.status] || p.status;
    statusEl.className = "badge badge-" + p.status;
    role("stage").textContent = stageText(p);

    progressEl.setAttribute("aria-valuenow", String(shown));
    progressEl.setAttribute("aria-valuetext", shown + "% · " + stageText(p));
    fill.style.width = shown + "%";
    role("percent").textContent = shown + "%";

    var queued = p.status === "queued";
    if (queued && typeof p.estimated_wait_s === "number") waitEndsAt = Date.now() + p.estimated_wait_s * 1000;
    if (!queued) waitEndsAt = null;
    show(role("position-row"), queued && p.position);
    show(role("wait-row"), queued && waitEndsAt !== null);
    if (p.position) role("position").textContent = p.position === 1 ? "Next up" : "#" + p.position + " in line";
    role("wait").textContent = waitText();
    if (p.status === "running" && !startedAt) startedAt = parseTime(p.started_at) || Date.now();
    show(role("elapsed-row"), !Live.FINAL[p.status]);
    show(role("attempts-row"), p.attempts > 1);
    role("attempts").textContent = p.attempts;

    renderSteps(p);
    renderPending(p);
    renderFinal(p);
    tick();
  }

  function renderSteps(p) {
    var reached = STEPS.indexOf(STEP_OF_STAGE[p.stage] || "queued");
    if (p.status === "succeeded") reached = STEPS.length - 1;
    // A job that failed or was cancelled stopped where it was: in the queue, or once the model was called.
    else if (Live.FINAL[p.status]) reached = STEPS.indexOf(p.attempts > 0 ? "calling" : "queued");
    role("steps").querySelectorAll("li").forEach(function (li, index) {
      li.className = index < reached || p.status === "succeeded" ? "is-done" : index === reached ? "is-current" : "";
      if (index === reached && !Live.FINAL[p.status]) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
  }

  function renderPending(p) {
    var text = p.status === "succeeded" ? "Loading your redesign…" : stageText(p);
    if (p.status === "queued" && p.stage === "queued" && p.position) {
      text = (p.position === 1 ? "Next in line" : "#" + p.position + " in line") + (waitEndsAt ? " · " + waitText() : "");
    }
    role("pending-text").textContent = text;
  }

  function renderFinal(p) {
    var final = !!Live.FINAL[p.status];
    // Once the model has the job it can no longer be cancelled: its result arrives and is charged.
    var rendering = !final && RENDERING[p.stage];
    show(role("cancel-form"), !final && !rendering);
    show(role("rendering-note"), rendering);
    show(role("actions"), final);
    show(role("error"), p.status === "failed");
    show(role("cancelled-note"), p.status === "cancelled");
    if (p.status === "failed" && p.error) role("error-text").textContent = p.error.message || "Something went wrong.";
    var again = role("again");
    if (again) again.lastElementChild.textContent = p.status === "succeeded" ? "Generate again" : "Try again";
    if (p.status === "succeeded" && p.images && p.images.length) showResult(p.images);
    else if (final) compare.dataset.mode = "ended";
    document.title = titlePrefix(p) + baseTitle;
    var pill = document.getElementById("live-pill");
    if (final && pill) pill.hidden = true;
  }

  function titlePrefix(p) {
    if (p.status === "succeeded") return "Ready · ";
    if (p.status === "failed") return "Failed · ";
    if (p.status === "cancelled") return "";
    return p.status === "queued" ? "Queued · " : p.shown + "% · ";
  }

  // The result -------------------------------------------------------------------------------------------

  function showResult(images) {
    var download = role("download");
    download.href = images[0];
    show(download, true);
    if (shownImages === images.join()) return;
    var first = shownImages === null && compare.dataset.mode === "pending";
    shownImages = images.join();
    setAfter(images[0], first);
    renderThumbs(images);
  }

  function setAfter(url, reveal) {
    var img = afterPane.querySelector("img");
    if (!img) {
      img = document.createElement("img");
      img.alt = "After: " + root.dataset.styleName + " redesign";
      img.draggable = false;
      afterPane.insertBefore(img, afterPane.firstChild);
    }
    var done = function () {
      if (img.naturalWidth) compare.style.setProperty("--ratio", img.naturalWidth + " / " + img.naturalHeight);
      var hasBefore = !!compare.querySelector(".compare-before img");
      if (compare.dataset.mode === "pending" || compare.dataset.mode === "ended") {
        compare.dataset.mode = hasBefore ? "slider" : "single";
      }
      show(role("toolbar"), hasBefore);
      if (reveal && hasBefore) revealSlider();
    };
    img.addEventListener("load", done, { once: true });
    img.addEventListener("error", done, { once: true });
    if (img.getAttribute("src") !== url) img.src = url;
    else if (img.complete) done();
  }

  function revealSlider() {
    compare.classList.add("is-revealing");
    setPosition(100);
    requestAnimationFrame(function () {
      requestAnimationFrame(function () { setPosition(50); });
    });
    setTimeout(function () { compare.classList.remove("is-revealing"); }, 1300);
  }

  function renderThumbs(images) {
    var thumbs = role("thumbs");
    show(thumbs, images.length > 1);
    if (images.length < 2 || thumbs.children.length === images.length) return;
    thumbs.textContent = "";
    images.forEach(function (url, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "thumb" + (index === 0 ? " is-active" : "");
      button.dataset.src = url;
      button.setAttribute("aria-label", "Show image " + (index + 1));
      var img = document.createElement("img");
      img.src = url;
      img.alt = "";
      button.appendChild(img);
      thumbs.appendChild(button);
    });
  }

  role("thumbs").addEventListener("click", function (event) {
    var button = event.target.closest(".thumb");
    if (!button) return;
    role("thumbs").querySelectorAll(".thumb").forEach(function (b) { b.classList.toggle("is-active", b === button); });
    setAfter(button.dataset.src, false);
    role("download").href = button.dataset.src;
  });

  // The comparison slider and views ------------------------------------------------------------------------

  function setPosition(value) {
    compare.style.setProperty("--pos", value + "%");
    range.value = value;
  }

  range.addEventListener("input", function () { compare.style.setProperty("--pos", range.value + "%"); });

  root.querySelectorAll("[data-view]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (compare.dataset.mode === "pending" || compare.dataset.mode === "single") return;
      compare.dataset.mode = button.dataset.view;
      root.querySelectorAll("[data-view]").forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
    });
  });

  // Cancel without leaving the page (the form posts normally when scripts or the API are unavailable) -----

  var cancelForm = role("cancel-form");
  cancelForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = cancelForm.querySelector("button");
    button.disabled = true;
    fetch(cancelForm.dataset.api, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": cancelForm.querySelector("[name=csrfmiddlewaretoken]").value },
    }).then(function (response) {
      if (response.ok) return response.json().then(render);
      // 409: it finished first, or the model already has it (already_rendering); show what it became.
      return fetch("/api/v1/generations/" + id + "/", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) { if (p) render(p); });
    }).catch(function () {
      cancelForm.submit();
    }).then(function () { button.disabled = false; });
  });

  root.querySelectorAll("[data-role=actions] form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.busy) { event.preventDefault(); return; }
      form.dataset.busy = "1";
      form.querySelector("button").classList.add("is-busy");
    });
  });

  // Clocks ---------------------------------------------------------------------------------------------------

  function tick() {
    if (!current || Live.FINAL[current.status]) return;
    var since = current.status === "running" && startedAt ? startedAt : createdAt;
    role("elapsed").textContent = clock((Date.now() - since) / 1000);
    if (current.status === "queued") {
      role("wait").textContent = waitText();
      renderPending(current);
    }
  }
  setInterval(tick, 1000);

  // The connection indicator ---------------------------------------------------------------------------

  var pill = document.getElementById("live-pill");
  var PILL_TEXT = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    polling: "Updating every few seconds",
    offline: "Signed out: reload the page",
  };
  Live.onState(function (state) {
    pill.dataset.state = state;
    pill.querySelector(".live-text").textContent = PILL_TEXT[state] || state;
  });

  // Start ----------------------------------------------------------------------------------------------------

  var initial = JSON.parse(document.getElementById("generation-initial").textContent);
  render(initial);
  if (Live.FINAL[initial.status]) {
    pill.hidden = true;
    return;
  }
  Live.watch([id]);
  Live.known(id, initial.status);
  Live.on(function (payload) { if (payload.id === id) render(payload); });
  Live.start();
})();

/* A confirmation before a design is deleted (no inline handler: the Content-Security-Policy forbids them). */
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (confirmed) {
    confirmed.addEventListener("submit", function (event) {
      if (!window.confirm(confirmed.dataset.confirm)) event.preventDefault();
    });
  });
})();
