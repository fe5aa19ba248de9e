"""System tab, "Where the model runs": this computer, the office's model server, Ollama, or a cloud
under a Business Associate Agreement. Thin adapters over ``app.endpoints``.

Admins only (``roles.Action.MANAGE_MODELS``, checked on the server). The key box is write-only: the
page says whether a key is kept, never shows it, and is emptied after every press. A cloud choice
cannot be saved without the BAA tick and the provider's name (``Endpoint.check``).
"""

from __future__ import annotations

import gradio as gr

from assistant.app import endpoints
from assistant.app.services import Services
from assistant.security.roles import Action
from assistant.store.endpoint import AZURE, BEDROCK, CLOUD, KINDS, LABELS, LOCAL, OPENAI, Endpoint
from assistant.web.common import MODEL_QUEUE, to_user_error, user_of
from assistant.web.permissions import Gate

HINTS = {
    LOCAL: "Drafts are written by the model on this computer. Nothing leaves it.",
    OPENAI: "A model server in your office that several computers share (vLLM, llama.cpp's llama-server, "
            "LM Studio). Its address usually ends in /v1, for example `http://10.0.0.5:8000/v1`.",
    "ollama": "Ollama on this or another computer in the office, for example `http://10.0.0.5:11434`.",
    AZURE: "Microsoft's Azure OpenAI Service. Use it only under a signed Business Associate Agreement. The "
           "address is `https://YOUR-RESOURCE.openai.azure.com` and the model is your deployment's name.",
    BEDROCK: "Amazon's Bedrock. Use it only under a signed Business Associate Agreement. The key is "
             "ACCESS_KEY_ID:SECRET_ACCESS_KEY; the model is its Bedrock id.",
}
BY_LABEL = {label: kind for kind, label in LABELS.items()}


def key_words(services: Services) -> str:
    return "A key is saved (it is never shown). Type a new one only to replace it." if endpoints.has_key(services) \
        else "No key is saved. Servers in the office often need none."


def _visible(kind: str) -> list[dict]:
    remote, cloud = kind != LOCAL, kind in CLOUD
    return [gr.update(visible=remote and kind != BEDROCK), gr.update(visible=remote), gr.update(visible=remote),
            gr.update(visible=kind == AZURE), gr.update(visible=kind == BEDROCK), gr.update(visible=cloud),
            gr.update(value=HINTS[kind])]


def endpoint_of(kind: str, url: str, model: str, api_version: str, region: str, ca_file: str, window: float | None,
                connect_s: float | None, read_s: float | None, baa: bool, provider: str, fallback: bool) -> Endpoint:
    base = Endpoint()
    return Endpoint(kind=kind, url=(url or "").strip(), model=(model or "").strip(), api_version=(api_version or "").strip(),
                    region=(region or "").strip(), ca_file=(ca_file or "").strip().strip('"'),
                    context_window=int(window or 0), connect_timeout_s=float(connect_s or base.connect_timeout_s),
                    read_timeout_s=float(read_s or base.read_timeout_s), baa_signed=bool(baa),
                    baa_provider=(provider or "").strip(), fallback_local=bool(fallback))


