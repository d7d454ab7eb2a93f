// The developer console's script (docs/console.md): loaded from the
// console's own origin (the CSP allows no inline script), and only an
// enhancement: every page works without it.
"use strict";

// Copy buttons: <button data-copy="id of an input">. The status next to
// the button says what happened, in words (role=status is announced).
document.querySelectorAll("button[data-copy]").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var input = document.getElementById(b.dataset.copy);
    var status = document.getElementById(b.dataset.copy + "-status");
    var done = function (ok) {
      if (status) status.textContent = ok ? "Copied to the clipboard." : "Copy failed: select the key and copy it.";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(false); });
    } else {
      input.select();
      done(document.execCommand("copy"));
    }
  });
});

// Revoke links: <a data-confirm="dialog id" data-action="form target"
// data-name="key name">. With JavaScript they open a confirmation dialog
// whose form posts to data-action; without it the link leads to a
// confirmation page.
document.querySelectorAll("a[data-confirm]").forEach(function (a) {
  var dialog = document.getElementById(a.dataset.confirm);
  if (!dialog || typeof dialog.showModal !== "function") return;
  a.addEventListener("click", function (e) {
    e.preventDefault();
    dialog.querySelector("form").action = a.dataset.action;
    dialog.querySelector("[data-name]").textContent = a.dataset.name;
    dialog.showModal();
    dialog.querySelector("button[value=cancel]").focus();
  });
  dialog.querySelector("button[value=cancel]").addEventListener("click", function (e) {
    e.preventDefault();
    dialog.close();
    a.focus();
  });
});
