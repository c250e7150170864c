/* Live status badges on the dashboard, room and history pages: each unfinished card follows its job. */
(function () {
  "use strict";

  if (!window.Live) return;
  var cards = {};
  document.querySelectorAll("[data-live-list] [data-generation]").forEach(function (card) {
    if (!Live.FINAL[card.dataset.status]) {
      (cards[card.dataset.generation] = cards[card.dataset.generation] || []).push(card);
    }
  });
  var ids = Object.keys(cards);
  if (!ids.length) return;

  function update(card, p) {
    card.dataset.status = p.status;
    var badge = card.querySelector('[data-live="status"]');
    if (badge) {
      badge.textContent = Live.WORDS[p.status] || p.status;
      badge.className = "badge badge-" + p.status;
    }
    var bar = card.querySelector('[data-live="bar"]');
    if (bar) bar.style.width = (p.status === "succeeded" ? 100 : Math.min(Number(p.progress) || 0, 99)) + "%";
    if (Live.FINAL[p.status] && bar) bar.parentElement.hidden = true;
    var thumb = card.querySelector('[data-live="thumb"]');
    if (p.status === "succeeded" && p.images && p.images.length && thumb) {
      thumb.src = p.images[0];
      thumb.classList.remove("is-pending");
    }
  }

  Live.watch(ids);
  ids.forEach(function (id) { Live.known(id, cards[id][0].dataset.status); });
  Live.on(function (payload) {
    (cards[payload.id] || []).forEach(function (card) { update(card, payload); });
  });
  Live.start();
})();