def build(services: Services) -> None:
    gate = Gate(services)
    now = endpoints.current(services)
    gr.Markdown("**Where the model runs.** This computer, or a model server your practice controls. "
                "This page only ever listens on this computer.")
    note = gate.notice("server-permission")
    place = gr.Radio([LABELS[k] for k in KINDS], value=LABELS[now.kind], label="Where the model runs",
                     elem_id="server-kind")
    hint = gr.Markdown(HINTS[now.kind], elem_id="server-hint")
    url = gr.Textbox(now.url, label="Server address", elem_id="server-url", visible=now.remote and now.kind != BEDROCK)
    model = gr.Textbox(now.model, label="Model name (Azure: deployment name; Bedrock: model id)",
                       elem_id="server-model", visible=now.remote)
    key = gr.Textbox("", label="Key", type="password", elem_id="server-key", info=key_words(services),
                     visible=now.remote)
    api_version = gr.Textbox(now.api_version, label="Azure api-version (empty: the current one)",
                             elem_id="server-api-version", visible=now.kind == AZURE)
    region = gr.Textbox(now.region, label="AWS region, e.g. us-east-1", elem_id="server-region",
                        visible=now.kind == BEDROCK)
    with gr.Group(visible=now.cloud, elem_id="server-baa") as baa_group:
        gr.Markdown("Patient text will be sent to this provider. That is allowed only under a signed "
                    "**Business Associate Agreement** (HIPAA).")
        baa = gr.Checkbox(now.baa_signed, label="We have a signed Business Associate Agreement with this provider",
                          elem_id="server-baa-tick")
        provider = gr.Textbox(now.baa_provider, label="Type the provider's name (Microsoft or Amazon)",
                              elem_id="server-baa-provider")
    with gr.Accordion("Advanced", open=False):
        ca_file = gr.Textbox(now.ca_file, label="Certificate file (CA, PEM) for a server with the clinic's own "
                             "certificate", elem_id="server-ca")
        window = gr.Number(now.context_window, label="Reading window in tokens (0: ask the server)", precision=0)
        connect_s = gr.Number(now.connect_timeout_s, label="Seconds to wait for the server to answer the door")
        read_s = gr.Number(now.read_timeout_s, label="Seconds to wait for the next part of an answer")
        fallback = gr.Checkbox(now.fallback_local, label="When the server cannot be reached, write on this "
                               "computer's model instead (slower)", elem_id="server-fallback")
    with gr.Row():
        test = gr.Button("Test connection", elem_id="server-test")
        save = gr.Button("Save and use", variant="primary", elem_id="server-save")
    found = gr.Dropdown([], label="Models on the server (choose one to use it)", elem_id="server-models",
                        visible=False, allow_custom_value=True)
    result = gr.Markdown(elem_id="server-result")
    fields = [url, model, api_version, region, ca_file, window, connect_s, read_s, baa, provider, fallback]
    gate.lock_for_staff(Action.MANAGE_MODELS, note, [place, *fields, key, test, save])

    def read(label, url_, model_, api_version_, region_, ca_file_, window_, connect_, read_, baa_, provider_,
             fallback_) -> Endpoint:  # noqa: ANN001 - the fields, in order
        return endpoint_of(BY_LABEL.get(label, LOCAL), url_, model_, api_version_, region_, ca_file_, window_,
                           connect_, read_, baa_, provider_, fallback_)

    def do_test(label, url_, model_, key_, api_version_, region_, ca_file_, window_, connect_, read_, baa_,  # noqa: ANN001
                provider_, fallback_, request: gr.Request):
        gate.check(request, Action.MANAGE_MODELS)
        endpoint = read(label, url_, model_, api_version_, region_, ca_file_, window_, connect_, read_, baa_,
                        provider_, fallback_)
        if not endpoint.remote:
            return "This computer's model needs no connection.", gr.update(visible=False), ""
        try:
            words, names = endpoints.test(services, endpoint, key_ or None)
        except Exception as exc:  # noqa: BLE001 - the edge: plain words
            raise to_user_error(exc) from None
        listed = gr.update(choices=list(names), value=endpoint.model if endpoint.model in names else None,
                           visible=bool(names) and endpoint.kind not in CLOUD)
        return f"**Works.** {words}", listed, ""

    def do_save(label, url_, model_, key_, api_version_, region_, ca_file_, window_, connect_, read_, baa_,  # noqa: ANN001
                provider_, fallback_, request: gr.Request):
        gate.check(request, Action.MANAGE_MODELS)
        endpoint = read(label, url_, model_, api_version_, region_, ca_file_, window_, connect_, read_, baa_,
                        provider_, fallback_)
        try:
            endpoints.use_endpoint(services, endpoint, key_ or None, user=user_of(request))
        except Exception as exc:  # noqa: BLE001 - the edge: plain words
            raise to_user_error(exc) from None
        info = services.model
        where = info.sent_to or "this computer"
        return (f"**Saved.** Drafts are now written by {info.name} on {where}." + (
            " Every tab shows that text goes to the cloud." if info.cloud else ""),
            gr.update(value="", info=key_words(services)))

    place.change(lambda label: _visible(BY_LABEL.get(label, LOCAL)), place,
                 [url, model, key, api_version, region, baa_group, hint], queue=False, api_visibility="private")
    found.select(lambda name: name, found, model, queue=False, api_visibility="private")
    inputs = [place, url, model, key, api_version, region, ca_file, window, connect_s, read_s, baa, provider, fallback]
    test.click(do_test, inputs, [result, found, key], api_visibility="private")
    save.click(do_save, inputs, [result, key], concurrency_limit=1, concurrency_id=MODEL_QUEUE,
               api_visibility="private")

