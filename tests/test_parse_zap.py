"""ZAP traditional JSON (mpo artifacts) and XML (DefectDojo samples)."""

import json

from conftest import DOJO, MPO, requires_corpus
from hypothesis import given, settings
from hypothesis import strategies as st

from secai.ingest.collect import collect, parse_file
from secai.ingest.parsers.zap import html_to_text, split_urls

FULL = MPO / "zap-full-scan-webauthn-server" / "report_json.json"
BASELINE = MPO / "zap-baseline-scan-webauthn-test-credentials-service" / "report_json.json"


@requires_corpus
def test_full_scan_one_finding_per_alert_with_all_instances():
    findings, fmt = parse_file(FULL)
    assert fmt == "zap-json"
    assert len(findings) == 8
    assert sum(len(f.instances) for f in findings) == 28
    by_rule = {f.rule_id: f for f in findings}
    # The four Sec-Fetch-* alerts share pluginid 90005; alertRef keeps them apart.
    assert {"90005-1", "90005-2", "90005-3", "90005-4"} <= set(by_rule)
    cors = by_rule["40040-2"]
    assert cors.title == "CORS Misconfiguration"
    assert cors.severity.value == "medium" and cors.raw_severity == "Medium (High)"
    assert cors.cwe == [942]
    assert cors.extra["pluginid"] == "40040" and cors.extra["wascid"] == "14"
    assert cors.category.value == "dast"
    assert cors.tool == "zap" and cors.tool_version == "2.16.1"
    assert cors.url == "http://localhost:8080"
    assert [i.url for i in cors.instances] == [
        "http://localhost:8080",
        "http://localhost:8080/",
        "http://localhost:8080/robots.txt",
        "http://localhost:8080/sitemap.xml",
    ]
    assert cors.instances[0].method == "GET"
    assert cors.instances[0].attack == "origin: http://1OJKbeTK.com"
    assert cors.references == [
        "https://developer.mozilla.org/en-US/docs/Web/HTTP/CORS",
        "https://portswigger.net/web-security/cors",
    ]
    assert "<p>" not in cors.description and cors.description.startswith("This CORS misconfiguration")
    assert cors.remediation.startswith("If a web resource contains sensitive information")
    spectre = by_rule["90004-1"]
    assert spectre.severity.value == "low" and spectre.cwe == [693] and len(spectre.instances) == 2
    assert spectre.instances[0].param == "Cross-Origin-Resource-Policy"
    assert by_rule["10049-3"].severity.value == "info"
    assert sorted(f.severity.value for f in findings).count("info") == 5


@requires_corpus
def test_baseline_scan_one_alert():
    findings, _ = parse_file(BASELINE)
    assert len(findings) == 1
    (f,) = findings
    assert f.rule_id == "10049-3" and f.title == "Storable and Cacheable Content"
    assert f.url == "http://localhost:8081" and len(f.instances) == 1 and f.cwe == [524]
    assert f.references == [
        "https://datatracker.ietf.org/doc/html/rfc7234",
        "https://datatracker.ietf.org/doc/html/rfc7231",
        "https://www.w3.org/Protocols/rfc2616/rfc2616-sec13.html",
    ]


@requires_corpus
def test_both_mpo_reports_together_keep_every_alert():
    result = collect([FULL.parent.parent])
    zap = [f for f in result.findings if f.tool == "zap"]
    # Same alert on two different sites: two findings, told apart by URL.
    assert len(zap) == 9
    assert len({f.fingerprint for f in zap}) == 9


@requires_corpus
def test_xml_some_findings():
    findings, fmt = parse_file(DOJO / "zap" / "some_2.9.0.xml")
    assert fmt == "zap-xml"
    assert len(findings) == 7  # DefectDojo: 7
    first = findings[0]
    assert first.rule_id == "10011" and first.title == "Cookie Without Secure Flag"
    assert first.severity.value == "low" and first.cwe == [614] and first.tool_version == "2.9.0"
    assert [(i.param, i.evidence) for i in first.instances] == [
        ("opvc", "Set-Cookie: opvc"),
        ("dmid", "Set-Cookie: dmid"),
        ("sitevisitscookie", "Set-Cookie: sitevisitscookie"),
    ]
    # The XML holds escaped HTML; it comes out as text.
    assert first.description == (
        "A cookie has been set without the secure flag, which means that the cookie can be accessed "
        "via unencrypted connections."
    )
    assert first.references == ["http://www.owasp.org/index.php/Testing_for_cookies_attributes_(OWASP-SM-002)"]
    timestamp = next(f for f in findings if f.rule_id == "10096")
    assert timestamp.severity.value == "info" and timestamp.cwe == [200] and len(timestamp.instances) == 4
    assert sum(len(f.instances) for f in findings) == 17


