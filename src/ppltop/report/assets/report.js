// ppltop report: tooltips, color modes and jumps between surprising tokens; reads the
// figures from the JSON block (written by ppltop from the run's results).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var tip = document.getElementById("tip");
  var section = document.getElementById("documents");
  var LN2 = Math.log(2);
  var KIND = {first: "the first token: nothing predicts it",
              prompt: "prompt token: not scored under --mask-prompt",
              truncated: "beyond --max-seq-length: truncated, not scored",
              pending: "not scored"};

  // as the terminal's detail panel: 4 decimals, or 3 significant digits below 0.001
  function prob(logprob) {
    var p = Math.exp(logprob);
    if (p >= 1e-3) return p.toFixed(4);
    var s = p.toExponential(2).split("e");
    var exp = parseInt(s[1], 10);
    var digits = String(Math.abs(exp));
    return s[0] + "e" + (exp < 0 ? "-" : "+") + (digits.length < 2 ? "0" + digits : digits);
  }
  function pad(text, width) { while (text.length < width) text = " " + text; return text; }
  function quoted(text) { return JSON.stringify(text); }

  function tokenLines(tok, vocab, reference) {
    var lines = ["id        " + tok[1] + "   position " + tok[0]];
    if (typeof tok[2] === "string") { lines.push(KIND[tok[2]] || tok[2]); return lines; }
    var lp = tok[2];
    lines.push("prob      " + prob(lp));
    lines.push("surprisal " + (-lp / LN2).toFixed(3) + " bits  " + (-lp).toFixed(3) + " nats");
    lines.push("rank      " + tok[4]);
    lines.push("entropy   " + (tok[3] === null ? "–" : tok[3].toFixed(3)) + " bits");
    if (reference && tok[6] !== null) {
      var delta = (tok[6] - lp) / LN2;  // surprisal minus the reference's
      lines.push(reference + ": prob " + prob(tok[6]) + "; Δ " + (delta >= 0 ? "+" : "") +
                 delta.toFixed(3) + " bits (" + data.label + " − " + reference + ")");
    }
    if (tok[5].length) {
      lines.push("the model preferred:");
      tok[5].forEach(function (alt) {
        var mark = alt[0] === tok[1] ? " <" : "";
        lines.push("  " + pad(Math.exp(alt[1]).toFixed(4), 7) + "  " +
                   quoted(vocab[alt[0]] || "") + mark);
      });
    } else {
      lines.push("(alternatives not kept: --loss-only)");
    }
    return lines;
  }

  function groupOf(span) {
    var article = span.closest("article.doc");
    if (!article || !span.parentNode.classList.contains("text")) return null;
    var doc = data.docs[+article.dataset.doc];
    var index = Array.prototype.indexOf.call(span.parentNode.children, span);
    return {doc: doc, group: doc.groups[index]};
  }

  function show(span) {
    var found = groupOf(span);
    if (!found) return;
    var group = found.group, tokens = group[1];
    var lines = ["text      " + quoted(span.textContent.replace("↵\n", "\n")) +
                 (tokens.length > 1 ? "  (" + tokens.length + " tokens)" : ""),
                 data.label + ", example " + found.doc.example];
    if (group[0] !== null) lines.push("character " + group[0].toFixed(3) + " bits over " +
                                      tokens.length + " tokens");
    tokens.forEach(function (tok, k) {
      if (tokens.length > 1) lines.push("— token " + (k + 1) + " of " + tokens.length);
      lines = lines.concat(tokenLines(tok, data.vocab, data.reference));
    });
    tip.textContent = lines.join("\n");
    tip.hidden = false;
    var box = span.getBoundingClientRect();
    var left = Math.min(window.scrollX + box.left,
                        window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
    var top = window.scrollY + box.bottom + 6;
    if (box.bottom + tip.offsetHeight + 12 > window.innerHeight) {
      top = window.scrollY + box.top - tip.offsetHeight - 6;
    }
    tip.style.left = Math.max(4, left) + "px";
    tip.style.top = Math.max(4, top) + "px";
  }
  function hide() { tip.hidden = true; }

  document.addEventListener("mouseover", function (e) {
    var span = e.target.closest && e.target.closest(".text > span");
    if (span) show(span); else if (!document.activeElement.closest(".text > span")) hide();
  });
  document.addEventListener("focusin", function (e) {
    if (e.target.matches(".text > span")) show(e.target); else hide();
  });

  function focusSpan(span) {
    span.tabIndex = -1;
    span.focus();
    span.scrollIntoView({block: "center"});
  }
  function jump(forward) {
    var hits = Array.prototype.slice.call(document.querySelectorAll(".doc .text > .h"));
    if (!hits.length) return;
    var here = document.activeElement;
    var pick = null;
    for (var i = 0; i < hits.length && !pick; i++) {
      var k = forward ? i : hits.length - 1 - i;
      var rel = here.compareDocumentPosition(hits[k]);
      var after = rel & Node.DOCUMENT_POSITION_FOLLOWING && !(rel & Node.DOCUMENT_POSITION_CONTAINS);
      var before = rel & Node.DOCUMENT_POSITION_PRECEDING && !(rel & Node.DOCUMENT_POSITION_CONTAINED_BY);
      if (here === document.body || here.closest("nav")) { after = true; before = true; }
      if (forward ? after : before) pick = hits[k];
    }
    if (pick) focusSpan(pick);
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.matches("input")) return;
    if (e.key === "n") { jump(true); e.preventDefault(); }
    else if (e.key === "p") { jump(false); e.preventDefault(); }
    else if (e.key === "Escape") { hide(); }
  });

  document.querySelectorAll('.modes input[name="mode"]').forEach(function (input) {
    input.addEventListener("change", function () { section.className = "mode-" + input.value; });
  });
  function followHash() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.matches(".text > span")) focusSpan(target);
  }
  window.addEventListener("hashchange", followHash);
  followHash();
}());
