// The report page's browser self-test (tests/test_report_browser.py), not shipped with pdebug.
//
// The test injects this script into a copy of a generated report, ahead of the page's own
// script (and allows it in the page's Content-Security-Policy by its hash). It records any
// uncaught error, waits for the load event, then drives the page only as a user would,
// through its DOM: clicks column headers, types into filters, clicks and searches the
// topology, ticks "Show all", picks each proxy. It writes what it saw as JSON into
// a hidden pre#pdebug-selftest, which `chromium --dump-dom` hands back.
//
// The URL's fragment says what to do: #selftest[=TERM][&showall]. TERM filters each table
// and searches the graph (default: one row's first cell per table); showall also draws the
// whole topology and times it.
(function () {
  "use strict";
  var d = document;
  var errors = [];
  window.addEventListener("error", function (ev) {
    errors.push(String(ev.error && ev.error.stack || ev.message));
  });
  var params = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (part) {
    var eq = part.indexOf("=");
    if (part) { params[eq < 0 ? part : part.slice(0, eq)] = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1)); }
  });
  var FILTER_WAIT = 250, SEARCH_WAIT = 300;  // the page waits 120 / 150 ms after typing

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
  function number(text) { return Number(text.replace(/,/g, "")); }
  // The page's order for cells: empty last, numbers as numbers, else natural text order.
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  var NUM = /^-?\d+(\.\d+)?$/;
  function compareCells(a, b) {
    var ea = a === "" || a === "-", eb = b === "" || b === "-";
    if (ea || eb) { return ea === eb ? 0 : (ea ? 1 : -1); }
    if (NUM.test(a) && NUM.test(b)) { return parseFloat(a) - parseFloat(b); }
    return collator.compare(a, b);
  }
  function sortedBy(rows, col, dir) {
    for (var k = 1; k < rows.length; k++) {
      if (dir * compareCells(rows[k - 1][col], rows[k][col]) > 0) { return false; }
    }
    return true;
  }
  function type(input, text) {
    input.value = text;
    input.dispatchEvent(new Event("input", {bubbles: true}));
  }
  function click(node) { node.dispatchEvent(new MouseEvent("click", {bubbles: true})); }

  // ---- one table, found by its data-table id ----------------------------------------
  function section(id) { return d.querySelector("main section[data-table=\"" + id + "\"]"); }
  function shownRows(box) {
    var body = box.querySelector("tbody");
    if (!body) { return []; }
    return Array.prototype.map.call(body.rows, function (tr) {
      return Array.prototype.map.call(tr.cells, function (td) { return td.textContent; });
    });
  }
  function matched(box) {  // "N rows", or "M of N rows match", as the page counts them
    var m = /^([\d,]+)/.exec(box.querySelector(".toolbar .count").textContent);
    return m ? number(m[1]) : -1;
  }
  async function setFilter(box, q) {
    type(box.querySelector(".toolbar input[type=search]"), q);
    await sleep(FILTER_WAIT);
  }
  async function exerciseTable(spec, term) {
    var box = section(spec.id);
    var r = {rows: spec.rows.length, shown: shownRows(box).length};
    if (r.rows > 1) {
      var th = box.querySelector("thead th");
      click(th);
      r.sortedAsc = sortedBy(shownRows(box), 0, 1);
      click(th);
      r.sortedDesc = sortedBy(shownRows(box), 0, -1);
      var q = term || spec.rows[Math.floor(r.rows / 2)][0];
      await setFilter(box, q);
      var got = shownRows(box);
      r.filter = q;
      r.matched = matched(box);
      r.filteredShown = got.length;
      var words = q.toLowerCase().split(/\s+/).filter(Boolean);
      r.allContain = got.every(function (row) {
        var line = row.join("\u0001").toLowerCase();
        return words.every(function (w) { return line.indexOf(w) >= 0; });
      });
      await setFilter(box, "");
      r.afterClear = shownRows(box).length;
    }
    return r;
  }

  // ---- the topology ------------------------------------------------------------------
  async function exerciseGraph(g, term) {
    var box = d.querySelector("main section[data-graph]");
    var svg = box.querySelector("svg.topo");
    function drawn() { return svg ? svg.querySelectorAll("g.node").length : 0; }
    var status = box.querySelector(".count");
    // every node, the endpoint nodes the page builds from the endpoints table included
    var total = g.counts.reduce(function (a, b) { return a + b; }, 0);
    var r = {total: total, drawn: drawn(),
      edges: svg ? svg.querySelectorAll("path.edge").length : 0,
      status: status ? status.textContent : ""};
    if (!r.total) { return r; }
    if (r.drawn <= 200) {  // each drawn node as its tooltip says it, in node order
      var tips = [];
      svg.querySelectorAll("g.node").forEach(function (n) {
        tips.push([Number(n.getAttribute("data-i")), n.querySelector("title").textContent]);
      });
      tips.sort(function (a, b) { return a[0] - b[0]; });
      r.tips = tips.map(function (t) { return t[1]; });
    }
    var first = svg.querySelector("g.node");
    click(first);
    r.highlighted = svg.querySelectorAll("g.node.hl").length;
    click(first);
    var search = box.querySelector(".toolbar input[type=search]");
    if (term) {
      type(search, term);
      await sleep(SEARCH_WAIT);
      r.searchDrawn = drawn();
      r.searchLabels = Array.prototype.map.call(svg.querySelectorAll("g.node title"),
        function (x) { return x.textContent.split("\n")[0]; }).slice(0, 50);
      type(search, "");
      await sleep(SEARCH_WAIT);
    }
    if (params.showall !== undefined) {
      var all = box.querySelector(".toolbar input[type=checkbox]");  // "Show all N nodes"
      var t1 = performance.now();
      all.checked = true;
      all.dispatchEvent(new Event("change", {bubbles: true}));
      r.allDrawn = drawn();
      r.allMs = Math.round(performance.now() - t1);
      all.checked = false;
      all.dispatchEvent(new Event("change", {bubbles: true}));
    }
    return r;
  }

  // ---- the page ----------------------------------------------------------------------
  async function run(t0) {
    var DATA = JSON.parse(d.getElementById("pdebug-data").textContent);
    var term = params.selftest || "";
    var res = {proxies: DATA.proxies.length, overview: null, results: []};
    var broken = d.querySelector("#app > .errbox");
    if (broken) { errors.push(broken.textContent); }
    var ov = section("overview");
    if (ov) { res.overview = {rows: DATA.overview.rows.length, shown: shownRows(ov).length}; }
    var amb = section("ambient");
    if (amb) {
      var badges = function (cls) { return amb.querySelectorAll("tbody .badge." + cls).length; };
      res.ambient = {rows: DATA.ambient.rows.length, shown: shownRows(amb).length,
        bad: badges("bad"), warn: badges("warn"), ok: badges("ok")};
      if (term) {
        await setFilter(amb, term);
        res.ambient.filtered = shownRows(amb);
        await setFilter(amb, "");
      }
    }
    var picker = d.querySelector("header.top select");
    var start = picker ? picker.value : null;
    var limit = Math.min(DATA.proxies.length, 20);
    for (var i = 0; i < limit; i++) {
      if (picker) {
        picker.value = String(i);
        picker.dispatchEvent(new Event("change", {bubbles: true}));
      }
      var p = DATA.proxies[i];
      var pr = {name: p.name, tables: {}, graph: {}};
      var specs = [p.findings].concat(p.tables);
      for (var k = 0; k < specs.length; k++) {
        pr.tables[specs[k].id] = await exerciseTable(specs[k], term);
      }
      pr.graph = await exerciseGraph(p.graph, term);
      res.results.push(pr);
    }
    if (picker) {
      picker.value = start;
      picker.dispatchEvent(new Event("change", {bubbles: true}));
    }
    res.images = d.querySelectorAll("img").length;
    res.resources = performance.getEntriesByType("resource").map(function (e) { return e.name; });
    res.scripts = d.querySelectorAll("script:not(#pdebug-selftest-harness)").length;
    res.title = d.title;
    res.renderMs = Math.round(t0);
    res.selftestMs = Math.round(performance.now() - t0);
    return res;
  }

  window.addEventListener("load", function () {
    var t0 = performance.now();
    run(t0).catch(function (e) {
      errors.push(String(e && e.stack || e));
      return {};
    }).then(function (res) {
      res.errors = errors;
      var pre = d.createElement("pre");
      pre.id = "pdebug-selftest";
      pre.hidden = true;
      pre.textContent = JSON.stringify(res);
      d.body.appendChild(pre);
    });
  });
})();
