// Rater guide page: Enter starts (or resumes) judging.
(() => {
  "use strict";
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.altKey && !e.ctrlKey && !e.metaKey) {
      const start = document.getElementById("start");
      if (!start) return;
      e.preventDefault();
      start.click();
    }
  });
})();
