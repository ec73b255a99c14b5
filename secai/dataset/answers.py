"""The grounded assistant answer for one finding: built only from the scanner's own facts.

The structure is the analysis format of `secai.analysis.prompts` (so the tuned model's output parses
like any analysis), filled the same way for every finding:

    Verdict: <what the scanner's facts support: confidence, matched version, suppression>
    Risk: <tool> reports <id> (<severity>) in <package> <version> | at <path>:<line> | on <url>.
          <title>. CWE-<n> (<name>). <the scanner's description, trimmed>
    Remediation: <upgrade to the chosen fixed version | the scanner's remediation + location |
          rotate the secret | an honest "no fixed version / no remediation is published" with
          what to do meanwhile>

Nothing is invented: versions, paths and ids are copied from the finding, and every string goes
through the redaction layer once more. Every fact in an answer is also in the prompt the model
sees (secai.analysis.prompts), so training teaches copying, not recall: the scanner's reference links are
left out of both (they cost prompt tokens on every analysis, and a model trained to write links
it was not shown learns to invent them).
"""

from __future__ import annotations

import re

from secai.analysis.prompts import Verdict, format_answer
from secai.findings import Category, Finding, canonical_tool
from secai.ingest.redact import redact_text

#: Names of the CWEs common in scanner output (MITRE CWE short names).
CWE_NAMES: dict[int, str] = {
    15: "External Control of System or Configuration Setting",
    16: "Configuration",
    20: "Improper Input Validation",
    22: "Path Traversal",
    23: "Relative Path Traversal",
    36: "Absolute Path Traversal",
    59: "Improper Link Resolution Before File Access",
    73: "External Control of File Name or Path",
    74: "Injection",
    77: "Command Injection",
    78: "OS Command Injection",
    79: "Cross-site Scripting",
    88: "Argument Injection",
    89: "SQL Injection",
    90: "LDAP Injection",
    91: "XML Injection",
    93: "CRLF Injection",
    94: "Code Injection",
    95: "Eval Injection",
    99: "Resource Injection",
    113: "HTTP Response Splitting",
    116: "Improper Encoding or Escaping of Output",
    117: "Improper Output Neutralization for Logs",
    119: "Improper Restriction of Operations within the Bounds of a Memory Buffer",
    120: "Classic Buffer Overflow",
    121: "Stack-based Buffer Overflow",
    122: "Heap-based Buffer Overflow",
    125: "Out-of-bounds Read",
    134: "Use of Externally-Controlled Format String",
    172: "Encoding Error",
    173: "Improper Handling of Alternate Encoding",
    176: "Improper Handling of Unicode Encoding",
    190: "Integer Overflow or Wraparound",
    191: "Integer Underflow",
    200: "Exposure of Sensitive Information to an Unauthorized Actor",
    201: "Insertion of Sensitive Information Into Sent Data",
    209: "Generation of Error Message Containing Sensitive Information",
    215: "Insertion of Sensitive Information Into Debugging Code",
    250: "Execution with Unnecessary Privileges",
    252: "Unchecked Return Value",
    259: "Use of Hard-coded Password",
    264: "Permissions, Privileges, and Access Controls",
    269: "Improper Privilege Management",
    273: "Improper Check for Dropped Privileges",
    276: "Incorrect Default Permissions",
    284: "Improper Access Control",
    285: "Improper Authorization",
    287: "Improper Authentication",
    295: "Improper Certificate Validation",
    306: "Missing Authentication for Critical Function",
    311: "Missing Encryption of Sensitive Data",
    312: "Cleartext Storage of Sensitive Information",
    319: "Cleartext Transmission of Sensitive Information",
    320: "Key Management Errors",
    321: "Use of Hard-coded Cryptographic Key",
    322: "Key Exchange without Entity Authentication",
    323: "Reusing a Nonce, Key Pair in Encryption",
    326: "Inadequate Encryption Strength",
    327: "Use of a Broken or Risky Cryptographic Algorithm",
    328: "Use of Weak Hash",
    329: "Generation of Predictable IV with CBC Mode",
    330: "Use of Insufficiently Random Values",
    331: "Insufficient Entropy",
    338: "Use of Cryptographically Weak Pseudo-Random Number Generator",
    345: "Insufficient Verification of Data Authenticity",
    346: "Origin Validation Error",
    347: "Improper Verification of Cryptographic Signature",
    352: "Cross-Site Request Forgery",
    353: "Missing Support for Integrity Check",
    362: "Race Condition",
    367: "Time-of-check Time-of-use Race Condition",
    377: "Insecure Temporary File",
    378: "Creation of Temporary File With Insecure Permissions",
    379: "Creation of Temporary File in Directory with Insecure Permissions",
    384: "Session Fixation",
    390: "Detection of Error Condition Without Action",
    396: "Declaration of Catch for Generic Exception",
    398: "Indicator of Poor Code Quality",
    399: "Resource Management Errors",
    400: "Uncontrolled Resource Consumption",
    401: "Missing Release of Memory after Effective Lifetime",
    404: "Improper Resource Shutdown or Release",
    407: "Inefficient Algorithmic Complexity",
    409: "Improper Handling of Highly Compressed Data (Data Amplification)",
    415: "Double Free",
    416: "Use After Free",
    425: "Direct Request (Forced Browsing)",
    434: "Unrestricted Upload of File with Dangerous Type",
    444: "HTTP Request Smuggling",
    451: "User Interface Misrepresentation of Critical Information",
    457: "Use of Uninitialized Variable",
    470: "Use of Externally-Controlled Input to Select Classes or Code",
    471: "Modification of Assumed-Immutable Data",
    476: "NULL Pointer Dereference",
    477: "Use of Obsolete Function",
    489: "Active Debug Code",
    497: "Exposure of Sensitive System Information to an Unauthorized Control Sphere",
    501: "Trust Boundary Violation",
    502: "Deserialization of Untrusted Data",
    521: "Weak Password Requirements",
    522: "Insufficiently Protected Credentials",
    524: "Use of Cache Containing Sensitive Information",
    525: "Use of Web Browser Cache Containing Sensitive Information",
    532: "Insertion of Sensitive Information into Log File",
    538: "Insertion of Sensitive Information into Externally-Accessible File or Directory",
    548: "Exposure of Information Through Directory Listing",
    552: "Files or Directories Accessible to External Parties",
    561: "Dead Code",
    563: "Assignment to Variable without Use",
    565: "Reliance on Cookies without Validation and Integrity Checking",
    570: "Expression is Always False",
    571: "Expression is Always True",
    601: "Open Redirect",
    611: "XML External Entity Reference",
    613: "Insufficient Session Expiration",
    614: "Sensitive Cookie in HTTPS Session Without 'Secure' Attribute",
    617: "Reachable Assertion",
    628: "Function Call with Incorrectly Specified Arguments",
    639: "Authorization Bypass Through User-Controlled Key",
    640: "Weak Password Recovery Mechanism for Forgotten Password",
    643: "XPath Injection",
    668: "Exposure of Resource to Wrong Sphere",
    674: "Uncontrolled Recursion",
    676: "Use of Potentially Dangerous Function",
    682: "Incorrect Calculation",
    685: "Function Call With Incorrect Number of Arguments",
    693: "Protection Mechanism Failure",
    697: "Incorrect Comparison",
    703: "Improper Check or Handling of Exceptional Conditions",
    704: "Incorrect Type Conversion or Cast",
    732: "Incorrect Permission Assignment for Critical Resource",
    754: "Improper Check for Unusual or Exceptional Conditions",
    755: "Improper Handling of Exceptional Conditions",
    759: "Use of a One-Way Hash without a Salt",
    770: "Allocation of Resources Without Limits or Throttling",
    772: "Missing Release of Resource after Effective Lifetime",
    776: "XML Entity Expansion",
    787: "Out-of-bounds Write",
    798: "Use of Hard-coded Credentials",
    829: "Inclusion of Functionality from Untrusted Control Sphere",
    834: "Excessive Iteration",
    835: "Infinite Loop",
    843: "Type Confusion",
    862: "Missing Authorization",
    863: "Incorrect Authorization",
    908: "Use of Uninitialized Resource",
    913: "Improper Control of Dynamically-Managed Code Resources",
    915: "Mass Assignment",
    916: "Use of Password Hash With Insufficient Computational Effort",
    917: "Expression Language Injection",
    918: "Server-Side Request Forgery",
    922: "Insecure Storage of Sensitive Information",
    926: "Improper Export of Android Application Components",
    942: "Permissive Cross-domain Policy with Untrusted Domains",
    1004: "Sensitive Cookie Without 'HttpOnly' Flag",
    1021: "Improper Restriction of Rendered UI Layers (Clickjacking)",
    1104: "Use of Unmaintained Third Party Components",
    1275: "Sensitive Cookie with Improper SameSite Attribute",
    1321: "Prototype Pollution",
    1333: "Inefficient Regular Expression Complexity (ReDoS)",
    1336: "Server-Side Template Injection",
}

