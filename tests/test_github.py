"""The PyGithub layer against the loopback GitHub server: pagination, retries, the sticky comment."""

from __future__ import annotations

import logging

import pytest
from ghserver import ACTIONS_APP, RESET, Fault, github_fixture

from secai.config import Settings
from secai.errors import GitHubError
from secai.github.client import GitHub, resolve_api_url, resolve_token

MARKER = "<!-- secai-report -->"


@pytest.fixture
def gh(monkeypatch):
    server, settings, client = github_fixture(monkeypatch, per_page=5)
    server.state.add_repo("acme/app")
    yield server, settings, client
    client.close()
    server.__exit__(None, None, None)


def test_token_and_api_url_precedence(monkeypatch):
    s = Settings()
    assert resolve_token({"GH_TOKEN": "b"}) == "b"
    assert resolve_token({"GITHUB_TOKEN": "a", "GH_TOKEN": "b"}) == "a"
    assert resolve_token({}) is None
    s.github.api_url = "https://ghe.example/api/v3"
    assert resolve_api_url(s, environ={}) == "https://ghe.example/api/v3"
    assert resolve_api_url(s, environ={"GITHUB_API_URL": "https://env.example/"}) == "https://env.example"
    assert resolve_api_url(s, "http://flag.example", environ={"GITHUB_API_URL": "https://env"}) == "http://flag.example"
    with pytest.raises(GitHubError, match="not an http"):
        resolve_api_url(s, "file:///etc/passwd", environ={})
    with pytest.raises(GitHubError, match="GITHUB_TOKEN"):
        GitHub(s)


def test_lists_every_page_of_runs_with_filters(gh):
    server, _, client = gh
    st = server.state
    main_ids = [st.add_run("acme/app")["id"] for _ in range(12)]
    st.add_run("acme/app", branch="feature")
    st.add_run("acme/app", status="in_progress", conclusion=None)
    ids = [r.id for r in client.workflow_runs("acme/app", branch="main")]
    assert ids == list(reversed(main_ids))  # newest first, 3 pages of 5
    assert server.state.count("GET", r"/actions/runs$") == 3
    assert len(list(client.workflow_runs("acme/app"))) == 13  # completed only


def test_get_requests_retry_429_500_and_reset(gh):
    server, _, client = gh
    for _ in range(3):
        server.state.add_run("acme/app")
    server.inject("GET", r"/actions/runs$", Fault(429, {"Retry-After": "1"}), Fault(502), RESET)
    assert len(list(client.workflow_runs("acme/app"))) == 3
    assert server.state.count("GET", r"/actions/runs$") == 4


def test_errors_are_one_masked_line(gh, caplog):
    server, _, client = gh
    token = server.state.token
    server.inject("GET", r"/repos/acme/nope$", Fault(404, body={"message": f"Not Found {token}"}))
    with pytest.raises(GitHubError) as err:
        client.repo("acme/nope")
    assert token not in str(err.value) and "HTTP 404" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(GitHubError, match="owner/name"):
        client.repo("not-a-repo")


def test_sticky_comment_created_updated_and_unchanged(gh):
    server, _, client = gh
    st = server.state
    st.add_pull("acme/app", 7, "feat", "a" * 40)
    for i in range(120):  # more than one page of someone else's comments, some quoting the marker
        st.add_comment("acme/app", 7, f"{MARKER} fake {i}" if i % 40 == 0 else f"comment {i}", "someone")
    r1 = client.upsert_comment("acme/app", 7, f"{MARKER}\nfirst", MARKER)
    r2 = client.upsert_comment("acme/app", 7, f"{MARKER}\nsecond", MARKER)
    r3 = client.upsert_comment("acme/app", 7, f"{MARKER}\nsecond", MARKER)
    assert (r1.action, r2.action, r3.action) == ("created", "updated", "unchanged")
    assert r1.id == r2.id == r3.id
    ours = [c for c in st.comments[("acme/app", 7)] if c["user"]["login"] == "secai-bot"]
    assert len(ours) == 1 and ours[0]["body"] == f"{MARKER}\nsecond"
    assert all(
        c["body"].startswith(("comment", f"{MARKER} fake"))
        for c in st.comments[("acme/app", 7)]
        if c["user"]["login"] == "someone"
    )
    assert st.count("PATCH", r"/issues/comments/") == 1
    assert st.count("POST", r"/comments$") == 1


