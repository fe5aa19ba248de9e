"""The tabs' event handlers, called as Gradio calls them (no server, no browser): the demo
model's notice and defaults follow the model in use, an empty description is said by its
field, and every handler has one error edge (plain words, or a reference id).

``events`` finds a page event by the element that triggers it; its ``fn`` is the handler."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from assistant.app.services import build_services
from assistant.engine import demo_model
from assistant.engine.contract import ModelInfo
from assistant.engine.fake import FakeBackend
from assistant.store.config import Config
from assistant.web import common
from assistant.web.app import build_app

NOTE = "Client practiced paced breathing; anxiety 6 out of 10, down from 8. Plan: weekly sessions."
DEMO = ModelInfo(name="demo", device="CPU", precision="bf16", context_window=4096, is_demo=True)
FULL = ModelInfo(name="Llama-3-8B-Instruct", device="GPU 0", precision="4-bit", context_window=8192)


def request(session: str = "s1", user: str = "") -> SimpleNamespace:
    return SimpleNamespace(headers={"x-assistant-user": user} if user else {}, session_hash=session)


def built(backend: FakeBackend | None = None):
    services = build_services(Config.load(), backend or FakeBackend())
    return services, build_app(services)


def element(app: gr.Blocks, elem_id: str):
    found = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == elem_id]
    assert found, f"no #{elem_id} on the page"
    return found[0]


def events(app: gr.Blocks, elem_id: str | None, trigger: str) -> list:
    """The handlers of ``trigger`` on ``#elem_id`` (None: the page itself, e.g. "load")."""
    target = app._id if elem_id is None else element(app, elem_id)._id
    return [fn for fn in app.fns.values() if any(t[0] == target and t[1] == trigger for t in fn.targets)]


def writing_to(fns: list, app: gr.Blocks, elem_id: str):
    """The one handler among ``fns`` that updates ``#elem_id``."""
    block = element(app, elem_id)
    found = [fn for fn in fns if block in fn.outputs]
    assert found, f"no handler here updates #{elem_id}"
    return found[0]


def value_of(result, fn, app: gr.Blocks, elem_id: str):
    """The value (or update) a handler's result gives to ``#elem_id``."""
    outputs = list(fn.outputs)
    result = result if isinstance(result, list | tuple) and len(outputs) > 1 else [result]
    return result[outputs.index(element(app, elem_id))]


def shown(update) -> tuple[str, bool]:
    """(text, visible) from a Markdown update or value."""
    if isinstance(update, dict):
        return str(update.get("value", "")), bool(update.get("visible", True))
    return str(update), True


# ---------------------------------------------------------------- the demo model's notice and defaults


def test_the_demo_notice_and_defaults_follow_a_model_switch():
    backend = FakeBackend(info=DEMO)
    services, app = built(backend)
    load = events(app, None, "load")
    notice = writing_to(load, app, "demo-notice")
    text, visible = shown(value_of(notice.fn(request()), notice, app, "demo-notice"))
    assert visible and "demo model" in text
    # The System tab switches to a full model (what switch_model does to the services) ...
    backend.info = FULL
    services.notices[:] = [n for n in services.notices if n != demo_model.DEMO_NOTICE]
    # ... and the next page load, or opening a drafting tab, shows no demo warning and no demo defaults.
    text, visible = shown(value_of(notice.fn(request()), notice, app, "demo-notice"))
    assert not visible or "demo model" not in text
    defaults = writing_to(load, app, "note-by-sections")
    by_sections = value_of(defaults.fn(request(), None), defaults, app, "note-by-sections")
    assert by_sections.get("value") is False
    opened = writing_to(events(app, "tab-note", "select"), app, "demo-notice")
    text, visible = shown(value_of(opened.fn(request()), opened, app, "demo-notice"))
    assert not visible or "demo model" not in text


