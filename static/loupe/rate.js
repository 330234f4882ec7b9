// Loupe rater page: one key per answer, loupe, flicker, undo. The card itself is htmx.
(() => {
  "use strict";

  const ANSWER_KEYS = { ArrowLeft: "left", ArrowRight: "right", t: "tie", b: "both_bad" };
  const FLICKER_MS = 450;
  const LENS_PX = 200;

  let shownAt = performance.now();
  let submitting = false;
  let lensOn = false;
  let lensZoom = 1;
  let lensPoint = { x: 0.5, y: 0.5 };
  let flickerTimer = null;
  let undoTimer = null;

  const ANNOUNCEMENTS = { vote: "Vote recorded", skip: "Pair skipped", undo: "Vote undone" };

  // Answers, the auto-submit, the lock while a card is sent, swaps and announcements: cards.js.
  const cards = window.LoupeCards.create({
    cardId: "pair-card",
    formId: "vote-form",
    fieldsets: ".criterion",
    submitDelayMs: 140,
    submit: () => submitVote(),
    picked: (input) => input.closest(".choice").classList.add("just-picked"),
    readied: () => cardReady(),
    beforeSend: (f) => {
      const ms = f.querySelector("input[name=response_ms]");
      if (ms) ms.value = String(Math.round(performance.now() - shownAt));
    },
    unlocked: () => { submitting = false; },
  });
  const { card, form, markActive } = cards;

  function submitVote() {
    const f = form();
    // An unanswered form would be stopped by the browser's validation with no request sent,
    // leaving the card locked: only a complete form is submitted.
    if (!f || submitting || markActive() || !f.checkValidity()) return;
    submitting = true;
    send(f, f.getAttribute("action"), "vote");
  }

  // Every submission of the card's forms goes through htmx here, never the browser's own form
  // submission (a full page load): htmx wires up a swapped-in form only when it settles, and a
  // key or click can come before that.
  // The skip button is the source of a skip, so htmx leaves the unanswered form unvalidated.
  function send(f, url, kind, source = f) {
    cards.post(f, url, ANNOUNCEMENTS[kind], source);
  }

  function submitKind(f, submitter) {
    if (f.classList.contains("undo-form")) return "undo";
    return submitter && submitter.hasAttribute("formaction") ? "skip" : "vote";
  }

  // Capture phase, so it runs before htmx's own listener on the form: one path for every submit
  // (Enter in a field, a mouse click on a button, requestSubmit) and no native fallback.
  document.addEventListener("submit", (event) => {
    const f = event.target;
    const current = card();
    if (!(f instanceof HTMLFormElement) || !current || !current.contains(f)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    cards.ready();
    const submitter = event.submitter;
    const url = (submitter && submitter.getAttribute("formaction")) || f.getAttribute("action");
    if (submitKind(f, submitter) === "vote") submitting = true;
    const kind = submitKind(f, submitter);
    send(f, url, kind, kind === "skip" ? submitter : f);
  }, true);

  // Loupe: the same relative spot of both images, magnified from the full-resolution file.
  function frames() { return Array.from(document.querySelectorAll("#pair-card .frame")); }

  // The drawn picture inside an <img> that uses object-fit: contain (letterboxed).
  function contentBox(img) {
    const w = img.clientWidth, h = img.clientHeight;
    const scale = Math.min(w / img.naturalWidth, h / img.naturalHeight);
    const cw = img.naturalWidth * scale, ch = img.naturalHeight * scale;
    return { x: (w - cw) / 2, y: (h - ch) / 2, w: cw, h: ch };
  }

  function drawLens() {
    frames().forEach((frame) => {
      const img = frame.querySelector("img");
      const lens = frame.querySelector(".lens");
      if (!img || !lens) return;
      if (!lensOn || !img.naturalWidth) { lens.hidden = true; return; }
      const box = contentBox(img);
      const zoom = Math.max(2, img.naturalWidth / box.w) * lensZoom;
      const x = lensPoint.x * box.w, y = lensPoint.y * box.h;
      lens.hidden = false;
      lens.style.width = lens.style.height = `${LENS_PX}px`;
      lens.style.left = `${img.offsetLeft + box.x + x - LENS_PX / 2}px`;
      lens.style.top = `${img.offsetTop + box.y + y - LENS_PX / 2}px`;
      lens.style.backgroundImage = `url("${img.currentSrc || img.src}")`;
      lens.style.backgroundSize = `${box.w * zoom}px ${box.h * zoom}px`;
      lens.style.backgroundPosition = `${LENS_PX / 2 - x * zoom}px ${LENS_PX / 2 - y * zoom}px`;
    });
  }

  function pointLens(event) {
    const img = event.currentTarget.querySelector("img");
    if (!img.naturalWidth) return;
    const rect = img.getBoundingClientRect();
    const box = contentBox(img);
    lensPoint = {
      x: Math.min(Math.max((event.clientX - rect.left - box.x) / box.w, 0), 1),
      y: Math.min(Math.max((event.clientY - rect.top - box.y) / box.h, 0), 1),
    };
    lensOn = true;
    drawLens();
  }

  function bindFrames() {
    frames().forEach((frame) => {
      frame.addEventListener("mousemove", pointLens);
      frame.addEventListener("mouseenter", pointLens);
      frame.addEventListener("mouseleave", () => { if (!frame.dataset.keepLens) { lensOn = false; drawLens(); } });
      frame.addEventListener("wheel", (event) => {
        if (!lensOn) return;
        event.preventDefault();
        lensZoom = Math.min(Math.max(lensZoom * (event.deltaY < 0 ? 1.25 : 0.8), 0.5), 4);
        drawLens();
      }, { passive: false });
    });
  }

  function toggleLens() {
    lensOn = !lensOn;
    frames().forEach((frame) => { frame.dataset.keepLens = lensOn ? "1" : ""; });
    drawLens();
  }

  // Flicker: both images in one place, alternating, so small differences jump out.
  function stopFlicker() {
    if (flickerTimer) window.clearInterval(flickerTimer);
    flickerTimer = null;
    const box = document.querySelector("#pair-card .flicker");
    if (box) box.hidden = true;
  }

  function toggleFlicker() {
    if (flickerTimer) { stopFlicker(); return; }
    const box = document.querySelector("#pair-card .flicker");
    const imgs = document.querySelectorAll("#pair-card .frame img");
    if (!box || imgs.length !== 2) return;
    const shot = box.querySelector("img");
    const label = box.querySelector(".flicker-side");
    let side = 0;
    const show = () => {
      shot.src = imgs[side].currentSrc || imgs[side].src;
      label.textContent = side === 0 ? "Left" : "Right";
      side = 1 - side;
    };
    show();
    box.hidden = false;
    flickerTimer = window.setInterval(show, FLICKER_MS);
  }

  function openGuide() {
    const dialog = document.getElementById("guide");
    if (dialog && !dialog.open) dialog.showModal();
  }

  function startUndoTimer() {
    if (undoTimer) window.clearTimeout(undoTimer);
    const toast = document.querySelector("#pair-card .toast");
    if (!toast) return;
    const seconds = Number(toast.dataset.undoSeconds || 4);
    undoTimer = window.setTimeout(() => {
      toast.classList.add("is-leaving");
      window.setTimeout(() => toast.remove(), 300);
    }, seconds * 1000);
  }

  // A new card on screen (cards.js has marked it ready and cancelled the old card's timer).
  function cardReady() {
    shownAt = performance.now();
    submitting = false;
    lensOn = false;
    stopFlicker();
    bindFrames();
    startUndoTimer();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // A key can land between the swap and htmx's afterSwap event: ready the new card first,
    // or its answers would be wiped and its Enter refused as the previous card's submit.
    cards.ready();
    const dialog = document.getElementById("guide");
    if (dialog && dialog.open) {
      if (event.key === "i" || event.key === "I") dialog.close();
      return;
    }
    const target = event.target;
    if (target instanceof HTMLElement && target.matches("input[type=text], textarea, select")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const inCard = !(target instanceof Element) || target === document.body || (card() && card().contains(target));
    if (cards.isBusy() && inCard && (key in ANSWER_KEYS || ["Enter", " ", "Backspace", "s", "u"].includes(key))) {
      // The card on screen is on its way out: no answer may land on it, no key may act natively.
      event.preventDefault();
      return;
    }
    if (key === "Enter" && form() && inCard && !(target instanceof HTMLElement && target.matches("summary, a"))) {
      // Enter never reaches the browser (implicit submission, a focused button's click).
      event.preventDefault();
      if (!markActive()) submitVote();
      return;
    }
    if (key in ANSWER_KEYS && form()) {
      event.preventDefault();
      cards.answer(ANSWER_KEYS[key]);
    } else if (key === "Backspace" && form()) {
      event.preventDefault();
      cards.clearLast();
    } else if (key === "s" && form()) {
      event.preventDefault();
      const f = form();
      const skip = f.querySelector("button[formaction]");
      if (skip && !submitting) { submitting = true; send(f, skip.getAttribute("formaction"), "skip", skip); }
    } else if (key === "u") {
      const undo = document.querySelector("#pair-card .undo-form");
      if (undo) { event.preventDefault(); send(undo, undo.getAttribute("action"), "undo"); }
    } else if (key === "z") {
      toggleLens();
    } else if (key === "f") {
      toggleFlicker();
    } else if (key === "i") {
      openGuide();
    } else if (key === "Escape") {
      stopFlicker();
      if (lensOn) toggleLens();
    } else if ((key === "+" || key === "=") && lensOn) {
      lensZoom = Math.min(lensZoom * 1.25, 4); drawLens();
    } else if (key === "-" && lensOn) {
      lensZoom = Math.max(lensZoom * 0.8, 0.5); drawLens();
    }
  });

  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element && event.target.closest("[data-guide]");
    if (link && document.getElementById("guide")) { event.preventDefault(); openGuide(); }
  });

  document.addEventListener("htmx:afterSettle", () => cards.ready());
  // A form htmx's validation stops is never sent: the card must not stay locked.
  document.addEventListener("htmx:validation:halted", () => cards.unlock());

  cards.start();
})();
