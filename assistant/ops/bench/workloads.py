"""The benchmark's requests: fictional session descriptions, a progress note of the daily-note
preset (whole, or one section at a time), and a chat turn. Nothing here is real patient text."""

from __future__ import annotations

from typing import Any

from assistant.core.documents.chat import chat_messages
from assistant.core.documents.notes import NoteRequest, note_messages
from assistant.core.messages import Message

# Fictional session descriptions of about 150 words: the first warms the preset up, the others are measured.
DESCRIPTIONS = [
    "Individual therapy, 50 minutes, in person. Client arrived on time and said the week was mixed. She slept about "
    "six hours most nights after keeping the wind-down routine, but two nights she was up past two worrying about her "
    "mother's surgery. Rated anxiety 6 out of 10 today, 7 last week. We reviewed her thought record; she caught three "
    "all-or-nothing thoughts about work and wrote balanced alternatives for two of them. Practiced paced breathing for "
    "ten minutes; she said her shoulders felt looser afterwards. She was tearful once when talking about feeling alone "
    "at home. Denies thoughts of self-harm. Affect brighter by the end of the session, good eye contact, speech "
    "normal. Plan: continue the thought record daily, paced breathing twice a day, call her sister on Sunday as "
    "planned, next session in one week. Will revisit the sleep goal if the surgery date moves.",
    "Outpatient physical therapy, 45 minutes. Patient is a 58-year-old man eight weeks after a right total knee "
    "replacement. He reports pain 3 out of 10 at rest and 5 out of 10 on stairs, improved from 6 last week. Knee "
    "flexion measured 112 degrees actively and 118 passively; extension lacks 3 degrees. He walked 300 feet without "
    "the cane with a mild antalgic pattern that improved with cueing. Treatment: stationary bike ten minutes for "
    "warm-up, quad sets, step-ups on a 6-inch step, terminal knee extension with the band, and patellar mobilization. "
    "He tolerated the session well with no increase in swelling. Home program reviewed and progressed: step-ups added, "
    "three sets of ten daily. Goal to climb a full flight reciprocally by week ten is on track. Next visit Thursday; "
    "reassess flexion and gait then, and consider discharge planning in three weeks.",
    "Speech therapy, 30 minutes, telehealth. Child is 6 years old and working on the r sound and following two-step "
    "directions. Mother joined the call and helped with the materials. Produced initial r correctly in 14 of 20 single "
    "words with a visual cue and 9 of 20 without a cue, up from 6 of 20 last session. In short phrases accuracy "
    "dropped to about half. Followed two-step directions in 8 of 10 trials with one repetition. He stayed engaged for "
    "the whole session, though he needed a movement break after fifteen minutes. We used the picture cards and the "
    "robot game he likes. Mother practiced the cueing and said the home practice sheet is easy to use. Plan: practice "
    "r words for five minutes a day with the new card set, move to phrases when word accuracy is above 80 percent "
    "without cues, next session next Tuesday at the same time.",
    "Occupational therapy, 60 minutes. Client is a 72-year-old woman recovering from a left wrist fracture, cast "
    "removed three weeks ago. Reports stiffness in the morning and pain 4 out of 10 when opening jars. Grip strength "
    "28 pounds on the left against 46 on the right; wrist extension 45 degrees, flexion 40 degrees. Completed "
    "fluidotherapy for warm-up, active and active-assisted range of motion, putty exercises for grip and pinch, and a "
    "simulated kitchen task carrying a light pot with both hands. She needed rest breaks but finished every task. "
    "Discussed adaptive tools for jars and a built-up handle for her kitchen knife; she will try them this week. Edema "
    "minimal. Plan: continue twice weekly for four more weeks, progress putty resistance, add functional reaching "
    "tasks, and recheck grip strength and range of motion at the next visit.",
    "Group therapy, 90 minutes, six members present. Topic was managing stress at work. The client participated "
    "actively, shared an example about a conflict with a coworker, and gave supportive feedback to two other members. "
    "She practiced the assertive request script in a role play and said it felt awkward but useful. Rated her stress 5 "
    "out of 10 before group and 4 after. She mentioned sleeping better since she stopped checking email at night. No "
    "safety concerns reported or observed. Mood appeared euthymic, affect full range, thought process organized. She "
    "agreed to try the script with her supervisor this week and report back to the group. Plan: continue weekly group, "
    "individual check-in in two weeks, review the stress log she keeps on her phone, and introduce the problem-solving "
    "worksheet next session.",
]
CHAT_TURNS = [
    ("Write a short, friendly reminder text for a patient about an appointment next Tuesday at 3 pm. Ask them to "
     "call the office if they need to reschedule.",
     "Hi! This is a reminder of your appointment on Tuesday at 3 pm. If you need to reschedule, please call the "
     "office. We look forward to seeing you."),
    ("Make it a little more formal and mention that late cancellations may be charged.",
     "Dear patient, this is a reminder of your appointment on Tuesday at 3:00 pm. If you need to reschedule, please "
     "call our office at least 24 hours in advance; late cancellations may be charged."),
    ("Now write a version for a patient who prefers Spanish.", ""),
]
CHAT_OPENERS = ["next Tuesday at 3 pm", "next Monday at 10 am", "this Friday at 1 pm", "next Wednesday at 4 pm"]


def note_workload(library: Any, index: int) -> list[Message]:
    preset = library.get("daily-note", "progress_note")
    request = NoteRequest(DESCRIPTIONS[index % len(DESCRIPTIONS)], "SOAP", "Behavioral health", preset.id)
    return note_messages(preset, request)




def chat_workloads(library: Any, index: int) -> list[list[Message]]:
    """The three prompts of one 3-turn conversation."""
    preset = library.get("chat-general", "chat")
    opener = CHAT_OPENERS[index % len(CHAT_OPENERS)]
    history: list[dict[str, str]] = []
    prompts = []
    for user, assistant in CHAT_TURNS:
        text = user.replace("next Tuesday at 3 pm", opener)
        prompts.append(chat_messages(preset, history, text))
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": assistant}]
    return prompts


def note_request(library: Any, index: int) -> tuple[Any, NoteRequest]:
    """The daily-note preset and a request for description ``index`` (SOAP, behavioral health)."""
    preset = library.get("daily-note", "progress_note")
    return preset, NoteRequest(DESCRIPTIONS[index % len(DESCRIPTIONS)], "SOAP", "Behavioral health", preset.id)
