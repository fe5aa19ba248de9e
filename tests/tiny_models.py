"""Tiny, randomly initialised causal language models built on the spot.

Nothing is downloaded: the tokenizer is trained in memory with the
``tokenizers`` library and the weights come from a seeded random init, so a
model folder takes well under a second to write. The text these models produce
is noise, but it goes through exactly the same code path (config, tokenizer,
chat template, safetensors, bitsandbytes, generate, streamer) as a real model.

Families practices run (``FAMILIES``): each gets its real architecture (the
transformers config class with small sizes), its own special tokens, end-of-turn
tokens in ``generation_config.json``, and a faithful copy of its real jinja
chat template, as shipped in the model's ``tokenizer_config.json``. The
tokenizer itself is a small byte-level BPE for every family (the real ones are
SentencePiece or tiktoken-style BPE; what matters here is the template and the
special tokens). ``llama`` and ``gemma`` are the older generic fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>"]

# A few hundred words of plain text, enough for a small BPE vocabulary.
_CORPUS = """
The client attended the session on time and reported a calmer week at home.
We reviewed the sleep diary together and discussed the breathing exercise.
She described two moments of worry at work and how she managed them.
The therapist suggested a short walk after lunch and a regular bedtime.
Progress toward the goals in the treatment plan is steady but slow.
He said the family meeting went better than expected and felt relieved.
Next appointment is planned for the same day next week in the afternoon.
The letter confirms attendance and does not include any clinical details.
Please write one sentence about a therapy appointment and keep it short.
Assessment: mood is stable, sleep has improved, appetite is normal.
Plan: continue weekly sessions, practice the grounding skill daily.
Subjective, objective, assessment and plan are the four parts of a note.
The practice is open Monday to Friday and closed on public holidays.
Thank you for your patience while we arrange the next available time.
A system message tells the assistant how to behave; a user message asks.
"""

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Like Gemma's real template: no system role, strict user/model alternation.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# -- the real templates, verbatim from each model's tokenizer_config.json -----------------

# meta-llama/Meta-Llama-3-8B-Instruct
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# meta-llama/Llama-3.1-8B-Instruct (the same template ships with Llama 3.3 70B)
LLAMA31_TEMPLATE = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

# meta-llama/Llama-3.2-3B-Instruct: like 3.1, but today's date (strftime_now) and no builtin tools.
LLAMA32_TEMPLATE = (
    LLAMA31_TEMPLATE.replace(
        '{%- if not date_string is defined %}\n    {%- set date_string = "26 Jul 2024" %}\n{%- endif %}',
        '{%- if not date_string is defined %}\n    {%- if strftime_now is defined %}\n'
        '        {%- set date_string = strftime_now("%d %b %Y") %}\n    {%- else %}\n'
        '        {%- set date_string = "26 Jul 2024" %}\n    {%- endif %}\n{%- endif %}',
    )
)

# mistralai/Mistral-7B-Instruct-v0.3: the system prompt goes into the LAST user turn.
MISTRAL_V03_TEMPLATE = """{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

# microsoft/Phi-3-mini-4k-instruct (July 2024 update, also Phi-3-mini-128k-instruct)
PHI3_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + "
    "'<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

# microsoft/Phi-3-mini-4k-instruct as first released (April 2024): drops system messages silently.
PHI3_APRIL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + "
    "message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') %}"
    "{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}"
)

# google/gemma-2-9b-it (and 2b-it, 27b-it): no system role.
GEMMA2_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

# google/gemma-3-4b-it (and 1b, 12b, 27b): the system prompt is prefixed to the first user turn.
GEMMA3_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

# Qwen/Qwen2.5-7B-Instruct (the whole 2.5 Instruct series): a default system prompt when none is given.
QWEN25_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""


