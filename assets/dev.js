// satoshipress preview: a stand-in for the SatoshiPay widget, live reload, and the build-error
// overlay. Served by `satoshipress serve` only; never part of a production build.
(function () {
  "use strict";
  var CERTIFICATE = "/_sandbox/certificate/";
  var POLL = "/_satoshipress/poll";
  var fetches = 0;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return e;
  }

  // Block characters, word-like, about as many as the paid text has visible characters.
  function maskText(length) {
    var n = Math.max(40, Math.min(length || 500, 3000)), out = "", word = 0;
    for (var i = 0; i < n; i++) {
      if (word > 3 + (i * 7) % 6) { out += " "; word = 0; } else { out += "\u2588"; word++; }
    }
    return out;
  }

  function fail(box, message) {
    var err = box.querySelector(".sp-dev-error") || box.appendChild(el("p", { "class": "sp-dev-error" }));
    err.textContent = message;
  }

  async function pay(placeholder, box, button) {
    button.disabled = true;
    try {
      var id = placeholder.dataset.spId, src = placeholder.dataset.spSrc;
      var c = await fetch(CERTIFICATE + encodeURIComponent(id));
      if (!c.ok) throw new Error("the sandbox has no certificate for " + id + " (" + c.status + ")");
      var certificate = (await c.json()).certificate;
      // Alternate between the two ways the widget presents a certificate.
      var viaHeader = fetches++ % 2 === 1, r;
      if (viaHeader) {
        r = await fetch(src, { headers: { "X-Payment-Certificate": certificate } });
      } else {
        r = await fetch(src + (src.indexOf("?") < 0 ? "?" : "&") + "paymentCert=" + encodeURIComponent(certificate));
      }
      if (!r.ok) throw new Error("the Content API answered " + r.status);
      var paid = el("div", { "class": "sp-dev-paid", "data-sp-id": id, "data-sp-via": viaHeader ? "header" : "query" });
      paid.innerHTML = (await r.json()).content;
      box.replaceWith(paid);
    } catch (e) {
      button.disabled = false;
      fail(box, String(e.message || e));
    }
  }

  function mask(placeholder) {
    var price = placeholder.dataset.spPrice;
    var box = el("div", { "class": "sp-dev-box", "data-sp-id": placeholder.dataset.spId });
    box.appendChild(el("p", { "class": "sp-dev-mask", "aria-hidden": "true" }, maskText(+placeholder.dataset.spLength)));
    var bar = box.appendChild(el("p", { "class": "sp-dev-bar" }));
    bar.appendChild(el("span", { "class": "sp-dev-price" }, price + " satoshis"));
    var button = bar.appendChild(el("button", { "class": "sp-dev-pay", type: "button" }, "Pay " + price + " satoshis (sandbox)"));
    button.addEventListener("click", function () { pay(placeholder, box, button); });
    placeholder.style.display = "none";
    placeholder.after(box);
  }

  function style() {
    var css = ".sp-dev-box{position:relative;margin:1.5rem 0;padding:1rem;border:1px dashed #b35c00;border-radius:6px;background:#fff8ef}" +
      ".sp-dev-mask{color:#d9cfc2;line-height:1.6;word-break:break-all;margin:0 0 .8rem;user-select:none}" +
      ".sp-dev-bar{display:flex;gap:1rem;align-items:center;margin:0;font:14px system-ui,sans-serif}" +
      ".sp-dev-pay{font:600 14px system-ui,sans-serif;background:#b35c00;color:#fff;border:0;border-radius:4px;padding:.45rem .9rem;cursor:pointer}" +
      ".sp-dev-error{color:#a00;font:13px system-ui,sans-serif}" +
      "#sp-dev-overlay{position:fixed;inset:0;z-index:2147483647;background:rgba(20,0,0,.88);color:#fff;padding:2rem;font:14px/1.5 ui-monospace,monospace;overflow:auto;white-space:pre-wrap}" +
      "#sp-dev-overlay h2{font:700 18px system-ui,sans-serif;color:#ffb4a8;margin:0 0 1rem}";
    document.head.appendChild(el("style", {}, css));
  }

  function overlay(errors) {
    var o = document.getElementById("sp-dev-overlay");
    if (!errors || errors.length === 0) { if (o) o.remove(); return; }
    if (!o) { o = el("div", { id: "sp-dev-overlay", role: "alert" }); document.body.appendChild(o); }
    o.textContent = "";
    o.appendChild(el("h2", {}, "satoshipress: the build failed; the page shows the last good build"));
    errors.forEach(function (e) {
      o.appendChild(el("div", { "class": "sp-dev-problem" }, (e.path ? e.path + (e.line ? ":" + e.line : "") + ": " : "") + e.message));
    });
  }

  async function poll() {
    var version = null, generation = null;
    for (;;) {
      try {
        var r = await fetch(POLL + "?since=" + (version === null ? -1 : version), { cache: "no-store" });
        var s = await r.json();
        if (generation !== null && s.generation !== generation) { location.reload(); return; }
        version = s.version; generation = s.generation;
        overlay(s.errors);
      } catch (e) {
        await new Promise(function (ok) { setTimeout(ok, 1000); });
      }
    }
  }

  function start() {
    style();
    document.querySelectorAll(".satoshipay-placeholder").forEach(mask);
    poll();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
