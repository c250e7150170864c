/* Every page: dismissable messages (no inline handlers, so the Content-Security-Policy needs none). */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var close = event.target.closest(".flash-close");
    if (close) close.parentElement.remove();
  });
})();
