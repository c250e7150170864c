/* The upload page: drag and drop or pick a file, see a preview, and hear at once about a file we cannot use
 * (the server checks again and has the last word). */
(function () {
  "use strict";

  var form = document.getElementById("upload-form");
  if (!form) return;
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("id_photo");
  var preview = document.getElementById("photo-preview");
  var nameEl = document.getElementById("photo-name");
  var errorBox = document.getElementById("photo-error");
  var submit = document.getElementById("upload-submit");
  var maxBytes = Number(form.dataset.maxBytes);
  var minSide = Number(form.dataset.minSide);
  var ACCEPTED = /^image\/(jpeg|png|webp|gif|bmp|tiff)$/;
  var objectUrl = null;

  function megabytes(bytes) {
    if (bytes < 1048576) return Math.max(1, Math.round(bytes / 1024)) + " KB";
    return (bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0) + " MB";
  }

  function setError(message) {
    errorBox.querySelector("span").textContent = message || "";
    errorBox.hidden = !message;
    zone.classList.toggle("has-error", !!message);
  }

  function reset(message) {
    input.value = "";
    zone.dataset.state = "empty";
    zone.querySelector(".dropzone-preview").hidden = true;
    setError(message);
  }

  function choose(file) {
    if (!file) return;
    if (file.type && !ACCEPTED.test(file.type)) {
      reset("“" + file.name + "” is not a photo we can use. Upload a JPEG, PNG or WebP image.");
      return;
    }
    if (file.size > maxBytes) {
      reset("“" + file.name + "” is " + megabytes(file.size) + "; the limit is " + megabytes(maxBytes) + ".");
      return;
    }
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(file);
    var probe = new Image();
    probe.onload = function () {
      if (Math.min(probe.naturalWidth, probe.naturalHeight) < minSide) {
        reset("This photo is too small (" + probe.naturalWidth + " × " + probe.naturalHeight + " px); use one at least " + minSide + " px on each side.");
        return;
      }
      setError("");
      preview.src = objectUrl;
      nameEl.textContent = file.name + " · " + probe.naturalWidth + " × " + probe.naturalHeight + " px · " + megabytes(file.size);
      zone.querySelector(".dropzone-preview").hidden = false;
      zone.dataset.state = "chosen";
    };
    probe.onerror = function () {
      // Some formats (TIFF) do not preview in every browser: let the server decide.
      setError("");
      nameEl.textContent = file.name + " · " + megabytes(file.size) + " (no preview)";
      preview.removeAttribute("src");
      zone.querySelector(".dropzone-preview").hidden = false;
      zone.dataset.state = "chosen";
    };
    probe.src = objectUrl;
  }

  input.addEventListener("change", function () { choose(input.files && input.files[0]); });

  var depth = 0;
  zone.addEventListener("dragenter", function (event) {
    event.preventDefault();
    depth += 1;
    zone.classList.add("is-dragging");
  });
  zone.addEventListener("dragover", function (event) {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", function () {
    depth = Math.max(depth - 1, 0);
    if (!depth) zone.classList.remove("is-dragging");
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("is-dragging");
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    if (files.length > 1) setError("One photo at a time: we used the first one.");
    try {
      // The form submits the input's own file list, so the dropped file goes into it.
      var transfer = new DataTransfer();
      transfer.items.add(files[0]);
      input.files = transfer.files;
    } catch (err) {
      setError("Your browser cannot take dropped files here; use “Choose a file” instead.");
      return;
    }
    choose(files[0]);
  });
  // A photo dropped next to the zone would otherwise open in the tab and lose the page.
  window.addEventListener("dragover", function (event) { event.preventDefault(); });
  window.addEventListener("drop", function (event) { event.preventDefault(); });

  form.addEventListener("submit", function (event) {
    if (!input.files || !input.files.length) {
      event.preventDefault();
      setError("Choose a photo of your room first.");
      return;
    }
    if (form.dataset.busy) { event.preventDefault(); return; }
    form.dataset.busy = "1";
    submit.classList.add("is-busy");
    submit.firstChild.textContent = "Uploading… ";
  });
})();