def test_comment_faults_are_retried_without_duplicates(gh, caplog):
    server, _, client = gh
    st = server.state
    st.add_pull("acme/app", 8, "feat", "b" * 40)
    server.inject("POST", r"/issues/8/comments$", Fault(429, {"Retry-After": "0"}), Fault(500), RESET)
    server.inject("GET", r"/issues/8/comments$", Fault(503), RESET)
    server.inject("PATCH", r"/issues/comments/", Fault(500), RESET)
    with caplog.at_level(logging.INFO, logger="secai"):
        assert client.upsert_comment("acme/app", 8, f"{MARKER}\none", MARKER).action == "created"
        assert client.upsert_comment("acme/app", 8, f"{MARKER}\ntwo", MARKER).action == "updated"
    assert len(st.comments[("acme/app", 8)]) == 1
    assert st.comments[("acme/app", 8)][0]["body"].endswith("two")
    assert st.count("POST", r"/issues/8/comments$") == 4
    assert st.token not in caplog.text


def test_a_lost_post_response_does_not_duplicate_the_comment(gh):
    """The POST created the comment but its answer was a 502: the retry finds it instead."""
    server, _, client = gh
    st = server.state
    st.add_pull("acme/app", 9, "feat", "c" * 40)
    server.inject("POST", r"/issues/9/comments$", Fault(502, after=True))
    res = client.upsert_comment("acme/app", 9, f"{MARKER}\nx", MARKER)
    assert res.action == "unchanged"
    assert len(st.comments[("acme/app", 9)]) == 1
    assert st.count("POST", r"/issues/9/comments$") == 1


def test_refuses_a_body_without_the_marker(gh):
    _, _, client = gh
    with pytest.raises(GitHubError, match="marker"):
        client.upsert_comment("acme/app", 1, "no marker", MARKER)
    with pytest.raises(GitHubError, match="marker"):
        client.upsert_comment("acme/app", 1, f"text first\n{MARKER}", MARKER)


def test_the_actions_token_finds_its_comment_without_get_user(monkeypatch):
    """The Actions GITHUB_TOKEN (an installation token) gets 403 on GET /user: secai's comment is
    the one a bot wrote through a GitHub App whose body starts with the marker. Comments by people
    that start with or quote the marker, and a bot's that only quotes it, are left alone."""
    server, settings, client = github_fixture(monkeypatch, token="ghs_" + "A" * 36)
    try:
        st = server.state
        st.add_repo("acme/app")
        st.add_pull("acme/app", 5, "feat", "e" * 40)
        st.add_comment("acme/app", 5, f"{MARKER}\nforged by a contributor", "mallory")
        st.add_comment("acme/app", 5, f"quoting {MARKER}", "github-actions[bot]", ACTIONS_APP)
        r1 = client.upsert_comment("acme/app", 5, f"{MARKER}\nfirst", MARKER)
        r2 = client.upsert_comment("acme/app", 5, f"{MARKER}\nsecond", MARKER)
        assert (r1.action, r2.action) == ("created", "updated") and r1.id == r2.id
        bodies = [c["body"] for c in st.comments[("acme/app", 5)]]
        assert bodies == [f"{MARKER}\nforged by a contributor", f"quoting {MARKER}", f"{MARKER}\nsecond"]
        assert st.count("GET", r"^/user$") == 0
    finally:
        client.close()
        server.__exit__(None, None, None)


def test_a_token_refused_on_get_user_is_taken_for_an_installation_token(monkeypatch):
    server, settings, client = github_fixture(monkeypatch)
    try:
        st = server.state
        st.add_repo("acme/app")
        st.add_pull("acme/app", 6, "feat", "f" * 40)
        st.add_comment("acme/app", 6, f"{MARKER}\nold", st.login, {"id": 1, "slug": "secai"})  # a bot: secai-bot
        server.inject("GET", r"^/user$", Fault(403, body={"message": "Resource not accessible by integration"}))
        assert client.upsert_comment("acme/app", 6, f"{MARKER}\nnew", MARKER).action == "updated"
    finally:
        client.close()
        server.__exit__(None, None, None)
