"""OWASP ZAP traditional JSON report (`@programName`/`@version`, `site[].alerts[]`).

One finding per alert per site, with every instance kept. The alert conversion here is shared
with the XML report (`zap_xml.py`), which is the same data in another envelope.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from secai.errors import ParseError
from secai.findings import Category, Finding, Instance, Severity, build_finding, cwe_ids, severity_from_text, unique
from secai.ingest.parsers._values import str_or_error
from secai.ingest.parsers.base import Findings

NAME = "zap-json"
KIND = "json"

_RISK = {"3": Severity.high, "2": Severity.medium, "1": Severity.low, "0": Severity.info}
_BLOCK_TAGS = {"p", "br", "li", "div", "tr", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}
_URL_RE = re.compile(r"https?://.+?(?=https?://|$)")


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment; block elements become line breaks. Nothing is
    rendered or fetched, scripts and styles are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


# ZAP's usual markup: block tags without attributes (`<p>`, `</p>`, `<br/>`), each a line break
# as `_TextOnly` makes it; ASCII case and whitespace, as the parser reads tag names.
_TAG_NAMES = "|".join(sorted(_BLOCK_TAGS))
_BARE_BLOCK_TAG = re.compile(
    rf"<(?:/(?:{_TAG_NAMES})[ \t\n\r\f]*|(?:{_TAG_NAMES})[ \t\n\r\f]*/?)>", re.IGNORECASE | re.ASCII
)


def html_to_text(fragment: Any) -> str:
    """Plain text of ZAP's HTML-ish fields, one paragraph per line."""
    if fragment is None:
        return ""
    fragment = str(fragment)
    text = _BARE_BLOCK_TAG.sub("\n", fragment)
    if "<" in text or "&" in text:  # other markup or character references: the full parser
        parser = _TextOnly()
        parser.feed(fragment)
        parser.close()
        text = "".join(parser.parts)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def split_urls(text: str) -> list[str]:
    """URLs from a reference field; ZAP sometimes runs them together without a separator."""
    urls: list[str] = []
    for token in text.split():
        urls.extend(m.group(0) for m in _URL_RE.finditer(token))
    return unique(urls)


def _severity(alert: dict) -> tuple[Severity, str | None]:
    code = str_or_error(alert.get("riskcode"), "riskcode")
    raw = str_or_error(alert.get("riskdesc"), "riskdesc")
    if code in _RISK:
        return _RISK[code], raw
    # No usable risk code: the first word of "Medium (High)" is the risk.
    word = raw.split()[0] if raw else None
    return severity_from_text(word), raw


def _instances(raw: Any, site: str | None) -> list[Instance]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("alert 'instances' is not a list")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError("alert instance is not an object")
        url = str_or_error(item.get("uri"), "uri") or site
        if not url:
            continue
        out.append(
            Instance(
                url=url,
                method=str_or_error(item.get("method"), "method"),
                param=str_or_error(item.get("param"), "param"),
                attack=str_or_error(item.get("attack"), "attack"),
                evidence=str_or_error(item.get("evidence"), "evidence"),
            )
        )
    return out


def alert_finding(alert: dict, site: str | None, tool_version: str | None, source: str) -> Finding:
    """One finding from a ZAP alert (a dict of the alert's fields, as in the JSON report)."""
    if not isinstance(alert, dict):
        raise ValueError("alert is not an object")
    plugin = str_or_error(alert.get("pluginid"), "pluginid")
    alert_ref = str_or_error(alert.get("alertRef"), "alertRef")
    # Several alerts of one plugin (90005-1..4: each Sec-Fetch-* header) are distinct findings;
    # alertRef tells them apart where pluginid alone would not.
    rule_id = alert_ref or plugin
    title = str_or_error(alert.get("alert"), "alert") or str_or_error(alert.get("name"), "name")
    if not rule_id and not title:
        raise ValueError("alert has neither pluginid nor name")
    severity, raw = _severity(alert)
    instances = _instances(alert.get("instances"), site)
    description = html_to_text(str_or_error(alert.get("desc"), "desc"))
    remediation = html_to_text(str_or_error(alert.get("solution"), "solution")) or None
    other = html_to_text(str_or_error(alert.get("otherinfo"), "otherinfo"))
    extra: dict[str, Any] = {
        k: v
        for k, v in {
            "pluginid": plugin,
            "alertRef": alert_ref,
            "wascid": str_or_error(alert.get("wascid"), "wascid"),
            "confidence": str_or_error(alert.get("confidence"), "confidence"),
            "count": str_or_error(alert.get("count"), "count"),
            "site": site,
            "otherinfo": other or None,
        }.items()
        if v
    }
    return build_finding(
        {
            "tool": "zap",
            "tool_version": tool_version,
            "rule_id": rule_id or title,
            "title": title or rule_id,
            "severity": severity,
            "raw_severity": raw,
            "category": Category.dast,
            "cwe": cwe_ids(str_or_error(alert.get("cweid"), "cweid")),
            "url": instances[0].url if instances else site,
            "instances": instances,
            "message": description.split("\n", 1)[0] if description else (title or ""),
            "description": description or None,
            "remediation": remediation,
            "references": split_urls(html_to_text(str_or_error(alert.get("reference"), "reference"))),
            "source": source,
            "extra": extra,
        }
    )


def detect(doc: Any) -> bool:
    return isinstance(doc, dict) and "site" in doc and any(k in doc for k in ("@programName", "@version", "@generated"))


def parse(doc: Any, source: str) -> Findings:
    sites = doc.get("site")
    if isinstance(sites, dict):  # a single site is sometimes written as an object
        sites = [sites]
    if sites is None:
        return Findings()
    if not isinstance(sites, list):
        raise ParseError(source, "ZAP report 'site' is not a list")
    version = str_or_error(doc.get("@version"), "@version")
    found = Findings()
    for i, site in enumerate(sites):
        with found.item(f"site[{i}]"):
            if not isinstance(site, dict):
                raise ParseError(source, "site is not an object")
            alerts = site.get("alerts") or []
            if not isinstance(alerts, list):
                raise ParseError(source, "'alerts' is not a list")
            name = str_or_error(site.get("@name"), "@name")
            for j, alert in enumerate(alerts):
                with found.item(f"site[{i}].alerts[{j}]"):
                    found.append(alert_finding(alert, name, version, source))
    return found
