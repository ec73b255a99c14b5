import pytest

from secai.ingest.versions import compare, smallest_fix_above, split_versions


@pytest.mark.parametrize(
    "a, b, eco, expected",
    [
        # PyPI (packaging)
        ("1.26.3", "1.26.5", "PyPI", -1),
        ("2.0rc1", "2.0", "PyPI", -1),
        ("1.0.post1", "1.0", "pip", 1),
        ("1.0", "1.0.0", "PyPI", 0),
        ("1!0.1", "2.0", "PyPI", 1),
        # Maven: qualifiers, .Final, -jre/-android flavours
        ("4.1.101.Final", "4.1.125.Final", "Maven", -1),
        ("4.2.0.Alpha1", "4.2.0.Final", "Maven", -1),
        ("1.0-RC1", "1.0", "Maven", -1),
        ("1.0-SNAPSHOT", "1.0", "Maven", -1),
        ("1.0.1", "1.0-rc1", "Maven", 1),
        ("1.0-sp1", "1.0", "Maven", 1),
        ("31.1-jre", "32.0.0-android", "Maven", -1),
        ("2.14.0-rc2", "2.14.0", "Maven", -1),
        ("1.10", "1.9", "maven", 1),
        # semver (npm): pre-releases
        ("1.0.0-alpha", "1.0.0", "npm", -1),
        ("1.0.0-alpha.10", "1.0.0-alpha.2", "npm", 1),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta", "npm", -1),
        ("1.0.0+build.5", "1.0.0", "npm", 0),
        ("10.0.0", "9.99.99", "npm", 1),
        # Go: v prefix, +incompatible, pseudo-versions
        ("v1.2.3+incompatible", "v1.10.0", "Go", -1),
        ("v0.0.0-20210101000000-abcdef123456", "v0.0.1", "Go", -1),
        ("v1.9.1", "1.9.1", "Go", 0),
        # Debian / Ubuntu: epochs, ~, revisions
        ("1:4.13+dfsg1-4ubuntu3.2", "4.14-1", "Ubuntu", 1),
        ("1.0~rc1-1", "1.0-1", "Debian", -1),
        ("2.4.4-2ubuntu17.3", "2.4.4-2ubuntu17.10", "Ubuntu:24.04:LTS", -1),
        ("1.35+dfsg-3build1", "1.35+dfsg-3", "Debian:12", 1),
        # Alpine
        ("2.9.1-r2", "2.9.1-r3", "Alpine", -1),
        ("1.2_rc1-r0", "1.2-r0", "Alpine:v3.19", -1),
        ("1.2_p1-r0", "1.2-r0", "Alpine", 1),
        # generic fallback
        ("2.0.8", "2.0.10", "SomethingElse", -1),
        ("2023.10a", "2023.9", None, 1),
    ],
)
def test_compare(a, b, eco, expected):
    assert compare(a, b, eco) == expected
    assert compare(b, a, eco) == -expected


def test_smallest_fix_above_picks_applicable_branch_first():
    # Trivy lists "1.5.13, 1.3.15" for logback-core; 1.4.14 is installed: only 1.5.13 is above.
    assert smallest_fix_above("1.4.14", ["1.5.13", "1.3.15"], "Maven") == ["1.5.13", "1.3.15"]
    # 1.3.5 installed: the 1.3 branch fix is the minimal upgrade.
    assert smallest_fix_above("1.3.5", ["1.5.13", "1.3.15"], "Maven") == ["1.3.15", "1.5.13"]
    assert smallest_fix_above("4.1.101.Final", ["4.2.4.Final", "4.1.124.Final"], "Maven") == [
        "4.1.124.Final",
        "4.2.4.Final",
    ]
    assert smallest_fix_above("1.3.5", ["1.3.12", "1.4.12", "1.2.13"], "Maven") == ["1.3.12", "1.4.12", "1.2.13"]


def test_smallest_fix_above_edge_cases():
    assert smallest_fix_above("1.0", [], "PyPI") == []
    assert smallest_fix_above(None, ["2.0", "1.5", "2.0"], "PyPI") == ["1.5", "2.0"]
    assert smallest_fix_above("1.0.0-beta", ["1.0.0", "1.0.0-rc.1"], "npm") == ["1.0.0-rc.1", "1.0.0"]
    assert smallest_fix_above("1:1.0-1", ["1.1-1", "1:1.0-2"], "Debian") == ["1:1.0-2", "1.1-1"]


def test_split_versions():
    assert split_versions("1.5.13, 1.3.15") == ["1.5.13", "1.3.15"]
    assert split_versions("") == []
    assert split_versions(None) == []
    assert split_versions("4.2.4.Final, 4.1.124.Final, 4.2.4.Final") == ["4.2.4.Final", "4.1.124.Final"]