TOOL_NAMES = {
    "trivy": "Trivy",
    "grype": "Grype",
    "osv-scanner": "OSV-Scanner",
    "npm-audit": "npm audit",
    "dependency-check": "OWASP Dependency-Check",
    "semgrep": "Semgrep",
    "bandit": "Bandit",
    "codeql": "CodeQL",
    "spotbugs": "SpotBugs",
    "checkov": "Checkov",
    "zap": "OWASP ZAP",
    "gitleaks": "Gitleaks",
    "detect-secrets": "detect-secrets",
}

#: Phrases an honest answer uses when the scanner publishes no fix; evaluation looks for them.
NO_FIX_PHRASE = "No fixed version"
NO_REMEDIATION_PHRASE = "No remediation"

DESCRIPTION_CHARS = 120
REMEDIATION_CHARS = 160


def cwe_label(cwe: int) -> str:
    name = CWE_NAMES.get(cwe)
    return f"CWE-{cwe} ({name})" if name else f"CWE-{cwe}"


def tool_name(tool: str) -> str:
    t = canonical_tool(tool)
    return TOOL_NAMES.get(t, tool.strip() or t)


_WS = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


_MD_NOISE = re.compile(r"(?m)^\s*(?:#{1,6}\s+|[-=_*]{3,}\s*$)|_-=.*?=-_")


