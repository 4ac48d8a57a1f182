(function () {
  "use strict";
  var PAGE_ROWS = Number("@PAGE_ROWS@");
  var GRAPH_THRESHOLD = Number("@GRAPH_THRESHOLD@");
  var GRAPH_CAP = 3000, SEED_CAP = 150;
  var KIND_TITLES = ["Listeners", "Route configs", "Virtual hosts", "Clusters", "Endpoints"];
  var NODE_W = 214, NODE_H = 18, ROW = 24, COL_GAP = 60, TOP = 30, LEFT = 10, LABEL = 32;
  var d = document;
  var SVG_NS = d.getElementById("pdebug-svgns").namespaceURI;
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});

  // visible:begin (tests/test_fuzz10_regressions.py runs this function in node)
  // Text from the input as it reads: a bidi override (U+202E), a zero-width or other
  // format character, a control or a lone surrogate is shown as its escape ("\u202e"),
  // as pdebug's text tables show it; newlines and tabs of the text's layout are kept.
  var UNPRINTABLE = /(?![\n\t ])[\p{C}\p{Z}]/gu;
  function hex(n, width) { return ("0000000" + n.toString(16)).slice(-width); }
  function visible(s) {
    return String(s).replace(UNPRINTABLE, function (ch) {
      var c = ch.codePointAt(0);
      if (c < 0x100) { return "\\x" + hex(c, 2); }
      return c < 0x10000 ? "\\u" + hex(c, 4) : "\\U" + hex(c, 8);
    });
  }
  // visible:end

  function el(tag, cls, text) {
    var e = d.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = visible(text); }
    return e;
  }
  function sv(tag, attrs) {
    var e = d.createElementNS(SVG_NS, tag);
    if (attrs) { for (var k in attrs) { e.setAttribute(k, String(attrs[k])); } }
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      if (arguments[i]) { parent.appendChild(arguments[i]); }
    }
    return parent;
  }
  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function checksLine(c) {
    return plural(c.error, "error") + ", " + plural(c.warning, "warning") + ", " + c.info +
      " info (" + plural(c.run, "check") + " run)";
  }
  function shortLabel(s) {
    // The mesh suffix says nothing here (the tooltip has the full name); then cut the middle.
    s = s.replace(/\.svc\.cluster\.local(?=$|:)/, "");
    if (s.length <= LABEL) { return s; }
    var head = Math.ceil(LABEL * 0.6);
    return s.slice(0, head) + "\u2026" + s.slice(s.length - (LABEL - head - 1));
  }

  // ---- cell values that carry a status ---------------------------------------------
  var BAD_WORDS = {ERROR: 1, UNHEALTHY: 1, FAILED: 1, TIMEOUT: 1, FALSE: 1, MISSING: 1};
  var WARN_WORDS = {WARNING: 1, WARMING: 1, DRAINING: 1, DEGRADED: 1};
  var OK_WORDS = {HEALTHY: 1, ACTIVE: 1, OK: 1, TRUE: 1};
  var BADGE_COLUMNS = {"SEVERITY": 1, "STATUS": 1, "STATE": 1, "VALID CERT": 1,
    "OUTLIER CHECK": 1};
  var COUNT_COLUMNS = {"ERRORS": "bad", "UNHEALTHY": "bad", "WARNINGS": "warn"};
  function wordClass(value) {
    var worst = "";
    String(value).toUpperCase().split(/[,\s]+/).forEach(function (w) {
      if (BAD_WORDS[w]) { worst = "bad"; }
      else if (WARN_WORDS[w] && worst !== "bad") { worst = "warn"; }
      else if (w === "INFO" && !worst) { worst = "info"; }
      else if (OK_WORDS[w] && !worst) { worst = "ok"; }
    });
    return worst;
  }
  function cellNode(column, value) {
    var td = el("td");
    var cls = "";
    if (BADGE_COLUMNS[column]) { cls = wordClass(value); }
    else if (COUNT_COLUMNS[column] && /^[1-9]/.test(value)) { cls = COUNT_COLUMNS[column]; }
    if (cls) { td.appendChild(el("span", "badge " + cls, value)); }
    else { td.textContent = visible(value); }
    return td;
  }

  // ---- sortable, filterable table --------------------------------------------------
  var NUM = /^-?\d+(\.\d+)?$/;
  function compareCells(a, b) {
    var ea = a === "" || a === "-", eb = b === "" || b === "-";
    if (ea || eb) { return ea === eb ? 0 : (ea ? 1 : -1); }
    if (NUM.test(a) && NUM.test(b)) { return parseFloat(a) - parseFloat(b); }
    return collator.compare(a, b);
  }

  function makeTable(spec, onPick) {
    var box = el("section", "block");
    box.setAttribute("data-table", spec.id);
    var rows = spec.rows, cols = spec.columns, n = rows.length;
    var title = el("h2", null, spec.title);
    add(title, el("span", "sub", cols.length ? fmt(n) + " rows" : ""));
    add(box, title);
    var api = {el: box};
    if (!cols.length) {
      add(box, el("p", "note", spec.note || "Not available."));
      return api;
    }
    var bar = el("div", "toolbar");
    var input = el("input");
    input.type = "search";
    input.placeholder = "Filter " + fmt(n) + " rows (words, all must match)";
    input.setAttribute("aria-label", "Filter " + spec.title);
    var count = el("span", "count");
    add(bar, input, count);
    bar.hidden = n === 0;
    var scroll = el("div", "scroll");
    var table = el("table", "data");
    var thead = el("thead"), tbody = el("tbody"), hr = el("tr");
    var ths = cols.map(function (c, i) {
      var th = el("th", null, c);
      th.tabIndex = 0;
      th.title = "Sort by " + c;
      th.addEventListener("click", function () { api.sortBy(i); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); api.sortBy(i); }
      });
      hr.appendChild(th);
      return th;
    });
    add(table, add(thead, hr), tbody);
    var more = el("button", "more");
    more.type = "button";
    more.hidden = true;
    add(box, bar, add(scroll, table), more);
    if (spec.note) { add(box, el("p", "note", spec.note)); }

    var keys = null, query = "", sortCol = -1, sortDir = 1, limit = PAGE_ROWS, shown = [];
    function apply() {
      var terms = query.toLowerCase().split(/\s+/).filter(Boolean);
      var idx = [];
      if (terms.length && keys === null) {
        keys = rows.map(function (r) { return r.join("\u0001").toLowerCase(); });
      }
      for (var i = 0; i < n; i++) {
        var ok = true;
        for (var t = 0; t < terms.length && ok; t++) { ok = keys[i].indexOf(terms[t]) >= 0; }
        if (ok) { idx.push(i); }
      }
      if (sortCol >= 0) {
        idx.sort(function (a, b) {
          return sortDir * compareCells(rows[a][sortCol], rows[b][sortCol]) || a - b;
        });
      }
      shown = idx;
      draw();
    }
    function draw() {
      tbody.textContent = "";
      var frag = d.createDocumentFragment();
      var upto = Math.min(shown.length, limit);
      for (var k = 0; k < upto; k++) {
        var r = rows[shown[k]], tr = el("tr");
        for (var c = 0; c < cols.length; c++) { tr.appendChild(cellNode(cols[c], r[c])); }
        if (onPick) {
          tr.className = "pick";
          tr.setAttribute("data-row", String(shown[k]));
        }
        frag.appendChild(tr);
      }
      tbody.appendChild(frag);
      count.textContent = (shown.length === n ? fmt(n) + " rows" :
        fmt(shown.length) + " of " + fmt(n) + " rows match") +
        (upto < shown.length ? "; showing the first " + fmt(upto) : "");
      more.hidden = upto >= shown.length;
      more.textContent = "Show all " + fmt(shown.length) + " rows";
    }
    more.addEventListener("click", function () { limit = Infinity; draw(); });
    var timer = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { api.setFilter(input.value); }, 120);
    });
    if (onPick) {
      tbody.addEventListener("click", function (ev) {
        var tr = ev.target.closest("tr");
        if (tr) { onPick(Number(tr.getAttribute("data-row"))); }
      });
    }
    api.setFilter = function (q) { input.value = q; query = q; apply(); };
    api.sortBy = function (i) {
      sortDir = sortCol === i ? -sortDir : 1;
      sortCol = i;
      ths.forEach(function (th, j) {
        if (j === i) { th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending"); }
        else { th.removeAttribute("aria-sort"); }
      });
      apply();
    };
    apply();
    return api;
  }

  // ---- topology ----------------------------------------------------------------------
  // The endpoint nodes come as g.endpoints.runs, each endpoint carried once: its row of the
  // endpoints table says it (pdebug/report/topology.py, _TableRows). A run is
  // [cluster index, status, items]: items a group number, whose rows (g.endpoints.rows
  // gives each row's group) sorted by ENDPOINT are the nodes, their status the run's or
  // g.endpoints.status[STATUS]; or a list of row indexes and nodes, the status the run's
  // or one per item. Build the nodes after the others and their edges after the others
  // (by cluster index, each cluster's in node order), as Graph.plain would.
  function expandEndpoints(g, tables) {
    if (!g.endpoints) { return g; }
    var rows = [], i, j;
    tables.forEach(function (t) { if (t.id === "endpoints") { rows = t.rows; } });
    // The rows of each group, grouped by a counting sort (no array per group), each
    // group's then sorted by ENDPOINT when first used (most groups are a few rows).
    var own = g.endpoints.rows, byStatus = g.endpoints.status, n = 0;
    for (i = 0; i < own.length; i++) { if (own[i] !== null && own[i] >= n) { n = own[i] + 1; } }
    var start = new Int32Array(n + 1), done = new Uint8Array(n);
    for (i = 0; i < own.length; i++) { if (own[i] !== null) { start[own[i] + 1]++; } }
    for (i = 0; i < n; i++) { start[i + 1] += start[i]; }
    var fill = start.slice(0, n), order = new Int32Array(start[n]);
    for (i = 0; i < own.length; i++) { if (own[i] !== null) { order[fill[own[i]]++] = i; } }
    function byEndpoint(a, b) {
      var x = rows[a][0], y = rows[b][0];
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    function sorted(k) {
      var a = k < n ? order.subarray(start[k], start[k + 1]) : new Int32Array(0);
      if (done[k]) { return a; }
      done[k] = 1;
      if (a.length > 16) { return a.sort(byEndpoint); }
      for (var x = 1; x < a.length; x++) {
        var v = a[x], y = x - 1;
        while (y >= 0 && rows[a[y]][0] > rows[v][0]) { a[y + 1] = a[y]; y--; }
        a[y + 1] = v;
      }
      return a;
    }
    var nodes = g.nodes.slice(), spans = [];
    g.endpoints.runs.forEach(function (run) {
      var ci = run[0], status = run[1], items = run[2];
      var tail = " in " + nodes[ci][1], at = nodes.length, row;
      if (typeof items === "number") {
        var mine = sorted(items);
        for (j = 0; j < mine.length; j++) {
          row = rows[mine[j]];
          nodes.push([4, row[0], status === null ? byStatus[row[1]] : status, row[1] + tail, ""]);
        }
      } else {
        for (j = 0; j < items.length; j++) {
          if (typeof items[j] === "number") {
            row = rows[items[j]];
            nodes.push([4, row[0], typeof status === "string" ? status : status[j],
              row[1] + tail, ""]);
          } else {
            nodes.push(items[j]);
          }
        }
      }
      spans.push([ci, at, nodes.length]);
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });  // stable: a cluster's runs in order
    var edges = g.edges.slice();
    spans.forEach(function (s) {
      for (var e = s[1]; e < s[2]; e++) { edges.push([s[0], e]); }
    });
    return {kinds: g.kinds, nodes: nodes, edges: edges, counts: g.counts, notes: g.notes};
  }

  function makeGraph(g, tables) {
    g = expandEndpoints(g, tables);
    var nodes = g.nodes, N = nodes.length;
    var box = el("section", "block");
    box.setAttribute("data-graph", "");
    var h = el("h2", null, "Topology");
    var kindCounts = g.counts.map(function (c, i) {
      return fmt(c) + " " + KIND_TITLES[i].toLowerCase();
    }).join(", ");
    add(h, el("span", "sub", kindCounts));
    add(box, h);
    (g.notes || []).forEach(function (note) { add(box, el("div", "errbox", note)); });
    var api = {el: box};
    if (!N) {
      add(box, el("p", "note", "Nothing to draw: the input has no listeners, routes or clusters."));
      return api;
    }
    var out = [], inn = [], i;
    for (i = 0; i < N; i++) { out.push([]); inn.push([]); }
    g.edges.forEach(function (e) { out[e[0]].push(e[1]); inn[e[1]].push(e[0]); });
    var text = null;

    var bar = el("div", "toolbar");
    var input = el("input");
    input.type = "search";
    input.placeholder = "Search nodes: name, address, domain (shows whole paths)";
    input.setAttribute("aria-label", "Search the topology");
    var allBox = el("input"); allBox.type = "checkbox";
    var epBox = el("input"); epBox.type = "checkbox"; epBox.checked = true;
    var allLabel = add(el("label"), allBox, d.createTextNode(" Show all " + fmt(N) + " nodes"));
    var epLabel = add(el("label"), epBox, d.createTextNode(" Endpoints"));
    var legend = el("span", "legend");
    [["ok", "healthy"], ["warn", "degraded / some unhealthy"], ["bad", "unhealthy"],
      ["missing", "missing"], ["unknown", "unknown"]].forEach(function (p) {
      legend.appendChild(el("span", p[0], p[1]));
    });
    add(bar, input, allLabel, epLabel, legend);
    var status = el("div", "count");
    var HELP = "Click a node to highlight its paths; hover for its full name and details " +
      "(labels omit .svc.cluster.local).";
    var info = el("div", "graphinfo", HELP);
    var scroll = el("div", "scroll tall");
    var svg = sv("svg", {"class": "topo", role: "img"});
    svg.setAttribute("aria-label", "Topology: listeners, route configs, virtual hosts, " +
      "clusters and endpoints");
    add(box, bar, status, info, add(scroll, svg));

    function reach(seeds, adj, mark) {
      var stack = seeds.slice();
      while (stack.length) {
        var v = stack.pop();
        var next = adj[v];
        for (var k = 0; k < next.length; k++) {
          if (!mark[next[k]]) { mark[next[k]] = 1; stack.push(next[k]); }
        }
      }
    }
    function visibleSet() {
      var vis = new Uint8Array(N), reason, q = input.value.trim().toLowerCase(), k;
      if (allBox.checked) {
        vis.fill(1);
        reason = "all nodes";
      } else if (q) {
        if (text === null) {
          text = nodes.map(function (n) { return (n[1] + " " + n[3] + " " + n[4]).toLowerCase(); });
        }
        var seeds = [];
        for (k = 0; k < N; k++) { if (text[k].indexOf(q) >= 0) { seeds.push(k); } }
        seeds.forEach(function (s) { vis[s] = 1; });
        var up = new Uint8Array(N), down = new Uint8Array(N);
        reach(seeds, inn, up); reach(seeds, out, down);
        for (k = 0; k < N; k++) { if (up[k] || down[k]) { vis[k] = 1; } }
        reason = fmt(seeds.length) + " nodes match \u201c" + input.value.trim() +
          "\u201d, shown with their paths";
      } else if (N <= GRAPH_THRESHOLD) {
        vis.fill(1);
        reason = "all nodes";
      } else {
        // Problem clusters (and rejected listeners), worst first, capped; then their
        // paths back to the listeners and their endpoints that are not healthy.
        var worst = [], weak = [];
        for (k = 0; k < N; k++) {
          var st = nodes[k][2], kind = nodes[k][0];
          if (kind === 3 || (kind === 0 && out[k].length === 0)) {
            if (st === "bad" || st === "missing") { worst.push(k); }
            else if (st === "warn") { weak.push(k); }
          }
        }
        var picked = worst.concat(weak), problems = picked.length;
        picked = picked.slice(0, SEED_CAP);
        if (picked.length) {
          picked.forEach(function (s) { vis[s] = 1; });
          reach(picked, inn, vis);
          picked.forEach(function (s) {
            out[s].forEach(function (t) { if (nodes[t][2] !== "ok") { vis[t] = 1; } });
          });
          reason = "collapsed to the paths to " + (problems > picked.length ? "the first " +
            fmt(picked.length) + " of " : "") + fmt(problems) +
            " clusters with problems (" + fmt(worst.length) + " failing, " + fmt(weak.length) +
            " degraded) and their unhealthy endpoints";
        } else {
          for (k = 0; k < N; k++) { if (nodes[k][0] <= 1) { vis[k] = 1; } }
          reason = "collapsed to listeners and route configs (no cluster has a problem)";
        }
        reason += " (" + fmt(N) + " nodes in all; search, or tick Show all)";
      }
      if (!epBox.checked) {
        for (k = 0; k < N; k++) { if (nodes[k][0] === 4) { vis[k] = 0; } }
      }
      var count = 0;
      for (k = 0; k < N; k++) {
        if (vis[k]) {
          count++;
          if (count > GRAPH_CAP && !allBox.checked) { vis[k] = 0; }
        }
      }
      if (count > GRAPH_CAP && !allBox.checked) {
        reason += "; drawing the first " + fmt(GRAPH_CAP) + " of " + fmt(count) +
          " (refine the search)";
      }
      return {vis: vis, reason: reason};
    }

    function layout(vis) {
      var cols = [[], [], [], [], []], y = new Float64Array(N), k, c;
      for (k = 0; k < N; k++) { if (vis[k]) { cols[nodes[k][0]].push(k); } }
      cols.forEach(function (col) { col.forEach(function (v, r) { y[v] = r * ROW; }); });
      // The lower median of the visible neighbours: a node shared by a far-away neighbour
      // (one cluster behind two route configs) stays next to its first one.
      function median(v, adj) {
        var a = adj[v], got = [];
        for (var j = 0; j < a.length; j++) { if (vis[a[j]]) { got.push(y[a[j]]); } }
        if (!got.length) { return -1; }
        got.sort(function (p, q) { return p - q; });
        return got[(got.length - 1) >> 1];
      }
      // Order a column by where its neighbours sit, then pack it top-down: each node as
      // close to that place as the nodes above it allow (order kept, never overlapping).
      function sweep(col, adj) {
        var want = new Float64Array(N);
        col.forEach(function (v) {
          var m = median(v, adj);
          want[v] = m < 0 ? y[v] : m;
        });
        col.sort(function (a, b) { return want[a] - want[b] || y[a] - y[b]; });
        var prev = -Infinity;
        col.forEach(function (v) {
          y[v] = Math.max(want[v], prev + ROW);
          prev = y[v];
        });
      }
      for (var pass = 0; pass < 2; pass++) {
        for (c = 3; c >= 0; c--) { sweep(cols[c], out); }
        for (c = 1; c < 5; c++) { sweep(cols[c], inn); }
      }
      // Close the bands no column uses (left by the first, compact placement).
      var placed = [];
      for (k = 0; k < N; k++) { if (vis[k]) { placed.push(k); } }
      placed.sort(function (a, b) { return y[a] - y[b]; });
      var shift = placed.length ? y[placed[0]] : 0, last = shift, height = 0;
      placed.forEach(function (v) {
        var gap = y[v] - last;
        last = y[v];
        if (gap > ROW) { shift += gap - ROW; }
        y[v] -= shift;
        if (y[v] > height) { height = y[v]; }
      });
      return {cols: cols, y: y, height: height + ROW};
    }

    var edgeEls = [], nodeEls = {}, selected = -1;
    function colX(kind) { return LEFT + kind * (NODE_W + COL_GAP); }
    function draw() {
      var vs = visibleSet(), vis = vs.vis, lay = layout(vis);
      svg.textContent = "";
      svg.classList.remove("focus");
      edgeEls = []; nodeEls = {}; selected = -1;
      var width = colX(5) - COL_GAP + LEFT, height = TOP + lay.height;
      svg.setAttribute("width", width);
      svg.setAttribute("height", height);
      svg.setAttribute("viewBox", "0 0 " + width + " " + height);
      lay.cols.forEach(function (col, kind) {
        var t = sv("text", {x: colX(kind), y: 16, "class": "colhead"});
        t.textContent = KIND_TITLES[kind] + " (" + fmt(col.length) + "/" +
          fmt(g.counts[kind]) + ")";
        svg.appendChild(t);
      });
      var edges = sv("g"), layer = sv("g");
      var frag = d.createDocumentFragment();
      g.edges.forEach(function (e) {
        var a = e[0], b = e[1];
        if (!vis[a] || !vis[b]) { return; }
        var x1 = colX(nodes[a][0]) + NODE_W, y1 = TOP + lay.y[a] + NODE_H / 2;
        var x2 = colX(nodes[b][0]), y2 = TOP + lay.y[b] + NODE_H / 2;
        var dx = Math.max(30, (x2 - x1) / 2);
        var p = sv("path", {"class": "edge st-" + nodes[b][2],
          d: "M" + x1 + " " + y1 + "C" + (x1 + dx) + " " + y1 + " " + (x2 - dx) + " " + y2 +
            " " + x2 + " " + y2});
        frag.appendChild(p);
        edgeEls.push([a, b, p]);
      });
      edges.appendChild(frag);
      frag = d.createDocumentFragment();
      lay.cols.forEach(function (col, kind) {
        col.forEach(function (v) {
          var n = nodes[v];
          var gEl = sv("g", {"class": "node st-" + n[2],
            transform: "translate(" + colX(kind) + "," + (TOP + lay.y[v]) + ")"});
          gEl.setAttribute("data-i", String(v));
          var tip = sv("title");
          tip.textContent = visible(n[1]) + "\n" + KIND_TITLES[kind].replace(/s$/, "") + ", " + n[2] +
            (n[3] ? "\n" + n[3] : "") + (n[4] ? "\nfindings: " + n[4] : "");
          var label = sv("text", {x: 6, y: 13});
          label.textContent = shortLabel(visible(n[1]));
          add(gEl, tip, sv("rect", {width: NODE_W, height: NODE_H, rx: 4}), label);
          frag.appendChild(gEl);
          nodeEls[v] = gEl;
        });
      });
      layer.appendChild(frag);
      add(svg, edges, layer);
      var drawn = 0;
      for (var k = 0; k < N; k++) { if (vis[k]) { drawn++; } }
      status.textContent = "Showing " + fmt(drawn) + " of " + fmt(N) + " nodes: " + vs.reason + ".";
      info.textContent = HELP;
    }
    function focus(v) {
      var up = new Uint8Array(N), down = new Uint8Array(N);
      up[v] = 1; down[v] = 1;
      reach([v], inn, up); reach([v], out, down);
      svg.classList.add("focus");
      Object.keys(nodeEls).forEach(function (k) {
        var on = up[k] || down[k];
        nodeEls[k].classList.toggle("hl", !!on);
        nodeEls[k].classList.toggle("sel", Number(k) === v);
      });
      edgeEls.forEach(function (e) {
        var on = (up[e[0]] && up[e[1]]) || (down[e[0]] && down[e[1]]);
        e[2].classList.toggle("hl", !!on);
      });
      selected = v;
      var n = nodes[v];
      info.textContent = "";
      add(info, d.createTextNode(KIND_TITLES[n[0]].replace(/s$/, "") + " "), el("b", null, n[1]),
        d.createTextNode(" \u2014 " + n[2] + (n[3] ? "; " + n[3] : "") +
          (n[4] ? "; findings: " + n[4] : "") + " (click again or on the background to clear)"));
    }
    function clear() {
      svg.classList.remove("focus");
      selected = -1;
      info.textContent = HELP;
    }
    svg.addEventListener("click", function (ev) {
      var gEl = ev.target.closest ? ev.target.closest("g.node") : null;
      if (!gEl) { clear(); return; }
      var v = Number(gEl.getAttribute("data-i"));
      if (v === selected) { clear(); } else { focus(v); }
    });
    var timer = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(draw, 150);
    });
    allBox.addEventListener("change", draw);
    epBox.addEventListener("change", draw);
    draw();
    return api;
  }

  // ---- page ------------------------------------------------------------------------
  var DATA = JSON.parse(d.getElementById("pdebug-data").textContent);
  var app = d.getElementById("app");
  var params = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (part) {
    if (!part) { return; }
    var eq = part.indexOf("=");
    var k = eq < 0 ? part : part.slice(0, eq);
    try { params[k] = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1)); }
    catch { params[k] = ""; }
  });
  var proxyBox = el("div");
  var picker = null;

  function sectionButton(label, target) {
    var b = el("button", null, label);
    b.type = "button";
    b.addEventListener("click", function () {
      var t = target();
      if (t) { t.scrollIntoView({block: "start"}); }
    });
    return b;
  }

  function header() {
    var top = el("header", "top");
    var title = DATA.title || "pdebug report";
    d.title = visible(title + " \u2014 " + (DATA.proxies.length === 1 ?
      DATA.proxies[0].name : DATA.proxies.length + " proxies"));
    add(top, el("h1", null, title));
    var meta = DATA.source + " \u00b7 generated " + DATA.generated + " by " + DATA.tool;
    if (DATA.capture && DATA.capture.created) {
      meta += " \u00b7 captured " + DATA.capture.created;
    }
    add(top, el("span", "meta", meta));
    if (DATA.capture && DATA.capture.istiod) {
      add(top, el("div", "meta", DATA.capture.istiod));
    }
    if (DATA.capture && DATA.capture.ambient) {
      add(top, el("div", "meta", DATA.capture.ambient));
    }
    var nav = el("nav");
    if (DATA.ambient) {
      add(nav, sectionButton("Ambient", function () {
        return d.querySelector("[data-table=ambient]");
      }));
    }
    if (DATA.proxies.length > 1) {
      picker = el("select");
      picker.setAttribute("aria-label", "Proxy");
      DATA.proxies.forEach(function (p, i) {
        var c = p.checks;
        var o = el("option", null, p.name + " \u2014 " + (c.unchecked ? c.unchecked :
          plural(c.error, "error") + ", " + plural(c.warning, "warning")));
        o.value = String(i);
        picker.appendChild(o);
      });
      picker.addEventListener("change", function () { showProxy(Number(picker.value), true); });
      add(nav, picker, sectionButton("Proxies", function () {
        return d.querySelector("[data-table=overview]");
      }));
    }
    [["Summary", "[data-summary]"], ["Findings", "[data-table=findings]"],
      ["Topology", "[data-graph]"], ["Clusters", "[data-table=clusters]"],
      ["Listeners", "[data-table=listeners]"], ["Routes", "[data-table=routes]"],
      ["Endpoints", "[data-table=endpoints]"], ["Secrets", "[data-table=secrets]"]
    ].forEach(function (p) {
      nav.appendChild(sectionButton(p[0], function () { return d.querySelector(p[1]); }));
    });
    add(top, nav);
    return top;
  }

  function summary(p) {
    var box = el("section", "block");
    box.setAttribute("data-summary", "");
    add(box, add(el("h2", null, "Summary"), el("span", "sub", p.name)));
    var cards = el("div", "cards");
    p.summary.counts.forEach(function (c) {
      cards.appendChild(add(el("div", "card" + (c[2] ? " " + c[2] : "")), el("div", "n", c[1]),
        el("div", "l", c[0])));
    });
    var dl = el("dl", "kv");
    p.summary.rows.forEach(function (r) { add(dl, el("dt", null, r[0]), el("dd", null, r[1])); });
    add(box, cards, dl);
    p.summary.errors.forEach(function (e) { add(box, el("div", "errbox", "capture: " + e)); });
    if (p.summary.unreadable) {
      add(box, el("div", "errbox", "unreadable: " + p.summary.unreadable));
    }
    if (p.checks.inconclusive) {
      add(box, el("div", "errbox", "Some checks could not read the input (see below)."));
    }
    return box;
  }

  function showProxy(i, user) {
    var p = DATA.proxies[i];
    proxyBox.textContent = "";
    add(proxyBox, summary(p));
    var f = makeTable(p.findings);
    var c = p.checks;
    var sub = f.el.querySelector("h2 .sub");
    sub.textContent = c.unchecked ? c.unchecked + " (no checks run)" : checksLine(c);
    if (c.skipped.length) {
      var ul = el("ul", "skipped");
      c.skipped.forEach(function (s) {
        ul.appendChild(el("li", null, "skipped " + s[0] + " " + s[1] + ": " + s[2]));
      });
      f.el.appendChild(ul);
    }
    if (c.ignored.length) {
      f.el.appendChild(el("p", "note", "Ignored (--ignore): " + c.ignored.join(", ")));
    }
    add(proxyBox, f.el);
    add(proxyBox, makeGraph(p.graph, p.tables).el);
    p.tables.forEach(function (t) { proxyBox.appendChild(makeTable(t).el); });
    if (picker) { picker.value = String(i); }
    if (user) {
      history.replaceState(null, "", "#proxy=" + i);
    }
  }

  function render() {
    var stat = d.getElementById("pdebug-static");  // the script-free copy: drawn fully below
    if (stat) { stat.parentNode.removeChild(stat); }
    add(app, header());
    var main = el("main");
    if (DATA.proxies.length > 1) {
      var ov = makeTable(DATA.overview, function (row) {
        showProxy(row, true);
        proxyBox.scrollIntoView({block: "start"});
      });
      ov.el.querySelector("h2 .sub").textContent = DATA.proxies.length +
        " proxies; click a row to open it";
      main.appendChild(ov.el);
    }
    if (DATA.ambient) {  // a snapshot --ambient: each workload, its ztunnel, waypoint, cert
      var ambient = makeTable(DATA.ambient);
      ambient.el.querySelector("h2 .sub").textContent = DATA.ambient.rows.length +
        " workloads, " + DATA.ambient.ztunnels + " ztunnels";
      if (DATA.ambient.note && DATA.ambient.rows.length) {
        ambient.el.appendChild(el("p", "note", DATA.ambient.note));
      }
      main.appendChild(ambient.el);
    }
    add(main, proxyBox);
    var foot = el("footer", null, "Self-contained report: no network requests. Secrets show " +
      "certificate metadata only; the raw config dump is not included.");
    add(main, foot);
    app.appendChild(main);
    var start = Number(params.proxy || 0);
    if (DATA.proxies.length) {
      showProxy(start >= 0 && start < DATA.proxies.length ? start : 0, false);
    } else {
      add(proxyBox, el("p", "note", "No sidecar or waypoint proxy in this capture."));
    }
    var target = params.view ? d.querySelector(params.view === "topology" ? "[data-graph]" :
      "[data-table=\"" + params.view.replace(/[^a-z]/g, "") + "\"]") : null;
    if (target) { target.scrollIntoView({block: "start"}); }
  }

  try {
    render();
  } catch (e) {
    app.appendChild(el("div", "errbox", "The report could not be rendered: " + e));
  }
})();
