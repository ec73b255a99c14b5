import io

from secai.findings import Category, Finding, Location, Severity
from secai.report.tables import print_findings_table


def test_table_shows_untrusted_text_literally():
    f = Finding(
        tool="semgrep",
        rule_id="[bold red]x[/]",
        title="[link=https://evil]click[/link]",
        severity=Severity.high,
        category=Category.code,
        location=Location(path="a.py", start_line=3),
    )
    out = io.StringIO()
    print_findings_table([f], file=out)
    text = out.getvalue()
    assert "[link=https://evil]click[/link]" in text and "[bold red]x[/]" in text
    assert "a.py:3" in text and "1 findings" in text
