"""The severity a report shows, the CI gate counts and the action outputs: report-side only.

Parsers keep what the scanner said (`raw_severity`) and fill `severity` with a default when it said
nothing. For most tools that default is fine, but infrastructure-as-code scanners that rate nothing
(Checkov's open-source runs; a Trivy misconfiguration without a severity) would all show the
parser's default. Here such a finding gets the severity of the equivalent Trivy check from
`CHECK_SEVERITIES` (docs/severities.md lists it), or none at all: "unrated", never a blanket
"high". Unrated findings are listed and counted as unrated and never trip `--fail-on`.
"""

from __future__ import annotations

from secai.findings import Category, Finding, Severity, canonical_tool

UNRATED = "unrated"

#: SARIF result levels: a SARIF report's `level` is how loud to be, not a severity.
_LEVEL_WORDS = frozenset({"error", "warning", "note", "none", "warn"})
_SEVERITY_WORDS = frozenset(
    {"critical", "crit", "blocker", "high", "important", "major", "medium", "moderate", "low", "minor"}
    | {"info", "informational", "information", "negligible"}
)

#: Checkov checks → (severity, the Trivy check it equals). Trivy 0.76's own rating of that check,
#: measured on small files with `trivy config`; a Checkov check without a Trivy twin stays unrated.
CHECK_SEVERITIES: dict[str, tuple[Severity, str]] = {
    # Dockerfile
    "CKV_DOCKER_1": (Severity.medium, "DS-0004 port 22 exposed"),
    "CKV_DOCKER_2": (Severity.low, "DS-0026 no HEALTHCHECK"),
    "CKV_DOCKER_3": (Severity.high, "DS-0002 image user is root"),
    "CKV_DOCKER_4": (Severity.low, "DS-0005 ADD instead of COPY"),
    "CKV_DOCKER_5": (Severity.high, "DS-0017 package manager update alone"),
    "CKV_DOCKER_7": (Severity.medium, "DS-0001 ':latest' tag"),
    "CKV_SECRET_2": (Severity.critical, "aws-access-key-id (Trivy secret rule)"),
    # S3
    "CKV_AWS_18": (Severity.low, "AWS-0089 bucket logging"),
    "CKV_AWS_20": (Severity.high, "AWS-0092 public ACL"),
    "CKV_AWS_21": (Severity.medium, "AWS-0090 versioning"),
    "CKV_AWS_53": (Severity.high, "AWS-0086 block public ACLs"),
    "CKV_AWS_54": (Severity.high, "AWS-0087 block public policy"),
    "CKV_AWS_55": (Severity.high, "AWS-0091 ignore public ACLs"),
    "CKV_AWS_56": (Severity.high, "AWS-0093 restrict public buckets"),
    "CKV_AWS_57": (Severity.high, "AWS-0092 public ACL"),
    "CKV_AWS_145": (Severity.high, "AWS-0132 customer managed key"),
    "CKV2_AWS_6": (Severity.low, "AWS-0094 public access block defined"),
    # security groups
    "CKV_AWS_23": (Severity.low, "AWS-0124 rule description"),
    "CKV_AWS_24": (Severity.high, "AWS-0107 ingress to SSH from any address"),
    "CKV_AWS_25": (Severity.high, "AWS-0107 ingress to RDP from any address"),
    "CKV_AWS_260": (Severity.high, "AWS-0107 unrestricted ingress"),
    "CKV_AWS_382": (Severity.critical, "AWS-0104 unrestricted egress"),
    # RDS, EBS, EC2, SQS, CloudWatch
    "CKV_AWS_16": (Severity.high, "AWS-0080 RDS encryption"),
    "CKV_AWS_17": (Severity.high, "AWS-0180 RDS publicly accessible"),
    "CKV_AWS_133": (Severity.medium, "AWS-0077 RDS backup retention"),
    "CKV_AWS_161": (Severity.medium, "AWS-0176 RDS IAM authentication"),
    "CKV_AWS_293": (Severity.medium, "AWS-0177 RDS deletion protection"),
    "CKV_AWS_3": (Severity.high, "AWS-0026 EBS encryption"),
    "CKV_AWS_189": (Severity.low, "AWS-0027 EBS customer managed key"),
    "CKV_AWS_8": (Severity.high, "AWS-0131 unencrypted block device"),
    "CKV_AWS_79": (Severity.high, "AWS-0028 IMDS session tokens"),
    "CKV_AWS_27": (Severity.high, "AWS-0096 SQS encryption"),
    "CKV_AWS_158": (Severity.low, "AWS-0017 CloudWatch log group key"),
}


def scanner_rated(f: Finding) -> bool:
    """The scanner itself gave a severity (a word of the scale or a numeric score)."""
    raw = (f.raw_severity or "").strip().lower()
    if not raw or raw in _LEVEL_WORDS:
        return False
    if raw in _SEVERITY_WORDS:
        return True
    try:
        float(raw)
    except ValueError:
        return False
    return True


#: Scanners that rate none of their findings.
UNRATING_TOOLS = frozenset({"checkov"})


def rating(f: Finding) -> Severity | None:
    """The severity to show and gate on; None for an unrated finding."""
    if scanner_rated(f):
        return f.severity
    known = CHECK_SEVERITIES.get(f.rule_id)
    if known:
        return known[0]
    if f.category is Category.iac or canonical_tool(f.tool) in UNRATING_TOOLS:
        return None
    return f.severity  # e.g. detect-secrets: the parser's documented default for its category


def rank(f: Finding) -> int:
    """For sorting: unrated findings below info."""
    s = rating(f)
    return -1 if s is None else s.rank


def label(f: Finding) -> str:
    s = rating(f)
    return UNRATED if s is None else s.value


def docs_table() -> str:
    """docs/severities.md's table (a test keeps the file equal to it)."""
    rows = [f"| `{rule}` | {sev.value} | {src} |" for rule, (sev, src) in sorted(CHECK_SEVERITIES.items())]
    return "| check | severity | equivalent Trivy check |\n|---|---|---|\n" + "\n".join(rows) + "\n"
