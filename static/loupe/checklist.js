// Loupe checklist page: one key per item (Y/N/U or 1/2/3), the card sent when every item has
// an answer; the card itself is htmx, the next image already loaded behind it.
(() => {
  "use strict";

  const KEYS = { y: "yes", 1: "yes", n: "no", 2: "no", u: "unsure", 3: "unsure" };
  let busy = false;
  let sent = false; // an answer is on its way: its response (not a poll's) is announced
  let readied = null;
  let timer = null;

  const card = () => document.getElementById("checklist-card");
  const form = () => document.getElementById("checklist-form");
  const items = () => Array.from(document.querySelectorAll("#checklist-form .checklist-item"));
  const answered = (fs) => fs.querySelector("input[type=radio]:checked") !== null;

  function markActive() {
    const all = items();
    const active = all.find((fs) => !answered(fs));
    all.forEach((fs) => {
      fs.classList.toggle("is-active", fs === active);
      fs.classList.toggle("is-answered", answered(fs));
    });
    return active;
  }

  function send() {
    const f = form();
    if (!f || busy || markActive() || !window.htmx) return;
    busy = true;
    sent = true;
    f.classList.add("is-sending");
    window.htmx.ajax("POST", f.getAttribute("action"), { source: f, target: "#checklist-card", swap: "outerHTML" });
  }

  function schedule() {
    const scheduledFor = form();
    window.clearTimeout(timer);
    timer = window.setTimeout(() => { if (form() === scheduledFor) send(); }, 120);
  }

  function answer(value) {
    const active = markActive();
    if (!active) return;
    active.querySelector(`input[value="${value}"]`).checked = true;
    if (!markActive()) schedule();
  }

  function clearLast() {
    const done = items().filter(answered);
    const last = done[done.length - 1];
    if (!last) return;
    last.querySelectorAll("input[type=radio]").forEach((i) => { i.checked = false; });
    markActive();
  }

  function ready() {
    const current = card();
    if (!current || current === readied) return;
    readied = current;
    current.dataset.ready = "1";
    window.clearTimeout(timer);
    busy = false;
    markActive();
    items().forEach((fs) => fs.addEventListener("change", () => { if (!markActive()) schedule(); }));
    document.querySelectorAll("#checklist-card .prefetch img").forEach((img) => {
      if (img.decode) img.decode().catch(() => {});
    });
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
    ready();
    const target = event.target;
    if (target instanceof HTMLElement && target.matches("input[type=text], textarea, select")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (busy && (key in KEYS || key === "Enter" || key === "Backspace")) {
      event.preventDefault();
      return;
    }
    if (key in KEYS) {
      event.preventDefault();
      answer(KEYS[key]);
    } else if (key === "Backspace") {
      event.preventDefault();
      clearLast();
    } else if (key === "Enter" && !(target instanceof HTMLElement && target.matches("summary, a"))) {
      event.preventDefault();
      send();
    }
  });

  // 429 (too many answers a minute) carries the same card with a message: show it.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 429) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", () => {
    const before = readied;
    ready();
    const current = card();
    if (current && current !== before) current.focus({ preventScroll: true });
  });
  // Announced once the server took the answers: not for the waiting card's poll, a 429 or an
  // error card. Emptied first so the same words are announced again for the next image.
  document.addEventListener("htmx:afterRequest", (event) => {
    if (!sent) return;
    sent = false;
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    const region = document.getElementById("rate-status");
    if (region && status >= 200 && status < 300) {
      region.textContent = "";
      region.textContent = "Answers recorded";
    }
  });
  const unlock = () => {
    busy = false;
    const f = form();
    if (f) f.classList.remove("is-sending");
  };
  document.addEventListener("htmx:responseError", unlock);
  document.addEventListener("htmx:sendError", unlock);

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
