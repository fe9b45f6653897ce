/* A background job's page: while the job runs, ask the server for its state about once a second and show the
   progress; once it has ended, reload the page, which then links to the result or shows the error. Without
   JavaScript the page has a refresh link. No inline script: the console's CSP allows only local files. */
(function () {
  "use strict";

  function start() {
    var box = document.getElementById("job");
    if (!box || !window.fetch) {
      return;
    }
    var bar = document.getElementById("job-bar");
    var pct = document.getElementById("job-pct");
    var step = document.getElementById("job-step");
    var status = document.getElementById("job-status");

    function poll() {
      fetch(box.dataset.statusUrl, { credentials: "same-origin", cache: "no-store",
                                     headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.redirected) {  // signed out meanwhile: the page itself goes to the sign-in
            window.location.reload();
            return null;
          }
          if (!r.ok) {
            throw new Error("status " + r.status);
          }
          return r.json();
        })
        .then(function (s) {
          if (!s) {
            return;
          }
          if (s.done) {
            window.location.reload();
            return;
          }
          bar.value = s.percent;
          pct.textContent = s.percent + "%";
          step.textContent = s.step_text;
          status.textContent = s.status_text;
          status.className = "badge " + s.badge;
          window.setTimeout(poll, 1000);
        })
        .catch(function () {
          window.setTimeout(poll, 3000);
        });
    }

    window.setTimeout(poll, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