@dataclass(frozen=True)
class Family:
    """What makes a family's tiny model look like the real one, apart from its size."""

    architecture: str  # the config.json model_type
    template: str
    specials: list[str]
    bos: str | None
    eos: str
    pad: str | None
    unk: str | None = None
    stop: list[str] = field(default_factory=list)  # end-of-turn tokens in generation_config.json
    marker: str = ""  # text the rendered prompt must contain (the family's turn header)
    reply: str = ""  # what the rendered prompt ends with: the opening of the assistant's turn
    system_in_prompt: bool = True  # the template itself keeps a system message


_LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                    "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", "<|finetune_right_pad_id|>"]
_GEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]

FAMILIES: dict[str, Family] = {
    "llama3": Family("llama", LLAMA3_TEMPLATE, _LLAMA3_SPECIALS, "<|begin_of_text|>", "<|eot_id|>", None,
                     stop=["<|end_of_text|>", "<|eot_id|>"], marker="<|start_header_id|>assistant<|end_header_id|>",
                     reply="<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "llama3.1": Family("llama", LLAMA31_TEMPLATE, _LLAMA3_SPECIALS, "<|begin_of_text|>", "<|eot_id|>", None,
                       stop=["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"],
                       marker="Cutting Knowledge Date: December 2023", reply="<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "llama3.2": Family("llama", LLAMA32_TEMPLATE, _LLAMA3_SPECIALS, "<|begin_of_text|>", "<|eot_id|>", None,
                       stop=["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"],
                       marker="Cutting Knowledge Date: December 2023", reply="<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "mistral": Family("mistral", MISTRAL_V03_TEMPLATE,
                      ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]",
                       "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]"],
                      "<s>", "</s>", None, unk="<unk>", stop=["</s>"], marker="[INST] ", reply="[/INST]"),
    "phi3": Family("phi3", PHI3_TEMPLATE,
                   ["<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|system|>", "<|user|>", "<|end|>"],
                   "<s>", "<|endoftext|>", "<|endoftext|>", unk="<unk>",
                   stop=["<|endoftext|>", "<|assistant|>", "<|end|>"], marker="<|assistant|>\n", reply="<|assistant|>\n"),
    "phi3-april": Family("phi3", PHI3_APRIL_TEMPLATE,
                         ["<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|system|>", "<|user|>",
                          "<|end|>"],
                         "<s>", "<|endoftext|>", "<|endoftext|>", unk="<unk>",
                         stop=["<|endoftext|>", "<|assistant|>", "<|end|>"], marker="<|assistant|>\n", reply="<|assistant|>\n",
                         system_in_prompt=False),
    "gemma2": Family("gemma2", GEMMA2_TEMPLATE, _GEMMA_SPECIALS, "<bos>", "<eos>", "<pad>", unk="<unk>",
                     stop=["<eos>", "<end_of_turn>"], marker="<start_of_turn>model\n", reply="<start_of_turn>model\n", system_in_prompt=False),
    "gemma3": Family("gemma3_text", GEMMA3_TEMPLATE, _GEMMA_SPECIALS, "<bos>", "<eos>", "<pad>", unk="<unk>",
                     stop=["<eos>", "<end_of_turn>"], marker="<start_of_turn>model\n", reply="<start_of_turn>model\n"),
    "gemma3-vision": Family("gemma3", GEMMA3_TEMPLATE,
                            [*_GEMMA_SPECIALS, "<start_of_image>", "<end_of_image>", "<image_soft_token>"],
                            "<bos>", "<eos>", "<pad>", unk="<unk>", stop=["<eos>", "<end_of_turn>"],
                            marker="<start_of_turn>model\n", reply="<start_of_turn>model\n"),
    "qwen2.5": Family("qwen2", QWEN25_TEMPLATE,
                      ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"],
                      None, "<|im_end|>", "<|endoftext|>", stop=["<|im_end|>", "<|endoftext|>"],
                      marker="<|im_start|>assistant\n", reply="<|im_start|>assistant\n"),
}