def trim(text: str | None, limit: int) -> str:
    """One line of at most `limit` characters, cut at a sentence end (or a word) when longer."""
    s = _WS.sub(" ", _MD_NOISE.sub(" ", text or "")).strip()
    if len(s) <= limit:
        return s
    head = s[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= limit // 3:
        return head[: ends[-1]]
    cut = head.rsplit(" ", 1)[0] if " " in head else head
    return cut.rstrip(" ,;:") + " …"


def where(f: Finding) -> str:
    """The location words of the summary: package, file:line, or URL."""
    if f.package is not None:
        pkg = f.package
        eco = f" ({pkg.ecosystem})" if pkg.ecosystem else ""
        return f"in {pkg.name} {pkg.version or '(version not reported)'}{eco}"
    if f.location is not None:
        return f"at {file_line(f)}"
    if f.url:
        return f"on {f.url}"
    return ""


def file_line(f: Finding) -> str:
    loc = f.location
    if loc is None:
        return ""
    return f"{loc.path}:{loc.start_line}" if loc.start_line else loc.path


def chosen_fixed_version(f: Finding) -> str | None:
    """The fixed version for this package: parsers order `fixed_versions` applicable-first."""
    if f.package is None or not f.package.fixed_versions:
        return None
    return f.package.fixed_versions[0]


def _summary(f: Finding) -> str:
    ident = f.primary_id()
    parts = [f"{tool_name(f.tool)} reports {ident} ({f.severity.value} severity)"]
    w = where(f)
    if w:
        parts.append(w)
    line = " ".join(parts) + "."
    title = trim(f.title, 120)
    if title and ident not in title:
        line += f" {title.rstrip('.')}."
    return line


def _fix(f: Finding) -> str:
    if f.category is Category.secret:
        what = trim(f.title, 80) or f.rule_id
        at = file_line(f) or "the reported location"
        return (
            f"Revoke and rotate the {what} secret at {at}, remove it from the file and the git history, "
            "and load it from a secret store instead. The value is not shown here."
        )
    if f.category in (Category.dependency, Category.license) and f.package is not None:
        pkg = f.package
        fixed = chosen_fixed_version(f)
        if fixed:
            return f"Upgrade {pkg.name} from {pkg.version or 'the installed version'} to {fixed}."
        return (
            f"{NO_FIX_PHRASE} of {pkg.name} is published by the scanner for {f.primary_id()}. "
            "Monitor the advisory for a patched release and limit exposure meanwhile."
        )
    remediation = trim(f.remediation, REMEDIATION_CHARS)
    target = file_line(f) or (f.url or "")
    if f.category is Category.dast and f.instances:
        inst = f.instances[0]
        target = f"{inst.method + ' ' if inst.method else ''}{inst.url}" + (
            f" (parameter {inst.param})" if inst.param else ""
        )
    if remediation:
        return f"{remediation.rstrip('.')}." + (f" Location: {target}." if target else "")
    message = trim(f.message, REMEDIATION_CHARS)
    text = f"{NO_REMEDIATION_PHRASE} text is published by the scanner. Review {target or 'the reported code'}"
    # The risk sentence already quotes the message when the scanner gave no description.
    if message and message != trim(f.title, REMEDIATION_CHARS) and f.description:
        text += f": {message.rstrip('.')}."
    else:
        text += "."
    return text


def _risk(f: Finding) -> str:
    cwes = ", ".join(cwe_label(c) for c in f.cwe[:3])
    text = trim(f.description or f.message, DESCRIPTION_CHARS)
    if text and trim(f.title, DESCRIPTION_CHARS).rstrip(".") == text.rstrip("."):
        text = ""  # already said by the summary
    parts = [_summary(f)]
    if cwes:
        parts.append(f"{cwes}.")
    if text:
        parts.append(text if text.endswith((".", "…", "!", "?")) else text + ".")
    return " ".join(parts)


def verdict_for(f: Finding) -> Verdict:
    """A verdict the scanner's own facts support: never stronger than what it reported."""
    if f.suppressed:
        return "likely false positive"
    if f.category is Category.secret:
        return "likely true positive"  # a matched credential is handled as exposed until rotated
    if f.category in (Category.dependency, Category.license):
        known = f.package is not None and bool(f.package.version)
        return "likely true positive" if known else "needs review"
    confidence = (
        str(f.extra.get("confidence") or f.extra.get("issue_confidence") or f.extra.get("precision") or "")
        .strip()
        .lower()
    )
    if confidence in ("high", "very-high", "3", "4", "confirmed"):
        return "likely true positive"
    return "needs review"


def build_answer(f: Finding) -> str:
    """The grounded answer for one finding, in the analysis answer format of `secai.analysis.prompts`:
    Verdict, Risk (what, where, CWE, the scanner's description) and Remediation (the fix)."""
    return redact_text(format_answer(verdict_for(f), _risk(f), _fix(f))) or ""
