from __future__ import annotations

import pytest

from nofx_sdk.rules.semver import InvalidRange, InvalidVersion, Version, VersionRange


@pytest.mark.parametrize(
    ("text", "allowed", "refused"),
    [
        ("^1.2", ["1.2.0", "1.9.9"], ["1.1.9", "2.0.0", "2.0.0-beta"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0"]),
        (">=0.1 <1.0", ["0.1.0", "0.9.9"], ["1.0.0", "0.0.9"]),
        ("1.x || >=3", ["1.5.5", "3.1.0"], ["2.0.0"]),
        ("*", ["0.0.1", "5.0.0"], []),
        ("=1.2.3", ["1.2.3"], ["1.2.4"]),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        ("<=1", ["1.9.9"], ["2.0.0"]),
        (">=1.1.0-beta", ["1.1.0-beta.2", "1.1.0"], ["1.1.0-alpha"]),
    ],
)
def test_ranges_allow_and_refuse_what_npm_users_expect(text, allowed, refused):
    r = VersionRange.parse(text)

    assert all(r.allows(Version.parse(v)) for v in allowed)
    assert not any(r.allows(Version.parse(v)) for v in refused)


def test_pre_releases_sort_before_their_release():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.0.1"]

    assert sorted(Version.parse(v) for v in reversed(ordered)) == [Version.parse(v) for v in ordered]


@pytest.mark.parametrize("text", ["1.0", "01.0.0", "v1.0.0", "1.0.0.0", "", "latest"])
def test_it_refuses_what_is_not_semver(text):
    with pytest.raises(InvalidVersion):
        Version.parse(text)


@pytest.mark.parametrize("text", ["", "  ", ">=", "1.2.3.4", "^x.y", "||"])
def test_it_refuses_malformed_ranges(text):
    with pytest.raises(InvalidRange):
        VersionRange.parse(text)


def test_best_picks_the_highest_allowed_version():
    versions = [Version.parse(v) for v in ["1.0.0", "1.4.2", "2.0.0"]]

    assert VersionRange.parse("^1.0").best(versions) == Version.parse("1.4.2")
    assert VersionRange.parse("^3").best(versions) is None
