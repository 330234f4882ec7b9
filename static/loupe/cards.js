// Loupe card pages (pairs, checklist): the card handling they share. A card is a section htmx
// replaces whole; its form is a list of fieldsets answered one after the other by key, sent a
// beat after the last answer. Each page script makes its own with LoupeCards.create().
(() => {
  "use strict";

  // options: cardId, formId, fieldsets (selector inside the form), submitDelayMs, and the hooks
  // submit() (the last answer's beat has passed), picked(input), readied(card),
  // beforeSend(form) (locked, not yet sent) and unlocked() (an error released the lock).
  function create(options) {
    const noop = () => {};
    const { cardId, formId, submitDelayMs } = options;
    const submit = options.submit || noop;
    const picked = options.picked || noop;
    const readied = options.readied || noop;
    const beforeSend = options.beforeSend || noop;
    const unlocked = options.unlocked || noop;

    // The card element last readied: each swap brings a new element, so identity tells them apart.
    let readiedCard = null;
    let timer = null;
    // True from sending a card's form until its response has been handled: keys then do nothing.
    let busy = false;
    // What to announce once the server accepted the submission on its way (not a poll's).
    let pending = null;

    const card = () => document.getElementById(cardId);
    const form = () => document.getElementById(formId);
    const fieldsets = () => Array.from(document.querySelectorAll(`#${formId} ${options.fieldsets}`));
    const answered = (fs) => fs.querySelector("input[type=radio]:checked") !== null;

    function markActive() {
      const sets = fieldsets();
      const active = sets.find((fs) => !answered(fs));
      sets.forEach((fs) => {
        fs.classList.toggle("is-active", fs === active);
        fs.classList.toggle("is-answered", answered(fs));
      });
      return active;
    }

    // The last answer submits after a beat, so the pick is seen. The timer belongs to this form:
    // if Enter already sent it and the next card arrived, the timer must not fire on the new one.
    function schedule() {
      const scheduledFor = form();
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        if (form() === scheduledFor) submit();
      }, submitDelayMs);
    }

    function answer(value) {
      const active = markActive();
      if (!active) return;
      const input = active.querySelector(`input[value="${value}"]`);
      input.checked = true;
      picked(input);
      if (!markActive()) schedule();
    }

    function clearLast() {
      const done = fieldsets().filter(answered);
      const last = done[done.length - 1];
      if (!last) return;
      last.querySelectorAll("input[type=radio]").forEach((i) => { i.checked = false; });
      markActive();
    }

    // Every submission goes through htmx here, the response replacing the card; refused while
    // another is on its way. source is the element htmx takes the values (and validation) from.
    function post(f, url, announcement, source = f) {
      if (busy || !window.htmx) return;
      busy = true;
      pending = announcement;
      beforeSend(f);
      f.classList.add("is-sending");
      window.htmx.ajax("POST", url, { source, target: `#${cardId}`, swap: "outerHTML" });
    }

    function ready() {
      const current = card();
      if (!current || current === readiedCard) return;
      readiedCard = current;
      current.dataset.ready = "1";
      window.clearTimeout(timer);
      readied(current);
      markActive();
      fieldsets().forEach((fs) => fs.addEventListener("change", () => {
        if (!markActive()) schedule();
      }));
      // Decode the next image(s) now so the swap after the answer shows pixels at once.
      document.querySelectorAll(`#${cardId} .prefetch img`).forEach((img) => {
        if (img.decode) img.decode().catch(() => {});
      });
    }

    function announce(text) {
      const region = document.getElementById("rate-status");
      if (!region) return;
      // Emptied first so the same words are announced again for the next card.
      region.textContent = "";
      region.textContent = text;
    }

    function unlock() {
      busy = false;
      pending = null;
      const f = form();
      if (f) f.classList.remove("is-sending");
      unlocked();
    }

    // 429 (too many answers a minute) carries the same card with a message: show it.
    document.addEventListener("htmx:beforeSwap", (event) => {
      if (event.detail.xhr.status === 429) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
    });
    document.addEventListener("htmx:afterSwap", () => {
      const before = readiedCard;
      ready();
      // A new card takes the focus (a screen reader starts reading it; the old one is gone).
      const current = card();
      if (current && current !== before) current.focus({ preventScroll: true });
    });
    // After the swap (htmx handles the response before this event): the new card takes keys.
    // Announced only when the server took the submission: not for the waiting card's poll, a
    // 429 or an error card.
    document.addEventListener("htmx:afterRequest", (event) => {
      if (!busy) return;
      busy = false;
      const status = event.detail.xhr ? event.detail.xhr.status : 0;
      if (status >= 200 && status < 300 && pending) announce(pending);
      pending = null;
    });
    document.addEventListener("htmx:responseError", unlock);
    document.addEventListener("htmx:sendError", unlock);

    // Readies the card on the page now, or once the page is parsed.
    function start() {
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
      else ready();
    }

    return { card, form, markActive, answer, clearLast, post, ready, unlock, start, isBusy: () => busy };
  }

  window.LoupeCards = { create };
})();
