/* The room page: one generation per press, and a confirmation before the room is deleted. */
(function () {
  "use strict";

  var form = document.getElementById("generation-form");
  if (form) {
    // A second press while the first request is on its way would create a second (paid) generation.
    form.addEventListener("submit", function (event) {
      var button = document.getElementById("generate-button");
      if (button.dataset.busy) { event.preventDefault(); return; }
      button.dataset.busy = "1";
      button.classList.add("is-busy");
      button.lastChild.textContent = " Starting…";
    });
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (confirmed) {
    confirmed.addEventListener("submit", function (event) {
      if (!window.confirm(confirmed.dataset.confirm)) event.preventDefault();
    });
  });
})();
