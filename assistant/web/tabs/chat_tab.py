"""Chat tab: a multi-turn conversation under a system preset."""

from __future__ import annotations

import gradio as gr

from assistant.app.services import Services
from assistant.core.documents.chat import chat_messages
from assistant.web.common import DRAFT_CONCURRENCY, DRAFT_QUEUE, guarded, model_stream, preset_choices, stopper
from assistant.web.tabs import dictate


def build(services: Services) -> gr.Dropdown:
    presets = services.presets.of_kind("chat")
    first = presets[0] if presets else None
    preset = gr.Dropdown(
        preset_choices(presets), value=first.id if first else None, label="Assistant style",
        info=first.description if first else None, elem_id="chat-preset",
    )
    chatbot = gr.Chatbot(
        label="Conversation", height=420, buttons=["copy", "copy_all"], feedback_options=None,
        sanitize_html=True, allow_tags=False, elem_id="chat-log",
    )
    message = gr.Textbox(
        label="Your message", placeholder="Ask a question or describe what you need written.",
        lines=3, max_lines=12, elem_id="chat-message",
    )
    dictate.attach(services, message, "chat")
    with gr.Row():
        example = gr.Button("Try an example", variant="secondary", elem_id="chat-example")
        send = gr.Button("Send", variant="primary", elem_id="chat-send")
        stop = gr.Button("Stop", variant="stop", elem_id="chat-stop")
        clear = gr.Button("Clear conversation", elem_id="chat-clear")

    @guarded
    def chat(text: str, history: list[dict] | None, preset_id: str, request: gr.Request):
        chosen = services.presets.get(preset_id, "chat")
        history = list(history or [])
        messages = chat_messages(chosen, history, text, services.profile.name)
        shown = [*history, {"role": "user", "content": text}]
        answer = ""
        stream = model_stream(services, messages, chosen, request)
        try:
            yield [*shown, {"role": "assistant", "content": ""}], ""
            for piece in stream:
                answer += piece
                yield [*shown, {"role": "assistant", "content": answer}], ""
        finally:
            stream.close()

    @guarded
    def try_example(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        return (chosen.example if chosen else {}).get("message", "")

    @guarded
    def describe(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        return gr.update(info=chosen.description if chosen else None)

    event_args = dict(
        fn=chat, inputs=[message, chatbot, preset], outputs=[chatbot, message],
        concurrency_limit=DRAFT_CONCURRENCY, concurrency_id=DRAFT_QUEUE,
    )
    send_event = send.click(**event_args, api_name="chat")
    submit_event = message.submit(**event_args, api_visibility="private")
    stop.click(stopper(services), None, None, cancels=[send_event, submit_event], queue=False, api_visibility="private")
    clear.click(lambda: ([], ""), None, [chatbot, message], queue=False, api_visibility="private")
    example.click(try_example, preset, message, queue=False, api_visibility="private")
    preset.change(describe, preset, preset, queue=False, api_visibility="private")
    return preset
