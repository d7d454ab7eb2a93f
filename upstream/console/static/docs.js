// Starts the vendored Swagger UI on the API docs page (no inline script:
// the CSP forbids it). The documents are the gateway's own: v2 (derived
// by hub_version) and v1; the page's links choose one (?version=v1).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    dom_id: "#swagger-ui",
    url: el.dataset.spec,
    deepLinking: false,
    supportedSubmitMethods: [],
    validatorUrl: "none"
  });
});
