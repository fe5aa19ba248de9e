"""Medicare billing helpers, an accordion in the notes tab: the KX threshold for the year, the
8-minute rule for timed codes, and the psychotherapy code for a session's minutes.

Thin adapters over ``core.medicare`` (the rules) and ``store.medicare_data`` (the yearly figures,
which a vendor can update). Nothing here is kept or logged: the numbers typed are not clinical text,
but they are about one patient.
"""

from __future__ import annotations

import datetime as dt
import math

import gradio as gr

from assistant.core import medicare
from assistant.errors import InputError
from assistant.store import medicare_data
from assistant.web.common import guarded

THERAPIES = [("Physical therapy", "pt"), ("Speech therapy", "slp"), ("Occupational therapy", "ot")]
CODE_ROWS = 4


def _number(value: object, what: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number.") from None
    return None if math.isnan(number) else number  # an empty table cell arrives as NaN


def _cell(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value).strip()


def threshold(year: object, therapy: str, spent: object) -> str:
    when = _number(year, "The year")
    if when is None or not when.is_integer():
        raise InputError("The year must be a four-digit year, such as 2026.")
    return medicare_data.kx_reminder(int(when), therapy or "pt", _number(spent, "The amount allowed so far"))


def units(rows: object) -> str:
    """The 8-minute rule over the table's (code, minutes) rows; empty rows are skipped."""
    values = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])  # a DataFrame, or rows
    minutes: dict[str, int] = {}
    for code, spent in ((_cell(r[0]), r[1] if len(r) > 1 else None) for r in values):
        count = _number(spent, f"The minutes for {code[:20] or 'a code'}")
        if not code and count in (None, 0):
            continue
        if not code:
            raise InputError("Each row with minutes needs its timed code, such as 97110.")
        if count is None or not count.is_integer():
            raise InputError(f"The minutes for {code[:20]} must be a whole number, such as 23.")
        minutes[code.upper()] = minutes.get(code.upper(), 0) + int(count)
    if not minutes:
        raise InputError("Type each timed code and its minutes, such as 97110 and 33.")
    shared = medicare.assign_units(minutes)
    total, billed = sum(minutes.values()), sum(shared.values())
    lines = [f"**{total} timed minutes: bill {billed} unit{'' if billed == 1 else 's'}** (Medicare's 8-minute rule)."]
    lines += [f"- {code}: {count} unit{'' if count == 1 else 's'} ({minutes[code]} min)" for code, count in shared.items()]
    if total < 8:
        lines.append("Under 8 timed minutes in all, so no timed unit can be billed.")
    return "\n".join(lines)


def psychotherapy(minutes: object) -> str:
    spent = _number(minutes, "The session time")
    if spent is None or not spent.is_integer():
        raise InputError("The session time must be a whole number of minutes, such as 53.")
    return medicare.psychotherapy_words(int(spent))


def build() -> None:
    """The accordion; each part works it out when its button is pressed."""
    with gr.Accordion("Medicare billing helpers", open=False, elem_id="medicare-box"):
        gr.Markdown("**Therapy threshold (KX modifier)**")
        with gr.Row():
            year = gr.Number(value=dt.date.today().year, precision=0, label="Year", elem_id="medicare-year")
            therapy = gr.Dropdown(THERAPIES, value="pt", label="Therapy", elem_id="medicare-therapy")
            spent = gr.Number(value=None, label="Allowed so far this year, $ (optional)", elem_id="medicare-spent")
        kx_button = gr.Button("Check the threshold", elem_id="medicare-kx")
        kx_out = gr.Markdown(elem_id="medicare-kx-out")
        gr.Markdown("**Timed codes: minutes to units (8-minute rule)**")
        table = gr.Dataframe(headers=["Timed code", "Minutes"], datatype=["str", "number"],
                             value=[["", None] for _ in range(CODE_ROWS)], row_count=(CODE_ROWS, "fixed"),
                             column_count=(2, "fixed"), interactive=True, elem_id="medicare-minutes")
        units_button = gr.Button("Work out the units", elem_id="medicare-units")
        units_out = gr.Markdown(elem_id="medicare-units-out")
        gr.Markdown("**Psychotherapy code by minutes**")
        with gr.Row():
            session = gr.Number(value=None, precision=0, label="Minutes with the patient", elem_id="medicare-session")
            psych_button = gr.Button("Find the code", elem_id="medicare-psych")
        psych_out = gr.Markdown(elem_id="medicare-psych-out")

    # Queued (the default), so that a plain problem ("The year must be ...") shows as a message box.
    private = dict(api_visibility="private")
    kx_button.click(guarded(threshold), [year, therapy, spent], kx_out, **private)
    units_button.click(guarded(units), table, units_out, **private)
    psych_button.click(guarded(psychotherapy), session, psych_out, **private)
