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
  let autoSubmitTimer = null;

  const card = () => document.getElementById("pair-card");
  const form = () => document.getElementById("vote-form");
  const fieldsets = () => Array.from(document.querySelectorAll("#vote-form .criterion"));
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

  function submitVote() {
    const f = form();
    // An unanswered form would be stopped by the browser's validation with no request sent,
    // leaving the card locked: only a complete form is submitted.
    if (!f || submitting || markActive() || !f.checkValidity()) return;
    submitting = true;
    f.querySelector("input[name=response_ms]").value = String(Math.round(performance.now() - shownAt));
    f.classList.add("is-sending");
    f.requestSubmit();
  }

  // The last answer submits after a beat, so the pick is seen. The timer belongs to this form:
  // if Enter already sent it and the next card arrived, the timer must not fire on the new one.
  function scheduleSubmit() {
    const scheduledFor = form();
    window.clearTimeout(autoSubmitTimer);
    autoSubmitTimer = window.setTimeout(() => {
      if (form() === scheduledFor) submitVote();
    }, 140);
  }

  function answer(value) {
    const active = markActive();
    if (!active) return;
    const input = active.querySelector(`input[value="${value}"]`);
    input.checked = true;
    input.closest(".choice").classList.add("just-picked");
    if (!markActive()) scheduleSubmit();
  }

  function clearLast() {
    const done = fieldsets().filter(answered);
    const last = done[done.length - 1];
    if (!last) return;
    last.querySelectorAll("input[type=radio]").forEach((i) => { i.checked = false; });
    markActive();
  }

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

  function cardReady() {
    const current = card();
    if (!current || current.dataset.ready) return;
    current.dataset.ready = "1";
    // Keys can come before htmx has wired up the new card: without this, Enter would send the
    // form the browser's own way (a full page load) instead of through htmx.
    if (window.htmx) window.htmx.process(current);
    window.clearTimeout(autoSubmitTimer);
    shownAt = performance.now();
    submitting = false;
    lensOn = false;
    stopFlicker();
    markActive();
    bindFrames();
    startUndoTimer();
    fieldsets().forEach((fs) => fs.addEventListener("change", () => {
      if (!markActive()) scheduleSubmit();
    }));
    // Decode the next pair now so the swap after the vote shows pixels at once.
    document.querySelectorAll("#pair-card .prefetch img").forEach((img) => {
      if (img.decode) img.decode().catch(() => {});
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // A key can land between the swap and htmx's afterSwap event: ready the new card first,
    // or its answers would be wiped and its Enter refused as the previous card's submit.
    cardReady();
    const dialog = document.getElementById("guide");
    if (dialog && dialog.open) {
      if (event.key === "i" || event.key === "I") dialog.close();
      return;
    }
    const target = event.target;
    if (target instanceof HTMLElement && target.matches("input[type=text], textarea, select")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key in ANSWER_KEYS && form()) {
      event.preventDefault();
      answer(ANSWER_KEYS[key]);
    } else if (key === "Backspace" && form()) {
      event.preventDefault();
      clearLast();
    } else if (key === "Enter" && form() && !markActive()) {
      event.preventDefault();
      submitVote();
    } else if (key === "s" && form()) {
      event.preventDefault();
      const skip = form().querySelector("button[formaction]");
      if (skip && !submitting) { submitting = true; skip.click(); }
    } else if (key === "u") {
      const undo = document.querySelector("#pair-card .undo-form");
      if (undo) { event.preventDefault(); undo.requestSubmit(); }
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

  // 429 (too many votes a minute) carries the same card with a message: show it.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 429) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", cardReady);
  document.addEventListener("htmx:afterSettle", cardReady);
  document.addEventListener("htmx:responseError", () => {
    submitting = false;
    const f = form();
    if (f) f.classList.remove("is-sending");
  });
  document.addEventListener("htmx:sendError", () => {
    submitting = false;
    const f = form();
    if (f) f.classList.remove("is-sending");
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", cardReady);
  else cardReady();
})();
