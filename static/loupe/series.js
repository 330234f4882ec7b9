// The series loupe: a lens that magnifies the spot under the pointer (or the centre, with
// Z), and ← / → to step through the training checkpoints of the same prompt and seed.
(function () {
  "use strict";
  const ZOOM = 3;
  function setup() {
    const stage = document.getElementById("loupe-stage");
    if (stage) {
      const image = stage.querySelector("img");
      const lens = stage.querySelector(".loupe-lens");
      const place = function (x, y) {
        const rect = image.getBoundingClientRect();
        const half = lens.offsetWidth / 2;
        lens.hidden = false;
        lens.style.backgroundImage = `url("${image.currentSrc || image.src}")`;
        lens.style.backgroundSize = `${rect.width * ZOOM}px ${rect.height * ZOOM}px`;
        lens.style.left = `${x - half}px`;
        lens.style.top = `${y - half}px`;
        lens.style.backgroundPosition = `${-(x * ZOOM - half)}px ${-(y * ZOOM - half)}px`;
      };
      stage.addEventListener("mousemove", function (event) {
        const rect = image.getBoundingClientRect();
        place(event.clientX - rect.left, event.clientY - rect.top);
      });
      stage.addEventListener("mouseleave", function () { lens.hidden = true; });
      document.addEventListener("keydown", function (event) {
        if (event.key !== "z" && event.key !== "Z") return;
        if (lens.hidden) {
          const rect = image.getBoundingClientRect();
          place(rect.width / 2, rect.height / 2);
        } else {
          lens.hidden = true;
        }
      });
    }
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      const target = event.target;
      if (target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
      const link = document.getElementById(event.key === "ArrowLeft" ? "loupe-prev" :
        event.key === "ArrowRight" ? "loupe-next" : "");
      if (link) {
        event.preventDefault();
        window.location.assign(link.href);
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
