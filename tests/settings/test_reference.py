"""docs/configuration.md is rendered from the settings' own metadata, and kept current."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from proxy.settings import Settings
from proxy.settings.reference import (
    COMMAND,
    PAGE,
    RecordingEnvironment,
    documented,
    main,
    render,
    undocumented,
    variables_read,
)
from proxy.settings.variables import ENV, variables_of

ROOT = Path(__file__).parents[2]


def test_the_committed_reference_matches_the_code():
    committed = (ROOT / PAGE).read_text()
    assert committed == render(), (
        f"{PAGE} disagrees with proxy/settings: run `{COMMAND}` and commit the result"
    )


def test_every_variable_the_settings_read_is_documented():
    assert undocumented() == [], "add env(...) metadata to the fields that read these"


def test_every_documented_variable_is_read():
    names = {v.name for _, _, entries in documented() for _, v, _ in entries}
    assert names - variables_read() == set(), "documented but never read: remove the entry"


def test_every_field_of_every_section_says_which_variables_feed_it():
    for part in dataclasses.fields(Settings):
        section = part.default_factory
        if section is dataclasses.MISSING:
            assert ENV in part.metadata, part.name
            continue
        for f in dataclasses.fields(section):
            assert ENV in f.metadata, f"{section.__name__}.{f.name} has no env(...) metadata"


def test_documented_defaults_are_the_values_read_from_an_empty_environment():
    settings = Settings.from_env({})
    for part in dataclasses.fields(Settings):
        if part.default_factory is dataclasses.MISSING:
            continue
        read = getattr(settings, part.name)
        built = part.default_factory()
        for f in dataclasses.fields(read):
            shown_as_is = all(v.default is None for v in variables_of(f.metadata))
            if shown_as_is and f.compare:
                assert getattr(read, f.name) == getattr(built, f.name), f.name


def test_the_page_shows_defaults_kinds_and_secrets():
    page = render()
    assert "| `PROXY_PORT` | `8080` | integer |  |" in page
    assert "| `PROXY_GRACEFUL_TIMEOUT` | `30` | seconds |" in page
    assert "| `REDIS_URL` | unset | URL | yes |" in page
    assert "| `UPSTREAM_ALLOW_PRIVATE` | `0` | flag |" in page
    assert "`PROXY_CONFIG` (alias `VIBEKIT_CONFIG`)" in page
    assert "| `PROXY_ENCRYPTION_KEY` | unset | base64 key | yes |" in page


def test_the_recording_environment_notes_what_is_asked():
    recording = RecordingEnvironment({"PROXY_PORT": "9000"})
    assert Settings.from_env(recording).server.port == 9000
    assert {"PROXY_PORT", "PROXY_WORKERS", "REDIS_URL", "PROXY_MODE"} <= recording.asked


def test_check_fails_on_a_stale_page_and_passes_once_rewritten(tmp_path, capsys):
    page = tmp_path / "configuration.md"
    page.write_text("# stale\n")
    assert main(["--check", "--output", str(page)]) == 1
    assert COMMAND in capsys.readouterr().err
    assert main(["--output", str(page)]) == 0
    assert main(["--check", "--output", str(page)]) == 0


def test_an_undocumented_variable_stops_the_rendering(monkeypatch):
    import proxy.settings.reference as reference

    monkeypatch.setattr(reference, "variables_read", lambda: {"PROXY_PORT", "NEW_KNOB"})
    with pytest.raises(SystemExit, match="NEW_KNOB"):
        reference.render()