def _bpe(specials: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    return tok


def _train_tokenizer(with_chat_template: bool, family: str):
    from transformers import PreTrainedTokenizerFast

    if family in FAMILIES:
        spec = FAMILIES[family]
        extra = [t for t in spec.specials if t not in (spec.bos, spec.eos, spec.pad, spec.unk)]
        fast = PreTrainedTokenizerFast(
            tokenizer_object=_bpe(spec.specials),
            bos_token=spec.bos,
            eos_token=spec.eos,
            pad_token=spec.pad,
            unk_token=spec.unk,
            additional_special_tokens=extra,
        )
        if with_chat_template:
            fast.chat_template = spec.template
        return fast
    fast = PreTrainedTokenizerFast(
        tokenizer_object=_bpe(SPECIAL_TOKENS),
        bos_token="<s>",
        eos_token="<|im_end|>" if family != "gemma" else "<end_of_turn>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>"],
    )
    if with_chat_template:
        fast.chat_template = GEMMA_TEMPLATE if family == "gemma" else CHATML_TEMPLATE
    return fast


def _config(family: str, tokenizer):
    import transformers

    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    if family == "llama":
        return transformers.LlamaConfig(**common)
    if family == "gemma":
        return transformers.GemmaConfig(head_dim=16, **common)
    common["max_position_embeddings"] = 2048  # room for a real preset's system prompt in this tiny vocabulary
    if family.startswith("llama3"):
        rope = None
        if family != "llama3":  # 3.1 and later: long-context RoPE scaling
            common["max_position_embeddings"] = 8192
            rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 1024, "rope_theta": 500000.0}
        return transformers.LlamaConfig(**common, rope_parameters=rope)
    if family == "mistral":
        return transformers.MistralConfig(**common, sliding_window=None)
    if family.startswith("phi3"):
        common["num_key_value_heads"] = 4  # Phi-3 mini uses full multi-head attention
        return transformers.Phi3Config(**common, original_max_position_embeddings=2048)
    if family == "gemma2":
        return transformers.Gemma2Config(**{**common, "tie_word_embeddings": True}, head_dim=16,
                                         query_pre_attn_scalar=16, sliding_window=64)
    if family == "gemma3":
        return transformers.Gemma3TextConfig(**{**common, "tie_word_embeddings": True}, head_dim=16,
                                             query_pre_attn_scalar=16, sliding_window=64)
    if family == "gemma3-vision":
        text = {**common, "tie_word_embeddings": True, "head_dim": 16, "query_pre_attn_scalar": 16,
                "sliding_window": 64}
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      image_size=32, patch_size=8)
        return transformers.Gemma3Config(
            text_config=text, vision_config=vision, mm_tokens_per_image=4,
            boi_token_index=tokenizer.convert_tokens_to_ids("<start_of_image>"),
            eoi_token_index=tokenizer.convert_tokens_to_ids("<end_of_image>"),
            image_token_index=tokenizer.convert_tokens_to_ids("<image_soft_token>"),
            tie_word_embeddings=True,
        )
    if family == "qwen2.5":
        return transformers.Qwen2Config(**{**common, "tie_word_embeddings": True}, use_sliding_window=False)
    raise ValueError(f"unknown tiny model family: {family!r}")


def build_tiny_model(
    folder: Path,
    family: str = "llama",
    *,
    with_chat_template: bool = True,
    pickle_weights: bool = False,
    seed: int = 0,
) -> Path:
    """Write a tiny random causal LM (safetensors) plus its tokenizer to ``folder``."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = _train_tokenizer(with_chat_template, family)
    config = _config(family, tokenizer)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    spec = FAMILIES.get(family)
    if spec is not None:
        stop = [tokenizer.convert_tokens_to_ids(t) for t in spec.stop]
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id, eos_token_id=stop, pad_token_id=tokenizer.pad_token_id
        )
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    if pickle_weights:
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder
