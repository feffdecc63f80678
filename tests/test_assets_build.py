"""Checks on the browser assets (assets/) and their build inputs (build/package*.json, build/assets.sh).

Nothing heavy runs here: no npm, no Tailwind. The tests read the committed HTML, SVG, JS and CSS and
hold them to the enforcing CSP of product.md §9.6 (no inline scripts or styles, no inline handlers,
no eval, nothing from another origin), check that app.html renders as the Tornado template the server
uses, and — when Node.js is on the PATH — syntax-check every ES module and exercise the pure helpers.
If build/assets.sh has been run, the compiled assets/dist/app.css is checked too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
BUILD = ROOT / "build"
DIST_CSS = ASSETS / "dist" / "app.css"

HTML_FILES = sorted(p for p in (ASSETS / "html").rglob("*.html"))
SVG_FILES = sorted((ASSETS / "img").rglob("*.svg"))
JS_FILES = sorted((ASSETS / "js").rglob("*.js"))
CSS_SOURCES = sorted((ASSETS / "css").rglob("*.css"))

REQUIRED_HTML = {"app.html", "login.html", "forbidden.html", "not_found.html"}
REQUIRED_JS = {
    "app.js", "api.js", "dom.js", "format.js", "ui.js", "login.js", "shell.js", "search.js", "health.js", "ws.js",
    "pages/dashboard.js", "pages/account.js", "pages/placeholder.js",
}
SIGNED_IN_PAGES = [
    "dashboard", "topology", "flows", "events", "admin-nodes", "admin-users", "admin-audit-log", "admin-settings",
    "ai-assistant", "ai-keys", "account", "node-detail", "node-config",
]

node_bin = shutil.which("node")
needs_node = pytest.mark.skipif(node_bin is None, reason="Node.js is not installed (only needed to build the assets)")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def render_app_html(page: str = "dashboard", version: str = "1.0.0") -> str:
    """Render app.html the way the server does: a Tornado template with page, version and static_url."""
    from tornado.template import Template

    source = (ASSETS / "html" / "app.html").read_text(encoding="utf-8")
    template = Template(source, name="app.html")
    out = template.generate(page=page, version=version, static_url=lambda path: f"/static/{path}?v=test")
    return out.decode("utf-8")


class CspAudit(HTMLParser):
    """Collects everything in an HTML/SVG document that the enforcing CSP would block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._in_script = False
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self._check(tag, attrs)

    def handle_startendtag(self, tag, attrs):
        self._check(tag, attrs)

    def _check(self, tag, attrs):
        amap = {name.lower(): value for name, value in attrs}
        self.tags.append((tag, amap))
        line = self.getpos()[0]
        for name, value in amap.items():
            if name.startswith("on"):
                self.problems.append(f"line {line}: inline handler {name}= on <{tag}>")
            if name == "style":
                self.problems.append(f"line {line}: style= attribute on <{tag}>")
            if name in {"href", "src", "action", "formaction", "xlink:href"} and value:
                v = value.strip().lower()
                if v.startswith("javascript:"):
                    self.problems.append(f"line {line}: javascript: URL in {name}=")
                if v.startswith(("http://", "https://", "//")):
                    self.problems.append(f"line {line}: {name}= loads from another origin: {value}")
        if tag == "script":
            self._in_script = True
            if not amap.get("src"):
                self.problems.append(f"line {line}: <script> without src (inline script)")
        if tag == "style":
            self._in_style = True
            self.problems.append(f"line {line}: <style> element (inline styles are blocked)")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"line {self.getpos()[0]}: inline script content")


def audit(text: str) -> CspAudit:
    parser = CspAudit()
    parser.feed(text)
    parser.close()
    return parser