def test_opening_the_note_tab_keeps_a_choice_made_for_the_same_model():
    services, app = built(FakeBackend(info=DEMO))
    defaults = writing_to(events(app, "tab-note", "select"), app, "note-by-sections")
    first = defaults.fn(request(), None)
    assert value_of(first, defaults, app, "note-by-sections").get("value") is True
    remembered = first[-1]
    again = defaults.fn(request(), remembered)
    assert "value" not in value_of(again, defaults, app, "note-by-sections"), "the person's own tick stays"


# ---------------------------------------------------------------- an empty description, said by its field


def test_an_empty_description_is_said_by_the_field_not_in_the_draft_box():
    _, app = built()
    (draft,) = [fn for fn in events(app, "note-draft", "click") if fn.api_name == "draft_note"]
    assert draft.validator is not None, "the fields are checked before the draft starts"
    answers = draft.validator("   ", "SOAP", "Behavioral health", "daily-note", "", "", False)
    by_input = dict(zip(draft.inputs, answers, strict=True))
    description = by_input[element(app, "note-description")]
    assert description["is_valid"] is False and "empty" in description["message"]
    assert "Traceback" not in description["message"]
    others = [a for block, a in by_input.items() if block is not element(app, "note-description")]
    assert all(a.get("is_valid", True) for a in others), "only the field at fault is marked"
    answers = draft.validator(NOTE, "SOAP", "Behavioral health", "daily-note", "", "", False)
    assert all(a.get("is_valid", True) for a in answers)


def test_the_letter_form_says_which_field_is_missing():
    _, app = built()
    (draft,) = [fn for fn in events(app, "letter-draft", "click") if fn.api_name == "draft_letter"]
    assert draft.validator is not None
    values = ["Jordan Sample", "04/12/1986", "", "Example Health Plan", "Alex Rivera, PT", "1234567893",
              "Outpatient PT", "97110", "M54.50", "12 visits", "Pain limits sitting.", "prior-auth-initial", "", ""]
    answers = dict(zip(draft.inputs, draft.validator(*values), strict=True))
    assert answers[element(app, "letter-member_id")]["is_valid"] is False
    assert "member id" in answers[element(app, "letter-member_id")]["message"]
    assert answers[element(app, "letter-patient_name")].get("is_valid", True)


# ---------------------------------------------------------------- one error edge


def test_one_edge_for_streaming_and_one_shot_handlers():
    @common.guarded
    def one_shot(value):
        raise RuntimeError(f"internal detail {value}")

    @common.guarded
    def streaming(value):
        yield "start"
        raise KeyError(f"internal detail {value}")

    with pytest.raises(gr.Error) as err:
        one_shot("Zanzibar")
    assert "reference" in err.value.message and "Zanzibar" not in err.value.message
    with pytest.raises(gr.Error) as err:
        list(streaming("Zanzibar"))
    assert "reference" in err.value.message and "Zanzibar" not in err.value.message


def test_history_tab_uses_the_one_edge():
    from assistant.web.tabs import history_tab

    assert not hasattr(history_tab, "plain_errors")


def test_an_unexpected_failure_when_approving_shows_a_reference(monkeypatch, caplog):
    services, app = built()
    check = events(app, "note-check-again", "click")[0]
    draft = "Subjective: anxiety 6 out of 10, down from 8."
    checked = value_of(check.fn(NOTE, "", "", "SOAP", "daily-note", draft), check, app, "note-check-summary")
    assert "Every number" in checked

    def broken(*args, **kwargs):
        raise OSError("disk full at /home/secret-path")

    monkeypatch.setattr(services.drafts, "save", broken)
    approve = events(app, "note-approve", "click")[0]
    record = check.fn(NOTE, "", "", "SOAP", "daily-note", draft)[2]
    with pytest.raises(gr.Error) as err:
        approve.fn(draft, False, record, "daily-note", request())
    assert "reference" in err.value.message and "secret-path" not in err.value.message
    assert "Traceback" not in caplog.text and "secret-path" not in caplog.text
