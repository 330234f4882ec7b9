// Loupe checklist page: one key per item (Y/N/U or 1/2/3), the card sent when every item has
// an answer; the card itself is htmx, the next image already loaded behind it.
(() => {
  "use strict";

  const KEYS = { y: "yes", 1: "yes", n: "no", 2: "no", u: "unsure", 3: "unsure" };

  // Answers, the auto-submit, the lock while a card is sent, swaps and announcements: cards.js.
  const cards = window.LoupeCards.create({
    cardId: "checklist-card",
    formId: "checklist-form",
    fieldsets: ".checklist-item",
    submitDelayMs: 120,
    submit: () => send(),
  });
  const { form, markActive } = cards;

  function send() {
    const f = form();
    if (!f || cards.isBusy() || markActive()) return;
    cards.post(f, f.getAttribute("action"), "Answers recorded");
  }

  document.addEventListener("submit", (event) => {
    const f = event.target;
    if (!(f instanceof HTMLFormElement) || f.id !== "checklist-form") return;
    event.preventDefault();
    event.stopImmediatePropagation();
    send();
  }, true);

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !form()) return;
    cards.ready();
    const target = event.target;
    if (target instanceof HTMLElement && target.matches("input[type=text], textarea, select")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (cards.isBusy() && (key in KEYS || key === "Enter" || key === "Backspace")) {
      event.preventDefault();
      return;
    }
    if (key in KEYS) {
      event.preventDefault();
      cards.answer(KEYS[key]);
    } else if (key === "Backspace") {
      event.preventDefault();
      cards.clearLast();
    } else if (key === "Enter" && !(target instanceof HTMLElement && target.matches("summary, a"))) {
      event.preventDefault();
      send();
    }
  });

  cards.start();
})();
