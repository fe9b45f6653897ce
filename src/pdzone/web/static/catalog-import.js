/* The import wizard's progress: the upload's own progress events, then a working indicator while the
   server checks the form and queues the import; the job's page (where the 303 leads) follows the import
   itself. A refused form is shown in place. Without JavaScript the form posts as usual. */
(function () {
  "use strict";

  function bind(form) {
    var box = document.getElementById("import-progress");
    var bar = document.getElementById("import-bar");
    var status = document.getElementById("import-status");
    var button = document.getElementById("import-submit");
    if (!box || !bar || !status || !window.XMLHttpRequest || !window.FormData) {
      return;
    }

    form.addEventListener("submit", function (event) {
      if (!form.checkValidity()) {
        return;
      }
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      box.hidden = false;
      box.classList.remove("working", "failed");
      button.disabled = true;
      bar.value = 0;
      status.textContent = form.dataset.uploading.replace("{pct}", "0");

      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var pct = Math.floor((e.loaded / e.total) * 100);
          bar.value = pct;
          status.textContent = form.dataset.uploading.replace("{pct}", String(pct));
        }
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value");  // indeterminate: the server is importing
        box.classList.add("working");
        status.textContent = form.dataset.working;
      });
      xhr.addEventListener("load", function () {
        var target = xhr.responseURL || "";
        if (xhr.status === 200 && target && new URL(target).pathname !== new URL(form.action).pathname) {
          window.location.assign(target);  // queued: the 303 led to the job's page
          return;
        }
        // refused or invalid: show the server's page (errors beside the fields) in place
        var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var fresh = doc.querySelector("main");
        var main = document.querySelector("main");
        if (fresh && main) {
          main.replaceWith(fresh);
          var again = document.getElementById("import-form");
          if (again) {
            bind(again);
          }
          var err = document.getElementById("import-error");
          if (err) {
            err.scrollIntoView({ block: "center" });
          }
        }
      });
      xhr.addEventListener("error", function () {
        box.classList.remove("working");
        box.classList.add("failed");
        status.textContent = form.dataset.failed;
        button.disabled = false;
      });
      xhr.send(new FormData(form));
    });
  }

  function start() {
    var form = document.getElementById("import-form");
    if (form) {
      bind(form);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
