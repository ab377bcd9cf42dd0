// Search summaries without raw TeX.
//
// Sphinx's search page builds each result's summary from the text of the page's HTML,
// where formulas are still TeX source (\( ... \), \[ \begin{split} ... \]), because MathJax
// typesets them only in the reader's browser. This wraps Search.htmlToText so that a
// formula reads as plain symbols in the summary: a display equation becomes "[equation]",
// an inline formula its TeX with the delimiters and commands turned into readable text.
(function () {
  "use strict";

  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε",
    zeta: "ζ", eta: "η", theta: "θ", kappa: "κ", lambda: "λ", mu: "μ", nu: "ν", xi: "ξ",
    pi: "π", rho: "ρ", sigma: "σ", tau: "τ", phi: "φ", varphi: "φ", chi: "χ", psi: "ψ",
    omega: "ω", Gamma: "Γ", Delta: "Δ", Theta: "Θ", Lambda: "Λ", Sigma: "Σ", Phi: "Φ",
    Omega: "Ω", nabla: "∇", partial: "∂", infty: "∞", sum: "Σ", prod: "Π", sqrt: "√",
    le: "≤", leq: "≤", ge: "≥", geq: "≥", ne: "≠", neq: "≠", approx: "≈", sim: "~",
    cdot: "·", times: "×", odot: "⊙", pm: "±", to: "→", rightarrow: "→", leftarrow: "←",
    mapsto: "↦", in: "∈", star: "*", ldots: "…", dots: "…", cdots: "…", lVert: "‖",
    rVert: "‖", lvert: "|", rvert: "|", mid: "|", top: "ᵀ",
  };

  // A formula's TeX as plain text: no delimiters, no backslashes, no grouping braces.
  function texToText(tex) {
    let text = tex;
    // innermost groups first: sub- and superscripts, then fractions of plain text
    for (let previous = ""; previous !== text;) {
      previous = text;
      text = text
        .replace(/([_^])\{([^{}]*)\}/g, "$1$2")
        .replace(/\\[td]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "($1)/($2)");
    }
    return text
      .replace(/^\s*\\[([]/, "")
      .replace(/\\[)\]]\s*$/, "")
      .replace(/\\(?:left|right|bigg?|Bigg?|displaystyle|quad|qquad)(?![A-Za-z])|\\[,;!: ]/g, " ")
      .replace(/\\(?:operatorname|mathrm|mathbf|mathcal|textrm|text|mathit|boldsymbol)\s*/g, "")
      .replace(/\\([A-Za-z]+)/g, (match, name) => SYMBOLS[name] ?? name)
      .replace(/\\(.)/g, "$1")
      .replace(/[{}$]/g, "")
      .replace(/\s+/g, " ")
      .trim();
  }

  function patch() {
    if (typeof Search === "undefined" || Search.dloptMathPatched) {
      return;
    }
    const original = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => {
      const doc = new DOMParser().parseFromString(htmlString, "text/html");
      doc.querySelectorAll("div.math").forEach((el) => {
        el.replaceWith(doc.createTextNode(" [equation] "));
      });
      doc.querySelectorAll("span.math").forEach((el) => {
        el.replaceWith(doc.createTextNode(texToText(el.textContent)));
      });
      return original(doc.documentElement.outerHTML, anchor);
    };
    Search.dloptMathPatched = true;
  }

  patch();
  document.addEventListener("DOMContentLoaded", patch);
})();
