"""OWASP ZAP traditional XML report (`OWASPZAPReport` root): the JSON report's data as XML.

Each `alertitem` becomes the dict the JSON report would hold and goes through the same
conversion, so both reports of one scan give the same findings.
"""

from __future__ import annotations

from typing import Any

from secai.errors import ParseError
from secai.ingest.parsers._values import xml_local_name
from secai.ingest.parsers.base import Findings
from secai.ingest.parsers.zap import alert_finding

NAME = "zap-xml"
KIND = "xml"


def _alert_dict(item) -> dict:
    alert: dict[str, Any] = {}
    for child in item:
        tag = xml_local_name(child.tag)
        if tag == "instances":
            alert["instances"] = [
                {xml_local_name(field.tag): field.text or "" for field in inst}
                for inst in child
                if xml_local_name(inst.tag) == "instance"
            ]
        elif tag and len(child) == 0:
            alert[tag] = child.text or ""
    return alert


def detect(root: Any) -> bool:
    return xml_local_name(root.tag) == "OWASPZAPReport"


def parse(root: Any, source: str) -> Findings:
    version = root.get("version")
    found = Findings()
    sites = [site for site in root if xml_local_name(site.tag) == "site"]
    for i, site in enumerate(sites):
        name = site.get("name")
        items = [item for alerts in site if xml_local_name(alerts.tag) == "alerts" for item in alerts]
        for j, item in enumerate(items):
            with found.item(f"site[{i}].alerts[{j}]"):
                if xml_local_name(item.tag) != "alertitem":
                    raise ParseError(source, f"unexpected <{xml_local_name(item.tag)[:40]}> in ZAP <alerts>")
                found.append(alert_finding(_alert_dict(item), name, version, source))
    return found
