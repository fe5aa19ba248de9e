"""The llama.cpp backend on the real demo model (its own GGUF file): the model contract.

Streaming, counting, the reading window from the file, stop (before and during an answer, and
mid-prompt through llama.cpp's abort callback), prompt-lookup speculation writing exactly the
plain greedy text, saved prompt states reused across a note and a chat, Gemma's missing system
role, and the engine's line in front of it.
"""

from __future__ import annotations

import threading

import pytest
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from assistant.core.documents.chat import chat_messages
from assistant.core.documents.notes import NoteRequest, note_messages
from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import Waiting
from assistant.engine.demo_model import find_demo_gguf
from assistant.engine.engine import Engine
from assistant.engine.llamacpp.backend import LlamaCppBackend
from assistant.engine.llamacpp.decode import lookup
from assistant.errors import ModelBusy
from assistant.store.presets import load_presets, shipped_dir

GREEDY = GenerationSettings(max_new_tokens=60, temperature=0.0)
NOTE = ("Client reports sleeping about 6 hours most nights, up from 4. Anxiety rated 6 out of 10, down from 8. "
        "Practiced the thought record twice this week. Plan: continue the thought record daily; next session in 7 days.")


@pytest.fixture(scope="module")
def backend():
    loaded = LlamaCppBackend.load(find_demo_gguf(), is_demo=True)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def presets():
    return load_presets([shipped_dir()])


def note(presets, description: str = NOTE) -> list[Message]:
    return note_messages(presets.get("daily-note", "progress_note"), NoteRequest(description=description))


def fresh(backend: LlamaCppBackend) -> None:
    backend.decoder.keep(0)
    backend.states.clear()


def test_loads_the_demo_file_with_its_own_window_and_counts_tokens(backend):
    assert backend.info.is_demo and "llama.cpp" in backend.info.precision and "Q4_1" in backend.info.precision
    assert backend.info.context_window == 8192  # llama.context_length in the file
    short = [Message("user", "Hi")]
    longer = [Message("user", "Hi " + "there " * 50)]
    assert 0 < backend.count_tokens(short) < backend.count_tokens(longer)
    text = "".join(backend.stream(short, GenerationSettings(max_new_tokens=8, temperature=0.0), threading.Event()))
    assert text.strip()


def test_length_limit_and_sampled_decoding(backend):
    settings = GenerationSettings(max_new_tokens=5, temperature=0.8, top_p=0.9)
    start = backend.decoder.evaluated
    pieces = list(backend.stream([Message("user", "Write a long story about a garden.")], settings, threading.Event()))
    assert 1 <= len(pieces) <= 5
    assert backend.decoder.evaluated > start


def test_stop_set_before_reading_the_prompt_aborts_it_and_the_next_answer_works(backend, presets):
    fresh(backend)
    stop = threading.Event()
    stop.set()  # llama.cpp's abort callback sees it inside the prompt's pass
    assert list(backend.stream(note(presets), GREEDY, stop)) == []
    assert backend.decoder.tokens == [], "a pass stopped part-way leaves nothing half-read in the memory"
    assert "".join(backend.stream([Message("user", "Hi")], GREEDY, threading.Event())).strip()


def test_stop_during_an_answer_ends_it_at_the_next_token(backend, presets):
    stop = threading.Event()
    seen = []
    for piece in backend.stream(note(presets), GenerationSettings(max_new_tokens=300, temperature=0.0), stop):
        seen.append(piece)
        if len(seen) == 3:
            stop.set()
    assert 3 <= len(seen) <= 4


def test_prompt_lookup_writes_exactly_the_plain_greedy_text(backend, presets):
    settings = GenerationSettings(max_new_tokens=120, temperature=0.0, repetition_penalty=1.1)
    restating = note(presets, NOTE + " Repeat these facts exactly in the note.")
    fresh(backend)
    plain = "".join(backend.stream(restating, settings, threading.Event(), speculate=False))
    drafted = backend.decoder.drafted
    fresh(backend)
    speculated = "".join(backend.stream(restating, settings, threading.Event(), speculate=True))
    assert backend.decoder.drafted > drafted, "proposals were made and checked"
    assert speculated == plain


def test_lookup_proposes_what_followed_the_last_ngram():
    import numpy as np

    history = np.array([5, 6, 7, 8, 9, 1, 2, 5, 6, 7], dtype=np.intc)
    assert lookup(history, draft=3) == [8, 9, 1]
    assert lookup(np.array([1, 2, 3, 4], dtype=np.intc)) == []  # nothing repeats: no proposal


def test_a_note_after_a_chat_reads_only_its_new_part(backend, presets):
    fresh(backend)
    settings = GenerationSettings(max_new_tokens=8, temperature=0.0)
    first = note(presets)
    list(backend.stream(first, settings, threading.Event()))
    chat = chat_messages(presets.get("chat-general", "chat"), [], "Write a reminder about our new parking rules.")
    list(backend.stream(chat, settings, threading.Event()))
    second = note(presets, "Client reports better sleep, about 7 hours. Anxiety 5 out of 10.")
    before, restored = backend.decoder.evaluated, backend.states.restored
    list(backend.stream(second, settings, threading.Event()))
    assert backend.states.restored == restored + 1, "the note's saved reading was put back"
    prompt = backend.count_tokens(second)
    read = backend.decoder.evaluated - before - settings.max_new_tokens
    assert read < prompt / 2, f"read {read} of {prompt} prompt tokens again"


GEMMA_LIKE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "<start_of_turn>{{ message['role'] }}\n{{ message['content'] }}<end_of_turn>\n{% endfor %}"
    "<start_of_turn>model\n"
)


def test_a_template_without_a_system_role_gets_the_system_text_folded_in(backend):
    own = backend._formatter
    backend._formatter = Jinja2ChatFormatter(template=GEMMA_LIKE, eos_token="</s>", bos_token="<s>")
    backend._prompts.clear()
    try:
        rendered = backend._template([Message("system", "Be brief."), Message("user", "Hello")])
    finally:
        backend._formatter = own
        backend._prompts.clear()
    assert "<start_of_turn>user\nBe brief.\n\nHello<end_of_turn>" in rendered


def test_the_engine_line_in_front_of_it_shows_the_place(backend):
    engine = Engine(backend)
    first = engine.stream([Message("user", "Tell me about gardens.")],
                          GenerationSettings(max_new_tokens=40, temperature=0.0), session="a")
    assert next(first)  # the first answer is being written
    second = engine.stream([Message("user", "Hi")], GenerationSettings(max_new_tokens=4, temperature=0.0),
                           session="b", positions=True)
    marker = next(second)
    assert isinstance(marker, Waiting) and marker.position == 1
    assert "".join(first).strip()
    assert "".join(second).strip(), "the second answer is written once the first is done"


def test_closed_backend_says_the_model_is_being_changed():
    closing = LlamaCppBackend.load(find_demo_gguf())
    closing.close()
    with pytest.raises(ModelBusy):
        closing.count_tokens([Message("user", "Hi")])

