// What the page needs once it is loaded, for every reader.
//
// - Animations (matplotlib's HTML player) start playing on their own, unless the reader
//   asked their system for reduced motion; the player's controls stay to pause them.
// - The player's frame gets alternative text, and its slider a label.
// - The sidebar's expand/collapse toggles and the bibliography list get the names and
//   roles assistive technology needs (tests/test_site.py runs axe-core on every page).
// - A display equation wider than the column (on a phone) is shrunk to fit, down to 70 % of
//   its size; one that is wider still scrolls sideways inside its box, as before.
(function () {
  "use strict";

  function nearestHeading(element) {
    const headings = Array.from(document.querySelectorAll("article h1, article h2, article h3"));
    let found = null;
    for (const heading of headings) {
      if (heading.compareDocumentPosition(element) & Node.DOCUMENT_POSITION_FOLLOWING) {
        found = heading;
      }
    }
    return found ? found.textContent.replace(/[#¶]/g, "").trim() : document.title;
  }

  function prepareAnimations() {
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    document.querySelectorAll("div.animation").forEach((player) => {
      const topic = nearestHeading(player);
      const frame = player.querySelector("img");
      if (frame && !frame.getAttribute("alt")) {
        frame.setAttribute("alt", `Animation (${topic}): the optimizers' paths drawn step by ` +
                                  "step on the contour plot of the landscape");
      }
      const slider = player.querySelector("input.anim-slider");
      if (slider && !slider.getAttribute("aria-label")) {
        slider.setAttribute("aria-label", `Frame of the animation (${topic})`);
      }
      const play = player.querySelector('button[title="Play"]');
      if (play && !still && !player.dataset.autoplayed) {
        player.dataset.autoplayed = "true";
        startWhenReady(play, 100);
      }
    });
  }

  // The player creates its object (named in the button's onclick) in a setTimeout after its
  // script; on a long page with several players that may come after DOMContentLoaded.
  function startWhenReady(play, tries) {
    const name = (play.getAttribute("onclick") || "").split(".")[0];
    if (name && window[name] === undefined && tries > 0) {
      setTimeout(() => startWhenReady(play, tries - 1), 50);
      return;
    }
    play.click();
  }

  function nameSidebarToggles() {
    document.querySelectorAll("nav.bd-docs-nav details > summary").forEach((summary) => {
      if (summary.getAttribute("aria-label")) return;
      const link = summary.parentElement.parentElement.querySelector(":scope > a");
      const title = link ? link.textContent.trim() : "this chapter";
      summary.setAttribute("aria-label", `Sections of ${title}`);
    });
  }

  function fixBibliographyRoles() {
    // Sphinx marks the list of references role="list" but its entries are not list items.
    document.querySelectorAll('div.citation-list[role="list"]').forEach((list) => {
      Array.from(list.children).forEach((entry) => entry.setAttribute("role", "listitem"));
    });
  }

  const SMALLEST_EQUATION = 0.7;

  function fitEquations() {
    document.querySelectorAll('div.math > mjx-container[display="true"]').forEach((eq) => {
      eq.style.fontSize = "";
      const math = eq.querySelector("mjx-math");
      const room = eq.parentElement.clientWidth;
      if (!math || room === 0 || math.scrollWidth <= room) return;
      const scale = Math.max(SMALLEST_EQUATION, room / math.scrollWidth);
      eq.style.fontSize = `${Math.floor(scale * 1000) / 10}%`;
    });
  }

  function fitEquationsOnceTypeset(tries = 300) {
    const startup = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
    if (!startup) {  // MathJax loads after this script: look again, for up to 30 s
      if (document.querySelector("div.math") && tries > 0) {
        setTimeout(() => fitEquationsOnceTypeset(tries - 1), 100);
      }
      return;
    }
    startup.then(fitEquations);
    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(fitEquations, 100);
    });
  }

  function ready() {
    prepareAnimations();
    nameSidebarToggles();
    fixBibliographyRoles();
    fitEquationsOnceTypeset();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
