/* app.js: small progressive enhancements of the portal. Every page works
 * without it; this only makes a few things quicker:
 *  - the error summary takes the focus, so screen readers announce it;
 *  - a link in the summary moves the focus to its field (and scrolls the
 *    field's label or legend into view with it);
 *  - a form submits once, however many times its button is pressed;
 *  - filter lists apply as soon as a choice changes;
 *  - the payment page follows its link at once. */
(function () {
  'use strict';

  function ready(fn) {
    if (document.readyState !== 'loading') fn();
    else document.addEventListener('DOMContentLoaded', fn);
  }

  ready(function () {
    var summary = document.querySelector('[data-module="error-summary"]');
    if (summary) {
      summary.focus();
      summary.addEventListener('click', function (ev) {
        var a = ev.target.closest ? ev.target.closest('a') : null;
        if (!a) return;
        var href = a.getAttribute('href') || '';
        if (href.charAt(0) !== '#') return;
        var input = document.getElementById(href.slice(1));
        if (!input) return;
        ev.preventDefault();
        var legend = input.closest('fieldset') && input.closest('fieldset').querySelector('legend');
        var label = document.querySelector('label[for="' + input.id + '"]');
        var target = legend || label || input;
        target.scrollIntoView();
        input.focus({ preventScroll: true });
      });
    }

    Array.prototype.forEach.call(document.querySelectorAll('form'), function (form) {
      form.addEventListener('submit', function (ev) {
        if (form.getAttribute('data-submitted') === 'true') {
          ev.preventDefault();
          return;
        }
        form.setAttribute('data-submitted', 'true');
        /* allow a second try after a while (for example when the network was down) */
        window.setTimeout(function () { form.removeAttribute('data-submitted'); }, 5000);
      });
    });

    var filters = document.querySelector('[data-module="auto-submit"]');
    if (filters) {
      Array.prototype.forEach.call(filters.querySelectorAll('select'), function (sel) {
        sel.addEventListener('change', function () { filters.submit(); });
      });
    }

    var follow = document.querySelector('[data-auto-follow="true"]');
    if (follow) window.location.assign(follow.href);
  });
})();
