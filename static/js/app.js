/*
 * The site's small amount of behaviour. Everything works without it; with it:
 * - the main navigation folds behind a menu button on narrow screens;
 * - forms marked with data-confirm ask before doing something that cannot be undone;
 * - buttons marked with data-print open the browser's print dialog (reports print to PDF).
 */
(function () {
  "use strict";

  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");

  function setOpen(toggle, nav, open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("is-open", open);
  }

  function initNavigation() {
    var toggle = document.querySelector("[data-nav-toggle]");
    if (!toggle) {
      return;
    }
    var nav = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!nav) {
      return;
    }
    toggle.addEventListener("click", function () {
      setOpen(toggle, nav, toggle.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        setOpen(toggle, nav, false);
        toggle.focus();
      }
    });
  }

  function initConfirmations() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var question = form instanceof HTMLFormElement ? form.getAttribute("data-confirm") : null;
      if (question && !window.confirm(question)) {
        event.preventDefault();
      }
    });
  }

  function initPrintButtons() {
    document.addEventListener("click", function (event) {
      var button = event.target instanceof Element ? event.target.closest("[data-print]") : null;
      if (button) {
        window.print();
      }
    });
  }

  function start() {
    initNavigation();
    initConfirmations();
    initPrintButtons();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
