"""Fixtures shared by the example app's tests. Every value is fake."""

FIXTURE_USER = "alice@example.com"
FIXTURE_PASSWORD = "correct-horse-FAKE-fixture"  # nosec B105 - test fixture, not a credential
FIXTURE_TEAM = "blue"