@requires_corpus
def test_xml_sample_skips_commented_alert_and_splits_run_together_urls():
    findings, _ = parse_file(DOJO / "zap" / "0_zap_sample.xml")
    assert [f.rule_id for f in findings] == ["10011", "10054", "10055", "10096"]
    # DefectDojo titles from <alert>, which this sample prefixes.
    assert findings[0].title == "zap1: Cookie Without Secure Flag"
    csp = findings[2]
    assert csp.severity.value == "medium"
    assert csp.references == [
        "http://www.w3.org/TR/CSP2/",
        "http://www.w3.org/TR/CSP/",
        "http://caniuse.com/#search=content+security+policy",
        "http://content-security-policy.com/",
        "https://github.com/shapesecurity/salvation",
    ]
    assert [i.url for i in findings[0].instances] == [
        "https://mainsite.com/dashboard",
        "https://mainsite.com/dashboard",
        "https://mainsite.com",
    ]


@requires_corpus
def test_xml_empty_report():
    findings, fmt = parse_file(DOJO / "zap" / "empty_2.9.0.xml")
    assert fmt == "zap-xml" and findings == []


def test_html_is_read_as_text_never_rendered():
    text = html_to_text("<p>one &amp; two</p><script>alert(1)</script><p>three<br>four</p>")
    assert text == "one & two\nthree\nfour"
    assert split_urls("see https://a.example/x https://b.example/yhttp://c.example/z") == [
        "https://a.example/x",
        "https://b.example/y",
        "http://c.example/z",
    ]


def test_malformed_site_or_alert_is_skipped_with_a_note(tmp_path):
    bad = tmp_path / "zap.json"
    bad.write_text(
        json.dumps({"@programName": "ZAP", "@version": "2.16.1", "site": [{"@name": "x", "alerts": "nope"}]})
    )
    findings, _ = parse_file(bad)
    assert findings == [] and findings.skipped == ["site[0]: 'alerts' is not a list"]
    good = {"pluginid": "2", "alert": "ok", "riskcode": "1", "instances": [{"uri": "https://a.example/"}]}
    bad.write_text(
        json.dumps({"@version": "2.16.1", "site": [{"alerts": [{"pluginid": "1", "instances": {"a": 1}}, good]}]})
    )
    findings, _ = parse_file(bad)
    assert [f.rule_id for f in findings] == ["2"]
    assert findings.skipped == ["site[0].alerts[0]: ValueError: alert 'instances' is not a list"]


def _parser_text(fragment: str) -> str:
    """html_to_text through the HTML parser alone (no shortcut for bare block tags)."""
    from secai.ingest.parsers.zap import _TextOnly

    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


# Tags the shortcut turns into line breaks, look-alikes it must leave to the parser (a vertical
# tab ends no tag name there; a dotless i is no ASCII "i"), text, and other markup.
_BARE = ["<p>", "</p>", "<P >", "</P\n>", "<br>", "<br/>", "<BR />", "</br>", "<li>", "</li>", "<h2>", "<pre>"]
_LOOKALIKES = ["<p\x0b>", "</p\x0b>", "<l\u0131>", "</ p>", "<p/ >", "<p class='x'>", "<br//>"]
_TEXT = ["text", "more text", " ", "\n", "\r\n", "\t", "\u00a0", "x", ">", "a > b"]
_OTHER = ["<b>", "</b>", "<script>", "</script>", "<!-- <p> -->", "&amp;", "&", "&#60;p&#62;", "<", "a < b"]


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(_BARE + _TEXT), max_size=12), st.sampled_from(_LOOKALIKES + _OTHER + [""]))
def test_bare_block_tag_shortcut_reads_like_the_parser(pieces, odd):
    for fragment in ("".join(pieces), "".join(pieces[:3] + ["x", odd, "y"] + pieces[3:])):
        assert html_to_text(fragment) == _parser_text(fragment)


@requires_corpus
def test_bare_block_tag_shortcut_on_every_zap_field_of_the_corpus():
    fields = [
        alert.get(key)
        for site in json.loads(FULL.read_text())["site"] + json.loads(BASELINE.read_text())["site"]
        for alert in site["alerts"]
        for key in ("desc", "solution", "otherinfo", "reference")
    ]
    fields = [f for f in fields if f]
    assert len(fields) > 20
    assert [html_to_text(f) for f in fields] == [_parser_text(f) for f in fields]
