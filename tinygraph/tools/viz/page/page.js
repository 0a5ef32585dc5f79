// tinygraph's interactive page: lays out the visible boxes (a collapsed group is one
// box) in layers, pans, zooms, collapses and expands groups, searches, shows details.
// Hand-written and dependency-free so the page is one offline file (see html.py).
(function () {
  "use strict";
  var t0 = performance.now();
  var D = JSON.parse(document.getElementById("tg-data").textContent);
  var N = D.nodes, G = D.groups, E = D.edges, S = D.styles, LR = D.rankdir === "LR";
  var SVGNS = "http://www.w3.org/2000/svg";
  var shut = new Uint8Array(G.length);
  D.collapsed.forEach(function (g) { shut[g] = 1; });
  var scene = document.getElementById("scene"), svg = document.getElementById("view");
  var view = { x: 20, y: 20, k: 1 }, boxes = {}, hits = {}, fwdMark = null, selected = null;
  var gOrder = G.map(function () { return Infinity; }), members = G.map(function () { return 0; });
  N.forEach(function (n, i) {
    for (var g = n.g; g >= 0; g = G[g].parent) { gOrder[g] = Math.min(gOrder[g], i); members[g]++; }
  });

  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }
  function ancestors(g) { var out = []; for (; g >= 0; g = G[g].parent) out.unshift(g); return out; }

  // The box a node is drawn in: its outermost collapsed group, else itself.
  function boxOf(i) {
    var top = -1;
    for (var g = N[i].g; g >= 0; g = G[g].parent) if (shut[g]) top = g;
    if (top < 0) return "n" + i;
    return G[top].rep >= 0 ? "n" + G[top].rep : "g" + top;
  }

  function visible() {
    var map = {}, list = [], owner = new Array(N.length);
    for (var i = 0; i < N.length; i++) {
      var k = boxOf(i); owner[i] = k;
      if (!map[k]) {
        var b = { key: k, order: i, preds: [], succ: [] };
        if (k[0] === "n") { b.node = +k.slice(1); b.path = ancestors(N[b.node].g); }
        else { b.group = +k.slice(1); b.path = ancestors(b.group); }
        map[k] = b; list.push(b);
      }
    }
    var seen = {}, edges = [];
    function add(a, b, kind, label) {
      if (a === b) return;
      var id = a + ">" + b + ">" + kind;
      if (seen[id]) return;
      seen[id] = 1; edges.push({ a: map[a], b: map[b], kind: kind, label: label });
      if (kind !== "grad") { map[a].succ.push(map[b]); map[b].preds.push(map[a]); }
    }
    E.forEach(function (e) { add(owner[e[0]], owner[e[1]], e[2], e[3]); });
    N.forEach(function (n, i) { if (n.link && n.fwd >= 0) add(owner[i], owner[n.fwd], "grad", ""); });
    return { map: map, list: list, edges: edges, owner: owner };
  }

  function size(b) {
    var lines = label(b), w = 0;
    lines.forEach(function (l) { w = Math.max(w, l.length); });
    b.lines = lines; b.w = Math.max(40, w * 6.2 + 16); b.h = 8 + 13 * lines.length;
  }
  function label(b) {
    if (b.group !== undefined) {
      var g = G[b.group];
      return ["[+] " + g.name, members[b.group] + " nodes"];
    }
    var n = N[b.node], out = [n.label];
    if (G[n.g] && G[n.g].rep === b.node) out[0] = (shut[n.g] ? "[+] " : "[−] ") + out[0];
    if (D.show_shapes && n.shapes.length) out.push(n.shapes.length > 1 && n.shapes.every(
      function (s) { return s === n.shapes[0]; }) ? n.shapes.length + "× " + n.shapes[0]
      : n.shapes.slice(0, 3).join(" "));
    if (n.stats && n.stats.mean_abs !== undefined)
      out.push((D.legend ? D.legend.value_name : "|x|") + " " + n.stats.mean_abs.toPrecision(3));
    return out;
  }

  // Longest-path layers (a cycle through collapsed groups is cut at its first box).
  function layers(list) {
    var indeg = new Map(), done = 0, queue = [];
    list.sort(function (a, b) { return a.order - b.order; });
    list.forEach(function (b) { b.layer = 0; indeg.set(b, b.preds.length); if (!b.preds.length) queue.push(b); });
    var placed = new Set();
    while (done < list.length) {
      if (!queue.length) {
        for (var j = 0; j < list.length; j++) if (!placed.has(list[j])) { queue.push(list[j]); break; }
      }
      var b = queue.shift();
      if (placed.has(b)) continue;
      placed.add(b); done++;
      b.succ.forEach(function (s) {
        s.layer = Math.max(s.layer, b.layer + 1);
        indeg.set(s, indeg.get(s) - 1);
        if (indeg.get(s) === 0 && !placed.has(s)) queue.push(s);
      });
    }
  }

  function cmpPath(a, b) {
    var n = Math.min(a.path.length, b.path.length);
    for (var i = 0; i < n; i++) {
      if (a.path[i] !== b.path[i]) return gOrder[a.path[i]] - gOrder[b.path[i]];
    }
    if (a.path.length !== b.path.length) {   // a box beside a group: by where it starts
      var ga = a.path.length > n ? gOrder[a.path[n]] : a.order;
      var gb = b.path.length > n ? gOrder[b.path[n]] : b.order;
      if (ga !== gb) return ga - gb;
    }
    return a.bary - b.bary || a.order - b.order;
  }

  function place(vis) {
    layers(vis.list);
    vis.list.forEach(size);
    var byLayer = [];
    vis.list.forEach(function (b) { (byLayer[b.layer] = byLayer[b.layer] || []).push(b); });
    var pos = 0;
    byLayer.forEach(function (row) {
      row.forEach(function (b) {
        var s = 0; b.preds.forEach(function (p) { s += p.idx === undefined ? 0 : p.idx; });
        b.bary = b.preds.length ? s / b.preds.length : b.order;
      });
      row.sort(cmpPath);
      row.forEach(function (b, i) { b.idx = i; });
    });
    var along = 0;
    byLayer.forEach(function (row) {
      var thick = 0, across = 0, prev = null;
      row.forEach(function (b) { thick = Math.max(thick, LR ? b.w : b.h); });
      row.forEach(function (b) {
        if (prev) across += 10 + 14 * diff(prev.path, b.path);
        if (LR) { b.x = along + (thick - b.w) / 2; b.y = across; across += b.h; }
        else { b.y = along + (thick - b.h) / 2; b.x = across; across += b.w; }
        prev = b;
      });
      row.forEach(function (b) { if (LR) b.y -= across / 2; else b.x -= across / 2; });
      along += thick + (LR ? 46 : 34);
      pos++;
    });
  }
  function diff(p, q) {       // group borders between two neighbours
    var i = 0; while (i < p.length && i < q.length && p[i] === q[i]) i++;
    return (p.length - i) + (q.length - i);
  }

  function frames(vis) {
    var box = {};
    vis.list.forEach(function (b) {
      var L = b.path.length;
      b.path.forEach(function (g, k) {
        if (b.group === g) return;
        var pad = 7 * (L - k), top = 14 * (L - k);
        var r = box[g] || (box[g] = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity, depth: k });
        r.x0 = Math.min(r.x0, b.x - pad); r.y0 = Math.min(r.y0, b.y - top);
        r.x1 = Math.max(r.x1, b.x + b.w + pad); r.y1 = Math.max(r.y1, b.y + b.h + pad);
      });
    });
    // a frame holds its subgroups' frames with a margin, so no two heads can coincide
    var parent = {};
    vis.list.forEach(function (b) {
      b.path.forEach(function (g, k) { if (k > 0) parent[g] = b.path[k - 1]; });
    });
    Object.keys(box).sort(function (a, b) { return box[b].depth - box[a].depth; })
      .forEach(function (g) {
        var r = box[g], q = box[parent[g]];
        if (!q) return;
        q.x0 = Math.min(q.x0, r.x0 - 7); q.y0 = Math.min(q.y0, r.y0 - 14);
        q.x1 = Math.max(q.x1, r.x1 + 7); q.y1 = Math.max(q.y1, r.y1 + 7);
      });
    return Object.keys(box).map(function (g) { var r = box[g]; r.g = +g; return r; })
      .filter(function (r) { return G[r.g].rep < 0 || !shut[r.g]; })
      .sort(function (a, b) { return a.depth - b.depth; });
  }

  function look(b) {
    if (b.group !== undefined) return S[G[b.group].kind === "step" ? "steps" : "collapsed"];
    var n = N[b.node];
    return S[n.fwd >= 0 && n.kind === "op" ? "gradient" : n.kind];
  }

  function drawBox(b) {
    var s = look(b), n = b.node !== undefined ? N[b.node] : null;
    var fill = n && n.fill ? n.fill : s.fill, font = n && n.font ? n.font : s.font;
    var cls = b.group !== undefined ? "box group" : "box node";
    var out = '<g class="' + cls + '" data-k="' + b.key + '" transform="translate(' +
      b.x.toFixed(1) + "," + b.y.toFixed(1) + ')"><rect class="b" rx="' +
      (n && n.kind === "variable" ? 8 : 4) + '" width="' + b.w.toFixed(1) + '" height="' + b.h +
      '" fill="' + fill + '" stroke="' + s.stroke + '" stroke-width="' + s.width + '"' +
      (s.dashed ? ' stroke-dasharray="4 2"' : "") + "/>";
    b.lines.forEach(function (l, i) {
      out += '<text x="' + (b.w / 2).toFixed(1) + '" y="' + (15 + 13 * i) + '" text-anchor="middle" font-size="' +
        (i ? 9 : 10) + '" fill="' + font + '">' + esc(l) + "</text>";
    });
    return out + "</g>";
  }

  function edgePath(e) {
    var a = e.a, b = e.b, x1, y1, x2, y2;
    if (LR) { x1 = a.x + a.w; y1 = a.y + a.h / 2; x2 = b.x; y2 = b.y + b.h / 2; if (x2 < x1) { x1 = a.x + a.w / 2; y1 = a.y + a.h; x2 = b.x + b.w / 2; y2 = b.y + b.h; } }
    else { x1 = a.x + a.w / 2; y1 = a.y + a.h; x2 = b.x + b.w / 2; y2 = b.y; if (y2 < y1) { x1 = a.x + a.w; y1 = a.y + a.h / 2; x2 = b.x + b.w; y2 = b.y + b.h / 2; } }
    var c = LR ? "C" + ((x1 + x2) / 2) + "," + y1 + " " + ((x1 + x2) / 2) + "," + y2
      : "C" + x1 + "," + ((y1 + y2) / 2) + " " + x2 + "," + ((y1 + y2) / 2);
    return '<path class="edge ' + e.kind + '" d="M' + x1.toFixed(1) + "," + y1.toFixed(1) + c + " " +
      x2.toFixed(1) + "," + y2.toFixed(1) + '" marker-end="url(#' + (e.kind === "grad" ? "arrow-grad" : "arrow") + ')"/>';
  }

  // Frames of steps that share layers overlap, and two can start at the same corner:
  // a head that would cover one already placed moves right of it.
  function placeHead(placed, x, y, w) {
    for (var moved = true; moved;) {
      moved = false;
      placed.forEach(function (p) {
        if (x < p.x + p.w && p.x < x + w && y < p.y + 13 && p.y < y + 13) { x = p.x + p.w + 2; moved = true; }
      });
    }
    placed.push({ x: x, y: y, w: w });
    return x;
  }

  function render() {
    var vis = visible();
    place(vis);
    var out = [];
    var fr = frames(vis), heads = [], placed = [];   // heads over every frame: each clickable
    fr.forEach(function (r) {
      var g = G[r.g], grad = g.kind === "grad" || g.path.split("/").indexOf("gradients") >= 0;
      var fill = r.depth % 2 ? "#ffffff" : (grad ? "#fdf3f3" : "#f5f5f5");
      out.push('<rect class="frame" data-g="' + r.g + '" x="' + r.x0 + '" y="' + r.y0 + '" width="' + (r.x1 - r.x0) +
        '" height="' + (r.y1 - r.y0) + '" rx="6" fill="' + fill + '" stroke="' + (grad ? "#e0a0a0" : "#b0b0b0") + '"/>');
      var w = Math.min(r.x1 - r.x0, 24 + 5.5 * g.name.length), x = placeHead(placed, r.x0, r.y0, w);
      heads.push('<g class="frame"><rect class="head" data-g="' + r.g + '" x="' + x + '" y="' + r.y0 + '" width="' +
        w + '" height="13"/><text x="' + (x + 4) + '" y="' + (r.y0 + 10) + '" font-size="9" fill="#555">[−] ' +
        esc(g.name) + "</text></g>");
    });
    out = out.concat(heads);
    vis.edges.forEach(function (e) { out.push(edgePath(e)); });
    vis.list.forEach(function (b) { out.push(drawBox(b)); });
    scene.innerHTML = out.join("");
    boxes = vis.map; window.tgVisible = vis;
    document.getElementById("count").textContent = vis.list.length + " boxes of " + N.length + " nodes";
    mark();
  }

  function apply() { scene.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")"); }
  function fit(all) {
    var bb = scene.getBBox(), W = svg.clientWidth, H = svg.clientHeight;
    if (!bb.width || !bb.height) return;
    // the whole graph, unless its boxes would be too small to read: then its start
    view.k = Math.max(0.05, Math.min(1.5, (W - 40) / bb.width, (H - 40) / bb.height));
    if (!all && view.k < 0.5) view.k = Math.min(0.5, (H - 40) / bb.height) || 0.5;
    var wide = bb.width * view.k > W;
    view.x = wide ? 20 - bb.x * view.k : (W - bb.width * view.k) / 2 - bb.x * view.k;
    view.y = (H - bb.height * view.k) / 2 - bb.y * view.k;
    apply();
  }

  function show(k) {        // centre the view on box k (a search hit, a clicked link)
    var b = boxes[k];
    if (!b) return;
    view.k = Math.max(view.k, 0.8);
    view.x = svg.clientWidth / 2 - (b.x + b.w / 2) * view.k;
    view.y = svg.clientHeight / 2 - (b.y + b.h / 2) * view.k;
    apply();
  }

  function toggle(g) { shut[g] = shut[g] ? 0 : 1; render(); }

  function mark() {
    scene.querySelectorAll(".hit,.fwd,.sel").forEach(function (el) { el.classList.remove("hit", "fwd", "sel"); });
    Object.keys(hits).forEach(function (k) { var el = scene.querySelector('[data-k="' + k + '"]'); if (el) el.classList.add("hit"); });
    [[fwdMark, "fwd"], [selected, "sel"]].forEach(function (p) {
      if (p[0] === null) return;
      var el = scene.querySelector('[data-k="' + window.tgVisible.owner[p[0]] + '"]');
      if (el) el.classList.add(p[1]);
    });
  }

  function num(x) { return typeof x === "number" ? x.toPrecision(4) : x; }
  function scopeOf(i) {       // a fused op's or loop's own group is its body: name its parent
    var g = N[i].g;
    if (g >= 0 && G[g].rep === i) g = G[g].parent;
    return g >= 0 ? G[g].path : "(top)";
  }
  function details(i) {
    var n = N[i], rows = [["name", n.name], ["op", n.op], ["kind", n.kind],
      ["shape", n.dims.map(function (d) { return "[" + d.join(", ") + "]"; }).join(" ")],
      ["dtype", n.dtypes.join(" ")], ["scope", scopeOf(i)]];
    if (n.fwd >= 0) rows.push(["gradient of", N[n.fwd].name]);
    if (n.stats) Object.keys(n.stats).forEach(function (k) {
      var v = n.stats[k]; rows.push([k, Array.isArray(v) ? "[" + v.join(", ") + "]" : num(v)]);
    });
    var el = document.getElementById("details");
    el.innerHTML = "<b>details</b> <a href='#' id='close'>close</a><table>" + rows.map(function (r) {
      return '<tr><td>' + esc(r[0]) + '</td><td class="v-' + esc(r[0].replace(/ /g, "_")) + '">' + esc(r[1]) + "</td></tr>";
    }).join("") + "</table>";
    el.hidden = false;
    document.getElementById("close").onclick = function (ev) { ev.preventDefault(); el.hidden = true; };
  }

  function clickBox(k) {
    if (k[0] === "g") { toggle(+k.slice(1)); return; }
    var i = +k.slice(1), n = N[i];
    selected = i; fwdMark = n.fwd >= 0 ? n.fwd : null;
    details(i);
    if (G[n.g] && G[n.g].rep === i) toggle(n.g); else mark();
  }

  function search(q) {
    hits = {}; q = q.trim().toLowerCase(); var count = 0;
    if (q) N.forEach(function (n, i) {
      if (n.name.toLowerCase().indexOf(q) >= 0) { hits[window.tgVisible.owner[i]] = 1; count++; }
    });
    document.getElementById("hits").textContent = q ? count + " match" + (count === 1 ? "" : "es") : "";
    mark();
  }

  function legend() {
    var L = D.legend, el = document.getElementById("legend");
    if (!L) { el.hidden = true; return; }
    var html = "<b>legend</b><br>" + L.kinds.map(function (r) {
      var s = S[r.kind];
      return '<span class="sw" style="background:' + s.fill + ";border:" + (s.bold ? 2 : 1) + "px " +
        (s.dashed ? "dashed " : "solid ") + s.stroke + '"></span>' + esc(r.label);
    }).join("<br>") + "<br>" + L.edges.map(esc).join("<br>") +
      "<br>[+] / [−]: click to expand / collapse; click a node for details";
    if (L.heat.length) html += '<div class="heat">' + esc(L.value_name) + ", log scale: " + num(L.lo) + " " +
      L.heat.map(function (c) { return '<span style="background:' + c + '"></span>'; }).join("") + " " + num(L.hi) + "</div>";
    el.innerHTML = html;
  }

  function fitMaxNodes() {     // collapse the deepest groups until max_nodes boxes remain
    if (!D.max_nodes) return;
    var depth = G.map(function (g) { return ancestors(G.indexOf(g)).length; });
    for (var d = Math.max.apply(null, depth.concat([0])); d >= 1; d--) {
      if (visible().list.length <= D.max_nodes) return;
      G.forEach(function (g, i) { if (depth[i] === d) shut[i] = 1; });
    }
  }

  var drag = null, moved = false;
  svg.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y }; moved = false; });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
    view.x = drag.vx + dx; view.y = drag.vy + dy; apply();
  });
  window.addEventListener("mouseup", function () { drag = null; });
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
    var k = Math.max(0.02, Math.min(8, view.k * Math.exp(-ev.deltaY * 0.0015)));
    view.x = mx - (mx - view.x) * k / view.k; view.y = my - (my - view.y) * k / view.k; view.k = k; apply();
  }, { passive: false });
  svg.addEventListener("click", function (ev) {
    if (moved) return;
    var box = ev.target.closest("[data-k]"), head = ev.target.closest("rect.head");
    if (box) clickBox(box.getAttribute("data-k"));
    else if (head) toggle(+head.getAttribute("data-g"));
  });
  document.getElementById("search").addEventListener("input", function (ev) { search(ev.target.value); });
  document.getElementById("search").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { var k = Object.keys(hits)[0]; if (k) show(k); }
  });
  document.getElementById("fit").onclick = function () { fit(true); };
  document.getElementById("expand-all").onclick = function () { shut.fill(0); render(); };
  document.getElementById("collapse-steps").onclick = function () {
    G.forEach(function (g, i) { if (g.kind === "step") shut[i] = 1; }); render();
  };

  document.getElementById("title").textContent = D.title || "tinygraph";
  fitMaxNodes();
  legend();
  render();
  fit(false);
  window.tgPage = { show: show, toggle: toggle, search: search, render: render, groups: G, shut: shut };
  window.tgRenderMs = performance.now() - t0;
  document.body.setAttribute("data-ready", "1");
})();
