"""The llama.cpp backend: a GGUF model on the processor (llama-cpp-python).

* ``backend``  ``LlamaCppBackend``: load a GGUF file, render prompts with its own chat template,
               stream answers; ``close()`` frees it.
* ``decode``   the decoding loop: sampling, prompt-lookup speculation, stop.
* ``states``   saved reading states of recent prompts (a note and a chat both stay fast).

Only this package imports ``llama_cpp``; it is imported on demand, never at start-up.
"""
