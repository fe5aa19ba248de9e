"""Who may change what when staff sign-in is on, enforced on the server (assistant.security.roles):
admins manage models, the practice profile, the shared presets and accounts; staff are refused,
told why, and nothing changes. Profile and preset changes are audited by hash, never text.
With sign-in off (a single-user computer) everything stays allowed."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from test_history import Page, audit_records, signed_in

from assistant.app.services import build_services
from assistant.core.presets import parse_preset
from assistant.engine.fake import FakeBackend
from assistant.security import roles
from assistant.security.accounts import AccountStore
from assistant.security.audit import text_hash, verify
from assistant.security.roles import Action, may
from assistant.store.config import Config
from assistant.store.user_presets import duplicate, load_library, to_yaml
from assistant.web.app import build_app
from assistant.web.server import serve

PASSWORD = "correct horse battery"
SECRET_NPI = "1234567893"
NO_ROWS = {"headers": ["Name", "Credentials", "NPI"], "data": [["", "", ""]], "metadata": None}


def profile_form(name: str) -> list:
    payers = {"headers": ["Payer", "Fax", "Portal", "Policy numbers (comma-separated)"], "data": [["", "", "", ""]],
              "metadata": None}
    return [name, "555-0100", "555-0101", "1 Main St", SECRET_NPI, "12-3456789", NO_ROWS, f"{name} signature",
            payers, "", None]


# ---------------------------------------------------------------- the policy in one place


def test_may_follows_the_policy(tmp_path: Path):
    store = AccountStore(tmp_path)
    for action in Action:
        assert may(store, "", action), "sign-in off: everything is allowed"
    store.add("morgan", PASSWORD, "admin")
    store.add("sam", PASSWORD, "staff")
    for action in roles.ADMIN_ONLY:
        assert may(store, "morgan", action) and not may(store, "sam", action)
        assert not may(store, "", action) and not may(store, "nobody", action)
        assert "Only an administrator" in roles.refusal(store, action) and "morgan" in roles.refusal(store, action)
    assert may(store, "sam", Action.OWN_DRAFTS)
    (tmp_path / "accounts.json").write_text("{ damaged")
    assert not may(store, "morgan", Action.MANAGE_MODELS), "a damaged accounts file allows nothing"


# ---------------------------------------------------------------- through the real server


@pytest.fixture
def site(staff_site):
    return staff_site


def a_preset_text(config: Config) -> tuple[str, str]:
    library = load_library(config.paths)
    preset = duplicate(library.presets["chat-general"], library)
    return preset.id, to_yaml(preset)


def upload(http: httpx.Client, name: str, text: str) -> dict:
    answer = http.post("/gradio_api/upload", files={"files": (name, text.encode())})
    assert answer.status_code == 200, answer.text[:200]
    return {"path": answer.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def test_staff_cannot_change_models_profile_or_shared_presets(site):
    running, config, services = site
    root = config.paths.root
    _, text = a_preset_text(config)
    library = load_library(config.paths)
    override = to_yaml(library.presets["chat-general"].model_copy(update={"title": "Our general chat"}))
    settings_before = (root / "settings.json").read_text() if (root / "settings.json").exists() else None
    with signed_in(running, "morgan") as morgan_http:  # the admin's own version of a built-in preset
        assert Page(morgan_http).ok("preset-save", "click", override)
    saved = sorted(p.name for p in config.paths.presets.iterdir())
    with signed_in(running, "sam") as sam_http:
        sam = Page(sam_http)
        refusals = [
            sam.refused("system-switch", "click", None),
            sam.refused("system-add", "click", str(root / "no-such-model"), False),
            sam.refused("profile-save", "click", *profile_form("Sam's Practice")),
            sam.refused("preset-save", "click", text.replace("chat-general-copy", "sams-own")),
            sam.refused("preset-delete", "click", "chat-general"),  # the admin's version
            sam.refused("preset-import", "upload", upload(sam_http, "mine.yaml", text.replace("-copy", "-imported"))),
        ]
        for refusal in refusals:
            assert "Only an administrator" in refusal and "morgan" in refusal, refusal
        # staff still try edits in the editor and see the preview
        status, preview = sam.ok("preset-editor", "change", text)
        assert "Valid" in status and preview
    assert not (root / "profile.json").exists() and services.profile.name == ""
    assert sorted(p.name for p in config.paths.presets.iterdir()) == saved
    assert ((root / "settings.json").read_text() if (root / "settings.json").exists() else None) == settings_before
    assert not (config.paths.models / "models.json").exists()
    assert SECRET_NPI not in (root / "audit" / "audit.jsonl").read_text()


def test_staff_see_why_the_controls_are_unavailable(site):
    running, _, _ = site
    with signed_in(running, "sam") as sam_http, signed_in(running, "morgan") as morgan_http:
        for http, expect_locked in ((sam_http, True), (morgan_http, False)):
            page = Page(http)
            notes = page.load_outputs()
            for elem_id in ("system-permission", "profile-permission", "preset-permission"):
                note, *controls = notes[elem_id]
                if expect_locked:
                    assert "Only an administrator" in str(note) and "morgan" in str(note), note
                    assert controls and all(c.get("interactive") is False for c in controls), controls
                else:
                    assert "Only an administrator" not in str(note)
                    assert all(c.get("interactive") is not False for c in controls), controls


def test_admin_changes_are_audited_by_hash_never_text(site):
    running, config, services = site
    root = config.paths.root
    preset_id, text = a_preset_text(config)
    with signed_in(running, "morgan") as http:
        page = Page(http)
        assert "Saved" in str(page.ok("profile-save", "click", *profile_form("Riverside Therapy")))
        page.ok("preset-save", "click", text)
        page.ok("preset-delete", "click", preset_id)
    assert services.profile.name == "Riverside Therapy"
    records = audit_records(root)
    profile = [r for r in records if r["preset"] == "profile"]
    assert [(r["event"], r["user"]) for r in profile] == [("settings_changed", "morgan")]
    assert profile[0]["output_sha256"] == text_hash((root / "profile.json").read_text(encoding="utf-8"))
    presets = [(r["event"], r["user"], r["preset"]) for r in records if r["event"].startswith("preset_")]
    assert presets == [("preset_saved", "morgan", preset_id), ("preset_deleted", "morgan", preset_id)]
    saved = next(r for r in records if r["event"] == "preset_saved")
    assert saved["output_sha256"] == text_hash(to_yaml(parse_preset(text))), "the hash of the file written"
    raw = (root / "audit" / "audit.jsonl").read_text()
    assert SECRET_NPI not in raw and "Riverside" not in raw
    assert verify(root / "audit") == []


def test_with_sign_in_off_everything_stays_allowed(assistant_home: Path):
    config = Config.load()
    services = build_services(config, FakeBackend(reply="Draft text."))
    running = serve(build_app(services), 0, background=True, audit=services.audit, files_dir=config.paths.tmp)
    try:
        preset_id, text = a_preset_text(config)
        with httpx.Client(base_url=f"http://127.0.0.1:{running.port}", timeout=60,
                          headers={"Authorization": f"Bearer {running.token}"}) as http:
            page = Page(http)
            assert "Saved" in str(page.ok("profile-save", "click", *profile_form("Solo Practice")))
            page.ok("preset-save", "click", text)
            notes = page.load_outputs()
            assert all("administrator" not in str(v[0]) for v in notes.values())
    finally:
        running.stop()
    assert json.loads((config.paths.root / "profile.json").read_text())["name"] == "Solo Practice"
    assert (config.paths.presets / f"{preset_id}.yaml").exists()
    events = [(r["event"], r["preset"]) for r in audit_records(config.paths.root)]
    assert ("settings_changed", "profile") in events and ("preset_saved", preset_id) in events