def strip_js_comments(source: str) -> str:
    """Drop // and /* */ comments (good enough for our own modules; strings with // stay intact)."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    return re.sub(r"(^|[^:'\"`\\])//[^\n]*", r"\1", source)


# ------------------------------------------------------------------------------------------------
# Files that must exist


def test_required_files_exist():
    html_names = {p.name for p in HTML_FILES}
    assert REQUIRED_HTML <= html_names, f"missing HTML: {REQUIRED_HTML - html_names}"
    js_names = {str(p.relative_to(ASSETS / "js")) for p in JS_FILES}
    assert REQUIRED_JS <= js_names, f"missing JS: {REQUIRED_JS - js_names}"
    assert (ASSETS / "img" / "favicon.svg").is_file()
    assert (ASSETS / "css" / "app.css").is_file()
    for name in ("package.json", "package-lock.json", "assets.sh"):
        assert (BUILD / name).is_file(), f"build/{name} missing"


def test_build_output_is_not_committed_source():
    ignore = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "assets/dist/" in ignore and "build/node_modules/" in ignore


# ------------------------------------------------------------------------------------------------
# CSP: HTML and SVG


@pytest.mark.parametrize("path", HTML_FILES, ids=rel)
def test_html_has_nothing_the_csp_blocks(path: Path):
    text = render_app_html() if path.name == "app.html" else path.read_text(encoding="utf-8")
    problems = audit(text).problems
    # Belt and braces for what a parser might normalise away.
    for match in re.finditer(r"<[a-zA-Z][^>]*\s(on[a-z]+|style)\s*=", text):
        problems.append(f"regex: {match.group(0)[:80]!r}")
    assert not problems, f"{rel(path)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", SVG_FILES, ids=rel)
def test_svg_has_no_script_or_inline_style(path: Path):
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    problems = audit(text).problems
    assert not problems, f"{rel(path)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", ["login.html", "forbidden.html", "not_found.html"])
def test_standalone_pages_need_no_template_engine(name: str):
    """These can be served as files or through render(); they must not depend on template syntax."""
    text = (ASSETS / "html" / name).read_text(encoding="utf-8")
    assert "{{" not in text and "{%" not in text
    assert 'href="/static/dist/app.css"' in text


def test_login_page_form_and_script():
    text = (ASSETS / "html" / "login.html").read_text(encoding="utf-8")
    parsed = audit(text)
    tags = parsed.tags
    scripts = [a for t, a in tags if t == "script"]
    assert scripts == [{"type": "module", "src": "/static/js/login.js"}]
    ids = {a.get("id") for _, a in tags}
    assert {"login-form", "username", "password", "login-submit", "login-error"} <= ids
    form = next(a for t, a in tags if t == "form")
    assert form.get("method") == "post", "without JS the form must never GET the password into a URL"
    assert "Sign in" in text


def test_error_pages_say_what_happened():
    assert "Not permitted" in (ASSETS / "html" / "forbidden.html").read_text(encoding="utf-8")
    assert "Page not found" in (ASSETS / "html" / "not_found.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# app.html as a Tornado template


@pytest.mark.parametrize("page", SIGNED_IN_PAGES)
def test_app_html_renders_for_every_page(page: str):
    html = render_app_html(page=page, version="1.2.3")
    assert f'data-page="{page}"' in html
    assert 'data-version="1.2.3"' in html
    assert "v1.2.3" in html
    assert 'src="/static/js/app.js?v=test"' in html
    assert 'href="/static/dist/app.css?v=test"' in html


def test_app_html_escapes_its_variables():
    html = render_app_html(page='x"><img src=x onerror=alert(1)>', version="<b>1</b>")
    assert "<img src=x" not in html and "<b>1</b>" not in html
    assert "&quot;&gt;&lt;img" in html


def test_app_html_shell_elements():
    html = render_app_html()
    ids = {a.get("id") for _, a in audit(html).tags}
    for element in ("sidebar", "topbar", "global-search", "ws-pill", "alarm-bell", "alarm-count", "alarm-panel",
                    "user-chip", "user-menu", "sign-out", "banner-self-signed", "cert-fingerprint-slot",
                    "banner-connection-lost", "page-root", "main", "toasts"):
        assert element in ids, f"#{element} missing from app.html"
    assert 'placeholder="Search nodes, events…"' in html
    for label in ("Dashboard", "Topology", "Flows", "Events", "Nodes", "Users", "Audit Log", "Settings", "AI Assistant", "AI Keys"):
        assert f">{label}</span>" in html, f"nav item {label} missing"
    # Users, Audit Log and Settings are hidden below admin until app.js checks the role.
    assert html.count('data-min-role="admin" hidden') == 3


# ------------------------------------------------------------------------------------------------
# CSP and safety: JavaScript


@pytest.mark.parametrize("path", JS_FILES, ids=rel)
def test_js_builds_dom_without_html_strings_or_eval(path: Path):
    code = strip_js_comments(path.read_text(encoding="utf-8"))
    problems = []
    # innerHTML/outerHTML only with a constant string literal (no template interpolation, no variables).
    for match in re.finditer(r"\.(innerHTML|outerHTML)\s*\+?=\s*([^;\n]*)", code):
        rhs = match.group(2).strip()
        constant = re.fullmatch(r"'[^'\\]*'|\"[^\"\\]*\"|`[^`$\\]*`", rhs)
        if not constant:
            problems.append(f"{match.group(1)} assigned a non-constant value: {match.group(0)[:80]!r}")
    for pattern, why in [
        (r"\binsertAdjacentHTML\s*\(", "insertAdjacentHTML"),
        (r"\bdocument\.write(ln)?\s*\(", "document.write"),
        (r"\beval\s*\(", "eval (blocked by CSP)"),
        (r"\bnew\s+Function\s*\(", "new Function (blocked by CSP)"),
        (r"\bset(Timeout|Interval)\s*\(\s*['\"`]", "string timer (eval)"),
        (r"setAttribute\(\s*['\"]style['\"]", "setAttribute('style') (blocked by CSP)"),
        (r"\.style\.cssText\s*=", "style.cssText"),
        (r"setAttribute\(\s*['\"]on[a-z]+['\"]", "inline handler attribute"),
        (r"createContextualFragment|DOMParser", "HTML parsing of strings"),
    ]:
        if re.search(pattern, code):
            problems.append(why)
    assert not problems, f"{rel(path)}: " + "; ".join(problems)


@pytest.mark.parametrize("path", JS_FILES + CSS_SOURCES, ids=rel)
def test_nothing_loads_from_another_origin(path: Path):
    text = path.read_text(encoding="utf-8")
    allowed = {"http://www.w3.org/2000/svg"}  # a namespace name, never fetched
    urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s'\"`)]*", text, flags=re.I))
    if path.suffix == ".css":
        urls = {u for u in urls if not u.startswith("//")}  # CSS comments, not imports
        assert "@import url(" not in text
    offenders = {u for u in urls if u not in allowed and not u.startswith("//")}
    # Comments may mention URLs; code may not fetch them.
    code = strip_js_comments(text) if path.suffix == ".js" else text
    offenders = {u for u in offenders if u in code}
    assert not offenders, f"{rel(path)} references other origins: {sorted(offenders)}"


def test_relative_imports_resolve():
    for path in JS_FILES:
        code = strip_js_comments(path.read_text(encoding="utf-8"))
        specifiers = re.findall(r"\bfrom\s+['\"]([^'\"]+)['\"]", code)
        specifiers += re.findall(r"\bimport\s*\(\s*['\"]([^'\"]+)['\"]\s*\)", code)
        for spec in specifiers:
            assert spec.startswith("./") or spec.startswith("../"), f"{rel(path)}: bare import {spec!r}"
            target = (path.parent / spec).resolve()
            if (ASSETS / "dist") in target.parents and not target.exists():
                continue  # a vendored library under assets/dist/, present once build/assets.sh has run
            assert target.is_file(), f"{rel(path)}: import {spec!r} does not resolve"


def test_page_modules_are_registered_and_export_mount():
    app = (ASSETS / "js" / "app.js").read_text(encoding="utf-8")
    registry = re.search(r"PAGE_MODULES\s*=\s*new Set\(\[([^\]]*)\]\)", app)
    assert registry, "app.js must list the page modules it imports"
    names = re.findall(r"'([a-z0-9-]+)'", registry.group(1))
    assert "dashboard" in names and "account" in names
    for name in names + ["placeholder"]:
        module = ASSETS / "js" / "pages" / f"{name}.js"
        assert module.is_file(), f"pages/{name}.js is registered but missing"
        assert re.search(r"export\s+(async\s+)?function\s+mount\s*\(", module.read_text(encoding="utf-8")), name
    assert not (ASSETS / "js" / "pages" / "app.js").exists()
    for module in (ASSETS / "js" / "pages").glob("*.js"):
        assert "app.js" not in module.read_text(encoding="utf-8"), f"{module.name} must not import app.js"


def test_placeholder_wording_is_plain():
    text = (ASSETS / "js" / "pages" / "placeholder.js").read_text(encoding="utf-8").lower()
    for phrase in ("next release", "coming soon", "not implemented", "under construction", "todo"):
        assert phrase not in text
    assert "no nodes yet — add node" in text


def test_login_error_messages_match_the_spec():
    text = (ASSETS / "js" / "login.js").read_text(encoding="utf-8")
    for message in (
        "Invalid username or password",
        "Too many attempts from this address — try again in ${left} s",
        "This account is locked for 15 minutes after repeated failures",
        "This account is disabled",
        "This account has expired",
    ):
        assert message in text


# ------------------------------------------------------------------------------------------------
# JavaScript syntax and pure helpers (Node.js, when present)


@needs_node
def test_every_module_parses(tmp_path: Path):
    for path in JS_FILES:
        copy = tmp_path / (str(path.relative_to(ASSETS / "js")).replace("/", "__") + ".mjs")
        copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        result = subprocess.run([node_bin, "--check", str(copy)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{rel(path)}:\n{result.stderr}"


def run_node_module(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([node_bin, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30,
                          cwd=ASSETS / "js")


@needs_node
def test_format_helpers():
    script = """
    import * as f from './format.js';
    const now = Date.parse('2026-05-18T00:36:51Z');
    console.log(JSON.stringify({
      bitrate: [4380000, 812500, 1.2e9, 62580000, 999999, null, undefined, NaN, -5].map(f.formatBitrate),
      duration: [45, 180, 8040, 442900, null].map(f.formatDuration),
      relative: ['2026-05-18T00:36:15Z', '2026-05-18T00:32:51Z', 'nonsense'].map((t) => f.formatRelative(t, now)),
      badge: [0, 5, 99, 100, 1234].map(f.formatBadgeCount),
      initials: [f.initials('Field Engineer'), f.initials('fieldeng')],
      absolute: f.formatAbsolute('2026-05-18T00:36:15.123Z', 'UTC'),
    }));
    """
    result = run_node_module(script)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["bitrate"] == ["4.38 Mbps", "812.50 kbps", "1.20 Gbps", "62.58 Mbps", "1.00 Mbps", "--", "--", "--", "--"]
    assert out["duration"] == ["45s", "3m", "2h 14m", "5d 3h", "--"]
    assert out["relative"] == ["36s ago", "4m ago", "--"]
    assert out["badge"] == ["", "5", "99", "99+", "99+"]
    assert out["initials"] == ["FE", "FI"]
    assert out["absolute"] == "2026-05-18 00:36:15 UTC"


@needs_node
def test_next_path_validation():
    cases = {
        "/dashboard": "/dashboard",
        "/nodes/95dcbe6e?tab=flows#x": "/nodes/95dcbe6e?tab=flows#x",
        "//evil.example": None,
        "/\\evil.example": None,
        "\\\\evil.example": None,
        "https://evil.example/": None,
        "/\t/evil.example": None,
        "/\n/evil.example": None,
        "dashboard": None,
        "": None,
        "/" + "a" * 511: "/" + "a" * 511,
        "/" + "a" * 512: None,
    }
    script = (
        "import { safeNextPath } from './api.js';\n"
        f"const cases = {json.dumps(list(cases))};\n"
        "console.log(JSON.stringify(cases.map(safeNextPath)));\n"
    )
    result = run_node_module(script)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == list(cases.values())


@needs_node
def test_api_error_carries_the_error_body():
    script = """
    import { ApiError, hasRole } from './api.js';
    const e = new ApiError(429, {error: 'Too many', code: 'rate_limited', retry_after_secs: 42});
    const n = new ApiError(422, {error: 'Port conflict', code: 'node_rejected', node_error_code: 'port_conflict'});
    const x = new ApiError(0, {}, 'offline');
    console.log(JSON.stringify([e.status, e.code, e.error, e.retry_after_secs, n.node_error_code, x.code, x.message,
      hasRole({role: 'operator'}, 'viewer'), hasRole({role: 'operator'}, 'admin'), hasRole({role: 'bogus'}, 'viewer')]));
    """
    result = run_node_module(script)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [429, "rate_limited", "Too many", 42, "port_conflict", "network_error", "offline",
                                         True, False, False]


# ------------------------------------------------------------------------------------------------
# Build inputs


def test_npm_dependencies_are_pinned_exactly():
    package = json.loads((BUILD / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((BUILD / "package-lock.json").read_text(encoding="utf-8"))
    deps = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    assert {"tailwindcss", "@tailwindcss/cli", "uplot", "cytoscape"} <= set(deps)
    assert lock.get("lockfileVersion") == 3
    for name, spec in deps.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec), f"{name} is not pinned exactly: {spec}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == spec, f"lockfile out of sync for {name}"
    for key, entry in lock["packages"].items():
        if not key or entry.get("inBundle"):
            continue  # the root project, and files shipped inside another package's tarball
        # `resolved` may be omitted (npm's omit-lockfile-registry-resolved); when present it must be the registry.
        resolved = entry.get("resolved")
        assert resolved is None or resolved.startswith("https://registry.npmjs.org/"), f"{key} not from the npm registry"
        assert entry.get("integrity", "").startswith("sha512-"), f"{key} has no integrity hash"


def test_build_script_shape():
    script = (BUILD / "assets.sh").read_text(encoding="utf-8")
    assert script.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in script
    assert "npm ci" in script and "--minify" in script
    for vendored in ("uPlot.esm.js", "uPlot.min.css", "cytoscape.esm.min.js", "cytoscape.min.js"):
        assert vendored in script
    assert "curl " not in script and "wget " not in script


# ------------------------------------------------------------------------------------------------
# Compiled output (only after build/assets.sh has run)


@pytest.mark.skipif(not DIST_CSS.is_file(), reason="assets/dist/app.css not built (run build/assets.sh)")
def test_compiled_css_has_the_classes_the_pages_use():
    css = DIST_CSS.read_text(encoding="utf-8")
    assert len(css) > 10_000 and "\n\n" not in css[:2000], "expected minified Tailwind output"
    # Classes from login.html and the shell, as Tailwind escapes them.
    for selector in (".card", ".wordmark", ".wordmark-sub", ".btn-primary", ".input", ".label", ".form-error",
                     ".max-w-sm", ".min-h-full", ".bg-page", ".sr-only", ".nav-item", ".ws-pill", ".badge-count",
                     r".lg\:w-\[250px\]", r".max-lg\:sr-only", ".text-crit", ".text-ok", ".sev-critical"):
        assert selector in css, f"{selector} missing from assets/dist/app.css"
    assert "#0f172a" in css.lower() and "#1e293b" in css.lower()
    assert "prefers-reduced-motion" in css
    assert "http://" not in css and "https://tailwindcss.com" in css  # only the licence banner


@pytest.mark.skipif(not (ASSETS / "dist" / "vendor").is_dir(), reason="assets/dist/vendor not built (run build/assets.sh)")
def test_vendored_libraries_are_present():
    vendor = ASSETS / "dist" / "vendor"
    for name in ("uPlot.esm.js", "uPlot.iife.min.js", "uPlot.min.css", "cytoscape.esm.min.js", "cytoscape.min.js", "VERSIONS"):
        assert (vendor / name).is_file() and (vendor / name).stat().st_size > 0, name
    versions = (vendor / "VERSIONS").read_text(encoding="utf-8")
    lock = json.loads((BUILD / "package-lock.json").read_text(encoding="utf-8"))
    for pkg in ("uplot", "cytoscape", "tailwindcss"):
        assert f"{pkg} {lock['packages'][f'node_modules/{pkg}']['version']}" in versions
